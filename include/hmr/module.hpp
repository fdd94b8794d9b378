// The host side of a hot-reloadable module: a typed handle to a shared library built with
// HMR_MODULE (hmr/module_api.hpp). Each load copies the file to a fresh name in a private
// directory and dlopens it RTLD_NOW | RTLD_LOCAL; the swap to a new version happens at a
// safe point (sync() in the app's loop, or automatically when no thread is inside the
// library), with the library's persistent slots handed over after a layout check.
// Rules and rationale: docs/modules.md.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <hmr/detail/elf_image.hpp>
#include <hmr/detail/shadow_copy.hpp>
#include <hmr/module_api.hpp>
#include <hmr/runtime.hpp>

namespace hmr {

/// When a new version replaces the running one.
enum class swap_mode {
  sync,       ///< only inside `sync()`, which the app calls where no thread is in the library
  automatic,  ///< as soon as no call is inside the library (each call takes a shared guard)
};

/// How a module handle loads and swaps.
struct module_options {
  /// When a pending new version is swapped in.
  swap_mode mode = swap_mode::sync;
  /// Standalone: watch the file (inotify on its directory) and swap at the next safe point.
  bool watch = false;
  /// How long a load waits for an image still being written before it gives up.
  std::chrono::milliseconds complete_timeout{2000};
  /// automatic mode: how long `reload()` and watch-triggered swaps wait for the calls inside
  /// the library to leave it.
  std::chrono::milliseconds safe_point_timeout{2000};
  /// Called after every swap attempt (from the thread that made it), ok or not.
  std::function<void(const reload_outcome&)> on_reload{};
  /// Receives warnings (an old version that stayed loaded, say); default: a line on stderr.
  std::function<void(std::string_view)> on_warning{};
};

/// What a handle has done so far.
struct module_stats {
  std::uint64_t loads = 0;              ///< versions swapped in (the first load counts)
  std::uint64_t load_attempts = 0;      ///< dlopen() calls
  std::uint64_t refused_unchanged = 0;  ///< requests answered by an earlier failure (file unchanged)
  std::uint64_t incomplete_waits = 0;   ///< loads that found the image still being written
  std::uint64_t stayed_loaded = 0;      ///< old versions still mapped after dlclose()
};

namespace detail {

/// What the host expects of a module's API table.
struct api_expectation {
  std::uint32_t abi_version = 0;  ///< Api::abi_version
  std::uint64_t size = 0;         ///< sizeof(Api)
  std::string_view type_name{};   ///< Api's name
};

/// Now + `wait`, saturated (a huge timeout means no deadline, never an overflow).
inline std::chrono::steady_clock::time_point deadline_after(std::chrono::milliseconds wait) noexcept {
  using clock = std::chrono::steady_clock;
  const auto now = clock::now();
  if (wait <= std::chrono::milliseconds::zero()) return now;
  const auto room = std::chrono::duration_cast<std::chrono::milliseconds>(clock::time_point::max() - now);
  return wait >= room ? clock::time_point::max() : now + wait;
}

/// How long a load may wait for an image still being written: until `deadline`, reported
/// as `budget` milliseconds.
struct load_limit {
  std::chrono::steady_clock::time_point deadline{};  ///< when the wait gives up
  std::chrono::milliseconds budget{};                ///< the wait's length, for the message
};

/// The untyped machinery behind hmr::module<Api>.
class module_core {
 public:
  /// Loads `path` (absolute or relative to the working directory) now; a failure leaves it
  /// empty with `last_error()` set (only the user's `on_reload` may throw from here).
  module_core(std::string path, module_options options, api_expectation expected)
      : options_(std::move(options)), expected_(expected), owner_(::getpid()) {
    std::error_code ec;
    const std::filesystem::path absolute = std::filesystem::absolute(path, ec);
    const std::filesystem::path p = (ec ? std::filesystem::path(path) : absolute).lexically_normal();
    path_ = p.string();
    directory_ = p.parent_path().string();
    name_ = p.filename().string();
    stem_ = p.stem().string();
    try {
      wake_.open();
    } catch (const std::exception& e) {
      warn(std::string("cannot make a wake-up descriptor (") + e.what() + "): a watch is not possible");
    }
    const reload_outcome outcome = swap(deadline_after(options_.safe_point_timeout),
                                        complete_limit());
    try {
      if (options_.on_reload) options_.on_reload(outcome);
    } catch (...) {
      shutdown();  // no destructor runs for a constructor that throws
      throw;
    }
    if (options_.watch) start_watch();
  }
  module_core(const module_core&) = delete;
  module_core& operator=(const module_core&) = delete;
  ~module_core() { shutdown(); }

