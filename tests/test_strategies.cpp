// The strategies with real children: /bin/sh scripts in a temporary directory, events
// collected from strategy_context.emit. Waits are on events, output lines and pid files,
// with timeouts, never on sleeps.
#include "hmr_catch.hpp"
#include "process_fixture.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <hmr/command_strategy.hpp>
#include <hmr/detail/strategy_core.hpp>
#include <hmr/restart_strategy.hpp>
#include <hmr/strategy.hpp>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using cause = hmr::process_exit::cause;
using events_t = std::vector<hmr::event>;
using source = hmr::events::output::source_kind;
using hmr_test::free_port;
using hmr_test::group_not_running;
using hmr_test::not_running;
using hmr_test::wait_for_pid_file;

/// A fresh temporary directory, removed with its content.
struct temp_dir : hmr_test::temp_dir {
  temp_dir() : hmr_test::temp_dir("hmr-strategy") {}
  /// Writes `text` to `name`, with every "@DIR@" replaced by the directory, and returns
  /// its full path.
  std::string write(const std::string& name, std::string text) const {
    const std::string dir = path.string();
    for (auto at = text.find("@DIR@"); at != std::string::npos; at = text.find("@DIR@", at))
      text.replace(at, 5, dir);
    return hmr_test::temp_dir::write(name, text);
  }
};

/// Everything a strategy reported (events and finish calls), with waits.
class event_log {
 public:
  /// A context whose emit and finish record here; the log must outlive the strategy.
  hmr::strategy_context context() {
    return {
        .emit =
            [this](hmr::event e) {
              const std::lock_guard lock(mutex_);
              events_.push_back(std::move(e));
              changed_.notify_all();
            },
        .finish =
            [this](int code, std::string reason) {
              const std::lock_guard lock(mutex_);
              finishes_.emplace_back(code, std::move(reason));
              changed_.notify_all();
            },
    };
  }
  /// True once `predicate(events)` holds; false after `timeout`.
  template <class Predicate>
  bool wait_until(Predicate predicate, std::chrono::milliseconds timeout = 20s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return predicate(std::as_const(events_)); });
  }
  /// True once at least `n` events of type T arrived.
  template <class T>
  bool wait_count(std::size_t n);
  /// True once the output line `line` arrived from `from`.
  bool wait_line(const std::string& line, source from = source::process);
  /// True once `finish` was called.
  bool wait_finish() {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 20s, [&] { return !finishes_.empty(); });
  }
  /// A copy of the events so far.
  events_t snapshot() {
    const std::lock_guard lock(mutex_);
    return events_;
  }
  /// A copy of the finish calls so far.
  std::vector<std::pair<int, std::string>> finishes() {
    const std::lock_guard lock(mutex_);
    return finishes_;
  }

 private:
  std::mutex mutex_{};
  std::condition_variable changed_{};
  events_t events_{};
  std::vector<std::pair<int, std::string>> finishes_{};
};

/// The events of type T, in arrival order.
template <class T>
std::vector<T> all(const events_t& events) {
  std::vector<T> out;
  for (const hmr::event& e : events)
    if (const T* p = std::get_if<T>(&e)) out.push_back(*p);
  return out;
}

/// How many events of type T arrived.
template <class T>
std::size_t count(const events_t& events) {
  return static_cast<std::size_t>(std::count_if(
      events.begin(), events.end(), [](const hmr::event& e) { return std::holds_alternative<T>(e); }));
}

/// The output lines from `from`, in arrival order.
std::vector<std::string> lines(const events_t& events, source from = source::process) {
  std::vector<std::string> out;
  for (const auto& o : all<hmr::events::output>(events))
    if (o.source == from) out.push_back(o.line);
  return out;
}

/// How often the output line `line` arrived from `from`.
std::size_t line_count(const events_t& events, const std::string& line, source from = source::process) {
  const auto all_lines = lines(events, from);
  return static_cast<std::size_t>(std::count(all_lines.begin(), all_lines.end(), line));
}

/// The position of the output line `line` in `events`; events.size() when absent.
std::size_t line_index(const events_t& events, const std::string& line) {
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto* o = std::get_if<hmr::events::output>(&events[i]);
    if (o && o->line == line) return i;
  }
  return events.size();
}

/// The position of the `nth` event of type T (0-based); events.size() when absent.
template <class T>
std::size_t event_index(const events_t& events, std::size_t nth) {
  for (std::size_t i = 0; i < events.size(); ++i)
    if (std::holds_alternative<T>(events[i]) && nth-- == 0) return i;
  return events.size();
}

/// The names of the events other than output lines, in arrival order.
std::vector<std::string> names(const events_t& events) {
  std::vector<std::string> out;
  for (const hmr::event& e : events)
    if (!std::holds_alternative<hmr::events::output>(e)) out.emplace_back(hmr::event_name(e));
  return out;
}

template <class T>
bool event_log::wait_count(std::size_t n) {
  return wait_until([n](const events_t& e) { return count<T>(e) >= n; });
}

bool event_log::wait_line(const std::string& line, source from) {
  return wait_until([&](const events_t& e) { return line_count(e, line, from) > 0; });
}

/// Opens the fifo `gate` (once a reader waits on it) and writes one line; false after 20 s.
bool open_gate(const fs::path& gate) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    const int fd = ::open(gate.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) {
      const bool written = ::write(fd, "go\n", 3) == 3;
      ::close(fd);
      return written;
    }
    if (errno != ENXIO) return false;
    std::this_thread::yield();
  }
  return false;
}

/// A change request for `paths` (each modified, root 0).
hmr::cycle_request change(const std::vector<std::string>& paths) {
  hmr::cycle_request request;
  request.reason = hmr::cycle_reason::change;
  for (const std::string& p : paths) request.batch.changes.push_back({.path = p});
  return request;
}

const hmr::cycle_request initial{.reason = hmr::cycle_reason::initial};

/// A program that reports "run <generation>|<reason>|<changed paths joined by ','>", then
/// sleeps until stopped. A newline in HMR_CHANGED shows as ',' (a trailing one too).
constexpr const char* report_script = R"sh(
printf 'run %s|%s|%s\n' "$HMR_GENERATION" "$HMR_REASON" "$(printf '%s' "$HMR_CHANGED" | tr '\n' ',')"
exec sleep 1000
)sh";

