// The orchestrator over a real inotify watcher in a temporary directory, with a recording
// strategy (any type satisfying the concept) and a recording presenter. Waits are on
// recorded events with timeouts, never on sleeps.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <hmr/orchestrator.hpp>
#include <hmr/presenter.hpp>
#include <hmr/restart_strategy.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hmr_catch.hpp"
#include "process_fixture.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using hmr_test::temp_dir;

/// What the strategy and the presenter saw, shared with the test thread.
struct journal {
  std::mutex mutex{};
  std::condition_variable changed{};
  std::vector<hmr::cycle_request> requests{};
  std::vector<hmr::event> events{};
  bool started = false;
  bool stopped = false;
  hmr::strategy_context context{};

  /// Waits (10 s at most) until `done()` holds under the lock.
  bool wait(const std::function<bool()>& done) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 10s, done);
  }
  void note(const std::function<void()>& change) {
    const std::lock_guard lock(mutex);
    change();
    changed.notify_all();
  }
  std::size_t count(std::string_view name) {
    std::size_t n = 0;
    for (const auto& e : events) n += hmr::event_name(e) == name ? std::size_t{1} : std::size_t{0};
    return n;
  }
};

/// A strategy that records what it is asked to do.
struct recording_strategy {
  std::shared_ptr<journal> log;
  void start(hmr::strategy_context context) {
    log->note([&] {
      log->started = true;
      log->context = std::move(context);
    });
  }
  void submit(hmr::cycle_request request) {
    log->note([&] { log->requests.push_back(std::move(request)); });
  }
  void stop() {
    log->note([&] { log->stopped = true; });
  }
};
static_assert(hmr::strategy<recording_strategy>);

/// A presenter that records every event.
struct recording_presenter {
  std::shared_ptr<journal> log;
  void present(const hmr::event& e) {
    log->note([&] { log->events.push_back(e); });
  }
};
static_assert(hmr::presenter<recording_presenter>);

/// The orchestrator under test and the thread running it.
template <class Runner>
struct running {
  Runner& runner;
  int exit_code = -1;
  std::thread thread;
  explicit running(Runner& r) : runner(r), thread([this] { exit_code = runner.run(); }) {}
  ~running() {
    runner.stop();
    if (thread.joinable()) thread.join();
  }
  int join() {
    thread.join();
    return exit_code;
  }
};

}  // namespace

TEST_CASE("a save becomes one change event and one strategy request", "[orchestrator]") {
  temp_dir dir;
  auto log = std::make_shared<journal>();
  hmr::orchestrator runner{
      hmr::native_watcher{dir.path.string()},
      hmr::any_filter{hmr::include_globs{"**/*.cpp"}},
      hmr::debouncer{20ms},
      recording_strategy{log},
      recording_presenter{log},
  };
  running run{runner};
  REQUIRE(log->wait([&] { return log->count("watching") == 1 && !log->requests.empty(); }));
  {
    const std::lock_guard lock(log->mutex);
    CHECK(log->started);
    CHECK(log->requests.front().reason == hmr::cycle_reason::initial);
  }
  dir.write("notes.txt", "ignored by the filter\n");
  dir.write("a.cpp", "int a;\n");
  REQUIRE(log->wait([&] { return log->requests.size() == 2; }));
  {
    const std::lock_guard lock(log->mutex);
    const hmr::cycle_request& request = log->requests[1];
    CHECK(request.reason == hmr::cycle_reason::change);
    REQUIRE(request.batch.size() == 1);
    CHECK(request.batch.changes[0].path == "a.cpp");
    REQUIRE(log->count("change") == 1);
    for (const auto& e : log->events) {
      if (const auto* change = std::get_if<hmr::events::change>(&e)) {
        CHECK(change->batch == request.batch);
        CHECK(change->reason == "\"a.cpp\" kept: matched include glob \"**/*.cpp\"");
      }
    }
  }
  runner.stop(0, "quit");
  CHECK(run.join() == 0);
  const std::lock_guard lock(log->mutex);
  CHECK(log->stopped);
  REQUIRE_FALSE(log->events.empty());
  const auto* last = std::get_if<hmr::events::stopped>(&log->events.back());
  REQUIRE(last != nullptr);
  CHECK(last->reason == "quit");
  CHECK(last->exit_code == 0);
}

