// The polling snapshot of a tree and the scan that diffs it against the disk: what the
// polling backend, polled subtrees of the inotify backend and overflow rescans use.
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
#include <hmr/watch_options.hpp>

namespace hmr::detail {

// ---------------------------------------------------------------------------------------
// The polling snapshot: what the polling backend (and polled subtrees of a native one)
// remembers of a tree, and the scan that diffs it against the disk.

struct snap_dir;

/// One entry of a snapshot: a name, the stat fields that reveal a change, and the subtree.
struct snap_entry {
  std::string name;                    ///< the entry's name in its directory
  std::int64_t mtime_ns = 0;           ///< st_mtim
  std::int64_t ctime_ns = 0;           ///< st_ctim: changes with every write, chmod, rename
  std::uint64_t size = 0;              ///< st_size
  std::uint64_t ino = 0;               ///< st_ino: a replaced file (atomic save) has a new one
  std::uint64_t dev = 0;               ///< st_dev: with `ino`, detects symlink loops
  entry_type type = entry_type::file;  ///< what it is (a followed link: its target's type)
  bool ignored = false;                ///< a directory the filter drops, or a symlink loop
  std::unique_ptr<snap_dir> dir;       ///< the subtree of a watched directory
};

/// A directory of a snapshot: its entries sorted by name.
struct snap_dir {
  std::vector<snap_entry> entries;  ///< sorted by name
};

/// What a scan needs to know: the options, the stop flag, which root it reports for.
struct scan_setup {
  const watch_options* options = nullptr;   ///< filter, symlinks, hooks
  const std::atomic<bool>* stop = nullptr;  ///< checked once per directory
  std::uint32_t root = 0;                   ///< `file_change::root` of what is reported
};

/// Scans trees into snapshots and diffs them: directory by directory, one descriptor open
/// at a time, an fstatat per entry. Renames are recognised within one rescan by inode
/// (same inode, size and mtime); otherwise they show as removed + created.
class tree_scanner {
 public:
  /// A scanner for one root.
  explicit tree_scanner(scan_setup setup) : setup_(setup) {}

  /// Fills `dir` (empty) with the tree at `abs`, whose root-relative path is `rel`. Every
  /// entry is reported as created into `out` when it is not null. Returns 0 or the errno of
  /// listing `abs` itself.
  int scan(const std::string& abs, const std::string& rel, snap_dir& dir,
           std::vector<file_change>* out) {
    ancestors_.clear();
    return scan_dir(abs, rel, dir, out);
  }

  /// Rescans `abs` against `dir`, reporting the differences into `out` and updating `dir`.
  /// Returns 0, or the errno of listing `abs` itself (then `dir` is left unchanged).
  int rescan(const std::string& abs, const std::string& rel, snap_dir& dir,
             std::vector<file_change>& out) {
    ancestors_.clear();
    removed_.clear();
    created_.clear();
    const std::size_t first = out.size();
    recording_ = true;
    const int err = rescan_dir(abs, rel, dir, out);
    recording_ = false;
    if (!removed_.empty() && !created_.empty()) pair_renames(out, first);
    return err;
  }

  /// Reports everything in `dir` (below `rel`) as removed, children before their directory.
  void report_removed(const std::string& rel, const snap_dir& dir,
                      std::vector<file_change>& out) const {
    for (const snap_entry& e : dir.entries) removed_entry(rel, e, out, nullptr);
  }

  /// Directories below the top one that could not be listed (permission denied...), each
  /// reported once per scanner: (root-relative path, errno). Clears them.
  std::vector<std::pair<std::string, int>> take_failures() { return std::exchange(failures_, {}); }

  /// The number of watched directories in `dir`, not counting `dir` itself.
  [[nodiscard]] static std::size_t count_directories(const snap_dir& dir) noexcept {
    std::size_t n = 0;
    for (const snap_entry& e : dir.entries)
      if (e.dir) n += 1 + count_directories(*e.dir);
    return n;
  }

 private:
  // An entry's identity for pairing a removal with a creation into a rename.
  struct identity {
    std::size_t index;  // in `out`
    std::uint64_t dev;
    std::uint64_t ino;
    std::uint64_t size;
    std::int64_t mtime_ns;
    bool directory;
  };

  [[nodiscard]] bool stopping() const noexcept {
    return setup_.stop != nullptr && setup_.stop->load(std::memory_order_relaxed);
  }

  // Records that the directory at `path` could not be listed (once per path).
  void note_failure(const std::string& path, int err) {
    if (err == 0 || err == ENOENT || err == ENOTDIR || err == ECANCELED) return;
    if (std::find(reported_.begin(), reported_.end(), path) != reported_.end()) return;
    reported_.push_back(path);
    failures_.emplace_back(path, err);
  }

