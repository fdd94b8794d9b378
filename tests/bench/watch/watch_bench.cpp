// Side-by-side benchmark of hmr_watch against other file watchers (issue 3).
//
// Every watcher runs as a child process in its own process group, one at a time, on the
// same trees; the driver reads the children's stdout and stderr through pipes with
// ppoll() and timestamps each wake-up with CLOCK_MONOTONIC. Measured per watcher:
//   1. write() -> line naming the file on the watcher's stdout (small tree);
//   2. exec -> ready on a big tree, and peak RSS (VmHWM at ready, ru_maxrss at exit);
//   3. CPU time and wake-ups while idle on the big tree (and, for polling backends,
//      CPU per scan);
//   4. a burst of new files: which paths were never reported (and, for hmr, what the
//      hmr::debouncer makes of the raw stream).
// See README.md next to this file for how to run it and how to read the table.
//
// Build: g++ -O2 -std=c++20 -Iinclude tests/bench/watch/watch_bench.cpp -o watch_bench -pthread

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "hmr/debouncer.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// ---------------------------------------------------------------------------------------
// Time and small helpers

/// CLOCK_MONOTONIC in nanoseconds (the clock every timestamp here comes from).
std::int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

constexpr std::int64_t ms_ns = 1'000'000;

/// Sleeps for `ns` nanoseconds (used only when no child is running).
void sleep_ns(std::int64_t ns) {
  if (ns <= 0) return;
  timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

/// printf into a std::string.
template <class... A>
std::string fmt(const char* f, A... a) {
  char buf[512];
  std::snprintf(buf, sizeof buf, f, a...);
  return buf;
}

/// Writes a whole file (creating or truncating it).
bool write_file(const std::string& path, std::string_view text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

/// The first line of a file, or "".
std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

/// The q-quantile (0..1) of `v` by nearest rank on a sorted copy.
double quantile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}

/// The value of `"key":"..."` or `"key":number` in a flat JSON line ("" when absent).
std::string json_field(std::string_view line, std::string_view key) {
  const std::string needle = "\"" + std::string(key) + "\":";
  auto at = line.find(needle);
  if (at == std::string_view::npos) return {};
  at += needle.size();
  while (at < line.size() && line[at] == ' ') ++at;
  std::string out;
  if (at < line.size() && line[at] == '"') {
    for (++at; at < line.size() && line[at] != '"'; ++at) {
      if (line[at] == '\\' && at + 1 < line.size()) ++at;
      out += line[at];
    }
    return out;
  }
  while (at < line.size() && line[at] != ',' && line[at] != '}' && line[at] != ']')
    out += line[at++];
  return out;
}

// ---------------------------------------------------------------------------------------
// Child processes

/// Process ids of the live children's process groups, killed on the way out.
std::vector<pid_t> g_live_groups;

void kill_live_groups() {
  for (pid_t g : g_live_groups) ::kill(-g, SIGKILL);
}

void on_fatal_signal(int sig) {
  kill_live_groups();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

/// A snapshot of a process's CPU use and scheduling counters, summed over its threads.
struct cpu_snapshot {
  std::int64_t ticks = 0;     ///< utime + stime from /proc/PID/stat, in clock ticks
  std::int64_t sched_ns = 0;  ///< sum over threads of /proc/PID/task/*/schedstat run time
  std::int64_t vol_cs = 0;    ///< voluntary context switches (blocking wake-ups)
  std::int64_t invol_cs = 0;  ///< involuntary context switches (preemptions)
  int threads = 0;            ///< number of threads seen
  bool ok = false;            ///< the process could be read
};

/// A `Key:   value kB` field of /proc/PID/status, in kB (or the raw number); -1 if absent.
std::int64_t status_field(pid_t pid, const char* key, const char* dir = nullptr) {
  std::ifstream in(dir ? std::string(dir) + "/status" : "/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const std::string k = std::string(key) + ":";
  while (std::getline(in, line))
    if (line.rfind(k, 0) == 0) return std::strtoll(line.c_str() + k.size(), nullptr, 10);
  return -1;
}

cpu_snapshot read_cpu(pid_t pid) {
  cpu_snapshot s;
  const std::string base = "/proc/" + std::to_string(pid);
  {
    std::ifstream in(base + "/stat");
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close = all.rfind(')');
    if (close == std::string::npos) return s;
    std::istringstream rest(all.substr(close + 2));
    std::vector<std::string> f;
    for (std::string t; rest >> t;) f.push_back(t);
    // After "pid (comm) ", field 3 (state) is f[0]; utime is field 14, stime field 15.
    if (f.size() < 13) return s;
    s.ticks = std::stoll(f[11]) + std::stoll(f[12]);
  }
  std::error_code ec;
  for (const auto& task : fs::directory_iterator(base + "/task", ec)) {
    const std::string dir = task.path().string();
    std::ifstream sched(dir + "/schedstat");
    std::int64_t run = 0;
    if (sched >> run) s.sched_ns += run;
    const auto v = status_field(0, "voluntary_ctxt_switches", dir.c_str());
    const auto n = status_field(0, "nonvoluntary_ctxt_switches", dir.c_str());
    if (v >= 0) s.vol_cs += v;
    if (n >= 0) s.invol_cs += n;
    ++s.threads;
  }
  s.ok = true;
  return s;
}

/// Which stream a line came from.
enum class stream { out, err };

/// A watcher process with its stdout and stderr on non-blocking pipes.
class child {
 public:
  /// Called for each complete line with the time of the ppoll() wake-up that read it.
  using line_fn = std::function<void(stream, std::string_view, std::int64_t)>;

  child() = default;
  child(const child&) = delete;
  child& operator=(const child&) = delete;
  ~child() { stop(); }

  /// Spawns argv in a new process group; returns false (with `error`) when it cannot.
  bool start(const std::vector<std::string>& argv, std::string& error) {
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
      error = std::string("pipe2: ") + std::strerror(errno);
      return false;
    }
    // Big pipes, so a burst never blocks a watcher on the driver.
    ::fcntl(out[0], F_SETPIPE_SZ, 1 << 20);
    ::fcntl(err[0], F_SETPIPE_SZ, 1 << 20);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t parent = ::getpid();
    start_ns_ = mono_ns();
    const pid_t pid = ::fork();
    if (pid < 0) {
      error = std::string("fork: ") + std::strerror(errno);
      return false;
    }
    if (pid == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      const int null = ::open("/dev/null", O_RDONLY);
      ::dup2(null, 0);
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      ::execvp(args[0], args.data());
      const char msg[] = "watch_bench: exec failed\n";
      (void)!::write(2, msg, sizeof msg - 1);
      ::_exit(127);
    }
    ::setpgid(pid, pid);  // also here, so kill(-pid) works at once
    pid_ = pid;
    g_live_groups.push_back(pid);
    ::close(out[1]);
    ::close(err[1]);
    fd_[0] = out[0];
    fd_[1] = err[0];
    for (int fd : fd_) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    return true;
  }

  /// The process id (also its process group id); 0 before start().
  [[nodiscard]] pid_t pid() const { return pid_; }
  /// When start() forked, CLOCK_MONOTONIC ns.
  [[nodiscard]] std::int64_t start_ns() const { return start_ns_; }
  /// True once the process is known to have exited.
  [[nodiscard]] bool exited() const { return exited_; }
  /// How it exited (a wait status), valid when exited().
  [[nodiscard]] int wait_status() const { return status_; }
  /// Its resource usage at exit (ru_maxrss in kB), valid when exited().
  [[nodiscard]] const rusage& usage() const { return usage_; }
  /// The last lines it wrote to stderr.
  [[nodiscard]] const std::deque<std::string>& stderr_tail() const { return err_tail_; }
  /// Lines read from stdout so far.
  [[nodiscard]] std::size_t stdout_lines() const { return out_lines_; }

  /// Reads until `done()` holds (checked after each read) or `deadline_ns` passes.
  /// Returns done(). Lines go to `on_line`. Also returns when both pipes are closed.
  bool pump(
      std::int64_t deadline_ns, const line_fn& on_line,
      const std::function<bool()>& done = [] { return false; }) {
    if (done()) return true;
    for (;;) {
      const std::int64_t now = mono_ns();
      if (now >= deadline_ns) return done();
      pollfd p[2];
      nfds_t n = 0;
      int which[2];
      for (int i = 0; i < 2; ++i)
        if (fd_[i] >= 0) {
          p[n] = {fd_[i], POLLIN, 0};
          which[n++] = i;
        }
      if (n == 0) {
        reap(false);
        sleep_ns(std::min<std::int64_t>(deadline_ns - now, 5 * ms_ns));
        if (exited_) return done();
        continue;
      }
      const std::int64_t left = deadline_ns - now;
      timespec ts{static_cast<time_t>(left / 1'000'000'000),
                  static_cast<long>(left % 1'000'000'000)};
      const int r = ::ppoll(p, n, &ts, nullptr);
      const std::int64_t woke = mono_ns();
      if (r < 0 && errno != EINTR) return done();
      for (nfds_t k = 0; r > 0 && k < n; ++k)
        if (p[k].revents & (POLLIN | POLLHUP | POLLERR)) drain(which[k], woke, on_line);
      if (done()) return true;
    }
  }

  /// Stops the process group: SIGTERM, up to 1.5 s of grace while draining the pipes,
  /// then SIGKILL; collects the exit status and rusage.
  void stop(const line_fn& on_line = [](stream, std::string_view, std::int64_t) {}) {
    if (pid_ == 0) return;
    if (!exited_) {
      ::kill(-pid_, SIGTERM);
      const std::int64_t until = mono_ns() + 1500 * ms_ns;
      while (!reap(false) && mono_ns() < until) pump(mono_ns() + 20 * ms_ns, on_line);
      if (!exited_) {
        ::kill(-pid_, SIGKILL);
        reap(true);
      }
    }
    ::kill(-pid_, SIGKILL);  // grandchildren, if any
    for (int& fd : fd_)
      if (fd >= 0) {
        drain(static_cast<int>(&fd - fd_), mono_ns(), on_line);
        ::close(fd);
        fd = -1;
      }
    std::erase(g_live_groups, pid_);
    pid_ = 0;
  }

  /// Checks for exit without blocking (or blocking when `block`); true once exited.
  bool reap(bool block) {
    if (exited_) return true;
    int st = 0;
    rusage ru{};
    const pid_t r = ::wait4(pid_, &st, block ? 0 : WNOHANG, &ru);
    if (r == pid_) {
      exited_ = true;
      status_ = st;
      usage_ = ru;
    }
    return exited_;
  }

 private:
  void drain(int i, std::int64_t woke, const line_fn& on_line) {
    if (fd_[i] < 0) return;
    char buf[65536];
    for (;;) {
      const ssize_t got = ::read(fd_[i], buf, sizeof buf);
      if (got > 0) {
        std::string& acc = buf_[i];
        acc.append(buf, static_cast<std::size_t>(got));
        std::size_t begin = 0;
        for (std::size_t nl; (nl = acc.find('\n', begin)) != std::string::npos; begin = nl + 1) {
          std::string_view line(acc.data() + begin, nl - begin);
          if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
          const auto s = i == 0 ? stream::out : stream::err;
          if (s == stream::out)
            ++out_lines_;
          else {
            err_tail_.emplace_back(line);
            if (err_tail_.size() > 12) err_tail_.pop_front();
          }
          on_line(s, line, woke);
        }
        acc.erase(0, begin);
        continue;
      }
      if (got == 0) {  // EOF: the child closed it (exited, most likely)
        ::close(fd_[i]);
        fd_[i] = -1;
      }
      return;  // EAGAIN, EOF or an error
    }
  }

  pid_t pid_ = 0;
  int fd_[2] = {-1, -1};
  std::string buf_[2];
  std::int64_t start_ns_ = 0;
  bool exited_ = false;
  int status_ = 0;
  rusage usage_{};
  std::deque<std::string> err_tail_;
  std::size_t out_lines_ = 0;
};

/// "exit code 3", "killed by SIGSEGV"...
std::string describe_status(int st) {
  if (WIFEXITED(st)) return "exit code " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st))
    return std::string("killed by signal ") + std::to_string(WTERMSIG(st)) + " (" +
           strsignal(WTERMSIG(st)) + ")";
  return "status " + std::to_string(st);
}

/// Runs argv and returns its first output line (stdout, else stderr), for versions.
std::string first_output_line(const std::vector<std::string>& argv) {
  child c;
  std::string err, first_out, first_err;
  if (!c.start(argv, err)) return "?";
  c.pump(
      mono_ns() + 3000 * ms_ns,
      [&](stream s, std::string_view l, std::int64_t) {
        auto& dst = s == stream::out ? first_out : first_err;
        if (dst.empty()) dst = l;
      },
      [&] { return !first_out.empty(); });
  c.stop();
  return !first_out.empty() ? first_out : first_err;
}

// ---------------------------------------------------------------------------------------
// Watchers under test

/// How a watcher says that its initial watch set is complete.
enum class readiness {
  stdout_text,  ///< a stdout line containing `ready_text`
  stderr_text,  ///< a stderr line containing `ready_text`
  probe,        ///< none: a probe file in the root is rewritten until its event shows up
};

/// One watcher configuration.
struct watcher_spec {
  std::string name;                  ///< shown in the table
  std::vector<std::string> command;  ///< argv; the root is appended
  readiness ready = readiness::probe;
  std::string ready_text;      ///< for stdout_text / stderr_text
  std::string ready_doc;       ///< how readiness is detected, for the report
  bool is_hmr = false;         ///< parse its JSON lines (and debounce them)
  double poll_interval_s = 0;  ///< > 0: a polling backend with this interval
};

/// The outcome of waiting for readiness.
struct ready_result {
  bool ok = false;
  double ms = NAN;          ///< fork/exec -> ready, as seen by the driver
  double self_us = NAN;     ///< hmr's own startup_us, when it says
  std::string backend;      ///< hmr's backend field
  std::string directories;  ///< hmr's directories field
  std::string error;        ///< why not ready
};

/// Probe files created by start_and_wait_ready(), removed by remove_probe_files().
std::vector<std::string> g_probe_files;

/// Removes the probe files (call once the watcher is stopped).
void remove_probe_files() {
  for (const auto& p : g_probe_files) ::unlink(p.c_str());
  g_probe_files.clear();
}

/// Starts `w` on `root` and waits for its readiness (at most `timeout_ms`).
ready_result start_and_wait_ready(child& c, const watcher_spec& w, const std::string& root,
                                  double timeout_ms, const child::line_fn& extra = {}) {
  ready_result r;
  std::vector<std::string> argv = w.command;
  argv.push_back(root);
  remove_probe_files();  // a previous watcher's, if an error path skipped it
  const std::string probe_name = ".watch_bench_probe_";
  std::string err;
  if (!c.start(argv, err)) {
    r.error = err;
    return r;
  }
  std::int64_t ready_at = 0;
  auto on_line = [&](stream s, std::string_view line, std::int64_t t) {
    if (extra) extra(s, line, t);
    if (ready_at) return;
    bool hit = false;
    switch (w.ready) {
      case readiness::stdout_text:
        hit = s == stream::out && line.find(w.ready_text) != line.npos;
        break;
      case readiness::stderr_text:
        hit = s == stream::err && line.find(w.ready_text) != line.npos;
        break;
      case readiness::probe:
        hit = s == stream::out && line.find(probe_name) != line.npos;
        break;
    }
    if (!hit) return;
    ready_at = t;
    if (w.is_hmr) {
      r.backend = json_field(line, "backend");
      r.directories = json_field(line, "directories");
      const auto us = json_field(line, "startup_us");
      if (!us.empty()) r.self_us = std::strtod(us.c_str(), nullptr);
    }
  };
  const std::int64_t deadline = c.start_ns() + static_cast<std::int64_t>(timeout_ms * 1e6);
  if (w.ready == readiness::probe) {
    // Create a new probe file every 10 ms until the watcher reports one. New files,
    // not rewrites: a poller comparing whole-second mtimes would miss a rewrite.
    for (int n = 0; !ready_at && mono_ns() < deadline && !c.exited(); ++n) {
      g_probe_files.push_back(root + "/" + probe_name + std::to_string(n));
      write_file(g_probe_files.back(), "p\n");
      c.pump(std::min(deadline, mono_ns() + 10 * ms_ns), on_line, [&] { return ready_at != 0; });
      c.reap(false);
    }
  } else {
    while (!ready_at && mono_ns() < deadline && !c.exited()) {
      c.pump(std::min(deadline, mono_ns() + 50 * ms_ns), on_line, [&] { return ready_at != 0; });
      c.reap(false);
    }
  }
  if (ready_at) {
    r.ok = true;
    r.ms = static_cast<double>(ready_at - c.start_ns()) / 1e6;
  } else if (c.exited()) {
    r.error = "exited before ready (" + describe_status(c.wait_status()) + ")";
  } else {
    r.error = fmt("not ready within %.0f s", timeout_ms / 1000);
  }
  if (!r.ok && !c.stderr_tail().empty()) r.error += "; stderr: " + c.stderr_tail().back();
  return r;
}

// ---------------------------------------------------------------------------------------
// Trees

/// Deterministic generator of plausible source-tree names.
struct name_gen {
  std::uint64_t state;
  std::uint32_t next() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::uint32_t>(state >> 33);
  }
};

constexpr const char* k_words[] = {
    "parser", "lexer",  "widget", "buffer",  "render",  "socket",  "config", "logger",
    "cache",  "schema", "router", "handler", "session", "texture", "shader", "mesh",
    "audio",  "codec",  "stream", "worker",  "queue",   "thread",  "timer",  "event",
    "input",  "layout", "font",   "image",   "vector",  "matrix",  "string", "utf8",
    "json",   "http",   "crypto", "hash",    "store",   "index",   "query",  "table"};
constexpr const char* k_exts[] = {".cpp", ".hpp", ".h", ".c", ".cc", ".txt", ".md", ".json"};

/// The big tree: fanout^depth leaf directories with files_per_dir files each.
struct tree_shape {
  int fanout = 10;
  int depth = 4;
  int files_per_dir = 10;
  [[nodiscard]] long leaves() const { return std::lround(std::pow(fanout, depth)); }
  [[nodiscard]] long files() const { return leaves() * files_per_dir; }
  [[nodiscard]] long dirs() const {  // including the root
    long n = 0, level = 1;
    for (int d = 0; d <= depth; ++d, level *= fanout) n += level;
    return n;
  }
};

/// Relative path of leaf directory `i` (0-based).
std::string leaf_dir(const tree_shape& s, long i) {
  std::string out;
  long div = s.leaves();
  for (int d = 0; d < s.depth; ++d) {
    div /= s.fanout;
    const long k = (i / div) % s.fanout;
    const char* w = k_words[(k * 7 + d * 3) % std::size(k_words)];
    static constexpr const char* level_prefix[] = {"", "mod_", "", "", "", "", ""};
    out += (d ? "/" : "") + std::string(level_prefix[std::min(d, 6)]) + w + std::to_string(k);
  }
  return out;
}

/// Creates the big tree under `root` unless a complete one with this shape is there.
void make_big_tree(const std::string& root, const tree_shape& s) {
  const std::string stamp = root + "/.watch_bench_tree";
  const std::string want = fmt("v1 %d %d %d", s.fanout, s.depth, s.files_per_dir);
  if (read_first_line(stamp) == want) {
    std::printf("  reusing the tree in %s\n", root.c_str());
    return;
  }
  std::error_code ec;
  fs::remove_all(root, ec);
  const auto t0 = mono_ns();
  name_gen g{42};
  for (long i = 0; i < s.leaves(); ++i) {
    const std::string dir = root + "/" + leaf_dir(s, i);
    fs::create_directories(dir);
    for (int f = 0; f < s.files_per_dir; ++f) {
      const char* a = k_words[g.next() % std::size(k_words)];
      const char* b = k_words[g.next() % std::size(k_words)];
      const char* e = k_exts[g.next() % std::size(k_exts)];
      const std::string name = fmt("%s_%s%d%s", a, b, f, e);
      write_file(dir + "/" + name, fmt("// %s %s: generated by watch_bench\n", a, b));
    }
  }
  write_file(stamp, want + "\n");
  std::printf("  generated %ld files in %ld directories in %.1f s\n", s.files(), s.dirs(),
              static_cast<double>(mono_ns() - t0) / 1e9);
}

/// Walks the tree once (lstat every entry) so every watcher sees a warm cache.
long warm_walk(const std::string& root) {
  long n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st {};
    ::lstat(it->path().c_str(), &st);
    ++n;
  }
  return n;
}

// ---------------------------------------------------------------------------------------
// Results

struct latency_result {
  std::vector<double> us;   ///< one sample per delivered event
  int missed = 0;           ///< writes with no event within the timeout
  std::int64_t cpu_ns = 0;  ///< the watcher's CPU time over the measured writes
  int cpu_writes = 0;       ///< how many writes cpu_ns covers
  std::string error;        ///< the watcher failed to start or died
};

struct startup_result {
  std::vector<double> ms;  ///< exec -> ready, one per run
  std::vector<double> self_us;
  double hwm_kb = NAN;            ///< VmHWM right after readiness (first run)
  double rss_kb = NAN;            ///< VmRSS right after readiness (first run)
  double maxrss_kb = NAN;         ///< ru_maxrss at exit (the run that also went idle)
  int probes_ok = 0, probes = 0;  ///< post-ready checks in deep directories
  std::string backend, directories;
  std::string error;
};

struct idle_result {
  bool ok = false;
  double seconds = 0;
  double cpu_ms_ticks = NAN;  ///< (utime+stime) delta
  double cpu_ms_sched = NAN;  ///< schedstat delta
  std::int64_t vol_cs = 0, invol_cs = 0;
  std::size_t lines = 0;  ///< stdout lines printed while idle
  int threads = 0;
  long samples = 0;       ///< thread-state samples taken (polling backends only)
  long busy_samples = 0;  ///< samples with a thread running
  long busy_periods = 0;  ///< runs of busy samples: scans, for a poller
  std::string error;
};

struct poll_result {
  bool ok = false;
  double interval_s = 0;
  double ready_ms = NAN;
  double hwm_kb = NAN;
  std::string backend;  ///< hmr's backend field
  idle_result idle;
  std::vector<double> detect_ms;  ///< write -> event under polling
  int detect_missed = 0;
  std::string error;
};

struct burst_result {
  bool ok = false;
  int files = 0;
  double write_ms = NAN;   ///< how long creating the files took
  int missing = 0;         ///< paths never reported
  std::size_t lines = 0;   ///< stdout lines after the burst started
  double last_ms = NAN;    ///< burst start -> last new path seen
  int overflow_lines = 0;  ///< lines mentioning an overflow
  std::string overflow_example;
  bool died = false;
  std::string died_how;
  // hmr only: after hmr::debouncer
  int deb_batches = 0, deb_once = 0, deb_twice = 0, deb_missing = 0;
  std::map<std::string, int> deb_kinds;
  std::string error;
};

struct watcher_results {
  watcher_spec spec;
  latency_result latency;
  startup_result startup;
  idle_result idle;
  burst_result burst;
  std::vector<std::string> notes;
};

/// Options from the command line.
struct options {
  std::string work = "/tmp/hmr-watch-bench";
  std::string out = "";
  std::string hmr = "";
  std::string chokidar_js = "";
  bool peers = true;
  int latency_iterations = 200;
  int latency_warmup = 5;  // per round
  int latency_rounds = 4;
  double spacing_ms = 7;
  double event_timeout_ms = 2000;
  double ready_timeout_ms = 90000;
  double idle_s = 30;
  double poll_window_s = 10;
  int startup_runs = 2;  // plus the burst run's start-up
  int burst_files = 5000;
  bool keep_tree = false;
  tree_shape shape{};
  std::vector<std::string> only;  // watcher names to run; empty: all
};

// ---------------------------------------------------------------------------------------
// Measurements

/// 1. write() -> event latency on the small tree.
/// One round: starts the watcher, `warmup` + `count` writes, stops it; adds to `res`.
void measure_latency(const watcher_spec& w, const options& o, const std::string& small, int round,
                     int count, latency_result& res) {
  const int total = o.latency_warmup + count;
  // Open every target before the watcher starts, so the only event a write causes
  // is IN_MODIFY (no IN_OPEN/IN_CREATE noise in the measured window).
  std::vector<int> fds;
  std::vector<std::string> names;
  for (int i = 0; i < total; ++i) {
    names.push_back(fmt("lat_%d_%04d.txt", round, i));
    const std::string p = small + "/src/core/" + names.back();
    fds.push_back(::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  }
  child c;
  const auto ready = start_and_wait_ready(c, w, small, 20000);
  if (!ready.ok) {
    res.error = ready.error;
  } else {
    const std::string* want = nullptr;
    std::int64_t seen_at = 0;
    auto on_line = [&](stream s, std::string_view line, std::int64_t t) {
      if (s == stream::out && want && !seen_at && line.find(*want) != line.npos) seen_at = t;
    };
    c.pump(mono_ns() + 300 * ms_ns, on_line);  // settle
    cpu_snapshot before;
    for (int i = 0; i < total && !c.exited(); ++i) {
      // Spacing: drain whatever is still coming (e.g. a second line per write).
      want = nullptr;
      c.pump(mono_ns() + static_cast<std::int64_t>(o.spacing_ms * 1e6), on_line);
      if (i == o.latency_warmup) before = read_cpu(c.pid());
      want = &names[i];
      seen_at = 0;
      const std::int64_t t0 = mono_ns();
      (void)!::write(fds[i], "x\n", 2);
      c.pump(t0 + static_cast<std::int64_t>(o.event_timeout_ms * 1e6), on_line,
             [&] { return seen_at != 0; });
      if (i < o.latency_warmup) continue;
      if (seen_at)
        res.us.push_back(static_cast<double>(seen_at - t0) / 1e3);
      else
        ++res.missed;
    }
    // CPU the watcher spent on the measured writes (after the last line was drained).
    c.pump(mono_ns() + static_cast<std::int64_t>(o.spacing_ms * 1e6), on_line);
    if (const auto after = read_cpu(c.pid()); before.ok && after.ok) {
      res.cpu_ns += after.sched_ns - before.sched_ns;
      res.cpu_writes += count;
    }
    if (c.exited()) res.error = "died during the latency test: " + describe_status(c.wait_status());
  }
  c.stop();
  remove_probe_files();
  for (int fd : fds) ::close(fd);
  for (const auto& n : names) ::unlink((small + "/src/core/" + n).c_str());
}

/// Creates a new file in a few spread-out leaf directories after readiness and checks
/// each is reported: a readiness signal that comes too early fails this.
void post_ready_probes(child& c, const options& o, const std::string& big, startup_result& res,
                       int run) {
  const long leaves = o.shape.leaves();
  for (long leaf : {leaves - 1, leaves / 2, 0L}) {
    const std::string name = fmt("ready_check_%d_%ld.txt", run, leaf);
    const std::string path = big + "/" + leaf_dir(o.shape, leaf) + "/" + name;
    bool seen = false;
    write_file(path, "x\n");
    c.pump(
        mono_ns() + static_cast<std::int64_t>(o.event_timeout_ms * 1e6),
        [&](stream s, std::string_view l, std::int64_t) {
          if (s == stream::out && l.find(name) != l.npos) seen = true;
        },
        [&] { return seen; });
    ++res.probes;
    res.probes_ok += seen ? 1 : 0;
  }
}

void remove_probes(const options& o, const std::string& big) {
  const long leaves = o.shape.leaves();
  for (long leaf : {leaves - 1, leaves / 2, 0L}) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(big + "/" + leaf_dir(o.shape, leaf), ec))
      if (e.path().filename().string().rfind("ready_check_", 0) == 0) fs::remove(e.path(), ec);
  }
}

