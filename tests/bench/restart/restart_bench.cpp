// Side-by-side restart-latency benchmark: hmr::restart_strategy against `entr -r` and
// nodemon, all restarting the same tiny child (child.cpp), in one run, in rounds that take
// the supervisors in turn. Measured per restart:
//   - trigger -> the new child's first CLOCK_MONOTONIC reading (read by the child itself);
//   - trigger -> the old child gone (its pidfd turns readable), and from there to the new one;
//   - hmr: when process_exited / process_started were emitted, and (save scenarios) when the
//     debouncer released the batch.
// Triggers: `submit()` of a batch (hmr, no build), and a write() to a watched file (hmr's own
// native_watcher + debouncer, entr -r, nodemon --delay 0). A floor scenario does the same
// restart by hand (kill, pidfd, waitpid, fork+exec) to give the old child's own shutdown
// time and the cost of the restart without any supervisor logic.
// See README.md next to this file for how to run it and how to read the table.
//
// Build: g++ -O2 -std=c++20 -Iinclude tests/bench/restart/restart_bench.cpp -o restart_bench -pthread

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <hmr/debouncer.hpp>
#include <hmr/restart_strategy.hpp>
#include <hmr/watcher.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#ifndef HMR_RESTART_BENCH_CHILD
#define HMR_RESTART_BENCH_CHILD ""
#endif

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// ---------------------------------------------------------------------------------------
// Time and small helpers

/// CLOCK_MONOTONIC in nanoseconds (steady_clock is the same clock on Linux).
std::int64_t mono_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

constexpr std::int64_t ms_ns = 1'000'000;

/// Sleeps for `ns` nanoseconds.
void sleep_ns(std::int64_t ns) {
  if (ns <= 0) return;
  timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  while (::nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

/// printf into a std::string.
template <class... A>
std::string fmt(const char* f, A... a) {
  char buf[512];
  std::snprintf(buf, sizeof buf, f, a...);
  return buf;
}

/// The first line of a file, or "".
std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

/// The first line `command` prints (stdout and stderr), for version strings.
std::string first_output_line(const std::string& command) {
  FILE* p = ::popen((command + " 2>&1 </dev/null").c_str(), "r");
  if (!p) return "?";
  char buf[256] = {};
  std::string line = std::fgets(buf, sizeof buf, p) ? buf : "?";
  ::pclose(p);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  return line;
}

/// The q-quantile (0..1) of `v` by linear interpolation between order statistics.
double quantile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

/// Coefficient of variation (standard deviation / mean), in percent.
double cv_percent(const std::vector<double>& v) {
  if (v.size() < 2) return NAN;
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  double sq = 0;
  for (double x : v) sq += (x - mean) * (x - mean);
  return 100.0 * std::sqrt(sq / static_cast<double>(v.size() - 1)) / mean;
}

/// True when `name` is an executable on PATH (or a path to one).
bool have_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "");
  for (std::string dir; std::getline(ss, dir, ':');)
    if (!dir.empty() && ::access((dir + "/" + name).c_str(), X_OK) == 0) return true;
  return false;
}

// ---------------------------------------------------------------------------------------
// Processes

/// A pidfd for `pid` (readable once the process has exited), or -1.
int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  return static_cast<int>(::syscall(434, pid, 0));
#endif
}

/// Sends `sig` through a pidfd (safe against pid reuse).
void pidfd_signal(int pidfd, int sig) {
#ifdef SYS_pidfd_send_signal
  ::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0);
#else
  ::syscall(424, pidfd, sig, nullptr, 0);
#endif
}

/// True once the process behind `pidfd` has exited (waits at most `timeout_ms`).
bool pidfd_exited(int pidfd, int timeout_ms) {
  pollfd p{pidfd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) > 0;
}

/// Process groups the driver started itself, killed on the way out.
std::vector<pid_t> g_live_groups;

void kill_live_groups() {
  for (pid_t g : g_live_groups) ::kill(-g, SIGKILL);
}

void on_fatal_signal(int sig) {
  kill_live_groups();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

/// Forks and execs argv in a new process group, stdin from `stdin_path`, stdout and stderr
/// appended to `log_path` (both may be empty: /dev/null). Returns the pid, or -1.
pid_t spawn_group(const std::vector<std::string>& argv, const std::string& stdin_path,
                  const std::string& log_path, const std::string& cwd = {}) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const char* in = stdin_path.empty() ? "/dev/null" : stdin_path.c_str();
  const char* log = log_path.empty() ? "/dev/null" : log_path.c_str();
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    const int i = ::open(in, O_RDONLY);
    const int o = ::open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (i >= 0) ::dup2(i, 0);
    if (o >= 0) {
      ::dup2(o, 1);
      ::dup2(o, 2);
    }
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  g_live_groups.push_back(pid);
  return pid;
}

/// Stops a group started by spawn_group: SIGTERM, up to 2 s, then SIGKILL; reaps the leader.
void stop_group(pid_t pid) {
  if (pid <= 0) return;
  ::kill(-pid, SIGTERM);
  const std::int64_t until = mono_ns() + 2000 * ms_ns;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (mono_ns() > until) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    sleep_ns(2 * ms_ns);
  }
  ::kill(-pid, SIGKILL);  // whatever is left of the group
  std::erase(g_live_groups, pid);
}

// ---------------------------------------------------------------------------------------
// The children's timestamps

/// What a child reports when it starts: its pid and its first CLOCK_MONOTONIC reading.
struct stamp {
  pid_t pid = 0;
  std::int64_t ns = 0;
};

