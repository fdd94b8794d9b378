// A streaming JSON writer that appends to a std::string. Whatever bytes it is given, the
// output is valid JSON and valid UTF-8 (see docs/json.md).
#pragma once

#include <cassert>
#include <charconv>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace hmr {

namespace detail {

/// The result of looking at one UTF-8 sequence: how many bytes it spans and whether it
/// is well formed. For an ill-formed sequence `length` is its maximal subpart (the
/// longest prefix that could start a well-formed sequence, at least one byte), which is
/// what one U+FFFD replaces.
struct utf8_sequence {
  std::uint8_t length;  ///< bytes consumed (1..4)
  bool valid;           ///< true for a well-formed sequence
};

/// Examines the sequence that starts at `p` (a byte >= 0x80) and ends before `end`,
/// following Unicode's table of well-formed byte sequences: no overlong forms, no
/// surrogates, nothing above U+10FFFF.
inline utf8_sequence next_utf8_sequence(const unsigned char* p, const unsigned char* end) noexcept {
  const unsigned char lead = p[0];
  unsigned char lo = 0x80;  // allowed range of the second byte
  unsigned char hi = 0xBF;
  std::uint8_t length = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0)
      lo = 0xA0;  // shorter forms are overlong
    else if (lead == 0xED)
      hi = 0x9F;  // ED A0..BF would encode a surrogate
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0)
      lo = 0x90;  // overlong
    else if (lead == 0xF4)
      hi = 0x8F;  // above U+10FFFF
  } else {
    return {1, false};  // a continuation byte, C0/C1 (always overlong) or F5..FF
  }
  if (end - p < 2 || p[1] < lo || p[1] > hi) return {1, false};
  for (std::uint8_t i = 2; i < length; ++i) {
    if (end - p <= i || (p[i] & 0xC0) != 0x80) return {i, false};
  }
  return {length, true};
}

/// True when one of the 8 bytes in `word` is < 0x20, '"', '\\' or >= 0x80, i.e. when the
/// chunk cannot be copied to a JSON string as is. Exact (no false negatives).
constexpr bool needs_attention(std::uint64_t word) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101ULL;
  constexpr std::uint64_t highs = 0x8080808080808080ULL;
  const std::uint64_t quote = word ^ (ones * '"');
  const std::uint64_t backslash = word ^ (ones * '\\');
  const std::uint64_t control = (word - ones * 0x20) & ~word;
  const std::uint64_t has_zero_quote = (quote - ones) & ~quote;
  const std::uint64_t has_zero_backslash = (backslash - ones) & ~backslash;
  return ((control | has_zero_quote | has_zero_backslash | word) & highs) != 0;
}

/// Appends the JSON escape for an ASCII byte that needs one (a control character, '"'
/// or '\\').
inline void append_ascii_escape(std::string& out, unsigned char c) {
  switch (c) {
    case '"':
      out.append("\\\"", 2);
      return;
    case '\\':
      out.append("\\\\", 2);
      return;
    case '\b':
      out.append("\\b", 2);
      return;
    case '\f':
      out.append("\\f", 2);
      return;
    case '\n':
      out.append("\\n", 2);
      return;
    case '\r':
      out.append("\\r", 2);
      return;
    case '\t':
      out.append("\\t", 2);
      return;
    default:
      break;
  }
  constexpr char hex[] = "0123456789abcdef";
  const char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
  out.append(esc, 6);
}

}  // namespace detail

/// Appends `text` as a quoted JSON string. Control characters, '"' and '\\' are escaped
/// (`\n`-style short forms where JSON has them, `\u00XX` otherwise), U+2028 and U+2029
/// become `\u2028` and `\u2029` (so the output is also safe inside JavaScript), other
/// valid UTF-8 is copied unchanged, and each maximal ill-formed subsequence becomes
/// U+FFFD. The output is therefore always valid JSON and valid UTF-8. `text` must not
/// point into `out`.
inline void append_json_string(std::string& out, std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* const end = p + text.size();
  const auto* run = p;  // start of bytes not yet appended
  out.reserve(out.size() + text.size() + 2);
  out.push_back('"');
  auto flush = [&](const unsigned char* upto) {
    out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(upto - run));
  };
  while (p < end) {
    // Skip 8 plain ASCII bytes at a time.
    while (end - p >= 8) {
      std::uint64_t word;
      std::memcpy(&word, p, 8);
      if (detail::needs_attention(word)) break;
      p += 8;
    }
    if (p == end) break;
    const unsigned char c = *p;
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      ++p;
      continue;
    }
    if (c < 0x80) {
      flush(p);
      detail::append_ascii_escape(out, c);
      run = ++p;
      continue;
    }
    const auto seq = detail::next_utf8_sequence(p, end);
    if (seq.valid) {
      if (seq.length == 3 && c == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9)) {
        flush(p);
        out.append(p[2] == 0xA8 ? "\\u2028" : "\\u2029", 6);
        run = p += 3;
        continue;
      }
      p += seq.length;
      continue;
    }
    flush(p);
    out.append("\xEF\xBF\xBD", 3);  // U+FFFD REPLACEMENT CHARACTER
    run = p += seq.length;
  }
  flush(end);
  out.push_back('"');
}