/// Measures idle CPU and wake-ups over `seconds` (the child is ready and settled).
idle_result measure_idle(child& c, double seconds, bool sample_busy = false) {
  idle_result r;
  const auto before = read_cpu(c.pid());
  const auto t0 = mono_ns();
  const std::int64_t end = t0 + static_cast<std::int64_t>(seconds * 1e9);
  std::size_t lines = 0;
  auto on_line = [&](stream s, std::string_view l, std::int64_t) {
    // Late reports of the readiness probes (a poller sees them a scan later) do not count.
    lines += s == stream::out && l.find(".watch_bench_probe_") == l.npos;
  };
  if (!sample_busy) {
    c.pump(end, on_line);
  } else {
    // Sample every thread's state each millisecond: a run of samples with some thread
    // running (R) or in disk wait (D) is one busy period, i.e. one scan for a poller.
    std::vector<std::string> stats;
    std::error_code ec;
    for (const auto& t : fs::directory_iterator("/proc/" + std::to_string(c.pid()) + "/task", ec))
      stats.push_back(t.path().string() + "/stat");
    bool was_busy = false;
    while (mono_ns() < end && !c.exited()) {
      bool busy = false;
      for (const auto& path : stats) {
        char buf[512];
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        const ssize_t n = ::read(fd, buf, sizeof buf - 1);
        ::close(fd);
        if (n <= 0) continue;
        const std::string_view text(buf, static_cast<std::size_t>(n));
        const auto paren = text.rfind(')');
        if (paren != text.npos && paren + 2 < text.size())
          busy = busy || text[paren + 2] == 'R' || text[paren + 2] == 'D';
      }
      if (busy && !was_busy) ++r.busy_periods;
      r.busy_samples += busy ? 1 : 0;
      ++r.samples;
      was_busy = busy;
      c.pump(std::min(end, mono_ns() + ms_ns), on_line);
    }
  }
  const auto after = read_cpu(c.pid());
  const auto t1 = mono_ns();
  if (!before.ok || !after.ok || c.exited()) {
    r.error =
        c.exited() ? "exited while idle: " + describe_status(c.wait_status()) : "cannot read /proc";
    return r;
  }
  const double tick_ms = 1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
  r.ok = true;
  r.seconds = static_cast<double>(t1 - t0) / 1e9;
  r.cpu_ms_ticks = static_cast<double>(after.ticks - before.ticks) * tick_ms;
  r.cpu_ms_sched = static_cast<double>(after.sched_ns - before.sched_ns) / 1e6;
  r.vol_cs = after.vol_cs - before.vol_cs;
  r.invol_cs = after.invol_cs - before.invol_cs;
  r.threads = after.threads;
  r.lines = lines;
  return r;
}

