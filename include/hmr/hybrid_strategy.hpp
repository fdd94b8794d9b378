// The hybrid strategy: restart rules first, then build, then compare the build outputs by
// content with what the running program was started (or last reloaded) with. A changed
// executable restarts; changed modules are reloaded in the running program over its
// control channel; nothing changed is "no effect". Any reload that cannot apply restarts,
// with the reason. Design notes: docs/strategies.md.
#pragma once

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <hmr/detail/content_hash.hpp>
#include <hmr/detail/control_channel.hpp>
#include <hmr/detail/shadow_copy.hpp>
#include <hmr/detail/strategy_core.hpp>
#include <hmr/events.hpp>
#include <hmr/glob.hpp>
#include <hmr/process.hpp>
#include <hmr/strategy.hpp>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

namespace hmr {

/// What `hybrid_strategy` runs and how: `restart_options`' members, plus the modules,
/// the restart rules, and the reload timeout.
struct hybrid_options {
  /// The program and its arguments, or one shell string with `run_shell`.
  std::vector<std::string> run{};
  /// Run the one string in `run` through `/bin/sh -c` (there is then no executable to
  /// compare: after a build, changed modules reload and anything else restarts).
  bool run_shell = false;
  /// The build command run before each reload or restart; empty for none.
  std::vector<std::string> build{};
  /// Run the one string in `build` through `/bin/sh -c`.
  bool build_shell = false;
  /// Working directory of the program and the build; empty: the supervisor's. Relative
  /// `modules` and `run[0]` are resolved against it.
  std::string working_directory{};
  /// Variables added to the environment of the program and the build. The program also
  /// gets HMR=1, HMR_GENERATION, HMR_REASON, HMR_CHANGED and HMR_CONTROL_FD.
  std::vector<std::pair<std::string, std::string>> environment{};
  /// Capture the program's stdout and stderr as `output` events.
  bool capture_output = false;
  /// The signal that stops the program (and a cancelled build).
  int stop_signal = SIGTERM;
  /// How long a stop waits after `stop_signal` before SIGKILL.
  duration stop_timeout = std::chrono::seconds(5);
  /// What a request during a build does.
  busy_policy on_busy = busy_policy::queue;
  /// What the program ending on its own with a failure does (not during a reload: a
  /// crash while reloading is a failed reload, and the cycle restarts the program once).
  crash_policy on_crash = crash_policy::wait;
  /// The first restart delay under `crash_policy::restart`; doubles after each crash.
  duration backoff_initial = std::chrono::milliseconds(500);
  /// The longest restart delay.
  duration backoff_max = std::chrono::seconds(8);

  /// The module files the program loads (hmr/module.hpp), relative to
  /// `working_directory` or absolute. Their content decides between reload and restart.
  std::vector<std::string> modules{};
  /// Globs (hmr/glob.hpp, as include globs: a pattern without '/' matches a basename, a
  /// leading '/' anchors it) on the changed paths: a match restarts (the entry point, a
  /// header the executable includes, ...).
  std::vector<std::string> restart_on{};
  /// Never reload: every cycle restarts (the build-output comparison is skipped).
  bool cold = false;
  /// How long the program may take to answer a reload request before it is restarted.
  duration reload_timeout = std::chrono::seconds(2);
  /// The watch roots, in the order given to the watcher (`file_change::root` indexes
  /// them), to make changed paths absolute when comparing them with `modules`. Empty:
  /// changed paths are taken relative to `working_directory`.
  std::vector<std::string> watch_roots{};
};

namespace detail {

/// A `restart_on` rule: its text and the compiled glob.
struct restart_rule {
  std::string text{};  ///< as the user wrote it
  glob pattern;        ///< compiled like an include glob
};

/// The hybrid strategy's state, owned by its thread.
class hybrid_engine final : public engine_base {
 public:
  /// How `std::invalid_argument` messages name this strategy.
  static constexpr std::string_view strategy_name = "hybrid_strategy";

