// The program's side of hmr: what a supervised program learns from its environment, the
// control channel to the supervisor (reload requests in, hello/ready/results out), and the
// callbacks the program registers. Outside a supervisor every call is a cheap no-op.
// The protocol: docs/control-channel.md.
#pragma once

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <hmr/detail/control_channel.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

namespace hmr {

/// How a reload of one module ended.
struct reload_outcome {
  bool ok = false;       ///< the new version is in place
  std::string reason{};  ///< why not (empty when `ok`), e.g. "slot 'counter' changed layout"
};

/// Something the supervisor can reload in the running program: a module handle
/// (hmr/module.hpp implements it) registers itself with `runtime::add_reloadable`.
class reloadable {
 public:
  virtual ~reloadable() = default;
  /// The module's file as the app named it, made absolute (lexically normal).
  [[nodiscard]] virtual std::string file() const = 0;
  /// Called on the runtime's channel thread: performs the swap at the next safe point and
  /// blocks until it is done or `deadline` has passed; never throws.
  virtual reload_outcome reload(std::chrono::steady_clock::time_point deadline) = 0;
};

/// What a successful reload swapped, passed to the `on_reload` callbacks.
struct reload_info {
  std::vector<std::string> modules{};  ///< the module files reloaded (absolute paths)
  std::vector<std::string> changed{};  ///< the source paths whose change caused it
};

/// What the supervisor tells the program through its environment.
struct runtime_environment {
  bool hmr = false;                    ///< `HMR=1`: started by hmr
  std::uint64_t generation = 0;        ///< `HMR_GENERATION`: 1 for the first start
  std::string reason{};                ///< `HMR_REASON`: "initial", "change", "manual", "crash"
  std::vector<std::string> changed{};  ///< `HMR_CHANGED`, split on '\n' (empty lines dropped)
  int control_fd = -1;                 ///< `HMR_CONTROL_FD`, or -1 when unset
  std::string control_fd_text{};       ///< `HMR_CONTROL_FD` as written (for messages)

  /// Reads the `HMR_*` variables of this process (the others stay default without `HMR=1`).
  [[nodiscard]] static runtime_environment from_process();
};

class runtime;
namespace detail {
class runtime_core;
struct runtime_access;
}  // namespace detail

/// A registration with the runtime (a callback or a reloadable); unsubscribes when
/// destroyed or `reset()`. Empty (and free) outside a supervisor. Move-only.
///
/// Unsubscribing waits for a call of this callback that is running on the channel thread
/// to return, so whatever the callback uses may be destroyed right after; from within a
/// callback (on the channel thread) it returns at once.
class subscription {
 public:
  /// Nothing subscribed.
  subscription() noexcept = default;
  /// Takes over `other`'s registration.
  subscription(subscription&& other) noexcept
      : core_(std::move(other.core_)), id_(std::exchange(other.id_, 0)) {}
  /// Unsubscribes the held registration, then takes over `other`'s.
  subscription& operator=(subscription&& other) noexcept {
    if (this != &other) {
      reset();
      core_ = std::move(other.core_);
      id_ = std::exchange(other.id_, 0);
    }
    return *this;
  }
  subscription(const subscription&) = delete;
  subscription& operator=(const subscription&) = delete;
  /// Unsubscribes.
  ~subscription() { reset(); }

  /// Unsubscribes now (waiting for a running call, see the class comment). Idempotent.
  inline void reset() noexcept;
  /// True while something is registered.
  explicit operator bool() const noexcept { return core_ != nullptr; }