/// 2 + 3: start-up runs on the big tree; the last one also idles.
void measure_big_tree(const watcher_spec& w, const options& o, const std::string& big,
                      watcher_results& out) {
  auto& st = out.startup;
  for (int run = 0; run < o.startup_runs; ++run) {
    child c;
    const auto ready = start_and_wait_ready(c, w, big, o.ready_timeout_ms);
    if (!ready.ok) {
      st.error = ready.error;
      c.stop();
      return;
    }
    st.ms.push_back(ready.ms);
    if (!std::isnan(ready.self_us)) st.self_us.push_back(ready.self_us);
    st.backend = ready.backend;
    st.directories = ready.directories;
    if (run == 0) {
      st.hwm_kb = static_cast<double>(status_field(c.pid(), "VmHWM"));
      st.rss_kb = static_cast<double>(status_field(c.pid(), "VmRSS"));
    }
    std::printf("    %s: ready in %.0f ms (run %d)\n", w.name.c_str(), ready.ms, run + 1);
    std::fflush(stdout);
    const bool last = run + 1 == o.startup_runs;
    if (last) {
      post_ready_probes(c, o, big, st, run);
      c.pump(mono_ns() + 1000 * ms_ns, [](stream, std::string_view, std::int64_t) {});  // settle
      out.idle = measure_idle(c, o.idle_s);
      std::printf("    %s: idle %.0f s: %.1f ms CPU, %lld wake-ups\n", w.name.c_str(), o.idle_s,
                  out.idle.cpu_ms_sched, static_cast<long long>(out.idle.vol_cs));
      std::fflush(stdout);
    }
    c.stop();
    remove_probe_files();
    if (last) st.maxrss_kb = static_cast<double>(c.usage().ru_maxrss);
    if (c.exited() && !WIFSIGNALED(c.wait_status()) && WEXITSTATUS(c.wait_status()) != 0)
      out.notes.push_back("exit after SIGTERM: " + describe_status(c.wait_status()));
  }
  remove_probes(o, big);
}

