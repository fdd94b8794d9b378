// What tests with real processes share: a temporary directory, pid files, and what /proc
// says about a process (so a test can assert that nothing it started still runs).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "hmr_catch.hpp"

namespace hmr_test {

namespace fs = std::filesystem;

/// A fresh temporary directory named `<prefix>-XXXXXX`, removed with its content.
struct temp_dir {
  fs::path path{};  ///< the directory
  /// Creates the directory (the test fails when it cannot).
  explicit temp_dir(const std::string& prefix = "hmr-test") {
    std::string pattern = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  /// The full path of `name` in the directory.
  [[nodiscard]] fs::path operator/(const std::string& name) const { return path / name; }
  /// The full path of `name`, as a string.
  [[nodiscard]] std::string file(const std::string& name) const { return (path / name).string(); }
  /// Writes `text` to `name` (parent directories created) and returns its full path.
  std::string write(const std::string& name, const std::string& text) const {
    fs::create_directories((path / name).parent_path());
    std::ofstream(path / name, std::ios::binary) << text;
    return file(name);
  }
};

/// Waits (`timeout` at most) for a pid file written atomically (tmp + mv); 0 on timeout.
inline int wait_for_pid_file(const fs::path& file,
                             std::chrono::seconds timeout = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(file);
    int pid = 0;
    if (in >> pid) return pid;
    std::this_thread::yield();
  }
  return 0;
}

/// The text of a small /proc file; empty when the process is gone. (Not through
/// istreambuf_iterator: reading a process being reaped fails with ESRCH, which libstdc++
/// throws from there.)
inline std::string read_proc_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  char buffer[4096];
  const ssize_t n = ::read(fd, buffer, sizeof buffer);
  ::close(fd);
  return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
}

/// What /proc says about a process: state letter, parent and group; state '-' if gone.
struct proc_info {
  char state = '-';  ///< R, S, Z, ... or '-' when gone
  int parent = 0;    ///< parent pid
  int group = 0;     ///< process group id
};

/// /proc/<pid>/stat, parsed.
inline proc_info proc(int pid) {
  const std::string text = read_proc_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close = text.rfind(')');  // the command name may hold spaces and ')'
  proc_info info;
  if (close == std::string::npos || close + 4 > text.size()) return info;
  char* end = nullptr;
  info.state = text[close + 2];
  info.parent = static_cast<int>(std::strtol(text.c_str() + close + 3, &end, 10));
  info.group = static_cast<int>(std::strtol(end, &end, 10));
  return info;
}

/// True when `pid` no longer runs: gone, or a zombie left to init to reap (this machine's
/// init may reap late). A zombie of ours would be a leak, so it counts as running.
inline bool not_running(int pid) {
  if (pid <= 0) return true;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  const proc_info info = proc(pid);
  return info.state == '-' || (info.state == 'Z' && info.parent != ::getpid());
}

/// True when no process of group `pgid` runs (zombies reaped by init aside).
inline bool group_not_running(int pgid) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const int pid = std::stoi(name);
    if (proc(pid).group == pgid && !not_running(pid)) return false;
  }
  return true;
}

/// A free loopback port, chosen by the kernel.
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// This test binary started again as a helper process (a "supervisor"), with only PATH and
/// `<env_name>=<fd>` in its environment, where fd is the write end of a pipe it inherits.
/// The helper's code runs before main when it sees `env_name`.
struct self_process {
  pid_t pid = 0;  ///< the helper
  int read = -1;  ///< the read end of its pipe (the caller closes it)
};

/// Forks and re-executes this binary as described at `self_process`; `extra` entries
/// ("NAME=value") are added to its environment.
inline self_process start_self_as(const std::string& env_name, const std::vector<std::string>& extra = {}) {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  REQUIRE(::fcntl(fds[1], F_SETFD, 0) == 0);  // the helper inherits the write end
  const std::string exe = fs::read_symlink("/proc/self/exe").string();
  const std::string env = env_name + "=" + std::to_string(fds[1]);
  const std::string path = std::string("PATH=") + (std::getenv("PATH") ? std::getenv("PATH") : "");
  char* const argv[] = {const_cast<char*>(exe.c_str()), nullptr};
  std::vector<char*> envp{const_cast<char*>(env.c_str()), const_cast<char*>(path.c_str())};
  for (const std::string& entry : extra) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::execve(exe.c_str(), argv, envp.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  return {pid, fds[0]};
}

}  // namespace hmr_test