  /// The first step of destruction: a reload request waiting (or arriving) from now on fails
  /// at once with "the module is being destroyed".
  void close() noexcept {
    {
      std::lock_guard lock(request_mutex_);
      closing_.store(true);
    }
    request_done_.notify_all();
    // Ends an automatic swap's wait for a complete image (a forked child shares the eventfd
    // with its parent: it must not wake the parent's).
    if (wake_.fd() >= 0 && owner_ == ::getpid()) wake_.signal();
  }

  /// The file as named, absolute and lexically normal.
  [[nodiscard]] const std::string& file() const noexcept { return path_; }
  /// The API table of the version in place (nullptr when none loaded).
  [[nodiscard]] const void* api() const noexcept { return api_.load(std::memory_order_acquire); }
  /// automatic mode: enters the library (waits while a swap is closing the gate, unless this
  /// thread is already inside, so calls may nest).
  void enter() const noexcept {
    auto& inside = threads_inside();
    const bool nested = std::find(inside.begin(), inside.end(), this) != inside.end();
    for (;;) {
      if (!nested) gate_closed_.wait(true, std::memory_order_seq_cst);
      calls_inside_.fetch_add(1, std::memory_order_seq_cst);
      if (nested || !gate_closed_.load(std::memory_order_seq_cst)) break;
      leave_count();  // a swap closed the gate meanwhile: let it through first
    }
    inside.push_back(this);
  }
  /// automatic mode: leaves the library.
  void leave() const noexcept {
    auto& inside = threads_inside();
    inside.erase(std::find(inside.rbegin(), inside.rend(), this).base() - 1);
    leave_count();
  }
  /// The options.
  [[nodiscard]] const module_options& options() const noexcept { return options_; }
  /// A new version waits for `sync()`.
  [[nodiscard]] bool pending() const noexcept { return pending_.load(std::memory_order_acquire); }
  /// automatic mode: a swap waits for the calls inside the library to leave.
  [[nodiscard]] bool swapping() const noexcept { return gate_closed_.load(); }

  /// Why the last load or swap failed (empty after a success).
  [[nodiscard]] std::string last_error() const {
    std::lock_guard lock(status_mutex_);
    return last_error_;
  }
  /// The shadow copy the version in place was loaded from.
  [[nodiscard]] std::string loaded_copy() const {
    std::lock_guard lock(status_mutex_);
    return loaded_copy_;
  }
  /// The process's private directory of shadow copies.
  [[nodiscard]] std::string shadow_path() const {
    std::lock_guard lock(status_mutex_);
    return shadow_ ? shadow_->path() : std::string();
  }
  /// Counters.
  [[nodiscard]] module_stats stats() const noexcept {
    return {loads_.load(), attempts_.load(), refused_.load(), waits_.load(), stayed_.load()};
  }

  /// The safe point of sync mode: swaps in a pending version; nullopt when none was pending.
  std::optional<reload_outcome> sync() {
    if (!pending_.load(std::memory_order_acquire)) return std::nullopt;
    pending_.store(false);
    std::uint64_t serving = 0;
    {
      std::lock_guard lock(request_mutex_);
      serving = request_ticket_;
      running_ticket_ = serving;
    }
    reload_outcome outcome =
        swap(deadline_after(options_.safe_point_timeout), complete_limit());
    {
      std::lock_guard lock(request_mutex_);
      done_ticket_ = serving;
      request_result_ = outcome;
    }
    request_done_.notify_all();
    if (options_.on_reload) options_.on_reload(outcome);
    return outcome;
  }

  /// Loads the file again now, from a thread that is not inside the library.
  reload_outcome reload_now() {
    pending_.store(false);
    reload_outcome outcome =
        swap(deadline_after(options_.safe_point_timeout), complete_limit());
    if (options_.on_reload) options_.on_reload(outcome);
    return outcome;
  }

