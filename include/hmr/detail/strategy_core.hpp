// The machinery the built-in strategies share: one thread that owns the strategy's state,
// a mailbox (pending request, process exits, stop), cancellable waits on processes, and the
// build step. Strategies implement `cycle_owner`; nothing here is public API.
#pragma once

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <hmr/detail/content_hash.hpp>
#include <hmr/diagnostics.hpp>
#include <hmr/events.hpp>
#include <hmr/process.hpp>
#include <hmr/strategy.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace hmr::detail {

/// What a strategy's thread calls back into.
class cycle_owner {
 public:
  virtual ~cycle_owner() = default;
  /// Runs one cycle for `request`, on the strategy's thread.
  virtual void run_cycle(cycle_request request) = 0;
  /// A process started with `process_id` ended on its own or was stopped.
  virtual void on_process_exit(std::uint64_t process_id, const process_exit& exit) = 0;
  /// The deadline set with `set_deadline` passed with nothing else to do.
  virtual void on_deadline() {}
  /// The strategy is stopping: stop every process, on the strategy's thread.
  virtual void on_stop() = 0;
};

/// How a wait on a process ended.
enum class wait_outcome : std::uint8_t {
  exited,     ///< the process ended
  cancelled,  ///< a newer request arrived and the busy policy cancels
  stopping,   ///< the strategy is stopping
};

/// How `strategy_core::run_tasks_until` ended.
enum class task_wait : std::uint8_t {
  done,       ///< the condition became true
  exited,     ///< the watched process ended (its exit note was consumed)
  stopping,   ///< the strategy is stopping
  timed_out,  ///< the deadline passed
};

/// The strategy's thread and mailbox.
class strategy_core {
 public:
  /// `busy` decides whether `wait_for_exit` gives way to a newer request.
  explicit strategy_core(busy_policy busy) : busy_(busy) {}
  strategy_core(const strategy_core&) = delete;
  strategy_core& operator=(const strategy_core&) = delete;
  ~strategy_core() { stop(); }

  /// Starts the thread; `owner` must outlive `stop()`.
  void start(strategy_context context, cycle_owner& owner) {
    context_ = std::move(context);
    owner_ = &owner;
    thread_ = std::thread([this] { loop(); });
  }

  /// Queues `request`, merged with any not yet started. Thread-safe, never blocks on a cycle.
  void submit(cycle_request request) {
    const std::lock_guard lock(mutex_);
    if (pending_) {
      pending_->merge(std::move(request));
    } else {
      pending_ = std::move(request);
    }
    wake_.notify_all();
  }

  /// Puts a cancelled cycle's request back in front of whatever arrived since.
  void requeue(cycle_request request) {
    const std::lock_guard lock(mutex_);
    if (pending_) request.merge(std::move(*pending_));
    pending_ = std::move(request);
    wake_.notify_all();
  }