/// The pid after `prefix` in the first output line that starts with it; 0 when absent.
int pid_from_line(const events_t& events, const std::string& prefix) {
  for (const std::string& line : lines(events))
    if (line.rfind(prefix, 0) == 0) return std::atoi(line.c_str() + prefix.size());
  return 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// The vocabulary: pure functions.

TEST_CASE("cycle_reason names", "[strategy]") {
  CHECK(hmr::to_string(hmr::cycle_reason::initial) == "initial");
  CHECK(hmr::to_string(hmr::cycle_reason::change) == "change");
  CHECK(hmr::to_string(hmr::cycle_reason::manual) == "manual");
  CHECK(hmr::to_string(hmr::cycle_reason::crash) == "crash");
}

TEST_CASE("cycle_request::merge unites batches, newer change wins, keeps build and initial",
          "[strategy]") {
  using hmr::change_kind;
  using hmr::cycle_reason;
  SECTION("batches: newer change of the same path and root replaces it in place") {
    hmr::cycle_request mine = change({"a", "b"});
    hmr::cycle_request newer;
    newer.batch.changes = {{.path = "c", .kind = change_kind::created},
                           {.path = "a", .kind = change_kind::removed},
                           {.path = "b", .kind = change_kind::modified, .root = 1}};
    mine.merge(newer);
    const std::vector<hmr::file_change> expected = {
        {.path = "a", .kind = change_kind::removed},
        {.path = "b"},
        {.path = "c", .kind = change_kind::created},
        {.path = "b", .kind = change_kind::modified, .root = 1},
    };
    CHECK(mine.batch.changes == expected);
  }
  SECTION("a rename replaces the entry of its new path, with its old path") {
    hmr::cycle_request mine = change({"x"});
    hmr::cycle_request newer;
    newer.batch.changes = {{.path = "x", .kind = change_kind::renamed, .old_path = "w"}};
    mine.merge(newer);
    REQUIRE(mine.batch.size() == 1);
    CHECK(mine.batch.changes[0] ==
          hmr::file_change{.path = "x", .kind = change_kind::renamed, .old_path = "w"});
  }
  SECTION("build and reason") {
    struct row {
      cycle_reason mine;
      bool mine_build;
      cycle_reason newer;
      bool newer_build;
      cycle_reason reason;
      bool build;
    };
    const row r = GENERATE(values<row>({
        {cycle_reason::initial, true, cycle_reason::change, true, cycle_reason::initial, true},
        {cycle_reason::initial, false, cycle_reason::manual, false, cycle_reason::initial, false},
        {cycle_reason::initial, false, cycle_reason::change, true, cycle_reason::initial, true},
        {cycle_reason::change, true, cycle_reason::manual, false, cycle_reason::manual, true},
        {cycle_reason::manual, false, cycle_reason::change, true, cycle_reason::change, true},
        {cycle_reason::manual, false, cycle_reason::manual, false, cycle_reason::manual, false},
        {cycle_reason::crash, false, cycle_reason::change, false, cycle_reason::change, false},
        {cycle_reason::change, true, cycle_reason::crash, false, cycle_reason::crash, true},
    }));
    CAPTURE(hmr::to_string(r.mine), r.mine_build, hmr::to_string(r.newer), r.newer_build);
    hmr::cycle_request mine{.reason = r.mine, .build = r.mine_build};
    mine.merge({.reason = r.newer, .build = r.newer_build});
    CHECK(mine.reason == r.reason);
    CHECK(mine.build == r.build);
    CHECK(mine.batch.empty());
  }
  SECTION("a forced restart is kept from either side") {
    const bool mine_restart = GENERATE(false, true);
    const bool newer_restart = GENERATE(false, true);
    hmr::cycle_request mine{.reason = cycle_reason::manual, .build = false, .restart = mine_restart};
    mine.merge({.reason = cycle_reason::change, .build = false, .restart = newer_restart});
    CHECK(mine.restart == (mine_restart || newer_restart));
  }
}

TEST_CASE("describe says why a cycle ran", "[strategy]") {
  using hmr::change_kind;
  using hmr::cycle_reason;
  CHECK(hmr::describe({.reason = cycle_reason::initial}) == "initial start");
  CHECK(hmr::describe(hmr::cycle_request{.reason = cycle_reason::initial, .batch = change({"a"}).batch}) ==
        "initial start");
  CHECK(hmr::describe({.reason = cycle_reason::manual, .build = true}) == "manual rebuild");
  CHECK(hmr::describe({.reason = cycle_reason::manual, .build = false}) == "manual restart");
  CHECK(hmr::describe({.reason = cycle_reason::crash, .build = false}) == "restart after a crash");
  CHECK(hmr::describe({.reason = cycle_reason::change}) == "change");
  CHECK(hmr::describe(change({"src/a.cpp"})) == "src/a.cpp changed");
  CHECK(hmr::describe(change({"src/a.cpp", "b", "c"})) == "src/a.cpp and 2 more changed");
  CHECK(hmr::describe(change({"src/a.cpp", "b"})) == "src/a.cpp and 1 more changed");
  const auto one = [](change_kind kind) {
    hmr::cycle_request r;
    r.batch.changes = {{.path = "src/n.cpp", .kind = kind, .old_path = "src/o.cpp"}};
    return hmr::describe(r);
  };
  CHECK(one(change_kind::created) == "src/n.cpp created");
  CHECK(one(change_kind::removed) == "src/n.cpp removed");
  CHECK(one(change_kind::renamed) == "src/n.cpp renamed");
}

TEST_CASE("changed_paths: one path per line, the new path of a rename", "[strategy]") {
  hmr::change_batch batch;
  CHECK(hmr::changed_paths(batch).empty());
  batch.changes = {{.path = "src/a.cpp"},
                   {.path = "dir with space/b.hpp", .kind = hmr::change_kind::created},
                   {.path = "new.cpp", .kind = hmr::change_kind::renamed, .old_path = "old.cpp"}};
  CHECK(hmr::changed_paths(batch) == "src/a.cpp\ndir with space/b.hpp\nnew.cpp");
}

namespace {
/// A user-written strategy: enough for the concept.
struct tiny_strategy {
  void start(hmr::strategy_context) {}
  void submit(hmr::cycle_request) {}
  void stop() {}
};
/// Not a strategy: it cannot be given requests.
struct no_submit {
  void start(hmr::strategy_context) {}
  void stop() {}
};
/// Not a strategy: it cannot be stopped.
struct no_stop {
  void start(hmr::strategy_context) {}
  void submit(hmr::cycle_request) {}
};
static_assert(hmr::strategy<tiny_strategy>);
static_assert(!hmr::strategy<no_submit>);
static_assert(!hmr::strategy<no_stop>);
static_assert(hmr::strategy<hmr::restart_strategy>);
static_assert(hmr::strategy<hmr::command_strategy>);
}  // namespace

TEST_CASE("the strategy concept accepts a user type and rejects one without submit",
          "[strategy]") {
  CHECK(hmr::strategy<tiny_strategy>);
  CHECK_FALSE(hmr::strategy<no_submit>);
  CHECK_FALSE(hmr::strategy<no_stop>);
}

// ---------------------------------------------------------------------------------------
// The shared core, with a test owner and no processes.

namespace {
/// A cycle owner that records its calls; its first cycle blocks until released.
class recording_owner final : public hmr::detail::cycle_owner {
 public:
  void run_cycle(hmr::cycle_request request) override {
    std::unique_lock lock(mutex_);
    requests_.push_back(std::move(request));
    changed_.notify_all();
    if (requests_.size() == 1) changed_.wait(lock, [this] { return released_; });
  }
  void on_process_exit(std::uint64_t, const hmr::process_exit&) override {}
  void on_stop() override {
    const std::lock_guard lock(mutex_);
    ++stops_;
  }
  bool wait_requests(std::size_t n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 20s, [&] { return requests_.size() >= n; });
  }
  void release() {
    const std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }
  std::vector<hmr::cycle_request> requests() {
    const std::lock_guard lock(mutex_);
    return requests_;
  }
  int stops() {
    const std::lock_guard lock(mutex_);
    return stops_;
  }

 private:
  std::mutex mutex_{};
  std::condition_variable changed_{};
  std::vector<hmr::cycle_request> requests_{};
  bool released_ = false;
  int stops_ = 0;
};
}  // namespace

