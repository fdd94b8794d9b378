// The terminal a supervisor shares with the programs it runs: who holds its foreground, in
// which modes, and the way back after a program left it in raw mode. Notes: docs/process.md.
#pragma once

#include <cstddef>
#include <functional>

namespace hmr {

/// The controlling terminal on stdin, shared by the supervisor and its programs (one per
/// process). A program spawned with `process_options::share_terminal` that reads the terminal
/// or changes its modes is stopped by job control (SIGTTIN, SIGTTOU), as under a shell; the
/// process layer then hands it the foreground, in the modes the terminal had before the
/// supervisor changed them, and continues it. Once a program has taken the terminal, the
/// next ones (its next generations) take it as they start, as under a shell. When the
/// program ends, the supervisor takes the foreground back and puts its own modes back, also
/// after a program that crashed in raw mode.
///
/// @code
///   auto& tty = hmr::shared_terminal::instance();
///   if (tty.available()) tty.set_key_mode(true);  // keys one at a time, no echo, while ours
///   ...                                           // run programs with share_terminal = true
///   tty.restore();                                // the modes the terminal had at start
/// @endcode
///
/// Thread-safe. Nothing here acts unless `available()`.
class shared_terminal {
 public:
  /// The process's one instance.
  static shared_terminal& instance();

  /// True when stdin is this process's controlling terminal and its process group held the
  /// foreground when first asked. The first call that finds it so saves the terminal's modes
  /// and makes the process ignore SIGTTIN and SIGTTOU (as an interactive shell does), so no
  /// thread of the supervisor is stopped while a program holds the foreground; a background
  /// read of the terminal then fails with EIO instead. Programs get default dispositions.
  [[nodiscard]] bool available();
  /// True while the supervisor's process group holds the foreground (false if not available).
  [[nodiscard]] bool supervisor_owns();
  /// While the supervisor owns the terminal: keys arrive one at a time without echo (true),
  /// or the terminal keeps the modes it had at start (false). Applied at once when owned.
  void set_key_mode(bool on);
  /// Gives the foreground to process group `group`, in the modes the terminal had at start.
  /// False when not available, when the supervisor does not hold the foreground now (it
  /// runs in the background of its terminal), or when the terminal refused.
  bool hand_to(int group);
  /// Takes the foreground back from the group it was given to (never from the shell, when
  /// the supervisor was put in the background meanwhile), and applies the supervisor's
  /// modes (its key mode, or the modes at start) when the supervisor holds it.
  void take_back();
  /// As `take_back`, with the modes the terminal had at start: for exit.
  void restore();
  /// Calls `listener` after each change of owner, on the thread that made it; returns a
  /// handle for `unsubscribe`. The listener must not call back into this object.
  std::size_t subscribe(std::function<void()> listener);
  /// Removes a listener; after it returns, the listener is not called again.
  void unsubscribe(std::size_t handle);

 private:
  shared_terminal() = default;
};

}  // namespace hmr

#include <hmr/detail/terminal_posix.hpp>