 private:
  friend class runtime;
  subscription(std::shared_ptr<detail::runtime_core> core, std::uint64_t id) noexcept
      : core_(std::move(core)), id_(id) {}
  std::shared_ptr<detail::runtime_core> core_{};
  std::uint64_t id_ = 0;
};

/// The program's connection to the hmr supervisor.
///
/// @code
///   auto& hmr = hmr::runtime::instance();
///   auto restarted = hmr.on_restart([](std::string_view why) { log("restarted: ", why); });
///   auto reloaded = hmr.on_reload([](const hmr::reload_info& r) { log(r.modules.size()); });
///   auto assets = hmr.on_file_modified([](const std::vector<std::string>& p) { reload(p); });
///   start_serving();
///   hmr.ready();  // the supervisor reports restart and reload times up to here
/// @endcode
///
/// Under `hmr` (`HMR=1` and a working `HMR_CONTROL_FD`), one background thread reads the
/// channel: it performs reload requests (on the registered reloadables) and calls the
/// `on_reload` and `on_file_modified` callbacks. Callbacks run on that thread, one at a
/// time; an exception escaping one is reported on stderr and otherwise ignored. Alone, no
/// thread is started and every call does nothing. Thread-safe.
class runtime {
 public:
  /// The process-wide runtime, created on first use (it then sends `hello`). It removes
  /// `HMR_CONTROL_FD` from the environment so that programs the app starts do not take
  /// the channel for theirs. At exit its channel is closed and its thread stopped and
  /// joined (a reload in progress may hold the exit up to the request's timeout); the
  /// object itself is never destroyed, so other threads may still call it (`ready()`
  /// then does nothing).
  static runtime& instance() {
    static runtime& process_runtime = *new runtime{[] {
      runtime_environment env = runtime_environment::from_process();
      if (env.hmr && !env.control_fd_text.empty()) ::unsetenv("HMR_CONTROL_FD");
      return env;
    }()};
    static const struct exit_guard {
      runtime& rt;
      ~exit_guard() { rt.close_channel(); }
    } at_exit{process_runtime};
    return process_runtime;
  }

  /// A runtime for `env` (tests and embedders; programs use `instance()`). With `env.hmr`
  /// and a `control_fd` that is an open stream socket, it takes ownership of the fd (made
  /// close-on-exec), starts the channel thread and sends `hello`; with a control fd that
  /// is not a socket it writes one line to stderr and runs unsupervised.
  inline explicit runtime(runtime_environment env);
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;
  /// Closes the channel (`close_channel`). Must not run on the channel thread (i.e. from
  /// a callback) except through `exit()`, nor while other threads use this object.
  inline ~runtime();

  /// True while the control channel works: `HMR=1`, a valid `HMR_CONTROL_FD`, and the
  /// supervisor has not closed its end.
  [[nodiscard]] inline bool supervised() const noexcept;
  /// `HMR_GENERATION` (1 for the first start, 2 for the first restart, ...); 0 without
  /// `HMR=1`. Also set under a supervisor that runs no control channel.
  [[nodiscard]] std::uint64_t generation() const noexcept { return env_.generation; }
  /// `HMR_REASON`: "initial", "change", "manual" or "crash"; "" without `HMR=1`.
  [[nodiscard]] std::string_view reason() const noexcept { return env_.reason; }
  /// `HMR_CHANGED`: the paths whose change caused this start; empty without `HMR=1`.
  [[nodiscard]] const std::vector<std::string>& changed() const noexcept { return env_.changed; }

  /// Calls `callback` after each successful reload, on the channel thread.
  [[nodiscard]] inline subscription on_reload(std::function<void(const reload_info&)> callback);
  /// When this start is a restart (`generation() > 1`), calls `callback(reason())` at once
  /// on the calling thread; otherwise never. The returned subscription is always empty.
  [[nodiscard]] inline subscription on_restart(std::function<void(std::string_view)> callback);
  /// Calls `callback` with the paths of each `file_modified` message, on the channel
  /// thread: every path of a change batch after a reload or a cycle with no effect (the
  /// program kept running), the rebuilt sources included; absolute when the supervisor
  /// knows its watch roots (the hmr CLI does), else relative to their watch root.
  [[nodiscard]] inline subscription on_file_modified(
      std::function<void(const std::vector<std::string>&)> callback);
  /// Tells the supervisor the program is serving. Each call sends one `ready` message.
  inline void ready();
  /// For hmr/module.hpp: registers `target` so that reload requests for its `file()`
  /// reach it. `target` must outlive the subscription.
  [[nodiscard]] inline subscription add_reloadable(reloadable& target);