TEST_CASE("strategy_core: requests during a cycle become exactly one more, stop is idempotent",
          "[strategy]") {
  recording_owner owner;
  hmr::detail::strategy_core core(hmr::busy_policy::queue);
  core.start({}, owner);
  core.submit(initial);
  REQUIRE(owner.wait_requests(1));
  core.submit(change({"a"}));
  core.submit({.reason = hmr::cycle_reason::manual, .build = false});
  core.submit(change({"b", "a"}));
  owner.release();
  REQUIRE(owner.wait_requests(2));
  core.stop();
  core.stop();
  const auto requests = owner.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].reason == hmr::cycle_reason::initial);
  CHECK(requests[1].reason == hmr::cycle_reason::change);
  CHECK(requests[1].build);
  CHECK(requests[1].batch == change({"a", "b"}).batch);
  CHECK(owner.stops() == 1);
}

// ---------------------------------------------------------------------------------------
// restart_strategy

TEST_CASE("restart: 20 restarts of a loopback server behind a shell never find the port taken",
          "[strategy][restart]") {
  temp_dir dir;
  const int port = free_port();
  const std::string python = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  const std::string server = dir.write("server.py",
                                       "import socket, sys, time\n"
                                       "s = socket.socket()\n"
                                       "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                                       "try:\n"
                                       "    s.bind(('127.0.0.1', int(sys.argv[1])))\n"
                                       "except OSError as e:\n"
                                       "    print('bind failed', sys.argv[2], e.errno, flush=True)\n"
                                       "    sys.exit(1)\n"
                                       "s.listen()\n"
                                       "print('bound', sys.argv[2], flush=True)\n"
                                       "time.sleep(1000)\n");
  // python runs as a grandchild: the shell stays in front of it and waits.
  const std::string run = dir.write(
      "run.sh", python + " '" + server + "' " + std::to_string(port) +
                    " \"$HMR_GENERATION\" &\necho \"server $HMR_GENERATION $!\"\nwait\n");
  event_log log;
  hmr::restart_strategy strategy{{.run = {"/bin/sh", run}, .capture_output = true}};
  strategy.start(log.context());
  constexpr std::size_t generations = 20;
  for (std::size_t g = 1; g <= generations; ++g) {
    CAPTURE(g);
    strategy.submit(g == 1 ? initial : change({"src/" + std::to_string(g) + ".cpp"}));
    const std::string bound = "bound " + std::to_string(g);
    REQUIRE(log.wait_until([&](const events_t& e) {
      const auto all_lines = lines(e);
      const bool failed = std::any_of(all_lines.begin(), all_lines.end(), [](const std::string& l) {
        return l.rfind("bind failed", 0) == 0;
      });
      return failed || (count<hmr::events::process_started>(e) == g && line_count(e, bound) == 1);
    }));
    const auto e = log.snapshot();
    REQUIRE(line_count(e, bound) == 1);
    REQUIRE(pid_from_line(e, "server " + std::to_string(g) + " ") > 0);
  }
  strategy.stop();
  const auto e = log.snapshot();
  const auto starts = all<hmr::events::process_started>(e);
  const auto exits = all<hmr::events::process_exited>(e);
  REQUIRE(starts.size() == generations);
  REQUIRE(exits.size() == generations);
  for (const std::string& line : lines(e)) CHECK(line.rfind("bind failed", 0) == std::string::npos);
  for (std::size_t i = 0; i < generations; ++i) {
    CAPTURE(i);
    const std::string g = std::to_string(i + 1);
    CHECK(line_count(e, "bound " + g) == 1);
    CHECK(starts[i].command == std::vector<std::string>{"/bin/sh", run});
    CHECK(starts[i].cycle == i + 1);
    CHECK(starts[i].reason == (i == 0 ? "initial start" : "src/" + g + ".cpp changed"));
    CHECK(exits[i].pid == starts[i].pid);
    CHECK(exits[i].why == cause::stopped);
    CHECK(exits[i].status.signal_name == "SIGTERM");
    // The old generation is gone before the next starts.
    CHECK(event_index<hmr::events::process_exited>(e, i) <
          event_index<hmr::events::process_started>(e, i + 1));
    const int shell = starts[i].pid;
    const int python_pid = pid_from_line(e, "server " + g + " ");
    CHECK(not_running(shell));
    CHECK(not_running(python_pid));
    CHECK(group_not_running(shell));
  }
}

TEST_CASE("restart: a failing build keeps the old program; the fixed build restarts it",
          "[strategy][restart]") {
  temp_dir dir;
  const std::string build = dir.write("build.sh", R"sh(
if [ -e '@DIR@/broken' ]; then
  echo "src/a.cpp:3:5: error: expected ';'"
  echo "  int x = 1"
  exit 1
fi
echo "build ok"
)sh");
  const std::string run = dir.write("run.sh", report_script);
  event_log log;
  hmr::restart_strategy strategy{
      {.run = {"/bin/sh", run}, .build = {"/bin/sh", build}, .capture_output = true}};
  strategy.start(log.context());
  strategy.submit(initial);
  REQUIRE(log.wait_line("run 1|initial|"));
  REQUIRE(log.wait_count<hmr::events::process_started>(1));
  const int first = all<hmr::events::process_started>(log.snapshot())[0].pid;

  dir.write("broken", "");
  strategy.submit(change({"src/a.cpp"}));
  REQUIRE(log.wait_count<hmr::events::build_finished>(2));
  {
    const auto e = log.snapshot();
    const auto ended = all<hmr::events::build_finished>(e)[1];
    CHECK_FALSE(ended.success);
    CHECK_FALSE(ended.cancelled);
    CHECK(ended.cycle == 2);
    REQUIRE(ended.status.code.has_value());
    CHECK(*ended.status.code == 1);
    REQUIRE(ended.diagnostics.size() == 1);
    CHECK(ended.diagnostics[0] == hmr::diagnostic{.file = (fs::current_path() / "src/a.cpp").string(),
                                                  .line = 3,
                                                  .column = 5,
                                                  .severity = hmr::diagnostic::level::error,
                                                  .message = "expected ';'"});
    CHECK(line_count(e, "src/a.cpp:3:5: error: expected ';'", source::build) == 1);
    CHECK(count<hmr::events::process_exited>(e) == 0);
    CHECK(count<hmr::events::process_started>(e) == 1);
    CHECK_FALSE(not_running(first));  // still serving
  }

  fs::remove(dir.path / "broken");
  strategy.submit(change({"src/b.cpp"}));
  // The failed cycle's change is kept: the program never saw src/a.cpp either.
  REQUIRE(log.wait_line("run 2|change|src/a.cpp,src/b.cpp"));
  REQUIRE(log.wait_count<hmr::events::process_started>(2));
  {
    const auto e = log.snapshot();
    const auto ended = all<hmr::events::build_finished>(e);
    REQUIRE(ended.size() == 3);
    CHECK(ended[2].success);
    CHECK(ended[2].diagnostics.empty());
    const auto exits = all<hmr::events::process_exited>(e);
    REQUIRE(exits.size() == 1);
    CHECK(exits[0].pid == first);
    CHECK(exits[0].why == cause::stopped);
    CHECK(exits[0].status.signal_name == "SIGTERM");
    const auto started = all<hmr::events::process_started>(e)[1];
    CHECK(started.pid != first);
    CHECK(started.reason == "src/a.cpp and 1 more changed");
    CHECK(started.cycle == 3);
    CHECK(not_running(first));
  }
  strategy.stop();
  CHECK(names(log.snapshot()) ==
        std::vector<std::string>{"build_start", "build_end", "process_start", "build_start",
                                 "build_end", "build_start", "build_end", "process_exit",
                                 "process_start", "process_exit"});
}