  /// Stops the thread after the cycle in progress gives way; idempotent. Not from the
  /// strategy's own thread.
  void stop() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
      wake_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
  }

  /// Emits an event to the context (any thread).
  void emit(event e) const {
    if (context_.emit) context_.emit(std::move(e));
  }

  /// Asks the session to end (strategy thread).
  void finish(int exit_code, std::string reason) const {
    if (context_.finish) context_.finish(exit_code, std::move(reason));
  }

  /// An `on_exit` callback for a process: posts its exit to the mailbox under `process_id`.
  auto exit_notifier(std::uint64_t process_id) {
    return [this, process_id](const process_exit& exit) {
      const std::lock_guard lock(mutex_);
      exits_.emplace_back(process_id, exit);
      wake_.notify_all();
    };
  }

  /// Queues `task` to run on the strategy's thread (any thread): between cycles, or inside
  /// `run_tasks_until`. Tasks run in the order posted. Tasks still queued at stop are dropped.
  void post(std::function<void()> task) {
    const std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
    wake_.notify_all();
  }

  /// Strategy thread, inside a cycle: runs posted tasks until `done()` holds. Also returns
  /// when process `process_id` has ended (its exit note consumed), the strategy stops, or
  /// `deadline` passes. Newer requests stay queued (they never cancel this wait).
  task_wait run_tasks_until(const std::function<bool()>& done, std::uint64_t process_id,
                            std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (stopping_) return task_wait::stopping;
      if (!tasks_.empty()) {
        std::function<void()> task = std::move(tasks_.front());
        tasks_.pop_front();
        lock.unlock();
        task();
        lock.lock();
        continue;
      }
      lock.unlock();
      const bool finished = done();
      lock.lock();
      if (finished) return task_wait::done;
      if (!tasks_.empty()) continue;  // posted while `done` ran
      for (auto it = exits_.begin(); it != exits_.end(); ++it) {
        if (it->first == process_id) {
          exits_.erase(it);
          return task_wait::exited;
        }
      }
      if (std::chrono::steady_clock::now() >= deadline) return task_wait::timed_out;
      wake_.wait_until(lock, deadline);
    }
  }

  /// A fresh id for a process's exit notes.
  std::uint64_t next_process_id() noexcept { return ++process_ids_; }

  /// Waits until process `process_id` has ended, a newer request cancels (busy policy
  /// `restart`) or the strategy stops. The process's exit note is consumed.
  wait_outcome wait_for_exit(std::uint64_t process_id) {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (stopping_) return wait_outcome::stopping;
      for (auto it = exits_.begin(); it != exits_.end(); ++it) {
        if (it->first == process_id) {
          exits_.erase(it);
          return wait_outcome::exited;
        }
      }
      if (pending_ && busy_ == busy_policy::restart) return wait_outcome::cancelled;
      wake_.wait(lock);
    }
  }

  /// `on_deadline` runs at `when` unless cleared first; one deadline at a time. Only from
  /// the strategy's thread (it does not wake the thread: the loop reads it next).
  void set_deadline(std::chrono::steady_clock::time_point when) {
    const std::lock_guard lock(mutex_);
    deadline_ = when;
  }
  /// Clears the deadline.
  void clear_deadline() {
    const std::lock_guard lock(mutex_);
    deadline_.reset();
  }

 private:
  void loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (stopping_) break;
      if (!exits_.empty()) {
        const std::pair<std::uint64_t, process_exit> ended = std::move(exits_.front());
        exits_.pop_front();
        lock.unlock();
        guarded("handling a process's exit", [&] { owner_->on_process_exit(ended.first, ended.second); });
        lock.lock();
        continue;
      }
      if (!tasks_.empty()) {
        std::function<void()> task = std::move(tasks_.front());
        tasks_.pop_front();
        lock.unlock();
        guarded("a task from the control channel", task);
        lock.lock();
        continue;
      }
      if (pending_) {
        cycle_request request = std::move(*pending_);
        pending_.reset();
        lock.unlock();
        guarded("a cycle", [&] { owner_->run_cycle(std::move(request)); });
        lock.lock();
        continue;
      }
      if (deadline_) {
        if (std::chrono::steady_clock::now() >= *deadline_) {
          deadline_.reset();
          lock.unlock();
          guarded("a delayed restart", [&] { owner_->on_deadline(); });
          lock.lock();
          continue;
        }
        wake_.wait_until(lock, *deadline_);
      } else {
        wake_.wait(lock);
      }
    }
    lock.unlock();
    guarded("stopping the program", [&] { owner_->on_stop(); });
  }

  // Runs `f` (the strategy's code) so that an exception escaping it becomes an `error`
  // event naming `what` instead of ending the process; the thread goes on.
  template <class F>
  void guarded(const char* what, F&& f) noexcept {
    std::string message;
    try {
      f();
      return;
    } catch (const std::exception& ex) {
      message = std::string("the strategy failed in ") + what + ": " + ex.what();
    } catch (...) {
      message = std::string("the strategy failed in ") + what + " (an unknown exception)";
    }
    try {
      emit(events::error{std::move(message), "hmr goes on; the next change starts a new cycle", false});
    } catch (...) {  // the presenter failed too: nothing more can be said
    }
  }

  busy_policy busy_;
  strategy_context context_{};
  cycle_owner* owner_ = nullptr;
  std::mutex mutex_{};
  std::condition_variable wake_{};
  std::optional<cycle_request> pending_{};
  std::deque<std::pair<std::uint64_t, process_exit>> exits_{};
  std::deque<std::function<void()>> tasks_{};
  std::optional<std::chrono::steady_clock::time_point> deadline_{};
  bool stopping_ = false;
  std::uint64_t process_ids_ = 0;
  std::thread thread_{};
};

/// Forwards a process's captured lines as `output` events, holding them back until its
/// `process_start` has been emitted (`open()`), so presenters always see the start first.
class output_gate {
 public:
  /// Lines will be emitted through `core`.
  explicit output_gate(strategy_core& core) : core_(core) {}

