// The presenter seam: what turns lifecycle events into output, and the helpers that send
// one event to several presenters. Design notes: docs/presenters.md.
#pragma once

#include <concepts>
#include <cstddef>
#include <hmr/events.hpp>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace hmr {

/// Anything that can be shown an event. Presenters are called from one thread (the
/// orchestrator's), one event at a time and in order, so they need no locking.
///
/// @code
///   struct counter {
///     int restarts = 0;
///     void present(const hmr::event& e) {
///       if (std::holds_alternative<hmr::events::process_started>(e)) ++restarts;
///     }
///   };
///   static_assert(hmr::presenter<counter>);
/// @endcode
template <class P>
concept presenter = requires(P& p, const event& e) {
  p.present(e);
};

/// A fixed set of presenters that is itself a presenter: each event goes to every member,
/// in the order given. Members are held by value; name reference types to share them.
///
/// @code
///   hmr::presenters all{hmr::ansi_presenter{std::cerr}, hmr::json_presenter{log_file}};
///   all.present(event);  // the ANSI one first, then the JSON one
///   hmr::presenters<hmr::ansi_presenter&, my_presenter&> shared{ansi, mine};
/// @endcode
template <presenter... P>
class presenters {
 public:
  /// The members, in the order they will be called.
  explicit presenters(P... members) : members_(std::forward<P>(members)...) {}

  /// Shows `e` to every member, first to last.
  void present(const event& e) {
    std::apply([&e](auto&... member) { (member.present(e), ...); }, members_);
  }

  /// Member `I` (0-based), e.g. to read a custom presenter's state.
  template <std::size_t I>
  [[nodiscard]] auto& get() noexcept {
    return std::get<I>(members_);
  }

  /// The number of members.
  static constexpr std::size_t size() noexcept { return sizeof...(P); }

 private:
  std::tuple<P...> members_;
};

/// Deduces value members: `hmr::presenters{a, b}` copies (or moves) `a` and `b`.
template <class... P>
presenters(P...) -> presenters<P...>;

/// A presenter made from a callable taking `const hmr::event&`.
///
/// @code
///   std::vector<std::string> names;
///   hmr::callback_presenter record{[&](const hmr::event& e) {
///     names.emplace_back(hmr::event_name(e));
///   }};
/// @endcode
template <std::invocable<const event&> F>
class callback_presenter {
 public:
  /// Calls `f` for each event.
  explicit callback_presenter(F f) : f_(std::move(f)) {}
  /// Passes `e` to the callable.
  void present(const event& e) { f_(e); }

 private:
  F f_;
};

/// Deduces the callable's type.
template <class F>
callback_presenter(F) -> callback_presenter<F>;

/// Any presenter, chosen at run time (the CLI picks ANSI or JSON from its flags). Owns
/// the presenter; move-only. An empty one ignores events.
///
/// @code
///   hmr::any_presenter out = json ? hmr::any_presenter{hmr::json_presenter{std::cout}}
///                                 : hmr::any_presenter{hmr::ansi_presenter{std::cerr}};
/// @endcode
class any_presenter {
 public:
  /// An empty presenter: `present` does nothing.
  any_presenter() noexcept = default;

  /// Takes ownership of `p` (moved or copied in).
  template <class P>
  requires(!std::same_as<std::remove_cvref_t<P>, any_presenter>) &&
      presenter<std::remove_cvref_t<P>> any_presenter(
          P&& p)  // NOLINT(google-explicit-constructor): a presenter is an any_presenter
      : self_(std::make_unique<model<std::remove_cvref_t<P>>>(std::forward<P>(p))) {}

  /// Shows `e` to the held presenter, if any.
  void present(const event& e) {
    if (self_) self_->present(e);
  }

  /// True when a presenter is held.
  explicit operator bool() const noexcept { return self_ != nullptr; }

 private:
  struct concept_t {
    virtual ~concept_t() = default;
    virtual void present(const event& e) = 0;
  };
  template <class P>
  struct model final : concept_t {
    template <class Q>
    explicit model(Q&& q) : held(std::forward<Q>(q)) {}
    void present(const event& e) override { held.present(e); }
    P held;
  };
  std::unique_ptr<concept_t> self_{};
};

/// A list of presenters built at run time, itself a presenter: each event goes to every
/// member in the order they were added.
///
/// @code
///   hmr::presenter_list out;
///   out.add(hmr::ansi_presenter{std::cerr});
///   if (log) out.add(hmr::json_presenter{log_file});
/// @endcode
class presenter_list {
 public:
  /// Appends `p` (any presenter, owned by the list).
  template <class P>
  requires presenter<std::remove_cvref_t<P>>
  void add(P&& p) { members_.emplace_back(std::forward<P>(p)); }

  /// Shows `e` to every member, first added first.
  void present(const event& e) {
    for (any_presenter& member : members_) member.present(e);
  }

  /// The number of members.
  [[nodiscard]] std::size_t size() const noexcept { return members_.size(); }
  /// True when there are no members.
  [[nodiscard]] bool empty() const noexcept { return members_.empty(); }

 private:
  std::vector<any_presenter> members_{};
};

static_assert(presenter<any_presenter>);
static_assert(presenter<presenter_list>);

}  // namespace hmr
