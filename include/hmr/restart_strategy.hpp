// The restart strategy: build (when there is a build command), then stop the running program
// with everything it started and start it again. A failed build leaves it running, and a
// build that leaves the program's executable as it was has no effect on it.
#pragma once

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <hmr/detail/strategy_core.hpp>
#include <hmr/events.hpp>
#include <hmr/process.hpp>
#include <hmr/strategy.hpp>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace hmr {

/// What `restart_strategy` runs and how.
struct restart_options {
  /// The program and its arguments, or one shell string with `run_shell`.
  std::vector<std::string> run{};
  /// Run the one string in `run` through `/bin/sh -c`.
  bool run_shell = false;
  /// The build command run before each (re)start; empty for none.
  std::vector<std::string> build{};
  /// Run the one string in `build` through `/bin/sh -c`.
  bool build_shell = false;
  /// Working directory of the program and the build; empty: the supervisor's.
  std::string working_directory{};
  /// Variables added to the environment of the program and the build. The program also
  /// gets HMR=1, HMR_GENERATION (1, 2, ...), HMR_REASON and HMR_CHANGED.
  std::vector<std::pair<std::string, std::string>> environment{};
  /// Capture the program's stdout and stderr as `output` events (for the JSON presenter)
  /// instead of letting it write to the terminal.
  bool capture_output = false;
  /// The signal that stops the program (and a cancelled build).
  int stop_signal = SIGTERM;
  /// How long a stop waits after `stop_signal` before SIGKILL.
  duration stop_timeout = std::chrono::seconds(5);
  /// What a request during a build does.
  busy_policy on_busy = busy_policy::queue;
  /// What the program ending on its own with a failure does.
  crash_policy on_crash = crash_policy::wait;
  /// The first restart delay under `crash_policy::restart`; doubles after each crash.
  duration backoff_initial = std::chrono::milliseconds(500);
  /// The longest restart delay; a program that ran at least this long starts over at
  /// `backoff_initial`.
  duration backoff_max = std::chrono::seconds(8);
};

namespace detail {

/// The restart strategy's state, owned by its thread.
class restart_engine final : public engine_base {
 public:
  /// How `std::invalid_argument` messages name this strategy.
  static constexpr std::string_view strategy_name = "restart_strategy";

  explicit restart_engine(restart_options options)
      : engine_base(options.on_busy),
        options_(std::move(options)),
        outputs_(program_spec_of(options_), {}),
        backoff_(options_.backoff_initial) {}
  restart_engine(const restart_engine&) = delete;
  restart_engine& operator=(const restart_engine&) = delete;
  ~restart_engine() override { stop(); }  // the thread goes first: it uses the members below

  void run_cycle(cycle_request request) override {
    const std::uint64_t cycle = ++cycles_;
    if (unapplied_) {  // changes whose build failed: the running program has not seen them
      unapplied_->merge(std::move(request));
      request = std::move(*unapplied_);
      unapplied_.reset();
    }
    const bool built = request.build && !options_.build.empty();
    if (built) {
      const build_outcome outcome = run_build(core_, build_spec_of(options_), cycle);
      if (outcome == build_outcome::cancelled) {
        core_.requeue(std::move(request));
        return;
      }
      if (outcome != build_outcome::succeeded) {  // the running program stays as it is
        if (outcome == build_outcome::failed) unapplied_ = std::move(request);
        return;
      }
    }
    if (request.reason != cycle_reason::crash) backoff_ = options_.backoff_initial;
    // A build that left the executable as the running program has it changed nothing it
    // runs (a README saved, a directory created): keep the program and its state.
    if (built && child_ && !request.restart && outputs_.executable_changed() == false) {
      core_.emit(events::no_effect{"the build outputs did not change", cycle});
      return;
    }
    restart(request, cycle);
  }

  void on_process_exit(std::uint64_t process_id, const process_exit& ended) override {
    if (!child_ || process_id != child_id_) return;  // already stopped by a cycle
    // What a daemonizing program left running (its server, say) runs on until the next
    // restart or quit; anything else of its tree ends now.
    const process_exit exit = ended.left_running.empty() ? child_.stop() : ended;
    if (!ended.left_running.empty()) left_ = std::move(child_);
    child_ = {};
    core_.emit(exit);
    const bool failed = !exit.status.success();
    switch (options_.on_crash) {
      case crash_policy::exit:
        core_.finish(shell_status(exit.status),
                     "the program ended with " + exit.status.describe() + " (on-crash exit)");
        return;
      case crash_policy::restart:
        if (!failed) return;
        if (exit.uptime >= options_.backoff_max) backoff_ = options_.backoff_initial;
        core_.set_deadline(std::chrono::steady_clock::now() + backoff_);
        crash_delay_ = backoff_;
        backoff_ = std::min(backoff_ * 2, options_.backoff_max);
        return;
      case crash_policy::wait:
        return;
    }
  }

  void on_deadline() override {
    cycle_request request{cycle_reason::crash, {}, false};
    restart(request, ++cycles_);
  }

  void on_stop() override {
    if (child_) core_.emit(child_.stop());
    child_ = {};
    left_ = {};
  }

 private:
  // Stops the running program (all of it), then starts the next generation.
  void restart(const cycle_request& request, std::uint64_t cycle) {
    core_.clear_deadline();
    if (child_) {
      core_.emit(child_.stop());
      child_ = {};
    }
    left_ = {};
    std::string reason = describe(request);
    if (request.reason == cycle_reason::crash) {
      reason += " (after " + std::to_string(crash_delay_.count() / 1000) + " ms)";
    }
    outputs_.record();
    auto started = start_program(core_, program_spec_of(options_), options_.capture_output,
                                 generation_ + 1, request, std::move(reason), cycle);
    if (!started) return;
    child_ = std::move(started->process);
    child_id_ = started->id;
    ++generation_;
  }

  restart_options options_;
  build_outputs outputs_;  // the executable the running program was started from
  child_process child_{};
  child_process left_{};  // a program that ended daemonized: what it left running
  std::uint64_t child_id_ = 0;
  std::uint64_t cycles_ = 0;
  std::uint64_t generation_ = 0;
  duration backoff_;
  duration crash_delay_{};
  std::optional<cycle_request> unapplied_{};  // the request of the last failed build
};

}  // namespace detail

/// Build (when configured), then restart the program: the old one and everything it
/// started are gone before the new one runs. A failed build leaves the old one serving;
/// a build after which the executable (`run[0]`, found like execvp) has the same content
/// as when the program started is `no_effect`, and the program runs on. A forced restart
/// (`cycle_request::restart`), a shell string in `run`, or an executable that cannot be
/// found always restarts.
///
/// @code
///   hmr::restart_strategy strategy{{
///       .run = {"./build/server", "--port", "8080"},
///       .build = {"cmake", "--build", "build"},
///       .on_crash = hmr::crash_policy::restart,
///   }};
///   strategy.start({.emit = [](hmr::event e) { std::puts(hmr::event_name(e).data()); }});
///   strategy.submit({.reason = hmr::cycle_reason::initial});
/// @endcode
///
/// Movable until started; `start` once; `stop` (also run by the destructor) is idempotent.
/// The members (`start`, `submit`, `stop`, `options`) are `detail::strategy_handle`'s.
class restart_strategy : public detail::strategy_handle<detail::restart_engine, restart_options> {
 public:
  using strategy_handle::strategy_handle;
};

static_assert(strategy<restart_strategy>);

}  // namespace hmr