  /// A request from the supervisor (or any thread): swap at the next safe point, by `deadline`.
  /// Fails at once after `close()`; the destructor waits for the calls in progress.
  reload_outcome reload_by(std::chrono::steady_clock::time_point deadline) noexcept {
    const auto start = std::chrono::steady_clock::now();
    try {
      std::unique_lock lock(request_mutex_);
      if (closing_) return {false, "the module is being destroyed"};
      const request_scope scope(*this, lock);
      if (options_.mode == swap_mode::automatic) {
        lock.unlock();
        // A build still being written may take complete_timeout, but not past the request's
        // deadline: the answer is then "not complete", not the supervisor's "no answer".
        load_limit limit = complete_limit();
        if (deadline < limit.deadline) {
          limit = {deadline, std::chrono::round<std::chrono::milliseconds>(deadline - start)};
        }
        reload_outcome outcome = swap(deadline, limit);
        notify(outcome);
        return outcome;
      }
      const std::uint64_t ticket = ++request_ticket_;
      pending_.store(true, std::memory_order_release);
      const auto served = [&] { return done_ticket_ >= ticket || closing_; };
      if (!request_done_.wait_until(lock, deadline, served)) {
        // A sync() that already took this request is finishing: its result is the answer.
        if (running_ticket_ >= ticket) request_done_.wait(lock, served);
      }
      if (closing_ && done_ticket_ < ticket) return {false, "the module is being destroyed"};
      if (done_ticket_ >= ticket) return request_result_;
      const auto waited = std::chrono::round<std::chrono::milliseconds>(deadline - start);
      return {false, "no safe point within " + std::to_string(waited.count()) +
                         " ms: call sync() in the app's loop, or use swap_mode::automatic"};
    } catch (const std::exception& e) {  // no member from here: the handle may be gone
      return {false, std::string("the reload failed: ") + e.what()};
    } catch (...) {
      return {false, "the reload failed: an exception that is not a std::exception"};
    }
  }

 private:
  struct image {
    pid_t loaded_by = 0;  // a forked child leaves its parent's copies alone
    void* handle = nullptr;
    std::string copy{};
    const module_descriptor* descriptor = nullptr;
    const module_descriptor* (*entry)() = nullptr;
  };
  struct saved_slot {
    std::string name;
    std::uint64_t size = 0;
    std::uint64_t align = 0;
    std::string type;
    std::uint32_t version = 0;
    std::uint32_t by_codec = 0;
    std::string bytes;
  };

  // The handles whose library this thread is inside (automatic mode), innermost last.
  static std::vector<const module_core*>& threads_inside() noexcept {
    static thread_local std::vector<const module_core*> inside;
    return inside;
  }
  void leave_count() const noexcept {
    if (calls_inside_.fetch_sub(1, std::memory_order_seq_cst) == 1) calls_inside_.notify_all();
  }

  // automatic mode: closes the gate for new calls and waits for the calls inside to leave.
  struct gate_guard {
    const module_core& core;
    bool closed = false;
    bool close(std::chrono::steady_clock::time_point deadline) {
      core.gate_closed_.store(true, std::memory_order_seq_cst);
      closed = true;
      for (int spins = 0; core.calls_inside_.load(std::memory_order_seq_cst) != 0; ++spins) {
        if (std::chrono::steady_clock::now() >= deadline || core.closing_) {
          open();
          return false;
        }
        if (spins < 1000) {
          std::this_thread::yield();
        } else {
          std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
      }
      return true;
    }
    void open() noexcept {
      if (!closed) return;
      closed = false;
      core.gate_closed_.store(false, std::memory_order_seq_cst);
      core.gate_closed_.notify_all();
    }
    ~gate_guard() { open(); }
  };

  static void append_bytes(void* context, const char* data, std::size_t size) {
    static_cast<std::string*>(context)->append(data, size);
  }

