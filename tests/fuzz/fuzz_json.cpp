// Fuzzes the JSON reader and writer against properties and an independent UTF-8 reference.
//
// For every input:
//  1. parse it; if accepted, write it back: the output is well-formed UTF-8, parses to an
//     equal DOM, and writing that again is byte-identical (canonical form); if rejected,
//     the error's offset lies within the input and its line/column match the offset;
//  2. write the input as a string value: the reader accepts the output, and the decoded
//     string equals the input with each maximal ill-formed subsequence replaced by U+FFFD
//     (the input itself when it was valid UTF-8); no raw U+2028/U+2029 in the output;
//  3. its first 8 bytes as a double and as an int64 survive write + parse exactly.
//
// Build: clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
//        -Iinclude tests/fuzz/fuzz_json.cpp -o /tmp/fuzz_json
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <hmr/detail/json_reader.hpp>
#include <hmr/detail/json_writer.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace {

[[noreturn]] void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "PROPERTY VIOLATED: %s\n%.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

// Reference UTF-8: every prefix of the encoding of every Unicode scalar value, built by
// encoding them all (independent of the table logic in the code under test). A key is
// (length << 32 | bytes), with bit 40 set for a complete sequence.
const std::vector<std::uint64_t>& utf8_prefixes() {
  static const std::vector<std::uint64_t> table = [] {
    std::vector<std::uint64_t> keys;
    keys.reserve(4'500'000);
    for (std::uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
      if (cp >= 0xD800 && cp <= 0xDFFF) continue;
      unsigned char b[4];
      int n;
      if (cp < 0x80) {
        b[0] = static_cast<unsigned char>(cp);
        n = 1;
      } else if (cp < 0x800) {
        b[0] = static_cast<unsigned char>(0xC0 | (cp >> 6));
        b[1] = static_cast<unsigned char>(0x80 | (cp & 0x3F));
        n = 2;
      } else if (cp < 0x10000) {
        b[0] = static_cast<unsigned char>(0xE0 | (cp >> 12));
        b[1] = static_cast<unsigned char>(0x80 | ((cp >> 6) & 0x3F));
        b[2] = static_cast<unsigned char>(0x80 | (cp & 0x3F));
        n = 3;
      } else {
        b[0] = static_cast<unsigned char>(0xF0 | (cp >> 18));
        b[1] = static_cast<unsigned char>(0x80 | ((cp >> 12) & 0x3F));
        b[2] = static_cast<unsigned char>(0x80 | ((cp >> 6) & 0x3F));
        b[3] = static_cast<unsigned char>(0x80 | (cp & 0x3F));
        n = 4;
      }
      std::uint64_t packed = 0;
      for (int k = 1; k <= n; ++k) {
        packed = (packed << 8) | b[k - 1];
        keys.push_back((static_cast<std::uint64_t>(k) << 32) | packed |
                       (k == n ? (1ULL << 40) : 0));
        if (k < n) keys.push_back((static_cast<std::uint64_t>(k) << 32) | packed);
      }
    }
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    return keys;
  }();
  return table;
}

// 0: bytes[0..k) is not a prefix of any encoding; 1: a proper prefix; 2: a complete one.
int classify(const unsigned char* p, int k) {
  std::uint64_t packed = 0;
  for (int i = 0; i < k; ++i) packed = (packed << 8) | p[i];
  const std::uint64_t key = (static_cast<std::uint64_t>(k) << 32) | packed;
  const auto& t = utf8_prefixes();
  if (std::binary_search(t.begin(), t.end(), key | (1ULL << 40))) return 2;
  if (std::binary_search(t.begin(), t.end(), key)) return 1;
  return 0;
}

