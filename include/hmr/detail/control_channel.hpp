// The control channel between the supervisor and the program it runs: line-delimited JSON
// over an inherited AF_UNIX socketpair. The protocol (version 1): docs/control-channel.md.
// Both ends use this header: the supervisor through `control_endpoint`, the program
// through hmr/runtime.hpp (which owns one endpoint as well).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/eventfd.h>
#endif

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <hmr/detail/json_reader.hpp>
#include <hmr/detail/json_writer.hpp>
#include <hmr/detail/result.hpp>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace hmr::detail {

/// The protocol version this header speaks (the `protocol` member of `hello`).
inline constexpr int control_protocol = 1;
/// The longest line either end accepts (1 MiB, without its '\n'); a longer line is
/// dropped whole and reading resumes after its '\n'.
inline constexpr std::size_t control_max_line = std::size_t{1} << 20;
/// The longest reload timeout either end accepts (1 hour); `decode` clamps `timeout_ms`
/// to [0, this], so that `now + timeout` cannot overflow.
inline constexpr std::chrono::milliseconds control_max_timeout = std::chrono::hours(1);
/// How long `control_endpoint::send` waits, by default, for a peer that does not read.
inline constexpr std::chrono::milliseconds control_default_send_timeout = std::chrono::seconds(5);

/// app -> supervisor: the runtime is up (sent when `hmr::runtime` is first used).
struct control_hello {
  int protocol = control_protocol;  ///< protocol version the app speaks
  int pid = 0;                      ///< the app's pid
  /// Member-wise equality.
  friend bool operator==(const control_hello&, const control_hello&) = default;
};

/// app -> supervisor: the app called `runtime::ready()` (it is serving).
struct control_ready {
  /// All `ready` messages are equal.
  friend bool operator==(const control_ready&, const control_ready&) = default;
};

/// supervisor -> app: swap in the new versions of `modules` now.
struct control_reload {
  std::uint64_t id = 0;                ///< request id, echoed in the result (at most INT64_MAX)
  std::vector<std::string> modules{};  ///< absolute paths of the module files to reload
  std::vector<std::string> changed{};  ///< the source paths whose change caused it
  /// How long the app may take ("timeout_ms"); `decode` clamps it to [0, 1 h].
  std::chrono::milliseconds timeout{2000};
  /// Member-wise equality.
  friend bool operator==(const control_reload&, const control_reload&) = default;
};

/// app -> supervisor: how a `reload` request ended.
struct control_reload_result {
  std::uint64_t id = 0;                  ///< the request's id
  bool ok = false;                       ///< every module was swapped
  std::string reason{};                  ///< why not (empty when `ok`); names the module
  std::vector<std::string> modules{};    ///< the modules swapped (all of them when `ok`)
  std::chrono::microseconds elapsed{0};  ///< time spent in the app ("elapsed_us")
  /// Member-wise equality.
  friend bool operator==(const control_reload_result&, const control_reload_result&) = default;
};

/// supervisor -> app: every path of a change batch, after a reload or a cycle with no
/// effect (the program kept running), so that it can reload assets.
struct control_file_modified {
  /// The changed paths: absolute when the supervisor knows the watch roots (the hybrid
  /// strategy with `watch_roots`, as the CLI sets it), else relative to their watch root.
  std::vector<std::string> paths{};
  /// Member-wise equality.
  friend bool operator==(const control_file_modified&, const control_file_modified&) = default;
};

/// Any message of protocol version 1.
using control_message = std::variant<control_hello, control_ready, control_reload,
                                     control_reload_result, control_file_modified>;

/// The `"type"` of a message: "hello", "ready", "reload", "reload_result", "file_modified".
inline std::string_view control_type_name(const control_message& message) noexcept {
  constexpr std::string_view names[] = {"hello", "ready", "reload", "reload_result",
                                        "file_modified"};
  return names[message.index()];
}

