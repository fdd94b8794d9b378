// The POSIX implementation of hmr/process.hpp: fork/exec with a CLOEXEC error pipe, one
// process group per child, a waiter thread and a reader thread per child, and a /proc
// sweep that finds the descendants which left the group. Nothing here is needed to use it.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hmr/process.hpp>
#if defined(__linux__)
#include <sys/prctl.h>
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
  int stage = 0;  ///< 1: chdir, 2: exec
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
};

/// The child side of fork: group, death signal, signals, streams, directory, exec.
[[noreturn]] inline void child_main(const child_plan& plan) noexcept {
  ::setpgid(0, 0);
#if defined(__linux__)
  if (plan.die_with_parent) {
    ::prctl(PR_SET_PDEATHSIG, static_cast<unsigned long>(SIGKILL), 0UL, 0UL, 0UL);
    if (::getppid() != plan.parent) ::_exit(127);  // the parent died before prctl
  }
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

/// Serial numbers for the environment tokens that mark a child's descendants.
inline std::atomic<std::uint64_t> process_serial{0};

/// The shared state of one child: the owner, the waiter thread and the reader thread.
class process_state {
 public:
  process_options options{};
  pid_t pid = 0;
  std::chrono::steady_clock::time_point started{};
  std::string token{};  ///< "HMR_PROCESS_TOKEN=<supervisor pid>.<serial>", inherited by descendants
  unsigned long long start_ticks = 0;  ///< the child's start time (/proc stat field 22)
  process_fd out_read{};
  process_fd err_read{};
  process_fd wake_read{};
  process_fd wake_write{};

  std::mutex mutex{};
  std::condition_variable changed{};
  bool reaped = false;          ///< waitpid has collected the child
  bool reader_done = false;     ///< both output pipes reached EOF (or were abandoned)
  bool reported = false;        ///< `report` is final and on_exit has returned
  bool stop_requested = false;  ///< stop() signalled the child before it was reaped
  bool group_gone = false;      ///< the group was empty when the child was reaped
  bool finished = false;        ///< stop() completed: leftovers swept, threads joined
  process_exit report{};

  std::thread waiter{};
  std::thread reader{};

  /// How long the waiter waits, after the reap, for the output to reach EOF.
  static constexpr auto drain_bound = std::chrono::milliseconds(200);
  /// How long stop() keeps killing leftovers of the group and token holders.
  static constexpr auto sweep_bound = std::chrono::seconds(2);
  /// Longest line delivered whole; longer ones arrive in pieces of this size.
  static constexpr std::size_t max_line = std::size_t{1} << 20;

  /// The waiter thread: waits for the exit without reaping, then reaps under the lock so
  /// that stop() never signals a reaped (possibly recycled) pid.
  void wait_loop() {
    siginfo_t info{};
    while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) != 0 &&
           errno == EINTR) {
    }
    std::unique_lock lock(mutex);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    report.pid = pid;
    report.uptime =
        std::chrono::duration_cast<duration>(std::chrono::steady_clock::now() - started);
    if (WIFEXITED(status)) {
      report.status.code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      report.status.signal = WTERMSIG(status);
      report.status.signal_name = signal_name(report.status.signal);
    }
    if (stop_requested)
      report.why = process_exit::cause::stopped;
    else
      report.why = report.status.code ? process_exit::cause::exited : process_exit::cause::crashed;
    group_gone = ::kill(-pid, 0) != 0 && errno == ESRCH;
    reaped = true;
    changed.notify_all();
    changed.wait_for(lock, drain_bound, [this] { return reader_done; });
    const process_exit copy = report;
    lock.unlock();
    if (options.on_exit) options.on_exit(copy);
    lock.lock();
    reported = true;
    changed.notify_all();
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

  /// One pass over /proc: sends `sig` (0: none) to every living member (the child's group,
  /// the holders of its token, and their descendants and the groups they lead), and reaps
  /// the members that are zombies re-parented to us.
  /// Returns true while any of them lives, or is a zombie whose parent is one of them (it
  /// is about to be reaped or re-parented). A zombie whose parent is someone else (init or
  /// another subreaper) counts as gone: it holds no port and no memory, and only its
  /// parent can reap it.
  bool sweep(int sig, std::set<pid_t>& seen, std::set<pid_t>& dead) {
    bool any = false;
    bool group_seen = false;
#if defined(__linux__)
    const pid_t self = ::getpid();
    // Members: the child's group, the token holders, and, to a fixed point, processes
    // whose parent or group leader is a member (descendants that cleared the token, or
    // were seen only as zombies).
    std::vector<proc_entry> all;
    for (pid_t p : list_pids()) {
      proc_entry e;
      if (p != self && p != pid && read_proc_stat(p, e)) all.push_back(e);
    }
    std::set<pid_t> known = seen;  // living members from earlier passes
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
                      (e.group != pid && (known.count(e.group) != 0 || dead.count(e.group) != 0)) ||
                      (!group_gone && e.group == pid);
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
      group_seen = group_seen || (!group_gone && e.group == pid);
      if (sig != 0) ::kill(e.pid, sig);
    }
#else
    group_seen = !group_gone && ::kill(-pid, 0) == 0;
    any = group_seen;
#endif
    // The group signal as well: it also reaches processes forked since the scan.
    if (group_seen && sig != 0) ::kill(-pid, sig);
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

  /// Joins the threads, waking the reader first so a pipe held open elsewhere cannot block.
  void join() {
    if (wake_write.get() >= 0) {
      const char byte = 1;
      [[maybe_unused]] const ssize_t n = ::write(wake_write.get(), &byte, 1);
    }
    if (waiter.joinable()) waiter.join();
    if (reader.joinable()) reader.join();
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
      // Under the lock the child is at worst a zombie, so its pid is still its own.
      s.stop_requested = true;
      ::kill(-s.pid, s.options.stop_signal);
      if (!s.changed.wait_until(lock, grace_end, [&s] { return s.reaped; })) {
        ::kill(-s.pid, SIGKILL);
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
  detail::process_fd error_read, error_write, out_write, err_write;
  if (!detail::make_pipe(error_read, error_write)) return failed("cannot start", errno);
  if (o.on_line) {
    if (!detail::make_pipe(s.out_read, out_write) || !detail::make_pipe(s.err_read, err_write) ||
        !detail::make_pipe(s.wake_read, s.wake_write))
      return failed("cannot start", errno);
    plan.out_fd = out_write.get();
    plan.err_fd = err_write.get();
  }
  plan.error_fd = error_write.get();

  // All signals blocked across fork: the child must not run the supervisor's handlers
  // before it resets them (a stop() right after spawn sends one at once).
  sigset_t all, previous;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  s.started = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) detail::child_main(plan);
  const int fork_error = errno;
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (pid < 0) return failed("cannot start", fork_error);
  ::setpgid(pid, pid);  // also here, so that a stop() right after spawn reaches the group
  s.pid = pid;
  if (detail::proc_entry self{}; detail::read_proc_stat(pid, self)) s.start_ticks = self.start_ticks;
  error_write.reset();
  out_write.reset();
  err_write.reset();

  detail::spawn_failure report;
  std::size_t got = 0;
  while (got < sizeof report) {
    const ssize_t n =
        ::read(error_read.get(), reinterpret_cast<char*>(&report) + got, sizeof report - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got == sizeof report) {
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    if (report.stage == 1)
      return error_info{"cannot change to working directory '" + o.working_directory +
                        "': " + std::generic_category().message(report.error)};
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
