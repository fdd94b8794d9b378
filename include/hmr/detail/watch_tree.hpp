// What the watcher backends share: the watcher's vocabulary (options, notices, handler,
// statistics; documented with the watcher in hmr/watcher.hpp and docs/watcher.md), directory
// listing with d_type, the polling snapshot and its diff, and the engine that runs a backend
// on its own thread. POSIX only; nothing here is needed to *use* a watcher.
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
#include <hmr/events.hpp>
#include <hmr/filters.hpp>
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
  /// not filtered (apply the full filter to the changes, see `hmr::filter_changes`).
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

namespace detail {

/// "No such index".
inline constexpr std::uint32_t no_index = 0xffffffffU;

/// An owned file descriptor, closed on destruction.
class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  /// The descriptor, or -1.
  [[nodiscard]] int get() const noexcept { return fd_; }
  /// True when a descriptor is held.
  explicit operator bool() const noexcept { return fd_ >= 0; }
  /// Closes the held descriptor and holds `fd` instead.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

/// Wakes a thread blocked in poll(2): an eventfd on Linux, a pipe elsewhere.
class wake_signal {
 public:
  /// Creates the descriptors; throws std::system_error when it cannot.
  void open() {
#if defined(__linux__)
    read_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!read_) throw std::system_error(errno, std::generic_category(), "hmr watcher: eventfd");
#else
    int fds[2];
    if (::pipe(fds) != 0)
      throw std::system_error(errno, std::generic_category(), "hmr watcher: pipe");
    read_.reset(fds[0]);
    write_.reset(fds[1]);
    for (int fd : fds) {
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      ::fcntl(fd, F_SETFL, O_NONBLOCK);
    }
#endif
  }
  /// Closes the descriptors.
  void close() noexcept {
    read_.reset();
    write_.reset();
  }
  /// The descriptor to poll for reading.
  [[nodiscard]] int fd() const noexcept { return read_.get(); }
  /// Makes fd() readable.
  void signal() const noexcept {
#if defined(__linux__)
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(read_.get(), &one, sizeof one);
#else
    const char one = 1;
    [[maybe_unused]] auto n = ::write(write_.get(), &one, 1);
#endif
  }
  /// Consumes pending signals.
  void drain() const noexcept {
    char buf[64];
    while (::read(read_.get(), buf, sizeof buf) > 0) {
    }
  }

 private:
  unique_fd read_;
  unique_fd write_;
};

/// The text of an errno value ("Permission denied").
inline std::string errno_text(int err) { return std::generic_category().message(err); }

/// `dir/name`, or `name` when `dir` is empty (root-relative paths).
inline std::string join_path(std::string_view dir, std::string_view name) {
  std::string out;
  out.reserve(dir.size() + 1 + name.size());
  out.append(dir);
  if (!dir.empty()) out.push_back('/');
  out.append(name);
  return out;
}

/// `"path"` quoted for a message; the root shows as `"."`.
inline std::string quote_path(std::string_view path) {
  return "\"" + std::string(path.empty() ? std::string_view(".") : path) + "\"";
}

/// A small text file under /proc (a sysctl), trimmed; empty when unreadable.
inline std::string read_small_file(const char* path) {
  unique_fd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return {};
  char buf[64];
  const auto n = ::read(fd.get(), buf, sizeof buf);
  if (n <= 0) return {};
  std::string out(buf, static_cast<std::size_t>(n));
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

/// Nanoseconds since the epoch of a timespec.
inline std::int64_t to_ns(const struct timespec& t) noexcept {
  return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

/// What a directory entry is.
enum class entry_type : std::uint8_t { file, directory, symlink, other };

/// The entry type of a `st_mode`.
inline entry_type type_of_mode(mode_t mode) noexcept {
  if (S_ISDIR(mode)) return entry_type::directory;
  if (S_ISREG(mode)) return entry_type::file;
  if (S_ISLNK(mode)) return entry_type::symlink;
  return entry_type::other;
}

/// Reads a directory's entries (without "." and ".."), with their d_type. Owns the
/// directory stream; `fd()` serves fstatat on the entries.
class directory_reader {
 public:
  /// Opens `path` (following a symlink only at its last component when `follow`).
  explicit directory_reader(const std::string& path) noexcept {
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      error_ = errno;
      return;
    }
    dir_ = ::fdopendir(fd);
    if (dir_ == nullptr) {
      error_ = errno;
      ::close(fd);
    }
  }
  directory_reader(const directory_reader&) = delete;
  directory_reader& operator=(const directory_reader&) = delete;
  ~directory_reader() {
    if (dir_ != nullptr) ::closedir(dir_);
  }

  /// 0, or the errno of opening the directory.
  [[nodiscard]] int error() const noexcept { return error_; }
  /// The directory's descriptor (for fstatat).
  [[nodiscard]] int fd() const noexcept { return ::dirfd(dir_); }

  /// The next entry's name and d_type-derived type (`unknown` set when d_type is missing);
  /// false at the end.
  bool next(std::string_view& name, entry_type& type, bool& unknown) noexcept {
    while (const dirent* e = ::readdir(dir_)) {
      const char* n = e->d_name;
      if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'))) continue;
      name = n;
      unknown = false;
      switch (e->d_type) {
        case DT_DIR:
          type = entry_type::directory;
          break;
        case DT_REG:
          type = entry_type::file;
          break;
        case DT_LNK:
          type = entry_type::symlink;
          break;
        case DT_UNKNOWN:
          unknown = true;
          type = entry_type::other;
          break;
        default:
          type = entry_type::other;
          break;
      }
      return true;
    }
    return false;
  }

 private:
  DIR* dir_ = nullptr;
  int error_ = 0;
};

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
    if (!setup_.options->directory_filter.keep(path, true)) return false;
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

}  // namespace detail
}  // namespace hmr