/// The FIFO every child writes its stamp to. The driver holds it open read-write, so a
/// child's open never blocks and the driver never sees EOF.
class stamp_fifo {
 public:
  stamp_fifo() = default;
  stamp_fifo(const stamp_fifo&) = delete;
  stamp_fifo& operator=(const stamp_fifo&) = delete;
  ~stamp_fifo() {
    if (fd_ >= 0) ::close(fd_);
    if (!path_.empty()) ::unlink(path_.c_str());
  }

  /// Creates the FIFO at `path`; false (with `error`) on failure.
  bool open(const std::string& path, std::string& error) {
    ::unlink(path.c_str());
    if (::mkfifo(path.c_str(), 0600) != 0) {
      error = "mkfifo " + path + ": " + std::strerror(errno);
      return false;
    }
    path_ = path;
    fd_ = ::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd_ < 0) error = "open " + path + ": " + std::strerror(errno);
    return fd_ >= 0;
  }

  /// Waits until a stamp arrives and, when `pidfd` >= 0, that process has exited too
  /// (`dead_ns` gets the wake-up time that saw it). Returns the stamp, or nothing at
  /// `deadline_ns`.
  std::optional<stamp> wait(std::int64_t deadline_ns, int pidfd = -1,
                            std::int64_t* dead_ns = nullptr) {
    bool dead = pidfd < 0;
    for (;;) {
      if (dead && !queue_.empty()) {
        const stamp s = queue_.front();
        queue_.pop_front();
        return s;
      }
      const std::int64_t now = mono_ns();
      if (now >= deadline_ns) return std::nullopt;
      pollfd p[2] = {{fd_, POLLIN, 0}, {dead ? -1 : pidfd, POLLIN, 0}};
      const std::int64_t left = deadline_ns - now;
      const timespec ts{static_cast<time_t>(left / 1'000'000'000),
                        static_cast<long>(left % 1'000'000'000)};
      const int r = ::ppoll(p, 2, &ts, nullptr);
      const std::int64_t woke = mono_ns();
      if (r < 0 && errno != EINTR) return std::nullopt;
      if (!dead && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        dead = true;
        if (dead_ns) *dead_ns = woke;
      }
      if ((p[0].revents & POLLIN) != 0) read_available();
    }
  }

  /// Every stamp that arrives until `deadline_ns`.
  std::vector<stamp> collect_until(std::int64_t deadline_ns) {
    std::vector<stamp> out;
    while (auto s = wait(deadline_ns)) out.push_back(*s);
    return out;
  }

  /// Forgets whatever is buffered.
  void clear() {
    read_available();
    queue_.clear();
  }

 private:
  void read_available() {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) break;
      text_.append(buf, static_cast<std::size_t>(n));
    }
    std::size_t begin = 0;
    for (std::size_t nl; (nl = text_.find('\n', begin)) != std::string::npos; begin = nl + 1) {
      long pid = 0;
      long long ns = 0;
      if (std::sscanf(text_.c_str() + begin, "%ld %lld", &pid, &ns) == 2)
        queue_.push_back({static_cast<pid_t>(pid), static_cast<std::int64_t>(ns)});
    }
    text_.erase(0, begin);
  }

  int fd_ = -1;
  std::string path_;
  std::string text_;
  std::deque<stamp> queue_;
};

/// Rewrites the first 8 bytes of `path` in place (no truncation, one IN_MODIFY), so that the
/// content and the modification time change. Returns CLOCK_MONOTONIC just before write().
std::int64_t touch_file(const std::string& path, std::uint64_t counter) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  const std::string text = fmt("%08llu", static_cast<unsigned long long>(counter % 100000000));
  const std::int64_t t0 = mono_ns();
  if (fd >= 0) {
    [[maybe_unused]] const ssize_t n = ::pwrite(fd, text.data(), 8, 0);
    ::close(fd);
  }
  return t0;
}

/// Creates `dir` with a `main.cpp` of 9 bytes; returns the file's path.
std::string make_watched_file(const std::string& dir) {
  fs::create_directories(dir);
  const std::string file = dir + "/main.cpp";
  std::ofstream(file) << "00000000\n";
  return file;
}

// ---------------------------------------------------------------------------------------
// Scenarios

/// One restart as the driver saw it (microseconds; NAN where it does not apply).
struct sample {
  double total_us = NAN;        ///< trigger -> new child's first timestamp
  double to_dead_us = NAN;      ///< trigger -> old child gone (pidfd readable)
  double dead_to_new_us = NAN;  ///< old child gone -> new child's first timestamp
  double a_us = NAN;            ///< scenario-specific (see the scenario's columns)
  double b_us = NAN;            ///< scenario-specific
};

/// The raw times of one restart.
struct restart_times {
  std::int64_t t0 = 0;       ///< just before the trigger
  std::int64_t dead_ns = 0;  ///< the runner's wake-up that saw the old child gone (0: not seen)
  pid_t old_pid = 0;         ///< the child that was running
  stamp new_child{};         ///< the new child's stamp
};

/// What the driver does to a supervisor: start it, trigger a restart, stop it.
class scenario {
 public:
  virtual ~scenario() = default;
  /// Short name for the table.
  [[nodiscard]] virtual std::string name() const = 0;
  /// What it measures, for the table's legend.
  [[nodiscard]] virtual std::string doc() const = 0;
  /// Names of the scenario-specific columns `a` and `b` ("" when unused).
  [[nodiscard]] virtual std::pair<std::string, std::string> extra_columns() const {
    return {"", ""};
  }
  /// Starts the supervisor; its first child then reports a stamp. False with `error`.
  virtual bool start(std::string& error) = 0;
  /// How long to wait after the first stamp before the first trigger (watchers' readiness).
  [[nodiscard]] virtual std::int64_t ready_delay_ns() const { return 0; }
  /// Causes one restart of the child `current`; returns the trigger time.
  virtual std::int64_t trigger(pid_t current) = 0;
  /// Fills the scenario-specific fields of `s` for one restart.
  virtual void annotate(sample& s, const restart_times& t) {
    static_cast<void>(s);
    static_cast<void>(t);
  }
  /// Stops the supervisor and its child.
  virtual void stop() = 0;
};

