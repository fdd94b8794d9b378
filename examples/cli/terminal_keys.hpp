// Interactive keys for the CLI: one key at a time, without echo, while hmr holds the
// terminal; none while the program holds it (hmr::shared_terminal hands it over when the
// program reads the terminal or changes its modes). A thread hands each key to a callback.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <functional>
#include <hmr/terminal.hpp>
#include <thread>

namespace hmr::cli {

/// Reads single keys from the terminal on stdin while hmr holds its foreground. The
/// terminal's previous modes come back when this object is destroyed (and the callback is
/// never called after that).
///
/// Output processing is left alone (newlines still return the carriage), and ISIG stays on,
/// so Ctrl-C still sends SIGINT, which the CLI turns into a clean quit. While a program
/// holds the terminal, keys and Ctrl-C go to it, as under a shell; `on_handover` hears of
/// each change of owner (true: the program got the terminal), on the thread that made it.
class terminal_keys {
 public:
  /// Starts reading keys when stdin is a terminal in whose foreground hmr runs; otherwise
  /// does nothing (`active()` false).
  explicit terminal_keys(std::function<void(char key)> on_key,
                         std::function<void(bool program_holds)> on_handover = {})
      : on_key_(std::move(on_key)), on_handover_(std::move(on_handover)) {
    auto& tty = shared_terminal::instance();
    if (!tty.available()) return;
    if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) return;
    tty.set_key_mode(true);
    subscription_ = tty.subscribe([this] {
      // Said here, before the program goes on and writes over it.
      if (on_handover_) on_handover_(!shared_terminal::instance().supervisor_owns());
      const char changed = 'c';
      [[maybe_unused]] const auto n = ::write(wake_[1], &changed, 1);
    });
    active_ = true;
    thread_ = std::thread([this] { read_keys(); });
  }

  terminal_keys(const terminal_keys&) = delete;
  terminal_keys& operator=(const terminal_keys&) = delete;

  /// Stops reading and restores the terminal.
  ~terminal_keys() { restore(); }

  /// Stops reading and restores the terminal's modes (and takes its foreground back) now;
  /// idempotent.
  void restore() {
    if (!active_.exchange(false)) return;
    auto& tty = shared_terminal::instance();
    tty.unsubscribe(subscription_);
    const char stop = 0;
    [[maybe_unused]] const auto n = ::write(wake_[1], &stop, 1);
    if (thread_.joinable()) thread_.join();
    tty.restore();
    ::close(wake_[0]);
    ::close(wake_[1]);
  }

  /// True while keys are being read (stdin is a terminal hmr held at start).
  [[nodiscard]] bool active() const noexcept { return active_; }

 private:
  void read_keys() {
    auto& tty = shared_terminal::instance();
    bool ours = tty.supervisor_owns();
    for (;;) {
      // Only the wake-up pipe while the program holds the terminal: a read from the
      // background would fail (SIGTTIN is ignored), and poll would report input forever.
      pollfd fds[2] = {{wake_[0], POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
      if (::poll(fds, ours ? 2 : 1, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[0].revents != 0) {
        char bytes[16];
        const auto n = ::read(wake_[0], bytes, sizeof bytes);
        for (auto i = decltype(n){0}; i < n; ++i)
          if (bytes[i] == 0) return;
        ours = tty.supervisor_owns();
        continue;
      }
      if (!ours) continue;
      if (fds[1].revents & (POLLHUP | POLLERR | POLLNVAL)) return;
      char key = 0;
      const auto n = ::read(STDIN_FILENO, &key, 1);
      if (n < 0 && (errno == EINTR || errno == EIO || errno == EAGAIN)) {
        ours = tty.supervisor_owns();  // EIO: the terminal moved to the program meanwhile
        continue;
      }
      if (n <= 0) return;  // end of input: no more keys
      if (on_key_) on_key_(key);
    }
  }

  std::function<void(char)> on_key_;
  std::function<void(bool)> on_handover_;  // set before the subscription, then only read
  std::size_t subscription_ = 0;
  int wake_[2] = {-1, -1};
  std::atomic<bool> active_{false};
  std::thread thread_{};
};

}  // namespace hmr::cli
