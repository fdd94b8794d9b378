// The JSON DOM: `json_value` (what `parse_json` builds), and writing it back with
// `json_writer`.
#pragma once

#include <algorithm>
#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <hmr/detail/json_writer.hpp>
#include <hmr/detail/result.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

namespace hmr {

class json_value;
namespace detail {
class json_parser;
}
/// A JSON array.
using json_array = std::vector<json_value>;
/// One member of a JSON object: its key and its value.
using json_member = std::pair<std::string, json_value>;
/// A JSON object: its members in document order (keys are unique when parsed).
using json_object = std::vector<json_member>;

/// What a `json_value` holds. The order matches `json_value`'s storage.
enum class json_type : std::uint8_t {
  null,      ///< `null`
  boolean,   ///< `true` or `false`
  integer,   ///< a number written without fraction or exponent that fits in int64
  floating,  ///< any other number, as a double
  string,    ///< a string (valid UTF-8; may contain U+0000)
  array,     ///< an array
  object,    ///< an object
};

/// A parsed JSON value (a DOM node).
///
/// @code
///   auto doc = hmr::parse_json(R"({"debounce_ms": 50, "ignore": ["build"]})");
///   if (!doc) return fail(hmr::to_string(doc.error(), "hmr.json"));
///   std::int64_t ms = doc->get_int_or("debounce_ms", 100);
///   if (const hmr::json_value* ignore = doc->find("ignore"); ignore && ignore->is_array())
///     for (const hmr::json_value& item : ignore->as_array()) use(item.as_string());
/// @endcode
/// The `as_*` accessors require the matching type (check with `is_*` or `type()`);
/// on a mismatch they throw `std::bad_variant_access`.
class json_value {
 public:
  /// `null`.
  json_value() noexcept = default;
  /// `null`.
  json_value(std::nullptr_t) noexcept {}
  /// `true` or `false`.
  json_value(bool b) noexcept : v_{b} {}
  /// An integer (unsigned values above INT64_MAX are a precondition violation).
  template <std::integral T>
  requires(!std::is_same_v<T, bool>) json_value(T n)
  noexcept : v_{static_cast<std::int64_t>(n)} {}
  /// A floating-point number.
  template <std::floating_point T>
  json_value(T d) noexcept : v_{static_cast<double>(d)} {}
  /// A string.
  json_value(std::string s) noexcept : v_{std::move(s)} {}
  /// A string.
  json_value(std::string_view s) : v_{std::string{s}} {}
  /// A string.
  json_value(const char* s) : v_{std::string{s}} {}
  /// An array.
  json_value(json_array a) noexcept : v_{std::move(a)} {}
  /// An object.
  json_value(json_object o) noexcept : v_{std::move(o)} {}

  /// What this value holds.
  [[nodiscard]] json_type type() const noexcept { return static_cast<json_type>(v_.index()); }
  /// The JSON name of the type, for messages: "null", "boolean", "integer", "number",
  /// "string", "array" or "object".
  [[nodiscard]] std::string_view type_name() const noexcept {
    constexpr std::string_view names[] = {"null",   "boolean", "integer", "number",
                                          "string", "array",   "object"};
    return names[v_.index()];
  }

  /// True for `null`.
  [[nodiscard]] bool is_null() const noexcept { return type() == json_type::null; }
  /// True for `true` and `false`.
  [[nodiscard]] bool is_bool() const noexcept { return type() == json_type::boolean; }
  /// True for an integer that fits in int64 (see `json_type::integer`).
  [[nodiscard]] bool is_integer() const noexcept { return type() == json_type::integer; }
  /// True for any number (integer or floating).
  [[nodiscard]] bool is_number() const noexcept {
    return is_integer() || type() == json_type::floating;
  }
  /// True for a string.
  [[nodiscard]] bool is_string() const noexcept { return type() == json_type::string; }
  /// True for an array.
  [[nodiscard]] bool is_array() const noexcept { return type() == json_type::array; }
  /// True for an object.
  [[nodiscard]] bool is_object() const noexcept { return type() == json_type::object; }

