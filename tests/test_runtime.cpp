// hmr::runtime: this test binary is started again as the "app" (with an inherited control
// socket and the HMR_* variables, through child_process and inherited_fds), and the test
// plays the supervisor over a control_endpoint. The app reports what its callbacks saw on
// stdout. Some cases run a runtime in this process, on a socketpair. Waits are on messages
// and lines with timeouts, never on sleeps.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <hmr/process.hpp>
#include <hmr/runtime.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "hmr_catch.hpp"
#include "process_fixture.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using hmr::detail::control_endpoint;
using hmr::detail::control_message;

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

// ---- The app side (runs in the re-executed binary, before main) ----------------------

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

/// A stand-in for a module handle.
class fake_module : public hmr::reloadable {
 public:
  fake_module(std::string file, hmr::reload_outcome outcome)
      : file_(std::move(file)), outcome_(std::move(outcome)) {}
  std::string file() const override { return file_; }
  hmr::reload_outcome reload(std::chrono::steady_clock::time_point deadline) override {
    const bool in_time = deadline > std::chrono::steady_clock::now();
    say("reload " + file_ + (in_time ? " before deadline" : " late"));
    return outcome_;
  }

 private:
  std::string file_;
  hmr::reload_outcome outcome_;
};

/// The number of threads of this process.
std::size_t thread_count() {
  return static_cast<std::size_t>(
      std::distance(fs::directory_iterator("/proc/self/task"), fs::directory_iterator{}));
}

[[noreturn]] void run_app(const std::string& scenario) {
  hmr::runtime& rt = hmr::runtime::instance();
  say("env " + std::string(rt.supervised() ? "1" : "0") + " " + std::to_string(rt.generation()) +
      " " + std::string(rt.reason()) + " [" + join(rt.changed()) + "] fdvar " +
      (std::getenv("HMR_CONTROL_FD") ? "set" : "unset"));
  auto restarted = rt.on_restart([](std::string_view why) { say("restart " + std::string(why)); });
  const std::string dir = std::getenv("HMR_TEST_DIR") ? std::getenv("HMR_TEST_DIR") : "/nowhere";
  fake_module good{dir + "/sub/../libgood.so", {true, ""}};
  fake_module bad{dir + "/libbad.so", {false, "slot 'counter' changed layout: size 8 -> 16"}};
  auto good_registration = rt.add_reloadable(good);
  auto bad_registration = rt.add_reloadable(bad);
  std::mutex mutex;
  std::condition_variable changed;
  bool quit = false;
  auto reloaded = rt.on_reload([](const hmr::reload_info& info) {
    say("reloaded " + join(info.modules) + " | " + join(info.changed));
  });
  auto files = rt.on_file_modified([&](const std::vector<std::string>& paths) {
    say("files " + join(paths));
    if (paths == std::vector<std::string>{"quit"}) {
      const std::lock_guard lock(mutex);
      quit = true;
      changed.notify_all();
    }
  });
  if (scenario == "alone") {
    rt.ready();
    say("alone " +
        std::to_string(bool(restarted) + bool(good_registration) + bool(reloaded) + bool(files)) +
        " threads " + std::to_string(thread_count()));
    std::exit(0);
  }
  rt.ready();
  if (scenario == "orphan") {
    // Until the supervisor closes its end (the test does that after `ready`).
    while (rt.supervised()) std::this_thread::sleep_for(1ms);
    say("unsupervised");
    std::exit(0);
  }
  {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return quit; });
  }  // not held across exit(): a callback may be waiting for it
  say("bye");
  std::exit(0);  // the runtime's destructor joins its thread: the exit must not hang
}

[[maybe_unused]] const bool app_mode = [] {
  const char* scenario = std::getenv("HMR_TEST_RUNTIME_APP");
  if (scenario == nullptr) return false;
  run_app(scenario);
}();

// ---- The supervisor side -------------------------------------------------------------