/// The floor: the driver restarts the child itself (kill the group, wait on a pidfd,
/// waitpid, fork+exec), with no supervisor in between.
class raw_scenario final : public scenario {
 public:
  raw_scenario(std::string child, std::string fifo)
      : child_(std::move(child)), fifo_(std::move(fifo)) {}
  std::string name() const override { return "floor: kill+wait+fork/exec by hand"; }
  std::string doc() const override {
    return "the driver itself sends SIGTERM to the child's group, waits on its pidfd, "
           "waitpid()s it and fork()+execs the next one: no supervisor, the least a restart "
           "costs. `trigger -> old gone` here is the old child's own shutdown time";
  }
  bool start(std::string& error) override {
    pid_ = spawn_group({child_, fifo_}, "", "");
    if (pid_ < 0) error = std::string("fork: ") + std::strerror(errno);
    return pid_ > 0;
  }
  std::int64_t trigger(pid_t) override {
    const int pidfd = open_pidfd(pid_);
    const std::int64_t t0 = mono_ns();
    ::kill(-pid_, SIGTERM);
    pidfd_exited(pidfd, 5000);
    dead_ns_ = mono_ns();
    int status = 0;
    ::waitpid(pid_, &status, 0);
    std::erase(g_live_groups, pid_);
    ::close(pidfd);
    pid_ = spawn_group({child_, fifo_}, "", "");
    return t0;
  }
  void annotate(sample& s, const restart_times& t) override {
    // trigger() waited for the death itself, before the runner could look.
    s.to_dead_us = static_cast<double>(dead_ns_ - t.t0) / 1e3;
    s.dead_to_new_us = static_cast<double>(t.new_child.ns - dead_ns_) / 1e3;
  }
  void stop() override {
    stop_group(pid_);
    pid_ = 0;
  }

 private:
  std::string child_, fifo_;
  pid_t pid_ = 0;
  std::int64_t dead_ns_ = 0;
};

/// When the strategy emitted process_started / process_exited, per pid.
struct event_times {
  std::mutex mutex;
  std::map<int, std::int64_t> exited;
  std::map<int, std::int64_t> started;
  std::vector<std::string> errors;

  /// The emit callback for a strategy_context.
  std::function<void(hmr::event)> recorder() {
    return [this](hmr::event e) {
      const std::int64_t now = mono_ns();
      const std::lock_guard lock(mutex);
      if (const auto* x = std::get_if<hmr::events::process_exited>(&e)) exited[x->pid] = now;
      if (const auto* s = std::get_if<hmr::events::process_started>(&e)) started[s->pid] = now;
      if (const auto* r = std::get_if<hmr::events::error>(&e)) errors.push_back(r->message);
    };
  }
  /// The time the exit of `pid` was emitted, or 0.
  std::int64_t exited_at(int pid) {
    const std::lock_guard lock(mutex);
    const auto it = exited.find(pid);
    return it == exited.end() ? 0 : it->second;
  }
  /// The time the start of `pid` was emitted, or 0.
  std::int64_t started_at(int pid) {
    const std::lock_guard lock(mutex);
    const auto it = started.find(pid);
    return it == started.end() ? 0 : it->second;
  }
};

/// hmr::restart_strategy driven by submit(): the batch-released -> child-exec'd path.
class hmr_batch_scenario final : public scenario {
 public:
  hmr_batch_scenario(std::string child, std::string fifo, bool capture)
      : child_(std::move(child)), fifo_(std::move(fifo)), capture_(capture) {}
  std::string name() const override {
    return capture_ ? "hmr: batch -> exec, capture_output" : "hmr: batch -> exec";
  }
  std::string doc() const override {
    return std::string("hmr::restart_strategy{{.run = {child, fifo}") +
           (capture_ ? ", .capture_output = true" : "") +
           "}} with no build; trigger = submit({.batch = {src/main.cpp modified}}), t0 "
           "taken just before submit()";
  }
  std::pair<std::string, std::string> extra_columns() const override {
    return {"old gone -> process_exit emitted", "process_exit emitted -> new child"};
  }
  bool start(std::string& error) override {
    times_ = std::make_unique<event_times>();
    strategy_ = std::make_unique<hmr::restart_strategy>(
        hmr::restart_options{.run = {child_, fifo_}, .capture_output = capture_});
    try {
      strategy_->start({.emit = times_->recorder()});
    } catch (const std::exception& e) {
      error = e.what();
      return false;
    }
    strategy_->submit({.reason = hmr::cycle_reason::initial});
    return true;
  }
  std::int64_t trigger(pid_t) override {
    hmr::change_batch batch{{hmr::file_change{.path = "src/main.cpp"}}};
    const std::int64_t t0 = mono_ns();
    strategy_->submit({.reason = hmr::cycle_reason::change, .batch = std::move(batch)});
    return t0;
  }
  void annotate(sample& s, const restart_times& t) override {
    const std::int64_t exited = times_->exited_at(t.old_pid);
    if (exited == 0) return;
    if (t.dead_ns > 0) s.a_us = static_cast<double>(exited - t.dead_ns) / 1e3;
    s.b_us = static_cast<double>(t.new_child.ns - exited) / 1e3;
  }
  void stop() override {
    if (strategy_) strategy_->stop();
    strategy_.reset();
  }
  /// Errors the strategy reported.
  std::vector<std::string> errors() const { return times_ ? times_->errors : std::vector<std::string>{}; }