  // Counts a reload_by() in progress (under request_mutex_), so that the destructor waits for it.
  // `lock` holds request_mutex_ at construction and is destroyed after the scope.
  struct request_scope {
    module_core& core;
    std::unique_lock<std::mutex>& lock;
    request_scope(module_core& c, std::unique_lock<std::mutex>& l) noexcept : core(c), lock(l) {
      ++core.requests_inside_;
    }
    ~request_scope() {
      if (!lock.owns_lock()) lock.lock();
      --core.requests_inside_;
      core.request_done_.notify_all();  // under the lock: the destructor may be waiting
    }
    request_scope(const request_scope&) = delete;
    request_scope& operator=(const request_scope&) = delete;
  };

  // The user's on_warning, or a line on stderr; never throws.
  void warn(const std::string& text) const noexcept {
    try {
      if (options_.on_warning) {
        options_.on_warning(text);
        return;
      }
    } catch (...) {
    }
    std::fprintf(stderr, "hmr: %s\n", text.c_str());
  }

  // on_reload on a thread that is not the app's (the watch's, the supervisor's): what it
  // throws becomes a warning.
  void notify(const reload_outcome& outcome) const noexcept {
    try {
      if (options_.on_reload) options_.on_reload(outcome);
    } catch (const std::exception& e) {
      warn("the on_reload callback for " + path_ + " threw: " + e.what());
    } catch (...) {
      warn("the on_reload callback for " + path_ + " threw an exception that is not a std::exception");
    }
  }

  // Runs a module hook; what it threw (empty when it returned).
  static std::string run_hook(void (*hook)()) {
    if (hook == nullptr) return {};
    try {
      hook();
      return {};
    } catch (const std::exception& e) {
      return std::string("threw: ") + e.what();
    } catch (...) {
      return "threw an exception that is not a std::exception";
    }
  }

  // The destructor's work (also for a constructor whose on_reload threw).
  void shutdown() noexcept {
    close();
    if (owner_ != ::getpid()) {  // a forked child: the thread, the copies and the hooks are the parent's
      if (watch_thread_.joinable()) watch_thread_.detach();
      return;
    }
    stop_watch();
    {
      std::unique_lock lock(request_mutex_);
      request_done_.wait(lock, [&] { return requests_inside_ == 0; });
    }
    std::lock_guard lock(load_mutex_);
    if (current_.handle == nullptr) return;
    api_.store(nullptr);
    if (std::string why = run_hook(current_.descriptor->on_unload); !why.empty()) {
      warn("the on_unload hook of " + path_ + " " + why + " (unloaded anyway)");
    }
    retire(current_);
  }

  // Waiting for a complete image: complete_timeout from now.
  [[nodiscard]] load_limit complete_limit() const noexcept {
    return {deadline_after(options_.complete_timeout), options_.complete_timeout};
  }

  // swap_in, with whatever it throws (memory, say) turned into a failed outcome.
  reload_outcome swap(std::chrono::steady_clock::time_point safe_deadline,
                      load_limit load) noexcept {
    try {
      return swap_in(safe_deadline, load);
    } catch (const std::exception& e) {
      return failed("the reload of " + path_ + " failed: " + e.what());
    } catch (...) {
      return failed("the reload of " + path_ + " failed: an exception that is not a std::exception");
    }
  }

  reload_outcome failed(std::string reason) {
    std::lock_guard lock(status_mutex_);
    last_error_ = reason;
    return {false, std::move(reason)};
  }
  reload_outcome remember(const file_identity& id, std::string reason) {
    failed_identity_ = id;
    failed_reason_ = reason;
    return failed(std::move(reason));
  }

  // Makes a shadow copy of a complete image: every ELF part within the file, and the file
  // unchanged across the copy. Waits (inotify) while it is being written. Answers at once,
  // without a copy, when the file is the one that failed last time.
  reload_outcome copy_image(std::string& copy, file_identity& id, bool& unchanged_failure,
                            load_limit limit) {
    std::optional<file_events> events;
    std::string reason;
    for (;;) {
      const auto now = identify_file(path_);
      if (!now) return failed("cannot load " + path_ + ": " + errno_text(errno));
      if (failed_identity_ && *failed_identity_ == *now) {
        unchanged_failure = true;
        return {false, {}};
      }
      snapshot_result snap = shadow_->snapshot(path_, stem_);
      if (!snap.copy.empty()) {
        const mapped_file mapped(snap.copy);
        const elf_image_status status = check_elf_image(mapped.bytes());
        if (status.complete) {
          copy = std::move(snap.copy);
          id = snap.source;
          return {true, {}};
        }
        ::unlink(snap.copy.c_str());
        reason = status.reason;
      } else {
        reason = snap.error;
      }
      if (!events) {  // arm the watch, then look again so that no completion is missed
        events.emplace(directory_, name_);
        waits_.fetch_add(1);
        continue;
      }
      if (!events->wait(limit.deadline, wake_.fd())) {
        if (closing_) return failed("the module is being destroyed");
        return failed("the image " + path_ + " is not complete after " +
                      std::to_string(limit.budget.count()) + " ms: " + reason);
      }
    }
  }

