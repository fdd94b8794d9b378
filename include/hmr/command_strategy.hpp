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

/// What `command_strategy` runs and how.
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
class command_engine final : public cycle_owner {
 public:
  explicit command_engine(command_options options)
      : options_(std::move(options)), core_(options_.on_busy) {}
  command_engine(const command_engine&) = delete;
  command_engine& operator=(const command_engine&) = delete;
  // The thread goes first: it uses the members below.
  ~command_engine() override { core_.stop(); }

  void start(strategy_context context) { core_.start(std::move(context), *this); }
  void submit(cycle_request request) { core_.submit(std::move(request)); }
  void stop() { core_.stop(); }

  void run_cycle(cycle_request request) override {
    const std::uint64_t cycle = ++cycles_;
    if (request.build && !options_.build.empty()) {
      const build_outcome built =
          run_build(core_, {options_.build, options_.build_shell, options_.working_directory,
                            options_.environment, options_.stop_signal, options_.stop_timeout},
                    cycle);
      if (built == build_outcome::cancelled) core_.requeue(std::move(request));
      if (built != build_outcome::succeeded) return;
    }
    const std::uint64_t id = core_.next_process_id();
    const auto gate = std::make_shared<output_gate>(core_);
    auto spawned = child_process::spawn({
        .command = options_.run,
        .shell = options_.run_shell,
        .working_directory = options_.working_directory,
        .environment = child_environment(options_.environment, generation_ + 1, request),
        .on_line = options_.capture_output ? output_gate::forwarder(gate) : nullptr,
        .on_exit = core_.exit_notifier(id),
        .stop_signal = options_.stop_signal,
        .grace_period = options_.stop_timeout,
    });
    if (!spawned) {
      core_.emit(events::error{spawned.error().message,
                               "check the command, its PATH and the working directory; "
                               "the next change tries again",
                               false});
      return;
    }
    child_process command = std::move(*spawned);
    ++generation_;
    core_.emit(events::process_started{command.pid(),
                                       shown_command(options_.run, options_.run_shell),
                                       describe(request), cycle});
    gate->open();
    const wait_outcome waited = core_.wait_for_exit(id);
    core_.emit(command.stop());  // at once when it ended; else cancels its group
    if (waited == wait_outcome::cancelled) core_.requeue(std::move(request));
  }

  void on_process_exit(std::uint64_t, const process_exit&) override {}
  void on_stop() override {}

 private:
  command_options options_;
  strategy_core core_;
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
class command_strategy {
 public:
  /// A strategy that will run `options` once started.
  explicit command_strategy(command_options options) : options_(std::move(options)) {}

  /// Starts the strategy's thread. Nothing runs until the first request.
  /// Throws std::invalid_argument when `run` is empty.
  void start(strategy_context context) {
    if (options_.run.empty()) throw std::invalid_argument("command_strategy: no command to run");
    engine_ = std::make_unique<detail::command_engine>(options_);
    engine_->start(std::move(context));
  }
  /// Queues a cycle; requests that arrive while one runs become exactly one more cycle.
  void submit(cycle_request request) {
    if (engine_) engine_->submit(std::move(request));
  }
  /// Cancels a running build or command and returns when all of it is gone.
  void stop() {
    if (engine_) engine_->stop();
  }
  /// The options given at construction.
  [[nodiscard]] const command_options& options() const noexcept { return options_; }

 private:
  command_options options_;
  std::unique_ptr<detail::command_engine> engine_{};
};

static_assert(strategy<command_strategy>);

}  // namespace hmr