  /// Compiles the restart rules (std::invalid_argument for a malformed glob).
  explicit hybrid_engine(hybrid_options options)
      : engine_base(options.on_busy),
        options_(std::move(options)),
        outputs_(program_spec_of(options_), options_.modules),
        backoff_(options_.backoff_initial) {
    std::error_code ec;
    for (const std::string& root : options_.watch_roots) roots_.push_back(absolute_normal(root, std::filesystem::current_path(ec)));
    for (const std::string& text : options_.restart_on) {
      std::string_view body = text;
      const bool anchored = body.size() > 1 && body.front() == '/';
      if (anchored) body.remove_prefix(1);
      rules_.push_back({text, glob(body, {.match_basename = !anchored})});
    }
  }
  hybrid_engine(const hybrid_engine&) = delete;
  hybrid_engine& operator=(const hybrid_engine&) = delete;
  ~hybrid_engine() override { stop(); }  // the thread goes first: it uses the members below

  void run_cycle(cycle_request request) override {
    const std::uint64_t cycle = ++cycles_;
    if (unapplied_) {  // changes whose build failed: the running program has not seen them
      unapplied_->merge(std::move(request));
      request = std::move(*unapplied_);
      unapplied_.reset();
    }
    const bool has_build = !options_.build.empty();
    // (1) The restart rules.
    std::optional<std::string> forced;
    if (request.restart || !child_) {
      forced = "";
    } else if (options_.cold) {
      forced = "cold: reloads are off";
    } else {
      forced = matching_rule(request.batch);
    }
    if (forced) {
      if (request.build && has_build && !build(request, cycle)) return;
      if (request.reason != cycle_reason::crash) backoff_ = options_.backoff_initial;
      restart(request, cycle, *forced);
      return;
    }
    // (2) The build.
    if (request.build && has_build && !build(request, cycle)) return;
    backoff_ = options_.backoff_initial;
    // (3) What changed.
    const bool manual_reload = request.reason == cycle_reason::manual && !request.build;
    std::vector<std::size_t> changed;
    if (has_build) {
      const std::optional<bool> exe_changed = outputs_.executable_changed();
      if (exe_changed == true) {
        restart(request, cycle, "the executable changed");
        return;
      }
      changed = outputs_.changed_modules();
      if (changed.empty() && !exe_changed && !manual_reload) {  // no executable to compare
        restart(request, cycle, "");
        return;
      }
    } else if (!manual_reload) {
      for (const file_change& change : request.batch) {
        const auto i = module_index(change);
        if (!i) {
          restart(request, cycle, "");
          return;
        }
        if (std::find(changed.begin(), changed.end(), *i) == changed.end()) changed.push_back(*i);
      }
    }
    if (changed.empty() && manual_reload) {
      for (std::size_t i = 0; i < modules().size(); ++i) changed.push_back(i);
      if (changed.empty()) {
        restart(request, cycle, "");
        return;
      }
    }
    if (changed.empty()) {
      core_.emit(events::no_effect{has_build ? "the build outputs did not change" : "nothing changed", cycle});
    } else if (!reload(request, cycle, changed)) {
      return;  // restarted (or stopping)
    }
    forward_changes(request.batch);
  }

  void on_process_exit(std::uint64_t process_id, const process_exit& ended) override {
    if (!child_ || process_id != child_id_) return;  // already stopped by a cycle
    const process_exit exit = end_child(&ended);
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
    restart(request, ++cycles_, "");
  }

  void on_stop() override {
    if (child_) end_child();
    left_ = {};
  }

 private:
  // Runs the build; false when the cycle ends there (failed: the batch is carried).
  bool build(cycle_request& request, std::uint64_t cycle) {
    const build_outcome built = run_build(core_, build_spec_of(options_), cycle);
    if (built == build_outcome::succeeded) return true;
    if (built == build_outcome::cancelled) core_.requeue(std::move(request));
    if (built == build_outcome::failed) unapplied_ = std::move(request);
    return false;
  }

  // "src/main.cpp matches --restart-on src/main.cpp" for the first match, or nothing.
  std::optional<std::string> matching_rule(const change_batch& batch) const {
    for (const file_change& change : batch) {
      for (const restart_rule& rule : rules_) {
        for (const std::string* path : {&change.path, &change.old_path}) {
          if (!path->empty() && rule.pattern.matches(*path)) {
            return *path + " matches --restart-on " + rule.text;
          }
        }
      }
    }
    return std::nullopt;
  }