  /// The `on_line` callback for `process_options` (reader thread).
  static std::function<void(output_stream, std::string_view)> forwarder(
      std::shared_ptr<output_gate> gate) {
    return [gate = std::move(gate)](output_stream stream, std::string_view line) {
      gate->line(stream, line);
    };
  }

  /// Emits the held lines, then lets later ones through (strategy thread).
  void open() {
    const std::lock_guard lock(mutex_);
    open_ = true;
    for (events::output& e : held_) core_.emit(std::move(e));
    held_.clear();
  }

 private:
  void line(output_stream stream, std::string_view text) {
    events::output e{stream, events::output::source_kind::process, std::string(text)};
    const std::lock_guard lock(mutex_);  // held while emitting: keeps the lines in order
    if (open_) {
      core_.emit(std::move(e));
    } else {
      held_.push_back(std::move(e));
    }
  }

  strategy_core& core_;
  std::mutex mutex_{};
  bool open_ = false;
  std::vector<events::output> held_{};
};

/// The command a process runs, as events show it: argv, or {"/bin/sh", "-c", string}.
inline std::vector<std::string> shown_command(const std::vector<std::string>& command,
                                              bool shell) {
  if (!shell) return command;
  return {"/bin/sh", "-c", command.empty() ? std::string() : command.front()};
}

/// 128 + N for a signal, the code otherwise: the status a shell would report.
inline int shell_status(const exit_status& status) noexcept {
  return status.code ? *status.code : 128 + status.signal;
}

/// A command as a strategy runs it: the build, or the program.
struct command_spec {
  std::vector<std::string> command{};  ///< argv, or one shell string; empty: none
  bool shell = false;                  ///< run the one string through /bin/sh -c
  std::string working_directory{};     ///< empty: the supervisor's
  std::vector<std::pair<std::string, std::string>> environment{};  ///< added variables
  int stop_signal = SIGTERM;                                       ///< stop/cancel signal
  duration grace_period = std::chrono::seconds(5);                 ///< before SIGKILL
};

/// The build command of a strategy's options (`restart_options`, `command_options`).
template <class Options>
command_spec build_spec_of(const Options& o) {
  return {o.build, o.build_shell, o.working_directory, o.environment, o.stop_signal, o.stop_timeout};
}

/// The program (or command) of a strategy's options.
template <class Options>
command_spec program_spec_of(const Options& o) {
  return {o.run, o.run_shell, o.working_directory, o.environment, o.stop_signal, o.stop_timeout};
}

/// How a build step ended.
enum class build_outcome : std::uint8_t { succeeded, failed, cancelled, stopping };

/// Runs the build for `cycle` on the strategy's thread: emits `build_start`, each output
/// line as `output` (source build), and `build_end` with the parsed diagnostics. A newer
/// request under busy policy `restart` stops the build's whole process group.
inline build_outcome run_build(strategy_core& core, const command_spec& spec, std::uint64_t cycle) {
  struct shared_parser {
    std::mutex mutex{};
    diagnostic_parser parser{};
  };
  auto parsed = std::make_shared<shared_parser>();
  parsed->parser.resolve_from(spec.working_directory);  // relative paths made absolute
  const auto started = std::chrono::steady_clock::now();
  core.emit(events::build_started{shown_command(spec.command, spec.shell), cycle});
  const std::uint64_t id = core.next_process_id();
  auto spawned = child_process::spawn({
      .command = spec.command,
      .shell = spec.shell,
      .working_directory = spec.working_directory,
      .environment = spec.environment,
      .on_line =
          [&core, parsed](output_stream stream, std::string_view line) {
            {
              const std::lock_guard lock(parsed->mutex);
              parsed->parser.feed(line);
            }
            core.emit(events::output{stream, events::output::source_kind::build, std::string(line)});
          },
      .on_exit = core.exit_notifier(id),
      .stop_signal = spec.stop_signal,
      .grace_period = spec.grace_period,
  });
  events::build_finished finished{};
  finished.cycle = cycle;
  if (!spawned) {
    finished.status.code = 127;
    finished.elapsed = std::chrono::duration_cast<duration>(std::chrono::steady_clock::now() - started);
    core.emit(events::error{"build command failed to start: " + spawned.error().message,
                            "check the build command (--build) and the working directory",
                            false});
    core.emit(std::move(finished));
    return build_outcome::failed;
  }
  child_process build = std::move(*spawned);
  const wait_outcome waited = core.wait_for_exit(id);
  const process_exit exit = build.stop();  // at once when it ended; else cancels the group
  finished.status = exit.status;
  finished.success = waited == wait_outcome::exited && exit.status.success();
  finished.cancelled = waited != wait_outcome::exited;
  finished.elapsed = std::chrono::duration_cast<duration>(std::chrono::steady_clock::now() - started);
  {
    const std::lock_guard lock(parsed->mutex);
    parsed->parser.finish();
    finished.diagnostics = parsed->parser.take();
  }
  core.emit(std::move(finished));
  if (waited == wait_outcome::cancelled) return build_outcome::cancelled;
  if (waited == wait_outcome::stopping) return build_outcome::stopping;
  return exit.status.success() ? build_outcome::succeeded : build_outcome::failed;
}

