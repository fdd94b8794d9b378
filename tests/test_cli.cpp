// End-to-end tests of the reference CLI `hmr` (examples/cli): the real binary runs as a
// child in a temporary directory. Its stdout (JSON lines), its stderr and, for the
// interactive tests, a pseudo-terminal are read by a single-threaded pump; every wait is
// for an event or a line, bounded by a timeout. The only timed waits check that nothing
// happens (changes while paused, a crash under --on-crash wait). Also unit tests of the
// option parser and the config reader (examples/cli/cli_options.hpp).
#include "hmr_catch.hpp"
#include "process_fixture.hpp"
#include "cmake_generator.hpp"
// The header under test (the CLI's own, found through -Iexamples/cli).
#include "cli_options.hpp"
#include "glob_roots.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <hmr/detail/json_reader.hpp>
#include <hmr/version.hpp>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#ifndef HMR_CLI_PATH
#error "HMR_CLI_PATH must name the hmr binary under test (CMake and Meson define it)"
#endif

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using hmr_test::not_running;
using hmr_test::read_proc_file;

/// A temporary directory for one test.
struct temp_dir : hmr_test::temp_dir {
  temp_dir() : hmr_test::temp_dir("hmr-cli") {}
};
using steady = std::chrono::steady_clock;
using hmr::json_value;

/// The bound on every wait for something that must happen.
constexpr auto patience = std::chrono::milliseconds(15s);
/// How long a test watches for something that must not happen.
constexpr auto quiet_period = std::chrono::milliseconds(700);
constexpr std::size_t npos = static_cast<std::size_t>(-1);

// ---------------------------------------------------------------------------------------
// Files and processes

/// Writes `text` to `path` (parents created), optionally executable.
void write_file(const fs::path& path, const std::string& text, bool executable = false) {
  fs::create_directories(path.parent_path());
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  if (executable) {
    fs::permissions(path, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec,
                    fs::perm_options::replace);
  }
}

/// What /proc says about `pid` (stat line and command line), for failure messages.
std::string describe_process(int pid) {
  const std::string out = read_proc_file("/proc/" + std::to_string(pid) + "/stat");
  std::string command = read_proc_file("/proc/" + std::to_string(pid) + "/cmdline");
  std::replace(command.begin(), command.end(), '\0', ' ');
  return out.empty() ? std::to_string(pid) + " gone" : out + " cmdline: " + command;
}

