// POSIX helpers the watcher backends share: owned descriptors, a poll(2) wake-up, directory
// listing with d_type, small /proc reads. Nothing here is needed to use a watcher.
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

#include <hmr/watch_options.hpp>

namespace hmr::detail {

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

  /// The type of the entry `next()` just returned as `name`: its d_type, or what fstatat
  /// says when the file system gave none (`unknown`) or when the entry is a symlink to be
  /// followed. Unchanged when the stat fails (the entry vanished meanwhile).
  [[nodiscard]] entry_type resolve(std::string_view name, entry_type type, bool unknown,
                                   bool follow_symlinks) const noexcept {
    if (!unknown && !(type == entry_type::symlink && follow_symlinks)) return type;
    struct stat st {};
    // `name` views the dirent's NUL-terminated d_name.
    const int flags = follow_symlinks ? 0 : AT_SYMLINK_NOFOLLOW;
    return ::fstatat(fd(), name.data(), &st, flags) == 0 ? type_of_mode(st.st_mode) : type;
  }

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

}  // namespace hmr::detail