namespace control_json {

/// Writes `"key":[...strings...]`.
inline void write_strings(json_writer& w, std::string_view key,
                          const std::vector<std::string>& items) {
  w.key(key);
  w.begin_array();
  for (const std::string& item : items) w.string(item);
  w.end_array();
}

/// Reads member `key` as an array of strings into `out`; a missing member leaves `out`
/// empty; false when it is present with another type.
inline bool read_strings(const json_value& object, std::string_view key,
                         std::vector<std::string>& out) {
  const json_value* v = object.find(key);
  if (v == nullptr) return true;
  if (!v->is_array()) return false;
  out.reserve(v->as_array().size());
  for (const json_value& item : v->as_array()) {
    if (!item.is_string()) return false;
    out.push_back(item.as_string());
  }
  return true;
}

/// Reads member `key` as an integer in [lo, hi]; `required` members must be present.
template <class T>
bool read_integer(const json_value& object, std::string_view key, T& out, bool required,
                  std::int64_t lo = std::numeric_limits<std::int64_t>::min(),
                  std::int64_t hi = std::numeric_limits<std::int64_t>::max()) {
  const json_value* v = object.find(key);
  if (v == nullptr) return !required;
  if (!v->is_integer()) return false;
  const std::int64_t n = v->as_int();
  if (n < lo || n > hi) return false;
  out = static_cast<T>(n);
  return true;
}

}  // namespace control_json

/// The message as one line of JSON, without the '\n'. Strings are written as
/// `json_writer` writes them: invalid UTF-8 becomes U+FFFD (paths that are not UTF-8 do
/// not survive the trip unchanged). An `id` above INT64_MAX is not representable.
///
/// @code
///   encode(control_ready{})  // {"type":"ready"}
/// @endcode
inline std::string encode(const control_message& message) {
  std::string line;
  json_writer w{line};
  w.begin_object();
  w.member("type", control_type_name(message));
  if (const auto* hello = std::get_if<control_hello>(&message)) {
    w.member("protocol", hello->protocol);
    w.member("pid", hello->pid);
  } else if (const auto* reload = std::get_if<control_reload>(&message)) {
    w.member("id", reload->id);
    control_json::write_strings(w, "modules", reload->modules);
    control_json::write_strings(w, "changed", reload->changed);
    w.member("timeout_ms", static_cast<std::int64_t>(reload->timeout.count()));
  } else if (const auto* result = std::get_if<control_reload_result>(&message)) {
    w.member("id", result->id);
    w.member("ok", result->ok);
    if (!result->reason.empty()) w.member("reason", result->reason);
    control_json::write_strings(w, "modules", result->modules);
    w.member("elapsed_us", static_cast<std::int64_t>(result->elapsed.count()));
  } else if (const auto* modified = std::get_if<control_file_modified>(&message)) {
    control_json::write_strings(w, "paths", modified->paths);
  }
  w.end_object();
  return line;
}

/// The message in one line (a trailing "\n" or "\r\n" is allowed), or nullopt when the
/// line is not a message of a known type: not JSON, not an object, no string `"type"`,
/// an unknown type, a required member missing or a member of the wrong type. Unknown
/// members are ignored; missing optional members take their defaults. A reload's
/// `timeout_ms` is clamped to [0, `control_max_timeout`]. Never throws.
inline std::optional<control_message> decode(std::string_view line) noexcept {
  using namespace control_json;
  try {
    auto doc = parse_json_line(line, {.max_depth = 64});
    if (!doc || !doc->is_object()) return std::nullopt;
    const json_value& o = *doc;
    const json_value* type = o.find("type");
    if (type == nullptr || !type->is_string()) return std::nullopt;
    const std::string& name = type->as_string();
    constexpr std::int64_t int_min = std::numeric_limits<int>::min();
    constexpr std::int64_t int_max = std::numeric_limits<int>::max();
    if (name == "hello") {
      control_hello m;
      if (!read_integer(o, "protocol", m.protocol, true, int_min, int_max) ||
          !read_integer(o, "pid", m.pid, false, int_min, int_max))
        return std::nullopt;
      return m;
    }
    if (name == "ready") return control_ready{};
    if (name == "reload") {
      control_reload m;
      std::int64_t timeout = m.timeout.count();
      if (!read_integer(o, "id", m.id, true, 0) || !read_strings(o, "modules", m.modules) ||
          !read_strings(o, "changed", m.changed) || !read_integer(o, "timeout_ms", timeout, false))
        return std::nullopt;
      m.timeout = std::chrono::milliseconds(std::clamp<std::int64_t>(
          timeout, 0, control_max_timeout.count()));  // no overflow in now + timeout
      return m;
    }
    if (name == "reload_result") {
      control_reload_result m;
      std::int64_t elapsed = 0;
      const json_value* ok = o.find("ok");
      const json_value* reason = o.find("reason");
      if (ok == nullptr || !ok->is_bool() || (reason != nullptr && !reason->is_string()) ||
          !read_integer(o, "id", m.id, true, 0) || !read_strings(o, "modules", m.modules) ||
          !read_integer(o, "elapsed_us", elapsed, false))
        return std::nullopt;
      m.ok = ok->as_bool();
      if (reason != nullptr) m.reason = reason->as_string();
      m.elapsed = std::chrono::microseconds(elapsed);
      return m;
    }
    if (name == "file_modified") {
      control_file_modified m;
      if (!read_strings(o, "paths", m.paths)) return std::nullopt;
      return m;
    }
    return std::nullopt;
  } catch (...) {  // only std::bad_alloc can get here
    return std::nullopt;
  }
}

