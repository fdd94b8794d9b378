// The debouncer: turns a burst of file changes into one batch, coalesced per path.
// A pure state machine: no threads, no clock reads; the caller passes the time in.
// Design note and the full coalescing table: docs/debouncer.md.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <hmr/events.hpp>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace hmr {

/// When the debouncer releases a batch. Both bounds are inclusive: a batch is due once
/// `now - last_change >= window` or `now - first_change >= cap`.
struct debouncer_options {
  /// Quiet time after the last change before the batch is released. Must be > 0.
  std::chrono::steady_clock::duration window = std::chrono::milliseconds{50};
  /// Longest a steady stream can hold a batch back, counted from its first change.
  /// Must be >= window.
  std::chrono::steady_clock::duration cap = std::chrono::seconds{1};
};

namespace detail {

/// A path as the debouncer keys it: watch root plus the root-relative path.
struct debounce_key {
  std::uint32_t root = 0;  ///< file_change::root
  std::string_view path;   ///< views a debounce_slot's string, which never moves

  friend bool operator==(const debounce_key&, const debounce_key&) = default;
};

/// Hashes a debounce_key (the path's hash mixed with the root).
struct debounce_key_hash {
  /// The hash of `k`.
  std::size_t operator()(const debounce_key& k) const noexcept {
    return std::hash<std::string_view>{}(k.path) ^
           static_cast<std::size_t>(std::uint64_t{k.root} * 0x9e3779b97f4a7c15ULL);
  }
};

/// "No slot": the path holds something created during the batch, or nothing.
inline constexpr std::uint32_t no_slot = 0xffffffffU;

/// What the debouncer knows about one path during a batch.
///
/// An "entry" is a file or directory as a whole, which keeps its identity through
/// renames. `origin` and `original_at` link a path's entry from before the batch with
/// wherever it is now, which is what lets a rename chain collapse into one rename.
struct debounce_slot {
  std::string path;                     ///< the path (its map key views this string)
  std::uint32_t root = 0;               ///< its watch root
  std::uint32_t origin = no_slot;       ///< whose pre-batch entry is here now; no_slot: new
  std::uint32_t original_at = no_slot;  ///< where this path's pre-batch entry is now
  bool existed_before = false;          ///< inferred from the first event on the path
  bool was_directory = false;           ///< the pre-batch entry is a directory
  bool present = false;                 ///< something is at the path now
  bool is_directory = false;            ///< what is here now is a directory
};

}  // namespace detail

/// Turns bursts of file changes into batches: one entry per path with the net effect.
///
/// Feed every change with the current time, sleep until `deadline()`, then `poll()`.
/// A batch is released once no change arrived for `window`, or once `cap` has passed
/// since its first change (so a steady stream cannot postpone it forever). Per path,
/// the batch reports what differs between before and after the burst: a file created
/// then removed vanishes, removed then re-created (an editor's save) is one `modified`,
/// a chain of renames is one rename. Nothing is remembered from one batch to the next.
///
/// @par Example
/// @code
///   hmr::debouncer d{{.window = 50ms, .cap = 1s}};
///   d.push({.path = "a.cpp", .kind = hmr::change_kind::created}, now);
///   d.push({.path = "a.cpp", .kind = hmr::change_kind::modified}, now + 10ms);
///   auto when = *d.deadline();                    // now + 60ms
///   if (auto batch = d.poll(when)) handle(*batch);  // one change: created a.cpp
/// @endcode
class debouncer {
 public:
  /// The clock the time points come from. The debouncer never reads it.
  using clock = std::chrono::steady_clock;
  /// A point in time, as passed to push() and poll().
  using time_point = clock::time_point;

  /// A debouncer with the default window (50 ms) and cap (1 s).
  debouncer() : debouncer(debouncer_options{}) {}

  /// A debouncer with the given options. Throws std::invalid_argument unless
  /// `window > 0` and `cap >= window`.
  explicit debouncer(debouncer_options options) : options_(options) {
    using std::chrono::nanoseconds;
    const auto ns = [](clock::duration d) {
      return std::to_string(std::chrono::duration_cast<nanoseconds>(d).count()) + " ns";
    };
    if (options_.window <= clock::duration::zero())
      throw std::invalid_argument("hmr::debouncer: window must be > 0, got " + ns(options_.window));
    if (options_.cap < options_.window)
      throw std::invalid_argument("hmr::debouncer: cap (" + ns(options_.cap) +
                                  ") must be >= window (" + ns(options_.window) + ")");
  }