 private:
  /// Stops and joins the channel thread and shuts the channel down (the supervisor sees
  /// EOF); the endpoint object stays alive as long as the core, so that a `ready()` on
  /// another thread racing with this is harmless. Idempotent.
  inline void close_channel() noexcept;
  friend struct detail::runtime_access;

  runtime_environment env_;
  std::shared_ptr<detail::runtime_core> core_{};  // null when not supervised at start
};

namespace detail {

/// The channel thread whose runtime this thread serves (nullptr on other threads).
inline thread_local const void* current_runtime_channel = nullptr;

/// `path` made absolute and canonical as far as it exists (weakly_canonical); lexically
/// normal when that fails.
inline std::string comparable_path(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path out = fs::weakly_canonical(fs::path(path), ec);
  if (ec) {
    out = fs::absolute(fs::path(path), ec).lexically_normal();
    if (ec) return fs::path(path).lexically_normal().string();
  }
  return out.string();
}

/// What a supervised runtime shares with its subscriptions and its channel thread.
class runtime_core {
 public:
  /// One registration.
  struct entry {
    std::function<void(const reload_info&)> on_reload{};
    std::function<void(const std::vector<std::string>&)> on_file_modified{};
    reloadable* target = nullptr;
    bool busy = false;  // being called on the channel thread (under `mutex`)
  };

  std::atomic<bool> supervised{false};
  int owner = 0;                                 // the pid that created the channel
  // Set before any message is handled; never reset (only disconnected) while the core lives.
  std::unique_ptr<control_endpoint> endpoint{};

  /// Registers `e`; returns its id.
  std::uint64_t add(entry e) {
    const std::lock_guard lock(mutex_);
    const std::uint64_t id = next_id_++;
    entries_.emplace(id, std::make_shared<entry>(std::move(e)));
    return id;
  }

  /// Unregisters `id`, waiting for a call in progress unless on the channel thread.
  void remove(std::uint64_t id) noexcept {
    std::shared_ptr<entry> doomed;
    std::unique_lock lock(mutex_);
    const auto it = entries_.find(id);
    if (it == entries_.end()) return;
    doomed = std::move(it->second);
    entries_.erase(it);
    if (current_runtime_channel != this) idle_.wait(lock, [&] { return !doomed->busy; });
    lock.unlock();
    doomed.reset();  // the callback is destroyed outside the lock
  }

  /// The registrations for which `select` is true, in registration order.
  template <class Select>
  std::vector<std::pair<std::uint64_t, std::shared_ptr<entry>>> snapshot(Select select) {
    std::vector<std::pair<std::uint64_t, std::shared_ptr<entry>>> out;
    const std::lock_guard lock(mutex_);
    for (const auto& [id, e] : entries_)
      if (select(*e)) out.emplace_back(id, e);
    return out;
  }

  /// Calls `f(e)` if `id` is still registered (false otherwise), marked busy meanwhile.
  template <class F>
  bool call(std::uint64_t id, entry& e, F&& f) {
    {
      const std::lock_guard lock(mutex_);
      if (entries_.find(id) == entries_.end()) return false;
      e.busy = true;
    }
    struct done_guard {
      runtime_core& core;
      entry& e;
      ~done_guard() {
        const std::lock_guard lock(core.mutex_);
        e.busy = false;
        core.idle_.notify_all();
      }
    } guard{*this, e};
    f(e);
    return true;
  }

  /// Sends `message` if the channel is up (any thread, even racing `close_channel`).
  bool send(const control_message& message) {
    return supervised.load() && endpoint && endpoint->send(message);
  }