/// Splits a byte stream into lines at '\n' (a '\r' before it stays; `decode` accepts it).
/// A line longer than `max_line` is dropped, with the rest of it up to its '\n'; a
/// partial line at the end of the stream is never delivered.
class control_line_splitter {
 public:
  /// A splitter delivering lines of at most `max_line` bytes.
  explicit control_line_splitter(std::size_t max_line = control_max_line) noexcept
      : max_line_(max_line) {}

  /// Feeds `data`; calls `on_line(std::string_view)` for each complete line. Stops early,
  /// keeping nothing, when `on_line` returns false.
  template <class F>
  bool feed(std::string_view data, F&& on_line) {
    while (!data.empty()) {
      const auto nl = data.find('\n');
      const std::string_view piece = data.substr(0, nl);
      if (!discarding_) {
        if (pending_.size() + piece.size() > max_line_) {
          discarding_ = true;
          pending_.clear();
          pending_.shrink_to_fit();
        } else if (nl != std::string_view::npos && pending_.empty()) {
          if (!on_line(piece)) return false;  // the common case: no copy
        } else {
          pending_.append(piece);
          if (nl != std::string_view::npos) {
            const std::string line = std::move(pending_);
            pending_.clear();
            if (!on_line(std::string_view(line))) return false;
          }
        }
      }
      if (nl == std::string_view::npos) break;
      discarding_ = false;
      data.remove_prefix(nl + 1);
    }
    return true;
  }

 private:
  std::string pending_{};
  std::size_t max_line_;
  bool discarding_ = false;  // inside a line that was too long
};

/// The two ends of a fresh control channel, both close-on-exec; the caller owns both.
struct control_socketpair {
  int supervisor_fd = -1;  ///< kept by the supervisor (give it to a `control_endpoint`)
  int child_fd = -1;       ///< inherited by the program (`process_options::inherited_fds`),
                           ///< closed by the supervisor right after the spawn
};

/// A connected AF_UNIX stream socketpair for a control channel, or an error naming errno.
inline result<control_socketpair> make_control_socketpair() {
  int fds[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    return error_info{"cannot create the control channel (socketpair): " +
                      std::generic_category().message(errno)};
  return control_socketpair{fds[0], fds[1]};
}

/// True when `fd` is an open AF_UNIX stream socket (what `HMR_CONTROL_FD` must name; a
/// TCP socket is not a control channel).
inline bool is_stream_socket(int fd) noexcept {
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) return false;
#if defined(SO_DOMAIN)
  int domain = 0;
  len = sizeof domain;
  return ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_UNIX;
#else
  sockaddr_storage address{};
  len = sizeof address;
  return ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &len) == 0 &&
         address.ss_family == AF_UNIX;
#endif
}

/// This process's pid.
inline int current_pid() noexcept { return static_cast<int>(::getpid()); }

/// Sets FD_CLOEXEC on `fd` (the program's end of the channel, so that programs the app
/// starts do not inherit it).
inline void set_close_on_exec(int fd) noexcept { ::fcntl(fd, F_SETFD, FD_CLOEXEC); }

