// Interactive keys for the CLI: the terminal in non-canonical mode (no echo, one key at a
// time) while hmr runs, restored on every exit path, and a thread that hands each key to a
// callback.
#pragma once

#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <functional>
#include <thread>

namespace hmr::cli {

/// Reads single keys from a terminal on stdin. The terminal's previous mode comes back when
/// this object is destroyed (and the callback is never called after that).
///
/// Output processing is left alone (newlines still return the carriage), and ISIG stays on,
/// so Ctrl-C still sends SIGINT, which the CLI turns into a clean quit.
class terminal_keys {
 public:
  /// Starts reading keys when stdin is a terminal; otherwise does nothing (`active()` false).
  explicit terminal_keys(std::function<void(char key)> on_key) : on_key_(std::move(on_key)) {
    if (::isatty(STDIN_FILENO) == 0 || ::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    termios raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    if (::tcsetattr(STDIN_FILENO, TCSANOW, &raw) != 0) return;
    if (::pipe(wake_) != 0) {
      ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
      return;
    }
    active_ = true;
    thread_ = std::thread([this] { read_keys(); });
  }

  terminal_keys(const terminal_keys&) = delete;
  terminal_keys& operator=(const terminal_keys&) = delete;

  /// Stops reading and restores the terminal.
  ~terminal_keys() { restore(); }

  /// Stops reading and restores the terminal now; idempotent.
  void restore() {
    if (!active_.exchange(false)) return;
    const char stop = 0;
    [[maybe_unused]] const auto n = ::write(wake_[1], &stop, 1);
    if (thread_.joinable()) thread_.join();
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    ::close(wake_[0]);
    ::close(wake_[1]);
  }

  /// True while keys are being read (stdin is a terminal).
  [[nodiscard]] bool active() const noexcept { return active_; }

 private:
  void read_keys() {
    for (;;) {
      pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[1].revents != 0) return;
      if (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL)) return;
      char key = 0;
      const auto n = ::read(STDIN_FILENO, &key, 1);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        return;  // end of input: no more keys
      }
      if (on_key_) on_key_(key);
    }
  }

  std::function<void(char)> on_key_;
  termios saved_{};
  int wake_[2] = {-1, -1};
  std::atomic<bool> active_{false};
  std::thread thread_{};
};

}  // namespace hmr::cli