  /// A debouncer with this window (`hmr::debouncer{50ms}`) and a cap of 1 s, or of the
  /// window itself when that is longer.
  explicit debouncer(clock::duration window)
      : debouncer(debouncer_options{.window = window,
                                    .cap = std::max(window, debouncer_options{}.cap)}) {}

  /// The options in use.
  [[nodiscard]] const debouncer_options& options() const noexcept { return options_; }

  /// Adds one change that happened at `now`. A change pushed after the batch became due
  /// but before the next poll() joins that batch, which stays due at its old deadline.
  void push(const file_change& change, time_point now) {
    note_time(now);
    apply(change);
  }

  /// Adds one change that happened at `now`, taking over its strings.
  void push(file_change&& change, time_point now) {
    note_time(now);
    apply(std::move(change));
  }

  /// Adds several changes that happened at `now`, in order (a change_batch, a vector...).
  template <std::ranges::input_range R>
  requires std::convertible_to < std::ranges::range_reference_t<R>,
  const file_change& > void push(R&& changes, time_point now) {
    for (auto&& change : changes) push(static_cast<const file_change&>(change), now);
  }

  /// When poll() should next be called: the time the batch becomes due, or empty when
  /// nothing is pending. An event loop sleeps exactly until then.
  [[nodiscard]] std::optional<time_point> deadline() const noexcept {
    if (!open_) return std::nullopt;
    if (due_) return due_;
    return due_at();
  }

  /// Releases the batch if it is due at `now`. Returns nothing when no batch is due, and
  /// also when the due batch coalesced to nothing (it is dropped; pending() turns false).
  [[nodiscard]] std::optional<change_batch> poll(time_point now) {
    if (!open_ || now < *deadline()) return std::nullopt;
    change_batch batch = release();
    if (batch.empty()) return std::nullopt;
    return batch;
  }

  /// Releases whatever is pending, due or not (at shutdown, say). Empty when nothing is.
  [[nodiscard]] change_batch flush() { return open_ ? release() : change_batch{}; }

  /// True from the first change of a batch until it is released or dropped, even if the
  /// changes so far cancel out (the caller still has to poll at deadline()).
  [[nodiscard]] bool pending() const noexcept { return open_; }

  /// How many changes the pending batch holds after coalescing: the size poll() or
  /// flush() would release now.
  [[nodiscard]] std::size_t pending_count() const noexcept { return count_; }

 private:
  using slot = detail::debounce_slot;
  static constexpr std::uint32_t none = detail::no_slot;

  // t + d for a positive d, saturating instead of overflowing (a cap of "forever").
  static time_point later(time_point t, clock::duration d) noexcept {
    return t.time_since_epoch() > clock::duration::max() - d ? time_point::max() : t + d;
  }

  // When the open batch is due by the rule: the earlier of window and cap.
  [[nodiscard]] time_point due_at() const noexcept {
    return std::min(later(last_, options_.window), later(first_, options_.cap));
  }

  // Starts a batch, or extends it; makes the deadline sticky once it has passed.
  void note_time(time_point now) {
    if (!open_) {
      open_ = true;
      first_ = last_ = now;
      return;
    }
    if (!due_ && now >= due_at()) due_ = due_at();
    last_ = std::max(last_, now);
  }

  // The slot for (root, path), created on first sight. A new slot's prior existence is
  // what the event implies: `existed` for modified, removed and a rename's source.
  template <class S>
  std::uint32_t touch(std::uint32_t root, S&& path, bool existed, bool is_directory) {
    if (auto it = index_.find(detail::debounce_key{root, path}); it != index_.end())
      return it->second;
    const auto id = static_cast<std::uint32_t>(slots_.size());
    slot& s = slots_.emplace_back();
    s.path = std::string(std::forward<S>(path));
    s.root = root;
    s.existed_before = s.present = existed;
    s.was_directory = s.is_directory = is_directory;
    s.origin = s.original_at = existed ? id : none;
    index_.emplace(detail::debounce_key{root, s.path}, id);
    count_ += contribution(id);
    return id;
  }

  // How many entries slot i adds to the released batch (see release()).
  [[nodiscard]] std::size_t contribution(std::uint32_t i) const noexcept {
    const slot& s = slots_[i];
    if (s.present) return 1;  // created, modified, or the target of a reported rename
    if (!s.existed_before) return 0;
    // Gone: removed, unless its entry moved to a new path (reported as that rename).
    return s.original_at != none && !slots_[s.original_at].existed_before ? 0 : 1;
  }

