// The process layer with real children: /bin/sh scripts in a temporary directory. Waits
// are on readiness lines and pid files with timeouts, never on sleeps.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <hmr/process.hpp>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "hmr_catch.hpp"
#include "process_fixture.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using hmr_test::group_not_running;
using hmr_test::not_running;
using hmr_test::read_proc_file;
using hmr_test::temp_dir;
using hmr_test::wait_for_pid_file;
using cause = hmr::process_exit::cause;

/// Captured lines, with a wait for a given one.
struct line_log {
  std::mutex mutex{};
  std::condition_variable added{};
  std::vector<std::pair<hmr::output_stream, std::string>> lines{};

  auto callback() {
    return [this](hmr::output_stream stream, std::string_view line) {
      const std::lock_guard lock(mutex);
      lines.emplace_back(stream, std::string(line));
      added.notify_all();
    };
  }
  /// True once `line` has arrived on `stream` (false after 10 s).
  bool wait_for(hmr::output_stream stream, const std::string& line) {
    std::unique_lock lock(mutex);
    return added.wait_for(lock, 10s, [&] {
      return std::find(lines.begin(), lines.end(), std::pair{stream, line}) != lines.end();
    });
  }
  std::vector<std::pair<hmr::output_stream, std::string>> snapshot() {
    const std::lock_guard lock(mutex);
    return lines;
  }
};

/// The direct children of this test process that /proc lists (zombies included).
std::vector<int> my_children() {
  std::vector<int> out;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string text = read_proc_file((entry.path() / "stat").string());
    const auto close = text.rfind(')');
    if (close == std::string::npos) continue;
    if (std::atoi(text.c_str() + close + 4) == ::getpid()) out.push_back(std::stoi(name));
  }
  return out;
}

/// Field-wise equality (events::process_exited has no operator==).
bool same(const hmr::process_exit& a, const hmr::process_exit& b) {
  return a.pid == b.pid && a.status == b.status && a.uptime == b.uptime && a.why == b.why &&
         a.left_running == b.left_running;
}

hmr::child_process spawn_ok(hmr::process_options options) {
  auto r = hmr::child_process::spawn(std::move(options));
  INFO((r ? std::string("spawned") : r.error().message));
  REQUIRE(r.has_value());
  return std::move(*r);
}

}  // namespace

TEST_CASE("signal names: a table, then 'signal N'", "[process]") {
  CHECK(hmr::signal_name(SIGTERM) == "SIGTERM");
  CHECK(hmr::signal_name(SIGKILL) == "SIGKILL");
  CHECK(hmr::signal_name(SIGSEGV) == "SIGSEGV");
  CHECK(hmr::signal_name(SIGABRT) == "SIGABRT");
  CHECK(hmr::signal_name(SIGRTMIN + 1) == "signal " + std::to_string(SIGRTMIN + 1));
}

TEST_CASE("captured stdout and stderr lines, exit code, cause exited", "[process]") {
  const bool shell = GENERATE(false, true);
  CAPTURE(shell);
  const std::string script = "echo hello; echo err >&2; printf 'crlf\\r\\nno newline'; exit 3";
  line_log log;
  std::vector<hmr::process_exit> exits;
  std::mutex exits_mutex;
  auto child = spawn_ok({
      .command = shell ? std::vector<std::string>{script}
                       : std::vector<std::string>{"/bin/sh", "-c", script},
      .shell = shell,
      .on_line = log.callback(),
      .on_exit =
          [&](const hmr::process_exit& e) {
            const std::lock_guard lock(exits_mutex);
            exits.push_back(e);
          },
  });
  const hmr::process_exit exit = child.wait();
  CHECK(exit.pid == child.pid());
  REQUIRE(exit.status.code.has_value());
  CHECK(*exit.status.code == 3);
  CHECK(exit.status.describe() == "exit code 3");
  CHECK(exit.why == cause::exited);
  CHECK_FALSE(child.running());
  // Everything the child wrote has been delivered before wait() returned.
  const auto lines = log.snapshot();
  using out = std::pair<hmr::output_stream, std::string>;
  CHECK(std::count(lines.begin(), lines.end(), out{hmr::output_stream::out, "hello"}) == 1);
  CHECK(std::count(lines.begin(), lines.end(), out{hmr::output_stream::err, "err"}) == 1);
  CHECK(std::count(lines.begin(), lines.end(), out{hmr::output_stream::out, "crlf"}) == 1);
  CHECK(std::count(lines.begin(), lines.end(), out{hmr::output_stream::out, "no newline"}) == 1);
  CHECK(lines.size() == 4);
  const std::lock_guard lock(exits_mutex);
  REQUIRE(exits.size() == 1);
  CHECK(same(exits[0], exit));
}