  // Which module a changed path is, compared as absolute, lexically normal paths.
  std::optional<std::size_t> module_index(const file_change& change) const {
    const std::string absolute =
        change.root < roots_.size()
            ? (std::filesystem::path(roots_[change.root]) / change.path).lexically_normal().string()
            : absolute_normal(change.path, outputs_.base());
    for (std::size_t i = 0; i < modules().size(); ++i) {
      if (modules()[i] == absolute) return i;
    }
    return std::nullopt;
  }

  // The module files, absolute and lexically normal.
  const std::vector<std::string>& modules() const noexcept { return outputs_.modules(); }

  // Sends every path of the batch to a program that kept running (it speaks the
  // protocol): absolute when its watch root is known. A program that does not read its
  // channel costs at most the send timeout; the note is then dropped.
  void forward_changes(const change_batch& batch) {
    if (batch.empty() || !endpoint_ || !hello_ || closed_) return;
    control_file_modified note;
    for (const file_change& change : batch) {
      note.paths.push_back(change.root < roots_.size()
                               ? (std::filesystem::path(roots_[change.root]) / change.path).lexically_normal().string()
                               : change.path);
    }
    endpoint_->send(note);
  }

  // The reload timeout in whole milliseconds (for messages and the channel).
  std::chrono::milliseconds reload_timeout_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(options_.reload_timeout);
  }

  // Asks the program to reload modules `which`; true when it did. Otherwise reports the
  // failure and restarts (false).
  bool reload(const cycle_request& request, std::uint64_t cycle, const std::vector<std::size_t>& which) {
    control_reload message;
    std::vector<std::optional<content_digest>> digests;
    for (const std::size_t i : which) {
      message.modules.push_back(modules()[i]);
      digests.push_back(outputs_.module_digest(i));
    }
    for (const file_change& change : request.batch) message.changed.push_back(change.path);
    message.timeout = std::min(reload_timeout_ms(), control_max_timeout);
    message.id = ++reload_ids_;
    core_.emit(events::reload_started{message.modules, cycle});
    const auto started = std::chrono::steady_clock::now();
    if (!hello_ && !closed_ && started - spawned_at_ < options_.reload_timeout) {
      // Started moments ago: it may not have reached hmr::runtime yet. Wait for its hello
      // until reload_timeout after its start, no longer.
      const task_wait waited =
          core_.run_tasks_until([this] { return hello_ || closed_; }, child_id_, spawned_at_ + options_.reload_timeout);
      if (waited == task_wait::stopping) return false;
      if (waited == task_wait::exited) {
        const process_exit exit = end_child();
        return reload_failed(request, cycle, message.modules, started,
                             "the program ended during the reload (" + exit.status.describe() + ")");
      }
    }
    if (!endpoint_) {
      return reload_failed(request, cycle, message.modules, started,
                           "the program has no control channel (see the error above): restarting instead");
    }
    if (!hello_) {
      return reload_failed(request, cycle, message.modules, started,
                           "the program has not said hello (it does not use hmr/runtime.hpp, or had not "
                           "reached it within " +
                               std::to_string(reload_timeout_ms().count()) +
                               " ms of its start): restarting instead");
    }
    reload_id_ = message.id;
    result_.reset();
    to_ready_.reset();
    reload_started_ = started;
    ready_base_ = started;
    ready_cycle_ = cycle;
    const control_send sent = closed_ ? control_send::failed : endpoint_->send_message(message);
    if (sent != control_send::sent) {
      reload_id_ = 0;
      return reload_failed(request, cycle, message.modules, started,
                           sent == control_send::timed_out ? "the program is not reading its control channel"
                                                           : "the control channel is closed");
    }
    const auto margin = std::max<duration>(std::chrono::milliseconds(500), options_.reload_timeout / 4);
    const auto deadline = started + options_.reload_timeout + margin;
    task_wait waited = core_.run_tasks_until([this] { return result_.has_value() || closed_; }, child_id_, deadline);
    std::string why;
    if (waited == task_wait::done && !result_) {  // the channel closed: the program is probably ending
      waited = core_.run_tasks_until([] { return false; }, child_id_,
                                     std::min(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(1)));
      if (waited == task_wait::timed_out) {
        waited = task_wait::done;
        why = "the control channel closed during the reload";
      }
    }
    reload_id_ = 0;
    switch (waited) {
      case task_wait::stopping:
        return false;
      case task_wait::timed_out:
        why = "no answer within " + std::to_string(reload_timeout_ms().count()) + " ms";
        break;
      case task_wait::exited: {
        const process_exit exit = end_child();
        why = "the program ended during the reload (" + exit.status.describe() + ")";
        break;
      }
      case task_wait::done:
        if (result_ && result_->ok) {
          events::reload_finished finished{};
          finished.success = true;
          finished.elapsed = std::chrono::duration_cast<duration>(std::chrono::steady_clock::now() - started);
          finished.to_ready = to_ready_;
          finished.cycle = cycle;
          finished.modules = result_->modules.empty() ? message.modules : result_->modules;
          for (std::size_t k = 0; k < which.size(); ++k) outputs_.set_module(which[k], digests[k]);
          core_.emit(std::move(finished));
          return true;
        }
        if (result_) why = result_->reason.empty() ? "the program refused the reload" : result_->reason;
        break;
    }
    return reload_failed(request, cycle, message.modules, started, why);
  }