  /// Handles one message from the supervisor (on the channel thread).
  void handle(control_message message) {
    current_runtime_channel = this;
    if (auto* reload = std::get_if<control_reload>(&message)) {
      handle_reload(*reload);
    } else if (auto* modified = std::get_if<control_file_modified>(&message)) {
      for (auto& [id, e] : snapshot([](const entry& x) { return bool(x.on_file_modified); }))
        call(id, *e, [&](entry& x) {
          guarded("on_file_modified", [&] { x.on_file_modified(modified->paths); });
        });
    }
    // hello, ready and reload_result are the app's own messages: ignored here.
  }

 private:
  /// Runs `f`, reporting an escaping exception on stderr.
  template <class F>
  static void guarded(const char* what, F&& f) noexcept {
    try {
      f();
    } catch (const std::exception& ex) {
      std::fprintf(stderr, "hmr: an %s callback threw: %s\n", what, ex.what());
    } catch (...) {
      std::fprintf(stderr, "hmr: an %s callback threw an exception\n", what);
    }
  }

  /// Performs a reload request and replies with its result.
  void handle_reload(const control_reload& request) {
    const auto start = std::chrono::steady_clock::now();
    // decode() clamps timeout_ms to [0, 1 h]; clamped again for messages made otherwise.
    const auto deadline = start + std::clamp(request.timeout, std::chrono::milliseconds(0), control_max_timeout);
    control_reload_result result{.id = request.id};
    auto targets = snapshot([](const entry& x) { return x.target != nullptr; });
    std::vector<std::string> files(targets.size());
    for (std::size_t i = 0; i < targets.size(); ++i)
      call(targets[i].first, *targets[i].second, [&](entry& x) {
        guarded("reloadable file()", [&] { files[i] = comparable_path(x.target->file()); });
      });
    // Every module must be loaded before any is swapped.
    std::vector<std::vector<std::size_t>> matches(request.modules.size());
    for (std::size_t m = 0; m < request.modules.size() && result.reason.empty(); ++m) {
      const std::string wanted = comparable_path(request.modules[m]);
      for (std::size_t i = 0; i < targets.size(); ++i)
        if (!files[i].empty() && files[i] == wanted) matches[m].push_back(i);
      if (matches[m].empty())
        result.reason = "the program has no module loaded from " + request.modules[m];
    }
    for (std::size_t m = 0; m < request.modules.size() && result.reason.empty(); ++m) {
      const std::string& module = request.modules[m];
      for (std::size_t i : matches[m]) {
        reload_outcome outcome;
        const bool called = call(targets[i].first, *targets[i].second, [&](entry& x) {
          try {
            outcome = x.target->reload(deadline);
          } catch (const std::exception& ex) {
            outcome = {false, std::string("reload() threw: ") + ex.what()};
          } catch (...) {
            outcome = {false, "reload() threw an exception"};
          }
        });
        if (!called) outcome = {false, "the module was unloaded during the reload"};
        if (!outcome.ok) {
          if (outcome.reason.empty()) outcome.reason = "the reload failed (no reason given)";
          result.reason = outcome.reason.find(module) == std::string::npos
                              ? module + ": " + outcome.reason
                              : outcome.reason;
          break;
        }
      }
      if (result.reason.empty()) result.modules.push_back(module);
    }
    result.ok = result.reason.empty();
    result.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - start);
    send(result);
    if (!result.ok) return;
    const reload_info info{request.modules, request.changed};
    for (auto& [id, e] : snapshot([](const entry& x) { return bool(x.on_reload); }))
      call(id, *e, [&](entry& x) { guarded("on_reload", [&] { x.on_reload(info); }); });
  }

  std::mutex mutex_{};  // guards entries_, next_id_ and each entry's busy flag
  std::condition_variable idle_{};
  std::map<std::uint64_t, std::shared_ptr<entry>> entries_{};
  std::uint64_t next_id_ = 1;
};

/// Parses a decimal number that fills `text` entirely.
template <class T>
bool parse_decimal(std::string_view text, T& out) noexcept {
  if (text.empty()) return false;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), out);
  return r.ec == std::errc{} && r.ptr == text.data() + text.size();
}

}  // namespace detail

inline void subscription::reset() noexcept {
  if (core_) core_->remove(id_);
  core_.reset();
  id_ = 0;
}