TEST_CASE("argv is passed as is, without a shell splitting it", "[process]") {
  line_log log;
  auto child = spawn_ok({
      .command = {"/bin/sh", "-c", "printf '[%s]\\n' \"$0\" \"$1\"", "a b", "$HOME *"},
      .on_line = log.callback(),
  });
  CHECK(child.wait().status.success());
  using out = std::pair<hmr::output_stream, std::string>;
  CHECK(log.snapshot() == std::vector<out>{{hmr::output_stream::out, "[a b]"},
                                           {hmr::output_stream::out, "[$HOME *]"}});
}

TEST_CASE("a program that cannot run is an error naming it, and leaves no zombie", "[process]") {
  temp_dir dir;
  const std::string not_executable = dir.write("data.txt", "not a program\n");
  const int which = GENERATE(0, 1, 2);
  const std::string program = which == 0   ? "hmr-no-such-program-4711"
                              : which == 1 ? "/nonexistent/hmr-prog"
                                           : not_executable;
  const std::string reason = which == 2 ? "Permission denied" : "No such file or directory";
  CAPTURE(program);
  auto r = hmr::child_process::spawn({.command = {program, "arg"}});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "cannot run '" + program + "': " + reason);
  CHECK(my_children().empty());
}

TEST_CASE("an empty command, or shell with several strings, is a programmer error", "[process]") {
  REQUIRE_THROWS_AS(hmr::child_process::spawn({}), std::invalid_argument);
  REQUIRE_THROWS_AS(hmr::child_process::spawn({.command = {"echo", "x"}, .shell = true}),
                    std::invalid_argument);
}

TEST_CASE("working directory and environment additions reach the child", "[process]") {
  temp_dir dir;
  ::setenv("HMR_TEST_INHERITED", "inherited", 1);
  ::setenv("HMR_TEST_REPLACED", "old", 1);
  line_log log;
  auto child = spawn_ok({
      .command = {"pwd -P; echo \"$HMR_SESSION|$HMR_TEST_INHERITED|$HMR_TEST_REPLACED\"; "
                  "env | grep -c '^HMR_TEST_REPLACED='"},
      .shell = true,
      .working_directory = dir.path.string(),
      .environment = {{"HMR_SESSION", "1"}, {"HMR_TEST_REPLACED", "new"}},
      .on_line = log.callback(),
  });
  CHECK(child.wait().status.success());
  using out = std::pair<hmr::output_stream, std::string>;
  CHECK(log.snapshot() ==
        std::vector<out>{{hmr::output_stream::out, fs::canonical(dir.path).string()},
                         {hmr::output_stream::out, "1|inherited|new"},
                         {hmr::output_stream::out, "1"}});
}

TEST_CASE("a missing working directory is an error naming it", "[process]") {
  temp_dir dir;
  const std::string missing = (dir.path / "missing").string();
  auto r = hmr::child_process::spawn({.command = {"/bin/true"}, .working_directory = missing});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message ==
        "cannot change to working directory '" + missing + "': No such file or directory");
  CHECK(my_children().empty());
}

namespace {
/// A /bin/sh -c argv for `script`, with `arg` as its $0.
std::vector<std::string> sh(const std::string& script, const std::string& arg = "sh") {
  return {"/bin/sh", "-c", script, arg};
}
}  // namespace