/// Extracts the indices of `burst_NNNNN` names from a line.
template <class F>
void for_each_burst_id(std::string_view line, F&& f) {
  for (std::size_t at = 0; (at = line.find("burst_", at)) != line.npos;) {
    at += 6;
    int id = 0, digits = 0;
    while (at < line.size() && digits < 5 && line[at] >= '0' && line[at] <= '9') {
      id = id * 10 + (line[at++] - '0');
      ++digits;
    }
    if (digits == 5) f(id);
  }
}

/// 4. A burst of new files on the big tree.
burst_result measure_burst(const watcher_spec& w, const options& o, const std::string& big,
                           startup_result& st) {
  burst_result r;
  r.files = o.burst_files;
  constexpr int dirs = 50;
  std::vector<std::string> paths;
  for (int i = 0; i < o.burst_files; ++i) {
    const long leaf = (static_cast<long>(i % dirs) * (o.shape.leaves() / dirs)) % o.shape.leaves();
    paths.push_back(big + "/" + leaf_dir(o.shape, leaf) + fmt("/burst_%05d.cpp", i));
  }
  child c;
  const auto ready = start_and_wait_ready(c, w, big, o.ready_timeout_ms);
  if (!ready.ok) {
    r.error = ready.error;
    c.stop();
    return r;
  }
  st.ms.push_back(ready.ms);
  if (!std::isnan(ready.self_us)) st.self_us.push_back(ready.self_us);
  c.pump(mono_ns() + 500 * ms_ns, [](stream, std::string_view, std::int64_t) {});  // settle

  std::vector<int> raw(static_cast<std::size_t>(o.burst_files), 0);
  int distinct = 0;
  std::int64_t last_new = 0, last_line = 0;
  hmr::debouncer deb{50ms};
  std::vector<int> after_deb(static_cast<std::size_t>(o.burst_files), 0);
  auto take_batch = [&](const hmr::change_batch& b) {
    ++r.deb_batches;
    for (const auto& ch : b) {
      ++r.deb_kinds[std::string(hmr::to_string(ch.kind))];
      for_each_burst_id(ch.path, [&](int id) {
        if (id < o.burst_files) ++after_deb[static_cast<std::size_t>(id)];
      });
    }
  };
  auto on_line = [&](stream s, std::string_view line, std::int64_t t) {
    std::string lower(line);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char ch) { return std::tolower(ch); });
    if (lower.find("overflow") != lower.npos) {
      if (!r.overflow_lines++) r.overflow_example = std::string(line.substr(0, 160));
    }
    if (s != stream::out) return;
    ++r.lines;
    last_line = t;
    for_each_burst_id(line, [&](int id) {
      if (id < o.burst_files && raw[static_cast<std::size_t>(id)]++ == 0) {
        ++distinct;
        last_new = t;
      }
    });
    if (w.is_hmr && json_field(line, "event") == "change") {
      hmr::file_change fc;
      fc.path = json_field(line, "path");
      const auto kind = json_field(line, "kind");
      fc.kind = kind == "created"   ? hmr::change_kind::created
                : kind == "removed" ? hmr::change_kind::removed
                : kind == "renamed" ? hmr::change_kind::renamed
                                    : hmr::change_kind::modified;
      fc.old_path = json_field(line, "old_path");
      fc.is_directory = json_field(line, "directory") == "true";
      deb.push(std::move(fc), hmr::debouncer::clock::now());
    }
  };

  // Create the files from another thread while this one keeps reading the pipes.
  std::atomic<std::int64_t> write_end{0};
  const std::int64_t t0 = mono_ns();
  std::thread writer([&] {
    for (const auto& p : paths) {
      const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd >= 0) {
        (void)!::write(fd, "// burst\n", 9);
        ::close(fd);
      }
    }
    write_end = mono_ns();
  });
  // Wait until every path was seen, or nothing new came for 3 s after the writes, or 60 s.
  const std::int64_t hard = t0 + 60'000 * ms_ns;
  for (;;) {
    const std::int64_t now = mono_ns();
    if (now >= hard || c.exited()) break;
    if (write_end && distinct == o.burst_files && (!w.is_hmr || !deb.pending())) break;
    const std::int64_t quiet_from = std::max({last_line, write_end.load(), t0});
    if (write_end && now - quiet_from > 3000 * ms_ns) break;
    c.pump(now + 20 * ms_ns, on_line);
    c.reap(false);
    if (w.is_hmr)
      while (auto b = deb.poll(hmr::debouncer::clock::now())) take_batch(*b);
  }
  writer.join();
  r.write_ms = static_cast<double>(write_end - t0) / 1e6;
  if (w.is_hmr) {
    if (auto b = deb.flush(); !b.empty()) take_batch(b);
    for (int n : after_deb) {
      if (n == 0)
        ++r.deb_missing;
      else if (n == 1)
        ++r.deb_once;
      else
        ++r.deb_twice;
    }
  }
  r.missing = o.burst_files - distinct;
  if (distinct) r.last_ms = static_cast<double>(last_new - t0) / 1e6;
  if (c.exited()) {
    r.died = true;
    r.died_how = describe_status(c.wait_status());
    if (!c.stderr_tail().empty()) r.died_how += "; stderr: " + c.stderr_tail().back();
  }
  c.stop(on_line);
  remove_probe_files();
  r.ok = true;
  for (const auto& p : paths) ::unlink(p.c_str());
  return r;
}