  // Checks the new version's slots against the saved ones; an empty string when they fit.
  static std::string check_slots(const std::vector<saved_slot>& saved, const slot_record* slots) {
    std::vector<std::string_view> names;
    for (const slot_record* s = slots; s != nullptr; s = s->next) {
      const std::string_view name = s->name;
      if (std::find(names.begin(), names.end(), name) != names.end()) {
        return "two slots are named '" + std::string(name) + "'";
      }
      names.push_back(name);
      const auto old = std::find_if(saved.begin(), saved.end(),
                                    [&](const saved_slot& o) { return o.name == name; });
      if (old == saved.end()) continue;
      std::string diff;
      auto add = [&](const std::string& what) { diff += (diff.empty() ? "" : ", ") + what; };
      const std::string_view type(s->type_name, s->type_name_size);
      if (old->size != s->size) add("size " + std::to_string(old->size) + " -> " + std::to_string(s->size));
      if (old->align != s->align) add("alignment " + std::to_string(old->align) + " -> " + std::to_string(s->align));
      if (old->type != type) add("type '" + old->type + "' -> '" + std::string(type) + "'");
      if (old->version != s->version) add("version " + std::to_string(old->version) + " -> " + std::to_string(s->version));
      if (old->by_codec != s->by_codec) add(old->by_codec != 0 ? "slot_codec -> bytes" : "bytes -> slot_codec");
      if (!diff.empty()) return "slot '" + std::string(name) + "' changed layout: " + diff;
    }
    return {};
  }

  // Describes why a descriptor does not fit the host; empty when it does.
  std::string check_descriptor(const module_descriptor* d) const {
    if (d == nullptr || d->magic != module_magic) {
      return path_ + ": hmr_module_entry returned no hmr module descriptor (bad magic)";
    }
    if (d->descriptor_version != module_descriptor_version) {
      return path_ + " was built with another hmr (module descriptor version " +
             std::to_string(d->descriptor_version) + ", this host reads version " +
             std::to_string(module_descriptor_version) + ")";
    }
    const std::string_view type(d->api_type_name, d->api_type_name_size);
    const std::string host_type(expected_.type_name);
    if (d->abi_version != expected_.abi_version) {
      return path_ + " implements " + std::string(type) + " ABI version " +
             std::to_string(d->abi_version) + ", the host expects " + host_type +
             " ABI version " + std::to_string(expected_.abi_version);
    }
    if (type != expected_.type_name) {
      return path_ + " implements '" + std::string(type) + "', the host expects '" + host_type + "'";
    }
    if (d->api_size != expected_.size) {
      return path_ + ": " + host_type + " is " + std::to_string(d->api_size) +
             " bytes in the module and " + std::to_string(expected_.size) +
             " in the host with the same ABI version " + std::to_string(expected_.abi_version) +
             " (bump abi_version when the table changes)";
    }
    return {};
  }

  void discard(image& img) {
    dl_close(img.handle);
    if (img.loaded_by == ::getpid()) ::unlink(img.copy.c_str());
    img = {};
  }

