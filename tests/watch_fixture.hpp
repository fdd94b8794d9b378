// What the watcher tests share: a temporary tree, a recorder for what a watcher reports, a
// sentinel-based "everything before this has arrived" sync, and the system calls editors
// make. Used by test_watcher*.cpp and test_watch_editors.cpp.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <hmr/debouncer.hpp>
#include <hmr/watcher.hpp>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <vector>

namespace watch_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

/// Generous: only a failing test waits this long.
inline constexpr auto patience = std::chrono::seconds{10};

/// Throws when a system call fails, naming it.
inline void check(bool ok, std::string_view what) {
  if (!ok) throw std::system_error(errno, std::generic_category(), std::string(what));
}

/// A unique directory under the system's temporary directory, removed at the end.
class temp_tree {
 public:
  temp_tree() {
    static std::atomic<int> counter{0};
    root_ = fs::temp_directory_path() /
            ("hmr_watch_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  temp_tree(const temp_tree&) = delete;
  temp_tree& operator=(const temp_tree&) = delete;
  ~temp_tree() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  /// The directory itself.
  [[nodiscard]] const fs::path& root() const noexcept { return root_; }
  /// A path below it.
  [[nodiscard]] std::string path(std::string_view rel) const { return (root_ / rel).string(); }

  /// open(O_CREAT|O_TRUNC) + write + close: a plain save in place (missing parent
  /// directories are created first).
  void write(std::string_view rel, std::string_view content) const {
    const fs::path p = root_ / rel;
    if (!fs::exists(p.parent_path())) fs::create_directories(p.parent_path());
    write_at(p.string(), content, O_WRONLY | O_CREAT | O_TRUNC);
  }
  /// Creates directories (and parents).
  void mkdir(std::string_view rel) const { fs::create_directories(root_ / rel); }
  /// Sets a file's mtime to a fixed time long ago (so any later write changes it).
  void age(std::string_view rel) const {
    const timespec times[2] = {{1'500'000'000, 0}, {1'500'000'000, 0}};
    check(::utimensat(AT_FDCWD, path(rel).c_str(), times, AT_SYMLINK_NOFOLLOW) == 0, "utimensat");
  }

  /// Writes `content` to `abs` with these open flags, then (when `sync`) fsync, and close.
  static void write_at(const std::string& abs, std::string_view content, int flags,
                       bool sync = false) {
    const int fd = ::open(abs.c_str(), flags | O_CLOEXEC, 0644);
    check(fd >= 0, "open " + abs);
    if (!content.empty())
      check(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()),
            "write");
    if (sync) check(::fsync(fd) == 0, "fsync");
    check(::close(fd) == 0, "close");
  }

 private:
  fs::path root_;
};

/// Records what a watcher reports; the test thread waits on it.
class recorder {
 public:
  /// The handler to start a watcher with.
  hmr::watch_handler handler() {
    return {.changes =
                [this](std::vector<hmr::file_change>&& batch) {
                  std::lock_guard lock(mutex_);
                  for (auto& c : batch) changes_.push_back(std::move(c));
                  ++batches_;
                  cv_.notify_all();
                },
            .notice =
                [this](const hmr::watch_notice& n) {
                  std::lock_guard lock(mutex_);
                  notices_.push_back(n);
                  cv_.notify_all();
                }};
  }

  /// Waits until `done(changes, notices)` holds; false after `patience`.
  bool wait(const std::function<bool(const std::vector<hmr::file_change>&,
                                     const std::vector<hmr::watch_notice>&)>& done) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, patience, [&] { return done(changes_, notices_); });
  }
  /// Waits for a change of this kind at this path.
  bool wait_change(std::string_view path, hmr::change_kind kind) {
    return wait([&](const auto& changes, const auto&) {
      return std::any_of(changes.begin(), changes.end(),
                         [&](const auto& c) { return c.path == path && c.kind == kind; });
    });
  }
  /// Waits for a notice of this kind.
  bool wait_notice(hmr::watch_notice_kind kind) {
    return wait([&](const auto&, const auto& notices) {
      return std::any_of(notices.begin(), notices.end(),
                         [&](const auto& n) { return n.kind == kind; });
    });
  }

  /// The changes so far, without sync sentinels; clears them.
  std::vector<hmr::file_change> take() {
    std::lock_guard lock(mutex_);
    std::vector<hmr::file_change> out;
    for (auto& c : changes_)
      if (!c.path.starts_with("zz-sync-")) out.push_back(std::move(c));
    changes_.clear();
    return out;
  }
  /// The notices so far.
  std::vector<hmr::watch_notice> notices() {
    std::lock_guard lock(mutex_);
    return notices_;
  }
  /// The number of handler calls with changes.
  int batches() {
    std::lock_guard lock(mutex_);
    return batches_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<hmr::file_change> changes_;
  std::vector<hmr::watch_notice> notices_;
  int batches_ = 0;
};

/// Creates a sentinel file in the root and waits for it: everything done in the tree
/// before has then been reported (inotify keeps order; a poll scan lists the root before
/// the directories below it). Returns the changes since the last take(), sentinels dropped.
inline std::vector<hmr::file_change> sync(const std::string& root_dir, recorder& rec) {
  static std::atomic<int> counter{0};
  const std::string name = "zz-sync-" + std::to_string(counter++);
  temp_tree::write_at(root_dir + "/" + name, "", O_WRONLY | O_CREAT | O_EXCL);
  if (!rec.wait_change(name, hmr::change_kind::created))
    throw std::runtime_error("the sentinel " + name + " was never reported");
  return rec.take();
}

/// sync() on the root of a temporary tree.
inline std::vector<hmr::file_change> sync(const temp_tree& tree, recorder& rec) {
  return sync(tree.root().string(), rec);
}

/// What the debouncer makes of `changes` (all pushed at once, then flushed).
inline std::vector<hmr::file_change> debounce(const std::vector<hmr::file_change>& changes) {
  hmr::debouncer d{50ms};
  d.push(changes, hmr::debouncer::clock::now());
  return d.flush().changes;
}

/// Sorted by (root, path), to compare sets of changes.
inline std::vector<hmr::file_change> sorted(std::vector<hmr::file_change> changes) {
  std::sort(changes.begin(), changes.end(), [](const auto& a, const auto& b) {
    return std::tie(a.root, a.path, a.kind) < std::tie(b.root, b.path, b.kind);
  });
  return changes;
}

/// A change, briefly.
inline hmr::file_change ch(hmr::change_kind kind, std::string path, bool dir = false,
                           std::string old_path = {}, std::uint32_t root = 0) {
  return {.path = std::move(path),
          .kind = kind,
          .old_path = std::move(old_path),
          .root = root,
          .is_directory = dir};
}

/// "created a/b (dir)" lines, for failure messages.
inline std::string describe(const std::vector<hmr::file_change>& changes) {
  std::string out;
  for (const auto& c : changes) {
    out += std::string(hmr::to_string(c.kind)) + " " + std::to_string(c.root) + ":" + c.path;
    if (!c.old_path.empty()) out += " (from " + c.old_path + ")";
    if (c.is_directory) out += " (dir)";
    out += "\n";
  }
  return out;
}

/// Options for the backend under test: the native one, or polling every 20 ms.
inline hmr::watch_options backend_options(bool polling) {
  hmr::watch_options o;
  o.force_polling = polling;
  o.poll_interval = 20ms;
  return o;
}

/// Entries in a /proc/self directory ("fd", "task").
inline std::size_t count_entries(const char* dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace watch_test