/// The environment a supervised process gets: the user's additions, then `HMR=1`,
/// `HMR_GENERATION`, `HMR_REASON` and `HMR_CHANGED`.
inline std::vector<std::pair<std::string, std::string>> child_environment(
    std::vector<std::pair<std::string, std::string>> user, std::uint64_t generation,
    const cycle_request& request) {
  user.emplace_back("HMR", "1");
  user.emplace_back("HMR_GENERATION", std::to_string(generation));
  user.emplace_back("HMR_REASON", std::string(to_string(request.reason)));
  user.emplace_back("HMR_CHANGED", changed_paths(request.batch));
  return user;
}

/// A program a strategy started: the process and the id its exit note carries.
struct started_program {
  child_process process{};    ///< the running program
  std::uint64_t id = 0;       ///< its id in `strategy_core` exit notes
};

/// What a strategy adds to a program's start beyond its `command_spec`.
struct program_extras {
  /// Variables added after the `HMR_*` ones (`HMR_CONTROL_FD`, say).
  std::vector<std::pair<std::string, std::string>> environment{};
  /// Descriptors the program inherits under the same numbers (a control channel's end).
  std::vector<int> inherited_fds{};
};

/// An `on_stop` callback for a program: a job-control stop that did not hand it the
/// terminal is an `error` event (not fatal), so a stopped program is never waited on silently.
inline std::function<void(int, bool)> job_stop_reporter(strategy_core& core, const command_spec& spec) {
  const std::string name = spec.shell || spec.command.empty() ? "the program" : spec.command.front();
  return [&core, name](int signal, bool handed_terminal) {
    if (handed_terminal) return;
    std::string why;
    std::string hint = "the next change restarts it";
    if (signal == SIGTTIN || signal == SIGTTOU) {
      why = signal == SIGTTIN ? " (it read the terminal" : " (it changed the terminal's modes";
      why += ", which the supervisor does not hold: it runs in the background)";
      hint = "run the supervisor in the foreground of its terminal, or start the program with "
             "its input from elsewhere (< /dev/null); " + hint;
    } else if (signal == SIGTSTP) {
      why = " (Ctrl-Z)";
    }
    core.emit(events::error{name + " is stopped by " + signal_name(signal) + why, hint, false});
  };
}

/// Starts `spec` for `request` as generation `generation` (the `HMR_*` variables, then
/// `extras`), then emits `process_start` with `reason`, holding captured output until then.
/// A program that cannot start is an `error` event, and nothing is returned.
inline std::optional<started_program> start_program(strategy_core& core, const command_spec& spec,
                                                    bool capture, std::uint64_t generation,
                                                    const cycle_request& request,
                                                    std::string reason, std::uint64_t cycle,
                                                    program_extras extras = {}) {
  const std::uint64_t id = core.next_process_id();
  const auto gate = std::make_shared<output_gate>(core);
  auto environment = child_environment(spec.environment, generation, request);
  for (auto& variable : extras.environment) environment.push_back(std::move(variable));
  auto spawned = child_process::spawn({
      .command = spec.command,
      .shell = spec.shell,
      .working_directory = spec.working_directory,
      .environment = std::move(environment),
      .on_line = capture ? output_gate::forwarder(gate) : nullptr,
      .on_exit = core.exit_notifier(id),
      .on_stop = job_stop_reporter(core, spec),
      .share_terminal = true,
      .stop_signal = spec.stop_signal,
      .grace_period = spec.grace_period,
      .inherited_fds = std::move(extras.inherited_fds),
  });
  if (!spawned) {
    core.emit(events::error{spawned.error().message,
                            "check the command, its PATH and the working directory; "
                            "the next change tries again",
                            false});
    return std::nullopt;
  }
  core.emit(events::process_started{spawned->pid(), shown_command(spec.command, spec.shell),
                                    std::move(reason), cycle});
  gate->open();
  return started_program{std::move(*spawned), id};
}