  // Puts a new occupant at slot p (nothing, or an entry from `origin`), unlinking the
  // entry that was there.
  void occupy(std::uint32_t p, bool present, std::uint32_t origin, bool is_directory) {
    slot& s = slots_[p];
    if (s.origin != none && slots_[s.origin].original_at == p) slots_[s.origin].original_at = none;
    s.present = present;
    s.origin = origin;
    s.is_directory = is_directory;
    if (origin != none) slots_[origin].original_at = p;
  }

  // Applies one change, keeping count_ equal to the size of the batch release() builds.
  template <class C>
  void apply(C&& c) {
    const bool dir = c.is_directory;
    std::uint32_t from = none, to = none;
    switch (c.kind) {
      case change_kind::created:
        to = touch(c.root, std::forward<C>(c).path, false, dir);
        break;
      case change_kind::modified:
      case change_kind::removed:
        to = touch(c.root, std::forward<C>(c).path, true, dir);
        break;
      case change_kind::renamed:  // (a rename onto itself ends up as a modification)
        if (!c.old_path.empty()) from = touch(c.root, std::forward<C>(c).old_path, true, dir);
        to = touch(c.root, std::forward<C>(c).path, false, dir);
        break;
    }
    // Slots whose contribution this change can alter: the paths and their entries' origins.
    std::array<std::uint32_t, 4> affected{from, to, none, none};
    if (from != none) affected[2] = slots_[from].origin;
    affected[3] = slots_[to].origin;
    std::size_t n = 0;
    for (std::uint32_t a : affected)
      if (a != none && std::find(affected.begin(), affected.begin() + n, a) == affected.begin() + n)
        affected[n++] = a;
    for (std::size_t i = 0; i < n; ++i) count_ -= contribution(affected[i]);

    slot& t = slots_[to];
    if (c.kind == change_kind::removed) {
      if (t.present) occupy(to, false, none, dir);
    } else if (from != none && slots_[from].present) {  // a move: the entry keeps its identity
      const std::uint32_t moved = slots_[from].origin;
      slots_[from].present = false;
      slots_[from].origin = none;
      occupy(to, true, moved, dir);
    } else if (t.present && c.kind == change_kind::modified) {  // the same entry, changed
      t.is_directory = dir;
    } else {  // a new entry (also for a rename from a path already gone, a lost event)
      occupy(to, true, none, dir);
    }

    for (std::size_t i = 0; i < n; ++i) count_ += contribution(affected[i]);
  }

  // Builds the batch from the slots (in first-change order) and starts afresh.
  //   existed before, present now     -> modified
  //   new path, holds an entry moved from a path now gone -> renamed (at the earlier
  //                                       of the two paths' positions)
  //   new path, present now           -> created
  //   existed before, gone now        -> removed, unless reported as a rename's source
  //   new path, gone now              -> nothing
  change_batch release() {
    change_batch batch;
    batch.changes.reserve(count_);
    index_.clear();  // its keys view the strings moved out below
    if (index_.bucket_count() > 1024) index_ = index_map{};  // keep small batches O(1)
    const auto n = static_cast<std::uint32_t>(slots_.size());
    const auto emit = [&](slot& s, change_kind kind, bool dir, std::string old = {}) {
      batch.changes.push_back({.path = std::move(s.path),
                               .kind = kind,
                               .old_path = std::move(old),
                               .root = s.root,
                               .is_directory = dir});
    };
    for (std::uint32_t i = 0; i < n; ++i) {
      slot& s = slots_[i];
      if (s.present && s.existed_before) {
        emit(s, change_kind::modified, s.is_directory);
      } else if (s.present) {
        if (s.origin != none && !slots_[s.origin].present) {
          if (s.origin > i)
            emit(s, change_kind::renamed, s.is_directory, std::move(slots_[s.origin].path));
        } else {
          emit(s, change_kind::created, s.is_directory);
        }
      } else if (s.existed_before) {
        const std::uint32_t r = s.original_at;
        if (r != none && !slots_[r].existed_before) {
          if (r > i)
            emit(slots_[r], change_kind::renamed, slots_[r].is_directory, std::move(s.path));
        } else {
          emit(s, change_kind::removed, s.was_directory);
        }
      }
    }
    slots_.clear();
    open_ = false;
    due_.reset();
    count_ = 0;
    return batch;
  }

  using index_map =
      std::unordered_map<detail::debounce_key, std::uint32_t, detail::debounce_key_hash>;

  debouncer_options options_;
  std::deque<slot> slots_;         // in first-change order; a deque so strings never move
  index_map index_;                // (root, path) -> slot
  std::size_t count_ = 0;          // the size the batch would have now
  bool open_ = false;              // a batch is pending
  time_point first_{}, last_{};    // its first and latest change
  std::optional<time_point> due_;  // set once a push arrived after the deadline
};

}  // namespace hmr