  bool reload_failed(const cycle_request& request, std::uint64_t cycle, std::vector<std::string> modules,
                     std::chrono::steady_clock::time_point started, const std::string& why) {
    events::reload_finished finished{};
    finished.success = false;
    finished.reason = why;
    finished.elapsed = std::chrono::duration_cast<duration>(std::chrono::steady_clock::now() - started);
    finished.to_ready = to_ready_;
    finished.cycle = cycle;
    finished.modules = std::move(modules);
    finished.fallback = "restart";
    core_.emit(std::move(finished));
    restart(request, cycle, why);
    return false;
  }

  // A message from the program's channel `serial`, on the strategy's thread.
  void on_message(std::uint64_t serial, const control_message& message) {
    if (serial != serial_) return;  // from an earlier program
    if (std::holds_alternative<control_hello>(message)) {
      hello_ = true;
    } else if (std::holds_alternative<control_ready>(message)) {
      const auto now = std::chrono::steady_clock::now();
      if (reload_id_ != 0 && !to_ready_) to_ready_ = std::chrono::duration_cast<duration>(now - reload_started_);
      core_.emit(events::program_ready{child_ ? child_.pid() : 0,
                                       std::chrono::duration_cast<duration>(now - ready_base_), ready_cycle_});
    } else if (const auto* result = std::get_if<control_reload_result>(&message)) {
      if (reload_id_ != 0 && result->id == reload_id_) result_ = *result;
    }
  }

  // Stops (or collects) the program, emits its `process_exit`, closes its channel. Given
  // how it `ended` on its own, what a daemonizing program left running (its server, say)
  // runs on until the next restart or quit.
  process_exit end_child(const process_exit* ended = nullptr) {
    const bool keep_left = ended != nullptr && !ended->left_running.empty();
    const process_exit exit = keep_left ? *ended : child_.stop();  // at once when it has ended
    if (keep_left) left_ = std::move(child_);
    child_ = {};
    shadows_.collect();  // what a program killed by a signal could not remove
    endpoint_.reset();
    ++serial_;
    hello_ = false;
    closed_ = false;
    core_.emit(exit);
    return exit;
  }

