// Shutdown signals: SIGINT, SIGTERM and SIGHUP turned into a callback on an ordinary thread,
// so a supervisor stops its children cleanly instead of dying with them still running.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <functional>
#include <initializer_list>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace hmr {

namespace detail {

/// The write end of the active `shutdown_signals` pipe; -1 when none is active.
inline std::atomic<int> signal_pipe_write{-1};

/// The async-signal-safe handler: forwards the signal number through the pipe.
extern "C" inline void forward_signal(int signal) {
  const int saved = errno;
  const int fd = signal_pipe_write.load();
  if (fd >= 0) {
    const auto byte = static_cast<unsigned char>(signal);
    [[maybe_unused]] const ssize_t n = ::write(fd, &byte, 1);
  }
  errno = saved;
}

}  // namespace detail

/// While alive, SIGINT, SIGTERM and SIGHUP (or the signals given) no longer kill the
/// process: each one calls `on_signal` with its number, on a thread of its own, where it
/// is safe to stop strategies and children. The previous dispositions come back on
/// destruction. One instance at a time per process.
///
/// @code
///   hmr::restart_strategy strategy{{.run = {"./server"}}};
///   std::promise<int> quit;
///   hmr::shutdown_signals signals{[&](int signal) { quit.set_value(signal); }};
///   strategy.start({});
///   strategy.submit({.reason = hmr::cycle_reason::initial});
///   quit.get_future().wait();  // Ctrl-C, kill, or the terminal closing
///   strategy.stop();           // the server and everything it started are gone
/// @endcode
class shutdown_signals {
 public:
  /// Installs the handlers. Throws std::logic_error when another instance is alive and
  /// std::system_error when the pipe or a handler cannot be set up.
  explicit shutdown_signals(std::function<void(int signal)> on_signal,
                            std::initializer_list<int> signals = {SIGINT, SIGTERM, SIGHUP})
      : on_signal_(std::move(on_signal)) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
      throw std::system_error(errno, std::generic_category(), "shutdown_signals: pipe");
    }
    read_fd_ = fds[0];
    write_fd_ = fds[1];
    int expected = -1;
    if (!detail::signal_pipe_write.compare_exchange_strong(expected, write_fd_)) {
      close_pipe();
      throw std::logic_error("shutdown_signals: another instance is already installed");
    }
    for (const int signal : signals) {
      struct sigaction action {};
      action.sa_handler = detail::forward_signal;
      sigemptyset(&action.sa_mask);
      action.sa_flags = SA_RESTART;
      struct sigaction previous {};
      if (::sigaction(signal, &action, &previous) != 0) {
        const int err = errno;
        restore();
        close_pipe();
        throw std::system_error(err, std::generic_category(), "shutdown_signals: sigaction");
      }
      previous_.emplace_back(signal, previous);
    }
    thread_ = std::thread([this] { listen(); });
  }

  shutdown_signals(const shutdown_signals&) = delete;
  shutdown_signals& operator=(const shutdown_signals&) = delete;

  /// Restores the previous dispositions and joins the listening thread. Must not run on
  /// that thread (from inside `on_signal`).
  ~shutdown_signals() {
    restore();
    if (thread_.joinable()) thread_.join();
    close_pipe();
  }

 private:
  void listen() {
    for (;;) {
      pollfd readable{read_fd_, POLLIN, 0};
      if (::poll(&readable, 1, -1) < 0 && errno != EINTR) return;
      unsigned char byte = 0;
      const ssize_t n = ::read(read_fd_, &byte, 1);
      if (n == 0) return;  // the write end was closed: shutting down
      if (n == 1 && byte != 0 && on_signal_) on_signal_(byte);
      if (n == 1 && byte == 0) return;
    }
  }

  // Puts the old handlers back, then tells the thread to end (a 0 byte) and releases the pipe.
  void restore() noexcept {
    for (auto it = previous_.rbegin(); it != previous_.rend(); ++it) {
      ::sigaction(it->first, &it->second, nullptr);
    }
    previous_.clear();
    detail::signal_pipe_write.store(-1);
    if (write_fd_ >= 0) {
      const unsigned char stop = 0;
      [[maybe_unused]] const ssize_t n = ::write(write_fd_, &stop, 1);
    }
  }

  void close_pipe() noexcept {
    if (read_fd_ >= 0) ::close(read_fd_);
    if (write_fd_ >= 0) ::close(write_fd_);
    read_fd_ = write_fd_ = -1;
  }

  std::function<void(int)> on_signal_;
  std::vector<std::pair<int, struct sigaction>> previous_{};
  int read_fd_ = -1;
  int write_fd_ = -1;
  std::thread thread_{};
};

}  // namespace hmr