/// Runs `command` in `dir` to completion (for cmake); its exit code and its output.
std::pair<int, std::string> run_command(const std::vector<std::string>& command, const fs::path& dir) {
  std::vector<std::string> words = command;
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  const std::string cwd = dir.string();
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    if (::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string output;
  char buffer[4096];
  for (;;) {
    const auto n = ::read(fds[0], buffer, sizeof buffer);
    if (n > 0) {
      output.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), output};
}

/// A pseudo-terminal pair; the slave becomes the controlling terminal of hmr.
struct pseudo_terminal {
  int master = -1;
  int slave = -1;
  pseudo_terminal() {
    master = ::posix_openpt(O_RDWR | O_NOCTTY);
    REQUIRE(master >= 0);
    REQUIRE(::grantpt(master) == 0);
    REQUIRE(::unlockpt(master) == 0);
    const char* name = ::ptsname(master);
    REQUIRE(name != nullptr);
    slave = ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    REQUIRE(slave >= 0);
    REQUIRE(::fcntl(master, F_SETFD, FD_CLOEXEC) == 0);
    REQUIRE(::fcntl(master, F_SETFL, O_NONBLOCK) == 0);
  }
  ~pseudo_terminal() {
    ::close(master);
    ::close(slave);
  }
  pseudo_terminal(const pseudo_terminal&) = delete;
  pseudo_terminal& operator=(const pseudo_terminal&) = delete;
  /// The slave's current mode.
  termios mode() const {
    termios t{};
    REQUIRE(::tcgetattr(slave, &t) == 0);
    return t;
  }
};

bool same_mode(const termios& a, const termios& b) {
  return a.c_iflag == b.c_iflag && a.c_oflag == b.c_oflag && a.c_cflag == b.c_cflag &&
         a.c_lflag == b.c_lflag && std::equal(std::begin(a.c_cc), std::end(a.c_cc), std::begin(b.c_cc));
}

/// `text` with control characters made visible, for failure messages.
std::string visible(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\x1b') {
      out += "\\e";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += c;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// One run of hmr

/// Where hmr's standard streams go: pipes (stdin /dev/null), stdin on a terminal (keys;
/// stdout and stderr still pipes), or all three on the terminal (the ANSI presenter).
enum class terminal { none, input, all };

using predicate = std::function<bool(const json_value&)>;

/// hmr running as a child of the test, with its output collected. Killed (SIGKILL) on
/// destruction if still running.
class hmr_run {
 public:
  hmr_run(const fs::path& dir, std::vector<std::string> args, terminal where = terminal::none) {
    if (where != terminal::none) {
      pty_.emplace();
      initial_mode_ = pty_->mode();
    }
    std::vector<std::string> words{HMR_CLI_PATH};
    words.insert(words.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    const std::string cwd = dir.string();
    int out[2];
    int err[2];
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
    const int null_in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    REQUIRE(null_in >= 0);
    const int slave = pty_ ? pty_->slave : -1;
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::setsid();
      int in_fd = null_in;
      int out_fd = out[1];
      int err_fd = err[1];
      if (slave >= 0) {
        if (::ioctl(slave, TIOCSCTTY, 0) != 0) ::_exit(125);
        in_fd = slave;
        if (where == terminal::all) out_fd = err_fd = slave;
      }
      ::dup2(in_fd, 0);
      ::dup2(out_fd, 1);
      ::dup2(err_fd, 2);
      if (::chdir(cwd.c_str()) != 0) ::_exit(126);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(null_in);
    ::close(out[1]);
    ::close(err[1]);
    out_ = out[0];
    err_ = err[0];
    ::fcntl(out_, F_SETFL, O_NONBLOCK);
    ::fcntl(err_, F_SETFL, O_NONBLOCK);
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  }

  ~hmr_run() {
    if (!status_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
    for (const int fd : {out_, err_, pidfd_}) {
      if (fd >= 0) ::close(fd);
    }
  }
  hmr_run(const hmr_run&) = delete;
  hmr_run& operator=(const hmr_run&) = delete;

  /// hmr's pid.
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  /// The JSON objects hmr wrote on stdout so far, in order.
  [[nodiscard]] const std::vector<json_value>& events() const noexcept { return events_; }
  /// Lines of stdout that were not a JSON object.
  [[nodiscard]] const std::vector<std::string>& bad_lines() const noexcept { return bad_lines_; }
  [[nodiscard]] const std::string& out() const noexcept { return out_text_; }
  [[nodiscard]] const std::string& err() const noexcept { return err_text_; }
  [[nodiscard]] const std::string& term() const noexcept { return term_text_; }
  [[nodiscard]] pseudo_terminal& pty() { return *pty_; }
  /// The terminal's mode before hmr started.
  [[nodiscard]] const termios& initial_mode() const noexcept { return initial_mode_; }

  /// Everything hmr wrote, for failure messages.
  [[nodiscard]] std::string transcript() const {
    return "--- stdout:\n" + out_text_ + "--- stderr:\n" + visible(err_text_) +
           "--- terminal:\n" + visible(term_text_) + "---";
  }

  /// Sends `signal` to hmr.
  void signal(int signal) const { REQUIRE(::kill(pid_, signal) == 0); }
  /// Types `keys` on hmr's terminal.
  void type(std::string_view keys) const {
    REQUIRE(::write(pty_->master, keys.data(), keys.size()) == static_cast<ssize_t>(keys.size()));
  }

  /// The index of the first event at or after `from` that `accept` takes, waiting for it;
  /// npos after `limit` or once hmr has exited without it.
  std::size_t wait_for(const predicate& accept, std::size_t from = 0,
                       std::chrono::milliseconds limit = patience) {
    const auto deadline = steady::now() + limit;
    for (std::size_t i = from;;) {
      for (; i < events_.size(); ++i) {
        if (accept(events_[i])) return i;
      }
      if (drained()) return npos;
      const auto now = steady::now();
      if (now >= deadline) return npos;
      pump(deadline - now);
    }
  }

  /// True once `text` appears in what hmr wrote to `stream` (stderr or the terminal).
  bool wait_text(const std::string& stream_name, std::string_view text,
                 std::chrono::milliseconds limit = patience) {
    const std::string& stream = stream_name == "err" ? err_text_ : term_text_;
    const auto deadline = steady::now() + limit;
    for (;;) {
      if (stream.find(text) != std::string::npos) return true;
      if (drained()) return false;
      const auto now = steady::now();
      if (now >= deadline) return false;
      pump(deadline - now);
    }
  }

  /// hmr's exit status (128 + N when killed by signal N); nothing after `limit`.
  std::optional<int> wait_exit(std::chrono::milliseconds limit = patience) {
    const auto deadline = steady::now() + limit;
    while (!reap()) {
      const auto now = steady::now();
      if (now >= deadline) return std::nullopt;
      pump(std::min<steady::duration>(deadline - now, pidfd_ >= 0 ? steady::duration(patience) : 10ms));
    }
    pump(0ms);  // what is left in the pipes
    return status_;
  }

 private:
  /// Collects hmr's exit status once it has ended; true then.
  bool reap() {
    if (status_) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (pidfd_ >= 0) ::close(pidfd_);
    pidfd_ = -1;
    return true;
  }

  /// True when nothing more can arrive: hmr has been reaped and its pipes are closed.
  [[nodiscard]] bool drained() const { return status_ && out_ < 0 && err_ < 0; }

  /// Waits at most `limit` for output (or hmr's exit) and takes what is there.
  void pump(steady::duration limit) {
    pollfd fds[4];
    int* owners[4];
    nfds_t n = 0;
    int master = pty_ ? pty_->master : -1;
    for (int* fd : {&out_, &err_, &master, &pidfd_}) {
      if (*fd < 0) continue;
      fds[n] = {*fd, POLLIN, 0};
      owners[n] = fd;
      ++n;
    }
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(limit).count();
    if (::poll(fds, n, static_cast<int>(std::clamp<decltype(ms)>(ms, 0, 1000))) <= 0) return;
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (owners[i] == &pidfd_) {
        reap();
        continue;
      }
      std::string& sink = owners[i] == &out_ ? out_text_ : owners[i] == &err_ ? err_text_ : term_text_;
      char buffer[4096];
      for (;;) {
        const auto got = ::read(*owners[i], buffer, sizeof buffer);
        if (got > 0) {
          sink.append(buffer, static_cast<std::size_t>(got));
          continue;
        }
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && errno == EAGAIN) break;
        if (owners[i] != &master) {  // EOF (or an error): nothing more on this pipe
          ::close(*owners[i]);
          *owners[i] = -1;
        }
        break;
      }
    }
    parse_lines();
  }

  void parse_lines() {
    std::size_t end = 0;
    while ((end = out_text_.find('\n', parsed_)) != std::string::npos) {
      const std::string_view line(out_text_.data() + parsed_, end - parsed_ + 1);
      parsed_ = end + 1;
      auto value = hmr::parse_json_line(line);
      if (value && value->is_object()) {
        events_.push_back(std::move(*value));
      } else {
        bad_lines_.emplace_back(line);
      }
    }
  }

  std::optional<pseudo_terminal> pty_{};
  termios initial_mode_{};
  pid_t pid_ = -1;
  int out_ = -1;
  int err_ = -1;
  int pidfd_ = -1;
  std::optional<int> status_{};
  std::string out_text_{};
  std::string err_text_{};
  std::string term_text_{};
  std::size_t parsed_ = 0;
  std::vector<json_value> events_{};
  std::vector<std::string> bad_lines_{};
};

// ---------------------------------------------------------------------------------------
// Reading events

std::string name_of(const json_value& e) { return e.get_string_or("event", ""); }
std::string text(const json_value& e, std::string_view key) { return e.get_string_or(key, "<missing>"); }
std::int64_t number(const json_value& e, std::string_view key) { return e.get_int_or(key, -1); }
bool is_null(const json_value& e, std::string_view key) {
  const json_value* v = e.find(key);
  return v != nullptr && v->is_null();
}
std::vector<std::string> strings(const json_value& e, std::string_view key) {
  std::vector<std::string> out;
  if (const json_value* v = e.find(key); v != nullptr && v->is_array()) {
    for (const json_value& item : v->as_array()) out.push_back(item.is_string() ? item.as_string() : "<not a string>");
  }
  return out;
}
/// The paths of a `change` event, in order.
std::vector<std::string> changed(const json_value& e) {
  std::vector<std::string> out;
  if (const json_value* v = e.find("changes"); v != nullptr && v->is_array()) {
    for (const json_value& c : v->as_array()) out.push_back(c.get_string_or("path", "<missing>"));
  }
  return out;
}

predicate named(std::string name) {
  return [name = std::move(name)](const json_value& e) { return name_of(e) == name; };
}
predicate named_with(std::string name, std::string key, std::string value) {
  return [name = std::move(name), key = std::move(key), value = std::move(value)](const json_value& e) {
    return name_of(e) == name && text(e, key) == value;
  };
}
predicate output_line(std::string line) { return named_with("output", "line", std::move(line)); }
/// A `change` event whose paths include `path`.
predicate change_of(std::string path) {
  return [path = std::move(path)](const json_value& e) {
    if (name_of(e) != "change") return false;
    const auto paths = changed(e);
    return std::find(paths.begin(), paths.end(), path) != paths.end();
  };
}
predicate cycle_event(std::string name, std::int64_t cycle) {
  return [name = std::move(name), cycle](const json_value& e) { return name_of(e) == name && number(e, "cycle") == cycle; };
}

/// Waits for an event; fails the test (showing what hmr wrote) when it does not come.
std::size_t need(hmr_run& run, const predicate& accept, const std::string& what, std::size_t from = 0) {
  const std::size_t i = run.wait_for(accept, from);
  INFO("waited for " << what << " (from event " << from << ")\n" << run.transcript());
  REQUIRE(i != npos);
  return i;
}

/// Events of `run` in [from, to) that `accept` takes.
std::size_t count(const hmr_run& run, const predicate& accept, std::size_t from = 0, std::size_t to = npos) {
  const auto& ev = run.events();
  to = std::min(to, ev.size());
  std::size_t n = 0;
  for (std::size_t i = from; i < to; ++i) n += accept(ev[i]) ? 1U : 0U;
  return n;
}

/// An RFC 3339 time as written by the JSON presenter ("2026-11-21T10:04:05.123456Z").
bool is_json_time(const std::string& t) {
  if (t.size() != 27) return false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    const char expected = i == 4 || i == 7 ? '-' : i == 10 ? 'T' : i == 13 || i == 16 ? ':' : i == 19 ? '.' : i == 26 ? 'Z' : '0';
    if (expected == '0' ? (c < '0' || c > '9') : c != expected) return false;
  }
  return true;
}
/// The event's `time` in microseconds since the epoch.
std::int64_t micros(const json_value& e) {
  const std::string t = text(e, "time");
  REQUIRE(is_json_time(t));
  const auto field = [&](std::size_t at, std::size_t len) { return std::stoi(t.substr(at, len)); };
  using namespace std::chrono;
  const sys_days day = year{field(0, 4)} / month{static_cast<unsigned>(field(5, 2))} /
                       std::chrono::day{static_cast<unsigned>(field(8, 2))};
  const auto at = day + hours{field(11, 2)} + minutes{field(14, 2)} + seconds{field(17, 2)} + microseconds{field(20, 6)};
  return duration_cast<microseconds>(at.time_since_epoch()).count();
}

/// Splits text into lines (without the '\n'; a last partial line kept).
std::vector<std::string> lines_of(const std::string& all) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < all.size()) {
    const auto end = all.find('\n', start);
    if (end == std::string::npos) {
      out.push_back(all.substr(start));
      break;
    }
    out.push_back(all.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::size_t occurrences(std::string_view haystack, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string_view::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

// ---------------------------------------------------------------------------------------
// Projects

/// The usual program: prints its HMR_* environment on one line, then waits to be stopped.
constexpr std::string_view app_script =
    "#!/bin/sh\n"
    "printf 'gen=%s reason=%s hmr=%s changed=%s\\n' \"$HMR_GENERATION\" \"$HMR_REASON\" \"$HMR\" "
    "\"$(printf '%s' \"$HMR_CHANGED\" | tr '\\n' ',')\"\n"
    "exec sleep 1000\n";

/// The line app.sh prints.
std::string gen_line(int generation, std::string_view reason, std::string_view changes = "") {
  return "gen=" + std::to_string(generation) + " reason=" + std::string(reason) +
         " hmr=1 changed=" + std::string(changes);
}

/// A temporary directory with an empty src/ (the watched root) and app.sh beside it.
struct project : temp_dir {
  project() {
    fs::create_directories(path / "src");
    write_file(path / "app.sh", std::string(app_script), true);
  }
  /// Writes a file under src/.
  void touch(const std::string& name, const std::string& content = "x\n") const {
    write_file(path / "src" / name, content);
  }
};

/// The usual flags: JSON, no keys, short debounce, watching src/; then `extra`, then
/// `-- command`.
std::vector<std::string> json_args(std::vector<std::string> extra = {},
                                   std::vector<std::string> command = {"./app.sh"}) {
  std::vector<std::string> args{"--json", "--no-keys", "-d", "20", "-w", "src"};
  args.insert(args.end(), extra.begin(), extra.end());
  args.emplace_back("--");
  args.insert(args.end(), command.begin(), command.end());
  return args;
}

/// SIGTERM, then the exit code must be 0.
void quit_cleanly(hmr_run& run) {
  run.signal(SIGTERM);
  const auto code = run.wait_exit();
  INFO(run.transcript());
  REQUIRE(code.has_value());
  CHECK(*code == 0);
}

/// Runs hmr to completion (a usage error, --help, ...); its exit code.
int run_to_exit(hmr_run& run) {
  const auto code = run.wait_exit();
  INFO(run.transcript());
  REQUIRE(code.has_value());
  return *code;
}

}  // namespace

// =======================================================================================
// The option parser and the config file, directly

TEST_CASE("parse_arguments: each flag sets its field", "[cli][options]") {
  using hmr::cli::parse_arguments;
  const auto parsed = [](std::vector<std::string> args) {
    auto r = parse_arguments(args);
    INFO(r.error.message << " / " << r.error.hint);
    REQUIRE(r);
    return *r.parsed;
  };
  const auto defaults = parsed({});
  CHECK(defaults.watch.empty());
  CHECK(defaults.debounce_ms == 50);
  CHECK(defaults.stop_signal == SIGTERM);
  CHECK(defaults.stop_timeout_ms == 5000);
  CHECK(defaults.on_crash == hmr::crash_policy::wait);
  CHECK(defaults.on_busy == hmr::busy_policy::queue);
  CHECK_FALSE(defaults.poll_ms.has_value());
  CHECK(defaults.default_ignores);
  CHECK(defaults.gitignore);
  CHECK(defaults.keys);
  CHECK_FALSE(defaults.json);

  const auto o = parsed({"-w", "src", "--watch=lib", "-e", "cpp,.hpp, h", "-i", "**/*.cc", "-x", "gen/**",
                         "--no-default-ignores", "--no-gitignore", "-d20", "-b", "make -j2", "--shell",
                         "--signal", "sigint", "--stop-timeout", "300", "--on-crash", "exit", "--on-busy",
                         "restart", "--poll=40", "--json", "--clear", "--no-keys", "--postpone",
                         "--config", "c.json", "--target", "app", "--explain", "src/a.cpp", "--",
                         "./app", "-w", "x"});
  CHECK(o.watch == std::vector<std::string>{"src", "lib"});
  CHECK(o.extensions == std::vector<std::string>{"cpp", "hpp", "h"});
  CHECK(o.include == std::vector<std::string>{"**/*.cc"});
  CHECK(o.exclude == std::vector<std::string>{"gen/**"});
  CHECK_FALSE(o.default_ignores);
  CHECK_FALSE(o.gitignore);
  CHECK(o.debounce_ms == 20);
  CHECK(o.build == "make -j2");
  CHECK(o.shell);
  CHECK(o.stop_signal == SIGINT);
  CHECK(o.stop_timeout_ms == 300);
  CHECK(o.on_crash == hmr::crash_policy::exit);
  CHECK(o.on_busy == hmr::busy_policy::restart);
  REQUIRE(o.poll_ms.has_value());
  CHECK(*o.poll_ms == 40);
  CHECK(o.json);
  CHECK(o.clear);
  CHECK_FALSE(o.keys);
  CHECK(o.postpone);
  CHECK(o.config == "c.json");
  CHECK(o.target == "app");
  REQUIRE(o.explain.has_value());
  CHECK(*o.explain == "src/a.cpp");
  CHECK(o.command == std::vector<std::string>{"./app", "-w", "x"});

  CHECK(parsed({"--poll"}).poll_ms == std::optional<int>(250));
  CHECK(parsed({"--signal", "USR1"}).stop_signal == SIGUSR1);
  CHECK(parsed({"--signal", "9"}).stop_signal == 9);
  CHECK(parsed({"--on-crash", "restart"}).on_crash == hmr::crash_policy::restart);
  CHECK(parsed({"--on-busy", "queue"}).on_busy == hmr::busy_policy::queue);
  CHECK(parsed({"-h"}).help);
  CHECK(parsed({"-V"}).version);
  // The first word that is not an option starts COMMAND: later dashes are its arguments.
  CHECK(parsed({"./app", "--json"}).command == std::vector<std::string>{"./app", "--json"});
  CHECK_FALSE(parsed({"./app", "--json"}).json);
}

TEST_CASE("parse_arguments: usage errors name the option and give a hint", "[cli][options]") {
  struct row {
    std::vector<std::string> args;
    std::string message;
    std::string hint;
  };
  const row rows[] = {
      {{"--wach", "src"}, "unknown option '--wach'", "did you mean --watch? (hmr --help lists the options)"},
      {{"--frobnicate"}, "unknown option '--frobnicate'", "hmr --help lists the options"},
      {{"-q"}, "unknown option '-q'", "hmr --help lists the options"},
      {{"-w"}, "option -w needs a value", "e.g. -w src (hmr --help lists the options)"},
      {{"-d", "0"}, "invalid value '0' for -d", "expected a positive number of milliseconds, e.g. --debounce 50"},
      {{"--debounce=fast"}, "invalid value 'fast' for --debounce", "expected a positive number of milliseconds, e.g. --debounce 50"},
      {{"--json=yes"}, "option --json takes no value", "write it as --json"},
      {{"-Vx"}, "unexpected 'x' after -V", "give one option per argument"},
      {{"--signal", "NOPE"}, "invalid value 'NOPE' for --signal", "expected a signal name or number, e.g. --signal INT"},
      {{"--stop-timeout", "-5"}, "invalid value '-5' for --stop-timeout", "expected a number of milliseconds, e.g. --stop-timeout 2000"},
      {{"--on-crash", "sometimes"}, "invalid value 'sometimes' for --on-crash", "expected wait, restart or exit"},
      {{"--on-busy", "later"}, "invalid value 'later' for --on-busy", "expected queue or restart"},
      {{"--poll=0"}, "invalid value '0' for --poll", "expected a positive number of milliseconds, e.g. --poll=500"},
  };
  for (const row& r : rows) {
    CAPTURE(r.args);
    const auto result = hmr::cli::parse_arguments(r.args);
    REQUIRE_FALSE(result);
    CHECK(result.error.message == r.message);
    CHECK(result.error.hint == r.hint);
  }
}

TEST_CASE("read_config: keys are long option names; flags given later override", "[cli][options]") {
  temp_dir dir;
  const auto config = [&](const std::string& json) {
    write_file(dir / "hmr.json", json);
    return hmr::cli::read_config((dir / "hmr.json").string());
  };
  const std::string file = (dir / "hmr.json").string();

  SECTION("every kind of value") {
    const auto r = config(R"({"watch": "src", "ext": ["cpp", "hpp"], "exclude": ["gen/**"],
        "debounce": 20, "build": "make", "signal": "INT", "stop-timeout": 300, "on-crash": "restart",
        "poll": 40, "json": true, "no-keys": true, "no-gitignore": true, "command": ["./app", "x"]})");
    INFO(r.error.message);
    REQUIRE(r);
    const auto& o = *r.parsed;
    CHECK(o.watch == std::vector<std::string>{"src"});
    CHECK(o.extensions == std::vector<std::string>{"cpp", "hpp"});
    CHECK(o.exclude == std::vector<std::string>{"gen/**"});
    CHECK(o.debounce_ms == 20);
    CHECK(o.build == "make");
    CHECK(o.stop_signal == SIGINT);
    CHECK(o.stop_timeout_ms == 300);
    CHECK(o.on_crash == hmr::crash_policy::restart);
    CHECK(o.poll_ms == std::optional<int>(40));
    CHECK(o.json);
    CHECK_FALSE(o.keys);
    CHECK_FALSE(o.gitignore);
    CHECK(o.default_ignores);
    CHECK(o.command == std::vector<std::string>{"./app", "x"});

    // The command line on top: its lists replace the file's, its command too.
    const auto merged = hmr::cli::parse_arguments({"-w", "lib", "-w", "include", "-d", "5", "--", "./other"}, o);
    REQUIRE(merged);
    CHECK(merged.parsed->watch == std::vector<std::string>{"lib", "include"});
    CHECK(merged.parsed->exclude == std::vector<std::string>{"gen/**"});
    CHECK(merged.parsed->debounce_ms == 5);
    CHECK(merged.parsed->build == "make");
    CHECK(merged.parsed->command == std::vector<std::string>{"./other"});
    // Without a command on the command line, the file's stays.
    const auto kept = hmr::cli::parse_arguments({"--clear"}, o);
    REQUIRE(kept);
    CHECK(kept.parsed->command == std::vector<std::string>{"./app", "x"});
  }
  SECTION("poll true means the default interval; false keeps inotify") {
    const auto on = config(R"({"poll": true})");
    REQUIRE(on);
    CHECK(on.parsed->poll_ms == std::optional<int>(250));
    const auto off = config(R"({"poll": false})");
    REQUIRE(off);
    CHECK_FALSE(off.parsed->poll_ms.has_value());
  }
  SECTION("errors name the file and the key") {
    struct row {
      std::string json;
      std::string message;
      std::string hint;
    };
    const row rows[] = {
        {R"({"wach": ["src"]})", file + ": unknown key 'wach'", "did you mean 'watch'?"},
        {R"({"help": true})", file + ": unknown key 'help'", "did you mean 'help'?"},
        {R"({"debounce": "fast"})", file + ": debounce must be an integer number of milliseconds, not string",
         "fix the value in " + file},
        {R"({"watch": 3})", file + ": watch must be a string or an array of strings, not integer", "fix the value in " + file},
        {R"({"json": "yes"})", file + ": json must be true or false, not string", "fix the value in " + file},
        {R"({"command": "./app"})", file + ": command must be an array of strings, not string", "fix the value in " + file},
        {R"({"on-crash": "never"})", "invalid value 'never' for 'on-crash' in " + file, "expected wait, restart or exit"},
        {R"(["src"])", file + ": the config must be a JSON object", R"(e.g. {"watch": ["src"], "build": "cmake --build build"})"},
        {"{\"watch\": [\"src\"],}", "", "fix the JSON (no comments, no trailing commas)"},
    };
    for (const row& r : rows) {
      CAPTURE(r.json);
      const auto result = config(r.json);
      REQUIRE_FALSE(result);
      if (r.message.empty()) {
        CHECK(result.error.message.rfind(file + ":1:", 0) == 0);  // file:line:column: ...
      } else {
        CHECK(result.error.message == r.message);
      }
      CHECK(result.error.hint == r.hint);
    }
  }
  SECTION("a missing file") {
    const auto r = hmr::cli::read_config((dir / "nope.json").string());
    REQUIRE_FALSE(r);
    CHECK(r.error.message == "cannot read config file '" + (dir / "nope.json").string() + "'");
  }
}

// =======================================================================================
// The binary: help, version, usage errors, fatal errors, --explain

TEST_CASE("hmr -h prints the help and hmr -V the version, exit 0", "[cli]") {
  temp_dir dir;
  for (const char* flag : {"-h", "--help"}) {
    hmr_run run(dir.path, {flag});
    CHECK(run_to_exit(run) == 0);
    CHECK(run.out() == std::string(hmr::cli::help_text));
    CHECK(run.err().empty());
  }
  for (const char* flag : {"-V", "--version"}) {
    hmr_run run(dir.path, {flag});
    CHECK(run_to_exit(run) == 0);
    CHECK(run.out() == "hmr " + std::string(hmr::version_string) + "\n");
    CHECK(run.err().empty());
  }
}

TEST_CASE("usage errors exit 2 with the problem and one 'hint:' line on stderr", "[cli]") {
  project dir;
  struct row {
    std::vector<std::string> args;
    std::string message;
    std::string hint;
  };
  const row rows[] = {
      {{"--wach", "src", "--", "./app.sh"}, "hmr: unknown option '--wach'",
       "hint: did you mean --watch? (hmr --help lists the options)"},
      {{"--debounce"}, "hmr: option --debounce needs a value", "hint: e.g. --debounce ... (hmr --help lists the options)"},
      {{"-d", "0", "--", "./app.sh"}, "hmr: invalid value '0' for -d",
       "hint: expected a positive number of milliseconds, e.g. --debounce 50"},
      {{"--on-crash", "sometimes", "--", "./app.sh"}, "hmr: invalid value 'sometimes' for --on-crash",
       "hint: expected wait, restart or exit"},
      {{"--signal", "NOPE", "--", "./app.sh"}, "hmr: invalid value 'NOPE' for --signal",
       "hint: expected a signal name or number, e.g. --signal INT"},
      {{"-i", "[", "--", "./app.sh"}, "hmr: hmr::glob: unclosed '[' at position 0 in pattern \"[\"",
       "hint: fix the glob given to --include or --exclude"},
      {{"--config", "missing.json", "--", "./app.sh"}, "hmr: cannot read config file 'missing.json'",
       "hint: check the path given to --config"},
  };
  for (const row& r : rows) {
    CAPTURE(r.args);
    hmr_run run(dir.path, r.args);
    CHECK(run_to_exit(run) == 2);
    CHECK(lines_of(run.err()) == std::vector<std::string>{r.message, r.hint});
    CHECK(run.out().empty());
  }
}

TEST_CASE("a watch path that does not exist or is a file is fatal: exit 1", "[cli]") {
  project dir;
  const std::pair<std::string, std::string> rows[] = {{"missing", "does not exist"}, {"app.sh", "is not a directory"}};
  for (const auto& [path, what] : rows) {
    hmr_run run(dir.path, {"-w", path, "--", "./app.sh"});
    CHECK(run_to_exit(run) == 1);
    CHECK(lines_of(run.err()) == std::vector<std::string>{"hmr: watch path '" + path + "' " + what,
                                                          "hint: give an existing directory to --watch"});
  }
}

TEST_CASE("--explain PATH prints the deciding rule and exits 0", "[cli][filters]") {
  temp_dir dir;
  write_file(dir / ".gitignore", "*.log\n");
  fs::create_directories(dir / "src");
  struct row {
    std::vector<std::string> flags;
    std::string path;
    std::string expected;
  };
  const row rows[] = {
      {{}, "src/a.cpp", R"("src/a.cpp" kept: no default ignore matched; no .gitignore rule matched)"},
      {{}, "src", R"("src" kept: no default ignore matched; no .gitignore rule matched)"},
      {{}, "build/x.o", R"("build/x.o" dropped: default ignore "build/" (build output directory) on parent directory "build"; pass --no-default-ignores to watch it)"},
      {{"--no-default-ignores"}, "build/x.o", R"("build/x.o" kept: no filters; no .gitignore rule matched)"},
      {{}, "src/a.swp", R"("src/a.swp" dropped: default ignore "*.swp" (vim swap file); pass --no-default-ignores to watch it)"},
      {{}, "x.log", R"("x.log" dropped: .gitignore rule "*.log" (.gitignore:1))"},
      {{"--no-gitignore"}, "x.log", R"("x.log" kept: no default ignore matched)"},
      {{"-e", "cpp,hpp"}, "src/a.txt", R"("src/a.txt" dropped: no include glob matched (include globs: **/*.cpp, **/*.hpp))"},
      {{"-e", "cpp,hpp"}, "src/a.hpp", R"("src/a.hpp" kept: matched include glob "**/*.hpp")"},
      {{"-i", "src/**"}, "lib/a.txt", R"("lib/a.txt" dropped: no include glob matched (include globs: src/**))"},
      {{"-x", "**/*.gen"}, "src/a.gen", R"("src/a.gen" dropped: exclude glob "**/*.gen")"},
  };
  for (const row& r : rows) {
    std::vector<std::string> args = r.flags;
    args.emplace_back("--explain");
    args.push_back(r.path);
    CAPTURE(args);
    hmr_run run(dir.path, args);
    CHECK(run_to_exit(run) == 0);
    CHECK(run.out() == r.expected + "\n");
    CHECK(run.err().empty());
  }
}

// =======================================================================================
// Running a program: JSON schema, environment, the flags

TEST_CASE("--json: every line is an event with its time; the child's HMR_* environment", "[cli][json]") {
  project dir;
  hmr_run run(dir.path, json_args());
  const std::size_t first = need(run, output_line(gen_line(1, "initial")), "generation 1");
  need(run, named("watching"), "watching");
  dir.touch("a.txt");
  need(run, output_line(gen_line(2, "change", "a.txt")), "generation 2", first);
  dir.touch("b.txt");
  need(run, output_line(gen_line(3, "change", "b.txt")), "generation 3", first);
  quit_cleanly(run);

  INFO(run.transcript());
  CHECK(run.bad_lines().empty());
  const auto& ev = run.events();
  REQUIRE(ev.size() >= 10);
  for (const json_value& e : ev) {
    CAPTURE(hmr::to_json(e));
    const auto& members = e.as_object();
    REQUIRE(members.size() >= 2);
    CHECK(members[0].first == "event");
    CHECK(members[1].first == "time");
    CHECK(is_json_time(text(e, "time")));
    const std::string n = name_of(e);
    CHECK((n == "watching" || n == "change" || n == "process_start" || n == "process_exit" ||
           n == "output" || n == "stopped"));
  }
  for (std::size_t i = 1; i < ev.size(); ++i) CHECK(micros(ev[i - 1]) <= micros(ev[i]));

  const json_value& watching = ev[need(run, named("watching"), "watching")];
  CHECK(number(watching, "schema") == 1);
  CHECK(strings(watching, "roots") == std::vector<std::string>{"src"});
  CHECK(text(watching, "backend") == "inotify");
  CHECK(number(watching, "directories") == 1);
  const json_value* startup = watching.find("startup_ms");
  CHECK((startup != nullptr && startup->is_number()));

  const std::size_t s1 = need(run, named("process_start"), "start 1");
  CHECK(number(ev[s1], "cycle") == 1);
  CHECK(strings(ev[s1], "command") == std::vector<std::string>{"./app.sh"});
  CHECK(text(ev[s1], "reason") == "initial start");
  const std::int64_t pid1 = number(ev[s1], "pid");
  CHECK(pid1 > 0);

  const std::size_t c1 = need(run, named("change"), "change 1");
  CHECK(changed(ev[c1]) == std::vector<std::string>{"a.txt"});
  CHECK(ev[c1].find("changes")->as_array()[0].get_string_or("kind", "") == "created");
  CHECK_FALSE(text(ev[c1], "reason").empty());
  const std::size_t x1 = need(run, named("process_exit"), "exit 1", c1);
  CHECK(number(ev[x1], "pid") == pid1);
  CHECK(text(ev[x1], "cause") == "stopped");
  CHECK(is_null(ev[x1], "code"));
  CHECK(text(ev[x1], "signal") == "SIGTERM");
  const std::size_t s2 = need(run, named("process_start"), "start 2", x1);
  CHECK(number(ev[s2], "cycle") == 2);
  CHECK(text(ev[s2], "reason") == "a.txt created");
  CHECK(number(ev[s2], "pid") != pid1);

  CHECK(count(run, named("process_start")) == 3);
  CHECK(count(run, named("watching")) == 1);
  // The last program is stopped before the final line.
  REQUIRE(name_of(ev.back()) == "stopped");
  CHECK(text(ev.back(), "reason") == "interrupted (SIGTERM)");
  CHECK(number(ev.back(), "exit_code") == 0);
  CHECK(name_of(ev[ev.size() - 2]) == "process_exit");
  CHECK(text(ev[ev.size() - 2], "cause") == "stopped");
}

// The initial cycle waits for the watcher's ready notice: `watching` is the first line even
// on a tree that takes a moment to scan (docs/json-lines.md).
TEST_CASE("the first JSON line is 'watching', also for a large tree", "[cli][json]") {
  project dir;
  for (int i = 0; i < 3000; ++i) fs::create_directories(dir.path / "src" / ("d" + std::to_string(i)) / "a");
  hmr_run run(dir.path, json_args());
  need(run, named("watching"), "watching");
  need(run, named("process_start"), "process_start");
  INFO(run.transcript());
  CHECK(name_of(run.events().front()) == "watching");
  CHECK(run.wait_for(named("process_start")) > run.wait_for(named("watching")));
  quit_cleanly(run);
}

TEST_CASE("-w: several roots; paths are relative to their root; other paths ignored", "[cli][filters]") {
  project dir;
  fs::create_directories(dir.path / "lib");
  std::vector<std::string> args = json_args({"-w", "lib"});
  hmr_run run(dir.path, args);
  const std::size_t w = need(run, named("watching"), "watching");
  CHECK(strings(run.events()[w], "roots") == std::vector<std::string>{"src", "lib"});
  CHECK(number(run.events()[w], "directories") == 2);
  need(run, output_line(gen_line(1, "initial")), "generation 1");
  write_file(dir / "outside.txt", "x");  // in the working directory, not watched
  write_file(dir / "lib" / "b.txt", "x");
  const std::size_t c = need(run, named("change"), "a change");
  CHECK(changed(run.events()[c]) == std::vector<std::string>{"b.txt"});
  need(run, output_line(gen_line(2, "change", "b.txt")), "generation 2");
  dir.touch("a.txt");
  need(run, output_line(gen_line(3, "change", "a.txt")), "generation 3");
  quit_cleanly(run);
}

TEST_CASE("-e, -i, -x, --no-default-ignores, --no-gitignore decide which changes count", "[cli][filters]") {
  // A change to `dropped` then one to `kept`: inotify reports them in that order, so had
  // `dropped` counted, it would be in the batch of `kept` or in an earlier one.
  struct row {
    std::vector<std::string> flags;
    std::string dropped;
    std::string kept;
    bool dropped_counts;
  };
  const row rows[] = {
      {{"-e", "cpp,hpp"}, "notes.txt", "a.hpp", false},
      {{"-i", "**/*.cpp"}, "notes.txt", "a.cpp", false},
      {{"-x", "**/*.gen"}, "out.gen", "a.cpp", false},
      {{}, "out.gen", "a.cpp", true},
      {{}, "build/x.o", "a.cpp", false},
      {{"--no-default-ignores"}, "build/x.o", "a.cpp", true},
      {{}, "trace.log", "a.cpp", false},
      {{"--no-gitignore"}, "trace.log", "a.cpp", true},
  };
  for (const row& r : rows) {
    CAPTURE(r.flags, r.dropped, r.dropped_counts);
    project dir;
    fs::create_directories(dir.path / "src" / "build");
    dir.touch(".gitignore", "*.log\n");
    hmr_run run(dir.path, json_args(r.flags));
    need(run, output_line(gen_line(1, "initial")), "generation 1");
    need(run, named("watching"), "watching");
    dir.touch(r.dropped);
    dir.touch(r.kept);
    const std::size_t last = need(run, change_of(r.kept), "the change of " + r.kept);
    std::vector<std::string> seen;
    for (std::size_t i = 0; i <= last; ++i) {
      if (name_of(run.events()[i]) != "change") continue;
      for (const auto& p : changed(run.events()[i])) seen.push_back(p);
    }
    std::sort(seen.begin(), seen.end());
    std::vector<std::string> expected{r.kept};
    if (r.dropped_counts) expected.push_back(r.dropped);
    std::sort(expected.begin(), expected.end());
    CHECK(seen == expected);
    quit_cleanly(run);
  }
}

TEST_CASE("-d: a burst within the quiet window is one batch, one restart", "[cli]") {
  project dir;
  hmr_run run(dir.path, json_args({"-d", "400"}));
  need(run, output_line(gen_line(1, "initial")), "generation 1");
  need(run, named("watching"), "watching");
  dir.touch("a.txt");
  dir.touch("b.txt");
  const std::size_t c = need(run, named("change"), "the change");
  CHECK(changed(run.events()[c]) == std::vector<std::string>{"a.txt", "b.txt"});
  need(run, output_line(gen_line(2, "change", "a.txt,b.txt")), "generation 2");
  const std::size_t s = need(run, named("process_start"), "start 2", c);
  CHECK(text(run.events()[s], "reason") == "a.txt and 1 more changed");
  quit_cleanly(run);
  CHECK(count(run, named("change")) == 1);
}

TEST_CASE("-b: the build runs before each start; a failed build keeps the program", "[cli][build]") {
  project dir;
  write_file(dir / "build.sh",
             "echo compiling\n"
             "if grep -q broken src/code.cpp; then\n"
             "  echo \"src/code.cpp:3:5: error: expected ';' before '}' token\" >&2\n"
             "  exit 1\n"
             "fi\n");
  dir.touch("code.cpp", "fine\n");
  hmr_run run(dir.path, json_args({"-b", "sh build.sh"}));
  const auto& ev = run.events();
  const std::size_t b1 = need(run, cycle_event("build_start", 1), "build 1");
  CHECK(strings(ev[b1], "command") == std::vector<std::string>{"/bin/sh", "-c", "sh build.sh"});
  const std::size_t o1 = need(run, output_line("compiling"), "build output", b1);
  CHECK(text(ev[o1], "source") == "build");
  CHECK(text(ev[o1], "stream") == "stdout");
  const std::size_t e1 = need(run, cycle_event("build_end", 1), "build 1 end", b1);
  CHECK(ev[e1].get_bool_or("success", false));
  CHECK(number(ev[e1], "code") == 0);
  const std::size_t s1 = need(run, named("process_start"), "start 1", e1);
  const std::int64_t pid1 = number(ev[s1], "pid");
  need(run, output_line(gen_line(1, "initial")), "generation 1");
  need(run, named("watching"), "watching");

  dir.touch("code.cpp", "broken\n");
  const std::size_t e2 = need(run, cycle_event("build_end", 2), "the failed build");
  CHECK_FALSE(ev[e2].get_bool_or("success", true));
  CHECK_FALSE(ev[e2].get_bool_or("cancelled", true));
  CHECK(number(ev[e2], "code") == 1);
  CHECK(is_null(ev[e2], "signal"));
  const json_value* diagnostics = ev[e2].find("diagnostics");
  REQUIRE(diagnostics != nullptr);
  REQUIRE(diagnostics->is_array());
  REQUIRE(diagnostics->as_array().size() == 1);
  const json_value& d = diagnostics->as_array()[0];
  CHECK(text(d, "file") == (fs::canonical(dir.path) / "src/code.cpp").string());  // absolute
  CHECK(number(d, "line") == 3);
  CHECK(number(d, "column") == 5);
  CHECK(text(d, "severity") == "error");
  CHECK(text(d, "message") == "expected ';' before '}' token");
  const std::size_t stderr_line = need(run, output_line("src/code.cpp:3:5: error: expected ';' before '}' token"), "the error line");
  CHECK(text(ev[stderr_line], "stream") == "stderr");
  CHECK(stderr_line < e2);
  // The program of generation 1 still runs.
  CHECK(count(run, named("process_exit")) == 0);
  CHECK(count(run, named("process_start")) == 1);
  CHECK_FALSE(not_running(static_cast<int>(pid1)));

  dir.touch("code.cpp", "fixed\n");
  const std::size_t e3 = need(run, cycle_event("build_end", 3), "the fixed build");
  CHECK(ev[e3].get_bool_or("success", false));
  const std::size_t x = need(run, named("process_exit"), "the old program's exit", e3);
  CHECK(number(ev[x], "pid") == pid1);
  CHECK(text(ev[x], "cause") == "stopped");
  const std::size_t s3 = need(run, cycle_event("process_start", 3), "start 3", x);
  CHECK(text(ev[s3], "reason") == "code.cpp changed");
  need(run, output_line(gen_line(2, "change", "code.cpp")), "generation 2");
  quit_cleanly(run);
}

TEST_CASE("--shell runs COMMAND through /bin/sh -c; without it argv is exec'd as given", "[cli]") {
  project dir;
  {
    const std::string script = "echo \"shell gen $HMR_GENERATION\"; exec sleep 1000";
    hmr_run run(dir.path, json_args({"--shell"}, {script}));
    need(run, output_line("shell gen 1"), "the shell's output");
    const std::size_t s = need(run, named("process_start"), "start");
    CHECK(strings(run.events()[s], "command") == std::vector<std::string>{"/bin/sh", "-c", script});
    quit_cleanly(run);
  }
  {
    hmr_run run(dir.path, json_args({}, {"/bin/echo", "$HMR_GENERATION", "two words"}));
    need(run, output_line("$HMR_GENERATION two words"), "echo's output, unexpanded");
    const std::size_t s = need(run, named("process_start"), "start");
    CHECK(strings(run.events()[s], "command") == std::vector<std::string>{"/bin/echo", "$HMR_GENERATION", "two words"});
    const std::size_t x = need(run, named("process_exit"), "echo's exit");
    CHECK(text(run.events()[x], "cause") == "exited");
    CHECK(number(run.events()[x], "code") == 0);
    quit_cleanly(run);
  }
}

// `hmr --shell -- echo a b`: COMMAND's words are joined into one shell string.
TEST_CASE("--shell with a command of several words runs them as one shell string", "[cli]") {
  project dir;
  hmr_run run(dir.path, json_args({"--shell"}, {"echo", "several", "words"}));
  const std::size_t found = run.wait_for(output_line("several words"));
  INFO(run.transcript());
  CHECK(found != npos);
  run.signal(SIGTERM);
  const auto code = run.wait_exit();
  REQUIRE(code.has_value());
  CHECK(*code == 0);
}

TEST_CASE("--signal: the program is stopped with the chosen signal", "[cli][stop]") {
  const auto [flag, expected] = GENERATE(values<std::pair<std::string, std::string>>(
      {{"", "got TERM"}, {"INT", "got INT"}, {"SIGUSR1", "got USR1"}, {"10", "got USR1"}}));
  CAPTURE(flag);
  project dir;
  write_file(dir / "trap.sh",
             "#!/bin/sh\n"
             "for s in INT TERM USR1; do trap \"echo got $s; kill \\$! 2>/dev/null; exit 0\" $s; done\n"
             "echo \"ready $HMR_GENERATION\"\n"
             "sleep 1000 &\n"
             "wait\n",
             true);
  std::vector<std::string> extra{"--stop-timeout", "3000"};
  if (!flag.empty()) {
    extra.emplace_back("--signal");
    extra.push_back(flag);
  }
  hmr_run run(dir.path, json_args(extra, {"./trap.sh"}));
  need(run, output_line("ready 1"), "generation 1");
  need(run, named("watching"), "watching");
  const std::size_t s1 = need(run, named("process_start"), "start 1");
  dir.touch("a.txt");
  const std::size_t got = need(run, named_with("output", "line", expected), expected);
  const std::size_t x = need(run, named("process_exit"), "exit 1");
  CHECK(got < x);
  CHECK(number(run.events()[x], "pid") == number(run.events()[s1], "pid"));
  CHECK(text(run.events()[x], "cause") == "stopped");
  CHECK(number(run.events()[x], "code") == 0);  // the trap's exit
  need(run, output_line("ready 2"), "generation 2");
  quit_cleanly(run);
  CHECK(count(run, [](const json_value& e) { return name_of(e) == "output" && text(e, "line").rfind("got ", 0) == 0; }) == 2);
}

TEST_CASE("--stop-timeout: a program that ignores the stop signal gets SIGKILL after it", "[cli][stop]") {
  project dir;
  write_file(dir / "stubborn.sh",
             "#!/bin/sh\n"
             "trap '' TERM\n"
             "echo \"stubborn $HMR_GENERATION\"\n"
             "exec sleep 1000\n",
             true);
  hmr_run run(dir.path, json_args({"--stop-timeout", "300"}, {"./stubborn.sh"}));
  need(run, output_line("stubborn 1"), "generation 1");
  need(run, named("watching"), "watching");
  dir.touch("a.txt");
  const auto& ev = run.events();
  const std::size_t c = need(run, named("change"), "the change");
  const std::size_t x = need(run, named("process_exit"), "exit 1", c);
  CHECK(text(ev[x], "cause") == "stopped");
  CHECK(is_null(ev[x], "code"));
  CHECK(text(ev[x], "signal") == "SIGKILL");
  CHECK(micros(ev[x]) - micros(ev[c]) >= 300'000);  // it had its grace period
  need(run, output_line("stubborn 2"), "generation 2");
  quit_cleanly(run);
}

TEST_CASE("--on-crash wait | restart | exit", "[cli][crash]") {
  project dir;
  write_file(dir / "crash.sh",
             "#!/bin/sh\n"
             "echo \"start $HMR_GENERATION $HMR_REASON\"\n"
             "[ \"$HMR_GENERATION\" = 1 ] && exit 3\n"
             "exec sleep 1000\n",
             true);

  SECTION("wait: nothing happens until the next change") {
    hmr_run run(dir.path, json_args({"--on-crash", "wait"}, {"./crash.sh"}));
    need(run, named("watching"), "watching");
    const std::size_t x = need(run, named("process_exit"), "the crash");
    CHECK(text(run.events()[x], "cause") == "exited");
    CHECK(number(run.events()[x], "code") == 3);
    CHECK(run.wait_for(named("process_start"), x, quiet_period) == npos);
    dir.touch("a.txt");
    need(run, output_line("start 2 change"), "generation 2 after a change");
    quit_cleanly(run);
  }
  SECTION("restart: started again after the backoff") {
    hmr_run run(dir.path, json_args({"--on-crash", "restart"}, {"./crash.sh"}));
    const std::size_t x = need(run, named("process_exit"), "the crash");
    CHECK(number(run.events()[x], "code") == 3);
    const std::size_t s = need(run, named("process_start"), "the restart", x);
    CHECK(text(run.events()[s], "reason") == "restart after a crash (after 500 ms)");
    CHECK(micros(run.events()[s]) - micros(run.events()[x]) >= 500'000);
    need(run, output_line("start 2 crash"), "generation 2 with HMR_REASON crash");
    quit_cleanly(run);
  }
  SECTION("exit: hmr exits with the program's status") {
    const auto [script, code, reason] = GENERATE(values<std::tuple<std::string, int, std::string>>(
        {{"exit 7", 7, "the program ended with exit code 7 (on-crash exit)"},
         {"exit 0", 0, "the program ended with exit code 0 (on-crash exit)"},
         {"kill -USR1 $$", 128 + SIGUSR1, "the program ended with SIGUSR1 (on-crash exit)"}}));
    CAPTURE(script);
    write_file(dir / "end.sh", "#!/bin/sh\necho ending\n" + script + "\n", true);
    hmr_run run(dir.path, json_args({"--on-crash", "exit"}, {"./end.sh"}));
    CHECK(run_to_exit(run) == code);
    INFO(run.transcript());
    REQUIRE_FALSE(run.events().empty());
    const json_value& last = run.events().back();
    CHECK(name_of(last) == "stopped");
    CHECK(text(last, "reason") == reason);
    CHECK(number(last, "exit_code") == code);
  }
}

namespace {
/// Lets build number `n` of gated.sh finish (it waits, reading its FIFO).
void open_gate(const fs::path& dir, int n) {
  const std::string fifo = (dir / ("gate" + std::to_string(n))).string();
  const auto deadline = steady::now() + patience;
  int fd = -1;
  // ENXIO: no reader yet; the build is about to open it.
  while ((fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0 && errno == ENXIO &&
         steady::now() < deadline) {
    ::sched_yield();
  }
  INFO("opening " << fifo << ": " << (fd < 0 ? std::strerror(errno) : "ok"));
  REQUIRE(fd >= 0);
  CHECK(::write(fd, "go\n", 3) == 3);
  ::close(fd);
}
}  // namespace

TEST_CASE("--on-busy: a change during a build queues one more cycle or cancels it", "[cli][build]") {
  project dir;
  for (int n = 1; n <= 4; ++n) REQUIRE(::mkfifo((dir / ("gate" + std::to_string(n))).c_str(), 0600) == 0);
  write_file(dir / "count", "0\n");
  write_file(dir / "gated.sh",
             "n=$(( $(cat count) + 1 )); echo $n > count\n"
             "echo \"build $n\"\n"
             "read go < gate$n\n"
             "echo \"built $n\"\n");
  const std::string policy = GENERATE(as<std::string>{}, "queue", "restart");
  CAPTURE(policy);
  hmr_run run(dir.path, json_args({"-b", "sh gated.sh", "--on-busy", policy}));
  const auto& ev = run.events();
  need(run, output_line("build 1"), "build 1");
  open_gate(dir.path, 1);
  need(run, output_line(gen_line(1, "initial")), "generation 1");
  need(run, named("watching"), "watching");
  dir.touch("a.txt");
  need(run, output_line("build 2"), "build 2");
  dir.touch("b.txt");
  need(run, change_of("b.txt"), "the change during the build");
  if (policy == "queue") {
    open_gate(dir.path, 2);
    const std::size_t e2 = need(run, cycle_event("build_end", 2), "build 2 end");
    CHECK(ev[e2].get_bool_or("success", false));
    CHECK_FALSE(ev[e2].get_bool_or("cancelled", true));
    need(run, output_line(gen_line(2, "change", "a.txt")), "generation 2");
    need(run, output_line("build 3"), "build 3");
    open_gate(dir.path, 3);
    need(run, output_line(gen_line(3, "change", "b.txt")), "generation 3");
  } else {
    const std::size_t e2 = need(run, cycle_event("build_end", 2), "build 2 cancelled");
    CHECK(ev[e2].get_bool_or("cancelled", false));
    CHECK_FALSE(ev[e2].get_bool_or("success", true));
    CHECK(text(ev[e2], "signal") == "SIGTERM");
    need(run, output_line("build 3"), "build 3");
    open_gate(dir.path, 3);
    const std::size_t s = need(run, cycle_event("process_start", 3), "start 3");
    CHECK(text(ev[s], "reason") == "a.txt and 1 more changed");
    need(run, output_line(gen_line(2, "change", "a.txt,b.txt")), "generation 2");
    CHECK(count(run, output_line("built 2")) == 0);
  }
  quit_cleanly(run);
}

TEST_CASE("--poll and --poll=MS use the polling backend", "[cli][watch]") {
  const std::string flag = GENERATE(as<std::string>{}, "--poll", "--poll=40");
  CAPTURE(flag);
  project dir;
  hmr_run run(dir.path, json_args({flag}));
  const std::size_t w = need(run, named("watching"), "watching");
  CHECK(text(run.events()[w], "backend") == "poll");
  need(run, output_line(gen_line(1, "initial")), "generation 1");
  dir.touch("new.txt");
  const std::size_t c = need(run, named("change"), "the change");
  CHECK(changed(run.events()[c]) == std::vector<std::string>{"new.txt"});
  need(run, output_line(gen_line(2, "change", "new.txt")), "generation 2");
  quit_cleanly(run);
}

TEST_CASE("--postpone: nothing starts before the first change", "[cli]") {
  project dir;
  hmr_run run(dir.path, json_args({"--postpone"}));
  need(run, named("watching"), "watching");
  dir.touch("a.txt");
  const std::size_t c = need(run, named("change"), "the change");
  const std::size_t s = need(run, named("process_start"), "the first start");
  CHECK(s > c);
  CHECK(text(run.events()[s], "reason") == "initial start");
  need(run, output_line(gen_line(1, "initial", "a.txt")), "generation 1");
  quit_cleanly(run);
  CHECK(count(run, named("process_start")) == 1);
}

TEST_CASE("--config FILE and ./hmr.json: read, overridden by flags, checked", "[cli][config]") {
  project dir;
  const std::string good = R"({"watch": "src", "debounce": 20, "json": true, "no-keys": true, "command": ["./app.sh"]})";

  SECTION("./hmr.json is read when present") {
    write_file(dir / "hmr.json", good);
    hmr_run run(dir.path, {});
    const std::size_t w = need(run, named("watching"), "watching");
    CHECK(strings(run.events()[w], "roots") == std::vector<std::string>{"src"});
    need(run, output_line(gen_line(1, "initial")), "generation 1");
    quit_cleanly(run);
  }
  SECTION("flags override the file") {
    write_file(dir / "hmr.json", R"({"watch": ["nowhere"], "json": true, "no-keys": true, "command": ["./missing"]})");
    fs::create_directories(dir.path / "lib");
    hmr_run run(dir.path, {"-w", "lib", "--", "./app.sh"});
    const std::size_t w = need(run, named("watching"), "watching");
    CHECK(strings(run.events()[w], "roots") == std::vector<std::string>{"lib"});
    need(run, output_line(gen_line(1, "initial")), "generation 1");
    quit_cleanly(run);
  }
  SECTION("--config FILE replaces ./hmr.json") {
    write_file(dir / "hmr.json", R"({"wach": "src"})");
    write_file(dir / "conf" / "dev.json", good);
    hmr_run run(dir.path, {"--config", "conf/dev.json"});
    need(run, output_line(gen_line(1, "initial")), "generation 1");
    quit_cleanly(run);
  }
  SECTION("an unknown key, a wrong type or bad JSON: exit 2 naming it") {
    struct row {
      std::string json;
      std::string message;
      std::string hint;
    };
    const row rows[] = {
        {R"({"wach": "src", "command": ["./app.sh"]})", "hmr: hmr.json: unknown key 'wach'", "hint: did you mean 'watch'?"},
        {R"({"debounce": "fast", "command": ["./app.sh"]})",
         "hmr: hmr.json: debounce must be an integer number of milliseconds, not string", "hint: fix the value in hmr.json"},
        {R"({"no-keys": 1, "command": ["./app.sh"]})", "hmr: hmr.json: no-keys must be true or false, not integer",
         "hint: fix the value in hmr.json"},
        {"{\"watch\": \"src\",}", "", "hint: fix the JSON (no comments, no trailing commas)"},
    };
    for (const row& r : rows) {
      CAPTURE(r.json);
      write_file(dir / "hmr.json", r.json);
      hmr_run run(dir.path, {});
      CHECK(run_to_exit(run) == 2);
      const auto lines = lines_of(run.err());
      REQUIRE(lines.size() == 2);
      if (r.message.empty()) {
        CHECK(lines[0].rfind("hmr: hmr.json:1:", 0) == 0);
      } else {
        CHECK(lines[0] == r.message);
      }
      CHECK(lines[1] == r.hint);
    }
  }
}

// =======================================================================================
// Quitting, keys and the terminal

TEST_CASE("q, Ctrl-C, SIGINT and SIGTERM quit with 0 and leave nothing of the program's tree", "[cli][stop]") {
  const std::string how = GENERATE(as<std::string>{}, "q", "ctrl-c", "SIGINT", "SIGTERM");
  CAPTURE(how);
  project dir;
  // A grandchild in the program's group and one that left it with setsid.
  write_file(dir / "tree.sh",
             "#!/bin/sh\n"
             "sleep 1000 &\n"
             "a=$!\n"
             "setsid sleep 1000 &\n"
             "echo \"pids $$ $a $!\"\n"
             "wait\n",
             true);
  const bool on_terminal = how == "q" || how == "ctrl-c";
  std::vector<std::string> args = json_args({}, {"./tree.sh"});
  if (on_terminal) args.erase(std::find(args.begin(), args.end(), "--no-keys"));
  hmr_run run(dir.path, args, on_terminal ? terminal::input : terminal::none);
  const std::size_t o = need(run, [](const json_value& e) { return name_of(e) == "output" && text(e, "line").rfind("pids ", 0) == 0; }, "the pids");
  need(run, named("watching"), "watching");
  int pids[3] = {0, 0, 0};
  REQUIRE(std::sscanf(text(run.events()[o], "line").c_str(), "pids %d %d %d", &pids[0], &pids[1], &pids[2]) == 3);
  for (const int pid : pids) CHECK_FALSE(not_running(pid));

  if (how == "q") run.type("q");
  if (how == "ctrl-c") run.type("\x03");  // the terminal sends SIGINT to hmr's group
  if (how == "SIGINT") run.signal(SIGINT);
  if (how == "SIGTERM") run.signal(SIGTERM);
  const auto code = run.wait_exit();
  INFO(run.transcript());
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  REQUIRE_FALSE(run.events().empty());
  const json_value& last = run.events().back();
  CHECK(name_of(last) == "stopped");
  CHECK(text(last, "reason") == (how == "q" ? "quit" : how == "SIGTERM" ? "interrupted (SIGTERM)" : "interrupted (SIGINT)"));
  if (on_terminal) CHECK(same_mode(run.initial_mode(), run.pty().mode()));
  for (const int pid : pids) {
    INFO(describe_process(pid));
    CHECK(not_running(pid));
    if (!not_running(pid)) ::kill(pid, SIGKILL);  // a failure must not leak it
  }
}

TEST_CASE("interactive keys through a terminal: R, b, r, c, h, p, q; the mode is restored", "[cli][keys]") {
  project dir;
  std::vector<std::string> args = json_args({"-b", "echo building"});
  args.erase(std::find(args.begin(), args.end(), "--no-keys"));
  hmr_run run(dir.path, args, terminal::input);
  const termios before = run.initial_mode();
  const auto& ev = run.events();
  std::size_t s = need(run, named("process_start"), "start 1");
  need(run, output_line(gen_line(1, "initial")), "generation 1");
  need(run, named("watching"), "watching");  // the keys are read by then
  {
    const termios raw = run.pty().mode();
    CHECK((raw.c_lflag & ICANON) == 0);
    CHECK((raw.c_lflag & ECHO) == 0);
    CHECK((raw.c_lflag & ISIG) != 0);  // Ctrl-C still interrupts
  }

  run.type("h");
  CHECK(run.wait_text("err", "[hmr] keys: r reload  R restart  b rebuild  c clear  p pause  q quit  h help\n"));

  run.type("R");  // restart without building
  const std::size_t s2 = need(run, cycle_event("process_start", 2), "the manual restart", s);
  CHECK(text(ev[s2], "reason") == "manual restart");
  CHECK(count(run, named("build_start"), s, s2) == 0);
  need(run, output_line(gen_line(2, "manual")), "generation 2");
  s = s2;

  {  // b: build, then restart
    const std::size_t builds = count(run, named("build_start"));
    run.type("b");
    const std::size_t next = need(run, cycle_event("process_start", 3), "the manual rebuild", s + 1);
    CHECK(text(ev[next], "reason") == "manual rebuild");
    CHECK(count(run, named("build_start"), s, next) == 1);
    CHECK(count(run, named("build_start")) == builds + 1);
    s = next;
  }
  {  // r: reload; without --reload there is nothing to reload, so it restarts without building
    run.type("r");
    const std::size_t next = need(run, cycle_event("process_start", 4), "the manual reload", s + 1);
    CHECK(text(ev[next], "reason") == "manual restart");
    CHECK(count(run, named("build_start"), s, next) == 0);
    s = next;
  }
  need(run, output_line(gen_line(4, "manual")), "generation 4");

  run.type("c");
  CHECK(run.wait_text("err", "\x1b[H\x1b[2J"));

  run.type("p");
  CHECK(run.wait_text("err", "[hmr] paused: changes are ignored (p resumes)\n"));
  const std::size_t paused_at = ev.size();
  dir.touch("while_paused.txt");
  CHECK(run.wait_for(named("change"), paused_at, quiet_period) == npos);
  run.type("p");
  CHECK(run.wait_text("err", "[hmr] resumed\n"));
  dir.touch("after.txt");
  const std::size_t c = need(run, named("change"), "the change after resuming", paused_at);
  CHECK(changed(ev[c]) == std::vector<std::string>{"after.txt"});
  need(run, output_line(gen_line(5, "change", "after.txt")), "generation 5");

  run.type("q");
  const auto code = run.wait_exit();
  INFO(run.transcript());
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(text(ev.back(), "reason") == "quit");
  const termios after = run.pty().mode();
  CHECK(same_mode(before, after));
  CHECK((after.c_lflag & ICANON) != 0);
  CHECK((after.c_lflag & ECHO) != 0);
}

TEST_CASE("--no-keys: the terminal is left alone and keys do nothing", "[cli][keys]") {
  project dir;
  hmr_run run(dir.path, json_args(), terminal::input);
  const termios before = run.initial_mode();
  need(run, output_line(gen_line(1, "initial")), "generation 1");
  need(run, named("watching"), "watching");
  CHECK(same_mode(before, run.pty().mode()));
  run.type("q");
  quit_cleanly(run);
  CHECK(text(run.events().back(), "reason") == "interrupted (SIGTERM)");
}

TEST_CASE("--clear: the ANSI presenter clears the terminal when a change starts a cycle", "[cli][ansi]") {
  const bool clear = GENERATE(true, false);
  CAPTURE(clear);
  project dir;
  std::vector<std::string> args{"--no-keys", "-d", "20", "-w", "src"};
  if (clear) args.emplace_back("--clear");
  args.insert(args.end(), {"--", "./app.sh"});
  hmr_run run(dir.path, args, terminal::all);
  CHECK(run.wait_text("term", gen_line(1, "initial")));
  CHECK(run.wait_text("term", "watching"));
  dir.touch("a.txt");
  CHECK(run.wait_text("term", gen_line(2, "change", "a.txt")));
  quit_cleanly(run);
  INFO(visible(run.term()));
  const std::string_view screen = run.term();
  const std::string_view clear_screen = "\x1b[H\x1b[2J";
  if (clear) {
    REQUIRE(occurrences(screen, clear_screen) == 1);
    const auto at = screen.find(clear_screen);
    CHECK(at > screen.find(gen_line(1, "initial")));
    CHECK(at < screen.find(gen_line(2, "change", "a.txt")));
  } else {
    CHECK(occurrences(screen, clear_screen) == 0);
  }
  CHECK(run.out().empty());  // everything went to the terminal
}

// =======================================================================================
// Zero configuration: a CMake project

namespace {
std::string main_source(const std::string& line) {
  return "#include <cstdio>\nint main() {\n  std::puts(\"" + line + "\");\n  return 0;\n}\n";
}
}  // namespace

TEST_CASE("zero configuration: hmr in a CMake project builds and runs its executable", "[cli][cmake]") {
  temp_dir dir;
  {  // no CMakeLists.txt and no command
    fs::create_directories(dir.path / "empty");
    hmr_run run(dir.path / "empty", {"--json"});
    CHECK(run_to_exit(run) == 2);
    const auto lines = lines_of(run.err());
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].rfind("hmr: no command to run: no CMakeLists.txt in ", 0) == 0);
    CHECK(lines[1] == "hint: give one (hmr -- ./app), or run hmr in a configured CMake project");
  }
  const fs::path p = dir.path / "p";
  write_file(p / "CMakeLists.txt", "cmake_minimum_required(VERSION 3.14)\nproject(p CXX)\nadd_executable(app main.cpp)\n");
  write_file(p / "main.cpp", main_source("version 1"));
  {  // not configured yet
    hmr_run run(p, {"--json"});
    CHECK(run_to_exit(run) == 2);
    CHECK(run.err().find("cmake -S . -B build") != std::string::npos);
  }
  const auto [configured, log] = run_command(hmr_test::with_cmake_generator({"cmake", "-S", "p", "-B", "p/build"}), dir.path);
  INFO(log);
  REQUIRE(configured == 0);
  const std::string app = fs::canonical(p / "build").string() + "/app";

  {
    hmr_run run(p, {"--json", "--no-keys", "-d", "20"});
    const auto& ev = run.events();
    const std::size_t b = need(run, cycle_event("build_start", 1), "the build");
    const auto command = strings(ev[b], "command");
    REQUIRE(command.size() == 3);
    CHECK(command[0] == "/bin/sh");
    CHECK(command[2].find("'--build' '" + fs::canonical(p / "build").string() + "' '--target' 'app'") != std::string::npos);
    const std::size_t e = need(run, cycle_event("build_end", 1), "the build's end");
    CHECK(ev[e].get_bool_or("success", false));
    const std::size_t s = need(run, cycle_event("process_start", 1), "the start");
    CHECK(strings(ev[s], "command") == std::vector<std::string>{app});
    need(run, output_line("version 1"), "version 1");
    need(run, named("watching"), "watching");
    write_file(p / "main.cpp", main_source("version 2"));
    const std::size_t c = need(run, named("change"), "the change");
    CHECK(changed(ev[c]) == std::vector<std::string>{"main.cpp"});
    const std::size_t e2 = need(run, cycle_event("build_end", 2), "the rebuild", c);
    CHECK(ev[e2].get_bool_or("success", false));
    const std::size_t s2 = need(run, cycle_event("process_start", 2), "the restart", e2);
    CHECK(text(ev[s2], "reason") == "main.cpp changed");
    // From the build's end: the program's first line may come before its process_start
    // (see the report: output is emitted by the reader thread, process_start after spawn).
    need(run, output_line("version 2"), "version 2", e2);
    quit_cleanly(run);
    CHECK(count(run, named("change")) == 1);  // the build's own files did not retrigger it
  }

  // A second executable: hmr asks which one (it reconfigures the stale build itself).
  write_file(p / "CMakeLists.txt",
             "cmake_minimum_required(VERSION 3.14)\nproject(p CXX)\nadd_executable(app main.cpp)\n"
             "add_executable(tool tool.cpp)\n");
  write_file(p / "tool.cpp", main_source("tool 1"));
  {
    hmr_run run(p, {"--json", "--no-keys"});
    CHECK(run_to_exit(run) == 2);
    const auto lines = lines_of(run.err());
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].find("2 executables in ") != std::string::npos);
    CHECK(lines[0].find("app, tool") != std::string::npos);
    CHECK(lines[1] == "hint: hmr --target NAME picks one");
  }
  {
    hmr_run run(p, {"--json", "--no-keys", "-d", "20", "--target", "tool"});
    const std::size_t s = need(run, cycle_event("process_start", 1), "the start");
    CHECK(strings(run.events()[s], "command") == std::vector<std::string>{fs::canonical(p / "build").string() + "/tool"});
    need(run, output_line("tool 1"), "tool 1");
    quit_cleanly(run);
  }
}

// =======================================================================================
// Hot reload: --reload, --restart-on, --cold (the hybrid strategy)

TEST_CASE("parse_arguments and read_config: --reload, --restart-on, --cold", "[cli][options][reload]") {
  const auto o = hmr::cli::parse_arguments({"--reload", "build/liba.so", "--reload=b.so", "--restart-on", "src/main.cpp",
                                            "--restart-on", "/include/**", "--cold", "./app"});
  INFO(o.error.message);
  REQUIRE(o);
  CHECK(o.parsed->reload == std::vector<std::string>{"build/liba.so", "b.so"});
  CHECK(o.parsed->restart_on == std::vector<std::string>{"src/main.cpp", "/include/**"});
  CHECK(o.parsed->cold);
  const auto defaults = hmr::cli::parse_arguments({});
  REQUIRE(defaults);
  CHECK(defaults.parsed->reload.empty());
  CHECK(defaults.parsed->restart_on.empty());
  CHECK_FALSE(defaults.parsed->cold);

  struct row {
    std::vector<std::string> args;
    std::string message;
    std::string hint;
  };
  const row rows[] = {
      {{"--restart-on", "src/[a"},
       "invalid value 'src/[a' for --restart-on: hmr::glob: unclosed '[' at position 4 in pattern \"src/[a\"",
       "expected a glob, e.g. --restart-on 'src/main.cpp'"},
      {{"--restart-on="}, "invalid value '' for --restart-on", "expected a glob, e.g. --restart-on 'src/main.cpp'"},
      {{"--reload="}, "invalid value '' for --reload", "expected the path of a module file, e.g. --reload build/libhandler.so"},
      {{"--reload"}, "option --reload needs a value", "e.g. --reload ... (hmr --help lists the options)"},
      {{"--cold=yes"}, "option --cold takes no value", "write it as --cold"},
      {{"--relaod", "x"}, "unknown option '--relaod'", "did you mean --reload? (hmr --help lists the options)"},
  };
  for (const row& r : rows) {
    CAPTURE(r.args);
    const auto result = hmr::cli::parse_arguments(r.args);
    REQUIRE_FALSE(result);
    CHECK(result.error.message == r.message);
    CHECK(result.error.hint == r.hint);
  }

  temp_dir dir;
  const std::string file = (dir / "hmr.json").string();
  write_file(file, R"({"reload": "build/liba.so", "restart-on": ["main.cpp", "*.h"], "cold": true})");
  const auto config = hmr::cli::read_config(file);
  INFO(config.error.message);
  REQUIRE(config);
  CHECK(config.parsed->reload == std::vector<std::string>{"build/liba.so"});
  CHECK(config.parsed->restart_on == std::vector<std::string>{"main.cpp", "*.h"});
  CHECK(config.parsed->cold);
  // A list on the command line replaces the file's.
  const auto merged = hmr::cli::parse_arguments({"--reload", "c.so"}, *config.parsed);
  REQUIRE(merged);
  CHECK(merged.parsed->reload == std::vector<std::string>{"c.so"});
  CHECK(merged.parsed->restart_on == std::vector<std::string>{"main.cpp", "*.h"});
  write_file(file, R"({"cold": "yes"})");
  CHECK(hmr::cli::read_config(file).error.message == file + ": cold must be true or false, not string");
  write_file(file, R"({"restart-on": ["src/{a"]})");
  CHECK(hmr::cli::read_config(file).error.message.rfind("invalid value 'src/{a' for 'restart-on' in " + file, 0) == 0);
}

namespace {

/// A program that speaks the control protocol from bash: hello and ready on start, then it
/// prints each message it receives as "got <json>" and answers reloads (ok, or refused
/// when its first argument is "refuse").
constexpr std::string_view protocol_app_script = R"sh(#!/bin/bash
printf '{"type":"hello","protocol":1,"pid":%d}\n{"type":"ready"}\n' $$ >&"$HMR_CONTROL_FD"
echo "rapp gen=$HMR_GENERATION"
while IFS= read -r line <&"$HMR_CONTROL_FD"; do
  echo "got $line"
  case "$line" in
    *'"type":"reload"'*)
      id=${line#*\"id\":}; id=${id%%,*}
      if [ "$1" = refuse ]; then
        printf '{"type":"reload_result","id":%s,"ok":false,"reason":"slot %s changed layout"}\n' "$id" "'n'" >&"$HMR_CONTROL_FD"
      else
        printf '{"type":"reload_result","id":%s,"ok":true}\n' "$id" >&"$HMR_CONTROL_FD"
      fi;;
  esac
done
)sh";

/// A project with src/ (watched), build/libmod.so (a module in an ignored directory that
/// is not under the watched root) and rapp.sh.
struct reload_project : project {
  reload_project() {
    write_file(path / "rapp.sh", std::string(protocol_app_script), true);
    write_file(path / "build" / "libmod.so", "version 1\n");
  }
  [[nodiscard]] std::string module() const { return (fs::canonical(path) / "build" / "libmod.so").string(); }
};

/// A `reload_end` event with `success`.
predicate reload_end(bool success) {
  return [success](const json_value& e) { return name_of(e) == "reload_end" && e.get_bool_or("success", !success) == success; };
}

}  // namespace

TEST_CASE("--reload without a build: a module change reloads it in the program; other changes restart",
          "[cli][reload]") {
  reload_project dir;
  hmr_run run(dir.path, json_args({"--reload", "build/libmod.so", "--restart-on", "main.cpp"}, {"./rapp.sh"}));
  const auto& ev = run.events();
  const std::size_t w = need(run, named("watching"), "watching");
  CHECK(strings(ev[w], "roots") == std::vector<std::string>{"src", fs::canonical(dir.path).string() + "/build"});
  need(run, named("ready"), "the app's ready");
  need(run, output_line("rapp gen=1"), "generation 1");

  write_file(dir.path / "build" / "libmod.so", "version 2\n");
  const std::size_t c = need(run, change_of("libmod.so"), "the module's change");
  CHECK(text(ev[c], "reason") == "\"libmod.so\" kept: a module (--reload)");
  const std::size_t rs = need(run, named("reload_start"), "reload_start", c);
  CHECK(strings(ev[rs], "modules") == std::vector<std::string>{dir.module()});
  const std::size_t re = need(run, reload_end(true), "reload_end", rs);
  CHECK(strings(ev[re], "modules") == std::vector<std::string>{dir.module()});
  CHECK(is_null(ev[re], "fallback"));
  need(run, output_line("got {\"type\":\"reload\",\"id\":1,\"modules\":[\"" + dir.module() +
                        "\"],\"changed\":[\"libmod.so\"],\"timeout_ms\":2000}"),
       "the request in the app");
  need(run, output_line("got {\"type\":\"file_modified\",\"paths\":[\"" + dir.module() + "\"]}"),
       "the change in the app");

  dir.touch("main.cpp");
  const std::size_t s2 = need(run, cycle_event("process_start", 3), "the restart by rule", re);
  CHECK(text(ev[s2], "reason") == "main.cpp created (main.cpp matches --restart-on main.cpp)");
  need(run, output_line("rapp gen=2"), "generation 2");
  dir.touch("notes.txt");
  const std::size_t s3 = need(run, cycle_event("process_start", 4), "the restart for another file", s2 + 1);
  CHECK(text(ev[s3], "reason") == "notes.txt created");
  need(run, output_line("rapp gen=3"), "generation 3");
  quit_cleanly(run);
  CHECK(count(run, named("reload_start")) == 1);
  CHECK(count(run, named("build_start")) == 0);
}

TEST_CASE("--reload: a refused reload restarts with the reason; --cold never reloads", "[cli][reload]") {
  const bool cold = GENERATE(false, true);
  CAPTURE(cold);
  reload_project dir;
  std::vector<std::string> extra{"--reload", "build/libmod.so"};
  if (cold) extra.emplace_back("--cold");
  hmr_run run(dir.path, json_args(extra, {"./rapp.sh", "refuse"}));
  const auto& ev = run.events();
  need(run, named("watching"), "watching");
  need(run, output_line("rapp gen=1"), "generation 1");
  need(run, named("ready"), "the app's ready");
  write_file(dir.path / "build" / "libmod.so", "version 2\n");
  const std::size_t s = need(run, cycle_event("process_start", 2), "the restart");
  need(run, output_line("rapp gen=2"), "generation 2");
  if (cold) {
    CHECK(text(ev[s], "reason") == "libmod.so changed (cold: reloads are off)");
    CHECK(count(run, named("reload_start")) == 0);
  } else {
    CHECK(text(ev[s], "reason") == "libmod.so changed (slot 'n' changed layout)");
    const std::size_t re = need(run, named("reload_end"), "reload_end");
    CHECK(re < s);
    CHECK_FALSE(ev[re].get_bool_or("success", true));
    CHECK(text(ev[re], "reason") == "slot 'n' changed layout");
    CHECK(text(ev[re], "fallback") == "restart");
  }
  quit_cleanly(run);
}

TEST_CASE("keys with --reload: r reloads without building, b builds and restarts a script, R restarts",
          "[cli][keys][reload]") {
  reload_project dir;
  std::vector<std::string> args = json_args({"--reload", "build/libmod.so", "-b", "echo building"}, {"./rapp.sh"});
  args.erase(std::find(args.begin(), args.end(), "--no-keys"));
  hmr_run run(dir.path, args, terminal::input);
  const auto& ev = run.events();
  need(run, output_line("rapp gen=1"), "generation 1");
  need(run, named("watching"), "watching");
  need(run, named("ready"), "the app's ready");

  run.type("r");
  const std::size_t rs = need(run, cycle_event("reload_start", 2), "the manual reload");
  CHECK(strings(ev[rs], "modules") == std::vector<std::string>{dir.module()});
  need(run, reload_end(true), "its end", rs);
  CHECK(count(run, named("build_start")) == 1);  // the initial build only

  // rapp.sh is a #! script: what it runs is not its executable, so nothing is compared, and
  // a build that changed no module restarts it (a native program would be `no_effect`).
  run.type("b");
  need(run, cycle_event("build_end", 3), "the manual build");
  const std::size_t b = need(run, cycle_event("process_start", 3), "the rebuild's restart");
  CHECK(text(ev[b], "reason") == "manual rebuild");
  need(run, output_line("rapp gen=2"), "generation 2");

  run.type("R");
  const std::size_t s = need(run, cycle_event("process_start", 4), "the manual restart");
  CHECK(text(ev[s], "reason") == "manual restart");
  need(run, output_line("rapp gen=3"), "generation 3");
  run.type("q");
  CHECK(run_to_exit(run) == 0);
  CHECK(count(run, named("process_start")) == 3);
  CHECK(count(run, named("reload_start")) == 1);
}

TEST_CASE("zero configuration with a MODULE library: it is built, watched and reloaded", "[cli][cmake][reload]") {
  temp_dir dir;
  const fs::path p = dir.path / "p";
  write_file(p / "CMakeLists.txt",
             "cmake_minimum_required(VERSION 3.14)\nproject(p CXX)\nadd_executable(app main.cpp)\n"
             "add_library(mod MODULE mod.cpp)\n");
  write_file(p / "main.cpp",
             "#include <cstdio>\n#include <unistd.h>\nint main() {\n  std::puts(\"app up\");\n  std::fflush(stdout);\n"
             "  for (;;) pause();\n}\n");
  write_file(p / "mod.cpp", "extern \"C\" int mod_version() { return 1; }\n");
  const auto [configured, log] = run_command(hmr_test::with_cmake_generator({"cmake", "-S", "p", "-B", "p/build"}), dir.path);
  INFO(log);
  REQUIRE(configured == 0);
  const std::string build = fs::canonical(p / "build").string();

  hmr_run run(p, {"--json", "--no-keys", "-d", "20"});
  const auto& ev = run.events();
  const std::size_t b = need(run, cycle_event("build_start", 1), "the build");
  const auto command = strings(ev[b], "command");
  REQUIRE(command.size() == 3);
  CHECK(command[2].find("'--target' 'app' 'mod'") != std::string::npos);
  need(run, output_line("app up"), "the program");
  need(run, named("watching"), "watching");
  write_file(p / "mod.cpp", "extern \"C\" int mod_version() { return 2; }\n");
  const std::size_t rs = need(run, cycle_event("reload_start", 2), "the reload after the module's build");
  CHECK(strings(ev[rs], "modules") == std::vector<std::string>{build + "/libmod.so"});
  // A plain program without hmr/runtime.hpp: hmr restarts it instead, and says why.
  const std::size_t re = need(run, cycle_event("reload_end", 2), "the reload's end", rs);
  CHECK(text(ev[re], "reason") == "the program has not said hello (it does not use hmr/runtime.hpp, or had not reached it within 2000 ms of its start): restarting instead");
  const std::size_t s = need(run, cycle_event("process_start", 2), "the restart", re);
  CHECK(text(ev[s], "reason") ==
        "mod.cpp changed (the program has not said hello (it does not use hmr/runtime.hpp, or had not reached it within 2000 ms of its start): restarting instead)");
  quit_cleanly(run);
}

TEST_CASE("several roots: each root's .gitignore applies only under that root", "[cli][filters]") {
  // src/ ignores gen/, lib/ ignores *.log: neither rule may hide the other root's files.
  project dir;
  write_file(dir / "src" / ".gitignore", "gen/\n");
  write_file(dir / "lib" / ".gitignore", "*.log\n");
  fs::create_directories(dir / "lib" / "gen");
  const std::pair<std::string, std::string> rows[] = {
      {"lib/x.log", R"("lib/x.log" dropped: .gitignore rule "*.log" (lib/.gitignore:1))"},
      {"src/x.log", R"("src/x.log" kept: no default ignore matched; no .gitignore rule matched)"},
      {"src/gen/a.cpp",
       R"("src/gen/a.cpp" dropped: .gitignore rule "gen/" (src/.gitignore:1) excludes parent directory "gen")"},
      {"lib/gen/a.cpp", R"("lib/gen/a.cpp" kept: no default ignore matched; no .gitignore rule matched)"},
  };
  for (const auto& [path, expected] : rows) {
    CAPTURE(path);
    hmr_run run(dir.path, {"-w", "src", "-w", "lib", "--explain", path});
    CHECK(run_to_exit(run) == 0);
    CHECK(run.out() == expected + "\n");
  }

  // Live: lib/gen/ is watched (src's gen/ rule does not reach it), and a save there restarts.
  hmr_run run(dir.path, json_args({"-w", "lib"}));
  const std::size_t first = need(run, output_line(gen_line(1, "initial")), "generation 1");
  write_file(dir / "lib" / "gen" / "a.cpp", "int a;\n");
  need(run, output_line(gen_line(2, "change", "gen/a.cpp")), "generation 2 after lib/gen/a.cpp", first);
  quit_cleanly(run);
}

// =======================================================================================
// hmr's own output files, and builds that change nothing the program runs

namespace {

/// hmr run as `hmr ARGS > out 2> err` from `dir` (stdin /dev/null), its streams regular
/// files; killed (SIGKILL) on destruction if still running. Waits watch the out file with
/// inotify.
class hmr_to_files {
 public:
  hmr_to_files(const fs::path& dir, fs::path out, const fs::path& err, std::vector<std::string> args)
      : out_(std::move(out)) {
    std::vector<std::string> words{HMR_CLI_PATH};
    words.insert(words.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    const std::string cwd = dir.string();
    const int out_fd = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int null_in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    REQUIRE((out_fd >= 0 && err_fd >= 0 && null_in >= 0));
    inotify_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    REQUIRE(inotify_ >= 0);
    REQUIRE(::inotify_add_watch(inotify_, out_.c_str(), IN_MODIFY) >= 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::setsid();
      ::dup2(null_in, 0);
      ::dup2(out_fd, 1);
      ::dup2(err_fd, 2);
      if (::chdir(cwd.c_str()) != 0) ::_exit(126);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    for (const int fd : {out_fd, err_fd, null_in}) ::close(fd);
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  }
  ~hmr_to_files() {
    if (!status_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
    for (const int fd : {inotify_, pidfd_}) {
      if (fd >= 0) ::close(fd);
    }
  }
  hmr_to_files(const hmr_to_files&) = delete;
  hmr_to_files& operator=(const hmr_to_files&) = delete;

  /// The JSON events in the out file so far (whole lines only).
  [[nodiscard]] std::vector<json_value> events() const {
    std::ifstream in(out_);
    const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<json_value> out;
    std::size_t begin = 0;
    for (std::size_t end = all.find('\n'); end != std::string::npos; begin = end + 1, end = all.find('\n', begin)) {
      auto value = hmr::parse_json_line(std::string_view(all).substr(begin, end - begin + 1));
      if (value && value->is_object()) out.push_back(std::move(*value));
    }
    return out;
  }

  /// How many events `accept` takes once one of them is the `n`-th, waiting for hmr to
  /// write; fewer after `limit`.
  std::size_t wait_count(const predicate& accept, std::size_t n, std::chrono::milliseconds limit = patience) {
    const auto deadline = steady::now() + limit;
    for (;;) {
      const auto all = events();
      const auto got = static_cast<std::size_t>(std::count_if(all.begin(), all.end(), accept));
      const auto now = steady::now();
      if (got >= n || now >= deadline) return got;
      pollfd fd{inotify_, POLLIN, 0};
      const auto ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
      if (::poll(&fd, 1, static_cast<int>(std::clamp<decltype(ms)>(ms, 1, 1000))) > 0) {
        char buffer[4096];
        while (::read(inotify_, buffer, sizeof buffer) > 0) {
        }
      }
    }
  }

  /// hmr's exit code (128 + N when killed by signal N) once it has ended; nothing when it
  /// has not ended within `patience`.
  std::optional<int> wait_exit() {
    pollfd fd{pidfd_, POLLIN, 0};
    if (!status_ && pidfd_ >= 0 && ::poll(&fd, 1, static_cast<int>(patience.count())) > 0) {
      int status = 0;
      if (::waitpid(pid_, &status, 0) == pid_)
        status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return status_;
  }
  /// SIGTERM, then `wait_exit()`.
  std::optional<int> quit() {
    ::kill(pid_, SIGTERM);
    return wait_exit();
  }

 private:
  fs::path out_;
  pid_t pid_ = -1;
  int inotify_ = -1;
  int pidfd_ = -1;
  std::optional<int> status_{};
};

/// The names of `events`, one line, for failure messages.
std::string event_names(const std::vector<json_value>& events) {
  std::string out;
  for (const json_value& e : events) out += name_of(e) + " ";
  return out;
}

}  // namespace

TEST_CASE("hmr's own output file inside the watched tree never triggers a cycle", "[cli][filters]") {
  project dir;
  const fs::path out = dir.path / "src" / "out.log";
  const fs::path err = dir.path / "src" / "err.log";
  SECTION("hmr --json ... > src/out.log 2> src/err.log runs one generation until a real change") {
    hmr_to_files run(dir.path, out, err, json_args());
    const auto started = named("process_start");
    REQUIRE(run.wait_count(named("watching"), 1) == 1);
    REQUIRE(run.wait_count(started, 1) == 1);
    // Each event hmr writes changes out.log: none of them may start a cycle.
    CHECK(run.wait_count(started, 2, quiet_period) == 1);
    dir.touch("code.cpp");
    CHECK(run.wait_count(started, 2) == 2);
    CHECK(run.wait_count(started, 3, quiet_period) == 2);
    const auto code = run.quit();
    const auto events = run.events();
    INFO(event_names(events));
    REQUIRE(code.has_value());
    CHECK(*code == 0);
    const auto changes = static_cast<std::size_t>(std::count_if(events.begin(), events.end(), named("change")));
    CHECK(changes == 1);
  }
  SECTION("--explain names the rule") {
    hmr_to_files run(dir.path, out, err, {"-w", "src", "--explain", "src/out.log"});
    const auto code = run.wait_exit();
    REQUIRE(code.has_value());
    CHECK(*code == 0);
    std::ifstream in(out);
    std::string line;
    std::getline(in, line);
    CHECK(line == "\"src/out.log\" dropped: hmr's own output file (its stdout)");
  }
}

TEST_CASE("-b: a change the build leaves without effect on the executable keeps the program", "[cli][build]") {
  project dir;
  const auto source = [](const std::string& version) {
    return "#include <cstdio>\n#include <unistd.h>\n"
           "int main() { std::printf(\"app " + version + "\\n\"); std::fflush(stdout); for (;;) pause(); }\n";
  };
  dir.touch("app.cpp", source("v1"));
  dir.touch("README.md", "# notes\n");
  hmr_run run(dir.path, json_args({"-b", std::string(HMR_TEST_CXX) + " -O0 -o app src/app.cpp"}, {"./app"}));
  const auto& ev = run.events();
  const std::size_t s1 = need(run, named("process_start"), "start 1");
  const std::int64_t pid1 = number(ev[s1], "pid");
  need(run, output_line("app v1"), "app v1");
  need(run, named("watching"), "watching");

  std::ofstream(dir.path / "src" / "README.md", std::ios::app) << "\n";  // echo >> README.md
  const std::size_t n = need(run, cycle_event("no_effect", 2), "no effect", s1);
  CHECK(text(ev[n], "reason") == "the build outputs did not change");
  CHECK(count(run, named("process_start")) == 1);
  CHECK(count(run, named("process_exit")) == 0);
  CHECK_FALSE(not_running(static_cast<int>(pid1)));

  dir.touch("app.cpp", source("v2"));  // a new executable: restarted
  const std::size_t s2 = need(run, cycle_event("process_start", 3), "start 2", n);
  CHECK(text(ev[s2], "reason") == "app.cpp changed");
  need(run, output_line("app v2"), "app v2", s2);
  CHECK(not_running(static_cast<int>(pid1)));
  quit_cleanly(run);
}

TEST_CASE("diagnostics of a compiler run in another directory carry a path that opens", "[cli][build]") {
#ifndef HMR_TEST_CXX
#define HMR_TEST_CXX "c++"
#endif
  project dir;
  dir.touch("bad.cpp", "int main() { return missing; }\n");
  const std::string source = (fs::canonical(dir.path) / "src" / "bad.cpp").string();
  // The diagnostic's file, the build's first diagnostic: absolute, existing, and this file.
  const auto first_file = [&](hmr_run& run) {
    const std::size_t e = need(run, cycle_event("build_end", 1), "the failed build");
    const json_value* diagnostics = run.events()[e].find("diagnostics");
    REQUIRE(diagnostics != nullptr);
    REQUIRE(diagnostics->is_array());
    REQUIRE_FALSE(diagnostics->as_array().empty());
    return text(diagnostics->as_array()[0], "file");
  };
  SECTION("cd out && c++ -c ../src/bad.cpp: nothing announces the directory") {
    fs::create_directories(dir.path / "out");
    hmr_run run(dir.path, json_args({"-b", std::string("cd out && ") + HMR_TEST_CXX + " -c ../src/bad.cpp -o bad.o"}));
    const std::string file = first_file(run);
    INFO(run.transcript());
    CHECK(file == source);
    CHECK(fs::exists(file));
    quit_cleanly(run);
  }
  SECTION("Meson: ninja announces the build directory, compile_commands.json names it") {
    if (run_command({"meson", "--version"}, dir.path).first != 0) {
      WARN("meson is not installed: the Meson case is not run");
      return;
    }
    write_file(dir / "meson.build", "project('p', 'cpp')\nexecutable('bad', 'src/bad.cpp')\n");
    const auto [configured, log] = run_command({"meson", "setup", "build"}, dir.path);
    INFO(log);
    REQUIRE(configured == 0);
    hmr_run run(dir.path, json_args({"-b", "meson compile -C build"}));
    const std::string file = first_file(run);
    INFO(run.transcript());
    CHECK(file == source);
    CHECK(fs::exists(file));
    quit_cleanly(run);
    // The terminal shows it from where hmr runs.
    hmr_run ansi(dir.path, {"--no-keys", "-w", "src", "-b", "ninja -C build", "--", "./app.sh"});
    CHECK(ansi.wait_text("err", "  src/bad.cpp:1:21: error: "));
    ansi.signal(SIGTERM);
    CHECK(ansi.wait_exit().has_value());
  }
}

// =======================================================================================
// Globs written from the current directory (examples/cli/glob_roots.hpp)

TEST_CASE("rebase_glob: a glob written from the current directory is made relative to its root",
          "[cli][options][filters]") {
  struct row {
    std::vector<std::string> roots;
    std::string glob;
    std::string expected;
    std::optional<std::size_t> root;
  };
  const row rows[] = {
      {{"src"}, "src/main.cpp", "/main.cpp", 0},
      {{"src"}, "src/**/*.h", "/**/*.h", 0},
      {{"src"}, "./src/net/*.cpp", "/net/*.cpp", 0},
      {{"src"}, "src/{a,b}.cpp", "/{a,b}.cpp", 0},
      {{"src"}, "/work/src/main.cpp", "/main.cpp", 0},       // absolute
      {{"src", "lib"}, "lib/gen/", "/gen/", 1},              // the second root; a directory glob
      {{"../other"}, "../other/x/*.c", "/x/*.c", 0},
      {{"/abs/src"}, "../abs/src/x.cpp", "/x.cpp", 0},
      {{"src"}, "net/*.cpp", "net/*.cpp", std::nullopt},     // already relative to the root
      {{"src"}, "/main.cpp", "/main.cpp", std::nullopt},     // anchored at the root
      {{"src"}, "*.cpp", "*.cpp", std::nullopt},             // a basename glob
      {{"src"}, "**/main.cpp", "**/main.cpp", std::nullopt}, // no literal lead
      {{"src"}, "src/", "src/", std::nullopt},               // a basename directory glob
      {{"src"}, "./src", "./src", std::nullopt},             // the root itself
      {{"."}, "src/main.cpp", "src/main.cpp", std::nullopt}, // the same either way
      {{"."}, "./main.cpp", "/main.cpp", 0},
      {{".", "src"}, "src/main.cpp", "src/main.cpp", std::nullopt},  // the first root holds it
  };
  for (const row& r : rows) {
    CAPTURE(r.roots, r.glob);
    const hmr::cli::rooted_glob g = hmr::cli::rebase_glob(r.glob, r.roots, "/work");
    CHECK(g.written == r.glob);
    CHECK(g.pattern == r.expected);
    CHECK(g.root == r.root);
  }
}

TEST_CASE("a glob from the current directory: -w src --restart-on src/main.cpp matches; none warns once",
          "[cli][reload][filters]") {
  reload_project dir;
  dir.touch("main.cpp");
  dir.touch("sub/main.cpp");
  hmr_run run(dir.path, json_args({"--reload", "build/libmod.so", "--restart-on", "src/main.cpp", "--restart-on",
                                   "src/mian.cpp", "-x", "src/gen/**", "-i", "src/**"},
                                  {"./rapp.sh"}));
  const auto& ev = run.events();
  need(run, named("watching"), "watching");
  need(run, named("ready"), "the app's ready");
  need(run, output_line("rapp gen=1"), "generation 1");

  dir.touch("main.cpp", "y\n");
  const std::size_t s2 = need(run, cycle_event("process_start", 2), "the restart by rule");
  CHECK(text(ev[s2], "reason") == "main.cpp changed (main.cpp matches --restart-on /main.cpp)");
  need(run, output_line("rapp gen=2"), "generation 2");
  // Anchored at the root: another main.cpp deeper down is not the rule's (it restarts
  // because it is not a module, without the rule).
  dir.touch("sub/main.cpp", "y\n");
  const std::size_t s3 = need(run, cycle_event("process_start", 3), "the restart for sub/main.cpp", s2 + 1);
  CHECK(text(ev[s3], "reason") == "sub/main.cpp changed");
  need(run, output_line("rapp gen=3"), "generation 3");
  quit_cleanly(run);

  INFO(run.transcript());
  CHECK(run.bad_lines().empty());
  CHECK(run.err().find("warning") == std::string::npos);  // with --json: events only
  // With --json: `error` events with severity warning, right after `watching` (first).
  CHECK(name_of(ev.front()) == "watching");
  std::vector<std::string> warnings;
  for (std::size_t i = 0; i < ev.size(); ++i) {
    if (name_of(ev[i]) != "error") continue;
    CHECK(text(ev[i], "severity") == "warning");
    CHECK(i <= 2);
    warnings.push_back(text(ev[i], "message"));
  }
  CHECK(warnings == std::vector<std::string>{
                        "--exclude 'src/gen/**' matches no existing file or directory under the watch root src "
                        "(matched there as '/gen/**')",
                        "--restart-on 'src/mian.cpp' matches no existing file under the watch root src (matched "
                        "there as '/mian.cpp')",
                    });
}

TEST_CASE("a glob relative to the watch roots that matches nothing names the roots, once", "[cli][filters]") {
  project dir;
  fs::create_directories(dir.path / "lib");
  dir.touch("a.cpp");
  // The terminal presenter (no --json): the warning is a line on stderr.
  hmr_run run(dir.path, {"--no-keys", "-d", "20", "-w", "src", "-w", "lib", "-i", "net/*.cpp", "-i", "*.cpp", "--",
                         "./app.sh"});
  REQUIRE(run.wait_text("err", "watching "));
  quit_cleanly(run);
  INFO(run.transcript());
  std::vector<std::string> warnings;
  for (const std::string& line : lines_of(run.err())) {
    if (line.find("warning") != std::string::npos) warnings.push_back(line);
  }
  CHECK(warnings ==
        std::vector<std::string>{"hmr: warning: --include 'net/*.cpp' matches no existing file under the watch "
                                 "roots src, lib (globs are matched relative to each watch root; a path from "
                                 "the current directory works too)"});
}

// =======================================================================================
// The terminal, shared with the program (hmr::shared_terminal)

TEST_CASE("a program that reads the terminal gets it: cat restarted twice; Ctrl-C quits at once",
          "[cli][terminal]") {
  // `hmr --no-keys -- cat`: cat reads from the background, is stopped by SIGTTIN, and hmr
  // hands it the terminal as a shell's `fg` would. Saves restart it; Ctrl-C ends it and hmr.
  project dir;
  hmr_run run(dir.path, json_args({"--stop-timeout", "10000"}, {"cat"}), terminal::input);
  std::size_t at = 0;
  const char* lines[] = {"one", "two", "three"};
  for (int generation = 1; generation <= 3; ++generation) {
    CAPTURE(generation);
    at = need(run, named("process_start"), "generation " + std::to_string(generation), at);
    run.type(std::string(lines[generation - 1]) + "\n");
    at = need(run, output_line(lines[generation - 1]), "cat's echo of what was typed", at);
    if (generation < 3) dir.touch("a.cpp", std::to_string(generation));
    ++at;
  }
  CHECK(count(run, named("error")) == 0);  // never reported as stopped: it got the terminal
  run.type("\x03");  // Ctrl-C: SIGINT to the foreground group, cat; hmr passes it on
  const auto code = run.wait_exit(5s);  // the old failure: the whole 10 s stop timeout
  INFO(run.transcript());
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(same_mode(run.pty().mode(), run.initial_mode()));
}

TEST_CASE("a program that sets raw mode gets the terminal; hmr restores it after a crash", "[cli][terminal]") {
  // Keys on: hmr reads its keys while it holds the terminal, the program reads its own keys
  // while it does. Each generation says it is ready only once stty has the terminal.
  project dir;
  write_file(dir / "raw.sh",
             "stty raw -echo || exit 9\n"
             "echo \"gen $HMR_GENERATION raw\"\n"
             "while :; do\n"
             "  k=$(dd bs=1 count=1 2>/dev/null)\n"
             "  case \"$k\" in x) exit 3 ;; q) stty sane; exit 0 ;; esac\n"
             "  echo \"key $k\"\n"
             "done\n");
  std::vector<std::string> args = json_args({}, {"sh", "raw.sh"});
  args.erase(std::find(args.begin(), args.end(), "--no-keys"));
  hmr_run run(dir.path, args, terminal::input);
  std::size_t at = 0;
  const char keys[] = {'a', 'b', 'c'};
  for (int generation = 1; generation <= 3; ++generation) {
    CAPTURE(generation);
    at = need(run, output_line("gen " + std::to_string(generation) + " raw"), "the program in raw mode", at);
    run.type(std::string(1, keys[generation - 1]));
    at = need(run, output_line(std::string("key ") + keys[generation - 1]), "the program's own key", at);
    if (generation < 3) dir.touch("a.cpp", std::to_string(generation));
  }
  // It crashes with the terminal in raw mode: hmr takes the terminal back, in sane modes.
  run.type("x");
  at = need(run, named_with("process_exit", "cause", "exited"), "the program's exit", at);
  // hmr put its own modes back before it reported the exit: ISIG and output processing on
  // again, echo off for its keys.
  const termios mode = run.pty().mode();
  CHECK((mode.c_lflag & ISIG) != 0);
  CHECK((mode.c_oflag & OPOST) != 0);
  CHECK((mode.c_lflag & ECHO) == 0);
  run.type("q");  // hmr's own key again
  const auto code = run.wait_exit(5s);
  INFO(run.transcript());
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(count(run, named("error")) == 0);
  CHECK(same_mode(run.pty().mode(), run.initial_mode()));
}

TEST_CASE("a program stopped by job control without the terminal is reported, and quit continues it",
          "[cli][terminal]") {
  project dir;
  hmr_run run(dir.path, json_args({"--stop-timeout", "10000"}, {"sh", "-c", "kill -TSTP $$; sleep 1000"}));
  need(run, named("process_start"), "the program");
  const std::size_t e = need(run, named("error"), "the report of the stop");
  CHECK(text(run.events()[e], "message") == "sh is stopped by SIGTSTP (Ctrl-Z)");
  run.signal(SIGTERM);
  const auto code = run.wait_exit(5s);  // SIGCONT with the stop signal: not the 10 s timeout
  INFO(run.transcript());
  REQUIRE(code.has_value());
  CHECK(*code == 0);
}

// =======================================================================================
// Process trees: nothing outlives hmr (the keeper of each tree)

namespace {

/// A loopback server in Python: binds `port`, says "bound", serves nothing, sleeps.
constexpr std::string_view server_py =
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
    "time.sleep(1000)\n";

/// True once nothing listens on 127.0.0.1:`port` (a bind succeeds), within `limit`.
bool port_freed(int port, std::chrono::milliseconds limit) {
  const auto deadline = steady::now() + limit;
  for (;;) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (free) return true;
    if (steady::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);  // polling the port: there is no event to wait on
  }
}

}  // namespace

TEST_CASE("no process of the program's tree outlives hmr: kill -9 or q, however it escaped",
          "[cli][stop]") {
  struct escape {
    const char* name;
    const char* script;  // run.sh; $1 is the port
  };
  const escape escapes[] = {
      {"a background child of a shell", "python3 server.py \"$1\" &\nwait\n"},
      {"double fork and setsid", "(setsid python3 server.py \"$1\" &)\nexec sleep 1000\n"},
      {"double fork, setsid and a rewritten environment",
       "(setsid env -i PATH=\"$PATH\" python3 server.py \"$1\" &)\nexec sleep 1000\n"},
  };
  const bool by_kill = GENERATE(true, false);
  for (const escape& way : escapes) {
    CAPTURE(way.name, by_kill);
    project dir;
    write_file(dir / "server.py", std::string(server_py));
    write_file(dir / "run.sh", std::string("#!/bin/sh\n") + way.script, true);
    const int port = hmr_test::free_port();
    std::vector<std::string> args = json_args({}, {"./run.sh", std::to_string(port)});
    if (!by_kill) args.erase(std::find(args.begin(), args.end(), "--no-keys"));
    {
      hmr_run run(dir.path, args, by_kill ? terminal::none : terminal::input);
      need(run, output_line("bound"), "the server");
      if (by_kill) {
        run.signal(SIGKILL);
      } else {
        run.type("q");
      }
      const auto code = run.wait_exit();
      INFO(run.transcript());
      REQUIRE(code.has_value());
      CHECK(*code == (by_kill ? 128 + SIGKILL : 0));
    }
    CHECK(port_freed(port, 5s));
    // The next hmr binds it again.
    hmr_run again(dir.path, json_args({}, {"./run.sh", std::to_string(port)}));
    need(again, output_line("bound"), "the server, once more");
    quit_cleanly(again);
    CHECK(port_freed(port, 5s));
  }
}

TEST_CASE("a program that daemonizes is reported, keeps serving, and stops with hmr", "[cli][stop]") {
  project dir;
  write_file(dir / "server.py", std::string(server_py));
  // Like `httpd -d`: double fork, setsid, its own environment; the launcher exits at once.
  write_file(dir / "run.sh",
             "#!/bin/sh\n(setsid env -i PATH=\"$PATH\" python3 server.py \"$1\" &)\nexit 0\n", true);
  const int port = hmr_test::free_port();
  SECTION("JSON: process_exit lists what it left running (restart and hybrid strategies)") {
    const std::vector<std::string> strategy = GENERATE(std::vector<std::string>{},
                                                       std::vector<std::string>{"--cold"});
    CAPTURE(strategy);
    hmr_run run(dir.path, json_args(strategy, {"./run.sh", std::to_string(port)}));
    const std::size_t e = need(run, named_with("process_exit", "cause", "exited"), "the launcher's exit");
    const json_value* left = run.events()[e].find("left_running");
    REQUIRE(left != nullptr);
    REQUIRE(left->is_array());
    CHECK_FALSE(left->as_array().empty());
    const std::size_t bound = need(run, output_line("bound"), "the daemon");
    CHECK_FALSE(port_freed(port, 0ms));  // it serves on: hmr keeps it until the next restart
    dir.touch("a.cpp");
    need(run, output_line("bound"), "the daemon of generation 2 (the first one stopped)", bound + 1);
    CHECK(count(run, output_line("bind failed 98")) == 0);
    quit_cleanly(run);
    CHECK(port_freed(port, 5s));
  }
  SECTION("the terminal says it daemonized, which pids, and what hmr does with them") {
    std::vector<std::string> args = json_args({}, {"./run.sh", std::to_string(port)});
    args.erase(args.begin());  // no --json: the ANSI presenter on stderr
    hmr_run run(dir.path, args);
    CHECK(run.wait_text("err", "./run.sh daemonized (pid "));
    CHECK(run.wait_text("err", "left running); run it in the foreground, e.g. without -d"));
    CHECK(run.wait_text("err", "stopped at the next restart or quit"));
    quit_cleanly(run);
    CHECK(port_freed(port, 5s));
  }
}