/// Messages and output lines of one app, with waits.
struct app_log {
  std::mutex mutex{};
  std::condition_variable changed{};
  std::deque<control_message> messages{};
  std::vector<std::string> lines{};  // "out: ..." and "err: ..."
  bool closed = false;

  /// The next message from the app (nullopt after 10 s).
  std::optional<control_message> next() {
    std::unique_lock lock(mutex);
    if (!changed.wait_for(lock, 10s, [&] { return !messages.empty(); })) return std::nullopt;
    control_message m = std::move(messages.front());
    messages.pop_front();
    return m;
  }
  /// True once `line` was printed (false after 10 s).
  bool wait_line(const std::string& line) {
    std::unique_lock lock(mutex);
    return changed.wait_for(
        lock, 10s, [&] { return std::find(lines.begin(), lines.end(), line) != lines.end(); });
  }
  /// How often `line` was printed.
  std::size_t count(const std::string& line) {
    const std::lock_guard lock(mutex);
    return static_cast<std::size_t>(std::count(lines.begin(), lines.end(), line));
  }
  /// True once the app's end of the channel closed (false after 10 s).
  bool wait_closed() {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 10s, [&] { return closed; });
  }
};

/// This binary started as the app `scenario`, with a control channel unless `fd_text` says
/// otherwise ("" = the real channel's number).
struct app_run {
  hmr_test::temp_dir dir{"hmr-runtime"};
  std::string module_dir{};
  app_log log{};
  std::unique_ptr<control_endpoint> channel{};
  hmr::child_process child{};

  app_run(const std::string& scenario,
          std::vector<std::pair<std::string, std::string>> env = {{"HMR", "1"},
                                                                  {"HMR_GENERATION", "1"},
                                                                  {"HMR_REASON", "initial"},
                                                                  {"HMR_CHANGED", ""}},
          std::optional<std::string> fd_text = std::nullopt, int extra_fd = -1) {
    module_dir = fs::canonical(dir.path).string();
    dir.write("libgood.so", "");
    fs::create_symlink(module_dir + "/libgood.so", module_dir + "/link.so");
    auto pair = hmr::detail::make_control_socketpair();
    REQUIRE(pair.has_value());
    env.emplace_back("HMR_CONTROL_FD", fd_text.value_or(std::to_string(pair->child_fd)));
    env.emplace_back("HMR_TEST_RUNTIME_APP", scenario);
    env.emplace_back("HMR_TEST_DIR", module_dir);
    std::vector<int> inherited{pair->child_fd};
    if (extra_fd >= 0) inherited.push_back(extra_fd);
    auto spawned = hmr::child_process::spawn({
        .command = {fs::read_symlink("/proc/self/exe").string()},
        .environment = std::move(env),
        .on_line =
            [this](hmr::output_stream stream, std::string_view line) {
              const std::lock_guard lock(log.mutex);
              log.lines.push_back((stream == hmr::output_stream::out ? "out: " : "err: ") +
                                  std::string(line));
              log.changed.notify_all();
            },
        .inherited_fds = std::move(inherited),
    });
    ::close(pair->child_fd);
    REQUIRE(spawned.has_value());
    child = std::move(*spawned);
    channel = std::make_unique<control_endpoint>(
        pair->supervisor_fd,
        [this](control_message m) {
          const std::lock_guard lock(log.mutex);
          log.messages.push_back(std::move(m));
          log.changed.notify_all();
        },
        [this] {
          const std::lock_guard lock(log.mutex);
          log.closed = true;
          log.changed.notify_all();
        });
  }
  ~app_run() {
    channel.reset();
    child.stop();
  }

  /// Expects `hello` with the app's pid, then `ready`.
  void expect_hello_and_ready() {
    auto m = log.next();
    REQUIRE(m.has_value());
    CHECK(*m == control_message{hmr::detail::control_hello{1, child.pid()}});
    m = log.next();
    REQUIRE(m.has_value());
    CHECK(*m == control_message{hmr::detail::control_ready{}});
  }