 private:
  std::string child_, fifo_;
  bool capture_;
  std::unique_ptr<event_times> times_;
  std::unique_ptr<hmr::restart_strategy> strategy_;
};

/// hmr's own save path: native_watcher -> debouncer -> restart_strategy, wired by a minimal
/// loop (what an orchestrator does): the watcher's handler feeds the debouncer, a thread
/// sleeps until its deadline and submits the released batch.
class hmr_save_scenario final : public scenario {
 public:
  hmr_save_scenario(std::string child, std::string fifo, std::string dir,
                    std::chrono::microseconds window)
      : child_(std::move(child)), fifo_(std::move(fifo)), dir_(std::move(dir)), window_(window) {}
  ~hmr_save_scenario() override { stop(); }
  std::string name() const override {
    return window_ >= 1ms ? fmt("hmr: save -> exec, debounce %lld ms",
                                static_cast<long long>(window_.count() / 1000))
                          : fmt("hmr: save -> exec, debounce %lld us",
                                static_cast<long long>(window_.count()));
  }
  std::string doc() const override {
    return "hmr::native_watcher (inotify) on the file's directory -> hmr::debouncer{" +
           fmt("%lld us", static_cast<long long>(window_.count())) +
           "} -> restart_strategy.submit(); trigger = pwrite() of the watched file";
  }
  std::pair<std::string, std::string> extra_columns() const override {
    return {"save -> batch released", "batch released -> new child"};
  }
  bool start(std::string& error) override {
    file_ = make_watched_file(dir_);
    times_ = std::make_unique<event_times>();
    strategy_ = std::make_unique<hmr::restart_strategy>(hmr::restart_options{.run = {child_, fifo_}});
    debouncer_ = std::make_unique<hmr::debouncer>(hmr::debouncer_options{
        .window = window_, .cap = std::max<hmr::debouncer::clock::duration>(window_, 1s)});
    stopping_ = false;
    try {
      strategy_->start({.emit = times_->recorder()});
      watcher_ = std::make_unique<hmr::native_watcher>(dir_);
      watcher_->start({.changes = [this](std::vector<hmr::file_change>&& changes) {
        const auto now = std::chrono::steady_clock::now();
        {
          const std::lock_guard lock(mutex_);
          debouncer_->push(changes, now);
        }
        wake_.notify_one();
      }});
    } catch (const std::exception& e) {
      error = e.what();
      return false;
    }
    if (!watcher_->wait_ready(5000ms)) {
      error = "the watcher was not ready within 5 s";
      return false;
    }
    loop_ = std::thread([this] { run_loop(); });
    strategy_->submit({.reason = hmr::cycle_reason::initial});
    return true;
  }
  std::int64_t trigger(pid_t) override { return touch_file(file_, ++counter_); }
  void annotate(sample& s, const restart_times& t) override {
    const std::int64_t released = last_release_.load();
    if (released < t.t0) return;
    s.a_us = static_cast<double>(released - t.t0) / 1e3;
    s.b_us = static_cast<double>(t.new_child.ns - released) / 1e3;
  }
  void stop() override {
    if (watcher_) watcher_->stop();
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (loop_.joinable()) loop_.join();
    if (strategy_) strategy_->stop();
    watcher_.reset();
    strategy_.reset();
  }

 private:
  void run_loop() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      const auto due = debouncer_->deadline();
      if (!due) {
        wake_.wait(lock);
        continue;
      }
      if (std::chrono::steady_clock::now() < *due) {
        wake_.wait_until(lock, *due);
        continue;
      }
      auto batch = debouncer_->poll(std::chrono::steady_clock::now());
      if (!batch) continue;
      lock.unlock();
      last_release_ = mono_ns();
      strategy_->submit({.reason = hmr::cycle_reason::change, .batch = std::move(*batch)});
      lock.lock();
    }
  }

  std::string child_, fifo_, dir_, file_;
  std::chrono::microseconds window_;
  std::uint64_t counter_ = 0;
  std::unique_ptr<event_times> times_;
  std::unique_ptr<hmr::restart_strategy> strategy_;
  std::unique_ptr<hmr::native_watcher> watcher_;
  std::unique_ptr<hmr::debouncer> debouncer_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread loop_;
  std::atomic<std::int64_t> last_release_{0};
};