/// `path` made absolute against `base` (when relative) and lexically normal.
inline std::string absolute_normal(const std::string& path, const std::filesystem::path& base) {
  std::filesystem::path p(path);
  if (p.is_relative()) p = base / p;
  return p.lexically_normal().string();
}

/// The file exec would run for `program` in `directory`: itself (against `directory`)
/// when it has a '/', else the first executable regular file in an entry of `search`
/// (a PATH value; empty: the supervisor's PATH). Empty when none is found.
inline std::string resolve_executable(const std::string& program, const std::filesystem::path& directory,
                                      const std::string& search = {}) {
  namespace fs = std::filesystem;
  if (program.empty()) return {};
  if (program.find('/') != std::string::npos) return absolute_normal(program, directory);
  const char* path_env = std::getenv("PATH");
  std::string_view entries = !search.empty() ? std::string_view(search)
                             : path_env != nullptr ? std::string_view(path_env)
                                                   : std::string_view("/usr/local/bin:/usr/bin:/bin");
  for (;;) {
    const auto colon = entries.find(':');
    const std::string entry(entries.substr(0, colon));
    const fs::path candidate = absolute_normal(entry.empty() ? "." : entry, directory) + "/" + program;
    std::error_code ec;
    const auto status = fs::status(candidate, ec);
    if (!ec && fs::is_regular_file(status) &&
        (status.permissions() & (fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec)) !=
            fs::perms::none) {
      return candidate.lexically_normal().string();
    }
    if (colon == std::string_view::npos) return {};
    entries.remove_prefix(colon + 1);
  }
}

/// True when `executable` is a native program that a build may have produced: an ELF file
/// outside the directories of `search` (a PATH value; empty: the supervisor's PATH). Not an
/// interpreter or a tool from PATH (`python3 app.py`, `node dist/app.js`) nor a `#!`
/// script (`./run.sh`): what those run is not the executable, so its content says nothing.
inline bool native_build_output(const std::string& executable, const std::string& search = {}) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path file = fs::canonical(executable, ec);
  if (ec) return false;
  {
    char magic[4] = {};
    std::ifstream in(file, std::ios::binary);
    if (!in.read(magic, sizeof magic) || std::string_view(magic, 4) != std::string_view("\x7f" "ELF", 4)) return false;
  }
  const char* path_env = std::getenv("PATH");
  std::string_view entries = !search.empty() ? std::string_view(search)
                             : path_env != nullptr ? std::string_view(path_env)
                                                   : std::string_view("/usr/local/bin:/usr/bin:/bin");
  const fs::path directory = file.parent_path();
  for (;;) {
    const auto colon = entries.find(':');
    const std::string entry(entries.substr(0, colon));
    if (!entry.empty() && fs::path(entry).is_absolute() && fs::weakly_canonical(entry, ec) == directory && !ec) {
      return false;
    }
    if (colon == std::string_view::npos) return true;
    entries.remove_prefix(colon + 1);
  }
}

/// The build outputs the running program was started (or last reloaded) with, by content:
/// its executable (`run[0]` resolved like execvp, when `native_build_output`; none for a
/// shell string) and its modules.
/// After a build, what changed among them decides what the build did to the program: a
/// changed executable needs a restart, changed modules a reload, and nothing changed means
/// the build had no effect on it.
class build_outputs {
 public:
  /// The outputs of `program` (its command, shell flag, working directory and PATH) and
  /// of `modules` (relative to the working directory, or absolute).
  build_outputs(const command_spec& program, const std::vector<std::string>& modules) {
    std::error_code ec;
    base_ = program.working_directory.empty() ? std::filesystem::current_path(ec)
                                              : std::filesystem::absolute(program.working_directory, ec);
    if (!program.shell && !program.command.empty()) program_ = program.command.front();
    for (const auto& [name, value] : program.environment) {
      if (name == "PATH") search_ = value;
    }
    for (const std::string& m : modules) modules_.push_back(absolute_normal(m, base_));
    module_digests_.resize(modules_.size());
  }

