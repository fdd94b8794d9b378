// The command strategy: for each batch, build (when there is a build command), then run a
// command to completion (the tests, a linter, a code generator).
#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <hmr/detail/strategy_core.hpp>
#include <hmr/events.hpp>
#include <hmr/process.hpp>
#include <hmr/strategy.hpp>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace hmr {

/// What `command_strategy` runs and how. The fields shared with `restart_options` have the
/// same names and meaning (aggregates with designated initialisers cannot share a base).
struct command_options {
  /// The command and its arguments, or one shell string with `run_shell`.
  std::vector<std::string> run{};
  /// Run the one string in `run` through `/bin/sh -c`.
  bool run_shell = false;
  /// The build command run before the command; empty for none. A failed build skips it.
  std::vector<std::string> build{};
  /// Run the one string in `build` through `/bin/sh -c`.
  bool build_shell = false;
  /// Working directory of the command and the build; empty: the supervisor's.
  std::string working_directory{};
  /// Variables added to the environment. The command also gets HMR=1, HMR_GENERATION,
  /// HMR_REASON and HMR_CHANGED.
  std::vector<std::pair<std::string, std::string>> environment{};
  /// Capture the command's output as `output` events instead of the terminal.
  bool capture_output = false;
  /// The signal that cancels the command or the build.
  int stop_signal = SIGTERM;
  /// How long a cancel waits after `stop_signal` before SIGKILL.
  duration stop_timeout = std::chrono::seconds(5);
  /// What a request while the build or the command runs does: `queue` lets it finish and
  /// runs once more; `restart` cancels it and starts over.
  busy_policy on_busy = busy_policy::queue;
};

namespace detail {

/// The command strategy's state, owned by its thread.
class command_engine final : public engine_base {
 public:
  /// How `std::invalid_argument` messages name this strategy.
  static constexpr std::string_view strategy_name = "command_strategy";

  explicit command_engine(command_options options)
      : engine_base(options.on_busy), options_(std::move(options)) {}
  command_engine(const command_engine&) = delete;
  command_engine& operator=(const command_engine&) = delete;
  ~command_engine() override { stop(); }  // the thread goes first: it uses the members below

  void run_cycle(cycle_request request) override {
    const std::uint64_t cycle = ++cycles_;
    if (request.build && !options_.build.empty()) {
      const build_outcome built = run_build(core_, build_spec_of(options_), cycle);
      if (built == build_outcome::cancelled) core_.requeue(std::move(request));
      if (built != build_outcome::succeeded) return;
    }
    auto command = start_program(core_, program_spec_of(options_), options_.capture_output,
                                 generation_ + 1, request, describe(request), cycle);
    if (!command) return;
    ++generation_;
    const wait_outcome waited = core_.wait_for_exit(command->id);
    core_.emit(command->process.stop());  // at once when it ended; else cancels its group
    if (waited == wait_outcome::cancelled) core_.requeue(std::move(request));
  }

  void on_process_exit(std::uint64_t, const process_exit&) override {}
  void on_stop() override {}

 private:
  command_options options_;
  std::uint64_t cycles_ = 0;
  std::uint64_t generation_ = 0;
};

}  // namespace detail

/// Runs a command to completion for each batch, after the build when there is one.
///
/// @code
///   hmr::command_strategy tests{{
///       .run = {"ctest", "--test-dir", "build", "--output-on-failure"},
///       .build = {"cmake", "--build", "build"},
///       .on_busy = hmr::busy_policy::restart,  // a new save cancels the running tests
///   }};
/// @endcode
///
/// Movable until started; `start` once; `stop` (also run by the destructor) is idempotent.
/// The members (`start`, `submit`, `stop`, `options`) are `detail::strategy_handle`'s.
class command_strategy : public detail::strategy_handle<detail::command_engine, command_options> {
 public:
  using strategy_handle::strategy_handle;
};

static_assert(strategy<command_strategy>);

}  // namespace hmr