/// Polling backends: readiness, idle CPU over a window, and detection latency.
poll_result measure_poll(const watcher_spec& w, const options& o, const std::string& big) {
  poll_result r;
  r.interval_s = w.poll_interval_s;
  child c;
  const auto ready = start_and_wait_ready(c, w, big, o.ready_timeout_ms);
  if (!ready.ok) {
    r.error = ready.error;
    c.stop();
    return r;
  }
  r.ready_ms = ready.ms;
  r.backend = ready.backend;
  r.hwm_kb = static_cast<double>(status_field(c.pid(), "VmHWM"));
  c.pump(mono_ns() + 1000 * ms_ns, [](stream, std::string_view, std::int64_t) {});
  r.idle = measure_idle(c, o.poll_window_s, true);
  // Detection latency: a write, then the event (expect up to one interval + one scan).
  for (int i = 0; i < 4 && !c.exited(); ++i) {
    const std::string name = fmt("poll_check_%d.txt", i);
    const std::string path =
        big + "/" + leaf_dir(o.shape, (i * 997) % o.shape.leaves()) + "/" + name;
    std::int64_t seen = 0;
    const std::int64_t t0 = mono_ns();
    write_file(path, "x\n");
    c.pump(
        t0 + static_cast<std::int64_t>((w.poll_interval_s * 8 + 2) * 1e9),
        [&](stream s, std::string_view l, std::int64_t t) {
          if (s == stream::out && !seen && l.find(name) != l.npos) seen = t;
        },
        [&] { return seen != 0; });
    if (seen)
      r.detect_ms.push_back(static_cast<double>(seen - t0) / 1e6);
    else
      ++r.detect_missed;
    ::unlink(path.c_str());
    c.pump(mono_ns() + 137 * ms_ns, [](stream, std::string_view, std::int64_t) {});  // de-phase
  }
  c.stop();
  remove_probe_files();
  r.ok = r.idle.ok;
  if (!r.idle.ok) r.error = r.idle.error;
  return r;
}

// ---------------------------------------------------------------------------------------
// Report

std::string num(double v, int prec = 0) {
  if (std::isnan(v)) return "–";
  return fmt("%.*f", prec, v);
}

std::string ratio(double hmr, double peer) {
  if (std::isnan(hmr) || std::isnan(peer) || peer == 0) return "–";
  return fmt("%.2f", hmr / peer);
}

std::string med_spread(const std::vector<double>& v, int prec = 0) {
  if (v.empty()) return "–";
  if (v.size() == 1) return num(v[0], prec) + " (n=1)";
  return num(quantile(v, 0.5), prec) + " (" + num(*std::min_element(v.begin(), v.end()), prec) +
         "–" + num(*std::max_element(v.begin(), v.end()), prec) +
         ", n=" + std::to_string(v.size()) + ")";
}

