// The POSIX implementation of hmr/process.hpp: a keeper process per child (the subreaper of
// its tree, which ends the tree when the supervisor dies), fork/exec with a CLOEXEC error
// pipe, one process group per child, a waiter thread and a reader thread per child, and a
// /proc sweep that finds the descendants which left the group. Nothing here is needed to use it.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hmr/process.hpp>
#include <hmr/terminal.hpp>
#include <time.h>
#if defined(__linux__)
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#endif

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <algorithm>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace hmr {

inline std::string signal_name(int signal) {
  struct entry {
    int number;
    const char* name;
  };
  static constexpr entry table[] = {
      {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},       {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
      {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"},     {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},
      {SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"},     {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
      {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"},     {SIGTERM, "SIGTERM"}, {SIGCHLD, "SIGCHLD"},
      {SIGCONT, "SIGCONT"}, {SIGSTOP, "SIGSTOP"},     {SIGTSTP, "SIGTSTP"}, {SIGTTIN, "SIGTTIN"},
      {SIGTTOU, "SIGTTOU"}, {SIGURG, "SIGURG"},       {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"},
      {SIGPROF, "SIGPROF"}, {SIGVTALRM, "SIGVTALRM"}, {SIGSYS, "SIGSYS"},   {SIGWINCH, "SIGWINCH"},
  };
  for (const entry& e : table)
    if (e.number == signal) return e.name;
  return "signal " + std::to_string(signal);
}

inline bool become_subreaper() noexcept {
#if defined(__linux__)
  return ::prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0UL, 0UL, 0UL) == 0;
#else
  return false;
#endif
}

namespace detail {

/// An owned descriptor, closed on destruction.
class process_fd {
 public:
  process_fd() = default;
  explicit process_fd(int fd) noexcept : fd_(fd) {}
  process_fd(process_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  process_fd& operator=(process_fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  process_fd(const process_fd&) = delete;
  process_fd& operator=(const process_fd&) = delete;
  ~process_fd() { reset(); }
  /// The descriptor, or -1.
  [[nodiscard]] int get() const noexcept { return fd_; }
  /// Closes the held descriptor and holds `fd` instead.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

/// A connected pair of close-on-exec stream sockets (a pipe that never raises SIGPIPE:
/// `send_byte` to a keeper that is gone fails with EPIPE instead); false on failure.
inline bool make_channel(process_fd& one, process_fd& other) noexcept {
  int fds[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return false;
  one.reset(fds[0]);
  other.reset(fds[1]);
  return true;
}

/// Sends one byte on a `make_channel` socket, without SIGPIPE; false when it could not.
inline bool send_byte(int fd, unsigned char byte) noexcept {
  for (;;) {
    const ssize_t n = ::send(fd, &byte, 1, MSG_NOSIGNAL);
    if (n == 1) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

/// A pipe whose two ends are close-on-exec; false (errno set) on failure.
inline bool make_pipe(process_fd& read_end, process_fd& write_end) noexcept {
  int fds[2] = {-1, -1};
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;
  read_end.reset(fds[0]);
  write_end.reset(fds[1]);
  return true;
}

/// What the child writes to the error pipe when it cannot exec.
struct spawn_failure {
  int stage = 0;  ///< 1: chdir, 2: exec, 3: the keeper could not start the child
  int error = 0;  ///< errno
};

/// Writes a failure report and exits; async-signal-safe (runs between fork and exec).
[[noreturn]] inline void child_fail(int fd, int stage, int error) noexcept {
  const spawn_failure report{stage, error};
  const auto* bytes = reinterpret_cast<const char*>(&report);
  std::size_t done = 0;
  while (done < sizeof report) {
    const ssize_t n = ::write(fd, bytes + done, sizeof report - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::_exit(127);
}

/// Everything the child needs, prepared before fork so the child only makes system calls.
struct child_plan {
  std::vector<char*> argv{};
  std::vector<char*> envp{};
  std::vector<std::string> candidates{};  ///< paths to try with execve, in PATH order
  const char* working_directory = nullptr;
  int out_fd = -1;
  int err_fd = -1;
  int error_fd = -1;
  pid_t parent = 0;
  bool die_with_parent = true;
  const int* inherited = nullptr;  ///< descriptors to keep across exec
  std::size_t inherited_count = 0;
  bool take_terminal = false;  ///< take the terminal's foreground, in `terminal_modes`
  termios terminal_modes{};
};

/// The child side of the keeper's fork: group, death signal, signals, streams, directory,
/// exec. `parent` is the keeper.
[[noreturn]] inline void child_main(const child_plan& plan, pid_t parent) noexcept {
  ::setpgid(0, 0);
  if (plan.take_terminal) {  // signals are blocked: no SIGTTOU from the background
    ::tcsetattr(STDIN_FILENO, TCSANOW, &plan.terminal_modes);
    ::tcsetpgrp(STDIN_FILENO, ::getpid());
  }
#if defined(__linux__)
  ::prctl(PR_SET_PDEATHSIG, static_cast<unsigned long>(SIGKILL), 0UL, 0UL, 0UL);
  if (::getppid() != parent) ::_exit(127);  // the keeper died before prctl
#else
  (void)parent;
#endif
  // Ignored signals and the blocked mask survive exec: give the program a clean slate.
  // Signals are blocked since fork (see spawn), so no handler of the supervisor runs here.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) ::sigaction(s, &dfl, nullptr);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (plan.out_fd >= 0 && (::dup2(plan.out_fd, 1) < 0 || ::dup2(plan.err_fd, 2) < 0))
    child_fail(plan.error_fd, 2, errno);
  for (std::size_t i = 0; i < plan.inherited_count; ++i)
    if (::fcntl(plan.inherited[i], F_SETFD, 0) != 0) child_fail(plan.error_fd, 2, errno);
  if (plan.working_directory && ::chdir(plan.working_directory) != 0)
    child_fail(plan.error_fd, 1, errno);
  int error = ENOENT;
  bool denied = false;
  for (const std::string& path : plan.candidates) {
    ::execve(path.c_str(), plan.argv.data(), plan.envp.data());
    error = errno;
    if (error == EACCES) denied = true;
    if (error != ENOENT && error != ENOTDIR && error != EACCES) break;
  }
  child_fail(plan.error_fd, 2, denied && (error == ENOENT || error == ENOTDIR) ? EACCES : error);
}

/// The paths execvp would try for `program`: itself when it has a '/', else each PATH entry.
inline std::vector<std::string> exec_candidates(const std::string& program, std::string path) {
  if (program.find('/') != std::string::npos) return {program};
  if (path.empty()) path = "/usr/local/bin:/usr/bin:/bin";
  std::vector<std::string> out;
  std::size_t begin = 0;
  while (begin <= path.size()) {
    std::size_t end = path.find(':', begin);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(begin, end - begin);
    out.push_back((dir.empty() ? std::string(".") : dir) + "/" + program);
    begin = end + 1;
  }
  return out;
}

/// One process as /proc describes it.
struct proc_entry {
  pid_t pid = 0;
  pid_t parent = 0;
  pid_t group = 0;
  char state = '?';
  unsigned long long start_ticks = 0;  ///< start time, in clock ticks after boot
};

/// Reads /proc/<pid>/stat; false when the process is gone. Plain open/read into a stack
/// buffer: stop() reads this for every process on the machine.
inline bool read_proc_stat(pid_t pid, proc_entry& out) {
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char text[1024];
  ssize_t n = 0;
  do {
    n = ::read(fd, text, sizeof text - 1);
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  if (n <= 0) return false;
  text[n] = '\0';
  const char* close = std::strrchr(text, ')');  // the command name may hold spaces and ')'
  if (close == nullptr || close + 2 >= text + n) return false;
  const char* p = close + 2;
  out.pid = pid;
  out.state = *p;
  char* end = nullptr;
  out.parent = static_cast<pid_t>(std::strtol(p + 1, &end, 10));
  out.group = static_cast<pid_t>(std::strtol(end, &end, 10));
  // Fields 6 to 21 (session ... itrealvalue), then 22: starttime.
  for (int field = 6; field <= 21 && end != nullptr && *end != '\0'; ++field) std::strtoll(end, &end, 10);
  out.start_ticks = (end != nullptr && *end != '\0') ? std::strtoull(end, &end, 10) : 0;
  return true;
}

/// True when /proc/<pid>/environ holds exactly the entry `variable` ("NAME=value").
inline bool has_environment_entry(pid_t pid, const std::string& variable) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ");
  std::string entry;
  while (std::getline(in, entry, '\0'))
    if (entry == variable) return true;
  return false;
}

/// Every pid in /proc (empty where there is no /proc).
inline std::vector<pid_t> list_pids() {
  std::vector<pid_t> out;
  DIR* dir = ::opendir("/proc");
  if (!dir) return out;
  while (const dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (pid > 0 && *end == '\0') out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(dir);
  return out;
}

// ---------------------------------------------------------------------------------------
// The keeper: a small process between the supervisor and each child. It is forked from a
// supervisor that has threads, so it makes system calls only (no allocation, no locks).

/// What the keeper tells the supervisor about the child, on the status pipe.
struct keeper_message {
  /// Which news.
  enum kind_t : std::int32_t {
    started = 1,    ///< `value` is the child's pid
    stopped = 2,    ///< stopped by job control; `value` is the signal
    continued = 3,  ///< continued after a stop
    exited = 4,     ///< reaped; `value` is the wait status
  };
  std::int32_t kind = 0;   ///< a `kind_t`
  std::int32_t value = 0;  ///< see `kind_t`
};

/// In the keeper, where there is no signalfd: the write end of its wake-up pipe, for its
/// signal handler.
inline volatile sig_atomic_t keeper_wake_fd = -1;

/// In the keeper, where there is no signalfd: SIGCHLD and the death signal become a byte
/// (the signal number) on the pipe.
extern "C" inline void keeper_on_signal(int signal) {
  const int saved = errno;
  const auto byte = static_cast<unsigned char>(signal);
  [[maybe_unused]] const ssize_t n = ::write(static_cast<int>(keeper_wake_fd), &byte, 1);
  errno = saved;
}

/// Writes all of `size` bytes; false on error. Async-signal-safe.
inline bool write_all(int fd, const void* data, std::size_t size) noexcept {
  const auto* bytes = static_cast<const char*>(data);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, bytes + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

/// Reads exactly `size` bytes; false at EOF or on error.
inline bool read_all(int fd, void* data, std::size_t size) noexcept {
  auto* bytes = static_cast<char*>(data);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, bytes + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

#if defined(__linux__)
/// The parent of `pid` from /proc/<pid>/stat, or 0; `name` is its decimal text. No allocation.
inline pid_t keeper_parent_of(const char* name) noexcept {
  char path[64] = "/proc/";
  std::size_t at = 6;
  for (const char* c = name; *c != '\0' && at < sizeof path - 6; ++c) path[at++] = *c;
  const char tail[] = "/stat";
  for (const char c : tail) path[at++] = c;
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char text[512];
  ssize_t n = 0;
  do {
    n = ::read(fd, text, sizeof text - 1);
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  if (n <= 0) return 0;
  text[n] = '\0';
  const char* p = nullptr;
  for (const char* c = text; *c != '\0'; ++c)
    if (*c == ')') p = c;  // the last ')': the command name may hold one
  if (p == nullptr || p[1] == '\0' || p[2] == '\0' || p[3] != ' ') return 0;
  pid_t parent = 0;
  for (p += 4; *p >= '0' && *p <= '9'; ++p) parent = parent * 10 + (*p - '0');
  return parent;
}

/// Calls `each(name)` for every numeric entry of directory `dir` (fd), through getdents64.
template <class Each>
void keeper_each_number(int dir, Each each) noexcept {
  alignas(8) char buffer[8192];
  for (;;) {
    const long got = ::syscall(SYS_getdents64, dir, buffer, sizeof buffer);
    if (got <= 0) return;
    for (long at = 0; at < got;) {
      // struct linux_dirent64: u64 inode, s64 offset, u16 record length, u8 type, name.
      unsigned short length = 0;
      std::memcpy(&length, buffer + at + 16, sizeof length);
      const char* name = buffer + at + 19;
      if (*name >= '0' && *name <= '9') each(name);
      at += length;
    }
  }
}
#endif

/// In the keeper: SIGKILL to each of its children (the child, and every orphan of the tree:
/// the keeper is their subreaper). Returns how many it found.
inline int keeper_kill_children(pid_t child) noexcept {
  int found = 0;
#if defined(__linux__)
  const pid_t self = ::getpid();
  const int proc = ::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (proc >= 0) {
    keeper_each_number(proc, [&](const char* name) {
      if (keeper_parent_of(name) != self) return;
      pid_t pid = 0;
      for (const char* c = name; *c != '\0'; ++c) pid = pid * 10 + (*c - '0');
      ::kill(pid, SIGKILL);
      ++found;
    });
    ::close(proc);
  }
#endif
  if (child > 0 && ::kill(-child, SIGKILL) == 0) ++found;  // and what the group forks meanwhile
  return found;
}

/// In the keeper: closes every descriptor but `keep` (getdents64 over /proc/self/fd, in
/// passes of up to 1024 until a pass finds none).
inline void keeper_close_others(const int (&keep)[4]) noexcept {
#if defined(__linux__)
  for (bool closed_some = true; closed_some;) {
    const int dir = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return;
    int close_list[1024];
    std::size_t count = 0;
    keeper_each_number(dir, [&](const char* name) {
      int fd = 0;
      for (const char* c = name; *c != '\0'; ++c) fd = fd * 10 + (*c - '0');
      bool kept = fd == dir;
      for (const int k : keep) kept = kept || fd == k;
      if (!kept && count < std::size(close_list)) close_list[count++] = fd;
    });
    ::close(dir);
    for (std::size_t i = 0; i < count; ++i) ::close(close_list[i]);
    closed_some = count > 0;
  }
#else
  for (int fd = 3; fd < 1024; ++fd) {
    bool kept = false;
    for (const int k : keep) kept = kept || fd == k;
    if (!kept) ::close(fd);
  }
#endif
}

/// Milliseconds of CLOCK_MONOTONIC. Async-signal-safe.
inline long long keeper_now_ms() noexcept {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<long long>(now.tv_sec) * 1000 + now.tv_nsec / 1'000'000;
}

/// What the supervisor writes on a keeper's control pipe: a signal number for the child's
/// group, or this byte to let the keeper go.
inline constexpr unsigned char keeper_release = 0;

/// The keeper: the subreaper of one child's tree. It starts the child, reports its stops
/// and its exit on `status`, signals the child's group when asked on `control` (only until
/// it has reaped the child, so never a recycled group), reaps every orphan of the tree, and
/// when the supervisor lets it go or dies (EOF on `control`; or, with `die_with_parent`,
/// the spawning thread exits) kills whatever is left of the tree and exits. All signals are
/// blocked on entry (see spawn).
[[noreturn]] inline void keeper_main(const child_plan& plan, int control, int status) noexcept {
  const int death_signal = SIGRTMAX - 2;  // a signal nobody sends by accident
#if defined(__linux__)
  ::prctl(PR_SET_NAME, reinterpret_cast<unsigned long>("hmr-keeper"), 0UL, 0UL, 0UL);
  ::prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0UL, 0UL, 0UL);
  if (plan.die_with_parent)
    ::prctl(PR_SET_PDEATHSIG, static_cast<unsigned long>(death_signal), 0UL, 0UL, 0UL);
#endif
  if (::getppid() != plan.parent) ::_exit(0);  // the supervisor is gone already
  // SIGCHLD and the death signal, as readable bytes: a signalfd where there is one (no
  // handler at all, which also suits sanitizer runtimes), else a handler and a pipe.
  sigset_t listened;
  ::sigemptyset(&listened);
  ::sigaddset(&listened, SIGCHLD);
  ::sigaddset(&listened, death_signal);
  int wake[2] = {-1, -1};
#if defined(__linux__)
  wake[0] = ::signalfd(-1, &listened, SFD_NONBLOCK | SFD_CLOEXEC);  // both stay blocked
  if (wake[0] < 0) child_fail(plan.error_fd, 3, errno);
#else
  if (::pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) child_fail(plan.error_fd, 3, errno);
  keeper_wake_fd = wake[1];
  struct sigaction on {};
  on.sa_handler = keeper_on_signal;
  ::sigemptyset(&on.sa_mask);
  ::sigaction(SIGCHLD, &on, nullptr);
  ::sigaction(death_signal, &on, nullptr);
#endif

  const pid_t self = ::getpid();
  // _Fork: no atfork handlers of the supervisor's libraries run in this copy of a threaded process.
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  const pid_t child = ::_Fork();
#else
  const pid_t child = ::fork();
#endif
  if (child == 0) child_main(plan, self);
  if (child < 0) child_fail(plan.error_fd, 3, errno);
  ::setpgid(child, child);  // before the supervisor hears of it: a stop reaches the group
  keeper_message news{keeper_message::started, static_cast<std::int32_t>(child)};
  write_all(status, &news, sizeof news);
  keeper_close_others({control, status, wake[0], wake[1]});
#if !defined(__linux__)
  ::sigprocmask(SIG_UNBLOCK, &listened, nullptr);
#endif

  bool child_reaped = false;
  for (bool supervisor_gone = false; !supervisor_gone;) {
    pollfd polled[2] = {{control, POLLIN, 0}, {wake[0], POLLIN, 0}};
    if (::poll(polled, 2, -1) < 0 && errno != EINTR) break;
#if defined(__linux__)
    for (signalfd_siginfo got{}; ::read(wake[0], &got, sizeof got) == static_cast<ssize_t>(sizeof got);)
      supervisor_gone = supervisor_gone || static_cast<int>(got.ssi_signo) == death_signal;
#else
    unsigned char signals[64];
    for (ssize_t n; (n = ::read(wake[0], signals, sizeof signals)) > 0;)
      for (ssize_t i = 0; i < n; ++i) supervisor_gone = supervisor_gone || signals[i] == death_signal;
#endif
    int wait_status = 0;
    for (pid_t reaped; (reaped = ::waitpid(-1, &wait_status, WNOHANG | WUNTRACED | WCONTINUED)) > 0;) {
      if (reaped != child || child_reaped) continue;  // an orphan of the tree, reaped
      if (WIFSTOPPED(wait_status))
        news = {keeper_message::stopped, WSTOPSIG(wait_status)};
      else if (WIFCONTINUED(wait_status))
        news = {keeper_message::continued, 0};
      else
        news = {keeper_message::exited, wait_status};
      child_reaped = news.kind == keeper_message::exited;
      write_all(status, &news, sizeof news);
    }
    if (polled[0].revents != 0) {
      unsigned char asked[64];
      const ssize_t n = ::read(control, asked, sizeof asked);
      supervisor_gone = supervisor_gone || n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN);
      for (ssize_t i = 0; i < n; ++i) {
        if (asked[i] == keeper_release) {
          supervisor_gone = true;
        } else if (!child_reaped) {  // its group id is still its own
          ::kill(-child, asked[i]);
          if (asked[i] != SIGKILL) ::kill(-child, SIGCONT);  // a stopped group acts on it only then
        }
      }
    }
  }
  // The supervisor is done with the tree, or gone: nothing of it may outlive this.
  const long long give_up = keeper_now_ms() + 2000;
  for (;;) {
    keeper_kill_children(child_reaped ? 0 : child);
    for (pid_t reaped; (reaped = ::waitpid(-1, nullptr, WNOHANG)) > 0;)
      child_reaped = child_reaped || reaped == child;
    if (::waitpid(-1, nullptr, WNOHANG) < 0 && errno == ECHILD) break;
    if (keeper_now_ms() > give_up) break;
    const timespec pause{0, 1'000'000};
    ::nanosleep(&pause, nullptr);
  }
  ::_exit(0);
}

/// Serial numbers for the environment tokens that mark a child's descendants.
inline std::atomic<std::uint64_t> process_serial{0};

/// The shared state of one child: the owner, the waiter thread and the reader thread.
class process_state {
 public:
  process_options options{};
  pid_t pid = 0;
  pid_t keeper = 0;  ///< the keeper process between us and the child (our own child)
  std::chrono::steady_clock::time_point started{};
  std::string token{};  ///< "HMR_PROCESS_TOKEN=<supervisor pid>.<serial>", inherited by descendants
  unsigned long long start_ticks = 0;  ///< the child's start time (/proc stat field 22)
  process_fd out_read{};
  process_fd err_read{};
  process_fd wake_read{};
  process_fd wake_write{};
  process_fd control{};  ///< to the keeper: signals for the group; release, or EOF, ends it
  process_fd status{};   ///< the keeper's news: `keeper_message`s

  std::mutex mutex{};
  std::condition_variable changed{};
  bool reaped = false;          ///< the keeper has reaped the child
  bool reader_done = false;     ///< both output pipes reached EOF (or were abandoned)
  bool reported = false;        ///< `report` is final and on_exit has returned
  bool stop_requested = false;  ///< stop() signalled the child before it was reaped
  bool group_gone = false;      ///< the group was empty when the child was reaped
  bool finished = false;        ///< stop() completed: leftovers swept, threads joined
  bool holds_terminal = false;  ///< share_terminal handed it the terminal's foreground
  process_exit report{};

  std::thread waiter{};
  std::thread reader{};

  /// How long the waiter waits, after the reap, for the output to reach EOF.
  static constexpr auto drain_bound = std::chrono::milliseconds(200);
  /// How long stop() keeps killing leftovers of the group and token holders.
  static constexpr auto sweep_bound = std::chrono::seconds(2);
  /// Longest line delivered whole; longer ones arrive in pieces of this size.
  static constexpr std::size_t max_line = std::size_t{1} << 20;

  /// A job-control stop. Without the terminal, the child stopped for it (SIGTTIN, SIGTTOU;
  /// or SIGSTOP, SIGTSTP it raised itself: a curses program's handler for SIGTTOU restores
  /// the terminal and stops itself), so with share_terminal it gets the terminal and goes
  /// on. Holding the terminal, it was stopped by Ctrl-Z or by someone: the terminal comes
  /// back. Either way `on_stop` hears of it.
  void on_job_stop(int signal) {
    bool held = false;
    {
      const std::lock_guard lock(mutex);
      if (stop_requested) return;  // stop() continues it and ends it
      held = std::exchange(holds_terminal, false);
    }
    // Not under the lock: the terminal's listeners run inside hand_to and take_back.
    bool handed = false;
    if (held) {
      shared_terminal::instance().take_back();
    } else if (options.share_terminal && shared_terminal::instance().hand_to(pid)) {
      const std::lock_guard lock(mutex);
      holds_terminal = handed = true;
      if (!stop_requested) signal_group(SIGCONT);
    }
    if (options.on_stop) options.on_stop(signal, handed);
  }

  /// Has the keeper send `signal` (then SIGCONT, unless SIGKILL) to the child's group, which
  /// it does only until it has reaped the child: never to a group id recycled since.
  void signal_group(int signal) noexcept {
    const auto byte = static_cast<unsigned char>(signal);
    if (control.get() >= 0) send_byte(control.get(), byte);
  }

  /// The waiter thread: reads the keeper's news until the child is reaped, then publishes
  /// the report (and gives the terminal back, when the child held it).
  void wait_loop() {
    int status_word = 0;
    bool known = false;
    for (keeper_message news; read_all(status.get(), &news, sizeof news);) {
      if (news.kind == keeper_message::stopped) on_job_stop(news.value);
      if (news.kind == keeper_message::exited) {
        status_word = news.value;
        known = true;
        break;
      }
    }
    std::unique_lock lock(mutex);
    report.pid = pid;
    report.uptime =
        std::chrono::duration_cast<duration>(std::chrono::steady_clock::now() - started);
    if (!known) {  // the keeper was killed: the kernel's death signal took the child with it
      report.status.signal = SIGKILL;
      report.status.signal_name = signal_name(SIGKILL);
    } else if (WIFEXITED(status_word)) {
      report.status.code = WEXITSTATUS(status_word);
    } else if (WIFSIGNALED(status_word)) {
      report.status.signal = WTERMSIG(status_word);
      report.status.signal_name = signal_name(report.status.signal);
    }
    if (stop_requested)
      report.why = process_exit::cause::stopped;
    else
      report.why = report.status.code ? process_exit::cause::exited : process_exit::cause::crashed;
    group_gone = ::kill(-pid, 0) != 0 && errno == ESRCH;
    reaped = true;
    const bool held_terminal = std::exchange(holds_terminal, false);
    if (!stop_requested) {
      std::set<pid_t> seen;
      std::set<pid_t> dead;
      sweep(0, seen, dead, &report.left_running);
    }
    changed.notify_all();
    lock.unlock();
    if (held_terminal) shared_terminal::instance().take_back();
    lock.lock();
    changed.wait_for(lock, drain_bound, [this] { return reader_done; });
    const process_exit copy = report;
    lock.unlock();
    if (options.on_exit) options.on_exit(copy);
    lock.lock();
    reported = true;
    changed.notify_all();
    lock.unlock();
    // Ctrl-C on a terminal the program held, or the terminal hanging up, reached only the
    // program (the foreground group): pass it on, as a shell does, so the supervisor's own
    // SIGINT or SIGHUP handling runs.
    if (held_terminal && copy.why == process_exit::cause::crashed &&
        (copy.status.signal == SIGINT || copy.status.signal == SIGHUP))
      ::kill(::getpid(), copy.status.signal);
  }

  /// Splits `data` into lines for `stream`, keeping the unfinished tail in `pending`.
  void feed(output_stream stream, std::string& pending, std::string_view data) {
    for (char c : data) {
      if (c == '\n') {
        deliver(stream, pending);
      } else {
        pending.push_back(c);
        if (pending.size() >= max_line) deliver(stream, pending);
      }
    }
  }

  /// Passes one line (without a trailing '\r') to on_line and clears it.
  void deliver(output_stream stream, std::string& line) {
    std::string_view view = line;
    if (!view.empty() && view.back() == '\r') view.remove_suffix(1);
    options.on_line(stream, view);
    line.clear();
  }

  /// The reader thread: polls stdout, stderr and the wake pipe until both outputs end.
  /// Woken by stop(), it takes what is buffered in the pipes and ends.
  void read_loop() {
    std::string pending[2];
    int fds[2] = {out_read.get(), err_read.get()};
    const output_stream streams[2] = {output_stream::out, output_stream::err};
    char buffer[65536];
    bool woken = false;
    while (fds[0] >= 0 || fds[1] >= 0) {
      pollfd polled[3] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}, {wake_read.get(), POLLIN, 0}};
      if (!woken && ::poll(polled, 3, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (polled[2].revents != 0) woken = true;
      for (int i = 0; i < 2; ++i) {
        if (fds[i] < 0 || (!woken && polled[i].revents == 0)) continue;
        const ssize_t n = ::read(fds[i], buffer, sizeof buffer);
        if (n > 0) {
          feed(streams[i], pending[i], std::string_view(buffer, static_cast<std::size_t>(n)));
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
          fds[i] = -1;
        } else if (woken && errno == EAGAIN) {
          fds[i] = -1;  // stop() gave up on whoever still holds the pipe open
        }
      }
    }
    for (int i = 0; i < 2; ++i)
      if (!pending[i].empty()) deliver(streams[i], pending[i]);
    const std::lock_guard lock(mutex);
    reader_done = true;
    changed.notify_all();
  }

  /// One pass over /proc, after the child was reaped: sends `sig` (0: none; SIGCONT follows
  /// any other but SIGKILL, so a stopped member acts on it) to every living member (the
  /// keeper's children, which are what is left of the tree since it is their subreaper; the
  /// holders of the child's token; and their descendants and the groups they lead).
  /// `living_out`, when given, receives the living members, oldest first. The child's own
  /// group id is not used: once the child is reaped it may be recycled.
  /// Returns true while any of them lives, or is a zombie whose parent is one of them (it
  /// is about to be reaped or re-parented). A zombie whose parent is someone else (init or
  /// another subreaper) counts as gone: it holds no port and no memory, and only its
  /// parent can reap it.
  bool sweep(int sig, std::set<pid_t>& seen, std::set<pid_t>& dead,
             std::vector<int>* living_out = nullptr) {
    bool any = false;
    const auto signal_one = [sig](pid_t target) {
      ::kill(target, sig);
      if (sig != SIGKILL) ::kill(target, SIGCONT);
    };
#if defined(__linux__)
    const pid_t self = ::getpid();
    // Members: the keeper's children, the token holders, and, to a fixed point, processes
    // whose parent or group leader is a member (descendants that cleared the token, or were
    // seen only as zombies). The keeper itself is no member: releasing it ends it.
    std::vector<proc_entry> all;
    for (pid_t p : list_pids()) {
      proc_entry e;
      if (p != self && p != pid && p != keeper && read_proc_stat(p, e)) all.push_back(e);
    }
    std::set<pid_t> known = seen;  // living members from earlier passes
    if (keeper > 0) known.insert(keeper);
    std::vector<proc_entry> members;
    std::vector<bool> taken(all.size(), false);
    std::vector<bool> token_checked(all.size(), false);
    for (bool grew = true; grew;) {
      grew = false;
      for (std::size_t i = 0; i < all.size(); ++i) {
        const proc_entry& e = all[i];
        if (taken[i]) continue;
        // A pid once seen dead counts only while still a zombie: alive, it was recycled.
        bool member = known.count(e.pid) != 0 || (e.state == 'Z' && dead.count(e.pid) != 0) ||
                      known.count(e.parent) != 0 ||
                      (e.group != pid && (known.count(e.group) != 0 || dead.count(e.group) != 0));
        // Only a process started after the child can have inherited its token.
        if (!member && e.state != 'Z' && !token_checked[i] && e.start_ticks >= start_ticks) {
          token_checked[i] = true;
          member = has_environment_entry(e.pid, token);
        }
        if (!member) continue;
        taken[i] = true;
        grew = true;
        members.push_back(e);
        known.insert(e.pid);
      }
    }
    std::set<pid_t> living;
    for (const proc_entry& e : members)
      if (e.state != 'Z') living.insert(e.pid);
    for (const proc_entry& e : members) {
      if (e.state == 'Z') {
        seen.erase(e.pid);  // never signal a dead pid again: it may be recycled
        dead.insert(e.pid);
        if (e.parent == self)
          ::waitpid(e.pid, nullptr, WNOHANG);
        else if (living.count(e.parent) != 0)
          any = true;
        continue;
      }
      any = true;
      seen.insert(e.pid);
      if (sig != 0) signal_one(e.pid);
    }
    if (living_out != nullptr) {
      std::vector<proc_entry> alive;
      for (const proc_entry& e : members)
        if (e.state != 'Z') alive.push_back(e);
      std::stable_sort(alive.begin(), alive.end(), [](const proc_entry& a, const proc_entry& b) {
        return a.start_ticks < b.start_ticks;
      });
      for (const proc_entry& e : alive) living_out->push_back(static_cast<int>(e.pid));
    }
#else
    // Without /proc: the group only (its id may be recycled once empty; nothing better here).
    const bool group_seen = !group_gone && ::kill(-pid, 0) == 0;
    any = group_seen;
    if (group_seen && sig != 0) signal_one(-pid);
    (void)living_out;
#endif
    return any;
  }

  /// After the reap: gives what is left of the group and the token holders `stop_signal`
  /// and what remains of the grace period, then SIGKILL until none is left (bounded).
  void sweep_leftovers(std::chrono::steady_clock::time_point grace_end) {
    std::set<pid_t> seen;
    std::set<pid_t> dead;
    if (!sweep(options.stop_signal, seen, dead)) return;  // the usual case: nothing left
    while (std::chrono::steady_clock::now() < grace_end && sweep(0, seen, dead))
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const auto give_up = std::chrono::steady_clock::now() + sweep_bound;
    while (sweep(SIGKILL, seen, dead) && std::chrono::steady_clock::now() < give_up)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  /// Joins the threads, waking the reader first so a pipe held open elsewhere cannot block;
  /// then lets the keeper go (it kills whatever is left of the tree) and reaps it.
  void join() {
    if (wake_write.get() >= 0) {
      const char byte = 1;
      [[maybe_unused]] const ssize_t n = ::write(wake_write.get(), &byte, 1);
    }
    if (waiter.joinable()) waiter.join();
    if (reader.joinable()) reader.join();
    release_keeper();
  }

  /// Lets the keeper go (a release byte, then EOF) and reaps it (it gives up on leftovers
  /// after 2 s).
  void release_keeper() {
    if (control.get() >= 0) send_byte(control.get(), keeper_release);
    control.reset();
    if (keeper <= 0) return;
    while (::waitpid(keeper, nullptr, 0) < 0 && errno == EINTR) {
    }
    keeper = 0;
  }
};

}  // namespace detail

inline child_process::child_process() noexcept = default;
inline child_process::child_process(std::unique_ptr<detail::process_state> state) noexcept
    : state_(std::move(state)) {}
inline child_process::child_process(child_process&& other) noexcept = default;
inline child_process& child_process::operator=(child_process&& other) noexcept {
  if (this != &other) {
    if (state_) stop();
    state_ = std::move(other.state_);
  }
  return *this;
}
inline child_process::~child_process() {
  if (state_) stop();
}

inline int child_process::pid() const noexcept { return state_ ? state_->pid : 0; }

inline bool child_process::running() const {
  if (!state_) return false;
  const std::lock_guard lock(state_->mutex);
  return !state_->reaped;
}

inline std::optional<process_exit> child_process::try_wait() const {
  if (!state_) return std::nullopt;
  const std::lock_guard lock(state_->mutex);
  if (!state_->reported) return std::nullopt;
  return state_->report;
}

inline std::optional<process_exit> child_process::wait_for(duration timeout) const {
  if (!state_) return std::nullopt;
  std::unique_lock lock(state_->mutex);
  if (!state_->changed.wait_for(lock, timeout, [this] { return state_->reported; }))
    return std::nullopt;
  return state_->report;
}

inline process_exit child_process::wait() const {
  if (!state_) return {};
  std::unique_lock lock(state_->mutex);
  state_->changed.wait(lock, [this] { return state_->reported; });
  return state_->report;
}

inline process_exit child_process::stop() {
  if (!state_) return {};
  detail::process_state& s = *state_;
  const auto grace_end = std::chrono::steady_clock::now() + s.options.grace_period;
  {
    std::unique_lock lock(s.mutex);
    if (s.finished) return s.report;
    if (!s.reaped) {
      // Through the keeper, which signals the group only while it has not reaped the child
      // (it adds SIGCONT: a stopped child acts on the signal only once continued).
      s.stop_requested = true;
      s.signal_group(s.options.stop_signal);
      if (!s.changed.wait_until(lock, grace_end, [&s] { return s.reaped; })) {
        s.signal_group(SIGKILL);
        s.changed.wait(lock, [&s] { return s.reaped; });
      }
    }
  }
  s.sweep_leftovers(grace_end);
  {
    std::unique_lock lock(s.mutex);
    s.changed.wait(lock, [&s] { return s.reported; });
  }
  s.join();
  const std::lock_guard lock(s.mutex);
  s.finished = true;
  return s.report;
}

inline result<child_process> child_process::spawn(process_options options) {
  if (options.command.empty())
    throw std::invalid_argument("hmr::child_process::spawn: the command is empty");
  if (options.shell && options.command.size() != 1)
    throw std::invalid_argument(
        "hmr::child_process::spawn: shell = true takes exactly one command string, got " +
        std::to_string(options.command.size()));

  auto state = std::make_unique<detail::process_state>();
  detail::process_state& s = *state;
  s.options = std::move(options);
  const process_options& o = s.options;
  std::vector<std::string> args =
      o.shell ? std::vector<std::string>{"/bin/sh", "-c", o.command[0]} : o.command;
  const std::string& program = o.shell ? o.command[0] : args[0];

  // The environment: inherited, minus the names the additions replace, plus the additions
  // and the token that marks this child's descendants.
  s.token = "HMR_PROCESS_TOKEN=" + std::to_string(::getpid()) + "." +
            std::to_string(detail::process_serial.fetch_add(1) + 1);
  std::vector<std::string> env;
  std::string path = ::getenv("PATH") ? ::getenv("PATH") : "";
  for (char** e = environ; e && *e; ++e) {
    const std::string_view entry(*e);
    const std::string_view name = entry.substr(0, entry.find('='));
    bool replaced = name == "HMR_PROCESS_TOKEN";
    for (const auto& [key, value] : o.environment) replaced = replaced || key == name;
    if (!replaced) env.emplace_back(entry);
  }
  for (const auto& [key, value] : o.environment) {
    env.push_back(key + "=" + value);
    if (key == "PATH") path = value;
  }
  env.push_back(s.token);

  detail::child_plan plan;
  plan.candidates = detail::exec_candidates(args[0], path);
  for (std::string& a : args) plan.argv.push_back(a.data());
  plan.argv.push_back(nullptr);
  for (std::string& e : env) plan.envp.push_back(e.data());
  plan.envp.push_back(nullptr);
  if (!o.working_directory.empty()) plan.working_directory = o.working_directory.c_str();
  plan.die_with_parent = o.die_with_parent;
  plan.parent = ::getpid();
  // A program of this session took the terminal: this one takes it as it starts (the key
  // reader sees EIO and waits; the terminal comes back when the child ends).
  if (o.share_terminal && detail::foreground_start(plan.terminal_modes))
    plan.take_terminal = s.holds_terminal = true;
  plan.inherited = o.inherited_fds.data();
  plan.inherited_count = o.inherited_fds.size();
  for (const int fd : o.inherited_fds)
    if (fd < 0 || ::fcntl(fd, F_GETFD) < 0)
      return error_info{"cannot pass descriptor " + std::to_string(fd) + " to '" + program +
                        "': " + std::generic_category().message(fd < 0 ? EBADF : errno)};

  const auto failed = [&program](const char* what, int error) {
    return error_info{std::string(what) + " '" + program +
                      "': " + std::generic_category().message(error)};
  };
  detail::process_fd error_read, error_write, out_write, err_write, control_read, status_write;
  if (!detail::make_pipe(error_read, error_write) || !detail::make_channel(control_read, s.control) ||
      !detail::make_pipe(s.status, status_write))
    return failed("cannot start", errno);
  if (o.on_line) {
    if (!detail::make_pipe(s.out_read, out_write) || !detail::make_pipe(s.err_read, err_write) ||
        !detail::make_pipe(s.wake_read, s.wake_write))
      return failed("cannot start", errno);
    plan.out_fd = out_write.get();
    plan.err_fd = err_write.get();
  }
  plan.error_fd = error_write.get();

  // All signals blocked across fork: neither the keeper nor the child may run the
  // supervisor's handlers (a stop() right after spawn sends one at once). The keeper starts
  // the child; see keeper_main.
  sigset_t all, previous;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  s.started = std::chrono::steady_clock::now();
  const pid_t keeper = ::fork();
  if (keeper == 0) detail::keeper_main(plan, control_read.get(), status_write.get());
  const int fork_error = errno;
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (keeper < 0) return failed("cannot start", fork_error);
  s.keeper = keeper;
  control_read.reset();
  status_write.reset();
  error_write.reset();
  out_write.reset();
  err_write.reset();

  detail::keeper_message news;
  const bool started = detail::read_all(s.status.get(), &news, sizeof news) &&
                       news.kind == detail::keeper_message::started;
  if (started) s.pid = static_cast<pid_t>(news.value);
  if (started && plan.take_terminal) detail::foreground_taken(s.pid);
  if (detail::proc_entry self{}; started && detail::read_proc_stat(s.pid, self))
    s.start_ticks = self.start_ticks;

  detail::spawn_failure report;
  const bool failure = detail::read_all(error_read.get(), &report, sizeof report);
  if (!started || failure) {
    s.release_keeper();  // it reaps the failed child, and exits
    if (s.holds_terminal) shared_terminal::instance().take_back();
    if (!failure) return failed("cannot start", ECHILD);
    if (report.stage == 1)
      return error_info{"cannot change to working directory '" + o.working_directory +
                        "': " + std::generic_category().message(report.error)};
    if (report.stage == 3) return failed("cannot start", report.error);
    return failed("cannot run", report.error);
  }

  if (o.on_line) {
    ::fcntl(s.out_read.get(), F_SETFL, O_NONBLOCK);
    ::fcntl(s.err_read.get(), F_SETFL, O_NONBLOCK);
    s.reader = std::thread([&s] { s.read_loop(); });
  } else {
    s.reader_done = true;
  }
  s.waiter = std::thread([&s] { s.wait_loop(); });
  return child_process(std::move(state));
}

}  // namespace hmr