/// A peer supervisor (entr -r, nodemon) run as a process: trigger = write the watched file.
class peer_scenario final : public scenario {
 public:
  /// `argv_for(file)` is the peer's command line for the watched file; `list_stdin` feeds
  /// the file's path on stdin (entr).
  peer_scenario(std::string name, std::string doc, std::string dir,
                std::function<std::vector<std::string>(const std::string&)> argv_for,
                bool list_stdin, std::int64_t ready_delay_ns, std::string log)
      : name_(std::move(name)),
        doc_(std::move(doc)),
        dir_(std::move(dir)),
        argv_for_(std::move(argv_for)),
        list_stdin_(list_stdin),
        ready_delay_(ready_delay_ns),
        log_(std::move(log)) {}
  ~peer_scenario() override { stop(); }
  std::string name() const override { return name_; }
  std::string doc() const override { return doc_; }
  std::int64_t ready_delay_ns() const override { return ready_delay_; }
  bool start(std::string& error) override {
    file_ = make_watched_file(dir_);
    std::string in;
    if (list_stdin_) {
      in = dir_ + "/files.txt";
      std::ofstream(in) << file_ << "\n";
    }
    pid_ = spawn_group(argv_for_(file_), in, log_, dir_);
    if (pid_ < 0) error = std::string("fork: ") + std::strerror(errno);
    return pid_ > 0;
  }
  std::int64_t trigger(pid_t current) override {
    current_ = current;
    return touch_file(file_, ++counter_);
  }
  void stop() override {
    if (pid_ <= 0) return;
    const int child = current_ > 0 ? open_pidfd(current_) : -1;
    stop_group(pid_);
    pid_ = 0;
    // The peer stops its child; if it did not (another process group), the driver does.
    if (child >= 0) {
      if (!pidfd_exited(child, 1000)) pidfd_signal(child, SIGKILL);
      ::close(child);
    }
  }
  /// The child that runs now, as the runner last saw it (for stop()).
  void set_current(pid_t pid) { current_ = pid; }

 private:
  std::string name_, doc_, dir_, file_;
  std::function<std::vector<std::string>(const std::string&)> argv_for_;
  bool list_stdin_;
  std::int64_t ready_delay_;
  std::string log_;
  pid_t pid_ = 0;
  pid_t current_ = 0;
  std::uint64_t counter_ = 0;
};

// ---------------------------------------------------------------------------------------
// The runner

/// Everything measured for one scenario over all rounds.
struct results {
  std::vector<sample> samples;
  int missed = 0;          ///< triggers with no new child within the timeout
  int warmup_missed = 0;   ///< the same during warm-up (not counted)
  int extra = 0;           ///< additional restarts after a counted trigger (one save, two restarts)
  int rounds_failed = 0;   ///< rounds where the supervisor did not start
  std::vector<std::string> notes;
};

struct options {
  std::string child = HMR_RESTART_BENCH_CHILD;
  std::string nodemon_js;
  std::string work = "/tmp/rbench-work";
  std::string out;
  int iterations = 200;
  int rounds = 4;
  int warmup = 3;
  int settle_ms = 100;
  int timeout_ms = 3000;
  int ballast_mb = 0;
  std::vector<std::string> only;
  bool peers = true;
};

