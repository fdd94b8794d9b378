// The orchestrator: wires a watcher, a filter, a debouncer, a strategy and presenters into
// the save → build → restart loop. One thread (the one in `run()`) owns all of the state.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <hmr/debouncer.hpp>
#include <hmr/events.hpp>
#include <hmr/filters.hpp>
#include <hmr/presenter.hpp>
#include <hmr/process.hpp>
#include <hmr/signals.hpp>
#include <hmr/strategy.hpp>
#include <hmr/watcher.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

namespace hmr {

/// How the orchestrator begins.
struct orchestrator_options {
  /// Wait for the first change before the first cycle (the CLI's `--postpone`).
  bool postpone = false;
};

/// Runs the loop: the watcher's changes go through the filter and the debouncer, each
/// released batch becomes one strategy request, and every event reaches every presenter.
/// Changes that arrive while the strategy is busy are merged into exactly one more cycle
/// (by the strategy's mailbox).
///
/// @code
///   hmr::orchestrator runner{
///       hmr::native_watcher{"."},
///       hmr::default_ignores() | hmr::include_globs{{"**/*.cpp", "**/*.hpp"}},
///       hmr::debouncer{50ms},
///       hmr::restart_strategy{{.run = {"./build/server"}, .build = {"cmake", "--build", "build"}}},
///       hmr::ansi_presenter{std::cerr},
///   };
///   auto signals = hmr::stop_on_interrupt(runner);  // Ctrl-C, SIGTERM, SIGHUP: clean quit
///   return runner.run();
/// @endcode
///
/// `run()` blocks until `stop()` (or the strategy's crash policy `exit`) and returns the
/// exit code. `stop()`, `reload()`, `restart()`, `rebuild()` and `pause()` are safe from any thread.
template <watcher W, path_filter F, strategy S, presenter... P>
class orchestrator {
 public:
  /// Assembles the loop; nothing runs until `run()`.
  orchestrator(W watcher, F filter, debouncer debounce, S strategy, P... presenters)
      : watcher_(std::move(watcher)),
        filter_(std::move(filter)),
        debouncer_(std::move(debounce)),
        strategy_(std::move(strategy)),
        presenters_(std::move(presenters)...) {}

  orchestrator(const orchestrator&) = delete;
  orchestrator& operator=(const orchestrator&) = delete;

  /// Sets how the loop begins; call before `run()`.
  void set_options(orchestrator_options options) { options_ = options; }

  /// Runs the loop on the calling thread until stopped; returns the exit code given to
  /// `stop()` (0 for a clean quit) or the program's status under crash policy `exit`.
  int run() {
    strategy_.start({
        .emit = [this](event e) { post(std::move(e)); },
        .finish = [this](int code, std::string reason) { stop(code, std::move(reason)); },
    });
    watcher_.start({
        .changes = [this](std::vector<file_change>&& changes) { post(std::move(changes)); },
        .notice = [this](const watch_notice& notice) { post(notice); },
    });
    // The first cycle starts once the watcher is ready (so `watching` comes first and no
    // save made during the start is missed), or at the first change with `postpone`.
    initial_pending_ = !options_.postpone;
    bool started = !options_.postpone;

    std::unique_lock lock(mutex_);
    for (;;) {
      if (stop_) break;
      if (!inbox_.empty()) {
        item next = std::move(inbox_.front());
        inbox_.pop_front();
        lock.unlock();
        handle(std::move(next), started);
        lock.lock();
        continue;
      }
      const auto deadline = debouncer_.deadline();
      if (deadline && debouncer::clock::now() >= *deadline) {
        lock.unlock();
        release_batch(started);
        lock.lock();
        continue;
      }
      if (deadline) {
        wake_.wait_until(lock, *deadline);
      } else {
        wake_.wait(lock);
      }
    }
    const stop_request request = *stop_;
    lock.unlock();

    watcher_.stop();
    strategy_.stop();  // its last events (process_exit) land in the inbox
    std::deque<item> rest;
    {
      const std::lock_guard guard(mutex_);
      rest.swap(inbox_);
    }
    for (item& left : rest) {
      if (auto* e = std::get_if<event>(&left)) present(*e);
    }
    present(events::stopped{request.reason, request.exit_code});
    return request.exit_code;
  }

  /// Ends `run()` with `exit_code`, saying why; the first call wins. Any thread.
  void stop(int exit_code = 0, std::string reason = "quit") {
    const std::lock_guard lock(mutex_);
    if (!stop_) stop_ = stop_request{exit_code, std::move(reason)};
    wake_.notify_all();
  }

