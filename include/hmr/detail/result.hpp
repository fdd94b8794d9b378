// A value or an error: the return type of library internals that can fail on user input
// (C++20 on GCC 12 and clang 14 has no std::expected).
#pragma once

#include <cassert>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace hmr {

/// Why an operation failed, with the position in the input when there is one.
///
/// Positions are 1-based; `line == 0` means "no position" (an error about the whole
/// input, or one that is not about text at all).
struct error_info {
  std::string message;     ///< what went wrong, phrased so a user can act on it
  std::size_t line = 0;    ///< 1-based line of the error, 0 when there is no position
  std::size_t column = 0;  ///< 1-based column in characters (UTF-8 code points)
  std::size_t offset = 0;  ///< 0-based byte offset of the error in the input

  friend bool operator==(const error_info&, const error_info&) = default;
};

/// `source:line:column: message` (the form compilers use), `line:column: message`
/// without a source name, or just the message (after `source: `) without a position.
inline std::string to_string(const error_info& e, std::string_view source = {}) {
  std::string out{source};
  if (!source.empty()) out += ':';
  if (e.line != 0) {
    out += std::to_string(e.line);
    out += ':';
    out += std::to_string(e.column);
    out += ':';
  }
  if (!out.empty()) out += ' ';
  out += e.message;
  return out;
}

/// Either a `T` or an `error_info`.
///
/// @code
///   hmr::result<int> r = parse_port(text);
///   if (!r) return report(r.error());
///   use(*r);
/// @endcode
/// Reading the value of a failed result (or the error of a successful one) is a
/// programmer error: `value()` and `error()` then throw `std::bad_variant_access`,
/// `operator*` and `operator->` assert.
template <class T>
class [[nodiscard]] result {
  static_assert(!std::is_same_v<std::remove_cv_t<T>, error_info>,
                "result<error_info> is ambiguous");

 public:
  /// A successful result holding `value`.
  result(T value) : state_{std::in_place_index<0>, std::move(value)} {}
  /// A failed result holding `error`.
  result(error_info error) : state_{std::in_place_index<1>, std::move(error)} {}

  /// True when the result holds a value.
  [[nodiscard]] bool has_value() const noexcept { return state_.index() == 0; }
  /// Same as `has_value()`.
  explicit operator bool() const noexcept { return has_value(); }

  /// The value; throws `std::bad_variant_access` when the result holds an error.
  [[nodiscard]] T& value() & { return std::get<0>(state_); }
  /// The value; throws `std::bad_variant_access` when the result holds an error.
  [[nodiscard]] const T& value() const& { return std::get<0>(state_); }
  /// The value, moved out; throws `std::bad_variant_access` when the result holds an error.
  [[nodiscard]] T&& value() && { return std::get<0>(std::move(state_)); }
  /// The error; throws `std::bad_variant_access` when the result holds a value.
  [[nodiscard]] const error_info& error() const { return std::get<1>(state_); }

  /// The value (precondition: `has_value()`).
  [[nodiscard]] T& operator*() & noexcept { return assert(has_value()), *std::get_if<0>(&state_); }
  /// The value (precondition: `has_value()`).
  [[nodiscard]] const T& operator*() const& noexcept {
    return assert(has_value()), *std::get_if<0>(&state_);
  }
  /// The value, moved out (precondition: `has_value()`).
  [[nodiscard]] T&& operator*() && noexcept {
    return assert(has_value()), std::move(*std::get_if<0>(&state_));
  }
  /// Member access to the value (precondition: `has_value()`).
  [[nodiscard]] T* operator->() noexcept { return assert(has_value()), std::get_if<0>(&state_); }
  /// Member access to the value (precondition: `has_value()`).
  [[nodiscard]] const T* operator->() const noexcept {
    return assert(has_value()), std::get_if<0>(&state_);
  }

 private:
  std::variant<T, error_info> state_;
};

/// Success without a value, or an error.
template <>
class [[nodiscard]] result<void> {
 public:
  /// A successful result.
  result() = default;
  /// A failed result holding `error`.
  result(error_info error) : error_{std::move(error)}, failed_{true} {}

  /// True on success.
  [[nodiscard]] bool has_value() const noexcept { return !failed_; }
  /// Same as `has_value()`.
  explicit operator bool() const noexcept { return !failed_; }
  /// The error (precondition: `!has_value()`).
  [[nodiscard]] const error_info& error() const noexcept { return assert(failed_), error_; }

 private:
  error_info error_;
  bool failed_ = false;
};

}  // namespace hmr
