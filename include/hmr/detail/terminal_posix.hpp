// The POSIX implementation of hmr/terminal.hpp: termios, tcsetpgrp and the job-control
// signals. Nothing here is needed to use it.
#pragma once

#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cstddef>
#include <functional>
#include <hmr/terminal.hpp>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

namespace hmr {

namespace detail {

/// What `shared_terminal` knows, behind one lock.
struct terminal_state {
  std::mutex mutex{};
  std::mutex calls{};      ///< held while listeners run, so `unsubscribe` waits for them
  bool checked = false;    ///< `available` has looked once
  bool usable = false;     ///< stdin is our controlling terminal, and we were in its foreground
  termios original{};      ///< the modes at start
  bool key_mode = false;   ///< the supervisor wants keys one at a time, no echo
  bool program_took = false;  ///< a program has been handed the terminal this session
  pid_t handed_to = 0;        ///< the group the supervisor gave the foreground to, if any

  /// Under the lock: takes the foreground back from the group it was given to. A group
  /// that holds it otherwise (the shell's, while the supervisor runs in the background)
  /// keeps it. True when it moved.
  bool reclaim() {
    const pid_t holder = ::tcgetpgrp(STDIN_FILENO);
    const bool ours = handed_to != 0 && holder == handed_to;
    handed_to = 0;
    return ours && ::tcsetpgrp(STDIN_FILENO, ::getpgrp()) == 0;
  }
  std::map<std::size_t, std::function<void()>> listeners{};
  std::size_t next_handle = 0;

  /// The modes the supervisor wants while it owns the terminal.
  [[nodiscard]] termios supervisor_modes() const {
    termios modes = original;
    if (key_mode) {
      modes.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
      modes.c_cc[VMIN] = 1;
      modes.c_cc[VTIME] = 0;
    }
    return modes;
  }

  /// Under the lock: the first look at stdin.
  bool check() {
    if (checked) return usable;
    checked = true;
    if (::isatty(STDIN_FILENO) == 0 || ::tcgetpgrp(STDIN_FILENO) != ::getpgrp() ||
        ::tcgetattr(STDIN_FILENO, &original) != 0)
      return false;
    // As an interactive shell: never stopped for touching the terminal from the background.
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    ::sigemptyset(&ignore.sa_mask);
    ::sigaction(SIGTTOU, &ignore, nullptr);
    ::sigaction(SIGTTIN, &ignore, nullptr);
    usable = true;
    return true;
  }

  /// Releases `lock`, then calls the listeners (they may look at `supervisor_owns`).
  void notify(std::unique_lock<std::mutex>& lock) {
    lock.unlock();
    const std::lock_guard running(calls);
    std::vector<std::function<void()>> now;
    {
      const std::lock_guard relock(mutex);
      for (const auto& [handle, listener] : listeners) now.push_back(listener);
    }
    for (const auto& call : now) call();
  }
};

/// The process's one state.
inline terminal_state& terminal() {
  static terminal_state state;
  return state;
}

/// True when a program about to start should take the foreground itself, before it runs:
/// a program has taken the terminal this session (its next generations will too, and a
/// program that catches SIGTTOU may fail the stop that hands it over), and the supervisor
/// holds the terminal now. `modes` receives the modes to give it (those at start).
inline bool foreground_start(termios& modes) {
  terminal_state& s = terminal();
  const std::lock_guard lock(s.mutex);
  if (!s.check() || !s.program_took || ::tcgetpgrp(STDIN_FILENO) != ::getpgrp()) return false;
  modes = s.original;
  return true;
}

/// Records that group `group` took the foreground itself (after `foreground_start`).
inline void foreground_taken(pid_t group) {
  terminal_state& s = terminal();
  const std::lock_guard lock(s.mutex);
  s.handed_to = group;
}

}  // namespace detail

inline shared_terminal& shared_terminal::instance() {
  static shared_terminal one;
  return one;
}

inline bool shared_terminal::available() {
  auto& s = detail::terminal();
  const std::lock_guard lock(s.mutex);
  return s.check();
}

inline bool shared_terminal::supervisor_owns() {
  auto& s = detail::terminal();
  const std::lock_guard lock(s.mutex);
  return s.check() && ::tcgetpgrp(STDIN_FILENO) == ::getpgrp();
}

inline void shared_terminal::set_key_mode(bool on) {
  auto& s = detail::terminal();
  const std::lock_guard lock(s.mutex);
  if (!s.check()) return;
  s.key_mode = on;
  if (::tcgetpgrp(STDIN_FILENO) != ::getpgrp()) return;
  const termios modes = s.supervisor_modes();
  ::tcsetattr(STDIN_FILENO, TCSANOW, &modes);
}

inline bool shared_terminal::hand_to(int group) {
  auto& s = detail::terminal();
  std::unique_lock lock(s.mutex);
  // Only what the supervisor holds: in the background of its terminal, the shell's it is.
  if (!s.check() || ::tcgetpgrp(STDIN_FILENO) != ::getpgrp()) return false;
  ::tcsetattr(STDIN_FILENO, TCSANOW, &s.original);
  if (::tcsetpgrp(STDIN_FILENO, group) != 0) {
    const termios modes = s.supervisor_modes();
    ::tcsetattr(STDIN_FILENO, TCSANOW, &modes);
    return false;
  }
  s.program_took = true;
  s.handed_to = group;
  s.notify(lock);
  return true;
}

inline void shared_terminal::take_back() {
  auto& s = detail::terminal();
  std::unique_lock lock(s.mutex);
  if (!s.check()) return;
  const bool moved = s.reclaim();
  if (::tcgetpgrp(STDIN_FILENO) != ::getpgrp()) return;  // in the background: not ours to set
  const termios modes = s.supervisor_modes();
  ::tcsetattr(STDIN_FILENO, TCSANOW, &modes);
  if (moved) s.notify(lock);
}

inline void shared_terminal::restore() {
  auto& s = detail::terminal();
  std::unique_lock lock(s.mutex);
  if (!s.check()) return;
  s.key_mode = false;
  const bool moved = s.reclaim();
  if (::tcgetpgrp(STDIN_FILENO) != ::getpgrp()) return;  // in the background: not ours to set
  ::tcsetattr(STDIN_FILENO, TCSANOW, &s.original);
  if (moved) s.notify(lock);
}

inline std::size_t shared_terminal::subscribe(std::function<void()> listener) {
  auto& s = detail::terminal();
  const std::lock_guard lock(s.mutex);
  const std::size_t handle = ++s.next_handle;
  s.listeners.emplace(handle, std::move(listener));
  return handle;
}

inline void shared_terminal::unsubscribe(std::size_t handle) {
  auto& s = detail::terminal();
  const std::lock_guard running(s.calls);
  const std::lock_guard lock(s.mutex);
  s.listeners.erase(handle);
}

}  // namespace hmr
