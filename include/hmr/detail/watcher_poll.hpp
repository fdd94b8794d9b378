// The polling backend: a snapshot of each root (name, mtime, ctime, size, inode, type per
// entry), rescanned every `watch_options::poll_interval` and diffed. Works wherever POSIX
// directory calls do. Semantics and costs: docs/watcher.md.
#pragma once

#include <poll.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <hmr/detail/watch_engine.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hmr::detail {

/// Blocks until `until` or a wake-up (stop), whichever comes first.
inline void wait_until(const watch_engine& engine, std::chrono::steady_clock::time_point until) {
  const auto now = std::chrono::steady_clock::now();
  if (until <= now) return;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(until - now).count();
  pollfd p{engine.wake_fd(), POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(ms)) > 0) engine.drain_wake();
}

/// The notice for a root that is not there (at start, or since it was removed).
inline watch_notice missing_root_notice(const watch_engine& engine, std::uint32_t root, int err,
                                        bool was_watched) {
  const std::string& given = engine.roots()[root];
  const std::string every = std::to_string(engine.options().poll_interval.count()) + " ms";
  std::string message = "watch root " + quote_path(given) +
                        (was_watched      ? " was removed or moved away"
                         : err == ENOTDIR ? " is not a directory"
                                          : " does not exist (" + errno_text(err) + ")") +
                        "; checking for it every " + every +
                        " and watching it again when it is back";
  return {.kind = watch_notice_kind::root_missing,
          .message = std::move(message),
          .hint = "create the directory, or pass one that exists",
          .root = root,
          .path = {},
          .stats = {}};
}

/// The notice for a root that is back.
inline watch_notice restored_root_notice(const watch_engine& engine, std::uint32_t root) {
  return {.kind = watch_notice_kind::root_restored,
          .message = "watch root " + quote_path(engine.roots()[root]) +
                     " is back; its contents were reported as created",
          .hint = {},
          .root = root,
          .path = {},
          .stats = {}};
}

/// The notice for a directory that cannot be listed or watched.
inline watch_notice unreadable_notice(const watch_engine& engine, std::uint32_t root,
                                      const std::string& path, int err, std::string_view what) {
  return {.kind = watch_notice_kind::unreadable,
          .message = std::string(what) + " directory " + quote_path(path) + " in watch root " +
                     quote_path(engine.roots()[root]) + ": " + errno_text(err) +
                     "; changes in it are not reported",
          .hint = err == EACCES ? "check its permissions, or ignore it" : "",
          .root = root,
          .path = path,
          .stats = {}};
}

/// Turns a scanner's failures into notices.
inline void take_failures(const watch_engine& engine, std::uint32_t root, tree_scanner& scanner,
                          std::vector<watch_notice>& notices) {
  for (auto& [path, err] : scanner.take_failures())
    notices.push_back(unreadable_notice(engine, root, path, err, "cannot list"));
}

/// Rescans every root each poll interval and reports the differences. Renames within one
/// interval are recognised by inode; others show as removed + created.
class poll_backend final : public watch_backend {
 public:
  /// A backend for these options (read again from the engine at run time).
  explicit poll_backend(const watch_options& /*options*/) {}

  /// Scans, signals ready, then rescans every interval until stopped.
  void run(watch_engine& engine) override {
    const auto& abs = engine.absolute_roots();
    std::vector<root_snapshot> roots(abs.size());
    std::vector<tree_scanner> scanners;
    for (std::size_t i = 0; i < abs.size(); ++i)
      scanners.emplace_back(
          scan_setup{&engine.options(), &engine.stop_flag(), static_cast<std::uint32_t>(i)});
    std::vector<watch_notice> notices;
    for (std::size_t i = 0; i < abs.size(); ++i) {
      const int err = scanners[i].scan(abs[i], "", roots[i].dir, nullptr);
      roots[i].present = err == 0;
      if (err != 0 && err != ECANCELED)
        notices.push_back(missing_root_notice(engine, static_cast<std::uint32_t>(i), err, false));
      take_failures(engine, static_cast<std::uint32_t>(i), scanners[i], notices);
    }
    if (engine.stopping()) return;
    publish(engine, roots);
    for (auto& n : notices) engine.notify(std::move(n));
    engine.ready();

    const auto interval = engine.options().poll_interval;
    auto next = std::chrono::steady_clock::now() + interval;
    std::vector<file_change> out;
    while (!engine.stopping()) {
      wait_until(engine, next);
      if (engine.stopping()) break;
      notices.clear();
      for (std::size_t i = 0; i < roots.size() && !engine.stopping(); ++i) {
        const auto root = static_cast<std::uint32_t>(i);
        root_snapshot& r = roots[i];
        if (r.present) {
          const int err = scanners[i].rescan(abs[i], "", r.dir, out);
          if (err == ENOENT || err == ENOTDIR) {
            scanners[i].report_removed("", r.dir, out);
            r.dir = {};
            r.present = false;
            notices.push_back(missing_root_notice(engine, root, err, true));
          }
        } else {
          snap_dir fresh;
          if (scanners[i].scan(abs[i], "", fresh, &out) == 0) {
            r.dir = std::move(fresh);
            r.present = true;
            notices.push_back(restored_root_notice(engine, root));
          }
        }
        take_failures(engine, root, scanners[i], notices);
      }
      if (engine.stopping()) break;
      publish(engine, roots);
      engine.deliver(out);
      for (auto& n : notices) engine.notify(std::move(n));
      next += interval;
      const auto now = std::chrono::steady_clock::now();
      if (next < now) next = now + interval;  // a scan longer than the interval
    }
  }

 private:
  struct root_snapshot {
    snap_dir dir;
    bool present = false;
  };

  static void publish(watch_engine& engine, const std::vector<root_snapshot>& roots) {
    std::size_t dirs = 0;
    for (const auto& r : roots)
      if (r.present) dirs += 1 + tree_scanner::count_directories(r.dir);
    engine.set_counts(0, dirs);
  }
};

/// Makes a polling backend (a `backend_factory`).
inline std::unique_ptr<watch_backend> make_poll_backend(const watch_options& options) {
  return std::make_unique<poll_backend>(options);
}

}  // namespace hmr::detail