  // dlclose, the RTLD_NOLOAD probe, and the copy's removal.
  void retire(image& old) {
    dl_close(old.handle);
    if (dl_still_loaded(old.copy)) {
      stayed_.fetch_add(1);
      std::string symbols;
      {
        const mapped_file mapped(old.copy);
        const auto unique = gnu_unique_symbols(mapped.bytes());
        for (std::size_t i = 0; i < unique.size() && i < 3; ++i) symbols += (i ? ", " : "") + unique[i];
        if (unique.size() > 3) symbols += ", ...";
      }
      warn("the previous version of " + path_ + " is still loaded after dlclose (" + old.copy +
           "). Likely cause: STB_GNU_UNIQUE symbols" +
           (symbols.empty() ? std::string() : " (" + symbols + ")") +
           ", which g++ makes of template static members and static variables of inline "
           "functions, or thread_local objects with destructors. Fix: build the module with "
           "-fno-gnu-unique (hmr_add_module does) and avoid thread_local objects with "
           "destructors in it; until then every reload leaks one image.");
    }
    if (old.loaded_by == ::getpid()) ::unlink(old.copy.c_str());  // not a forked parent's copy
    old = {};
  }

  // The whole swap: read, copy, dlopen, check, save/check/restore slots, hooks, publish,
  // retire the old version. Never leaves the old version half-replaced.
  reload_outcome swap_in(std::chrono::steady_clock::time_point safe_deadline,
                         load_limit load) {
    const auto start = std::chrono::steady_clock::now();
    std::lock_guard load_lock(load_mutex_);
    if (!shadow_ || shadow_->owner() != ::getpid()) {  // none yet, or a forked parent's
      std::string error;
      auto made = shadow_directory::acquire(error);
      if (!made) return failed("cannot load " + path_ + ": " + error);
      std::lock_guard lock(status_mutex_);
      shadow_ = std::move(made);
    }
    file_identity id;
    image next;
    next.loaded_by = ::getpid();
    bool unchanged_failure = false;
    if (reload_outcome r = copy_image(next.copy, id, unchanged_failure, load); !r.ok) {
      if (!unchanged_failure) return r;
      refused_.fetch_add(1);
      return failed(failed_reason_ + " (the file has not changed since; not retried until it does)");
    }
    std::string error;
    attempts_.fetch_add(1);
    next.handle = dl_open(next.copy, error);
    if (next.handle == nullptr) {
      ::unlink(next.copy.c_str());
      return remember(id, "cannot load " + path_ + ": " + error);
    }
    next.entry = reinterpret_cast<const module_descriptor* (*)()>(dl_symbol(next.handle, "hmr_module_entry"));
    if (next.entry == nullptr) {
      discard(next);
      return remember(id, path_ + " exports no hmr_module_entry (build it with HMR_MODULE)");
    }
    next.descriptor = next.entry();
    if (std::string why = check_descriptor(next.descriptor); !why.empty()) {
      discard(next);
      return remember(id, std::move(why));
    }

    // The safe point: no call inside the library from here on.
    gate_guard gate{*this};
    if (options_.mode == swap_mode::automatic && !gate.close(safe_deadline)) {
      discard(next);
      if (closing_) return failed("the module is being destroyed");
      const auto waited = std::chrono::round<std::chrono::milliseconds>(safe_deadline - start);
      return failed("no safe point within " + std::to_string(waited.count()) +
                    " ms: a call stayed inside the library (swap_mode::automatic waits for "
                    "every call to return)");
    }
    std::vector<saved_slot> saved;
    if (current_.handle != nullptr) {
      for (const slot_record* s = current_.entry()->slots; s != nullptr; s = s->next) {
        saved_slot slot{s->name, s->size, s->align, std::string(s->type_name, s->type_name_size),
                        s->version, s->by_codec, {}};
        if (s->save(s->object, &slot.bytes, &append_bytes) != 1) {
          discard(next);
          return remember(id, "slot '" + slot.name + "': the running version's save hook failed");
        }
        saved.push_back(std::move(slot));
      }
    }
    const slot_record* fresh = next.entry()->slots;
    if (std::string why = check_slots(saved, fresh); !why.empty()) {
      discard(next);
      return remember(id, std::move(why));
    }
    for (const slot_record* s = fresh; s != nullptr; s = s->next) {
      const auto old = std::find_if(saved.begin(), saved.end(),
                                    [&](const saved_slot& o) { return o.name == std::string_view(s->name); });
      if (old != saved.end() && s->restore(s->object, old->bytes.data(), old->bytes.size()) != 1) {
        discard(next);
        return remember(id, "slot '" + old->name + "': the new version's restore hook refused the saved state");
      }
    }
    image old = std::exchange(current_, next);
    if (old.handle != nullptr) {
      if (std::string why = run_hook(old.descriptor->on_unload); !why.empty()) {
        warn("the on_unload hook of the previous version of " + path_ + " " + why + " (the swap went on)");
      }
    }
    if (std::string why = run_hook(current_.descriptor->on_load); !why.empty()) {
      // Undone: the old version's slots were only read, so it comes back as it was; its
      // on_unload has run, so its on_load runs again.
      image refused = std::exchange(current_, old);
      if (current_.handle != nullptr) {
        if (std::string again = run_hook(current_.descriptor->on_load); !again.empty()) {
          warn("the on_load hook of the previous version of " + path_ + " " + again +
               " when it came back (it stays in place)");
        }
      }
      discard(refused);
      return remember(id, "the on_load hook of the new version of " + path_ + " " + why +
                              (current_.handle != nullptr ? " (the previous version stays)" : ""));
    }
    api_.store(current_.descriptor->api, std::memory_order_release);
    gate.open();

    if (old.handle != nullptr) retire(old);
    failed_identity_.reset();
    loads_.fetch_add(1);
    std::lock_guard lock(status_mutex_);
    last_error_.clear();
    loaded_copy_ = current_.copy;
    return {true, {}};
  }