inline runtime_environment runtime_environment::from_process() {
  runtime_environment env;
  const char* hmr = std::getenv("HMR");
  env.hmr = hmr != nullptr && std::string_view(hmr) == "1";
  if (!env.hmr) return env;
  if (const char* g = std::getenv("HMR_GENERATION")) detail::parse_decimal(g, env.generation);
  if (const char* r = std::getenv("HMR_REASON")) env.reason = r;
  if (const char* c = std::getenv("HMR_CHANGED")) {
    std::string_view rest = c;
    while (!rest.empty()) {
      const auto nl = rest.find('\n');
      if (nl != 0) env.changed.emplace_back(rest.substr(0, nl));
      if (nl == std::string_view::npos) break;
      rest.remove_prefix(nl + 1);
    }
  }
  if (const char* fd = std::getenv("HMR_CONTROL_FD")) {
    env.control_fd_text = fd;
    if (!detail::parse_decimal(env.control_fd_text, env.control_fd) || env.control_fd < 0)
      env.control_fd = -1;
  }
  return env;
}

inline runtime::runtime(runtime_environment env) : env_(std::move(env)) {
  if (!env_.hmr) {
    env_ = runtime_environment{};
    return;
  }
  if (env_.control_fd_text.empty()) return;  // hmr without a channel (restart strategy)
  if (!detail::is_stream_socket(env_.control_fd)) {
    std::fprintf(stderr,
                 "hmr: HMR_CONTROL_FD=%s is not an open socket; running without the "
                 "supervisor's control channel\n",
                 env_.control_fd_text.c_str());
    return;
  }
  detail::set_close_on_exec(env_.control_fd);
  auto core = std::make_shared<detail::runtime_core>();
  core->owner = detail::current_pid();
  core->supervised.store(true);
  detail::runtime_core* raw = core.get();
  try {
    core->endpoint = std::make_unique<detail::control_endpoint>(
        env_.control_fd, [raw](detail::control_message m) { raw->handle(std::move(m)); },
        [raw] { raw->supervised.store(false); });
  } catch (const std::exception& ex) {  // no thread could be started
    std::fprintf(stderr, "hmr: cannot start the control channel thread: %s\n", ex.what());
    return;
  }
  core_ = std::move(core);
  if (!core_->send(detail::control_hello{detail::control_protocol, detail::current_pid()}))
    core_->supervised.store(false);
}

namespace detail {
/// Test access to the runtime's private parts.
struct runtime_access {
  /// `rt.close_channel()`, as the process-wide runtime's exit guard runs it.
  static void close_channel(runtime& rt) noexcept { rt.close_channel(); }
};
}  // namespace detail

inline runtime::~runtime() { close_channel(); }

inline void runtime::close_channel() noexcept {
  if (core_ && core_->endpoint) {
    core_->supervised.store(false);
    // Joins the channel thread (no message is handled after this) and sends EOF. The
    // endpoint is not destroyed: a thread in ready() may be inside its send().
    core_->endpoint->disconnect();
  }
}

inline bool runtime::supervised() const noexcept { return core_ && core_->supervised.load(); }

inline subscription runtime::on_reload(std::function<void(const reload_info&)> callback) {
  if (!core_ || !callback) return {};
  return {core_, core_->add({.on_reload = std::move(callback)})};
}

inline subscription runtime::on_restart(std::function<void(std::string_view)> callback) {
  if (callback && env_.generation > 1) callback(env_.reason);
  return {};
}

inline subscription runtime::on_file_modified(
    std::function<void(const std::vector<std::string>&)> callback) {
  if (!core_ || !callback) return {};
  return {core_, core_->add({.on_file_modified = std::move(callback)})};
}

inline void runtime::ready() {
  if (core_ && detail::current_pid() == core_->owner) core_->send(detail::control_ready{});
}

inline subscription runtime::add_reloadable(reloadable& target) {
  if (!core_) return {};
  return {core_, core_->add({.target = &target})};
}

}  // namespace hmr