  // Lists `abs` with one fstatat per entry, sorted by name. Returns 0 or errno.
  int list(const std::string& abs, std::vector<snap_entry>& entries, dev_t& dev, ino_t& ino) {
    directory_reader reader(abs);
    if (reader.error() != 0) return reader.error();
    struct stat self {};
    if (::fstat(reader.fd(), &self) == 0) {
      dev = self.st_dev;
      ino = self.st_ino;
    }
    if (const auto& hook = setup_.options->test_hooks.on_directory) hook(abs, *setup_.stop);
    std::string_view name;
    entry_type type{};
    bool unknown = false;
    while (reader.next(name, type, unknown)) {
      struct stat st {};
      if (::fstatat(reader.fd(), std::string(name).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        continue;  // gone since readdir
      snap_entry e;
      e.name = name;
      e.type = type_of_mode(st.st_mode);
      if (e.type == entry_type::symlink && setup_.options->follow_symlinks) {
        struct stat target {};
        if (::fstatat(reader.fd(), e.name.c_str(), &target, 0) == 0 && S_ISDIR(target.st_mode)) {
          st = target;
          e.type = entry_type::directory;
        }
      }
      e.mtime_ns = to_ns(st.st_mtim);
      e.ctime_ns = to_ns(st.st_ctim);
      e.size = static_cast<std::uint64_t>(st.st_size);
      e.ino = static_cast<std::uint64_t>(st.st_ino);
      e.dev = static_cast<std::uint64_t>(st.st_dev);
      entries.push_back(std::move(e));
    }
    std::sort(entries.begin(), entries.end(),
              [](const snap_entry& a, const snap_entry& b) { return a.name < b.name; });
    return 0;
  }

  // Decides whether the directory entry `e` (at `path`) is descended into.
  [[nodiscard]] bool descend(const snap_entry& e, const std::string& path) const {
    if (!setup_.options->directory_filter.keep(setup_.root, path, true)) return false;
    for (const auto& [d, i] : ancestors_)
      if (d == e.dev && i == e.ino) return false;  // a symlink loop
    return true;
  }

  int scan_dir(const std::string& abs, const std::string& rel, snap_dir& dir,
               std::vector<file_change>* out) {
    if (stopping()) return ECANCELED;
    dev_t dev = 0;
    ino_t ino = 0;
    if (const int err = list(abs, dir.entries, dev, ino)) return err;
    ancestors_.emplace_back(static_cast<std::uint64_t>(dev), static_cast<std::uint64_t>(ino));
    for (snap_entry& e : dir.entries) {
      const bool is_dir = e.type == entry_type::directory;
      std::string path = join_path(rel, e.name);
      if (is_dir && !descend(e, path)) {
        e.ignored = true;
        continue;
      }
      if (out != nullptr) {
        if (recording_)
          created_.push_back({out->size(), e.dev, e.ino, is_dir ? 0 : e.size, e.mtime_ns, is_dir});
        out->push_back(created_change(path, is_dir));
      }
      if (is_dir) {
        e.dir = std::make_unique<snap_dir>();
        note_failure(path, scan_dir(join_path(abs, e.name), path, *e.dir, out));
      }
      if (stopping()) break;
    }
    ancestors_.pop_back();
    return 0;
  }

  [[nodiscard]] file_change created_change(std::string path, bool is_dir) const {
    return {.path = std::move(path),
            .kind = change_kind::created,
            .old_path = {},
            .root = setup_.root,
            .is_directory = is_dir};
  }

  // Reports entry `e` (in `rel`) and its subtree as removed, recording identities in `ids`.
  void removed_entry(const std::string& rel, const snap_entry& e, std::vector<file_change>& out,
                     std::vector<identity>* ids) const {
    if (e.ignored) return;
    std::string path = join_path(rel, e.name);
    if (e.dir)
      for (const snap_entry& child : e.dir->entries) removed_entry(path, child, out, ids);
    if (ids != nullptr)
      ids->push_back({out.size(), e.dev, e.ino, e.type == entry_type::directory ? 0 : e.size,
                      e.mtime_ns, e.type == entry_type::directory});
    out.push_back({.path = std::move(path),
                   .kind = change_kind::removed,
                   .old_path = {},
                   .root = setup_.root,
                   .is_directory = e.type == entry_type::directory});
  }

  // Reports `e` (fresh, in `rel`) as created, scanning its subtree.
  void created_entry(const std::string& abs, const std::string& rel, snap_entry& e,
                     std::vector<file_change>& out) {
    const bool is_dir = e.type == entry_type::directory;
    std::string path = join_path(rel, e.name);
    if (is_dir && !descend(e, path)) {
      e.ignored = true;
      return;
    }
    created_.push_back({out.size(), e.dev, e.ino, is_dir ? 0 : e.size, e.mtime_ns, is_dir});
    out.push_back(created_change(path, is_dir));
    if (is_dir) {
      e.dir = std::make_unique<snap_dir>();
      scan_dir(join_path(abs, e.name), path, *e.dir, &out);
    }
  }

  int rescan_dir(const std::string& abs, const std::string& rel, snap_dir& dir,
                 std::vector<file_change>& out) {
    if (stopping()) return ECANCELED;
    std::vector<snap_entry> fresh;
    dev_t dev = 0;
    ino_t ino = 0;
    if (const int err = list(abs, fresh, dev, ino)) return err;
    ancestors_.emplace_back(static_cast<std::uint64_t>(dev), static_cast<std::uint64_t>(ino));
    auto old = dir.entries.begin();
    const auto old_end = dir.entries.end();
    for (snap_entry& e : fresh) {
      while (old != old_end && old->name < e.name) removed_entry(rel, *old++, out, &removed_);
      if (old == old_end || old->name != e.name) {
        created_entry(abs, rel, e, out);
        continue;
      }
      snap_entry& before = *old++;
      const bool was_dir = before.type == entry_type::directory && !before.ignored;
      const bool is_dir = e.type == entry_type::directory;
      if (is_dir && was_dir && descend(e, join_path(rel, e.name))) {
        e.dir = std::move(before.dir);
        note_failure(join_path(rel, e.name),
                     rescan_dir(join_path(abs, e.name), join_path(rel, e.name), *e.dir, out));
      } else if (is_dir && before.ignored && before.type == entry_type::directory) {
        e.ignored = !descend(e, join_path(rel, e.name));
        if (!e.ignored) created_entry(abs, rel, e, out);  // no longer a loop
      } else if (is_dir != (before.type == entry_type::directory) || (is_dir && was_dir)) {
        removed_entry(rel, before, out, &removed_);  // a file became a directory, or the reverse
        created_entry(abs, rel, e, out);
      } else if (!is_dir && (e.mtime_ns != before.mtime_ns || e.ctime_ns != before.ctime_ns ||
                             e.size != before.size || e.ino != before.ino)) {
        out.push_back({.path = join_path(rel, e.name),
                       .kind = change_kind::modified,
                       .old_path = {},
                       .root = setup_.root,
                       .is_directory = false});
      }
      if (stopping()) break;
    }
    while (old != old_end) removed_entry(rel, *old++, out, &removed_);
    dir.entries = std::move(fresh);
    ancestors_.pop_back();
    return 0;
  }

  // Turns a removal and a creation of the same entry (device, inode, size, mtime) into a
  // rename. Inside a renamed directory, entries that moved with it are dropped (inotify too
  // reports only the directory), and a file removed at the old path and created at the new
  // one (it changed meanwhile) becomes `modified` at the new path.
  void pair_renames(std::vector<file_change>& out, std::size_t first) {
    std::unordered_map<std::uint64_t, std::vector<std::size_t>> by_inode;  // into removed_
    for (std::size_t k = 0; k < removed_.size(); ++k) by_inode[removed_[k].ino].push_back(k);
    std::vector<bool> drop(out.size() - first, false);
    std::vector<std::pair<std::string, std::string>> moved_dirs;  // "old/", "new/"
    const auto moved_with_dir = [&](const std::string& from_path, const std::string& to_path) {
      for (const auto& [from, to] : moved_dirs)
        if (from_path.starts_with(from) && to_path.starts_with(to) &&
            std::string_view(from_path).substr(from.size()) ==
                std::string_view(to_path).substr(to.size()))
          return true;
      return false;
    };
    for (const identity& c : created_) {
      const auto candidates = by_inode.find(c.ino);
      if (candidates == by_inode.end()) continue;
      for (const std::size_t k : candidates->second) {
        identity& r = removed_[k];
        if (r.index == no_index || r.dev != c.dev || r.directory != c.directory ||
            r.size != c.size || r.mtime_ns != c.mtime_ns)
          continue;
        file_change& target = out[c.index];
        const file_change& source = out[r.index];
        if (moved_with_dir(source.path, target.path)) {
          drop[c.index - first] = true;
        } else {
          if (c.directory) moved_dirs.emplace_back(source.path + "/", target.path + "/");
          target.kind = change_kind::renamed;
          target.old_path = source.path;
        }
        drop[r.index - first] = true;
        r.index = no_index;
        break;
      }
    }
    if (!moved_dirs.empty()) {
      std::unordered_map<std::string_view, std::size_t> created_at;  // path -> index in out
      for (const identity& c : created_)
        if (!drop[c.index - first] && out[c.index].kind == change_kind::created)
          created_at.emplace(out[c.index].path, c.index);
      for (const identity& r : removed_) {
        if (r.index == no_index) continue;
        const std::string& path = out[r.index].path;
        for (const auto& [from, to] : moved_dirs) {
          if (!path.starts_with(from)) continue;
          const auto it = created_at.find(to + path.substr(from.size()));
          if (it != created_at.end() && out[it->second].is_directory == r.directory) {
            drop[r.index - first] = true;
            if (r.directory)
              drop[it->second - first] = true;  // its entries tell what changed
            else
              out[it->second].kind = change_kind::modified;
            created_at.erase(it);
          }
          break;
        }
      }
    }
    std::size_t w = first;
    for (std::size_t i = first; i < out.size(); ++i)
      if (!drop[i - first]) {
        if (w != i) out[w] = std::move(out[i]);
        ++w;
      }
    out.resize(w);
  }

  scan_setup setup_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ancestors_;  // (device, inode)
  std::vector<identity> removed_;
  std::vector<identity> created_;
  bool recording_ = false;  // in rescan(): record identities of what is created
  std::vector<std::pair<std::string, int>> failures_;  // not yet taken
  std::vector<std::string> reported_;                  // every failure ever noted
};

}  // namespace hmr::detail
