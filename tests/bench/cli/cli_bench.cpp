// End-to-end save -> first line benchmark: the real `hmr` binary against `entr -r` and
// nodemon, all supervising the same child (child.cpp), in one run, in rounds that take the
// tools in turn. One sample: t0 is read just before a watched file is saved (open, pwrite of
// 8 bytes in place, close); t1 is when the driver reads the NEW child's first line from the
// pipe that is the supervisor's (and so the child's) stdout. The child also prints its own
// CLOCK_MONOTONIC start time, so "save -> child start" is reported beside it.
// See README.md next to this file.
//
// Build: g++ -O2 -std=c++20 tests/bench/cli/cli_bench.cpp -o cli_bench

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

constexpr std::int64_t ms_ns = 1'000'000;

/// CLOCK_MONOTONIC in nanoseconds (the child reads the same clock).
std::int64_t mono_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

/// The q-quantile (0..1) of `v`, linear interpolation between order statistics.
double quantile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(pos);
  const auto hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
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

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

/// One supervisor configuration: how it is started and how long its watcher needs after the
/// first child is up before a save is certainly seen.
struct scenario {
  std::string tool;     ///< "hmr", "entr -r", "nodemon"
  std::string setting;  ///< "-d 1", "--delay 0", ...
  std::vector<std::string> argv;
  bool file_list_on_stdin = false;  ///< entr reads the paths to watch on stdin
  int ready_ms = 200;
  std::vector<double> read_ms{}, start_ms{};  ///< save -> line read, save -> child's own clock
  int missed = 0, extra = 0;
  /// With --json: save -> `change` event, -> `process_exit`, -> `process_start`, -> the
  /// child's own clock, -> line read (hmr's event times converted to CLOCK_MONOTONIC).
  std::vector<double> to_change{}, to_exit{}, to_start{}, to_child{}, to_read{};
};

/// A running supervisor: its pid (also its process group) and the read end of its stdout.
struct supervisor {
  pid_t pid = -1;
  int out = -1;
  std::string buffer;
  std::vector<pid_t> children;  ///< every child pid seen, killed at the end
  std::int64_t read_at = 0;     ///< when the bytes in `buffer` were last read
  std::map<std::string, std::int64_t> events;  ///< hmr --json: event name -> its time
};

/// CLOCK_REALTIME - CLOCK_MONOTONIC, to turn hmr's RFC 3339 event times into monotonic ones.
std::int64_t realtime_offset_ns() {
  timespec r{}, m{};
  ::clock_gettime(CLOCK_REALTIME, &r);
  ::clock_gettime(CLOCK_MONOTONIC, &m);
  return (std::int64_t{r.tv_sec} - m.tv_sec) * 1'000'000'000 + (r.tv_nsec - m.tv_nsec);
}

/// Records `{"event":"NAME","time":"YYYY-MM-DDTHH:MM:SS.uuuuuuZ",...}` in `sv.events`.
void note_json_event(supervisor& sv, const std::string& line) {
  static const std::int64_t offset = realtime_offset_ns();
  char name[32];
  tm t{};
  int us = 0;
  if (std::sscanf(line.c_str(), "{\"event\":\"%31[a-z_]\",\"time\":\"%d-%d-%dT%d:%d:%d.%dZ", name,
                  &t.tm_year, &t.tm_mon, &t.tm_mday, &t.tm_hour, &t.tm_min, &t.tm_sec, &us) != 8)
    return;
  t.tm_year -= 1900;
  t.tm_mon -= 1;
  sv.events[name] = std::int64_t{::timegm(&t)} * 1'000'000'000 + std::int64_t{us} * 1000 - offset;
}

/// A child line: its pid, its own start time, and when the driver read it.
struct child_line {
  pid_t pid;
  std::int64_t start_ns, read_ns;
};

/// Starts `s` in its own process group, stdout to a pipe, stderr to `log`, in `dir`.
supervisor start(const scenario& s, const std::string& dir, const std::string& list_file,
                 const std::string& log) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) std::perror("pipe2"), std::exit(1);
  std::vector<char*> args;
  for (const auto& a : s.argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) std::perror("fork"), std::exit(1);
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    const int in = ::open(s.file_list_on_stdin ? list_file.c_str() : "/dev/null", O_RDONLY);
    const int err = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(in, 0);
    ::dup2(fds[1], 1);
    ::dup2(err, 2);
    if (::chdir(dir.c_str()) != 0) ::_exit(126);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  ::close(fds[1]);
  return {pid, fds[0], {}, {}, 0, {}};
}