/// Appends a number in JSON form: integers exactly; doubles in the shortest form that
/// reads back to the same value, with ".0" added to integral values so that they read
/// back as doubles (`2.0`, `-0.0`, `1e+300`); NaN and infinities as `null`.
template <class T>
requires std::is_arithmetic_v<T> &&
    (!std::is_same_v<T, bool>)void append_json_number(std::string& out, T number) {
  char buf[64];
  std::to_chars_result r{};
  if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(number)) {
      out.append("null", 4);
      return;
    }
    r = std::to_chars(buf, buf + 60, number);  // room left for ".0"
    bool integral = true;
    for (const char* q = buf; q != r.ptr; ++q)
      integral = integral && (*q == '-' || (*q >= '0' && *q <= '9'));
    if (integral) {
      *r.ptr++ = '.';
      *r.ptr++ = '0';
    }
  } else {
    r = std::to_chars(buf, buf + sizeof buf, number);
  }
  out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

/// A streaming JSON writer: appends one JSON value to a string, inserting commas and
/// colons itself. Output is compact (no whitespace).
///
/// @code
///   std::string line;
///   hmr::json_writer w{line};
///   w.begin_object();
///   w.member("event", "change");
///   w.key("paths");
///   w.begin_array();
///   w.string("src/main.cpp");
///   w.end_array();
///   w.member("elapsed_ms", 12);
///   w.end_object();
///   assert(w.complete());  // line ==
///   R"({"event":"change","paths":["src/main.cpp"],"elapsed_ms":12})"
/// @endcode
///
/// Misuse is a programmer error caught by `assert` in debug builds: a key outside an
/// object, a value where a key is expected (or a key where a value is expected), an
/// `end_*` that does not match the open container, or a second top-level value. In
/// release builds misuse produces invalid JSON.
class json_writer {
 public:
  /// A writer appending to `out`, which must outlive it.
  explicit json_writer(std::string& out) noexcept : out_{&out} {}

  /// Opens an object.
  void begin_object() {
    before_value();
    out_->push_back('{');
    open('o');
  }
  /// Closes the innermost open container, which must be an object awaiting a key.
  void end_object() {
    assert(!stack_.empty() && stack_.back() == 'o' &&
           "end_object() without a matching begin_object()");
    close('}');
  }
  /// Opens an array.
  void begin_array() {
    before_value();
    out_->push_back('[');
    open('a');
  }
  /// Closes the innermost open container, which must be an array.
  void end_array() {
    assert(!stack_.empty() && stack_.back() == 'a' &&
           "end_array() without a matching begin_array()");
    close(']');
  }

  /// Writes a member name; the next call must write its value.
  void key(std::string_view name) {
    assert(!stack_.empty() && stack_.back() == 'o' && "key() outside an object or twice in a row");
    if (need_comma_) out_->push_back(',');
    append_json_string(*out_, name);
    out_->push_back(':');
    stack_.back() = 'k';
  }

  /// Writes a string value (escaped; invalid UTF-8 replaced, see `append_json_string`).
  void string(std::string_view text) {
    before_value();
    append_json_string(*out_, text);
    after_value();
  }
  /// Writes a number (see `append_json_number`: integers exact, doubles shortest, NaN and
  /// infinities as `null`).
  template <class T>
  requires std::is_arithmetic_v<T> &&(!std::is_same_v<T, bool>)void number(T n) {
    before_value();
    append_json_number(*out_, n);
    after_value();
  }
  /// Writes `true` or `false`.
  void boolean(bool b) {
    before_value();
    if (b)
      out_->append("true", 4);
    else
      out_->append("false", 5);
    after_value();
  }
  /// Writes `null`.
  void null() {
    before_value();
    out_->append("null", 4);
    after_value();
  }

  /// Writes a string value.
  void value(std::string_view text) { string(text); }
  /// Writes a string value (an overload so that a literal is not taken for a bool).
  void value(const char* text) { string(text); }
  /// Writes `true` or `false`.
  void value(bool b) { boolean(b); }
  /// Writes `null`.
  void value(std::nullptr_t) { null(); }
  /// Writes a number; character types are excluded (write them as strings).
  template <class T>
  requires std::is_arithmetic_v<T> &&
      (!std::is_same_v<T, bool>)&&(!std::is_same_v<T, char>)&&(!std::is_same_v<T, char8_t>)&&(
          !std::is_same_v<
              T,
              char16_t>)&&(!std::is_same_v<T,
                                           char32_t>)&&(!std::is_same_v<T,
                                                                        wchar_t>)void value(T n) {
    number(n);
  }
  /// Writes a member: `key(name)` followed by `value(v)`.
  template <class T>
  void member(std::string_view name, const T& v) {
    key(name);
    value(v);
  }

  /// True once exactly one complete top-level value has been written.
  [[nodiscard]] bool complete() const noexcept { return done_ && stack_.empty(); }
  /// The number of containers currently open.
  [[nodiscard]] std::size_t depth() const noexcept { return stack_.size(); }

 private:
  // The open containers, innermost last: 'o' object awaiting a key, 'k' object awaiting
  // the value of a key just written, 'a' array. A string keeps shallow nesting free of
  // allocations (small-string optimisation).
  void open(char kind) {
    stack_.push_back(kind);
    need_comma_ = false;
  }
  void close(char bracket) {
    stack_.pop_back();
    out_->push_back(bracket);
    after_value();
  }
  void before_value() {
    if (stack_.empty()) {
      assert(!done_ && "a second top-level value");
      return;
    }
    char& top = stack_.back();
    if (top == 'a') {
      if (need_comma_) out_->push_back(',');
    } else {
      assert(top == 'k' && "a value inside an object must follow key()");
      top = 'o';
    }
  }
  void after_value() noexcept {
    need_comma_ = true;
    if (stack_.empty()) done_ = true;
  }

  std::string* out_;
  std::string stack_;
  bool need_comma_ = false;
  bool done_ = false;
};

}  // namespace hmr