/// Runs `count` counted restarts (after `warmup` uncounted ones) of one scenario.
void run_round(scenario& sc, stamp_fifo& fifo, const options& o, int count, results& r) {
  fifo.clear();
  std::string error;
  if (!sc.start(error)) {
    ++r.rounds_failed;
    r.notes.push_back("did not start: " + error);
    sc.stop();
    return;
  }
  auto first = fifo.wait(mono_ns() + 10'000 * ms_ns);
  if (!first) {
    ++r.rounds_failed;
    r.notes.push_back("no child within 10 s of the start");
    sc.stop();
    return;
  }
  stamp current = *first;
  if (auto* peer = dynamic_cast<peer_scenario*>(&sc)) peer->set_current(current.pid);
  if (sc.ready_delay_ns() > 0) {
    for (const stamp& s : fifo.collect_until(mono_ns() + sc.ready_delay_ns())) current = s;
  }
  for (int i = 0; i < o.warmup + count; ++i) {
    const bool counted = i >= o.warmup;
    const int pidfd = open_pidfd(current.pid);
    const std::int64_t t0 = sc.trigger(current.pid);
    std::int64_t dead = 0;
    const auto fresh = fifo.wait(t0 + o.timeout_ms * ms_ns, pidfd, &dead);
    if (pidfd >= 0) ::close(pidfd);
    if (!fresh) {
      ++(counted ? r.missed : r.warmup_missed);
      // Whatever runs now (if anything restarted late) becomes the current child.
      for (const stamp& s : fifo.collect_until(mono_ns() + 500 * ms_ns)) current = s;
      continue;
    }
    if (counted) {
      sample s;
      s.total_us = static_cast<double>(fresh->ns - t0) / 1e3;
      if (dead > 0) {
        s.to_dead_us = static_cast<double>(dead - t0) / 1e3;
        s.dead_to_new_us = static_cast<double>(fresh->ns - dead) / 1e3;
      }
      sc.annotate(s, {t0, dead, current.pid, *fresh});
      r.samples.push_back(s);
    }
    current = *fresh;
    if (auto* peer = dynamic_cast<peer_scenario*>(&sc)) peer->set_current(current.pid);
    const auto more = fifo.collect_until(mono_ns() + o.settle_ms * ms_ns);
    if (counted) r.extra += static_cast<int>(more.size());
    if (!more.empty()) current = more.back();
    if (auto* peer = dynamic_cast<peer_scenario*>(&sc)) peer->set_current(current.pid);
  }
  sc.stop();
}

/// hmr's process layer alone: how long child_process::spawn() takes to return (fork, exec
/// handshake, threads), and how long stop() takes for a child that has already exited and
/// been reaped (what remains is the sweep for leftovers and the thread joins).
struct process_layer {
  std::vector<double> spawn_us;
  std::vector<double> stop_exited_us;
};

process_layer measure_process_layer(const options& o, stamp_fifo& fifo, int count) {
  process_layer out;
  for (int i = 0; i < count; ++i) {
    const std::int64_t t0 = mono_ns();
    auto child = hmr::child_process::spawn({.command = {o.child, o.work + "/stamps.fifo"}});
    const std::int64_t t1 = mono_ns();
    if (!child) continue;
    out.spawn_us.push_back(static_cast<double>(t1 - t0) / 1e3);
    fifo.wait(mono_ns() + 2000 * ms_ns);
    ::kill(child->pid(), SIGTERM);
    if (!child->wait_for(std::chrono::seconds(2))) continue;
    const std::int64_t t2 = mono_ns();
    child->stop();
    out.stop_exited_us.push_back(static_cast<double>(mono_ns() - t2) / 1e3);
    sleep_ns(5 * ms_ns);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// The report

std::string num(double v, int decimals = 0) {
  if (std::isnan(v)) return "–";
  return fmt("%.*f", decimals, v);
}

/// Microseconds as "123 µs" or "1.23 ms".
std::string dur(double us) {
  if (std::isnan(us)) return "–";
  if (us >= 10'000) return fmt("%.1f ms", us / 1e3);
  if (us >= 1'000) return fmt("%.2f ms", us / 1e3);
  return fmt("%.0f µs", us);
}

std::vector<double> column(const std::vector<sample>& v, double sample::*field) {
  std::vector<double> out;
  for (const auto& s : v)
    if (!std::isnan(s.*field)) out.push_back(s.*field);
  return out;
}

double median_of(const std::vector<sample>& v, double sample::*field) {
  return quantile(column(v, field), 0.5);
}

std::string report(const options& o, const std::vector<std::unique_ptr<scenario>>& scenarios,
                   const std::vector<results>& res, const process_layer& layer,
                   const std::vector<std::string>& env) {
  std::ostringstream md;
  md << "# Restart latency: hmr::restart_strategy vs entr -r vs nodemon\n\n";
  for (const auto& e : env) md << "- " << e << "\n";
  md << fmt("- %d counted restarts per scenario in %d rounds (%d warm-up restarts per round not "
            "counted), %d ms settle time after each restart; every scenario restarts the same "
            "child binary\n",
            o.iterations, o.rounds, o.warmup, o.settle_ms);

  md << "\n## trigger -> new child running\n\n";
  md << "t0 = just before the trigger (submit() or write()); t1 = the new child's own first "
        "CLOCK_MONOTONIC reading.\n\n";
  md << "| scenario | p50 | p90 | p99 | min | max | IQR (p25–p75) | CV | n | missed | extra "
        "restarts |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (std::size_t k = 0; k < scenarios.size(); ++k) {
    const auto t = column(res[k].samples, &sample::total_us);
    md << "| " << scenarios[k]->name() << " | " << dur(quantile(t, 0.5)) << " | "
       << dur(quantile(t, 0.9)) << " | " << dur(quantile(t, 0.99)) << " | "
       << dur(quantile(t, 0.0)) << " | " << dur(quantile(t, 1.0)) << " | "
       << dur(quantile(t, 0.75) - quantile(t, 0.25)) << " (" << dur(quantile(t, 0.25)) << "–"
       << dur(quantile(t, 0.75)) << ") | " << num(cv_percent(t), 0) << " % | " << t.size()
       << " | " << res[k].missed << " | " << res[k].extra << " |\n";
  }

  md << "\n## Where the time goes (medians)\n\n";
  md << "| scenario | trigger -> old child gone | old gone -> new child | column a | column b "
        "|\n|---|---|---|---|---|\n";
  for (std::size_t k = 0; k < scenarios.size(); ++k) {
    const auto& s = res[k].samples;
    const auto [a, b] = scenarios[k]->extra_columns();
    md << "| " << scenarios[k]->name() << " | " << dur(median_of(s, &sample::to_dead_us)) << " | "
       << dur(median_of(s, &sample::dead_to_new_us)) << " | "
       << (a.empty() ? "" : a + ": " + dur(median_of(s, &sample::a_us))) << " | "
       << (b.empty() ? "" : b + ": " + dur(median_of(s, &sample::b_us))) << " |\n";
  }

  const auto find = [&](std::string_view prefix) -> const results* {
    for (std::size_t k = 0; k < scenarios.size(); ++k)
      if (scenarios[k]->name().rfind(prefix, 0) == 0 && !res[k].samples.empty()) return &res[k];
    return nullptr;
  };
  const auto p50 = [](const results* r) {
    return r ? median_of(r->samples, &sample::total_us) : NAN;
  };
  const results* raw = find("floor");
  const results* batch = find("hmr: batch -> exec");
  const double shutdown = raw ? median_of(raw->samples, &sample::to_dead_us) : NAN;
  md << "\n## Goal (issue): batch released -> new child exec'd under 2 ms plus the old child's "
        "own shutdown\n\n";
  if (batch) {
    const double overhead = p50(batch) - shutdown;
    md << "- old child's own shutdown (floor: SIGTERM -> pidfd readable, median): "
       << dur(shutdown) << "\n";
    md << "- hmr batch -> exec, median: " << dur(p50(batch)) << "; p90 "
       << dur(quantile(column(batch->samples, &sample::total_us), 0.9)) << "\n";
    md << "- restart overhead = median(t1 - t0) - shutdown = " << dur(overhead) << " -> "
       << (std::isnan(overhead) ? "not measured" : overhead < 2000 ? "**met**" : "**not met**")
       << " (goal < 2 ms)\n";
    if (raw)
      md << "- above the floor (the same restart done by hand): " << dur(p50(batch) - p50(raw))
         << " (floor median " << dur(p50(raw)) << ")\n";
  } else {
    md << "- hmr batch scenario not run\n";
  }

  if (!layer.spawn_us.empty()) {
    md << "\n## hmr's process layer alone (hmr::child_process, same child)\n\n";
    md << "| step | p50 | p90 | min | n |\n|---|---|---|---|---|\n";
    const auto row = [&](const char* what, const std::vector<double>& v) {
      md << "| " << what << " | " << dur(quantile(v, 0.5)) << " | " << dur(quantile(v, 0.9))
         << " | " << dur(quantile(v, 0.0)) << " | " << v.size() << " |\n";
    };
    row("spawn(): call -> returns (fork, exec handshake, waiter thread)", layer.spawn_us);
    row("stop() of a child that already exited and was reaped (leftover sweep, joins)",
        layer.stop_exited_us);
  }

  md << "\n## Ratios of medians (below 1: hmr is faster)\n\n";
  md << "| hmr scenario | / entr -r | / nodemon |\n|---|---|---|\n";
  const results* entr = find("entr");
  const results* nodemon = find("nodemon");
  for (std::size_t k = 0; k < scenarios.size(); ++k) {
    if (scenarios[k]->name().rfind("hmr", 0) != 0 || res[k].samples.empty()) continue;
    const double h = p50(&res[k]);
    md << "| " << scenarios[k]->name() << " | " << (entr ? num(h / p50(entr), 3) : "–") << " | "
       << (nodemon ? num(h / p50(nodemon), 3) : "–") << " |\n";
  }
  md << "\nOnly the `save -> exec` rows compare like with like (all three then include their "
        "own file watching); `batch -> exec` starts after hmr's watcher and debouncer, so its "
        "ratios are an upper bound on what the restart itself costs relative to the peers.\n";

  md << "\n## Scenarios\n\n";
  for (std::size_t k = 0; k < scenarios.size(); ++k) {
    md << "- **" << scenarios[k]->name() << "**: " << scenarios[k]->doc() << "\n";
    for (const auto& n : res[k].notes) md << "  - note: " << n << "\n";
    if (res[k].warmup_missed)
      md << "  - note: " << res[k].warmup_missed << " warm-up trigger(s) restarted nothing\n";
    if (res[k].rounds_failed) md << "  - note: " << res[k].rounds_failed << " round(s) failed\n";
  }
  return md.str();
}

void usage() {
  std::puts(
      "usage: restart_bench --child=PATH [options]\n"
      "  --child=PATH       the child program (tests/bench/restart/child.cpp, built)\n"
      "  --nodemon=PATH     nodemon's bin/nodemon.js (omit to skip nodemon)\n"
      "  --no-peers         hmr and the floor only\n"
      "  --only=a,b         scenarios by key: floor,hmr,hmr-capture,hmr-save,hmr-save-50,entr,\n"
      "                     nodemon, layer (hmr::child_process alone)\n"
      "  --work=DIR         scratch directory (default /tmp/rbench-work)\n"
      "  --out=FILE         also write the markdown table here\n"
      "  --iterations=N     counted restarts per scenario (200)\n"
      "  --rounds=N         rounds, scenarios in turn (4)\n"
      "  --warmup=N         uncounted restarts per round (3)\n"
      "  --settle-ms=MS     quiet time after each restart, catching double restarts (100)\n"
      "  --timeout-ms=MS    how long a trigger may take before it counts as missed (3000)\n"
      "  --ballast-mb=N     touch N MiB in the driver first, as a big supervisor would (0)");
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto val = [&](std::string_view key) -> std::optional<std::string> {
      if (a.rfind(key, 0) == 0 && a.size() > key.size() && a[key.size()] == '=')
        return std::string(a.substr(key.size() + 1));
      return std::nullopt;
    };
    if (auto v = val("--child"))
      o.child = *v;
    else if (auto v1 = val("--nodemon"))
      o.nodemon_js = *v1;
    else if (auto v2 = val("--work"))
      o.work = *v2;
    else if (auto v3 = val("--out"))
      o.out = *v3;
    else if (auto v4 = val("--iterations"))
      o.iterations = std::max(1, std::stoi(*v4));
    else if (auto v5 = val("--rounds"))
      o.rounds = std::max(1, std::stoi(*v5));
    else if (auto v6 = val("--warmup"))
      o.warmup = std::max(0, std::stoi(*v6));
    else if (auto v7 = val("--settle-ms"))
      o.settle_ms = std::max(0, std::stoi(*v7));
    else if (auto v8 = val("--timeout-ms"))
      o.timeout_ms = std::max(1, std::stoi(*v8));
    else if (auto v10 = val("--ballast-mb"))
      o.ballast_mb = std::max(0, std::stoi(*v10));
    else if (auto v9 = val("--only")) {
      std::stringstream ss(*v9);
      for (std::string t; std::getline(ss, t, ',');) o.only.push_back(t);
    } else if (a == "--no-peers") {
      o.peers = false;
    } else if (a == "-h" || a == "--help") {
      usage();
      return 0;
    } else {
      std::fprintf(stderr, "restart_bench: unknown argument %s\n", argv[i]);
      usage();
      return 2;
    }
  }
  if (o.child.empty() || ::access(o.child.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "restart_bench: no child program (--child=PATH): %s\n", o.child.c_str());
    return 2;
  }
  o.child = fs::absolute(o.child).string();
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, on_fatal_signal);
  std::atexit(kill_live_groups);

  std::error_code ec;
  fs::create_directories(o.work, ec);
  const std::string fifo_path = o.work + "/stamps.fifo";
  stamp_fifo fifo;
  std::string error;
  if (!fifo.open(fifo_path, error)) {
    std::fprintf(stderr, "restart_bench: %s\n", error.c_str());
    return 1;
  }

  // The scenarios, by key.
  const auto wanted = [&](const std::string& key) {
    return o.only.empty() || std::find(o.only.begin(), o.only.end(), key) != o.only.end();
  };
  std::vector<std::unique_ptr<scenario>> scenarios;
  if (wanted("floor")) scenarios.push_back(std::make_unique<raw_scenario>(o.child, fifo_path));
  if (wanted("hmr"))
    scenarios.push_back(std::make_unique<hmr_batch_scenario>(o.child, fifo_path, false));
  if (wanted("hmr-capture"))
    scenarios.push_back(std::make_unique<hmr_batch_scenario>(o.child, fifo_path, true));
  if (wanted("hmr-save"))
    scenarios.push_back(
        std::make_unique<hmr_save_scenario>(o.child, fifo_path, o.work + "/hmr-save", 1ms));
  if (wanted("hmr-save-50"))
    scenarios.push_back(
        std::make_unique<hmr_save_scenario>(o.child, fifo_path, o.work + "/hmr-save-50", 50ms));
  std::vector<std::string> env;
  if (o.peers && wanted("entr")) {
    if (have_program("entr")) {
      const std::string child = o.child, fifo_p = fifo_path;
      scenarios.push_back(std::make_unique<peer_scenario>(
          "entr -r",
          "`entr -n -r CHILD FIFO` with the watched file's path on stdin (entr watches "
          "the file itself with inotify); trigger = pwrite() of the file",
          o.work + "/entr",
          [child, fifo_p](const std::string&) {
            return std::vector<std::string>{"entr", "-n", "-r", child, fifo_p};
          },
          true, 200 * ms_ns, o.work + "/entr.log"));
      env.push_back("entr: " + first_output_line("entr"));
    } else {
      std::printf("restart_bench: entr not found, skipping it\n");
    }
  }
  if (o.peers && wanted("nodemon")) {
    if (!o.nodemon_js.empty() && have_program("node")) {
      const std::string child = o.child, fifo_p = fifo_path, js = o.nodemon_js;
      scenarios.push_back(std::make_unique<peer_scenario>(
          "nodemon --delay 0",
          "`node nodemon.js --delay 0 --signal SIGTERM -I -q -e cpp -w FILE -x 'CHILD FIFO'` "
          "(nodemon runs the command through `sh -c`, which execs it); trigger = pwrite() of "
          "the file",
          o.work + "/nodemon",
          [child, fifo_p, js](const std::string& file) {
            return std::vector<std::string>{"node", js, "--delay", "0", "--signal", "SIGTERM",
                                            "-I", "-q", "-e", "cpp", "-w", file, "-x",
                                            child + " " + fifo_p};
          },
          false, 1000 * ms_ns, o.work + "/nodemon.log"));
      env.push_back("nodemon " + first_output_line("node " + js + " --version") + ", node " +
                    first_output_line("node --version"));
    } else {
      std::printf("restart_bench: nodemon not given (--nodemon=PATH) or node missing, skipping it\n");
    }
  }

  {
    utsname u{};
    ::uname(&u);
    std::string cpu;
    std::ifstream ci("/proc/cpuinfo");
    for (std::string l; std::getline(ci, l);)
      if (l.rfind("model name", 0) == 0) {
        cpu = l.substr(l.find(':') + 2);
        break;
      }
    env.insert(env.begin(), fmt("kernel %s %s, %ld CPUs (%s)", u.sysname, u.release,
                                ::sysconf(_SC_NPROCESSORS_ONLN), cpu.c_str()));
    env.push_back("child: " + o.child);
    env.push_back("processes on the machine (each hmr stop() scans /proc): " +
                  std::to_string(std::distance(fs::directory_iterator("/proc"), fs::directory_iterator{})));
    env.push_back("load average at the start (other work skews every figure): " +
                  read_first_line("/proc/loadavg"));
  }

  // Memory a big supervisor would hold (trees, caches): fork() copies its page tables.
  std::vector<char> ballast(static_cast<std::size_t>(o.ballast_mb) << 20, '\1');
  __asm__ volatile("" : : "r"(ballast.data()) : "memory");  // keep it: it is the point
  if (o.ballast_mb > 0)
    env.push_back(fmt("ballast: the driver holds %d MiB of touched memory (--ballast-mb)",
                      o.ballast_mb));

  std::vector<results> res(scenarios.size());
  for (int round = 0; round < o.rounds; ++round) {
    const int count = o.iterations / o.rounds + (round < o.iterations % o.rounds ? 1 : 0);
    std::printf("== round %d/%d (%d restarts per scenario)\n", round + 1, o.rounds, count);
    std::fflush(stdout);
    for (std::size_t k = 0; k < scenarios.size(); ++k) {
      run_round(*scenarios[k], fifo, o, count, res[k]);
      const auto t = column(res[k].samples, &sample::total_us);
      std::printf("    %-40s p50 so far %s, %d missed\n", scenarios[k]->name().c_str(),
                  dur(quantile(t, 0.5)).c_str(), res[k].missed);
      std::fflush(stdout);
    }
  }
  process_layer layer;
  if (wanted("layer")) {
    std::printf("== hmr's process layer alone\n");
    std::fflush(stdout);
    fifo.clear();
    layer = measure_process_layer(o, fifo, 50);
  }
  for (std::size_t k = 0; k < scenarios.size(); ++k)
    if (auto* h = dynamic_cast<hmr_batch_scenario*>(scenarios[k].get()))
      for (const auto& e : h->errors()) res[k].notes.push_back("strategy error: " + e);
  env.push_back("load average at the end: " + read_first_line("/proc/loadavg"));

  const std::string md = report(o, scenarios, res, layer, env);
  std::printf("\n%s", md.c_str());
  if (!o.out.empty()) std::ofstream(o.out) << md;
  return 0;
}