  void start_watch() {
    auto events = std::make_unique<file_events>(directory_, name_);
    if (events->fd() < 0 || wake_.fd() < 0) {
      warn("cannot watch " + directory_ + " (inotify unavailable): reload() it by hand");
      return;
    }
    watch_thread_ = std::thread([this, events = std::move(events)] {
      for (;;) {
        pollfd fds[2] = {{events->fd(), POLLIN, 0}, {wake_.fd(), POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
        if (fds[1].revents & POLLIN) return;
        if (!(fds[0].revents & POLLIN) || !events->drain()) continue;
        if (options_.mode == swap_mode::sync) {
          pending_.store(true, std::memory_order_release);
        } else {
          notify(swap(deadline_after(options_.safe_point_timeout), complete_limit()));
        }
      }
    });
  }
  void stop_watch() {
    if (!watch_thread_.joinable()) return;
    wake_.signal();
    watch_thread_.join();
  }

  std::string path_, directory_, name_, stem_;
  module_options options_;
  api_expectation expected_;
  pid_t owner_;                                // the process that made the handle
  std::shared_ptr<shadow_directory> shadow_{};  // set under load_mutex_ and status_mutex_

  std::mutex load_mutex_;                  // one swap at a time; guards current_ and the failure
  image current_{};
  std::optional<file_identity> failed_identity_{};
  std::string failed_reason_{};
  std::atomic<const void*> api_{nullptr};  // what calls use
  mutable std::atomic<bool> gate_closed_{false};       // automatic mode: a swap waits
  mutable std::atomic<std::uint64_t> calls_inside_{0};  // automatic mode: calls in the library

  mutable std::mutex status_mutex_;        // last_error_, loaded_copy_
  std::string last_error_{};
  std::string loaded_copy_{};

  std::atomic<bool> pending_{false};       // sync mode: a version waits for sync()
  std::mutex request_mutex_;               // reload_by() waiting for sync()
  std::condition_variable request_done_;
  std::uint64_t request_ticket_ = 0, running_ticket_ = 0, done_ticket_ = 0;
  reload_outcome request_result_{};
  std::uint64_t requests_inside_ = 0;      // reload_by() calls in progress
  std::atomic<bool> closing_{false};       // set under request_mutex_ by close()

  std::atomic<std::uint64_t> loads_{0}, attempts_{0}, refused_{0}, waits_{0}, stayed_{0};
  wake_signal wake_;
  std::thread watch_thread_;
};

}  // namespace detail

/// A call into the module: `handle->fn(args)` holds it for the duration of the call (in
/// automatic mode it keeps the swap out). Do not store it.
template <class Api>
class module_call {
 public:
  /// The API table of the version in place.
  const Api* operator->() const noexcept { return api_; }
  /// Leaves the library (automatic mode).
  ~module_call() {
    if (core_ != nullptr) core_->leave();
  }
  module_call(const module_call&) = delete;
  module_call& operator=(const module_call&) = delete;

