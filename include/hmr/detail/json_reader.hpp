// A small strict RFC 8259 JSON reader into a DOM (`json_value`), with errors that name the
// line and column. What it accepts and rejects: docs/json.md.
#pragma once

#include <algorithm>
#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <hmr/detail/json_value.hpp>
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

/// Options for `parse_json`.
struct json_read_options {
  /// The deepest nesting of arrays and objects accepted; deeper input is rejected so that
  /// hostile input cannot exhaust the stack.
  std::size_t max_depth = 512;
};

namespace detail {

/// The recursive-descent parser behind `parse_json`. One instance parses one document.
class json_parser {
 public:
  /// A parser for `text`, which must outlive it.
  json_parser(std::string_view text, const json_read_options& options) noexcept
      : begin_{text.data()},
        p_{text.data()},
        end_{text.data() + text.size()},
        max_depth_{options.max_depth} {}

  /// Parses the whole text: one value, nothing but whitespace around it.
  result<json_value> run() {
    if (end_ - p_ >= 3 && std::memcmp(p_, "\xEF\xBB\xBF", 3) == 0)
      return fail(p_,
                  "the file starts with a UTF-8 byte order mark, which JSON does not allow; save "
                  "it without BOM");
    skip_whitespace();
    if (p_ == end_) return fail(p_, "empty input: expected a JSON value");
    json_value root;
    if (!parse_value(root, 0)) return std::move(error_);
    skip_whitespace();
    if (p_ != end_) {
      unexpected(p_, "unexpected data after the JSON value");
      return std::move(error_);
    }
    return root;
  }

 private:
  // Records an error at `at` and returns false (or converts to a failed result).
  struct failure {
    json_parser* self;
    operator bool() const noexcept { return false; }
    template <class T>
    operator result<T>() const {
      return self->error_;
    }
  };
  failure fail(const char* at, std::string message) {
    error_.message = std::move(message);
    error_.offset = static_cast<std::size_t>(at - begin_);
    error_.line = 1;
    const char* line_start = begin_;
    for (const char* q = begin_; q != at; ++q) {
      if (*q == '\n') {
        ++error_.line;
        line_start = q + 1;
      }
    }
    error_.column = 1;
    for (const char* q = line_start; q != at; ++q)
      error_.column += (static_cast<unsigned char>(*q) & 0xC0) != 0x80;
    return failure{this};
  }

  // Fails with "<expectation>, found <what is at `at`>", or a more specific message for
  // the usual non-JSON habits (comments, single quotes).
  failure unexpected(const char* at, std::string_view expectation) {
    if (at != end_ && *at == '/' && end_ - at >= 2 && (at[1] == '/' || at[1] == '*'))
      return fail(at, "comments are not allowed in JSON");
    if (at != end_ && *at == '\'')
      return fail(at, "strings must use double quotes, not single quotes");
    std::string message{expectation};
    message += ", found ";
    message += describe(at);
    return fail(at, std::move(message));
  }

  // What is at `at`, for a message: "end of input", "'x'", "control character U+0001",
  // "invalid UTF-8 byte 0xFF".
  std::string describe(const char* at) const {
    if (at == end_) return "end of input";
    const auto c = static_cast<unsigned char>(*at);
    if (c < 0x20 || c == 0x7F) return "control character U+00" + hex_byte(c);
    if (c < 0x80) return std::string{'\''} + static_cast<char>(c) + '\'';
    const auto seq = next_utf8_sequence(reinterpret_cast<const unsigned char*>(at),
                                        reinterpret_cast<const unsigned char*>(end_));
    if (!seq.valid) return "invalid UTF-8 byte 0x" + hex_byte(c);
    return '\'' + std::string{at, seq.length} + '\'';
  }

  // Two upper-case hex digits.
  static std::string hex_byte(unsigned char c) {
    constexpr char hex[] = "0123456789ABCDEF";
    return {hex[c >> 4], hex[c & 0xF]};
  }