  /// Sends a reload request and returns the app's result (elapsed checked, then zeroed).
  hmr::detail::control_reload_result reload(std::uint64_t id, std::vector<std::string> modules) {
    REQUIRE(channel->send(hmr::detail::control_reload{id, std::move(modules), {"src/h.cpp"}, 5s}));
    auto m = log.next();
    REQUIRE(m.has_value());
    auto* result = std::get_if<hmr::detail::control_reload_result>(&*m);
    REQUIRE(result != nullptr);
    CHECK(result->elapsed >= 0us);
    CHECK(result->elapsed < 5s);
    hmr::detail::control_reload_result out = *result;
    out.elapsed = 0us;
    return out;
  }

  /// Asks the app to end, and checks that it printed "bye" and exited with 0.
  void quit() {
    REQUIRE(channel->send(hmr::detail::control_file_modified{{"quit"}}));
    CHECK(log.wait_line("out: bye"));
    const auto exit = child.wait_for(10s);
    REQUIRE(exit.has_value());
    CHECK(exit->status.code == 0);
    CHECK(exit->status.signal == 0);
  }
};

}  // namespace

TEST_CASE("runtime: a supervised app says hello with its pid, then ready", "[runtime]") {
  app_run app{"serve",
              {{"HMR", "1"},
               {"HMR_GENERATION", "1"},
               {"HMR_REASON", "initial"},
               {"HMR_CHANGED", "src/a.cpp\nsrc/b.hpp\n"}}};
  app.expect_hello_and_ready();
  // The runtime removed HMR_CONTROL_FD from its environment (for the app's own children).
  CHECK(app.log.wait_line("out: env 1 1 initial [src/a.cpp,src/b.hpp] fdvar unset"));
  app.quit();
  CHECK(app.log.count("out: restart initial") == 0);  // generation 1 is not a restart
  CHECK(app.log.wait_closed());
}

TEST_CASE("runtime: reload requests reach the registered modules", "[runtime]") {
  app_run app{"serve"};
  app.expect_hello_and_ready();
  const std::string good = app.module_dir + "/libgood.so";
  const std::string bad = app.module_dir + "/libbad.so";
  const std::string none = app.module_dir + "/libnone.so";
  using result = hmr::detail::control_reload_result;

  // Matched through weakly_canonical: the app registered "<dir>/sub/../libgood.so".
  CHECK(app.reload(1, {good}) == result{1, true, "", {good}, 0us});
  CHECK(app.log.wait_line("out: reloaded " + good + " | src/h.cpp"));
  CHECK(app.log.count("out: reload " + app.module_dir + "/sub/../libgood.so before deadline") == 1);

  // Through a symlink to the same file.
  const std::string link = app.module_dir + "/link.so";
  CHECK(app.reload(2, {link}) == result{2, true, "", {link}, 0us});
  CHECK(app.log.wait_line("out: reloaded " + link + " | src/h.cpp"));

  // A module the program does not have: nothing is reloaded, not even the known one.
  CHECK(app.reload(3, {good, none}) ==
        result{3, false, "the program has no module loaded from " + none, {}, 0us});
  // A module that refuses: its reason, naming the module.
  CHECK(app.reload(4, {bad}) ==
        result{4, false, bad + ": slot 'counter' changed layout: size 8 -> 16", {}, 0us});
  // The first failure stops the rest; what was swapped before it is listed.
  CHECK(app.reload(5, {good, bad}) ==
        result{5, false, bad + ": slot 'counter' changed layout: size 8 -> 16", {good}, 0us});

  app.quit();
  // Two reloads of the good module by request (1 and 2), one in request 5; the bad one
  // twice (4 and 5); on_reload only for the successful requests.
  CHECK(app.log.count("out: reload " + app.module_dir + "/sub/../libgood.so before deadline") == 3);
  CHECK(app.log.count("out: reload " + bad + " before deadline") == 2);
  std::size_t reloaded = 0;
  {
    const std::lock_guard lock(app.log.mutex);
    for (const std::string& line : app.log.lines) reloaded += line.rfind("out: reloaded ", 0) == 0;
  }
  CHECK(reloaded == 2);
}