// The input with each maximal ill-formed subpart replaced by U+FFFD; `valid` tells whether
// nothing was replaced.
std::string reference_sanitize(std::string_view s, bool& valid) {
  std::string out;
  valid = true;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t i = 0;
  while (i < s.size()) {
    int longest_prefix = 0;
    int complete = 0;
    for (int k = 1; k <= 4 && i + static_cast<std::size_t>(k) <= s.size(); ++k) {
      const int c = classify(p + i, k);
      if (c == 0) break;
      longest_prefix = k;
      if (c == 2) {
        complete = k;
        break;
      }
    }
    if (complete != 0) {
      out.append(s.substr(i, static_cast<std::size_t>(complete)));
      i += static_cast<std::size_t>(complete);
    } else {
      valid = false;
      out += "\xEF\xBF\xBD";
      i += static_cast<std::size_t>(std::max(longest_prefix, 1));
    }
  }
  return out;
}

void check_parse_round_trip(std::string_view input) {
  const auto parsed = hmr::parse_json(input);
  if (!parsed) {
    const hmr::error_info& e = parsed.error();
    if (e.offset > input.size()) fail("error offset beyond the input", input);
    std::size_t line = 1;
    std::size_t column = 1;
    for (std::size_t i = 0; i < e.offset; ++i) {
      if (input[i] == '\n') {
        ++line;
        column = 1;
      } else if ((static_cast<unsigned char>(input[i]) & 0xC0) != 0x80) {
        ++column;
      }
    }
    if (e.line != line || e.column != column)
      fail("error line/column do not match its offset", input);
    if (e.message.empty()) fail("empty error message", input);
    return;
  }
  const std::string first = hmr::to_json(*parsed);
  bool valid = false;
  if (reference_sanitize(first, valid) != first || !valid)
    fail("writer output is not valid UTF-8", first);
  const auto again = hmr::parse_json(first);
  if (!again) fail("writer output rejected by the reader", first + "\n" + again.error().message);
  if (!(*again == *parsed)) fail("DOM changed by a write/parse round trip", first);
  if (hmr::to_json(*again) != first) fail("second write differs from the first", first);
}

void check_string_value(std::string_view input) {
  std::string out;
  hmr::json_writer w{out};
  w.string(input);
  if (!w.complete()) fail("writer not complete after one string");
  if (out.find("\xE2\x80\xA8") != std::string::npos ||
      out.find("\xE2\x80\xA9") != std::string::npos)
    fail("raw U+2028/U+2029 in writer output", out);
  const auto parsed = hmr::parse_json(out);
  if (!parsed)
    fail("writer output for a string rejected by the reader", out + "\n" + parsed.error().message);
  if (!parsed->is_string()) fail("writer output is not a string", out);
  bool valid = false;
  const std::string expected = reference_sanitize(input, valid);
  if (parsed->as_string() != expected) fail("decoded string differs from the sanitized input", out);
  if (valid && parsed->as_string() != input) fail("valid UTF-8 did not survive unchanged", out);
}

void check_numbers(const std::uint8_t* data, std::size_t size) {
  if (size < 8) return;
  double d;
  std::memcpy(&d, data, 8);
  std::string out;
  hmr::append_json_number(out, d);
  const auto parsed = hmr::parse_json(out);
  if (!parsed) fail("number output rejected", out);
  if (!std::isfinite(d)) {
    if (!parsed->is_null()) fail("non-finite double not written as null", out);
  } else {
    if (parsed->type() != hmr::json_type::floating)
      fail("double did not read back as a double", out);
    const double back = parsed->as_double();
    if (std::memcmp(&back, &d, 8) != 0) fail("double did not round-trip exactly", out);
  }
  std::int64_t n;
  std::memcpy(&n, data, 8);
  out.clear();
  hmr::append_json_number(out, n);
  const auto parsed_int = hmr::parse_json(out);
  if (!parsed_int || !parsed_int->is_integer() || parsed_int->as_int() != n)
    fail("int64 did not round-trip", out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input{reinterpret_cast<const char*>(data), size};
  check_parse_round_trip(input);
  check_string_value(input);
  check_numbers(data, size);
  return 0;
}