  // Why the ill-formed UTF-8 sequence at `at` is ill-formed.
  std::string utf8_problem(const char* at) const {
    const auto* p = reinterpret_cast<const unsigned char*>(at);
    const unsigned char lead = p[0];
    std::string byte = " (byte 0x" + hex_byte(lead) + ")";
    if (lead >= 0x80 && lead <= 0xBF) return "invalid UTF-8: unexpected continuation byte" + byte;
    if (lead == 0xC0 || lead == 0xC1) return "invalid UTF-8: overlong encoding" + byte;
    if (lead >= 0xF5) return "invalid UTF-8: byte 0x" + hex_byte(lead) + " never appears in UTF-8";
    if (end_ - at >= 2 && (p[1] & 0xC0) == 0x80) {
      const unsigned char second = p[1];
      if ((lead == 0xE0 && second < 0xA0) || (lead == 0xF0 && second < 0x90))
        return "invalid UTF-8: overlong encoding" + byte;
      if (lead == 0xED && second >= 0xA0) return "invalid UTF-8: encoded surrogate" + byte;
      if (lead == 0xF4 && second >= 0x90) return "invalid UTF-8: code point above U+10FFFF" + byte;
    }
    return "invalid UTF-8: truncated sequence" + byte;
  }

  // JSON whitespace is exactly space, LF, CR and tab.
  void skip_whitespace() noexcept {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  static bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
  static bool is_word_char(char c) noexcept {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  }

  // Parses the value at `p_` into `out`; `depth` counts the containers around it.
  // Words are read whole so that `truex` and `True` are reported as one bad literal.
  bool parse_value(json_value& out, std::size_t depth) {
    if (p_ == end_) return unexpected(p_, "expected a value");
    switch (*p_) {
      case '{':
        return parse_object(out, depth);
      case '[':
        return parse_array(out, depth);
      case '"':
        return parse_string(out.v_.emplace<std::string>());
      case '-':
      case '0':
      case '1':
      case '2':
      case '3':
      case '4':
      case '5':
      case '6':
      case '7':
      case '8':
      case '9':
        return parse_number(out);
      case '+':
        return fail(p_, "a number cannot start with '+'");
      case '.':
        return fail(p_, "a number must have a digit before the decimal point");
      default:
        break;
    }
    if (!is_word_char(*p_)) return unexpected(p_, "expected a value");
    const char* start = p_;
    while (p_ != end_ && is_word_char(*p_)) ++p_;
    const std::string_view word{start, static_cast<std::size_t>(p_ - start)};
    if (word == "true" || word == "false") {
      out.v_.emplace<bool>(word == "true");
      return true;
    }
    if (word == "null") {
      out.v_.emplace<std::nullptr_t>();
      return true;
    }
    if (word == "NaN" || word == "Infinity" || word == "nan" || word == "inf" || word == "infinity")
      return fail(start, "NaN and Infinity are not valid JSON numbers");
    std::string message = "invalid literal '";
    message += word.substr(0, 32);
    message += "' (expected a string, number, object, array, true, false or null)";
    return fail(start, std::move(message));
  }

  // Checks the nesting limit before opening the container at `bracket`.
  bool enter(const char* bracket, std::size_t depth) {
    if (depth < max_depth_) return true;
    return fail(bracket, "nesting deeper than " + std::to_string(max_depth_) + " levels");
  }

  // Parses the array at `p_` ('['); a comma must be followed by another element.
  bool parse_array(json_value& out, std::size_t depth) {
    if (!enter(p_, depth)) return false;
    ++p_;
    // Parsed in place: nothing moves `out` while its elements are parsed.
    auto& items = out.v_.emplace<json_array>();
    skip_whitespace();
    if (p_ != end_ && *p_ == ']') {
      ++p_;
      return true;
    }
    for (;;) {
      skip_whitespace();
      if (!parse_value(items.emplace_back(), depth + 1)) return false;
      skip_whitespace();
      if (p_ != end_ && *p_ == ',') {
        const char* comma = p_++;
        skip_whitespace();
        if (p_ != end_ && *p_ == ']') return fail(comma, "trailing comma before ']'");
        continue;
      }
      if (p_ != end_ && *p_ == ']') break;
      return unexpected(p_, "expected ',' or ']' after array element");
    }
    ++p_;
    return true;
  }

  // Indexes of an object's members, hashed by key, for duplicate detection in objects too
  // large for a linear scan.
  struct key_hash {
    const json_object* members;
    std::size_t operator()(std::size_t i) const noexcept {
      return std::hash<std::string_view>{}((*members)[i].first);
    }
  };
  struct key_equal {
    const json_object* members;
    bool operator()(std::size_t a, std::size_t b) const noexcept {
      return (*members)[a].first == (*members)[b].first;
    }
  };
  static constexpr std::size_t linear_key_scan_limit = 32;

  // Parses the object at `p_` ('{'). A key is checked for duplicates as soon as it is
  // read, so that the first error in document order is the one reported.
  bool parse_object(json_value& out, std::size_t depth) {
    if (!enter(p_, depth)) return false;
    ++p_;
    auto& members = out.v_.emplace<json_object>();
    std::optional<std::unordered_set<std::size_t, key_hash, key_equal>> index;
    skip_whitespace();
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    for (;;) {
      skip_whitespace();
      if (p_ == end_ || *p_ != '"') {
        if (p_ != end_ && is_word_char(*p_))
          return fail(p_, "object keys must be strings in double quotes");
        return unexpected(p_, "expected a string key");
      }
      const char* key_start = p_;
      std::string key;
      if (!parse_string(key)) return false;
      members.emplace_back(std::piecewise_construct, std::forward_as_tuple(std::move(key)),
                           std::forward_as_tuple());
      if (is_duplicate(members, index)) {
        std::string message = "duplicate key ";
        append_json_string(message, members.back().first);
        return fail(key_start, std::move(message));
      }
      skip_whitespace();
      if (p_ == end_ || *p_ != ':') return unexpected(p_, "expected ':' after object key");
      ++p_;
      skip_whitespace();
      if (!parse_value(members.back().second, depth + 1)) return false;
      skip_whitespace();
      if (p_ != end_ && *p_ == ',') {
        const char* comma = p_++;
        skip_whitespace();
        if (p_ != end_ && *p_ == '}') return fail(comma, "trailing comma before '}'");
        continue;
      }
      if (p_ != end_ && *p_ == '}') break;
      return unexpected(p_, "expected ',' or '}' after object member");
    }
    ++p_;
    return true;
  }

  // Whether the last member's key appeared before.
  static bool is_duplicate(
      const json_object& members,
      std::optional<std::unordered_set<std::size_t, key_hash, key_equal>>& index) {
    const std::size_t last = members.size() - 1;
    if (index) return !index->insert(last).second;
    for (std::size_t i = 0; i < last; ++i)
      if (members[i].first == members[last].first) return true;
    if (members.size() == linear_key_scan_limit) {
      index.emplace(members.size() * 2, key_hash{&members}, key_equal{&members});
      for (std::size_t i = 0; i < members.size(); ++i) index->insert(i);
    }
    return false;
  }

  // The value of one hex digit, or -1.
  static int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  // The 4 hex digits after "\u" at `esc`, or -1.
  int read_hex4(const char* esc) const noexcept {
    if (end_ - esc < 6) return -1;
    int cp = 0;
    for (int i = 2; i < 6; ++i) {
      const int h = hex_value(esc[i]);
      if (h < 0) return -1;
      cp = cp * 16 + h;
    }
    return cp;
  }

  // Appends code point `cp` (not a surrogate, at most U+10FFFF) encoded as UTF-8.
  static void append_utf8(std::string& s, std::uint32_t cp) {
    char buf[4];
    std::size_t n = 0;
    if (cp < 0x80) {
      buf[n++] = static_cast<char>(cp);
    } else if (cp < 0x800) {
      buf[n++] = static_cast<char>(0xC0 | (cp >> 6));
      buf[n++] = static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      buf[n++] = static_cast<char>(0xE0 | (cp >> 12));
      buf[n++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      buf[n++] = static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      buf[n++] = static_cast<char>(0xF0 | (cp >> 18));
      buf[n++] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      buf[n++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      buf[n++] = static_cast<char>(0x80 | (cp & 0x3F));
    }
    s.append(buf, n);
  }

  // Parses the string starting at the opening quote `*p_` into `s` (unescaped, UTF-8).
  bool parse_string(std::string& s) {
    const char* open = p_++;
    const auto* const uend = reinterpret_cast<const unsigned char*>(end_);
    for (;;) {
      const char* run = p_;
      // Copy plain ASCII and well-formed UTF-8 as one run.
      for (;;) {
        while (end_ - p_ >= 8) {
          std::uint64_t word;
          std::memcpy(&word, p_, 8);
          if (needs_attention(word)) break;
          p_ += 8;
        }
        if (p_ == end_) break;
        const auto c = static_cast<unsigned char>(*p_);
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
          ++p_;
        } else if (c >= 0x80) {
          const auto seq = next_utf8_sequence(reinterpret_cast<const unsigned char*>(p_), uend);
          if (!seq.valid) return fail(p_, utf8_problem(p_));
          p_ += seq.length;
        } else {
          break;
        }
      }
      s.append(run, static_cast<std::size_t>(p_ - run));
      if (p_ == end_) return fail(open, "unterminated string (no closing '\"')");
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20) return fail(p_, control_in_string(c));
      // A backslash.
      if (end_ - p_ < 2) return fail(open, "unterminated string (no closing '\"')");
      char simple = 0;
      switch (p_[1]) {
        case '"':
          simple = '"';
          break;
        case '\\':
          simple = '\\';
          break;
        case '/':
          simple = '/';
          break;
        case 'b':
          simple = '\b';
          break;
        case 'f':
          simple = '\f';
          break;
        case 'n':
          simple = '\n';
          break;
        case 'r':
          simple = '\r';
          break;
        case 't':
          simple = '\t';
          break;
        case 'u':
          break;
        default: {
          const auto next = static_cast<unsigned char>(p_[1]);
          if (next >= 0x20 && next < 0x7F)
            return fail(p_, std::string{"invalid escape '\\"} + p_[1] + "' in string");
          return fail(p_, "invalid escape in string: '\\' followed by " + describe(p_ + 1));
        }
      }
      if (simple != 0) {
        s.push_back(simple);
        p_ += 2;
        continue;
      }
      const int unit = read_hex4(p_);
      if (unit < 0) return fail(p_, "invalid \\u escape: expected 4 hex digits after \\u");
      std::uint32_t cp = static_cast<std::uint32_t>(unit);
      if (unit >= 0xDC00 && unit <= 0xDFFF)
        return fail(p_, "unpaired surrogate " + escape_text(p_) +
                            " in string (a low surrogate must follow a high surrogate)");
      if (unit >= 0xD800 && unit <= 0xDBFF) {
        const int low = (end_ - p_ >= 12 && p_[6] == '\\' && p_[7] == 'u') ? read_hex4(p_ + 6) : -1;
        if (low < 0xDC00 || low > 0xDFFF)
          return fail(
              p_, "unpaired surrogate " + escape_text(p_) +
                      " in string (a high surrogate must be followed by a \\uDC00-\\uDFFF escape)");
        cp = 0x10000 + ((static_cast<std::uint32_t>(unit) - 0xD800) << 10) +
             (static_cast<std::uint32_t>(low) - 0xDC00);
        p_ += 6;
      }
      append_utf8(s, cp);
      p_ += 6;
    }
  }

  // The 6 characters of a \uXXXX escape as written, for messages.
  static std::string escape_text(const char* esc) { return std::string{esc, 6}; }

  // The message for a raw control character in a string, naming the escape to use.
  static std::string control_in_string(unsigned char c) {
    std::string message =
        "control character U+00" + hex_byte(c) + " must be escaped in a string (as ";
    switch (c) {
      case '\b':
        message += "\\b";
        break;
      case '\f':
        message += "\\f";
        break;
      case '\n':
        message += "\\n; or is the closing '\"' missing?";
        break;
      case '\r':
        message += "\\r";
        break;
      case '\t':
        message += "\\t";
        break;
      default:
        message += "\\u00" + hex_byte(c);
        break;
    }
    message += ')';
    return message;
  }

  // Parses the number at `p_`: the RFC 8259 grammar is checked by hand (from_chars is
  // more lenient), then the literal is converted, as int64 when it is integral and fits.
  bool parse_number(json_value& out) {
    const char* start = p_;
    if (*p_ == '-') {
      ++p_;
      if (p_ != end_ && *p_ == 'I')
        return fail(start, "NaN and Infinity are not valid JSON numbers");
    }
    if (p_ == end_ || !is_digit(*p_)) return unexpected(p_, "expected a digit after '-'");
    const char* int_begin = p_;
    if (*p_ == '0') {
      ++p_;
      if (p_ != end_ && is_digit(*p_))
        return fail(p_ - 1, "leading zeros are not allowed in numbers");
    } else {
      while (p_ != end_ && is_digit(*p_)) ++p_;
    }
    const char* int_end = p_;
    const char* frac_begin = p_;
    const char* frac_end = p_;
    bool integral = true;
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_ || !is_digit(*p_))
        return unexpected(p_, "expected a digit after the decimal point");
      frac_begin = p_;
      while (p_ != end_ && is_digit(*p_)) ++p_;
      frac_end = p_;
      integral = false;
    }
    std::int64_t exponent = 0;
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      bool negative = false;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) negative = *p_++ == '-';
      if (p_ == end_ || !is_digit(*p_)) return unexpected(p_, "expected a digit in the exponent");
      for (; p_ != end_ && is_digit(*p_); ++p_)
        exponent = std::min<std::int64_t>(exponent * 10 + (*p_ - '0'), 1'000'000'000);
      if (negative) exponent = -exponent;
      integral = false;
    }
    if (integral) {
      std::int64_t n = 0;
      const auto r = std::from_chars(start, p_, n);
      if (r.ec == std::errc{} && r.ptr == p_) {
        out.v_.emplace<std::int64_t>(n);
        return true;
      }
    }
    double d = 0;
    const auto r = std::from_chars(start, p_, d);
    if (r.ec == std::errc::result_out_of_range) {
      // Too small rounds to zero; too large is an error (it has no JSON spelling back).
      std::int64_t magnitude = 0;  // decimal exponent of the first significant digit
      const char* q = int_begin;
      while (q != int_end && *q == '0') ++q;
      if (q != int_end) {
        magnitude = exponent + (int_end - q) - 1;
      } else {
        q = frac_begin;
        while (q != frac_end && *q == '0') ++q;
        magnitude = exponent - (q - frac_begin) - 1;
      }
      if (magnitude >= 0) {
        std::string literal{start,
                            static_cast<std::size_t>(std::min<std::ptrdiff_t>(p_ - start, 40))};
        return fail(start, "number " + literal + (p_ - start > 40 ? "..." : "") +
                               " is too large for a double");
      }
      d = *start == '-' ? -0.0 : 0.0;
    } else if (r.ec != std::errc{} || r.ptr != p_) {
      return fail(start, "invalid number");  // unreachable: the grammar was checked above
    }
    out.v_.emplace<double>(d);
    return true;
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  std::size_t max_depth_;
  error_info error_;
};

}  // namespace detail

/// Parses `text` as one JSON document (RFC 8259, strictly: no comments, no trailing
/// commas, no duplicate keys, valid UTF-8 only; see docs/json.md). On failure the error
/// names the problem and its 1-based line and column, e.g. `to_string(error, "hmr.json")`
/// gives `hmr.json:3:14: expected ',' or '}' after object member, found '"'`.
[[nodiscard]] inline result<json_value> parse_json(std::string_view text,
                                                   const json_read_options& options = {}) {
  return detail::json_parser{text, options}.run();
}

/// Parses one line of line-delimited JSON (JSON Lines / NDJSON): one value, optionally
/// followed by "\n" or "\r\n". A line break anywhere else is an error, as is a blank line.
[[nodiscard]] inline result<json_value> parse_json_line(std::string_view line,
                                                        const json_read_options& options = {}) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (const auto nl = line.find('\n'); nl != std::string_view::npos)
    return error_info{
        "a line of line-delimited JSON must not contain a line break", 1,
        1 + static_cast<std::size_t>(std::count_if(
                line.begin(), line.begin() + static_cast<std::ptrdiff_t>(nl),
                [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; })),
        nl};
  return parse_json(line, options);
}

}  // namespace hmr