TEST_CASE("runtime: a reload's timeout_ms is clamped to [0, 1 h]: no overflow, no instant deadline",
          "[runtime]") {
  app_run app{"serve"};
  app.expect_hello_and_ready();
  const std::string good = app.module_dir + "/libgood.so";
  const std::string registered = app.module_dir + "/sub/../libgood.so";
  // INT64_MAX ms: unclamped, now + timeout would overflow into a deadline in the past.
  REQUIRE(app.channel->send_raw(R"({"type":"reload","id":1,"modules":[")" + good +
                                R"("],"timeout_ms":9223372036854775807})" + "\n"));
  auto m = app.log.next();
  REQUIRE(m.has_value());
  const auto* result = std::get_if<hmr::detail::control_reload_result>(&*m);
  REQUIRE(result != nullptr);
  CHECK(result->id == 1);
  CHECK(result->ok);
  CHECK(app.log.wait_line("out: reload " + registered + " before deadline"));
  // A negative timeout is 0: the deadline has passed when the module is asked.
  REQUIRE(app.channel->send_raw(R"({"type":"reload","id":2,"modules":[")" + good +
                                R"("],"timeout_ms":-5})" + "\n"));
  m = app.log.next();
  REQUIRE(m.has_value());
  result = std::get_if<hmr::detail::control_reload_result>(&*m);
  REQUIRE(result != nullptr);
  CHECK(result->id == 2);
  CHECK(app.log.wait_line("out: reload " + registered + " late"));
  app.quit();
}

TEST_CASE("runtime: file_modified reaches the callbacks", "[runtime]") {
  app_run app{"serve"};
  app.expect_hello_and_ready();
  REQUIRE(app.channel->send(hmr::detail::control_file_modified{{"assets/x.png", "data/y.json"}}));
  CHECK(app.log.wait_line("out: files assets/x.png,data/y.json"));
  // Garbage and unknown messages from the supervisor are ignored.
  REQUIRE(app.channel->send_raw("garbage\n{\"type\":\"future\"}\n"));
  REQUIRE(app.channel->send(hmr::detail::control_file_modified{{}}));
  CHECK(app.log.wait_line("out: files "));
  app.quit();
}

TEST_CASE("runtime: on_restart fires once, with the reason, when this start is a restart",
          "[runtime]") {
  app_run app{
      "serve",
      {{"HMR", "1"}, {"HMR_GENERATION", "2"}, {"HMR_REASON", "crash"}, {"HMR_CHANGED", ""}}};
  app.expect_hello_and_ready();
  CHECK(app.log.wait_line("out: env 1 2 crash [] fdvar unset"));
  app.quit();
  CHECK(app.log.count("out: restart crash") == 1);
}

TEST_CASE("runtime: alone (no HMR=1), every call is a no-op and no thread starts", "[runtime]") {
  // HMR_CONTROL_FD names a real socket, but without HMR=1 the runtime leaves it alone.
  app_run app{"alone", {{"HMR", ""}, {"HMR_GENERATION", "3"}, {"HMR_REASON", "crash"}}};
  CHECK(app.log.wait_line("out: env 0 0  [] fdvar set"));
  CHECK(app.log.wait_line("out: alone 0 threads 1"));
  const auto exit = app.child.wait_for(10s);
  REQUIRE(exit.has_value());
  CHECK(exit->status.code == 0);
  REQUIRE(app.log.wait_closed());
  const std::lock_guard lock(app.log.mutex);
  CHECK(app.log.messages.empty());  // no hello, no ready
  for (const std::string& line : app.log.lines) CHECK(line.rfind("err: ", 0) != 0);
}