TEST_CASE("postpone: nothing starts before a request; manual requests", "[orchestrator]") {
  temp_dir dir;
  auto log = std::make_shared<journal>();
  hmr::orchestrator runner{
      hmr::native_watcher{dir.path.string()}, hmr::any_filter{}, hmr::debouncer{20ms},
      recording_strategy{log}, recording_presenter{log},
  };
  runner.set_options({.postpone = true});
  running run{runner};
  REQUIRE(log->wait([&] { return log->count("watching") == 1; }));
  runner.restart();
  runner.rebuild();
  runner.reload();
  REQUIRE(log->wait([&] { return log->requests.size() == 3; }));
  {
    const std::lock_guard lock(log->mutex);
    // restart: no build, forced restart; rebuild: build; reload: neither.
    CHECK(log->requests[0].reason == hmr::cycle_reason::manual);
    CHECK_FALSE(log->requests[0].build);
    CHECK(log->requests[0].restart);
    CHECK(log->requests[1].reason == hmr::cycle_reason::manual);
    CHECK(log->requests[1].build);
    CHECK_FALSE(log->requests[1].restart);
    CHECK(log->requests[2].reason == hmr::cycle_reason::manual);
    CHECK_FALSE(log->requests[2].build);
    CHECK_FALSE(log->requests[2].restart);
  }
  dir.write("first.txt", "y\n");
  REQUIRE(log->wait([&] { return log->requests.size() == 4; }));
  const std::lock_guard lock(log->mutex);
  // After manual requests, the first change is a change, not the initial start.
  CHECK(log->requests[3].reason == hmr::cycle_reason::change);
  REQUIRE(log->requests[3].batch.size() == 1);
  CHECK(log->requests[3].batch.changes[0].path == "first.txt");
}

TEST_CASE("the strategy's finish ends run() with its exit code", "[orchestrator]") {
  temp_dir dir;
  auto log = std::make_shared<journal>();
  hmr::orchestrator runner{
      hmr::native_watcher{dir.path.string()}, hmr::any_filter{}, hmr::debouncer{20ms},
      recording_strategy{log}, recording_presenter{log},
  };
  running run{runner};
  REQUIRE(log->wait([&] { return log->started; }));
  hmr::strategy_context context;
  {
    const std::lock_guard lock(log->mutex);
    context = log->context;
  }
  context.emit(hmr::events::error{"from the strategy", "", false});
  context.finish(7, "the program ended with exit code 7 (on-crash exit)");
  CHECK(run.join() == 7);
  const std::lock_guard lock(log->mutex);
  CHECK(log->count("error") == 1);
  const auto* last = std::get_if<hmr::events::stopped>(&log->events.back());
  REQUIRE(last != nullptr);
  CHECK(last->exit_code == 7);
  CHECK(last->reason == "the program ended with exit code 7 (on-crash exit)");
}

TEST_CASE("with a restart strategy, quitting stops the program and reports its exit",
          "[orchestrator]") {
  temp_dir dir;
  auto log = std::make_shared<journal>();
  hmr::orchestrator runner{
      hmr::native_watcher{dir.path.string()},
      hmr::any_filter{},
      hmr::debouncer{20ms},
      hmr::restart_strategy{{.run = {"sleep", "1000"}}},
      recording_presenter{log},
  };
  running run{runner};
  REQUIRE(log->wait([&] { return log->count("process_start") == 1; }));
  runner.stop();
  CHECK(run.join() == 0);
  const std::lock_guard lock(log->mutex);
  REQUIRE(log->events.size() >= 3);
  const auto* exit = std::get_if<hmr::events::process_exited>(&log->events[log->events.size() - 2]);
  REQUIRE(exit != nullptr);
  CHECK(exit->why == hmr::events::process_exited::cause::stopped);
  CHECK(exit->status.signal_name == "SIGTERM");
  CHECK(hmr::event_name(log->events.back()) == "stopped");
}

TEST_CASE("running out of inotify watches is presented as a warning, and the rest is polled",
          "[orchestrator]") {
  temp_dir dir;
  for (const char* sub : {"a", "b", "c"}) fs::create_directories(dir.path / sub);
  auto log = std::make_shared<journal>();
  hmr::orchestrator runner{
      hmr::native_watcher{dir.path.string(), {.max_native_watches = 1}},  // the ENOSPC path
      hmr::any_filter{},
      hmr::debouncer{20ms},
      recording_strategy{log},
      recording_presenter{log},
  };
  running run{runner};
  REQUIRE(log->wait([&] { return log->count("error") == 1 && !log->requests.empty(); }));
  {
    const std::lock_guard lock(log->mutex);
    for (const auto& e : log->events) {
      if (const auto* error = std::get_if<hmr::events::error>(&e)) {
        CHECK(error->warning);
        CHECK_FALSE(error->fatal);
      }
    }
  }
  dir.write("c/x.cpp", "int x;\n");  // under a polled directory: still seen
  REQUIRE(log->wait([&] { return log->requests.size() == 2; }));
  runner.stop(0, "quit");
  CHECK(run.join() == 0);
}