  // Stops the running program (all of it), then starts the next generation with a fresh
  // control channel and records the content of its executable and modules.
  void restart(const cycle_request& request, std::uint64_t cycle, const std::string& why) {
    core_.clear_deadline();
    if (child_) end_child();
    left_ = {};
    std::string reason = describe(request);
    if (request.reason == cycle_reason::crash) {
      reason += " (after " + std::to_string(crash_delay_.count() / 1000) + " ms)";
    }
    if (!why.empty()) reason += " (" + why + ")";
    program_extras extras;
    std::string program_tmpdir;  // where the program keeps its temporary files, if set
    for (const auto& [name, value] : options_.environment)
      if (name == "TMPDIR") program_tmpdir = value;
    shadows_.add_to(extras.environment, program_tmpdir);  // HMR_SHADOW_DIR
    auto pair = make_control_socketpair();
    if (pair) {
      extras.environment.emplace_back("HMR_CONTROL_FD", std::to_string(pair->child_fd));
      extras.inherited_fds.push_back(pair->child_fd);
    } else {
      core_.emit(events::error{pair.error().message, "hot reload is off until the next restart", false});
    }
    outputs_.record();
    const auto spawn_time = std::chrono::steady_clock::now();
    auto started = start_program(core_, program_spec_of(options_), options_.capture_output, generation_ + 1,
                                 request, std::move(reason), cycle, std::move(extras));
    if (pair) close_descriptor(pair->child_fd);
    if (!started) {
      if (pair) close_descriptor(pair->supervisor_fd);
      return;
    }
    child_ = std::move(started->process);
    child_id_ = started->id;
    ++generation_;
    ready_base_ = spawn_time;
    spawned_at_ = spawn_time;
    ready_cycle_ = cycle;
    closed_ = true;  // until the endpoint is up
    if (pair) {
      const std::uint64_t serial = ++serial_;
      try {
        // Sends give up after the reload timeout: a program stuck in a callback (its
        // channel full) never blocks this thread, and Ctrl-C, for longer.
        endpoint_ = std::make_unique<control_endpoint>(
            pair->supervisor_fd,
            [this, serial](control_message message) {
              core_.post([this, serial, message = std::move(message)] { on_message(serial, message); });
            },
            [this, serial] {
              core_.post([this, serial] {
                if (serial == serial_) closed_ = true;
              });
            },
            std::clamp(reload_timeout_ms(), std::chrono::milliseconds(1), control_max_timeout));
        closed_ = false;
      } catch (const std::exception& ex) {  // no thread could be started (the fd is closed)
        core_.emit(events::error{std::string("cannot start the control channel's thread: ") + ex.what(),
                                 "hot reload is off until the next restart", false});
      }
    }
  }

  hybrid_options options_;
  build_outputs outputs_;  // what the running program was started or last reloaded with
  std::vector<std::string> roots_{};    // absolute, lexically normal
  std::vector<restart_rule> rules_{};
  child_process child_{};
  child_process left_{};  // a program that ended daemonized: what it left running
  std::uint64_t child_id_ = 0;
  shadow_session shadows_{};  // the programs' shadow copies, removed after each one ends
  std::uint64_t cycles_ = 0;
  std::uint64_t generation_ = 0;
  duration backoff_;
  duration crash_delay_{};
  std::optional<cycle_request> unapplied_{};  // the request of the last failed build
  // Its control channel.
  std::unique_ptr<control_endpoint> endpoint_{};
  std::uint64_t serial_ = 0;  // which program's channel messages belong to
  bool hello_ = false;        // the program speaks the protocol
  bool closed_ = false;       // its end is gone
  std::chrono::steady_clock::time_point ready_base_{};
  std::chrono::steady_clock::time_point spawned_at_{};  // when the running program started
  std::uint64_t ready_cycle_ = 0;
  // The reload in progress.
  std::uint64_t reload_ids_ = 0;
  std::uint64_t reload_id_ = 0;  // 0: none
  std::optional<control_reload_result> result_{};
  std::optional<duration> to_ready_{};
  std::chrono::steady_clock::time_point reload_started_{};
};

}  // namespace detail

/// Hot reload where it applies, restart where it does not, with the reason either way.
/// Per cycle: a restart rule (`restart_on`, `cold`, a forced restart, no program running)
/// restarts; otherwise build, then compare the build outputs by content with what the
/// running program has: a changed executable restarts, changed modules are reloaded in
/// the program (it uses hmr/runtime.hpp and hmr/module.hpp), and nothing changed is
/// `no_effect`. A refused, failed or timed-out reload, a program without the runtime, or a
/// crash during the reload restarts it once. Without a build command, a changed module
/// file reloads and any other change restarts.
///
/// @code
///   hmr::hybrid_strategy strategy{{
///       .run = {"./build/server"},
///       .build = {"cmake", "--build", "build"},
///       .modules = {"build/libhandler.so"},
///       .restart_on = {"src/main.cpp"},
///   }};
///   strategy.start({.emit = [](hmr::event e) { std::puts(hmr::event_name(e).data()); }});
///   strategy.submit({.reason = hmr::cycle_reason::initial});
/// @endcode
///
/// Movable until started; `start` once (std::invalid_argument when `run` is empty or a
/// `restart_on` glob is malformed); `stop` (also run by the destructor) is idempotent.
class hybrid_strategy : public detail::strategy_handle<detail::hybrid_engine, hybrid_options> {
 public:
  using strategy_handle::strategy_handle;
};

static_assert(strategy<hybrid_strategy>);

}  // namespace hmr