double median(const std::vector<double>& v) { return v.empty() ? NAN : quantile(v, 0.5); }

std::string report(const options& o, const std::vector<watcher_results>& all,
                   const std::vector<poll_result>& polls,
                   const std::vector<watcher_spec>& poll_specs,
                   const std::vector<std::string>& env) {
  std::ostringstream md;
  const watcher_results* hmr = nullptr;
  for (const auto& r : all)
    if (r.spec.is_hmr) hmr = &r;
  md << "# File watcher benchmark: hmr_watch vs peers\n\n";
  for (const auto& e : env) md << "- " << e << "\n";
  md << "\nRatios are hmr / peer (below 1: hmr is faster or smaller). All watchers ran one at a "
        "time on the same trees; every figure includes the pipe to the driver and the driver's "
        "ppoll() wake-up, alike for all.\n";

  md << "\n## 1. write() -> event line (small tree, " << o.latency_iterations << " writes, "
     << o.spacing_ms << " ms apart, in " << o.latency_rounds
     << " rounds taking the watchers in turn; " << o.latency_warmup
     << " warm-up writes per round not counted)\n\n";
  md << "| watcher | p50 µs | p99 µs | p25–p75 µs | min–max µs | no event in "
     << num(o.event_timeout_ms / 1000)
     << " s | watcher CPU µs per write | hmr/peer p50 | hmr/peer p99 | hmr/peer CPU |\n";
  md << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  auto cpu_per_write = [](const latency_result& l) {
    return l.cpu_writes ? static_cast<double>(l.cpu_ns) / 1e3 / l.cpu_writes : NAN;
  };
  for (const auto& r : all) {
    const auto& v = r.latency.us;
    if (!r.latency.error.empty() && v.empty()) {
      md << "| " << r.spec.name << " | failed: " << r.latency.error << " ||||||||\n";
      continue;
    }
    const double p50 = quantile(v, 0.5), p99 = quantile(v, 0.99);
    md << "| " << r.spec.name << " | " << num(p50, 1) << " | " << num(p99, 1) << " | "
       << num(quantile(v, 0.25), 1) << "–" << num(quantile(v, 0.75), 1) << " | "
       << (v.empty() ? "–"
                     : num(*std::min_element(v.begin(), v.end())) + "–" +
                           num(*std::max_element(v.begin(), v.end())))
       << " | " << r.latency.missed << " | " << num(cpu_per_write(r.latency), 1) << " | "
       << (hmr && !r.spec.is_hmr ? ratio(quantile(hmr->latency.us, 0.5), p50) : "") << " | "
       << (hmr && !r.spec.is_hmr ? ratio(quantile(hmr->latency.us, 0.99), p99) : "") << " | "
       << (hmr && !r.spec.is_hmr ? ratio(cpu_per_write(hmr->latency), cpu_per_write(r.latency))
                                 : "")
       << " |\n";
  }

  md << "\n## 2. Start-up on " << o.shape.files() << " files in " << o.shape.dirs()
     << " directories (warm cache)\n\n";
  md << "| watcher | exec -> ready ms, median (min–max, n) | self-reported ms | VmHWM at ready MB "
        "| ru_maxrss at exit MB | post-ready events | hmr/peer time | hmr/peer RSS |\n";
  md << "|---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& r : all) {
    const auto& s = r.startup;
    if (s.ms.empty()) {
      md << "| " << r.spec.name << " | failed: " << s.error << " |||||||\n";
      continue;
    }
    std::vector<double> self_ms;
    for (double us : s.self_us) self_ms.push_back(us / 1000);
    md << "| " << r.spec.name << " | " << med_spread(s.ms) << " | "
       << (self_ms.empty() ? "–" : num(median(self_ms))) << " | " << num(s.hwm_kb / 1024, 1)
       << " | " << num(s.maxrss_kb / 1024, 1) << " | " << s.probes_ok << "/" << s.probes << " | "
       << (hmr && !r.spec.is_hmr ? ratio(median(hmr->startup.ms), median(s.ms)) : "") << " | "
       << (hmr && !r.spec.is_hmr ? ratio(hmr->startup.hwm_kb, s.hwm_kb) : "") << " |\n";
  }

  md << "\n## 3. Idle on the big tree (" << num(o.idle_s) << " s, nothing changes)\n\n";
  md << "| watcher | CPU ms (utime+stime) | CPU ms (schedstat) | voluntary ctx switches "
        "(wake-ups) | involuntary | threads | lines printed |\n";
  md << "|---|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& r : all) {
    const auto& i = r.idle;
    if (!i.ok) {
      md << "| " << r.spec.name << " | failed: " << (i.error.empty() ? r.startup.error : i.error)
         << " ||||||\n";
      continue;
    }
    md << "| " << r.spec.name << " | " << num(i.cpu_ms_ticks) << " | " << num(i.cpu_ms_sched, 2)
       << " | " << i.vol_cs << " | " << i.invol_cs << " | " << i.threads << " | " << i.lines
       << " |\n";
  }

  if (!polls.empty()) {
    md << "\n## 3b. Polling backends on the big tree (" << num(o.poll_window_s) << " s window)\n\n";
    md << "| watcher | interval ms | ready ms | VmHWM MB | CPU % of a core | scans seen | busy ms "
          "per scan | CPU ms per scan | per 10k files ms | wake-ups | write -> event ms, median "
          "(min–max) |\n";
    md << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (std::size_t k = 0; k < polls.size(); ++k) {
      const auto& p = polls[k];
      if (!p.ok) {
        md << "| " << poll_specs[k].name << " | failed: " << p.error << " ||||||||||\n";
        continue;
      }
      const auto& i = p.idle;
      const double c = i.cpu_ms_sched, wnd = i.seconds;
      const double scans = static_cast<double>(i.busy_periods);
      const double per_scan = scans > 0 ? c / scans : NAN;
      const double busy_ms = scans > 0 && i.samples > 0
                                 ? wnd * 1000 * static_cast<double>(i.busy_samples) /
                                       static_cast<double>(i.samples) / scans
                                 : NAN;
      md << "| " << poll_specs[k].name << " | " << num(p.interval_s * 1000) << " | "
         << num(p.ready_ms) << " | " << num(p.hwm_kb / 1024, 1) << " | "
         << num(100 * c / 1000 / wnd, 1) << " | " << i.busy_periods << " | " << num(busy_ms, 1)
         << " | " << num(per_scan, 1) << " | "
         << num(per_scan * 10000 / static_cast<double>(o.shape.files()), 2) << " | " << i.vol_cs
         << " | " << med_spread(p.detect_ms, 1)
         << (p.detect_missed ? fmt(", %d missed", p.detect_missed) : "") << " |\n";
    }
  }

  md << "\n## 4. Burst: " << o.burst_files << " new files in 50 existing directories, "
     << "written as fast as possible\n\n";
  md << "| watcher | write time ms | paths never reported | stdout lines | last new path at ms "
        "| overflow lines | survived |\n";
  md << "|---|---:|---:|---:|---:|---:|---|\n";
  for (const auto& r : all) {
    const auto& b = r.burst;
    if (!b.ok) {
      md << "| " << r.spec.name << " | failed: " << b.error << " ||||||\n";
      continue;
    }
    md << "| " << r.spec.name << " | " << num(b.write_ms) << " | " << b.missing << " | " << b.lines
       << " | " << num(b.last_ms) << " | " << b.overflow_lines << " | "
       << (b.died ? "no: " + b.died_how : "yes") << " |\n";
  }
  if (hmr && hmr->burst.ok) {
    const auto& b = hmr->burst;
    md << "\nhmr's raw events through `hmr::debouncer{50ms}` in the driver: " << b.deb_batches
       << " batch(es); of " << b.files << " paths, " << b.deb_once << " appear exactly once, "
       << b.deb_twice << " more than once, " << b.deb_missing << " never; kinds:";
    for (const auto& [k, n] : b.deb_kinds) md << " " << k << "=" << n;
    md << "\n";
  }

  if (hmr) {
    md << "\n## hmr against the goals of issue 3\n\n";
    auto verdict = [](bool known, bool pass) { return !known ? "n/a" : pass ? "met" : "NOT met"; };
    const double p50 = quantile(hmr->latency.us, 0.5);
    double iw50 = NAN, fastest = NAN, fastest_min = NAN;
    std::string fastest_name;
    for (const auto& r : all) {
      if (r.spec.name == "inotifywait") iw50 = quantile(r.latency.us, 0.5);
      // The fastest peer that really was watching (a peer that died right after its
      // "ready", like fswatch on a queue overflow, does not count).
      const bool working = r.startup.probes > 0 && r.startup.probes_ok == r.startup.probes;
      if (!r.spec.is_hmr && working && !r.startup.ms.empty() &&
          !(median(r.startup.ms) >= fastest)) {
        fastest = median(r.startup.ms);
        fastest_min = *std::min_element(r.startup.ms.begin(), r.startup.ms.end());
        fastest_name = r.spec.name;
      }
    }
    const double up = median(hmr->startup.ms);
    const double up_min = hmr->startup.ms.empty()
                              ? NAN
                              : *std::min_element(hmr->startup.ms.begin(), hmr->startup.ms.end());
    const double rss_mb = std::max(hmr->startup.hwm_kb, hmr->startup.maxrss_kb) / 1024;
    md << "| goal | measured | verdict |\n|---|---|---|\n";
    md << "| write -> event p50 under 200 µs | " << num(p50, 1) << " µs | "
       << verdict(!std::isnan(p50), p50 < 200) << " |\n";
    md << "| p50 below inotifywait's in the same run | " << num(p50, 1) << " vs " << num(iw50, 1)
       << " µs | " << verdict(!std::isnan(p50) && !std::isnan(iw50), p50 < iw50) << " |\n";
    md << "| ready in under a third of the fastest working peer (" << fastest_name << ") | medians "
       << num(up) << " vs " << num(fastest) << " ms (ratio " << ratio(up, fastest) << "); minimums "
       << num(up_min) << " vs " << num(fastest_min) << " ms (ratio " << ratio(up_min, fastest_min)
       << ") | " << verdict(!std::isnan(up) && !std::isnan(fastest), up * 3 < fastest) << " |\n";
    md << "| peak RSS under 30 MB | " << num(rss_mb, 1) << " MB | "
       << verdict(!std::isnan(rss_mb), rss_mb < 30) << " |\n";
    md << "| zero wake-ups while idle (inotify) | "
       << (hmr->idle.ok ? std::to_string(hmr->idle.vol_cs) : std::string("–")) << " | "
       << verdict(hmr->idle.ok, hmr->idle.vol_cs == 0) << " |\n";
    md << "| burst: every path reported | "
       << (hmr->burst.ok ? std::to_string(hmr->burst.missing) + " missing" : std::string("–"))
       << " | " << verdict(hmr->burst.ok, hmr->burst.missing == 0) << " |\n";
    md << "| burst: each path once after the debouncer | "
       << (hmr->burst.ok ? fmt("%d once, %d more, %d never", hmr->burst.deb_once,
                               hmr->burst.deb_twice, hmr->burst.deb_missing)
                         : std::string("–"))
       << " | " << verdict(hmr->burst.ok, hmr->burst.deb_once == hmr->burst.files) << " |\n";
  }

  md << "\n## Readiness detection\n\n";
  for (const auto& r : all) md << "- **" << r.spec.name << "**: " << r.spec.ready_doc << "\n";
  for (const auto& s : poll_specs) md << "- **" << s.name << "**: " << s.ready_doc << "\n";

  md << "\n## Notes\n\n";
  bool any = false;
  for (const auto& r : all) {
    std::vector<std::string> n = r.notes;
    if (!r.latency.error.empty()) n.push_back("latency: " + r.latency.error);
    if (!r.startup.error.empty()) n.push_back("start-up: " + r.startup.error);
    if (r.startup.probes && r.startup.probes_ok != r.startup.probes)
      n.push_back(fmt("only %d of %d files created right after readiness were reported",
                      r.startup.probes_ok, r.startup.probes));
    if (!r.idle.error.empty()) n.push_back("idle: " + r.idle.error);
    if (r.idle.ok && r.idle.lines) n.push_back(fmt("printed %zu lines while idle", r.idle.lines));
    if (r.burst.overflow_lines) n.push_back("burst overflow: `" + r.burst.overflow_example + "`");
    if (r.burst.died) n.push_back("burst: died: " + r.burst.died_how);
    if (!r.startup.backend.empty())
      n.push_back("backend " + r.startup.backend + ", " + r.startup.directories + " directories");
    for (const auto& x : n) {
      md << "- " << r.spec.name << ": " << x << "\n";
      any = true;
    }
  }
  for (std::size_t k = 0; k < polls.size(); ++k) {
    if (!polls[k].backend.empty()) {
      md << "- " << poll_specs[k].name << ": backend " << polls[k].backend << "\n";
      any = true;
    }
    if (polls[k].idle.ok && polls[k].idle.lines) {
      md << "- " << poll_specs[k].name << ": printed " << polls[k].idle.lines
         << " lines while nothing changed\n";
      any = true;
    }
  }
  if (!any) md << "- nothing unusual\n";
  return md.str();
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