TEST_CASE("runtime: a bad HMR_CONTROL_FD is one line on stderr, and no channel", "[runtime]") {
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  const std::string fd_text =
      GENERATE_COPY(values<std::string>({"999", "abc", "-1", std::to_string(pipe_fds[0])}));
  CAPTURE(fd_text);
  {
    app_run app{"serve",
                {{"HMR", "1"}, {"HMR_GENERATION", "1"}, {"HMR_REASON", "initial"}},
                fd_text,
                pipe_fds[0]};
    CHECK(app.log.wait_line("err: hmr: HMR_CONTROL_FD=" + fd_text +
                            " is not an open socket; running without the supervisor's control "
                            "channel"));
    CHECK(app.log.wait_line("out: env 0 1 initial [] fdvar unset"));
    // The app runs on; it can only be stopped.
    CHECK(app.child.running());
    const auto exit = app.child.stop();
    CHECK(exit.status.signal_name == "SIGTERM");
    std::size_t errors = 0;
    const std::lock_guard lock(app.log.mutex);
    for (const std::string& line : app.log.lines) errors += line.rfind("err: ", 0) == 0;
    CHECK(errors == 1);
    CHECK(app.log.messages.empty());
  }
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
}

TEST_CASE("runtime: when the supervisor goes away, the channel thread ends quietly", "[runtime]") {
  app_run app{"orphan"};
  app.expect_hello_and_ready();
  app.channel.reset();  // the supervisor's end closes
  CHECK(app.log.wait_line("out: unsupervised"));
  const auto exit = app.child.wait_for(10s);
  REQUIRE(exit.has_value());
  CHECK(exit->status.code == 0);
  const std::lock_guard lock(app.log.mutex);
  for (const std::string& line : app.log.lines) CHECK(line.rfind("err: ", 0) != 0);
}

// ---- A runtime in this process, on a socketpair --------------------------------------

namespace {

/// A runtime of this process connected to a test endpoint.
struct local_runtime {
  app_log log{};
  std::unique_ptr<control_endpoint> supervisor{};
  std::unique_ptr<hmr::runtime> rt{};

  local_runtime() {
    auto pair = hmr::detail::make_control_socketpair();
    REQUIRE(pair.has_value());
    supervisor = std::make_unique<control_endpoint>(
        pair->supervisor_fd,
        [this](control_message m) {
          const std::lock_guard lock(log.mutex);
          log.messages.push_back(std::move(m));
          log.changed.notify_all();
        },
        [this] {
          const std::lock_guard lock(log.mutex);
          log.closed = true;
          log.changed.notify_all();
        });
    rt = std::make_unique<hmr::runtime>(
        hmr::runtime_environment{.hmr = true,
                                 .generation = 1,
                                 .reason = "initial",
                                 .control_fd = pair->child_fd,
                                 .control_fd_text = std::to_string(pair->child_fd)});
    REQUIRE(rt->supervised());
    const auto hello = log.next();
    REQUIRE(hello.has_value());
    CHECK(*hello == control_message{hmr::detail::control_hello{1, static_cast<int>(::getpid())}});
  }
};

}  // namespace

TEST_CASE("runtime: a subscription destroyed while its callback runs waits for it", "[runtime]") {
  local_runtime local;
  std::mutex mutex;
  std::condition_variable changed;
  bool entered = false;
  bool release = false;
  bool destroyed = false;
  bool destroyed_while_running = false;
  auto callback_state = std::make_unique<int>(0);  // used by the callback; freed after
  int* state = callback_state.get();
  auto sub = std::make_unique<hmr::subscription>(
      local.rt->on_file_modified([&, state](const std::vector<std::string>&) {
        std::unique_lock lock(mutex);
        entered = true;
        changed.notify_all();
        changed.wait(lock, [&] { return release; });
        destroyed_while_running = destroyed;
        ++*state;  // a use-after-free under ASan if the destruction did not wait
      }));
  REQUIRE(local.supervisor->send(hmr::detail::control_file_modified{{"a"}}));
  {
    std::unique_lock lock(mutex);
    REQUIRE(changed.wait_for(lock, 10s, [&] { return entered; }));
  }
  std::thread destroyer([&] {
    sub.reset();  // must wait for the running callback
    callback_state.reset();
    const std::lock_guard lock(mutex);
    destroyed = true;
    changed.notify_all();
  });
  {
    const std::lock_guard lock(mutex);
    release = true;
    changed.notify_all();
  }
  destroyer.join();
  CHECK_FALSE(destroyed_while_running);
  CHECK(destroyed);
}