TEST_CASE("restart, busy queue: changes during a build make exactly one more build",
          "[strategy][restart]") {
  temp_dir dir;
  REQUIRE(::mkfifo(dir.file("gate").c_str(), 0600) == 0);
  // mkdir is the mutex: a second build running at the same time fails loudly.
  const std::string build = dir.write("build.sh", R"sh(
mkdir '@DIR@/lock' 2>/dev/null || { echo "two builds at once"; exit 1; }
n=$(( $(cat '@DIR@/builds' 2>/dev/null || echo 0) + 1 ))
echo $n > '@DIR@/builds'
echo "build $n waiting"
if [ $n = 1 ]; then read x < '@DIR@/gate'; fi
rmdir '@DIR@/lock'
echo "build $n done"
)sh");
  const std::string run = dir.write("run.sh", report_script);
  event_log log;
  hmr::restart_strategy strategy{
      {.run = {"/bin/sh", run}, .build = {"/bin/sh", build}, .capture_output = true}};
  strategy.start(log.context());
  strategy.submit(initial);
  REQUIRE(log.wait_line("build 1 waiting", source::build));
  strategy.submit(change({"src/a.cpp"}));
  strategy.submit(change({"src/b.cpp", "src/a.cpp"}));
  strategy.submit(change({"src/c.cpp"}));
  REQUIRE(open_gate(dir.path / "gate"));
  REQUIRE(log.wait_line("run 2|change|src/a.cpp,src/b.cpp,src/c.cpp"));
  REQUIRE(log.wait_count<hmr::events::process_started>(2));
  strategy.stop();

  const auto e = log.snapshot();
  CHECK(names(e) == std::vector<std::string>{"build_start", "build_end", "process_start",
                                             "build_start", "build_end", "process_exit",
                                             "process_start", "process_exit"});
  CHECK(line_count(e, "two builds at once", source::build) == 0);
  CHECK(line_count(e, "build 1 done", source::build) == 1);
  CHECK(line_count(e, "build 2 done", source::build) == 1);
  // Generation 1 may be stopped by the second cycle before it prints its line.
  CHECK(line_count(e, "run 1|initial|") <= 1);
  const auto ended = all<hmr::events::build_finished>(e);
  REQUIRE(ended.size() == 2);
  CHECK(ended[0].success);
  CHECK(ended[1].success);
  CHECK(ended[0].cycle == 1);
  CHECK(ended[1].cycle == 2);
  const auto starts = all<hmr::events::process_started>(e);
  REQUIRE(starts.size() == 2);
  CHECK(starts[0].reason == "initial start");
  CHECK(starts[1].reason == "src/a.cpp and 2 more changed");
  CHECK(all<hmr::events::build_started>(e)[0].command == std::vector<std::string>{"/bin/sh", build});
}

TEST_CASE("restart, busy restart: a change during a build cancels its whole process group",
          "[strategy][restart]") {
  temp_dir dir;
  const std::string build = dir.write("build.sh", R"sh(
n=$(( $(cat '@DIR@/builds' 2>/dev/null || echo 0) + 1 ))
echo $n > '@DIR@/builds'
if [ $n = 1 ]; then
  sleep 1000 &
  echo $! > '@DIR@/sleep.tmp' && mv '@DIR@/sleep.tmp' '@DIR@/sleep.pid'
  echo $$ > '@DIR@/build.tmp' && mv '@DIR@/build.tmp' '@DIR@/build.pid'
  wait
fi
echo "build $n done"
)sh");
  const std::string run = dir.write("run.sh", report_script);
  event_log log;
  hmr::restart_strategy strategy{{.run = {"/bin/sh", run},
                                  .build = {"/bin/sh", build},
                                  .capture_output = true,
                                  .on_busy = hmr::busy_policy::restart}};
  strategy.start(log.context());
  strategy.submit(initial);
  const int grandchild = wait_for_pid_file(dir.path / "sleep.pid");
  const int first_build = wait_for_pid_file(dir.path / "build.pid");
  REQUIRE(grandchild > 0);
  REQUIRE(first_build > 0);
  CHECK(::getpgid(grandchild) == first_build);
  strategy.submit(change({"src/x.cpp"}));
  // The cancelled initial request is put back and merged: still "initial", with the change.
  REQUIRE(log.wait_line("run 1|initial|src/x.cpp"));
  REQUIRE(log.wait_count<hmr::events::process_started>(1));
  CHECK(not_running(grandchild));
  CHECK(group_not_running(first_build));
  strategy.stop();

  const auto e = log.snapshot();
  CHECK(names(e) == std::vector<std::string>{"build_start", "build_end", "build_start",
                                             "build_end", "process_start", "process_exit"});
  const auto ended = all<hmr::events::build_finished>(e);
  REQUIRE(ended.size() == 2);
  CHECK(ended[0].cancelled);
  CHECK_FALSE(ended[0].success);
  CHECK(ended[0].status.signal_name == "SIGTERM");
  CHECK(ended[0].cycle == 1);
  CHECK_FALSE(ended[1].cancelled);
  CHECK(ended[1].success);
  CHECK(ended[1].cycle == 2);
  CHECK(line_count(e, "build 1 done", source::build) == 0);
  CHECK(line_count(e, "build 2 done", source::build) == 1);
  const auto starts = all<hmr::events::process_started>(e);
  REQUIRE(starts.size() == 1);
  CHECK(starts[0].reason == "initial start");
  CHECK(starts[0].cycle == 2);
}

