// The module loader's POSIX layer: a private directory of shadow copies per process (a
// fresh file per load, so glibc never hands back an old image by path or inode), file
// identities, dlopen/dlclose with an RTLD_NOLOAD probe, and inotify waits on a directory.
// The supervisor's share of it, `shadow_session`, owns the directory those private ones go
// in, so that a program killed by a signal leaves nothing behind. Nothing here is needed
// to use hmr::module.
#pragma once

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/inotify.h>
#endif

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <hmr/detail/posix_io.hpp>

namespace hmr::detail {

/// What identifies one version of a file: a change to any field is a new version.
struct file_identity {
  std::uint64_t device = 0;  ///< st_dev
  std::uint64_t inode = 0;   ///< st_ino
  std::int64_t size = 0;     ///< st_size
  std::int64_t mtime_ns = 0; ///< st_mtim in nanoseconds

  friend bool operator==(const file_identity&, const file_identity&) = default;
};

/// The identity of `path` (following symlinks), or nullopt when it cannot be stat'ed.
inline std::optional<file_identity> identify_file(const std::string& path) noexcept {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return file_identity{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                       static_cast<std::int64_t>(st.st_size), to_ns(st.st_mtim)};
}

/// Reads the whole file at `path` into `out`; 0 or an errno.
inline int read_whole_file(const std::string& path, std::string& out) {
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno;
  out.resize(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  for (;;) {
    if (done == out.size()) out.resize(out.size() + 65536);  // the file grew meanwhile
    const ssize_t n = ::read(fd.get(), out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  return 0;
}

/// Copies the open file `from` to `to` (in the kernel where it can); 0 or an errno.
inline int copy_contents(int from, int to) {
  bool kernel = true;
  char buffer[65536];
  for (;;) {
    ssize_t n = -1;
#if defined(__linux__)
    if (kernel) {
      n = ::copy_file_range(from, nullptr, to, nullptr, std::size_t{1} << 30, 0);
      if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
        kernel = false;
        continue;
      }
    } else
#endif
    {
      (void)kernel;
      n = ::read(from, buffer, sizeof buffer);
      for (ssize_t done = 0; n > 0 && done < n;) {
        const ssize_t w = ::write(to, buffer + done, static_cast<std::size_t>(n - done));
        if (w < 0 && errno != EINTR) return errno;
        if (w > 0) done += w;
      }
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return 0;
  }
}

/// A read-only view of a whole file (mmap); empty when the file is empty or unreadable.
class mapped_file {
 public:
  /// Maps `path`.
  explicit mapped_file(const std::string& path) noexcept {
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0 || st.st_size <= 0) return;
    void* at = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd.get(), 0);
    if (at == MAP_FAILED) return;
    data_ = at;
    size_ = static_cast<std::size_t>(st.st_size);
  }
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  ~mapped_file() {
    if (data_ != nullptr) ::munmap(data_, size_);
  }
  /// The file's bytes.
  [[nodiscard]] std::string_view bytes() const noexcept {
    return data_ != nullptr ? std::string_view(static_cast<const char*>(data_), size_) : std::string_view();
  }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

/// What `shadow_directory::snapshot` made.
struct snapshot_result {
  std::string copy{};        ///< the copy's path (empty on failure)
  file_identity source{};    ///< the source's identity, unchanged across the copy
  std::string error{};       ///< why there is no copy
};

/// The environment variable naming the directory a supervisor made for its programs'
/// shadow copies (see `shadow_session`).
inline constexpr const char* shadow_directory_variable = "HMR_SHADOW_DIR";

/// The prefix of every shadow directory's name: `hmr-modules-<pid>-XXXXXX`.
inline constexpr std::string_view shadow_directory_prefix = "hmr-modules-";

/// A new directory `<parent>/hmr-modules-<pid>-XXXXXX` holding `.lock`, which `lock`
/// (close-on-exec) keeps flock'ed. Returns its path, or "" with `error` set (naming the
/// fix) when it cannot be made.
inline std::string make_locked_directory(const std::string& parent, unique_fd& lock, std::string& error) {
  std::string pattern = parent + "/" + std::string(shadow_directory_prefix) + std::to_string(::getpid()) + "-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    const int err = errno;
    error = "cannot create a private directory for shadow copies in " + parent + " (" + errno_text(err) +
            "): set TMPDIR to a writable directory";
    return {};
  }
  // Locked before it gets its name, so a sweeper never sees an unlocked .lock of ours.
  lock.reset(::open((pattern + "/.lock.new").c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!lock || ::flock(lock.get(), LOCK_EX) != 0 ||
      ::rename((pattern + "/.lock.new").c_str(), (pattern + "/.lock").c_str()) != 0) {
    const int err = errno;
    error = "cannot lock the private directory " + pattern + " (" + errno_text(err) +
            "): set TMPDIR to a writable local directory";
    lock.reset();
    std::error_code ec;
    std::filesystem::remove_all(pattern, ec);
    return {};
  }
  return pattern;
}

/// $TMPDIR, or /tmp when it is unset or empty.
inline std::string temporary_directory() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
}

/// The process's private directory of shadow copies: `hmr-modules-<pid>-XXXXXX` in the
/// directory `HMR_SHADOW_DIR` names (under hmr: the supervisor's session directory, which
/// the supervisor removes once the program has ended, however it ended), else in $TMPDIR
/// (or /tmp). Created on first use, shared by every module handle, removed when the last
/// handle lets go of it (and at exit). The owner holds an flock on `.lock` inside it for
/// its whole life; a new directory's creator removes the directories of the same user whose
/// lock nobody holds. Only the creating process removes it: a forked child never does.
class shadow_directory {
 public:
  /// The directory, created (or shared) now; nullptr with `error` set when it cannot be made.
  /// A forked child gets a directory of its own, never its parent's.
  static std::shared_ptr<shadow_directory> acquire(std::string& error) {
    registry& r = the_registry();
    std::lock_guard lock(r.mutex);
    auto existing = r.current.lock();
    if (existing && existing->owner_ == ::getpid()) return existing;
    auto made = std::shared_ptr<shadow_directory>(new shadow_directory());
    if (made->path_.empty()) {
      error = std::move(made->error_);
      return nullptr;
    }
    r.current = made;
    r.path = made->path_;
    r.owner = made->owner_;
    return made;
  }

  shadow_directory(const shadow_directory&) = delete;
  shadow_directory& operator=(const shadow_directory&) = delete;
  /// Removes the directory and whatever is left in it (in its creator only).
  ~shadow_directory() {
    if (path_.empty() || owner_ != ::getpid()) return;  // a forked child forgets it
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);  // still holding the lock
    registry& r = the_registry();
    std::lock_guard lock(r.mutex);
    if (r.path == path_) r.path.clear();
  }

  /// The directory's path.
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  /// The process that created it.
  [[nodiscard]] pid_t owner() const noexcept { return owner_; }

  /// Copies `source` to a name never used before (`<stem>.<n>.so`) and checks that the
  /// source did not change meanwhile (same identity through its descriptor and its path).
  snapshot_result snapshot(const std::string& source, std::string_view stem) {
    snapshot_result out;
    unique_fd from(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat before {};
    if (!from || ::fstat(from.get(), &before) != 0) {
      out.error = "cannot read " + source + ": " + errno_text(errno);
      return out;
    }
    static std::atomic<std::uint64_t> counter{0};
    const std::string copy = path_ + "/" + std::string(stem) + "." +
                             std::to_string(counter.fetch_add(1) + 1) + ".so";
    unique_fd to(::open(copy.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700));
    if (!to) {
      out.error = "cannot write the shadow copy " + copy + ": " + errno_text(errno);
      return out;
    }
    if (const int err = copy_contents(from.get(), to.get()); err != 0) {
      ::unlink(copy.c_str());
      out.error = "cannot copy " + source + " to " + copy + ": " + errno_text(err);
      return out;
    }
    struct stat after {};
    const auto now_at_path = identify_file(source);
    const file_identity id{static_cast<std::uint64_t>(before.st_dev), static_cast<std::uint64_t>(before.st_ino),
                           static_cast<std::int64_t>(before.st_size), to_ns(before.st_mtim)};
    if (::fstat(from.get(), &after) != 0 || after.st_size != before.st_size ||
        to_ns(after.st_mtim) != to_ns(before.st_mtim) || !now_at_path || !(*now_at_path == id)) {
      ::unlink(copy.c_str());
      out.error = "the file changed while it was copied";
      return out;
    }
    out.copy = copy;
    out.source = id;
    return out;
  }

  /// Removes the `hmr-modules-<pid>-*` directories in `parent` that belong to this user and
  /// whose `.lock` nobody holds (an flock works across PID namespaces sharing the directory,
  /// unlike the pid in the name). A directory without `.lock` (its owner died before making
  /// it) goes when its process is gone and it is more than a minute old.
  /// `min_age` is that minute (a supervisor whose programs have all ended passes zero).
  static void remove_stale(const std::string& parent,
                           std::chrono::nanoseconds min_age = std::chrono::minutes(1)) noexcept {
    std::error_code ec;
    for (std::filesystem::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      static constexpr std::string_view prefix = shadow_directory_prefix;
      if (name.compare(0, prefix.size(), prefix) != 0) continue;
      const auto dash = name.find('-', prefix.size());
      if (dash == std::string::npos) continue;
      const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
      struct stat st {};
      if (pid <= 0 || ::lstat(it->path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
          st.st_uid != ::getuid()) {
        continue;
      }
      std::error_code ignored;
      const unique_fd lock(::open((it->path() / ".lock").c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
      const int open_error = lock ? 0 : errno;
      if (lock) {
        if (::flock(lock.get(), LOCK_EX | LOCK_NB) == 0) std::filesystem::remove_all(it->path(), ignored);
        continue;  // locked: its owner lives, in this PID namespace or another
      }
      const auto age = std::chrono::system_clock::now().time_since_epoch() -
                       std::chrono::nanoseconds(to_ns(st.st_mtim));
      if (open_error == ENOENT && age >= min_age && ::kill(static_cast<pid_t>(pid), 0) != 0 &&
          errno == ESRCH) {
        std::filesystem::remove_all(it->path(), ignored);
      }
    }
  }

 private:
  struct registry {
    std::mutex mutex;
    std::weak_ptr<shadow_directory> current;
    std::string path;  // removed at exit if a handle was never destroyed
    pid_t owner = 0;   // the process that made it (a forked child's exit leaves it alone)
    ~registry() {
      if (!path.empty() && owner == ::getpid()) {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
      }
    }
  };
  static registry& the_registry() {
    static registry r;
    return r;
  }

  // Makes the directory and takes its lock, in HMR_SHADOW_DIR when that works, else in
  // $TMPDIR; on failure path_ is empty and error_ says why.
  shadow_directory() : owner_(::getpid()) {
    const char* session = std::getenv(shadow_directory_variable);
    if (session != nullptr && *session != '\0') {
      remove_stale(session);
      path_ = make_locked_directory(session, lock_, error_);
      if (!path_.empty()) return;
    }
    const std::string parent = temporary_directory();
    remove_stale(parent);
    error_.clear();
    path_ = make_locked_directory(parent, lock_, error_);
  }

  pid_t owner_;
  std::string path_{};
  std::string error_{};
  unique_fd lock_{};  // the flock, held (and shared with forked children) until destruction
};

/// The supervisor's directory for its programs' shadow copies, one per session:
/// `hmr-modules-<pid>-XXXXXX` under $TMPDIR, locked like a program's own. Each program it
/// starts learns it from `HMR_SHADOW_DIR` and makes its private directory inside it; once
/// a program has ended (stopped, crashed or killed: its at-exit cleanup may never have
/// run), `collect()` removes what it left, and the destructor removes the whole session.
/// A session whose supervisor was itself killed is removed by the next one (its lock is
/// free). A program's copies stay on disk while it runs, so gdb and perf can read them.
///
/// @code
///   shadow_session shadows;
///   shadows.add_to(environment);  // before each start
///   child.stop();
///   shadows.collect();            // after each end
/// @endcode
class shadow_session {
 public:
  /// No directory yet: `add_to` makes it.
  shadow_session() = default;
  shadow_session(const shadow_session&) = delete;
  shadow_session& operator=(const shadow_session&) = delete;
  /// Removes the directory and everything in it (in the creating process only).
  ~shadow_session() {
    if (path_.empty() || owner_ != ::getpid()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);  // still holding the lock
  }

  /// Adds `HMR_SHADOW_DIR=<the directory>` to `environment`, making the directory first if
  /// needed: in `program_tmpdir` (the TMPDIR the supervisor gives its programs) when not
  /// empty, else in the supervisor's own. Adds nothing when it cannot be made (`error()`
  /// says why): programs then use $TMPDIR, as they do alone.
  void add_to(std::vector<std::pair<std::string, std::string>>& environment,
              const std::string& program_tmpdir = {}) {
    if (path_.empty() && !tried_) {
      tried_ = true;
      owner_ = ::getpid();
      const std::string parent = program_tmpdir.empty() ? temporary_directory() : program_tmpdir;
      shadow_directory::remove_stale(parent);  // sessions of supervisors that were killed
      path_ = make_locked_directory(parent, lock_, error_);
    }
    if (!path_.empty()) environment.emplace_back(shadow_directory_variable, path_);
  }

  /// Removes the private directories of programs that have ended (nobody holds their lock).
  /// Call it once the program and its process group are gone.
  void collect() noexcept {
    if (!path_.empty()) shadow_directory::remove_stale(path_, std::chrono::nanoseconds(0));
  }

  /// The session's directory; empty before `add_to` or when it could not be made.
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  /// Why there is no directory.
  [[nodiscard]] const std::string& error() const noexcept { return error_; }

 private:
  pid_t owner_ = 0;
  bool tried_ = false;
  std::string path_{};
  std::string error_{};
  unique_fd lock_{};
};

/// dlopen(path, RTLD_NOW | RTLD_LOCAL); nullptr with `error` set to the dlerror text.
inline void* dl_open(const std::string& path, std::string& error) {
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* text = ::dlerror();
    error = text != nullptr ? text : "dlopen failed";
  }
  return handle;
}

/// dlsym of `name` in `handle`.
inline void* dl_symbol(void* handle, const char* name) noexcept { return ::dlsym(handle, name); }

/// dlclose of `handle`.
inline void dl_close(void* handle) noexcept {
  if (handle != nullptr) ::dlclose(handle);
}

/// True when the image loaded from `path` is still mapped (an RTLD_NOLOAD probe after dlclose).
inline bool dl_still_loaded(const std::string& path) noexcept {
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (handle == nullptr) {
    (void)::dlerror();
    return false;
  }
  ::dlclose(handle);
  return true;
}

/// Events on one directory that concern one file name: written and closed, or moved into
/// place (inotify IN_CLOSE_WRITE | IN_MOVED_TO, non-recursive). Without inotify, `fd()` is -1
/// and `wait` polls the file's identity every few milliseconds.
class file_events {
 public:
  /// Watches `directory` for `name`; check `fd() >= 0` for the event-driven mode.
  file_events(const std::string& directory, std::string name) : name_(std::move(name)) {
#if defined(__linux__)
    fd_.reset(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
    if (fd_ && ::inotify_add_watch(fd_.get(), directory.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
      fd_.reset();
    }
#else
    (void)directory;
#endif
  }

  /// The inotify descriptor to poll, or -1.
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }

  /// Reads pending events; true when one concerns the file.
  bool drain() noexcept {
#if defined(__linux__)
    alignas(inotify_event) char buffer[4096];
    bool hit = false;
    for (;;) {
      const ssize_t n = ::read(fd_.get(), buffer, sizeof buffer);
      if (n <= 0) break;
      for (ssize_t at = 0; at < n;) {
        const auto* e = reinterpret_cast<const inotify_event*>(buffer + at);
        if (e->len > 0 && name_ == e->name) hit = true;
        if (e->mask & IN_Q_OVERFLOW) hit = true;
        at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
      }
    }
    return hit;
#else
    return false;
#endif
  }

  /// Waits until an event concerns the file, `wake_fd` (if >= 0) is readable, or `deadline`;
  /// true on an event for the file. Without inotify: sleeps a few milliseconds and says true.
  bool wait(std::chrono::steady_clock::time_point deadline, int wake_fd = -1) noexcept {
    for (;;) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return false;
      const auto left = std::min<std::chrono::milliseconds::rep>(
          std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count(), INT_MAX);
      if (!fd_) {
        ::poll(nullptr, 0, static_cast<int>(left < 5 ? left : 5));
        return true;
      }
      pollfd fds[2] = {{fd_.get(), POLLIN, 0}, {wake_fd, POLLIN, 0}};
      const int n = ::poll(fds, wake_fd >= 0 ? 2 : 1, static_cast<int>(left));
      if (n < 0 && errno != EINTR) return false;
      if (wake_fd >= 0 && (fds[1].revents & POLLIN)) return false;
      if (n > 0 && drain()) return true;
    }
  }

 private:
  std::string name_;
  unique_fd fd_;
};

}  // namespace hmr::detail
