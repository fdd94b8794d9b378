// The process layer: spawn a child in its own process group, capture its output line by
// line, share the terminal with it, and stop it together with everything it started, also
// when the supervisor dies. Design notes: docs/process.md.
#pragma once

#include <chrono>
#include <csignal>
#include <functional>
#include <hmr/detail/result.hpp>
#include <hmr/events.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hmr {

/// Which output stream a captured line came from.
using output_stream = events::output::stream_kind;

/// How a process ended and who ended it: pid, exit status (with the signal name), uptime
/// and cause (`stopped` by hmr, `exited` on its own, or `crashed` by a signal hmr did not send).
using process_exit = events::process_exited;

/// What to run and how to run it.
struct process_options {
  /// The program and its arguments (searched in PATH like execvp when it has no '/'),
  /// or, with `shell`, exactly one string handed to `/bin/sh -c`.
  std::vector<std::string> command{};
  /// Run the single string in `command` through `/bin/sh -c`.
  bool shell = false;
  /// The child's working directory; empty means the supervisor's.
  std::string working_directory{};
  /// Variables added to (or replacing in) the inherited environment, e.g. {"HMR_SESSION", "1"}.
  std::vector<std::pair<std::string, std::string>> environment{};
  /// When set, stdout and stderr are captured and each line (without its "\n" or "\r\n")
  /// is passed here, from the child's reader thread; a partial last line is delivered at
  /// EOF. When empty, the child inherits the supervisor's stdout and stderr.
  std::function<void(output_stream stream, std::string_view line)> on_line{};
  /// Called once, from the child's waiter thread, when the child has been reaped. It must
  /// not call `stop()`, `wait()` or the destructor of the same `child_process`.
  std::function<void(const process_exit& exit)> on_exit{};
  /// Called from the waiter thread when job control stops the child (SIGTSTP, SIGTTIN,
  /// SIGTTOU, SIGSTOP), with the signal. `handed_terminal` is true when `share_terminal`
  /// gave it the terminal and continued it; otherwise it stays stopped until `stop()`
  /// (which continues it). Same restrictions as `on_exit`.
  std::function<void(int signal, bool handed_terminal)> on_stop{};
  /// When the supervisor holds the foreground of its terminal (`hmr::shared_terminal`): a
  /// child stopped for reading the terminal or changing its modes (SIGTTIN, SIGTTOU, or a
  /// SIGSTOP or SIGTSTP it raised itself, as curses programs do) gets the foreground, in the
  /// modes the terminal had at start, and is continued, as `fg` does in a shell; the
  /// supervisor takes the terminal back, in its own modes, when the child ends or is stopped
  /// while holding it (Ctrl-Z). Once a child has taken the terminal, later ones with this
  /// option take it as they start (the next generations of a TUI, say). A child holding the
  /// terminal that dies of SIGINT or SIGHUP (Ctrl-C, or the terminal hanging up, reach only
  /// the foreground group) passes the signal on to the supervisor, as a shell does. Off:
  /// such a child stays stopped, and `on_stop` says so.
  bool share_terminal = false;
  /// The signal `stop()` sends to the child's process group first.
  int stop_signal = SIGTERM;
  /// How long `stop()` waits after `stop_signal` before it sends SIGKILL to the group.
  duration grace_period = std::chrono::seconds(5);
  /// Whatever kills the supervisor (SIGKILL included), the child's keeper then kills the
  /// whole tree, also the processes that escaped it (double fork, setsid, a rewritten
  /// environment). With this set, the same happens when the *thread* that spawned the child
  /// exits (Linux PR_SET_PDEATHSIG): spawn from a thread that lives as long as the supervisor.
  bool die_with_parent = true;
  /// Descriptors the program inherits under the same numbers (e.g. the child end of a
  /// control channel): their FD_CLOEXEC flag is cleared in the child between fork and
  /// exec, so the caller can keep them close-on-exec. Every other descriptor the
  /// supervisor opened with O_CLOEXEC stays out of the program. A descriptor that is not
  /// open makes `spawn` fail, naming it. The caller still owns (and closes) them.
  std::vector<int> inherited_fds{};
};

/// The name of a signal ("SIGTERM", "SIGSEGV", ...), or "signal N" for one not in the table.
inline std::string signal_name(int signal);

/// Makes the calling process a child subreaper (Linux PR_SET_CHILD_SUBREAPER): orphaned
/// descendants of its children are re-parented to it rather than to init. Process-wide and
/// permanent. `child_process` does not need it (each child's keeper is the subreaper of its
/// tree). Returns false where unsupported or on failure.
inline bool become_subreaper() noexcept;

namespace detail {
class process_state;
}  // namespace detail

/// A running (or finished) child process; stopping it stops everything it started.
///
/// @code
///   auto child = hmr::child_process::spawn({
///       .command = {"./server", "--port", "8080"},
///       .environment = {{"HMR_SESSION", "1"}},
///       .on_line = [](hmr::output_stream, std::string_view line) { show(line); },
///   });
///   if (!child) return report(child.error().message);  // "cannot run './server': ..."
///   hmr::process_exit exit = child->stop();             // SIGTERM, 5 s, then SIGKILL
/// @endcode
///
/// Move-only. The destructor stops a child that is still running.
class child_process {
 public:
  /// Starts `options.command`, through a keeper process (`hmr-keeper`) that is the child's
  /// parent and the subreaper of its tree: orphans of the tree come to it, and it kills the
  /// tree when the supervisor dies. Errors the user can act on (a missing program or working
  /// directory, fork failure) are returned, naming the program or directory. An empty
  /// command, or `shell` with more than one string, throws std::invalid_argument.
  [[nodiscard]] static result<child_process> spawn(process_options options);

  /// No process.
  child_process() noexcept;
  /// Takes over `other`'s process; `other` is left empty.
  child_process(child_process&& other) noexcept;
  /// Stops the held process (if running), then takes over `other`'s.
  child_process& operator=(child_process&& other) noexcept;
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  /// Stops the child if it is still running (see `stop()`).
  ~child_process();

  /// True when a process was spawned into this object.
  explicit operator bool() const noexcept { return state_ != nullptr; }
  /// The child's pid, which is also its process group id; 0 when empty. (Its parent is
  /// the keeper, not the caller.)
  [[nodiscard]] int pid() const noexcept;
  /// True until the child has been reaped.
  [[nodiscard]] bool running() const;
  /// The exit report once the child has been reaped (and `on_exit` has returned).
  [[nodiscard]] std::optional<process_exit> try_wait() const;
  /// Waits at most `timeout` for the child to end on its own.
  [[nodiscard]] std::optional<process_exit> wait_for(duration timeout) const;
  /// Waits for the child to end on its own.
  process_exit wait() const;
  /// Stops the child: `stop_signal` (then SIGCONT) to its process group, `grace_period`, then
  /// SIGKILL to the group. Returns after the child is reaped and no process of its tree
  /// remains (its group, the orphans its keeper adopted, and any process that inherited its
  /// environment token), or after a bound of 2 s spent on such leftovers. Returns at once
  /// with the recorded report when the child already ended, after the same sweep (what it
  /// left running, `process_exit::left_running`, ends here). Idempotent.
  process_exit stop();

 private:
  explicit child_process(std::unique_ptr<detail::process_state> state) noexcept;
  std::unique_ptr<detail::process_state> state_{};
};

}  // namespace hmr

#include <hmr/detail/process_posix.hpp>