TEST_CASE("stop() kills a background grandchild in the group", "[process]") {
  temp_dir dir;
  const fs::path pid_file = dir.path / "grandchild.pid";
  auto child = spawn_ok({
      .command =
          sh("sleep 1000 & echo $! > \"$0.tmp\" && mv \"$0.tmp\" \"$0\"; wait", pid_file.string()),
  });
  const int grandchild = wait_for_pid_file(pid_file);
  REQUIRE(grandchild > 0);
  REQUIRE_FALSE(not_running(grandchild));
  CHECK(::getpgid(grandchild) == child.pid());
  const hmr::process_exit exit = child.stop();
  CHECK(exit.why == cause::stopped);
  CHECK(exit.status.signal_name == "SIGTERM");
  CHECK(not_running(grandchild));
  CHECK(group_not_running(child.pid()));
  CHECK(my_children().empty());
}

TEST_CASE("a child that ignores SIGTERM is killed after the grace period", "[process]") {
  line_log log;
  auto child = spawn_ok({
      .command = sh("trap '' TERM; echo ready; while :; do sleep 1; done"),
      .on_line = log.callback(),
      .grace_period = 200ms,
  });
  REQUIRE(log.wait_for(hmr::output_stream::out, "ready"));
  const hmr::process_exit exit = child.stop();
  CHECK(exit.why == cause::stopped);
  CHECK_FALSE(exit.status.code.has_value());
  CHECK(exit.status.signal == SIGKILL);
  CHECK(exit.status.signal_name == "SIGKILL");
  CHECK(exit.status.describe() == "SIGKILL");
  CHECK(group_not_running(child.pid()));
}

TEST_CASE("a signal hmr did not send is a crash", "[process]") {
  auto child = spawn_ok({.command = sh("kill -SEGV $$")});
  const hmr::process_exit exit = child.wait();
  CHECK(exit.why == cause::crashed);
  CHECK(exit.status.signal == SIGSEGV);
  CHECK(exit.status.signal_name == "SIGSEGV");
}

TEST_CASE("stop() on a child that already exited returns its status", "[process]") {
  auto child = spawn_ok({.command = sh("exit 7")});
  const hmr::process_exit waited = child.wait();
  const hmr::process_exit stopped = child.stop();
  CHECK(same(stopped, waited));
  REQUIRE(stopped.status.code.has_value());
  CHECK(*stopped.status.code == 7);
  CHECK(stopped.why == cause::exited);
  CHECK(same(child.stop(), waited));  // idempotent
  REQUIRE(child.try_wait().has_value());
  CHECK(same(*child.try_wait(), waited));
}

TEST_CASE("stop() right after spawn stops the child with the stop signal", "[process]") {
  for (int round = 0; round < 10; ++round) {
    CAPTURE(round);
    auto child = spawn_ok({.command = {"sleep", "1000"}});
    const hmr::process_exit exit = child.stop();
    CHECK(exit.why == cause::stopped);
    CHECK(exit.status.signal_name == "SIGTERM");
    CHECK(not_running(child.pid()));
  }
}

TEST_CASE("a child dies with the thread that spawned it (PR_SET_PDEATHSIG)", "[process]") {
  const bool die_with_parent = GENERATE(true, false);
  CAPTURE(die_with_parent);
  hmr::child_process child;
  std::thread([&] {
    child = spawn_ok({.command = {"sleep", "1000"}, .die_with_parent = die_with_parent});
  }).join();
  if (die_with_parent) {
    const hmr::process_exit exit = child.wait();
    CHECK(exit.status.signal_name == "SIGKILL");
    CHECK(exit.why == cause::crashed);
  } else {
    const hmr::process_exit exit = child.stop();  // still alive: stop() ends it with SIGTERM
    CHECK(exit.status.signal_name == "SIGTERM");
    CHECK(exit.why == cause::stopped);
  }
}

// Started again as a "supervisor" by the kill -9 test below (before main, in a fresh
// single-threaded process): spawns one child, reports its pid on the inherited
// descriptor, then waits to be killed.
[[maybe_unused]] const bool supervisor_mode = [] {
  const char* fd_text = std::getenv("HMR_TEST_SUPERVISOR_FD");
  if (fd_text == nullptr) return false;
  auto child = hmr::child_process::spawn({.command = {"sleep", "1000"}});
  const std::string pid = (child ? std::to_string(child->pid()) : std::string("0")) + "\n";
  const int fd = std::atoi(fd_text);
  if (::write(fd, pid.data(), pid.size()) < 0) std::_Exit(1);
  for (;;) ::pause();
}();