TEST_CASE("restart, crash policy wait: an exit is reported and nothing restarts until asked",
          "[strategy][restart]") {
  temp_dir dir;
  const std::string run = dir.write("run.sh", R"sh(
echo "run $HMR_GENERATION $HMR_REASON"
if [ "$HMR_GENERATION" = 1 ]; then exit 3; fi
exec sleep 1000
)sh");
  event_log log;
  hmr::restart_strategy strategy{{.run = {"/bin/sh", run}, .capture_output = true}};
  strategy.start(log.context());
  strategy.submit(initial);
  REQUIRE(log.wait_count<hmr::events::process_exited>(1));
  {
    const auto e = log.snapshot();
    const auto exit = all<hmr::events::process_exited>(e)[0];
    CHECK(exit.pid == all<hmr::events::process_started>(e)[0].pid);
    CHECK(exit.why == cause::exited);
    REQUIRE(exit.status.code.has_value());
    CHECK(*exit.status.code == 3);
    CHECK(line_count(e, "run 1 initial") == 1);
  }
  strategy.submit({.reason = hmr::cycle_reason::manual, .build = false});
  REQUIRE(log.wait_line("run 2 manual"));
  REQUIRE(log.wait_count<hmr::events::process_started>(2));
  strategy.stop();
  const auto e = log.snapshot();
  CHECK(names(e) == std::vector<std::string>{"process_start", "process_exit", "process_start",
                                             "process_exit"});
  const auto starts = all<hmr::events::process_started>(e);
  CHECK(starts[1].reason == "manual restart");
  const auto exits = all<hmr::events::process_exited>(e);
  CHECK(exits[1].why == cause::stopped);
  CHECK(log.finishes().empty());
}

TEST_CASE("restart, crash policy restart: restarts after a growing backoff", "[strategy][restart]") {
  temp_dir dir;
  const std::string run = dir.write("run.sh", R"sh(
ulimit -c 0
echo "run $HMR_GENERATION $HMR_REASON"
if [ "$HMR_GENERATION" -le 4 ]; then kill -SEGV $$; fi
exec sleep 1000
)sh");
  event_log log;
  // backoff_max is far above a crashing script's uptime, so the backoff never starts over.
  hmr::restart_strategy strategy{{.run = {"/bin/sh", run},
                                  .capture_output = true,
                                  .on_crash = hmr::crash_policy::restart,
                                  .backoff_initial = 20ms,
                                  .backoff_max = 1s}};
  strategy.start(log.context());
  strategy.submit(initial);
  REQUIRE(log.wait_line("run 5 crash"));
  REQUIRE(log.wait_count<hmr::events::process_started>(5));
  strategy.stop();
  const auto e = log.snapshot();
  CHECK(names(e) == std::vector<std::string>{"process_start", "process_exit", "process_start",
                                             "process_exit", "process_start", "process_exit",
                                             "process_start", "process_exit", "process_start",
                                             "process_exit"});
  const auto starts = all<hmr::events::process_started>(e);
  const auto exits = all<hmr::events::process_exited>(e);
  REQUIRE(starts.size() == 5);
  REQUIRE(exits.size() == 5);
  const std::vector<std::string> reasons = {
      "initial start", "restart after a crash (after 20 ms)", "restart after a crash (after 40 ms)",
      "restart after a crash (after 80 ms)", "restart after a crash (after 160 ms)"};
  for (std::size_t i = 0; i < 5; ++i) {
    CAPTURE(i);
    CHECK(starts[i].reason == reasons[i]);
    CHECK(starts[i].cycle == i + 1);
    CHECK(exits[i].pid == starts[i].pid);
    CHECK(line_count(e, "run " + std::to_string(i + 1) + (i == 0 ? " initial" : " crash")) == 1);
  }
  for (std::size_t i = 0; i < 4; ++i) {
    CAPTURE(i);
    CHECK(exits[i].why == cause::crashed);
    CHECK(exits[i].status.signal == SIGSEGV);
    CHECK(exits[i].status.signal_name == "SIGSEGV");
  }
  CHECK(exits[4].why == cause::stopped);
  CHECK(log.finishes().empty());
}

TEST_CASE("restart, crash policy exit: the session ends with the program's status",
          "[strategy][restart]") {
  struct row {
    const char* script;
    int code;
    const char* status;
    cause why;
  };
  const row r = GENERATE(values<row>({
      {"exit 7", 7, "exit code 7", cause::exited},
      {"ulimit -c 0; kill -SEGV $$", 128 + SIGSEGV, "SIGSEGV", cause::crashed},
      {"exit 0", 0, "exit code 0", cause::exited},
  }));
  CAPTURE(r.script);
  event_log log;
  hmr::restart_strategy strategy{{.run = {r.script},
                                  .run_shell = true,
                                  .capture_output = true,
                                  .on_crash = hmr::crash_policy::exit}};
  strategy.start(log.context());
  strategy.submit(initial);
  REQUIRE(log.wait_finish());
  const auto finishes = log.finishes();
  REQUIRE(finishes.size() == 1);
  CHECK(finishes[0].first == r.code);
  CHECK(finishes[0].second == std::string("the program ended with ") + r.status + " (on-crash exit)");
  strategy.stop();
  const auto e = log.snapshot();
  CHECK(names(e) == std::vector<std::string>{"process_start", "process_exit"});
  const auto exit = all<hmr::events::process_exited>(e)[0];
  CHECK(exit.why == r.why);
  CHECK(exit.status.describe() == r.status);
  CHECK(all<hmr::events::process_started>(e)[0].command ==
        std::vector<std::string>{"/bin/sh", "-c", r.script});
}

TEST_CASE("restart: a program that ignores SIGTERM is killed after stop_timeout",
          "[strategy][restart]") {
  temp_dir dir;
  const std::string run = dir.write("run.sh", R"sh(
if [ "$HMR_GENERATION" = 1 ]; then trap '' TERM; fi
echo "ready $HMR_GENERATION"
while :; do sleep 1; done
)sh");
  event_log log;
  hmr::restart_strategy strategy{
      {.run = {"/bin/sh", run}, .capture_output = true, .stop_timeout = 200ms}};
  strategy.start(log.context());
  strategy.submit(initial);
  REQUIRE(log.wait_line("ready 1"));
  strategy.submit(change({"src/a.cpp"}));
  REQUIRE(log.wait_line("ready 2"));
  REQUIRE(log.wait_count<hmr::events::process_started>(2));
  strategy.stop();
  const auto e = log.snapshot();
  CHECK(names(e) == std::vector<std::string>{"process_start", "process_exit", "process_start",
                                             "process_exit"});
  const auto starts = all<hmr::events::process_started>(e);
  const auto exits = all<hmr::events::process_exited>(e);
  REQUIRE(exits.size() == 2);
  CHECK(exits[0].pid == starts[0].pid);
  CHECK(exits[0].why == cause::stopped);
  CHECK(exits[0].status.signal == SIGKILL);
  CHECK(exits[0].status.signal_name == "SIGKILL");
  CHECK(exits[1].why == cause::stopped);
  CHECK(exits[1].status.signal_name == "SIGTERM");
  CHECK(group_not_running(starts[0].pid));
  CHECK(group_not_running(starts[1].pid));
}