  /// Records the outputs as the program about to start will see them (resolving the
  /// executable again: a build may have created it).
  void record() {
    exe_path_ = resolve_executable(program_, base_, search_);
    if (!exe_path_.empty() && !native_build_output(exe_path_, search_)) exe_path_.clear();
    exe_digest_ = digest_of(exe_path_);
    for (std::size_t i = 0; i < modules_.size(); ++i) module_digests_[i] = digest_of(modules_[i]);
  }

  /// Whether the executable differs from the recorded one (another file, or other bytes).
  /// Nothing when there is none to compare (a shell string, an interpreter, a script, or
  /// none found at the last start): the caller cannot tell, and restarts.
  [[nodiscard]] std::optional<bool> executable_changed() const {
    if (exe_path_.empty()) return std::nullopt;
    const std::string now = resolve_executable(program_, base_, search_);
    return now != exe_path_ || digest_of(now) != exe_digest_;
  }

  /// The modules whose content differs from the recorded one, by index.
  [[nodiscard]] std::vector<std::size_t> changed_modules() const {
    std::vector<std::size_t> changed;
    for (std::size_t i = 0; i < modules_.size(); ++i) {
      if (digest_of(modules_[i]) != module_digests_[i]) changed.push_back(i);
    }
    return changed;
  }

  /// Module `i` as it is now (its content is read).
  [[nodiscard]] std::optional<content_digest> module_digest(std::size_t i) const { return digest_of(modules_.at(i)); }
  /// The running program now has module `i` with `digest` (after a reload).
  void set_module(std::size_t i, std::optional<content_digest> digest) { module_digests_.at(i) = digest; }

  /// The module paths, absolute and lexically normal.
  [[nodiscard]] const std::vector<std::string>& modules() const noexcept { return modules_; }
  /// The directory relative paths are resolved against (the working directory).
  [[nodiscard]] const std::filesystem::path& base() const noexcept { return base_; }

 private:
  static std::optional<content_digest> digest_of(const std::string& path) {
    if (path.empty()) return std::nullopt;
    return hash_file(path);
  }

  std::filesystem::path base_{};
  std::string program_{};  // run[0]; empty for a shell string
  std::string search_{};   // the PATH the program gets, when its environment sets one
  std::vector<std::string> modules_{};
  std::string exe_path_{};  // empty: not compared
  std::optional<content_digest> exe_digest_{};
  std::vector<std::optional<content_digest>> module_digests_{};
};

/// What a strategy engine shares: its core, driven through start/submit/stop. A derived
/// engine's destructor must call `stop()` first: the thread uses the derived members.
class engine_base : public cycle_owner {
 public:
  /// An engine whose busy cycles follow `busy`.
  explicit engine_base(busy_policy busy) : core_(busy) {}
  /// Starts the thread.
  void start(strategy_context context) { core_.start(std::move(context), *this); }
  /// Queues a request.
  void submit(cycle_request request) { core_.submit(std::move(request)); }
  /// Stops the thread and, through `on_stop`, the processes.
  void stop() { core_.stop(); }

 protected:
  strategy_core core_;  ///< the thread and mailbox
};

/// The public face of a built-in strategy: options until started, then an engine on the
/// heap (so the strategy stays movable until it starts).
template <class Engine, class Options>
class strategy_handle {
 public:
  /// A strategy that will run `options` once started.
  explicit strategy_handle(Options options) : options_(std::move(options)) {}

  /// Starts the strategy's thread. Nothing runs until the first request.
  /// Throws std::invalid_argument when `run` is empty.
  void start(strategy_context context) {
    if (options_.run.empty()) {
      throw std::invalid_argument(std::string(Engine::strategy_name) + ": no command to run");
    }
    engine_ = std::make_unique<Engine>(options_);
    engine_->start(std::move(context));
  }
  /// Queues a cycle; requests that arrive while one runs become exactly one more cycle.
  void submit(cycle_request request) {
    if (engine_) engine_->submit(std::move(request));
  }
  /// Cancels a running build or command, stops every process the strategy started, and
  /// returns when they are gone. Idempotent; the destructor does it too.
  void stop() {
    if (engine_) engine_->stop();
  }
  /// The options given at construction.
  [[nodiscard]] const Options& options() const noexcept { return options_; }

 private:
  Options options_;
  std::unique_ptr<Engine> engine_{};
};

}  // namespace hmr::detail