TEST_CASE("kill -9 of the supervisor leaves no child running", "[process]") {
  const auto [supervisor, read_end] = hmr_test::start_self_as("HMR_TEST_SUPERVISOR_FD");
  pollfd readable{read_end, POLLIN, 0};
  REQUIRE(::poll(&readable, 1, 10'000) == 1);
  char buffer[32] = {};
  const ssize_t n = ::read(read_end, buffer, sizeof buffer - 1);
  ::close(read_end);
  REQUIRE(n > 0);
  const int child = std::atoi(buffer);
  REQUIRE(child > 0);
  CHECK_FALSE(not_running(child));

  REQUIRE(::kill(supervisor, SIGKILL) == 0);
  REQUIRE(::waitpid(supervisor, nullptr, 0) == supervisor);
  // The kernel's death signal ends the child; wait (10 s at most) for it to be gone. If
  // this process is a subreaper by now, the child's zombie is ours to reap.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!not_running(child) && std::chrono::steady_clock::now() < deadline) {
    ::waitpid(child, nullptr, WNOHANG);
    std::this_thread::yield();
  }
  CHECK(not_running(child));
  if (!not_running(child)) ::kill(child, SIGKILL);  // a failure must not leave it behind
}

TEST_CASE("the destructor stops a running child and its group", "[process]") {
  temp_dir dir;
  const fs::path pid_file = dir.path / "sleep.pid";
  std::mutex mutex;
  std::vector<hmr::process_exit> exits;
  int pid = 0;
  int grandchild = 0;
  {
    auto child = spawn_ok({
        .command = sh("sleep 1000 & echo $! > \"$0.tmp\" && mv \"$0.tmp\" \"$0\"; wait",
                      pid_file.string()),
        .on_exit =
            [&](const hmr::process_exit& e) {
              const std::lock_guard lock(mutex);
              exits.push_back(e);
            },
    });
    pid = child.pid();
    grandchild = wait_for_pid_file(pid_file);
    REQUIRE(grandchild > 0);
    CHECK(child.running());
  }
  CHECK(not_running(pid));
  CHECK(not_running(grandchild));
  const std::lock_guard lock(mutex);
  REQUIRE(exits.size() == 1);
  CHECK(exits[0].why == cause::stopped);
  CHECK(exits[0].pid == pid);
}

TEST_CASE("a loopback server behind a shell never finds its port taken", "[process]") {
  const int port = hmr_test::free_port();
  temp_dir dir;
  const std::string server = dir.write("server.py",
                                       "import socket, sys, time\n"
                                       "s = socket.socket()\n"
                                       "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                                       "try:\n"
                                       "    s.bind(('127.0.0.1', int(sys.argv[1])))\n"
                                       "except OSError as e:\n"
                                       "    print('bind failed', e.errno, flush=True)\n"
                                       "    sys.exit(1)\n"
                                       "s.listen()\n"
                                       "print('bound', flush=True)\n"
                                       "time.sleep(1000)\n");
  for (int cycle = 0; cycle < 20; ++cycle) {
    CAPTURE(cycle);
    line_log log;
    // python3 runs as a grandchild: the shell stays in front of it and waits.
    auto child = spawn_ok({
        .command = sh("python3 \"$0\" " + std::to_string(port) + " & wait", server),
        .on_line = log.callback(),
    });
    REQUIRE(log.wait_for(hmr::output_stream::out, "bound"));
    const hmr::process_exit exit = child.stop();
    CHECK(exit.why == cause::stopped);
    for (const auto& [stream, line] : log.snapshot()) CHECK(line == "bound");
  }
}

TEST_CASE("with a subreaper, a grandchild that left the group and session is stopped too",
          "[process]") {
  REQUIRE(hmr::become_subreaper());
  temp_dir dir;
  const fs::path pid_file = dir.path / "escaped.pid";
  // The subshell double-forks: setsid's child is re-parented to us when the subshell exits.
  auto child = spawn_ok({
      .command = sh("(setsid sh -c 'echo $$ > \"$0.tmp\" && mv \"$0.tmp\" \"$0\"; exec sleep 1000' "
                    "\"$0\" &); while :; do sleep 1; done",
                    pid_file.string()),
  });
  const int escaped = wait_for_pid_file(pid_file);
  REQUIRE(escaped > 0);
  CHECK(::getsid(escaped) == escaped);  // its own session, so not in the child's group
  CHECK(::getpgid(escaped) != child.pid());
  const hmr::process_exit exit = child.stop();
  CHECK(exit.why == cause::stopped);
  CHECK(not_running(escaped));
  CHECK(group_not_running(child.pid()));
  CHECK(my_children().empty());
}

TEST_CASE(
    "inherited_fds: the program keeps the listed descriptors, under their numbers, and no other",
    "[process]") {
  int kept[2];
  int other[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, kept) == 0);
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, other) == 0);
  const std::string n = std::to_string(kept[1]);
  const std::string m = std::to_string(other[1]);
  // bash: dash cannot redirect to a descriptor above 9.
  const std::string script = "echo \"hello from $$\" >&" + n + "; if [ -e /proc/$$/fd/" + m +
                             " ]; then echo leaked >&" + n + "; else echo closed >&" + n + "; fi";
  hmr::child_process child =
      spawn_ok({.command = {"bash", "-c", script}, .inherited_fds = {kept[1]}});
  // In the supervisor the descriptor stays close-on-exec.
  CHECK((::fcntl(kept[1], F_GETFD) & FD_CLOEXEC) != 0);
  ::close(kept[1]);
  std::string text;
  char buffer[256];
  for (;;) {
    pollfd readable{kept[0], POLLIN, 0};
    REQUIRE(::poll(&readable, 1, 10'000) == 1);
    const ssize_t got = ::read(kept[0], buffer, sizeof buffer);
    REQUIRE(got >= 0);
    if (got == 0) break;  // the program exited: no copy of the write end is left
    text.append(buffer, static_cast<std::size_t>(got));
  }
  CHECK(text == "hello from " + std::to_string(child.pid()) + "\nclosed\n");
  CHECK(child.wait().status.code == 0);
  ::close(kept[0]);
  ::close(other[0]);

  // A descriptor that is not open is an error naming it; nothing is started.
  const int closed_fd = other[1];
  ::close(closed_fd);
  const auto refused =
      hmr::child_process::spawn({.command = {"true"}, .inherited_fds = {closed_fd}});
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().message ==
        "cannot pass descriptor " + std::to_string(closed_fd) + " to 'true': Bad file descriptor");
}