  /// Reloads the program's modules without building, or restarts it where the strategy
  /// has no hot reload (the `r` key). Any thread.
  void reload() { post(command{cycle_request{cycle_reason::manual, {}, false, false}}); }
  /// Restarts the program without building, even where a reload would apply (the `R`
  /// key). Any thread.
  void restart() { post(command{cycle_request{cycle_reason::manual, {}, false, true}}); }
  /// Builds, then restarts (or reloads, when only modules changed; the `b` key). Any thread.
  void rebuild() { post(command{cycle_request{cycle_reason::manual, {}, true, false}}); }
  /// Stops (true) or resumes (false) acting on changes: changes seen while paused are
  /// dropped. Any thread.
  void pause(bool paused) { post(pause_command{paused}); }

 private:
  struct command {
    cycle_request request{};
  };
  struct pause_command {
    bool paused = false;
  };
  struct stop_request {
    int exit_code = 0;
    std::string reason{};
  };
  using item = std::variant<std::vector<file_change>, watch_notice, event, command, pause_command>;

  template <class T>
  void post(T&& value) {
    const std::lock_guard lock(mutex_);
    inbox_.emplace_back(std::forward<T>(value));
    wake_.notify_all();
  }

  void handle(item next, bool& started) {
    if (auto* changes = std::get_if<std::vector<file_change>>(&next)) {
      if (paused_) return;
      filter_changes(*changes, filter_);
      debouncer_.push(std::move(*changes), debouncer::clock::now());
    } else if (auto* notice = std::get_if<watch_notice>(&next)) {
      present_notice(*notice);
    } else if (auto* e = std::get_if<event>(&next)) {
      present(*e);
    } else if (auto* cmd = std::get_if<command>(&next)) {
      started = true;
      initial_pending_ = false;
      strategy_.submit(std::move(cmd->request));
    } else if (auto* pause_cmd = std::get_if<pause_command>(&next)) {
      paused_ = pause_cmd->paused;
      if (paused_) static_cast<void>(debouncer_.flush());  // a pending batch is dropped too
    }
  }

  void release_batch(bool& started) {
    std::optional<change_batch> batch = debouncer_.poll(debouncer::clock::now());
    if (!batch || batch->empty()) return;
    const file_change& first = batch->changes.front();
    std::string why = explain_in_root(filter_, first.root, first.path, first.is_directory).describe();
    const bool first_cycle = !started || initial_pending_;
    cycle_request request{first_cycle ? cycle_reason::initial : cycle_reason::change, *batch, true};
    started = true;
    initial_pending_ = false;
    present(events::change{std::move(*batch), std::move(why)});
    strategy_.submit(std::move(request));
  }

  void present_notice(const watch_notice& notice) {
    if (notice.kind == watch_notice_kind::ready) {
      present(events::watching{watcher_.roots(), std::string(watcher_.backend()),
                               notice.stats.directories, notice.stats.startup});
      if (initial_pending_) {
        initial_pending_ = false;
        strategy_.submit({.reason = cycle_reason::initial});
      }
    } else {
      // Running out of inotify watches or instances is a warning: the rest is polled.
      const bool warning = notice.kind == watch_notice_kind::watch_limit ||
                           notice.kind == watch_notice_kind::instance_limit;
      present(events::error{notice.message, notice.hint, false, warning});
    }
  }

  void present(const event& e) {
    std::apply([&](auto&... presenter) { (presenter.present(e), ...); }, presenters_);
  }

  W watcher_;
  F filter_;
  debouncer debouncer_;
  S strategy_;
  std::tuple<P...> presenters_;
  orchestrator_options options_{};
  bool paused_ = false;
  bool initial_pending_ = false;  // the first cycle waits for the watcher's ready notice

  std::mutex mutex_{};
  std::condition_variable wake_{};
  std::deque<item> inbox_{};
  std::optional<stop_request> stop_{};
};

/// Makes SIGINT, SIGTERM and SIGHUP end `runner.run()` cleanly with exit code 0 (its
/// children stopped, nothing left running). Keep the returned guard alive while it runs.
template <class R>
[[nodiscard]] std::unique_ptr<shutdown_signals> stop_on_interrupt(R& runner) {
  return std::make_unique<shutdown_signals>([&runner](int signal) {
    runner.stop(0, "interrupted (" + signal_name(signal) + ")");
  });
}

}  // namespace hmr