 private:
  template <class>
  friend class module;
  module_call(const Api* api, const detail::module_core* core) noexcept : api_(api), core_(core) {}
  const Api* api_;
  const detail::module_core* core_;  // set when entered (automatic mode)
};

/// A hot-reloadable shared library built with HMR_MODULE(Api, ...), called through `->`.
///
/// @code
///   hmr::module<greeter_api> greeter{"build/libgreeter.so", {.watch = true}};
///   for (;;) {
///     greeter.sync();               // the safe point: a new version comes in here
///     greeter->greet(buffer, size); // always the version in place
///   }
/// @endcode
/// Never keep a pointer into the library (a function, a string it returned) across `sync()`.
/// Under hmr's supervisor the handle registers itself, so reload requests reach it.
template <class Api>
class module final : public reloadable {
 public:
  /// Loads `path` now (check `loaded()`); a failure leaves the handle empty (never throws for
  /// it), and a watching handle loads the file when it changes.
  explicit module(std::string path, module_options options = {})
      : core_(std::move(path), std::move(options),
              {detail::abi_version_of<Api>(), sizeof(Api), detail::type_name<Api>()}) {
    registration_ = runtime::instance().add_reloadable(*this);
  }
  /// Fails pending reload requests, unregisters, stops the watch, calls the module's
  /// on_unload hook and unloads it. In a forked child it only forgets (the parent's copies,
  /// directory and hooks stay untouched).
  ~module() override {
    core_.close();
    registration_.reset();
  }
  module(const module&) = delete;
  module& operator=(const module&) = delete;

  /// Calls into the version in place; throws std::logic_error when none is loaded.
  module_call<Api> operator->() const {
    const bool guarded = core_.options().mode == swap_mode::automatic;
    if (guarded) core_.enter();
    const auto* api = static_cast<const Api*>(core_.api());
    if (api == nullptr) {
      if (guarded) core_.leave();
      throw std::logic_error("hmr::module: no version of " + core_.file() +
                             " is loaded: " + core_.last_error());
    }
    return module_call<Api>(api, guarded ? &core_ : nullptr);
  }
  /// True when a version is loaded.
  [[nodiscard]] bool loaded() const noexcept { return core_.api() != nullptr; }
  /// Same as `loaded()`.
  explicit operator bool() const noexcept { return loaded(); }

  /// The safe point: swaps in a pending version (from the watch or a reload request);
  /// nullopt when nothing was pending. Call it where no thread is inside the library.
  std::optional<reload_outcome> sync() { return core_.sync(); }
  /// Loads the file again now; call it where no thread is inside the library (in automatic
  /// mode it waits up to `safe_point_timeout` for calls to leave).
  reload_outcome reload() { return core_.reload_now(); }
  /// A reload request (the supervisor's): swaps at the next safe point, waiting until
  /// `deadline`; never throws.
  reload_outcome reload(std::chrono::steady_clock::time_point deadline) noexcept override {
    return core_.reload_by(deadline);
  }
  /// The file as named, absolute and lexically normal.
  [[nodiscard]] std::string file() const override { return core_.file(); }
  /// A new version waits for `sync()`.
  [[nodiscard]] bool pending() const noexcept { return core_.pending(); }
  /// automatic mode: a swap waits for the calls inside the library to leave (new calls wait,
  /// nested calls of a thread already inside pass).
  [[nodiscard]] bool swapping() const noexcept { return core_.swapping(); }
  /// Why the last load failed (empty after a success).
  [[nodiscard]] std::string last_error() const { return core_.last_error(); }
  /// Counters: loads, dlopen attempts, refusals of an unchanged file, waits, leaks.
  [[nodiscard]] module_stats stats() const noexcept { return core_.stats(); }
  /// The shadow copy the version in place was loaded from.
  [[nodiscard]] std::string loaded_copy() const { return core_.loaded_copy(); }
  /// The process's private directory of shadow copies.
  [[nodiscard]] std::string shadow_directory() const { return core_.shadow_path(); }

 private:
  mutable detail::module_core core_;
  subscription registration_{};
};

}  // namespace hmr
