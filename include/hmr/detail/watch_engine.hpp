// The engine every watcher backend runs in: one thread, the handler, readiness, stopping.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>
#if defined(__linux__)
#include <sys/eventfd.h>
#endif

#include <hmr/detail/posix_io.hpp>
#include <hmr/detail/tree_scanner.hpp>
#include <hmr/watch_options.hpp>

namespace hmr::detail {

// ---------------------------------------------------------------------------------------
// The engine: one thread running a backend, the handler, readiness and stopping.

class watch_engine;

/// A backend: runs on the watcher's thread until the engine is stopping.
class watch_backend {
 public:
  virtual ~watch_backend() = default;
  /// Watches until `engine.stopping()`; calls `engine.ready()` once the watch set is complete.
  virtual void run(watch_engine& engine) = 0;
};

/// Makes the backend for one run.
using backend_factory = std::unique_ptr<watch_backend> (*)(const watch_options&);

/// Owns the thread, the handler and the wake-up descriptor; what a backend reports through.
class watch_engine {
 public:
  /// An engine for these roots (as given) with these options and backend. Throws
  /// std::invalid_argument for no roots or a poll interval that is not positive.
  watch_engine(std::vector<std::string> roots, watch_options options, backend_factory factory,
               std::string_view backend_name)
      : roots_(std::move(roots)),
        options_(std::move(options)),
        factory_(factory),
        backend_name_(backend_name) {
    if (roots_.empty())
      throw std::invalid_argument(
          "hmr watcher: no root given; pass \".\" for the current directory");
    if (options_.poll_interval.count() <= 0)
      throw std::invalid_argument("hmr watcher: poll_interval must be > 0, got " +
                                  std::to_string(options_.poll_interval.count()) + " ms");
    for (const auto& r : roots_) absolute_.push_back(make_absolute(r));
  }
  watch_engine(const watch_engine&) = delete;
  watch_engine& operator=(const watch_engine&) = delete;
  /// Stops, then waits for the thread to release everything (never destroy a watcher from
  /// its own handler).
  ~watch_engine() {
    stop();
    std::lock_guard control(control_);
    if (thread_.joinable()) join_locked();
  }

  /// Starts the thread. Throws std::logic_error when already running, std::system_error
  /// when no thread or descriptor can be had.
  void start(watch_handler handler) {
    std::lock_guard control(control_);
    if (thread_.joinable()) {
      if (!stop_.load()) throw std::logic_error("hmr watcher: start() while running; stop() first");
      join_locked();  // stopped: the thread is ending
    }
    handler_ = std::move(handler);
    stop_.store(false);
    {
      std::lock_guard lock(state_);
      ready_ = false;
      done_ = false;
    }
    native_.store(0);
    polled_.store(0);
    startup_us_.store(0);
    wake_.open();
    started_ = std::chrono::steady_clock::now();
    try {
      thread_ = std::thread([this] { thread_main(); });
    } catch (...) {
      wake_.close();
      std::lock_guard lock(state_);
      done_ = true;
      throw;
    }
  }

  /// Stops watching. From another thread: returns once the handler is done for good (a
  /// call in progress is waited for); the thread then releases its descriptors and is
  /// joined by the destructor or the next start(). From the handler: returns at once.
  void stop() {
    if (std::this_thread::get_id() == thread_id_.load()) {
      stop_.store(true);
      return;
    }
    std::lock_guard control(control_);
    if (!thread_.joinable()) return;
    stop_.store(true);
    wake_.signal();
    std::unique_lock lock(state_);
    cv_.wait(lock, [&] { return done_.load(); });
  }

  /// Waits until the initial watch set is complete; false on timeout or when stopped first.
  bool wait_ready(std::chrono::milliseconds timeout) {
    std::unique_lock lock(state_);
    cv_.wait_for(lock, timeout, [&] { return ready_ || done_.load(); });
    return ready_;
  }