TEST_CASE("runtime: callbacks may unsubscribe themselves and others, from the channel thread",
          "[runtime]") {
  local_runtime local;
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> seen;
  hmr::subscription first;
  hmr::subscription second;
  first = local.rt->on_file_modified([&](const std::vector<std::string>& paths) {
    const std::lock_guard lock(mutex);
    seen.push_back("first " + join(paths));
    first.reset();   // itself: no wait, no deadlock
    second.reset();  // the next one: it is not called for this message
    changed.notify_all();
  });
  second = local.rt->on_file_modified([&](const std::vector<std::string>& paths) {
    const std::lock_guard lock(mutex);
    seen.push_back("second " + join(paths));
  });
  auto third = local.rt->on_file_modified([&](const std::vector<std::string>& paths) {
    const std::lock_guard lock(mutex);
    seen.push_back("third " + join(paths));
    changed.notify_all();
  });
  REQUIRE(local.supervisor->send(hmr::detail::control_file_modified{{"a"}}));
  REQUIRE(local.supervisor->send(hmr::detail::control_file_modified{{"b"}}));
  std::unique_lock lock(mutex);
  REQUIRE(changed.wait_for(lock, 10s, [&] { return seen.size() == 3; }));
  CHECK(seen == std::vector<std::string>{"first a", "third a", "third b"});
}

TEST_CASE("runtime: destroying it closes the channel; subscriptions may outlive it", "[runtime]") {
  local_runtime local;
  auto sub = local.rt->on_reload([](const hmr::reload_info&) {});
  CHECK(bool(sub));
  local.rt->ready();
  const auto m = local.log.next();
  REQUIRE(m.has_value());
  CHECK(*m == control_message{hmr::detail::control_ready{}});
  local.rt.reset();
  CHECK(local.log.wait_closed());
  sub.reset();  // after the runtime: harmless
  CHECK_FALSE(bool(sub));
}

TEST_CASE("runtime: closing the channel while another thread calls ready() is safe", "[runtime]") {
  // What the process-wide runtime's exit guard does while a worker still runs: the
  // endpoint must stay alive (ASan/TSan would report a use after free or a race).
  local_runtime local;
  std::atomic<bool> go{false};
  std::atomic<int> calls{0};
  std::thread worker([&] {
    go.store(true);
    for (int i = 0; i < 2000; ++i) {
      local.rt->ready();
      calls.fetch_add(1);
    }
  });
  while (!go.load()) std::this_thread::yield();
  hmr::detail::runtime_access::close_channel(*local.rt);
  CHECK_FALSE(local.rt->supervised());
  CHECK(local.log.wait_closed());  // the supervisor sees EOF at once
  worker.join();
  CHECK(calls.load() == 2000);
  local.rt->ready();                                    // after the close: nothing, no crash
  hmr::detail::runtime_access::close_channel(*local.rt);  // idempotent
  const std::lock_guard lock(local.log.mutex);
  for (const control_message& m : local.log.messages)
    CHECK(m == control_message{hmr::detail::control_ready{}});
}

TEST_CASE("runtime: an environment without HMR=1 is ignored entirely", "[runtime]") {
  hmr::runtime rt{hmr::runtime_environment{
      .hmr = false, .generation = 4, .reason = "crash", .changed = {"x"}, .control_fd = 0}};
  CHECK_FALSE(rt.supervised());
  CHECK(rt.generation() == 0);
  CHECK(rt.reason().empty());
  CHECK(rt.changed().empty());
  int calls = 0;
  auto restart = rt.on_restart([&](std::string_view) { ++calls; });
  CHECK(calls == 0);
  CHECK_FALSE(bool(restart));
  CHECK_FALSE(bool(rt.on_reload([](const hmr::reload_info&) {})));
  CHECK_FALSE(bool(rt.on_file_modified([](const std::vector<std::string>&) {})));
  rt.ready();
}