/// The next child line within `timeout_ms`, or pid 0 (timeout) / -1 (supervisor's stdout closed).
child_line next_child_line(supervisor& sv, int timeout_ms) {
  const std::int64_t deadline = mono_ns() + timeout_ms * ms_ns;
  for (;;) {
    std::size_t nl;
    while ((nl = sv.buffer.find('\n')) != std::string::npos) {
      const std::string line = sv.buffer.substr(0, nl);
      sv.buffer.erase(0, nl + 1);
      long pid = 0;
      long long ns = 0;
      const auto at = line.find("cli-bench-child ");  // plain, or inside a JSON `output` event
      if (at == std::string::npos) {
        note_json_event(sv, line);
        continue;
      }
      if (std::sscanf(line.c_str() + at, "cli-bench-child %ld %lld", &pid, &ns) == 2) {
        sv.children.push_back(static_cast<pid_t>(pid));
        return {static_cast<pid_t>(pid), ns, sv.read_at};
      }
    }
    const std::int64_t left = deadline - mono_ns();
    if (left <= 0) return {0, 0, 0};
    pollfd p{sv.out, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>((left + ms_ns - 1) / ms_ns));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(sv.out, buf, sizeof buf);
    const std::int64_t now = mono_ns();
    if (n <= 0) return {-1, 0, 0};
    sv.buffer.append(buf, static_cast<std::size_t>(n));
    sv.read_at = now;
  }
}

/// Stops the supervisor: SIGTERM to its group, up to 3 s, then SIGKILL; kills stray children.
void stop(supervisor& sv) {
  ::kill(-sv.pid, SIGTERM);
  int status = 0;
  bool gone = false;
  for (int i = 0; i < 300 && !gone; ++i) {
    gone = ::waitpid(sv.pid, &status, WNOHANG) == sv.pid;
    if (!gone) ::usleep(10'000);
  }
  if (!gone) {
    ::kill(-sv.pid, SIGKILL);
    ::waitpid(sv.pid, &status, 0);
  }
  ::kill(-sv.pid, SIGKILL);
  for (pid_t c : sv.children) ::kill(c, SIGKILL);
  ::close(sv.out);
}

/// Saves `file` in place: open, pwrite 8 bytes at offset 0, close (IN_MODIFY, IN_CLOSE_WRITE).
void save(const std::string& file, int counter) {
  char text[16];
  std::snprintf(text, sizeof text, "//%05d\n", counter % 100000);
  const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) std::perror("open"), std::exit(1);
  if (::pwrite(fd, text, 8, 0) != 8) std::perror("pwrite"), std::exit(1);
  ::close(fd);
}

struct options {
  std::string hmr, child, nodemon, work = "/tmp/cli-bench-work", out, only;
  int iterations = 300, rounds = 6, warmup = 3, settle_ms = 150, timeout_ms = 3000;
};