TEST_CASE("restart: a program that cannot run is an error event; a later request works",
          "[strategy][restart]") {
  temp_dir dir;
  const std::string app = dir.file("app");
  event_log log;
  hmr::restart_strategy strategy{{.run = {app}, .capture_output = true}};
  strategy.start(log.context());
  strategy.submit(initial);
  REQUIRE(log.wait_count<hmr::events::error>(1));
  {
    const auto e = log.snapshot();
    const auto error = all<hmr::events::error>(e)[0];
    CHECK(error.message == "cannot run '" + app + "': No such file or directory");
    CHECK(error.hint ==
          "check the command, its PATH and the working directory; the next change tries again");
    CHECK_FALSE(error.fatal);
    CHECK(count<hmr::events::process_started>(e) == 0);
  }
  // Fixed: the file is written and closed before the strategy's thread forks.
  dir.write("app", "#!/bin/sh\necho \"app $HMR_REASON\"\nexec sleep 1000\n");
  fs::permissions(app, fs::perms::owner_all);
  strategy.submit({.reason = hmr::cycle_reason::manual, .build = false});
  REQUIRE(log.wait_line("app manual"));
  REQUIRE(log.wait_count<hmr::events::process_started>(1));
  strategy.stop();
  const auto e = log.snapshot();
  CHECK(names(e) == std::vector<std::string>{"error", "process_start", "process_exit"});
  CHECK(all<hmr::events::process_started>(e)[0].command == std::vector<std::string>{app});
  CHECK(all<hmr::events::process_started>(e)[0].reason == "manual restart");
}

TEST_CASE("restart: the environment says generation, reason and changed paths",
          "[strategy][restart]") {
  temp_dir dir;
  const std::string run = dir.write("run.sh", R"sh(
printf 'env %s|%s|%s|%s|%s|%s\n' "${HMR-unset}" "$HMR_GENERATION" "$HMR_REASON" \
  "$(printf '%s' "$HMR_CHANGED" | tr '\n' ',')" "$GREETING" "$(pwd -P)"
exec sleep 1000
)sh");
  const std::string build = dir.write("build.sh", "echo \"build $GREETING $(pwd -P)\"\n");
  const std::string here = fs::canonical(dir.path).string();
  event_log log;
  hmr::restart_strategy strategy{{.run = {"/bin/sh", run},
                                  .build = {"/bin/sh", build},
                                  .working_directory = dir.path.string(),
                                  .environment = {{"GREETING", "hi there"}},
                                  .capture_output = true}};
  strategy.start(log.context());
  strategy.submit(initial);
  REQUIRE(log.wait_line("env 1|1|initial||hi there|" + here));
  hmr::cycle_request changed = change({"src/a.cpp"});
  changed.batch.changes.push_back(
      {.path = "include/b.hpp", .kind = hmr::change_kind::renamed, .old_path = "include/old.hpp"});
  strategy.submit(changed);
  REQUIRE(log.wait_line("env 1|2|change|src/a.cpp,include/b.hpp|hi there|" + here));
  strategy.submit({.reason = hmr::cycle_reason::manual});
  REQUIRE(log.wait_line("env 1|3|manual||hi there|" + here));
  REQUIRE(log.wait_count<hmr::events::process_started>(3));
  strategy.stop();
  const auto e = log.snapshot();
  CHECK(line_count(e, "build hi there " + here, source::build) == 3);
  const auto starts = all<hmr::events::process_started>(e);
  REQUIRE(starts.size() == 3);
  CHECK(starts[0].reason == "initial start");
  CHECK(starts[1].reason == "src/a.cpp and 1 more changed");
  CHECK(starts[2].reason == "manual rebuild");
}

TEST_CASE("restart: stop is idempotent and the destructor stops the program",
          "[strategy][restart]") {
  temp_dir dir;
  const std::string run = dir.write("run.sh", R"sh(
sleep 1000 &
echo $! > '@DIR@/sleep.tmp' && mv '@DIR@/sleep.tmp' '@DIR@/sleep.pid'
echo "pid $$"
wait
)sh");
  SECTION("stop twice, then submit: nothing more happens") {
    event_log log;
    hmr::restart_strategy strategy{{.run = {"/bin/sh", run}, .capture_output = true}};
    strategy.start(log.context());
    strategy.submit(initial);
    const int grandchild = wait_for_pid_file(dir.path / "sleep.pid");
    REQUIRE(grandchild > 0);
    REQUIRE(log.wait_count<hmr::events::process_started>(1));
    REQUIRE(log.wait_until([](const events_t& e) { return pid_from_line(e, "pid ") > 0; }));
    strategy.stop();
    strategy.stop();
    strategy.submit(change({"a"}));
    strategy.stop();
    const auto e = log.snapshot();
    CHECK(names(e) == std::vector<std::string>{"process_start", "process_exit"});
    const int pid = all<hmr::events::process_started>(e)[0].pid;
    CHECK(pid_from_line(e, "pid ") == pid);
    CHECK(not_running(pid));
    CHECK(not_running(grandchild));
  }
  SECTION("destroying a started strategy stops its program") {
    event_log log;
    int pid = 0;
    int grandchild = 0;
    {
      hmr::restart_strategy strategy{{.run = {"/bin/sh", run}, .capture_output = true}};
      strategy.start(log.context());
      strategy.submit(initial);
      grandchild = wait_for_pid_file(dir.path / "sleep.pid");
      REQUIRE(grandchild > 0);
      REQUIRE(log.wait_count<hmr::events::process_started>(1));
      pid = all<hmr::events::process_started>(log.snapshot())[0].pid;
      CHECK_FALSE(not_running(pid));
    }
    CHECK(not_running(pid));
    CHECK(not_running(grandchild));
    CHECK(group_not_running(pid));
    const auto exits = all<hmr::events::process_exited>(log.snapshot());
    REQUIRE(exits.size() == 1);
    CHECK(exits[0].pid == pid);
    CHECK(exits[0].why == cause::stopped);
  }
  SECTION("never started: stop and submit do nothing") {
    hmr::restart_strategy strategy{{.run = {"/bin/sh", run}}};
    strategy.submit(initial);
    REQUIRE_NOTHROW(strategy.stop());
    REQUIRE_NOTHROW(strategy.stop());
    CHECK(strategy.options().run == std::vector<std::string>{"/bin/sh", run});
  }
  SECTION("start without a command is a programmer error") {
    hmr::restart_strategy strategy{{}};
    event_log log;
    REQUIRE_THROWS_AS(strategy.start(log.context()), std::invalid_argument);
  }
}

// ---------------------------------------------------------------------------------------
// command_strategy

/// A C++ program for the build tests: prints "app <VERSION> <pid>", then waits to be stopped.
std::string app_source(const std::string& version) {
  return "#include <cstdio>\n#include <unistd.h>\n"
         "int main() { std::printf(\"app " + version + " %d\\n\", static_cast<int>(getpid()));\n"
         "  std::fflush(stdout); for (;;) pause(); }\n";
}

