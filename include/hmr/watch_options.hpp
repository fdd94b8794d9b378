// The watcher's vocabulary: options, notices, the handler it calls and its statistics.
// Semantics: hmr/watcher.hpp and docs/watcher.md.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <hmr/events.hpp>
#include <hmr/filters.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace hmr {

/// What a watcher tells its handler besides changes.
enum class watch_notice_kind : std::uint8_t {
  ready,           ///< the initial watch set is complete; `watch_notice::stats` has the figures
  overflow,        ///< the kernel's event queue overflowed; the tree is rescanned and the
                   ///< differences follow as changes
  watch_limit,     ///< the watch limit (or `watch_options::max_native_watches`) was reached;
                   ///< the directories named are polled instead
  instance_limit,  ///< no inotify instance could be created (too many open); the root is polled
  root_missing,    ///< a root does not exist, or was removed or moved away; it is checked every
                   ///< poll interval and picked up again when it comes back
  root_restored,   ///< a missing root is back; its contents were reported as created
  unreadable,      ///< a directory could not be listed or watched (permission denied, ...)
};

/// The lower-case name of a notice kind, as it appears in JSON ("overflow", ...).
constexpr std::string_view to_string(watch_notice_kind kind) noexcept {
  switch (kind) {
    case watch_notice_kind::ready:
      return "ready";
    case watch_notice_kind::overflow:
      return "overflow";
    case watch_notice_kind::watch_limit:
      return "watch_limit";
    case watch_notice_kind::instance_limit:
      return "instance_limit";
    case watch_notice_kind::root_missing:
      return "root_missing";
    case watch_notice_kind::root_restored:
      return "root_restored";
    case watch_notice_kind::unreadable:
      return "unreadable";
  }
  return "unknown";
}

/// How much a watcher watches, and how long it took to start.
struct watch_stats {
  std::size_t directories = 0;  ///< directories watched: `native + polled`
  std::size_t native = 0;       ///< directories with a kernel watch (inotify)
  std::size_t polled = 0;       ///< directories rescanned every poll interval
  duration startup{};           ///< from start() to the ready notice

  friend bool operator==(const watch_stats&, const watch_stats&) = default;
};

/// Something the user should know about the watch itself (not a file change).
struct watch_notice {
  watch_notice_kind kind = watch_notice_kind::ready;  ///< what happened
  std::string message{};   ///< one line for a human, naming the path, the limit and its value
  std::string hint{};      ///< what to do about it; may be empty
  std::uint32_t root = 0;  ///< the root concerned, in the order given
  std::string path{};      ///< the directory concerned, relative to the root ("" for the root)
  watch_stats stats{};     ///< the counts at the time of the notice

  friend bool operator==(const watch_notice&, const watch_notice&) = default;
};

/// What a watcher calls, always on its own thread, one call at a time.
struct watch_handler {
  /// A batch of changes in the order they happened (what one read of the kernel queue, or
  /// one rescan, produced). The vector may be moved from.
  std::function<void(std::vector<file_change>&&)> changes{};
  /// A notice: `ready` once, then overflows, limits, missing roots...
  std::function<void(const watch_notice&)> notice{};
};

namespace detail {

/// Hooks for hmr's own tests (pausing the reader, simulating errors). Not a stable API.
struct watch_test_hooks {
  std::function<void()> before_read{};  ///< inotify: called before each read of the queue
  /// Each directory listed by a scan, with the watcher's stop flag.
  std::function<void(std::string_view path, const std::atomic<bool>& stopping)> on_directory{};
  int inotify_init_errno = 0;  ///< when not 0, inotify_init1 "fails" with this errno
};

}  // namespace detail

/// How a watcher watches. An aggregate: `{.poll_interval = 100ms, .force_polling = true}`.
struct watch_options {
  /// Consulted with `is_directory = true` on root-relative paths: a directory it drops is
  /// never descended into, watched or reported, nor is anything below it. File events are
  /// not filtered (apply the full filter to the changes, see `hmr::filter_changes`). It
  /// is asked with the root's index, so a `per_root` filter applies each root's own rules.
  any_filter directory_filter{};
  /// Follow symbolic links to directories (off: a link is reported as a file). Loops and
  /// directories reached twice are watched once.
  bool follow_symlinks = false;
  /// `native_watcher` uses the polling backend even where a native one exists.
  bool force_polling = false;
  /// How often the polling backend, polled subtrees and missing roots are rescanned.
  std::chrono::milliseconds poll_interval{250};
  /// Native watches this watcher may use (0: no cap). Past it, the backend behaves exactly
  /// as if the kernel's limit (ENOSPC) had been hit: further directories are polled.
  std::size_t max_native_watches = 0;
  /// For hmr's tests only.
  detail::watch_test_hooks test_hooks{};
};

}  // namespace hmr