void usage() {
  std::puts(
      "usage: watch_bench [options]\n"
      "  --hmr=PATH            hmr_watch executable (omit to run the peers only)\n"
      "  --chokidar=PATH       chokidar-cli's index.js (omit to skip chokidar)\n"
      "  --no-peers            run hmr_watch only\n"
      "  --only=a,b            run only these watchers (by table name)\n"
      "  --work=DIR            where the trees go (default /tmp/hmr-watch-bench)\n"
      "  --out=FILE            also write the markdown table here\n"
      "  --iterations=N        latency writes (200)     --spacing-ms=MS (7)\n"
      "  --rounds=N            latency rounds, watchers in turn (4)\n"
      "  --idle-s=S            idle window (30)         --poll-window-s=S (10)\n"
      "  --startup-runs=N      start-ups before the burst run (2)\n"
      "  --burst=N             burst size (5000)\n"
      "  --fanout=N --depth=N --files-per-dir=N   big tree shape (10, 4, 10)\n"
      "  --keep-tree           keep the big tree for the next run");
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
    if (auto v = val("--hmr"))
      o.hmr = *v;
    else if (auto v = val("--chokidar"))
      o.chokidar_js = *v;
    else if (auto v = val("--work"))
      o.work = *v;
    else if (auto v = val("--out"))
      o.out = *v;
    else if (auto v = val("--iterations"))
      o.latency_iterations = std::max(1, std::stoi(*v));
    else if (auto v = val("--rounds"))
      o.latency_rounds = std::max(1, std::stoi(*v));
    else if (auto v = val("--spacing-ms"))
      o.spacing_ms = std::stod(*v);
    else if (auto v = val("--idle-s"))
      o.idle_s = std::stod(*v);
    else if (auto v = val("--poll-window-s"))
      o.poll_window_s = std::stod(*v);
    else if (auto v = val("--startup-runs"))
      o.startup_runs = std::max(1, std::stoi(*v));
    else if (auto v = val("--burst"))
      o.burst_files = std::clamp(std::stoi(*v), 1, 99999);
    else if (auto v = val("--fanout"))
      o.shape.fanout = std::stoi(*v);
    else if (auto v = val("--depth"))
      o.shape.depth = std::stoi(*v);
    else if (auto v = val("--files-per-dir"))
      o.shape.files_per_dir = std::stoi(*v);
    else if (auto v = val("--only")) {
      std::stringstream ss(*v);
      for (std::string t; std::getline(ss, t, ',');) o.only.push_back(t);
    } else if (a == "--no-peers")
      o.peers = false;
    else if (a == "--keep-tree")
      o.keep_tree = true;
    else if (a == "-h" || a == "--help") {
      usage();
      return 0;
    } else {
      std::fprintf(stderr, "watch_bench: unknown argument %s\n", argv[i]);
      usage();
      return 2;
    }
  }
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, on_fatal_signal);
  ::signal(SIGPIPE, SIG_IGN);
  std::atexit(kill_live_groups);

  // The watchers, hmr first.
  std::vector<watcher_spec> specs;
  if (!o.hmr.empty())
    specs.push_back({"hmr_watch",
                     {o.hmr, "--"},
                     readiness::stdout_text,
                     "\"event\":\"watching\"",
                     "stdout line `{\"event\":\"watching\",...}`, printed once the initial "
                     "watch set is complete",
                     true});
  if (o.peers) {
    specs.push_back({"inotifywait",
                     {"inotifywait", "-m", "-r", "--format", "%w%f %e"},
                     readiness::stderr_text,
                     "Watches established",
                     "stderr line `Watches established.`, printed after the recursive "
                     "inotify_add_watch walk; all events (default mask)"});
    specs.push_back({"fswatch",
                     {"fswatch", "-m", "inotify_monitor", "-r", "-x", "-l", "0.1"},
                     readiness::probe,
                     "",
                     "no signal: from exec on, the driver creates a new probe file "
                     "`.watch_bench_probe_N` in the root every 10 ms; ready = first line naming "
                     "one (fswatch's "
                     "inotify_monitor reads no events before its initial scan is complete, so "
                     "this bounds readiness from above by <= 10 ms + its latency). -l 0.1 is "
                     "the smallest latency fswatch documents"});
    specs.push_back(
        {"fswatch --allow-overflow",
         {"fswatch", "--allow-overflow", "-m", "inotify_monitor", "-r", "-x", "-l", "0.1"},
         readiness::probe,
         "",
         "probe files, as for fswatch; --allow-overflow makes it report a queue "
         "overflow as an event instead of exiting"});
    if (!o.chokidar_js.empty())
      specs.push_back({"chokidar-cli",
                       {"node", o.chokidar_js},
                       readiness::stderr_text,
                       "Watching \"",
                       "stderr line `Watching \"ROOT\" ..`, which chokidar-cli prints on "
                       "chokidar's `ready` event (initial scan done, all fs.watch handles "
                       "open). Events are printed as they come; its -d debounce only applies "
                       "to -c commands, so none is in the way"});
  }
  // Skip the peers that are not installed.
  std::erase_if(specs, [](const watcher_spec& s) {
    if (s.is_hmr || have_program(s.command.front())) return false;
    std::printf("watch_bench: %s not found, skipping %s\n", s.command.front().c_str(),
                s.name.c_str());
    return true;
  });
  if (!o.only.empty())
    std::erase_if(specs, [&](const watcher_spec& s) {
      return std::find(o.only.begin(), o.only.end(), s.name) == o.only.end();
    });
  std::vector<watcher_spec> poll_specs;
  const bool want_poll = [&] {
    return o.only.empty() || std::find(o.only.begin(), o.only.end(), "poll") != o.only.end();
  }();
  if (want_poll && !o.hmr.empty())
    poll_specs.push_back({"hmr_watch --poll=250",
                          {o.hmr, "--poll=250", "--"},
                          readiness::stdout_text,
                          "\"event\":\"watching\"",
                          "stdout `watching` line (after the first full scan)",
                          true,
                          0.25});
  if (want_poll && o.peers && have_program("fswatch"))
    poll_specs.push_back({"fswatch poll_monitor -l 0.25",
                          {"fswatch", "-m", "poll_monitor", "-r", "-x", "-l", "0.25"},
                          readiness::probe,
                          "",
                          "probe file, as for fswatch above; the probe is only seen at the "
                          "second scan, so this overstates its start-up by up to one interval",
                          false,
                          0.25});

  // Environment.
  std::vector<std::string> env;
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
    env.push_back(fmt("kernel %s %s, %ld CPUs (%s)", u.sysname, u.release,
                      ::sysconf(_SC_NPROCESSORS_ONLN), cpu.c_str()));
    env.push_back("load average at the start (other work on the machine skews every figure): " +
                  read_first_line("/proc/loadavg"));
    env.push_back(
        "fs.inotify.max_user_watches=" + read_first_line("/proc/sys/fs/inotify/max_user_watches") +
        ", max_queued_events=" + read_first_line("/proc/sys/fs/inotify/max_queued_events"));
    for (const auto& s : specs) {
      if (s.name == "inotifywait")
        env.push_back("inotifywait: " + first_output_line({"inotifywait", "--help"}));
      if (s.name == "fswatch")
        env.push_back("fswatch: " + first_output_line({"fswatch", "--version"}));
      if (s.name == "chokidar-cli") {
        std::string v = first_output_line({"node", o.chokidar_js, "--version"});
        env.push_back("chokidar-cli: " + v + ", node " + first_output_line({"node", "--version"}));
      }
      if (s.is_hmr) env.push_back("hmr_watch: " + s.command.front());
    }
  }

  // Trees.
  fs::create_directories(o.work);
  const std::string small = o.work + "/small", big = o.work + "/tree";
  {
    std::error_code ec;
    fs::remove_all(small, ec);
    for (const char* d : {"src/core", "src/net", "src/ui", "include/app", "docs", "tests/unit"}) {
      fs::create_directories(small + "/" + d);
      for (int f = 0; f < 5; ++f) write_file(small + "/" + d + fmt("/file_%d.cpp", f), "//\n");
    }
  }
  std::printf("== trees\n");
  make_big_tree(big, o.shape);
  const auto walk0 = mono_ns();
  const long entries = warm_walk(big);
  std::printf("  warm-up walk: %ld entries in %.0f ms\n", entries,
              static_cast<double>(mono_ns() - walk0) / 1e6);
  env.push_back(
      fmt("big tree: %ld files in %ld directories (fan-out %d, depth %d, %d files per "
          "leaf directory), %s; one warm-up walk (lstat of every entry) before the "
          "first watcher, page cache not dropped",
          o.shape.files(), o.shape.dirs(), o.shape.fanout, o.shape.depth, o.shape.files_per_dir,
          big.c_str()));

  std::vector<watcher_results> all;
  for (const auto& s : specs) all.push_back({s, {}, {}, {}, {}, {}});

  std::printf("== 1. latency\n");
  // In rounds, each watcher in turn, so a change in the machine's load during the run
  // falls on every watcher alike.
  for (int round = 0; round < o.latency_rounds; ++round)
    for (auto& r : all) {
      const int count = o.latency_iterations / o.latency_rounds +
                        (round < o.latency_iterations % o.latency_rounds ? 1 : 0);
      if (r.latency.error.empty()) measure_latency(r.spec, o, small, round, count, r.latency);
    }
  for (auto& r : all) {
    std::printf("    %s: p50 %.0f us, p99 %.0f us, %d missed%s%s\n", r.spec.name.c_str(),
                quantile(r.latency.us, 0.5), quantile(r.latency.us, 0.99), r.latency.missed,
                r.latency.error.empty() ? "" : ": ", r.latency.error.c_str());
    std::fflush(stdout);
  }
  std::printf("== 2+3. start-up and idle on the big tree\n");
  for (auto& r : all) measure_big_tree(r.spec, o, big, r);
  std::printf("== 3b. polling\n");
  std::vector<poll_result> polls;
  for (const auto& s : poll_specs) {
    polls.push_back(measure_poll(s, o, big));
    std::printf("    %s: %s\n", s.name.c_str(),
                polls.back().ok ? fmt("%.0f ms CPU in %.0f s", polls.back().idle.cpu_ms_sched,
                                      polls.back().idle.seconds)
                                      .c_str()
                                : polls.back().error.c_str());
    std::fflush(stdout);
  }
  std::printf("== 4. burst\n");
  for (auto& r : all) {
    if (!r.startup.error.empty() && r.startup.ms.empty()) {
      r.burst.error = "skipped: did not start on the big tree";
      continue;
    }
    r.burst = measure_burst(r.spec, o, big, r.startup);
    std::printf("    %s: %d missing%s\n", r.spec.name.c_str(), r.burst.missing,
                r.burst.error.empty() ? "" : (": " + r.burst.error).c_str());
    std::fflush(stdout);
  }

  env.push_back("load average at the end: " + read_first_line("/proc/loadavg"));
  const std::string md = report(o, all, polls, poll_specs, env);
  std::printf("\n%s", md.c_str());
  if (!o.out.empty()) {
    std::ofstream f(o.out);
    f << md;
  }
  remove_probe_files();
  std::error_code ec;
  fs::remove_all(small, ec);
  if (!o.keep_tree) fs::remove_all(big, ec);
  return 0;
}