TEST_CASE("restart: a build that leaves the executable as it was has no effect; a new one restarts",
          "[strategy][restart]") {
  temp_dir dir;
  dir.write("app.cpp", app_source("v1"));
  event_log log;
  // A real compiler relinks the program on every build: same source, same bytes.
  hmr::restart_strategy strategy{{.run = {"./app"},
                                  .build = {HMR_TEST_CXX, "-O0", "-o", "app", "app.cpp"},
                                  .working_directory = dir.path.string(),
                                  .capture_output = true}};
  strategy.start(log.context());
  strategy.submit(initial);
  REQUIRE(log.wait_count<hmr::events::process_started>(1));
  const int first = all<hmr::events::process_started>(log.snapshot())[0].pid;
  REQUIRE(log.wait_line("app v1 " + std::to_string(first)));

  SECTION("a change the build ignores: no effect, the same process runs on") {
    dir.write("README.md", "notes\n");
    strategy.submit(change({"README.md"}));
    REQUIRE(log.wait_count<hmr::events::no_effect>(1));
    const auto e = log.snapshot();
    CHECK(all<hmr::events::no_effect>(e)[0].cycle == 2);
    CHECK(all<hmr::events::no_effect>(e)[0].reason == "the build outputs did not change");
    CHECK(count<hmr::events::build_finished>(e) == 2);
    CHECK(count<hmr::events::process_started>(e) == 1);
    CHECK(count<hmr::events::process_exited>(e) == 0);
    CHECK_FALSE(not_running(first));

    // A forced restart (a rebuild with the R semantics) restarts even so.
    strategy.submit({.reason = hmr::cycle_reason::manual, .build = true, .restart = true});
    REQUIRE(log.wait_count<hmr::events::process_started>(2));
    const auto started = all<hmr::events::process_started>(log.snapshot())[1];
    CHECK(started.reason == "manual rebuild");
    REQUIRE(log.wait_line("app v1 " + std::to_string(started.pid)));
    CHECK(not_running(first));
  }
  SECTION("a change the build turns into a new executable restarts") {
    dir.write("app.cpp", app_source("v2"));
    strategy.submit(change({"app.cpp"}));
    REQUIRE(log.wait_count<hmr::events::process_started>(2));
    const auto started = all<hmr::events::process_started>(log.snapshot())[1];
    CHECK(started.reason == "app.cpp changed");
    REQUIRE(log.wait_line("app v2 " + std::to_string(started.pid)));
    CHECK(not_running(first));
    // The restart recorded the new executable: the next unchanged build is no effect.
    strategy.submit(change({"README.md"}));
    REQUIRE(log.wait_count<hmr::events::no_effect>(1));
    CHECK(count<hmr::events::process_started>(log.snapshot()) == 2);
  }
  strategy.stop();
}

TEST_CASE("restart: an interpreter or a script is not compared: a build always restarts",
          "[strategy][restart]") {
  temp_dir dir;
  const std::string run = dir.write("run.sh", "echo \"run $HMR_GENERATION\"\nexec sleep 600\n");
  fs::permissions(run, fs::perms::owner_all);
  event_log log;
  SECTION("a program from PATH (/bin/sh script.sh)") {
    hmr::restart_strategy strategy{{.run = {"/bin/sh", run}, .build = {"true"}, .capture_output = true}};
    strategy.start(log.context());
    strategy.submit(initial);
    REQUIRE(log.wait_line("run 1"));
    strategy.submit(change({"run.sh"}));
    REQUIRE(log.wait_line("run 2"));
    strategy.stop();
  }
  SECTION("a #! script") {
    dir.write("run.sh", "#!/bin/sh\necho \"run $HMR_GENERATION\"\nexec sleep 600\n");
    hmr::restart_strategy strategy{{.run = {run}, .build = {"true"}, .capture_output = true}};
    strategy.start(log.context());
    strategy.submit(initial);
    REQUIRE(log.wait_line("run 1"));
    strategy.submit(change({"lib.sh"}));
    REQUIRE(log.wait_line("run 2"));
    strategy.stop();
  }
  CHECK(count<hmr::events::no_effect>(log.snapshot()) == 0);
}

TEST_CASE("command: runs to completion per request", "[strategy][command]") {
  temp_dir dir;
  const std::string cmd = dir.write("cmd.sh", R"sh(
printf 'cmd %s|%s|%s\n' "$HMR_GENERATION" "$HMR_REASON" "$(printf '%s' "$HMR_CHANGED" | tr '\n' ',')"
case "$HMR_GENERATION" in 1) exit 0;; *) exit 5;; esac
)sh");
  event_log log;
  hmr::command_strategy strategy{{.run = {"/bin/sh", cmd}, .capture_output = true}};
  strategy.start(log.context());
  strategy.submit(initial);
  REQUIRE(log.wait_count<hmr::events::process_exited>(1));
  strategy.submit(change({"src/a.cpp", "src/b.cpp"}));
  REQUIRE(log.wait_count<hmr::events::process_exited>(2));
  strategy.stop();
  const auto e = log.snapshot();
  CHECK(names(e) == std::vector<std::string>{"process_start", "process_exit", "process_start",
                                             "process_exit"});
  const auto starts = all<hmr::events::process_started>(e);
  const auto exits = all<hmr::events::process_exited>(e);
  REQUIRE(exits.size() == 2);
  CHECK(starts[0].reason == "initial start");
  CHECK(starts[1].reason == "src/a.cpp and 1 more changed");
  CHECK(starts[0].command == std::vector<std::string>{"/bin/sh", cmd});
  for (std::size_t i = 0; i < 2; ++i) {
    CAPTURE(i);
    CHECK(starts[i].cycle == i + 1);
    CHECK(exits[i].pid == starts[i].pid);
    CHECK(exits[i].why == cause::exited);
    REQUIRE(exits[i].status.code.has_value());
    CHECK(*exits[i].status.code == (i == 0 ? 0 : 5));
  }
  // Every line is in before its process_exit.
  CHECK(line_index(e, "cmd 1|initial|") < event_index<hmr::events::process_exited>(e, 0));
  CHECK(line_index(e, "cmd 2|change|src/a.cpp,src/b.cpp") <
        event_index<hmr::events::process_exited>(e, 1));
}

TEST_CASE("command, busy queue: requests during a run make exactly one more run",
          "[strategy][command]") {
  temp_dir dir;
  REQUIRE(::mkfifo(dir.file("gate").c_str(), 0600) == 0);
  const std::string cmd = dir.write("cmd.sh", R"sh(
mkdir '@DIR@/lock' 2>/dev/null || { echo "two runs at once"; exit 1; }
printf 'cmd %s|%s|%s\n' "$HMR_GENERATION" "$HMR_REASON" "$(printf '%s' "$HMR_CHANGED" | tr '\n' ',')"
if [ "$HMR_GENERATION" = 1 ]; then echo waiting; read x < '@DIR@/gate'; fi
rmdir '@DIR@/lock'
)sh");
  event_log log;
  hmr::command_strategy strategy{{.run = {"/bin/sh", cmd}, .capture_output = true}};
  strategy.start(log.context());
  strategy.submit(initial);
  REQUIRE(log.wait_line("waiting"));
  strategy.submit(change({"src/a.cpp"}));
  strategy.submit(change({"src/b.cpp", "src/a.cpp"}));
  strategy.submit(change({"src/c.cpp"}));
  REQUIRE(open_gate(dir.path / "gate"));
  REQUIRE(log.wait_count<hmr::events::process_exited>(2));
  strategy.stop();
  const auto e = log.snapshot();
  CHECK(names(e) == std::vector<std::string>{"process_start", "process_exit", "process_start",
                                             "process_exit"});
  CHECK(line_count(e, "two runs at once") == 0);
  CHECK(line_count(e, "cmd 1|initial|") == 1);
  CHECK(line_count(e, "cmd 2|change|src/a.cpp,src/b.cpp,src/c.cpp") == 1);
  for (const auto& exit : all<hmr::events::process_exited>(e)) {
    CHECK(exit.why == cause::exited);
    CHECK(exit.status.code == std::optional<int>(0));
  }
}