  /// True from start() until the backend has stopped.
  [[nodiscard]] bool running() const noexcept { return !done_.load(); }
  /// The current counts and the startup time.
  [[nodiscard]] watch_stats stats() const noexcept {
    const std::size_t n = native_.load(), p = polled_.load();
    return {n + p, n, p, duration{startup_us_.load()}};
  }
  /// The roots as given.
  [[nodiscard]] const std::vector<std::string>& roots() const noexcept { return roots_; }
  /// The backend's name ("inotify", "poll").
  [[nodiscard]] std::string_view backend_name() const noexcept { return backend_name_; }

  // --- for backends (on the watcher thread) ---

  /// The options.
  [[nodiscard]] const watch_options& options() const noexcept { return options_; }
  /// The roots made absolute (for system calls).
  [[nodiscard]] const std::vector<std::string>& absolute_roots() const noexcept {
    return absolute_;
  }
  /// True once stop() was called.
  [[nodiscard]] bool stopping() const noexcept { return stop_.load(std::memory_order_relaxed); }
  /// The stop flag, for scans.
  [[nodiscard]] const std::atomic<bool>& stop_flag() const noexcept { return stop_; }
  /// The descriptor that becomes readable on stop().
  [[nodiscard]] int wake_fd() const noexcept { return wake_.fd(); }
  /// Consumes wake-ups.
  void drain_wake() const noexcept { wake_.drain(); }

  /// Hands `batch` to the handler (unless empty or stopping) and leaves it empty.
  void deliver(std::vector<file_change>& batch) {
    if (!batch.empty() && !stopping() && handler_.changes) handler_.changes(std::move(batch));
    batch.clear();
  }
  /// Hands a notice to the handler, with the current counts filled in.
  void notify(watch_notice notice) {
    if (stopping()) return;
    notice.stats = stats();
    if (handler_.notice) handler_.notice(notice);
  }
  /// Publishes the counts.
  void set_counts(std::size_t native, std::size_t polled) noexcept {
    native_.store(native);
    polled_.store(polled);
  }
  /// Marks the initial watch set complete: records the startup time, sends the `ready`
  /// notice, then wakes wait_ready().
  void ready() {
    const auto elapsed = std::chrono::steady_clock::now() - started_;
    startup_us_.store(std::chrono::duration_cast<duration>(elapsed).count());
    notify({.kind = watch_notice_kind::ready,
            .message = "watching " + std::to_string(stats().directories) + " directories",
            .hint = {},
            .root = 0,
            .path = {},
            .stats = {}});
    std::lock_guard lock(state_);
    ready_ = true;
    cv_.notify_all();
  }

 private:
  static std::string make_absolute(const std::string& root) {
    if (!root.empty() && root.front() == '/') return root;
    char buf[4096];
    if (::getcwd(buf, sizeof buf) == nullptr) return root;
    std::string out = buf;
    if (root.empty() || root == ".") return out;
    std::string_view rest = root;
    while (rest.starts_with("./")) rest.remove_prefix(2);
    if (out.back() != '/') out.push_back('/');
    out.append(rest);
    return out;
  }

  void thread_main() noexcept {
    thread_id_.store(std::this_thread::get_id());
    std::unique_ptr<watch_backend> backend = factory_(options_);
    backend->run(*this);
    {
      std::lock_guard lock(state_);
      done_ = true;  // the handler is not called any more: stop() may return
    }
    cv_.notify_all();
    backend.reset();  // closes its descriptors, frees its tree (a large tree takes a while)
  }

  void join_locked() {
    thread_.join();
    thread_id_.store(std::thread::id{});
    wake_.close();
    handler_ = {};
  }

  std::vector<std::string> roots_;
  std::vector<std::string> absolute_;
  watch_options options_;
  backend_factory factory_;
  std::string_view backend_name_;

  std::mutex control_;  // serialises start/stop from outside the handler
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
  std::atomic<bool> stop_{false};
  wake_signal wake_;
  watch_handler handler_;
  std::chrono::steady_clock::time_point started_{};

  std::mutex state_;
  std::condition_variable cv_;
  bool ready_ = false;
  std::atomic<bool> done_{true};  // the backend has returned (or never started); set under state_

  std::atomic<std::size_t> native_{0};
  std::atomic<std::size_t> polled_{0};
  std::atomic<std::int64_t> startup_us_{0};
};

}  // namespace hmr::detail