/// How `control_endpoint::send_message` ended.
enum class control_send : std::uint8_t {
  sent,       ///< the whole line was written
  failed,     ///< the peer is gone or the socket failed
  timed_out,  ///< the peer read nothing for the send timeout (stuck, or not reading)
};

/// What a `control_endpoint` shares with its reader thread (which may outlive the
/// endpoint when the endpoint is destroyed from one of its own callbacks).
struct control_endpoint_state {
  int fd = -1;
  int wake_fd = -1;  // an eventfd (Linux) that stops the reader; -1: shutdown() instead
  std::function<void(control_message)> on_message{};
  std::function<void()> on_closed{};
  std::chrono::milliseconds send_timeout = control_default_send_timeout;
  std::mutex send_mutex{};
  bool torn = false;            // under send_mutex: a timed-out send left a partial line
  std::mutex callback_mutex{};  // held while a callback runs
  bool stopping = false;        // under callback_mutex
  std::atomic<bool> stop_requested{false};

  control_endpoint_state() = default;
  control_endpoint_state(const control_endpoint_state&) = delete;
  control_endpoint_state& operator=(const control_endpoint_state&) = delete;
  ~control_endpoint_state() {
    if (fd >= 0) ::close(fd);
    if (wake_fd >= 0) ::close(wake_fd);
  }

  /// Runs `f` under the callback lock unless the endpoint is stopping; false then.
  template <class F>
  bool deliver(F&& f) {
    const std::lock_guard lock(callback_mutex);
    if (stopping) return false;
    f();
    return true;
  }