// Started again as a "supervisor" by the test below: spawns a shell whose tree escapes in
// each way it can (a background child, a double fork with setsid, and one that also
// rewrites its environment), reports the child's pid, then waits to be killed.
[[maybe_unused]] const bool escape_mode = [] {
  const char* fd_text = std::getenv("HMR_TEST_ESCAPE_FD");
  if (fd_text == nullptr) return false;
  const char* dir = std::getenv("HMR_TEST_ESCAPE_DIR");
  if (dir == nullptr) std::_Exit(2);  // never run the tests again from here
  auto child = hmr::child_process::spawn({.command = {"/bin/sh", "-c", R"(
      cd "$0" || exit 1
      note() { echo "$2" > "$1.tmp" && mv "$1.tmp" "$1"; }
      sleep 1000 & note background.pid $!
      (setsid /bin/sh -c 'note() { echo "$2" > "$1.tmp" && mv "$1.tmp" "$1"; }; note setsid.pid $$; exec sleep 1000' &)
      (setsid env -i /bin/sh -c 'echo $$ > clean.pid.tmp && mv clean.pid.tmp clean.pid; exec sleep 1000' &)
      wait)", dir}});
  const std::string pid = (child ? std::to_string(child->pid()) : std::string("0")) + "\n";
  if (::write(std::atoi(fd_text), pid.data(), pid.size()) < 0) std::_Exit(1);
  for (;;) ::pause();
}();

TEST_CASE("kill -9 of the supervisor: nothing of the tree survives, however it escaped", "[process]") {
  temp_dir dir;
  const auto [supervisor, read_end] =
      hmr_test::start_self_as("HMR_TEST_ESCAPE_FD", {"HMR_TEST_ESCAPE_DIR=" + dir.path.string()});
  pollfd readable{read_end, POLLIN, 0};
  REQUIRE(::poll(&readable, 1, 10'000) == 1);
  char buffer[32] = {};
  REQUIRE(::read(read_end, buffer, sizeof buffer - 1) > 0);
  ::close(read_end);
  std::vector<int> tree{std::atoi(buffer)};
  for (const char* name : {"background.pid", "setsid.pid", "clean.pid"}) {
    CAPTURE(name);
    tree.push_back(wait_for_pid_file(dir.path / name));
    REQUIRE(tree.back() > 0);
  }
  CHECK(::getsid(tree[2]) == tree[2]);  // left the session
  CHECK(read_proc_file("/proc/" + std::to_string(tree[3]) + "/environ").find("HMR_PROCESS_TOKEN") ==
        std::string::npos);  // and the token with it

  const int keeper = hmr_test::proc(tree[0]).parent;
  CHECK(keeper != supervisor);  // a keeper stands between the supervisor and the child
  if (keeper != supervisor) tree.push_back(keeper);

  REQUIRE(::kill(supervisor, SIGKILL) == 0);
  REQUIRE(::waitpid(supervisor, nullptr, 0) == supervisor);
  // The keeper sees its supervisor gone and kills the tree; 10 s bound for a loaded machine.
  // (When an earlier test made this process a subreaper, the keeper's zombie is ours.)
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  const auto all_gone = [&] { return std::all_of(tree.begin(), tree.end(), not_running); };
  while (!all_gone() && std::chrono::steady_clock::now() < deadline) {
    if (keeper != supervisor) ::waitpid(keeper, nullptr, WNOHANG);
    std::this_thread::yield();
  }
  for (const int pid : tree) {
    CAPTURE(pid);
    CHECK(not_running(pid));
    if (!not_running(pid)) ::kill(pid, SIGKILL);  // a failure must not leave it behind
  }
}

TEST_CASE("a child that daemonizes: its exit names what it left running; stop() ends it", "[process]") {
  temp_dir dir;
  const fs::path pid_file = dir.path / "daemon.pid";
  auto child = spawn_ok({
      .command = sh("(setsid env -i /bin/sh -c 'echo $$ > \"$0.tmp\" && mv \"$0.tmp\" \"$0\"; exec sleep 1000' "
                    "\"$0\" &); exit 0",
                    pid_file.string()),
  });
  const hmr::process_exit exit = child.wait();
  const int daemon = wait_for_pid_file(pid_file);
  REQUIRE(daemon > 0);
  CHECK(exit.why == cause::exited);
  CHECK(exit.status.code == 0);
  CHECK(exit.left_running == std::vector<int>{daemon});
  CHECK_FALSE(not_running(daemon));  // left alone until stop(): it may be the server
  const hmr::process_exit stopped = child.stop();
  CHECK(same(stopped, exit));
  CHECK(not_running(daemon));
  if (!not_running(daemon)) ::kill(daemon, SIGKILL);  // a failure must not leave it behind
  CHECK(my_children().empty());
}

TEST_CASE("a child stopped by job control is reported, and stop() continues it to end it", "[process]") {
  std::mutex mutex;
  std::condition_variable told;
  std::vector<std::pair<int, bool>> stops;
  auto child = spawn_ok({
      .command = sh("kill -STOP $$; echo continued"),
      .on_stop =
          [&](int signal, bool handed) {
            const std::lock_guard lock(mutex);
            stops.emplace_back(signal, handed);
            told.notify_all();
          },
      .share_terminal = true,  // no terminal here: nothing to hand over
  });
  {
    std::unique_lock lock(mutex);
    REQUIRE(told.wait_for(lock, 10s, [&] { return !stops.empty(); }));
    CHECK(stops.front() == std::pair{SIGSTOP, false});
  }
  CHECK(child.running());
  const hmr::process_exit exit = child.stop();
  CHECK(exit.why == cause::stopped);
  CHECK(exit.status.signal_name == "SIGTERM");  // not SIGKILL after the grace period
}
