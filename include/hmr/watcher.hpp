// The watcher: reports created / modified / removed / renamed files under one or more roots,
// recursively, on its own thread. Backends: inotify on Linux, polling everywhere; the
// selector `native_watcher` picks one. Its vocabulary (watch_options, watch_handler,
// watch_notice, watch_stats) is in hmr/watch_options.hpp. Semantics, limits and costs:
// docs/watcher.md.
#pragma once

#include <chrono>
#include <concepts>
#include <hmr/detail/watch_engine.hpp>
#include <hmr/watch_options.hpp>
#include <hmr/detail/watcher_inotify.hpp>
#include <hmr/detail/watcher_poll.hpp>
#include <hmr/events.hpp>
#include <hmr/filters.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hmr {

/// What the orchestrator needs of a watcher: started with a handler, stopped, and able to
/// say when its initial watch set is complete and how large it is.
template <class W>
concept watcher = std::movable<W> &&
    requires(W& w, const W& cw, watch_handler handler, std::chrono::milliseconds timeout) {
  w.start(std::move(handler));
  w.stop();
  { w.wait_ready(timeout) } -> std::same_as<bool>;
  { cw.running() } -> std::same_as<bool>;
  { cw.stats() } -> std::same_as<watch_stats>;
  { cw.roots() } -> std::same_as<const std::vector<std::string>&>;
  { cw.backend() } -> std::convertible_to<std::string_view>;
};

namespace detail {

/// Which backend a watcher class runs.
enum class backend_choice : std::uint8_t {
  native,   ///< inotify on Linux unless polling is forced; polling elsewhere
  poll,     ///< always polling
  inotify,  ///< always inotify (Linux only)
};

/// The backend `choice` resolves to with these options: its factory and name.
inline std::pair<backend_factory, std::string_view> resolve_backend(backend_choice choice,
                                                                    const watch_options& options) {
#if defined(__linux__)
  const std::pair<backend_factory, std::string_view> native{&make_inotify_backend, "inotify"};
#else
  const std::pair<backend_factory, std::string_view> native{&make_poll_backend, "poll"};
#endif
  const std::pair<backend_factory, std::string_view> poll{&make_poll_backend, "poll"};
  switch (choice) {
    case backend_choice::poll:
      return poll;
    case backend_choice::inotify:
      return native;
    case backend_choice::native:
      break;
  }
#if defined(HMR_FORCE_POLLING)
  static_cast<void>(options);
  return poll;
#else
  return options.force_polling ? poll : native;
#endif
}

}  // namespace detail

/// Watches one or more directory trees and calls a handler, on its own thread, with each
/// batch of changes. Use it through the aliases `native_watcher`, `poll_watcher` and (on
/// Linux) `inotify_watcher`.
///
/// Paths in changes are relative to their root, `/`-separated; `file_change::root` is the
/// root's index. New directories are watched as they appear (their contents at that moment
/// are reported as created), an atomic save over a file is reported as `removed <temp>` +
/// `modified <file>`, and a directory renamed within the tree keeps being watched.
///
/// @par Example
/// ```cpp
/// hmr::native_watcher w{"src", {.directory_filter = hmr::default_ignores()}};
/// w.start({.changes = [](std::vector<hmr::file_change>&& batch) { use(batch); },
///          .notice = [](const hmr::watch_notice& n) { log(n.message); }});
/// w.wait_ready(5s);  // the initial watch set is complete
/// // ... later, from any thread but the handler's (or from it: see stop())
/// w.stop();
/// ```
template <detail::backend_choice Choice>
class basic_watcher {
 public:
  /// Watches `roots` (a root that does not exist yet is waited for: `root_missing` notice).
  explicit basic_watcher(std::vector<std::string> roots, watch_options options = {}) {
    const auto [factory, name] = detail::resolve_backend(Choice, options);
    engine_ =
        std::make_unique<detail::watch_engine>(std::move(roots), std::move(options), factory, name);
  }
  /// Watches one root: `hmr::native_watcher{"."}`.
  template <class S>
  requires std::convertible_to<const S&, std::string_view>
  explicit basic_watcher(const S& root, watch_options options = {})
      : basic_watcher(std::vector<std::string>{std::string(std::string_view(root))},
                      std::move(options)) {}

  /// Moves the watcher, running or not; the source can then only be destroyed or assigned.
  basic_watcher(basic_watcher&&) noexcept = default;
  /// Stops this watcher and takes over `other`.
  basic_watcher& operator=(basic_watcher&& other) noexcept = default;
  /// Stops (see stop()). Never destroy a watcher from its own handler.
  ~basic_watcher() = default;

  /// Starts watching on a new thread: scans the roots, sends the `ready` notice, then
  /// reports changes. Throws std::logic_error when already running, std::system_error
  /// when no thread or descriptor is available. A stopped watcher can be started again
  /// (it scans afresh).
  void start(watch_handler handler) { engine_->start(std::move(handler)); }

  /// Stops watching; safe in any state (during the initial scan too) and idempotent.
  /// From another thread it returns once the watcher's thread has ended: after it, the
  /// handler is not running and is never called again (a handler call in progress is
  /// waited for). From the handler it only requests the stop and returns at once: no
  /// further call is made, and the thread ends when the handler returns (the next
  /// stop(), start() or the destructor joins it).
  void stop() {
    if (engine_) engine_->stop();
  }

  /// Waits until the initial watch set is complete (the `ready` notice was handled). False
  /// on timeout, or when the watcher stopped first.
  bool wait_ready(std::chrono::milliseconds timeout) { return engine_->wait_ready(timeout); }

  /// True from start() until the watcher's thread ends.
  [[nodiscard]] bool running() const noexcept { return engine_ && engine_->running(); }
  /// Directories watched (natively and polled) and the time start() took to get ready.
  [[nodiscard]] watch_stats stats() const noexcept { return engine_->stats(); }
  /// The roots, as given.
  [[nodiscard]] const std::vector<std::string>& roots() const noexcept { return engine_->roots(); }
  /// "inotify" or "poll".
  [[nodiscard]] std::string_view backend() const noexcept { return engine_->backend_name(); }

 private:
  std::unique_ptr<detail::watch_engine> engine_;
};

/// The native backend of this platform (inotify on Linux), or polling when
/// `watch_options::force_polling` is set, the macro `HMR_FORCE_POLLING` is defined, or the
/// platform has no native backend yet.
using native_watcher = basic_watcher<detail::backend_choice::native>;

/// Polls: rescans each root every `watch_options::poll_interval` (250 ms by default).
/// Works on every POSIX system; costs one stat per file per interval.
using poll_watcher = basic_watcher<detail::backend_choice::poll>;

#if defined(__linux__)
/// Always inotify (Linux).
using inotify_watcher = basic_watcher<detail::backend_choice::inotify>;
#endif

}  // namespace hmr