  /// Writes `bytes` (under send_mutex) on the non-blocking socket, waiting for room with
  /// poll(POLLOUT) up to `send_timeout` in all; never SIGPIPE.
  control_send write_all(std::string_view bytes) {
    const auto deadline = std::chrono::steady_clock::now() + send_timeout;
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return control_send::failed;
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        if (done > 0) torn = true;  // the peer would glue the next line to this part
        return control_send::timed_out;
      }
      pollfd polled{fd, POLLOUT, 0};
      const auto wait = std::min<std::int64_t>(left.count(), std::numeric_limits<int>::max());
      if (::poll(&polled, 1, static_cast<int>(wait)) < 0 && errno != EINTR) return control_send::failed;
    }
    return control_send::sent;
  }

  /// The reader thread: lines in, messages out, until EOF, an error or a stop.
  void run() {
    control_line_splitter lines;
    std::vector<char> buffer(65536);
    const auto on_line = [this](std::string_view line) {
      auto message = decode(line);
      if (!message) return !stop_requested.load();  // not ours: ignored
      return deliver([&] { on_message(std::move(*message)); });
    };
    for (;;) {
      pollfd polled[2] = {{fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
      if (::poll(polled, wake_fd >= 0 ? 2 : 1, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (stop_requested.load() || polled[1].revents != 0) return;
      if (polled[0].revents == 0) continue;
      const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) break;  // EOF or a broken connection
      if (!lines.feed(std::string_view(buffer.data(), static_cast<std::size_t>(n)), on_line))
        return;
    }
    deliver([&] {
      if (on_closed) on_closed();
    });
  }
};

/// One end of a control channel: a reader thread delivers the peer's messages, `send`
/// writes messages. The supervisor uses it for its end; `hmr::runtime` for the app's.
///
/// @code
///   auto pair = hmr::detail::make_control_socketpair();
///   hmr::detail::control_endpoint app{pair->supervisor_fd,
///       [](hmr::detail::control_message m) { handle(m); },   // on the reader thread
///       [] { note_gone(); }};                                 // EOF: the peer is gone
///   app.send(hmr::detail::control_reload{.id = 1, .modules = {"/abs/libx.so"}});
/// @endcode
///
/// Lines that are not messages (garbage, unknown types) are skipped; a line longer than
/// `control_max_line` is dropped. Callbacks run one at a time on the reader thread.
class control_endpoint {
 public:
  /// Takes ownership of `fd` (a connected stream socket, made non-blocking) and starts
  /// the reader thread. `on_message` gets each message; `on_closed` is called once when
  /// the peer closes its end (EOF) or the connection breaks. Either may be empty. `send`
  /// gives up on a peer that reads nothing for `send_timeout`. Throws std::system_error
  /// only when no thread can be started (or std::bad_alloc); the fd is closed then.
  control_endpoint(int fd, std::function<void(control_message)> on_message,
                   std::function<void()> on_closed,
                   std::chrono::milliseconds send_timeout = control_default_send_timeout) {
    try {
      state_ = std::make_shared<control_endpoint_state>();
    } catch (...) {
      ::close(fd);
      throw;
    }
    state_->fd = fd;
    state_->send_timeout = std::max(send_timeout, std::chrono::milliseconds(0));
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    state_->on_message = std::move(on_message);
    state_->on_closed = std::move(on_closed);
#if defined(__linux__)
    state_->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
#endif
    owner_ = ::getpid();
    thread_ = std::thread([state = state_] { state->run(); });
  }
  control_endpoint(const control_endpoint&) = delete;
  control_endpoint& operator=(const control_endpoint&) = delete;

  /// Stops the reader thread (see `stop()`) and closes the socket.
  ~control_endpoint() { stop(); }

  /// Stops the reader thread, waiting for a callback running on another thread to return,
  /// and joins it; no callback starts once this has begun. From one of the endpoint's own
  /// callbacks it returns at once (the thread ends when the callback returns). In a forked
  /// child it only lets go of the thread. `send` still works afterwards. Idempotent.
  void stop() noexcept {
    if (!thread_.joinable()) return;
    control_endpoint_state& s = *state_;
    if (::getpid() != owner_) {  // a fork of the owner: the thread does not exist here
      thread_.detach();
      return;
    }
    s.stop_requested.store(true);
    if (s.wake_fd >= 0) {
      const std::uint64_t one = 1;
      [[maybe_unused]] const ssize_t n = ::write(s.wake_fd, &one, sizeof one);
    } else {
      ::shutdown(s.fd, SHUT_RD);
    }
    if (std::this_thread::get_id() == thread_.get_id()) {
      s.stopping = true;  // we are inside a callback: the reader holds callback_mutex
      thread_.detach();
      return;
    }
    {
      const std::lock_guard lock(s.callback_mutex);
      s.stopping = true;
    }
    thread_.join();
  }

  /// `stop()`, then shuts the socket down both ways: the peer sees EOF and later sends
  /// fail. The descriptor itself stays open until destruction, so a `send` racing with
  /// this on another thread is harmless. Idempotent.
  void disconnect() noexcept {
    stop();
    ::shutdown(state_->fd, SHUT_RDWR);
  }

  /// Writes `message` as one line. Thread-safe (one line at a time). Waits while the
  /// peer's receive buffer is full, up to the send timeout: `timed_out` then. `failed`
  /// when the peer is gone or the socket failed (never SIGPIPE). After a timed-out send
  /// that wrote part of its line, the next send first ends that line with '\n', so the
  /// peer drops the fragment instead of the next message.
  control_send send_message(const control_message& message) {
    std::string line = encode(message);
    line.push_back('\n');
    const std::lock_guard lock(state_->send_mutex);
    const bool was_torn = std::exchange(state_->torn, false);
    if (was_torn) line.insert(line.begin(), '\n');
    const control_send outcome = state_->write_all(line);
    if (outcome == control_send::timed_out && was_torn) state_->torn = true;  // the '\n' is still due
    return outcome;
  }

  /// `send_message(message) == control_send::sent`.
  bool send(const control_message& message) { return send_message(message) == control_send::sent; }

  /// Writes raw bytes as they are (tests use it to send garbage); same rules as `send`.
  bool send_raw(std::string_view bytes) {
    const std::lock_guard lock(state_->send_mutex);
    return state_->write_all(bytes) == control_send::sent;
  }

  /// True when called on this endpoint's reader thread (from a callback).
  [[nodiscard]] bool on_reader_thread() const noexcept {
    return std::this_thread::get_id() == thread_.get_id();
  }

 private:
  std::shared_ptr<control_endpoint_state> state_;
  std::thread thread_{};
  pid_t owner_ = 0;
};

}  // namespace hmr::detail