TEST_CASE("command, busy restart: a request during a long run cancels it and reruns",
          "[strategy][command]") {
  temp_dir dir;
  const std::string cmd = dir.write("cmd.sh", R"sh(
printf 'cmd %s|%s|%s\n' "$HMR_GENERATION" "$HMR_REASON" "$(printf '%s' "$HMR_CHANGED" | tr '\n' ',')"
if [ "$HMR_GENERATION" = 1 ]; then
  sleep 1000 &
  echo $! > '@DIR@/sleep.tmp' && mv '@DIR@/sleep.tmp' '@DIR@/sleep.pid'
  wait
fi
)sh");
  event_log log;
  hmr::command_strategy strategy{
      {.run = {"/bin/sh", cmd}, .capture_output = true, .on_busy = hmr::busy_policy::restart}};
  strategy.start(log.context());
  strategy.submit(initial);
  const int grandchild = wait_for_pid_file(dir.path / "sleep.pid");
  REQUIRE(grandchild > 0);
  strategy.submit(change({"src/x.cpp"}));
  REQUIRE(log.wait_count<hmr::events::process_exited>(2));
  CHECK(not_running(grandchild));
  strategy.stop();
  const auto e = log.snapshot();
  CHECK(names(e) == std::vector<std::string>{"process_start", "process_exit", "process_start",
                                             "process_exit"});
  const auto starts = all<hmr::events::process_started>(e);
  const auto exits = all<hmr::events::process_exited>(e);
  CHECK(exits[0].pid == starts[0].pid);
  CHECK(exits[0].why == cause::stopped);
  CHECK(exits[0].status.signal_name == "SIGTERM");
  CHECK(group_not_running(starts[0].pid));
  CHECK(exits[1].why == cause::exited);
  CHECK(exits[1].status.code == std::optional<int>(0));
  // The cancelled initial request is put back and merged: still "initial", with the change.
  CHECK(line_count(e, "cmd 2|initial|src/x.cpp") == 1);
  CHECK(starts[1].reason == "initial start");
}

TEST_CASE("command: a failed build skips the command", "[strategy][command]") {
  temp_dir dir;
  const std::string cmd = dir.write("cmd.sh", "echo \"cmd $HMR_GENERATION $HMR_REASON\"\n");
  const std::string build_script = "echo 'src/x.cpp:1:2: warning: unused variable'; exit 2";
  event_log log;
  hmr::command_strategy strategy{{.run = {"/bin/sh", cmd},
                                  .build = {build_script},
                                  .build_shell = true,
                                  .capture_output = true}};
  strategy.start(log.context());
  strategy.submit(change({"src/x.cpp"}));
  REQUIRE(log.wait_count<hmr::events::build_finished>(1));
  strategy.submit({.reason = hmr::cycle_reason::manual, .build = false});  // runs without a build
  REQUIRE(log.wait_count<hmr::events::process_exited>(1));
  strategy.stop();
  const auto e = log.snapshot();
  CHECK(names(e) ==
        std::vector<std::string>{"build_start", "build_end", "process_start", "process_exit"});
  CHECK(all<hmr::events::build_started>(e)[0].command ==
        std::vector<std::string>{"/bin/sh", "-c", build_script});
  const auto ended = all<hmr::events::build_finished>(e)[0];
  CHECK_FALSE(ended.success);
  CHECK_FALSE(ended.cancelled);
  CHECK(ended.status.code == std::optional<int>(2));
  REQUIRE(ended.diagnostics.size() == 1);
  CHECK(ended.diagnostics[0] == hmr::diagnostic{.file = (fs::current_path() / "src/x.cpp").string(),
                                                .line = 1,
                                                .column = 2,
                                                .severity = hmr::diagnostic::level::warning,
                                                .message = "unused variable"});
  CHECK(all<hmr::events::process_started>(e)[0].reason == "manual restart");
  CHECK(lines(e) == std::vector<std::string>{"cmd 1 manual"});
}

TEST_CASE("command: a build command that cannot run is an error event", "[strategy][command]") {
  temp_dir dir;
  const std::string missing = dir.file("no-build");
  event_log log;
  hmr::command_strategy strategy{
      {.run = {"/bin/true"}, .build = {missing}, .capture_output = true}};
  strategy.start(log.context());
  strategy.submit(initial);
  REQUIRE(log.wait_count<hmr::events::build_finished>(1));
  strategy.submit({.reason = hmr::cycle_reason::manual, .build = false});
  REQUIRE(log.wait_count<hmr::events::process_exited>(1));
  strategy.stop();
  const auto e = log.snapshot();
  CHECK(names(e) == std::vector<std::string>{"build_start", "error", "build_end", "process_start",
                                             "process_exit"});
  const auto error = all<hmr::events::error>(e)[0];
  CHECK(error.message ==
        "build command failed to start: cannot run '" + missing + "': No such file or directory");
  CHECK_FALSE(error.fatal);
  const auto ended = all<hmr::events::build_finished>(e)[0];
  CHECK_FALSE(ended.success);
  CHECK(ended.status.code == std::optional<int>(127));
}

TEST_CASE("command: stop cancels a running command; the destructor too", "[strategy][command]") {
  temp_dir dir;
  const std::string cmd = dir.write("cmd.sh", R"sh(
sleep 1000 &
echo $! > '@DIR@/sleep.tmp' && mv '@DIR@/sleep.tmp' '@DIR@/sleep.pid'
wait
)sh");
  const bool destroy = GENERATE(false, true);
  CAPTURE(destroy);
  event_log log;
  int grandchild = 0;
  {
    hmr::command_strategy strategy{{.run = {"/bin/sh", cmd}, .capture_output = true}};
    strategy.start(log.context());
    strategy.submit(initial);
    grandchild = wait_for_pid_file(dir.path / "sleep.pid");
    REQUIRE(grandchild > 0);
    if (!destroy) {
      strategy.stop();
      strategy.stop();
    }
  }
  const auto e = log.snapshot();
  CHECK(names(e) == std::vector<std::string>{"process_start", "process_exit"});
  const auto exit = all<hmr::events::process_exited>(e)[0];
  CHECK(exit.why == cause::stopped);
  CHECK(exit.pid == all<hmr::events::process_started>(e)[0].pid);
  CHECK(not_running(exit.pid));
  CHECK(not_running(grandchild));
  hmr::command_strategy empty{{}};
  REQUIRE_THROWS_AS(empty.start(log.context()), std::invalid_argument);
}