  /// The boolean (requires `is_bool()`).
  [[nodiscard]] bool as_bool() const { return std::get<bool>(v_); }
  /// The integer (requires `is_integer()`).
  [[nodiscard]] std::int64_t as_int() const { return std::get<std::int64_t>(v_); }
  /// The number as a double (requires `is_number()`; large integers are rounded).
  [[nodiscard]] double as_double() const {
    if (const auto* i = std::get_if<std::int64_t>(&v_)) return static_cast<double>(*i);
    return std::get<double>(v_);
  }
  /// The string (requires `is_string()`).
  [[nodiscard]] const std::string& as_string() const { return std::get<std::string>(v_); }
  /// The elements (requires `is_array()`).
  [[nodiscard]] const json_array& as_array() const { return std::get<json_array>(v_); }
  /// The members in document order (requires `is_object()`).
  [[nodiscard]] const json_object& as_object() const { return std::get<json_object>(v_); }

  /// The value of member `key`, or nullptr when this is not an object or has no such key.
  [[nodiscard]] const json_value* find(std::string_view key) const noexcept {
    const auto* members = std::get_if<json_object>(&v_);
    if (members == nullptr) return nullptr;
    for (const auto& [name, value] : *members)
      if (name == key) return &value;
    return nullptr;
  }
  /// Member `key` as a boolean; `fallback` when it is missing or not a boolean (use
  /// `find` to report a wrong type instead of ignoring it).
  [[nodiscard]] bool get_bool_or(std::string_view key, bool fallback) const noexcept {
    const json_value* v = find(key);
    return v != nullptr && v->is_bool() ? v->as_bool() : fallback;
  }
  /// Member `key` as an integer; `fallback` when it is missing or not an integer.
  [[nodiscard]] std::int64_t get_int_or(std::string_view key,
                                        std::int64_t fallback) const noexcept {
    const json_value* v = find(key);
    return v != nullptr && v->is_integer() ? v->as_int() : fallback;
  }
  /// Member `key` as a double (integers converted); `fallback` when it is missing or not
  /// a number.
  [[nodiscard]] double get_double_or(std::string_view key, double fallback) const noexcept {
    const json_value* v = find(key);
    return v != nullptr && v->is_number() ? v->as_double() : fallback;
  }
  /// Member `key` as a string; `fallback` when it is missing or not a string.
  [[nodiscard]] std::string get_string_or(std::string_view key, std::string_view fallback) const {
    const json_value* v = find(key);
    return v != nullptr && v->is_string() ? v->as_string() : std::string{fallback};
  }

  /// Structural equality: same type and same contents (objects compare members in
  /// order; an integer never equals a double).
  friend bool operator==(const json_value&, const json_value&) = default;

 private:
  friend class detail::json_parser;  // builds values in place
  std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, json_array, json_object> v_;
};

/// Writes `value` with `w` (compact, members in order; the inverse of `parse_json` up to
/// whitespace and number spelling).
inline void write(json_writer& w, const json_value& value) {
  switch (value.type()) {
    case json_type::null:
      w.null();
      return;
    case json_type::boolean:
      w.boolean(value.as_bool());
      return;
    case json_type::integer:
      w.number(value.as_int());
      return;
    case json_type::floating:
      w.number(value.as_double());
      return;
    case json_type::string:
      w.string(value.as_string());
      return;
    case json_type::array:
      w.begin_array();
      for (const json_value& item : value.as_array()) write(w, item);
      w.end_array();
      return;
    case json_type::object:
      w.begin_object();
      for (const auto& [key, item] : value.as_object()) {
        w.key(key);
        write(w, item);
      }
      w.end_object();
      return;
  }
}

/// `value` as compact JSON text.
[[nodiscard]] inline std::string to_json(const json_value& value) {
  std::string out;
  json_writer w{out};
  write(w, value);
  return out;
}

}  // namespace hmr