/// One round of `s`: start it, wait for the first child, `warmup` + `count` saves, stop it.
void run_round(scenario& s, const options& o, int index, int count, int& counter) {
  const std::string dir = o.work + "/s" + std::to_string(index);
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string file = dir + "/main.cpp";
  std::ofstream(file) << "//00000\nint main() {}\n";
  std::ofstream(o.work + "/list" + std::to_string(index)) << file << "\n";
  supervisor sv = start(s, dir, o.work + "/list" + std::to_string(index),
                        o.work + "/s" + std::to_string(index) + ".log");
  child_line first = next_child_line(sv, 10'000);
  if (first.pid <= 0) {
    std::fprintf(stderr, "%s %s: no first child (see %s/s%d.log)\n", s.tool.c_str(),
                 s.setting.c_str(), o.work.c_str(), index);
    stop(sv);
    s.missed += count;
    return;
  }
  pid_t current = first.pid;
  ::usleep(static_cast<useconds_t>(s.ready_ms) * 1000);
  for (int i = 0; i < o.warmup + count; ++i) {
    // Settle: any further child line is an extra restart for the previous save.
    for (child_line l; (l = next_child_line(sv, o.settle_ms)).pid > 0;) {
      if (i > o.warmup) ++s.extra;
      current = l.pid;
    }
    sv.events.clear();
    const std::int64_t t0 = mono_ns();
    save(file, ++counter);
    child_line l{};
    do l = next_child_line(sv, o.timeout_ms);
    while (l.pid == current);
    if (l.pid <= 0) {
      if (i >= o.warmup) ++s.missed;
      if (l.pid < 0) break;
      continue;
    }
    current = l.pid;
    if (i < o.warmup) continue;
    s.read_ms.push_back(static_cast<double>(l.read_ns - t0) / 1e6);
    s.start_ms.push_back(static_cast<double>(l.start_ns - t0) / 1e6);
    if (sv.events.count("change") && sv.events.count("process_exit") &&
        sv.events.count("process_start")) {
      auto ms = [](std::int64_t a, std::int64_t b) { return static_cast<double>(b - a) / 1e6; };
      s.to_change.push_back(ms(t0, sv.events["change"]));
      s.to_exit.push_back(ms(sv.events["change"], sv.events["process_exit"]));
      s.to_start.push_back(ms(sv.events["process_exit"], sv.events["process_start"]));
      s.to_child.push_back(ms(sv.events["process_start"], l.start_ns));
      s.to_read.push_back(ms(l.start_ns, l.read_ns));
    }
  }
  stop(sv);
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&](const char* name) -> const char* {
      const std::string p = std::string("--") + name + "=";
      return a.rfind(p, 0) == 0 ? argv[i] + p.size() : nullptr;
    };
    const char* v = nullptr;
    if ((v = val("hmr"))) o.hmr = v;
    else if ((v = val("child"))) o.child = v;
    else if ((v = val("nodemon"))) o.nodemon = v;
    else if ((v = val("work"))) o.work = v;
    else if ((v = val("out"))) o.out = v;
    else if ((v = val("only"))) o.only = v;
    else if ((v = val("iterations"))) o.iterations = std::atoi(v);
    else if ((v = val("rounds"))) o.rounds = std::atoi(v);
    else if ((v = val("warmup"))) o.warmup = std::atoi(v);
    else if ((v = val("settle-ms"))) o.settle_ms = std::atoi(v);
    else {
      std::fprintf(stderr,
                   "usage: cli_bench --hmr=PATH --child=PATH [--nodemon=PATH/nodemon.js]\n"
                   "  [--iterations=300] [--rounds=6] [--warmup=3] [--settle-ms=150]\n"
                   "  [--work=/tmp/cli-bench-work] [--out=results.md] [--only=hmr,entr,nodemon]\n");
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  if (o.hmr.empty() || o.child.empty()) {
    std::fprintf(stderr, "cli_bench: --hmr=PATH and --child=PATH are required\n");
    return 2;
  }
  o.hmr = fs::absolute(o.hmr).string();
  o.child = fs::absolute(o.child).string();
  fs::create_directories(o.work);
  auto wanted = [&](const std::string& tool) {
    return o.only.empty() || ("," + o.only + ",").find("," + tool + ",") != std::string::npos;
  };

  std::vector<scenario> all;
  if (wanted("hmr")) {
    all.push_back({.tool = "hmr", .setting = "-d 1", .argv = {o.hmr, "--no-keys", "-d", "1", "-w", ".", "--", o.child}});
    all.push_back({.tool = "hmr",
                   .setting = "-d 1 --json",
                   .argv = {o.hmr, "--no-keys", "--json", "-d", "1", "-w", ".", "--", o.child}});
    all.push_back({.tool = "hmr", .setting = "default (-d 50)", .argv = {o.hmr, "--no-keys", "-w", ".", "--", o.child}});
  }
  if (wanted("entr") && ::access("/usr/bin/entr", X_OK) == 0) {
    all.push_back({.tool = "entr -r",
                   .setting = "fixed 50 ms window",
                   .argv = {"entr", "-n", "-r", o.child},
                   .file_list_on_stdin = true});
  }
  if (wanted("nodemon") && !o.nodemon.empty()) {
    all.push_back({.tool = "nodemon",
                   .setting = "--delay 0",
                   .argv = {"node", o.nodemon, "--delay", "0", "-I", "-q", "-e", "cpp", "-w", "main.cpp",
                            "-x", o.child},
                   .ready_ms = 1000});
  }

  const std::string load_before = load_average();
  int counter = 0;
  const int per_round = (o.iterations + o.rounds - 1) / o.rounds;
  for (int r = 0; r < o.rounds; ++r) {
    for (std::size_t k = 0; k < all.size(); ++k) {
      std::fprintf(stderr, "round %d/%d: %s %s\n", r + 1, o.rounds, all[k].tool.c_str(),
                   all[k].setting.c_str());
      run_round(all[k], o, static_cast<int>(k), per_round, counter);
    }
  }
  const std::string load_after = load_average();

  std::ostringstream md;
  utsname u{};
  ::uname(&u);
  md << "# save -> new child's first line (cli_bench)\n\n"
     << "- machine: " << u.sysname << " " << u.release << " " << u.machine << ", "
     << ::sysconf(_SC_NPROCESSORS_ONLN) << " CPUs; load average before " << load_before
     << ", after " << load_after << "\n"
     << "- hmr: " << first_output_line(o.hmr + " --version") << "\n";
  if (wanted("entr"))
    md << "- entr: " << first_output_line("dpkg-query -W -f='${Version}' entr") << "\n";
  if (!o.nodemon.empty() && wanted("nodemon"))
    md << "- nodemon: " << first_output_line("node " + o.nodemon + " --version")
       << ", node " << first_output_line("node --version") << "\n";
  md << "- " << o.rounds << " rounds, " << per_round << " counted saves per tool per round after "
     << o.warmup << " warm-up saves, " << o.settle_ms << " ms settle between saves\n\n";
  char row[1024];
  md << "| tool | setting | n | p50 ms | p90 ms | IQR ms (p25-p75) | min | max | "
        "p50 to child start | missed | extra |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& s : all) {
    const auto& v = s.read_ms;
    std::snprintf(row, sizeof row,
                  "| %s | %s | %zu | %.2f | %.2f | %.2f (%.2f-%.2f) | %.2f | %.2f | %.2f | %d | %d |\n",
                  s.tool.c_str(), s.setting.c_str(), v.size(), quantile(v, .5), quantile(v, .9),
                  quantile(v, .75) - quantile(v, .25), quantile(v, .25), quantile(v, .75),
                  quantile(v, 0), quantile(v, 1), quantile(s.start_ms, .5), s.missed, s.extra);
    md << row;
  }
  for (const auto& s : all) {
    if (s.to_change.empty()) continue;
    std::snprintf(row, sizeof row,
                  "\nWhere the time goes, %s %s (medians of %zu, ms; hmr's event times are "
                  "RFC 3339 µs, converted to the monotonic clock):\n\n"
                  "| save -> `change` | -> `process_exit` | -> `process_start` | -> child's "
                  "clock | -> line read |\n|---|---|---|---|---|\n"
                  "| %.2f | %.2f | %.2f | %.2f | %.2f |\n",
                  s.tool.c_str(), s.setting.c_str(), s.to_change.size(), quantile(s.to_change, .5),
                  quantile(s.to_exit, .5), quantile(s.to_start, .5), quantile(s.to_child, .5),
                  quantile(s.to_read, .5));
    md << row;
  }
  md << "\nRatios of medians (save -> line read), peer over hmr (above 1: hmr is faster):\n\n"
     << "| peer | vs hmr -d 1 | vs hmr default |\n|---|---|---|\n";
  const scenario* h1 = nullptr;
  const scenario* h50 = nullptr;
  for (const auto& s : all)
    if (s.tool == "hmr") (s.setting == "-d 1" ? h1 : h50) = &s;
  for (const auto& s : all) {
    if (s.tool == "hmr" || !h1 || !h50) continue;
    const double p = quantile(s.read_ms, .5);
    std::snprintf(row, sizeof row, "| %s %s | %.2f | %.2f |\n", s.tool.c_str(),
                  s.setting.c_str(), p / quantile(h1->read_ms, .5), p / quantile(h50->read_ms, .5));
    md << row;
  }
  if (h1 && h50) {
    const double a = quantile(h1->read_ms, .5), b = quantile(h50->read_ms, .5);
    std::snprintf(row, sizeof row,
                  "\nGoal (p50 < debounce + 5 ms): hmr -d 1: %.2f ms vs 6 ms: %s; "
                  "hmr -d 50: %.2f ms vs 55 ms: %s\n",
                  a, a < 6 ? "met" : "NOT met", b, b < 55 ? "met" : "NOT met");
    md << row;
  }
  std::fputs(md.str().c_str(), stdout);
  if (!o.out.empty()) std::ofstream(o.out) << md.str();
  return 0;
}
