#include <cmath>
#include <cstdint>
#include <hmr/detail/json_reader.hpp>
#include <hmr/detail/json_writer.hpp>
#include <hmr/detail/result.hpp>
#include <limits>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "hmr_catch.hpp"

namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;

std::string quoted(std::string_view s) {
  std::string out;
  hmr::append_json_string(out, s);
  return out;
}

template <class T>
std::string number_text(T n) {
  std::string out;
  hmr::append_json_number(out, n);
  return out;
}

// U+FFFD REPLACEMENT CHARACTER in UTF-8.
const std::string R = "\xEF\xBF\xBD";

struct escape_case {
  std::string input;
  std::string expected;  // without the surrounding quotes
};

struct accept_case {
  std::string input;
  std::string canonical;  // to_json of the parsed value
};

struct reject_case {
  std::string input;
  std::string message;
  std::size_t line;
  std::size_t column;
};

}  // namespace

TEST_CASE("json writer escapes every control character", "[json]") {
  const std::vector<std::string> expected = {
      "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007",
      "\\b",     "\\t",     "\\n",     "\\u000b", "\\f",     "\\r",     "\\u000e", "\\u000f",
      "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017",
      "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
  };
  for (int c = 0; c < 0x20; ++c) {
    CAPTURE(c);
    CHECK(quoted(std::string(1, static_cast<char>(c))) ==
          "\"" + expected[static_cast<std::size_t>(c)] + "\"");
  }
}

TEST_CASE("json writer escape table", "[json]") {
  const std::vector<escape_case> cases = {
      {"", ""},
      {"plain text", "plain text"},
      {"\"", "\\\""},
      {"\\", "\\\\"},
      {"a\"b\\c", "a\\\"b\\\\c"},
      {"/", "/"},
      {"\x7F", "\x7F"},  // DEL may stay raw
      {"tab\there", "tab\\there"},
      {"\r\n", "\\r\\n"},
      // U+2028 and U+2029 are escaped (safe in JavaScript); their neighbours are not.
      {"\xE2\x80\xA8", "\\u2028"},
      {"\xE2\x80\xA9", "\\u2029"},
      {"a\xE2\x80\xA8"
       "b\xE2\x80\xA9"
       "c",
       "a\\u2028b\\u2029c"},
      {"\xE2\x80\xA7", "\xE2\x80\xA7"},
      {"\xE2\x80\xAA", "\xE2\x80\xAA"},
      // Valid multi-byte UTF-8 passes through unchanged, including the boundaries.
      {"caf\xC3\xA9", "caf\xC3\xA9"},
      {"\xC2\x80", "\xC2\x80"},                  // U+0080
      {"\xDF\xBF", "\xDF\xBF"},                  // U+07FF
      {"\xE0\xA0\x80", "\xE0\xA0\x80"},          // U+0800
      {"\xE2\x82\xAC", "\xE2\x82\xAC"},          // U+20AC
      {"\xED\x9F\xBF", "\xED\x9F\xBF"},          // U+D7FF
      {"\xEE\x80\x80", "\xEE\x80\x80"},          // U+E000
      {"\xEF\xBF\xBF", "\xEF\xBF\xBF"},          // U+FFFF
      {"\xF0\x90\x80\x80", "\xF0\x90\x80\x80"},  // U+10000
      {"\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80"},  // U+1F600
      {"\xF4\x8F\xBF\xBF", "\xF4\x8F\xBF\xBF"},  // U+10FFFF
      // Invalid UTF-8: each maximal ill-formed subpart becomes one U+FFFD.
      {"\x80", R},  // lone continuation byte
      {"a\x80\xBF"
       "b",
       "a" + R + R + "b"},                                  // each stray continuation byte
      {"\xC0\xAF", R + R},                                  // overlong 2-byte ('/'): C0 never valid
      {"\xC1\xBF", R + R},                                  // overlong 2-byte
      {"\xE0\x80\xAF", R + R + R},                          // overlong 3-byte
      {"\xE0\x9F\xBF", R + R + R},                          // overlong 3-byte (U+07FF)
      {"\xF0\x80\x80\xAF", R + R + R + R},                  // overlong 4-byte
      {"\xF0\x8F\xBF\xBF", R + R + R + R},                  // overlong 4-byte (U+FFFF)
      {"\xED\xA0\x80", R + R + R},                          // encoded high surrogate U+D800
      {"\xED\xBF\xBF", R + R + R},                          // encoded low surrogate U+DFFF
      {"\xED\xA0\xBD\xED\xB8\x80", R + R + R + R + R + R},  // CESU-8 surrogate pair
      {"\xF4\x90\x80\x80", R + R + R + R},                  // U+110000
      {"\xF5\x80\x80\x80", R + R + R + R},                  // F5 never valid
      {"\xF8\x88\x80\x80\x80", R + R + R + R + R},          // old 5-byte form
      {"\xFE", R},
      {"\xFF\xFE", R + R},
      {"\xC3", R},  // truncated 2-byte at the end
      {"\xC3"
       "A",
       R + "A"},        // truncated 2-byte before ASCII
      {"\xE2\x82", R},  // truncated 3-byte: one U+FFFD
      {"\xE2\x82"
       "A",
       R + "A"},
      {"\xE2"
       "A",
       R + "A"},
      {"\xF0\x9F\x98", R},  // truncated 4-byte: one U+FFFD
      {"\xF0\x9F\x98"
       "A",
       R + "A"},
      {"\xF0\x9F", R},
      {"\xF0\x9F\x98\xE2\x82\xAC", R + "\xE2\x82\xAC"},  // truncated, then a valid sequence
      {"\xC3\"", R + "\\\""},                            // truncated before a quote
      {"\xE2\x82\n", R + "\\n"},                         // truncated before a control char
      // Unicode's own example of maximal subparts (The Unicode Standard, chapter 3).
      {"\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64",
       "a" + R + R + R + "b" + R + "c" + R + R + "d"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.input);
    CHECK(quoted(c.input) == "\"" + c.expected + "\"");
  }
}

TEST_CASE("json writer escapes at every position of the fast path", "[json]") {
  // The writer skips 8 plain bytes at a time: put each special byte at every offset of
  // a 19-byte string so that it falls at each position of a chunk and in the tail.
  const std::vector<escape_case> specials = {
      {"\x00"s, "\\u0000"},
      {"\x1F", "\\u001f"},
      {"\"", "\\\""},
      {"\\", "\\\\"},
      {"\x80", R},
      {"\x7F", "\x7F"},
      {"\xC3\xA9", "\xC3\xA9"},
      {"\xE2\x80\xA8", "\\u2028"},
      {"\n", "\\n"},
      {" ", " "},
  };
  for (const auto& special : specials) {
    for (std::size_t pos = 0; pos <= 18; ++pos) {
      const std::string input = std::string(pos, 'a') + special.input + std::string(18 - pos, 'b');
      CAPTURE(special.input, pos);
      CHECK(quoted(input) ==
            "\"" + std::string(pos, 'a') + special.expected + std::string(18 - pos, 'b') + "\"");
    }
  }
}

TEST_CASE("json writer formats numbers", "[json]") {
  CHECK(number_text(0) == "0");
  CHECK(number_text(-1) == "-1");
  CHECK(number_text(42u) == "42");
  CHECK(number_text(static_cast<short>(-7)) == "-7");
  CHECK(number_text(std::numeric_limits<std::int64_t>::min()) == "-9223372036854775808");
  CHECK(number_text(std::numeric_limits<std::int64_t>::max()) == "9223372036854775807");
  CHECK(number_text(std::numeric_limits<std::uint64_t>::max()) == "18446744073709551615");
  CHECK(number_text(0.1) == "0.1");
  CHECK(number_text(0.1 + 0.2) == "0.30000000000000004");
  CHECK(number_text(1e300) == "1e+300");
  CHECK(number_text(-1.5e-300) == "-1.5e-300");
  CHECK(number_text(5e-324) == "5e-324");
  CHECK(number_text(std::numeric_limits<double>::max()) == "1.7976931348623157e+308");
  CHECK(number_text(-0.0) == "-0.0");
  CHECK(number_text(0.0) == "0.0");
  CHECK(number_text(2.0) == "2.0");
  CHECK(number_text(123456789.0) == "123456789.0");
  CHECK(number_text(1e16) == "1e+16");
  CHECK(number_text(0.1f) == "0.1");
  CHECK(number_text(std::numeric_limits<double>::quiet_NaN()) == "null");
  CHECK(number_text(std::numeric_limits<double>::infinity()) == "null");
  CHECK(number_text(-std::numeric_limits<double>::infinity()) == "null");
  CHECK(number_text(std::numeric_limits<float>::quiet_NaN()) == "null");
}

TEST_CASE("json writer inserts commas and colons", "[json]") {
  std::string out;
  hmr::json_writer w{out};
  CHECK_FALSE(w.complete());
  w.begin_object();
  w.key("event");
  w.string("change");
  w.key("paths");
  w.begin_array();
  w.string("src/a.cpp");
  w.string("src/b.cpp");
  w.end_array();
  w.member("count", 2);
  w.member("elapsed", 1.5);
  w.member("cold", false);
  w.member("name", "literal");  // a string, not a bool
  w.member("none", nullptr);
  w.key("empty");
  w.begin_object();
  w.end_object();
  w.key("nested");
  w.begin_array();
  w.begin_array();
  w.end_array();
  w.begin_object();
  w.member("a", std::string{"b"});
  w.end_object();
  w.null();
  w.boolean(true);
  w.number(std::uint64_t{7});
  CHECK(w.depth() == 2);
  w.end_array();
  CHECK_FALSE(w.complete());
  w.end_object();
  CHECK(w.complete());
  CHECK(w.depth() == 0);
  CHECK(
      out ==
      R"({"event":"change","paths":["src/a.cpp","src/b.cpp"],"count":2,"elapsed":1.5,"cold":false,)"
      R"("name":"literal","none":null,"empty":{},"nested":[[],{"a":"b"},null,true,7]})");
}

TEST_CASE("json writer appends to existing text and writes scalars at top level", "[json]") {
  std::string out = "prefix ";
  hmr::json_writer w{out};
  w.string("x\ny");
  CHECK(w.complete());
  CHECK(out == "prefix \"x\\ny\"");

  std::string scalar;
  hmr::json_writer n{scalar};
  n.value(-3);
  CHECK(n.complete());
  CHECK(scalar == "-3");

  std::string keys;
  hmr::json_writer k{keys};
  k.begin_object();
  k.member("\xE2\x80\xA8q\"\x01\xFF", 1);
  k.end_object();
  CHECK(keys == "{\"\\u2028q\\\"\\u0001" + R + "\":1}");
}

TEST_CASE("json reader accepts valid JSON", "[json]") {
  const std::vector<accept_case> cases = {
      {"[]", "[]"},
      {"{}", "{}"},
      {" \t\r\n[ \t\r\n] \t\r\n", "[]"},
      {"{ \"a\" : 1 , \"b\" : [ ] }", R"({"a":1,"b":[]})"},
      {"{\"\":0}", R"({"":0})"},
      {"[1,-1,0,-0]", "[1,-1,0,0]"},
      {"[1.5,-2.25,0.001]", "[1.5,-2.25,0.001]"},
      {"[1E2,1e2,1e+2,1E-2,0e0]", "[100.0,100.0,100.0,0.01,0.0]"},
      {"[-0.0,1.0]", "[-0.0,1.0]"},
      {"9223372036854775807", "9223372036854775807"},
      {"-9223372036854775808", "-9223372036854775808"},
      {"9223372036854775808", "9223372036854775808.0"},
      {"-9223372036854775809", "-9223372036854775808.0"},
      {"1e-400", "0.0"},
      {"-1e-400", "-0.0"},
      {"0.0000000000000000000000000000000000000000000000001e-300", "0.0"},
      {"1.7976931348623157e308", "1.7976931348623157e+308"},
      {"123", "123"},
      {"true", "true"},
      {"false", "false"},
      {"null", "null"},
      {"\"x\"", "\"x\""},
      {R"(["\"\\\/\b\f\n\r\t"])", R"(["\"\\/\b\f\n\r\t"])"},
      {R"("\u0000")", R"("\u0000")"},
      {R"("\u0041\u00e9\u00E9\u20AC")", "\"A\xC3\xA9\xC3\xA9\xE2\x82\xAC\""},
      {R"("\uD83D\uDE00")", "\"\xF0\x9F\x98\x80\""},
      {R"("\udbff\udfff")", "\"\xF4\x8F\xBF\xBF\""},
      {R"("\u2028\u2029")", R"("\u2028\u2029")"},
      {"\"\xE2\x80\xA8\"", R"("\u2028")"},
      {"\"caf\xC3\xA9 \xF0\x9F\x98\x80\"", "\"caf\xC3\xA9 \xF0\x9F\x98\x80\""},
      {"\"del\x7F\"", "\"del\x7F\""},
      {"[[[]],{\"a\":{\"b\":{}}}]", R"([[[]],{"a":{"b":{}}}])"},
      {"{\"a\":[1,{\"b\":null}],\"c\":\"d\"}", R"({"a":[1,{"b":null}],"c":"d"})"},
      {"{\"b\":1,\"a\":2}", R"({"b":1,"a":2})"},  // document order is kept
      {"[123e65]", "[1.23e+67]"},
      {"[1E22]", "[1e+22]"},
      {"[0.5e-1]", "[0.05]"},
      {"1e-99999999999999999999", "0.0"},
      {"{\"a\":\"b\",\"a\\u0000\":\"c\"}", R"({"a":"b","a\u0000":"c"})"},  // not a duplicate
  };
  for (const auto& c : cases) {
    CAPTURE(c.input);
    const auto parsed = hmr::parse_json(c.input);
    REQUIRE(parsed.has_value());
    CHECK(hmr::to_json(*parsed) == c.canonical);
    const auto again = hmr::parse_json(hmr::to_json(*parsed));
    REQUIRE(again.has_value());
    CHECK(*again == *parsed);
  }
}

TEST_CASE("json reader rejects invalid JSON with the exact position", "[json]") {
  const std::vector<reject_case> cases = {
      {"", "empty input: expected a JSON value", 1, 1},
      {"  \n  ", "empty input: expected a JSON value", 2, 3},
      {"\xEF\xBB\xBF{}",
       "the file starts with a UTF-8 byte order mark, which JSON does not allow; save it without "
       "BOM",
       1, 1},
      // Trailing commas, comments, single quotes.
      {"[1,]", "trailing comma before ']'", 1, 3},
      {"[1 , ]", "trailing comma before ']'", 1, 4},
      {"{\"a\":1,}", "trailing comma before '}'", 1, 7},
      {"[1,,2]", "expected a value, found ','", 1, 4},
      {"[,1]", "expected a value, found ','", 1, 2},
      {"{,}", "expected a string key, found ','", 1, 2},
      {"[1 // note\n]", "comments are not allowed in JSON", 1, 4},
      {"/* note */ 1", "comments are not allowed in JSON", 1, 1},
      {"{\"a\":1 /* x */}", "comments are not allowed in JSON", 1, 8},
      {"[1] # x", "unexpected data after the JSON value, found '#'", 1, 5},
      {"['a']", "strings must use double quotes, not single quotes", 1, 2},
      {"{'a':1}", "strings must use double quotes, not single quotes", 1, 2},
      {"{a:1}", "object keys must be strings in double quotes", 1, 2},
      {"{1:1}", "object keys must be strings in double quotes", 1, 2},
      // Numbers.
      {"[01]", "leading zeros are not allowed in numbers", 1, 2},
      {"[-01]", "leading zeros are not allowed in numbers", 1, 3},
      {"[00]", "leading zeros are not allowed in numbers", 1, 2},
      {"[+1]", "a number cannot start with '+'", 1, 2},
      {"[.5]", "a number must have a digit before the decimal point", 1, 2},
      {"[-.5]", "expected a digit after '-', found '.'", 1, 3},
      {"[1.]", "expected a digit after the decimal point, found ']'", 1, 4},
      {"[1.e5]", "expected a digit after the decimal point, found 'e'", 1, 4},
      {"[1e]", "expected a digit in the exponent, found ']'", 1, 4},
      {"[1e+]", "expected a digit in the exponent, found ']'", 1, 5},
      {"1E", "expected a digit in the exponent, found end of input", 1, 3},
      {"[-]", "expected a digit after '-', found ']'", 1, 3},
      {"-", "expected a digit after '-', found end of input", 1, 2},
      {"[0x10]", "expected ',' or ']' after array element, found 'x'", 1, 3},
      {"[1.5.3]", "expected ',' or ']' after array element, found '.'", 1, 5},
      {"[2.e3]", "expected a digit after the decimal point, found 'e'", 1, 4},
      {"[0e]", "expected a digit in the exponent, found ']'", 1, 4},
      {"[1.2a-3]", "expected ',' or ']' after array element, found 'a'", 1, 5},
      {"[-1x]", "expected ',' or ']' after array element, found 'x'", 1, 4},
      {"1e99999999999999999999", "number 1e99999999999999999999 is too large for a double", 1, 1},
      {"[Inf]",
       "invalid literal 'Inf' (expected a string, number, object, array, true, false or null)", 1,
       2},
      {"[NaN]", "NaN and Infinity are not valid JSON numbers", 1, 2},
      {"Infinity", "NaN and Infinity are not valid JSON numbers", 1, 1},
      {"[-Infinity]", "NaN and Infinity are not valid JSON numbers", 1, 2},
      {"[1e400]", "number 1e400 is too large for a double", 1, 2},
      {"-1e309", "number -1e309 is too large for a double", 1, 1},
      // Literals.
      {"tru",
       "invalid literal 'tru' (expected a string, number, object, array, true, false or null)", 1,
       1},
      {"[True]",
       "invalid literal 'True' (expected a string, number, object, array, true, false or null)", 1,
       2},
      {"nulll",
       "invalid literal 'nulll' (expected a string, number, object, array, true, false or null)", 1,
       1},
      {"[undefined]",
       "invalid literal 'undefined' (expected a string, number, object, array, true, false or "
       "null)",
       1, 2},
      // Strings.
      {R"(["\x"])", "invalid escape '\\x' in string", 1, 3},
      {R"(["\U0041"])", "invalid escape '\\U' in string", 1, 3},
      {"[\"\\\xC3\xA9\"]", "invalid escape in string: '\\' followed by '\xC3\xA9'", 1, 3},
      {R"(["\u12"])", "invalid \\u escape: expected 4 hex digits after \\u", 1, 3},
      {R"(["\u12G4"])", "invalid \\u escape: expected 4 hex digits after \\u", 1, 3},
      {R"("\u00)", "invalid \\u escape: expected 4 hex digits after \\u", 1, 2},
      {R"(["\ud800"])",
       "unpaired surrogate \\ud800 in string (a high surrogate must be followed by a "
       "\\uDC00-\\uDFFF escape)",
       1, 3},
      {R"(["\uD800\u0041"])",
       "unpaired surrogate \\uD800 in string (a high surrogate must be followed by a "
       "\\uDC00-\\uDFFF escape)",
       1, 3},
      {R"(["\ud800\ud800"])",
       "unpaired surrogate \\ud800 in string (a high surrogate must be followed by a "
       "\\uDC00-\\uDFFF escape)",
       1, 3},
      {R"(["\ud800x"])",
       "unpaired surrogate \\ud800 in string (a high surrogate must be followed by a "
       "\\uDC00-\\uDFFF escape)",
       1, 3},
      {R"(["a\udc00"])",
       "unpaired surrogate \\udc00 in string (a low surrogate must follow a high surrogate)", 1, 4},
      {R"(["\a"])", "invalid escape '\\a' in string", 1, 3},
      {R"(["\uD834\uDd"])",
       "unpaired surrogate \\uD834 in string (a high surrogate must be followed by a "
       "\\uDC00-\\uDFFF escape)",
       1, 3},
      {"[\"a\tb\"]", "control character U+0009 must be escaped in a string (as \\t)", 1, 4},
      {"\"a\nb\"",
       "control character U+000A must be escaped in a string (as \\n; or is the closing '\"' "
       "missing?)",
       1, 3},
      {"\"\x01\"", "control character U+0001 must be escaped in a string (as \\u0001)", 1, 2},
      {"\"\x00\""s, "control character U+0000 must be escaped in a string (as \\u0000)", 1, 2},
      {"\"\x1F\"", "control character U+001F must be escaped in a string (as \\u001F)", 1, 2},
      {"[\"abc", "unterminated string (no closing '\"')", 1, 2},
      {"\"abc\\", "unterminated string (no closing '\"')", 1, 1},
      {"\"", "unterminated string (no closing '\"')", 1, 1},
      // Invalid UTF-8, inside and outside strings.
      {"\"\xFF\"", "invalid UTF-8: byte 0xFF never appears in UTF-8", 1, 2},
      {"\"ab\x80\"", "invalid UTF-8: unexpected continuation byte (byte 0x80)", 1, 4},
      {"\"\xC0\xAF\"", "invalid UTF-8: overlong encoding (byte 0xC0)", 1, 2},
      {"\"\xE0\x80\xAF\"", "invalid UTF-8: overlong encoding (byte 0xE0)", 1, 2},
      {"\"\xF0\x80\x80\xAF\"", "invalid UTF-8: overlong encoding (byte 0xF0)", 1, 2},
      {"\"\xED\xA0\x80\"", "invalid UTF-8: encoded surrogate (byte 0xED)", 1, 2},
      {"\"\xF4\x90\x80\x80\"", "invalid UTF-8: code point above U+10FFFF (byte 0xF4)", 1, 2},
      {"\"\xE2\x82\"", "invalid UTF-8: truncated sequence (byte 0xE2)", 1, 2},
      {"\"\xE2\x82", "invalid UTF-8: truncated sequence (byte 0xE2)", 1, 2},
      {"\"\xC3\xA9\xC3\"", "invalid UTF-8: truncated sequence (byte 0xC3)", 1, 3},
      {"{\"k\xFF\":1}", "invalid UTF-8: byte 0xFF never appears in UTF-8", 1, 4},
      {"[\xFF]", "expected a value, found invalid UTF-8 byte 0xFF", 1, 2},
      {"[1]\xC3\xA9", "unexpected data after the JSON value, found '\xC3\xA9'", 1, 4},
      {"[\x01]", "expected a value, found control character U+0001", 1, 2},
      {"[1]\x7F", "unexpected data after the JSON value, found control character U+007F", 1, 4},
      // Structure.
      {"[1] x", "unexpected data after the JSON value, found 'x'", 1, 5},
      {"{} {}", "unexpected data after the JSON value, found '{'", 1, 4},
      {"1 2", "unexpected data after the JSON value, found '2'", 1, 3},
      {"[][]", "unexpected data after the JSON value, found '['", 1, 3},
      {"[\"a\" \"b\"]", "expected ',' or ']' after array element, found '\"'", 1, 6},
      {"{\"a\":1}}", "unexpected data after the JSON value, found '}'", 1, 8},
      {"{\"a\":1 \"b\":2}", "expected ',' or '}' after object member, found '\"'", 1, 8},
      {"[1 2]", "expected ',' or ']' after array element, found '2'", 1, 4},
      {"[1}", "expected ',' or ']' after array element, found '}'", 1, 3},
      {"{\"a\":1]", "expected ',' or '}' after object member, found ']'", 1, 7},
      {"{\"a\" 1}", "expected ':' after object key, found '1'", 1, 6},
      {"{\"a\"}", "expected ':' after object key, found '}'", 1, 5},
      {"{\"a\":}", "expected a value, found '}'", 1, 6},
      {"]", "expected a value, found ']'", 1, 1},
      {"[", "expected a value, found end of input", 1, 2},
      {"[1,", "expected a value, found end of input", 1, 4},
      {"[1", "expected ',' or ']' after array element, found end of input", 1, 3},
      {"{", "expected a string key, found end of input", 1, 2},
      {"{\"a\":", "expected a value, found end of input", 1, 6},
      {"{\"a\":1", "expected ',' or '}' after object member, found end of input", 1, 7},
      {"{\"a\":1,\"a\":2}", "duplicate key \"a\"", 1, 8},
      {"{\"a\":1,\"\\u0061\":2}", "duplicate key \"a\"", 1, 8},
      {"{\"a\\n\":1,\"a\\n\":2}", "duplicate key \"a\\n\"", 1, 10},
      {"{\"a\":{\"b\":1},\"b\":2,\"a\":3}", "duplicate key \"a\"", 1, 20},
      // Positions: lines, CRLF, columns counted in characters.
      {"{\n  \"a\": 1,\n  \"b\" 2\n}", "expected ':' after object key, found '2'", 3, 7},
      {"{\r\n\"a\" 1}", "expected ':' after object key, found '1'", 2, 5},
      {"[1]\n\n  ]", "unexpected data after the JSON value, found ']'", 3, 3},
      {"[\"\xC3\xA9\xF0\x9F\x98\x80\",x]",
       "invalid literal 'x' (expected a string, number, object, array, true, false or null)", 1, 7},
      {"\"\xC3\xA9\n",
       "control character U+000A must be escaped in a string (as \\n; or is the closing '\"' "
       "missing?)",
       1, 3},
  };
  for (const auto& c : cases) {
    CAPTURE(c.input);
    const auto parsed = hmr::parse_json(c.input);
    REQUIRE_FALSE(parsed.has_value());
    CHECK(parsed.error().message == c.message);
    CHECK(parsed.error().line == c.line);
    CHECK(parsed.error().column == c.column);
  }
}

TEST_CASE("json reader error offsets are byte offsets", "[json]") {
  const auto parsed = hmr::parse_json("{\n\"\xC3\xA9\": x}");
  REQUIRE_FALSE(parsed.has_value());
  CHECK(parsed.error() ==
        hmr::error_info{
            "invalid literal 'x' (expected a string, number, object, array, true, false or null)",
            2, 6, 8});
  CHECK(hmr::to_string(parsed.error(), "hmr.json") ==
        "hmr.json:2:6: invalid literal 'x' (expected a string, number, object, array, true, false "
        "or null)");
}

TEST_CASE("json reader detects duplicate keys in large objects", "[json]") {
  for (std::size_t size : {31u, 32u, 33u, 100u}) {
    std::string text = "{";
    for (std::size_t i = 0; i < size; ++i)
      text += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
    const std::size_t column = text.size() + 1;
    CAPTURE(size);
    const auto ok = hmr::parse_json(text.substr(0, text.size() - 1) + "}");
    REQUIRE(ok.has_value());
    CHECK(ok->as_object().size() == size);
    CHECK(ok->get_int_or("k" + std::to_string(size - 1), -1) ==
          static_cast<std::int64_t>(size - 1));
    for (std::size_t dup : {std::size_t{0}, size / 2, size - 1}) {
      const auto bad = hmr::parse_json(text + "\"k" + std::to_string(dup) + "\":0}");
      REQUIRE_FALSE(bad.has_value());
      CHECK(bad.error().message == "duplicate key \"k" + std::to_string(dup) + "\"");
      CHECK(bad.error().column == column);
    }
  }
}

TEST_CASE("json reader limits nesting depth", "[json]") {
  const auto nested = [](std::size_t depth) {
    return std::string(depth, '[') + std::string(depth, ']');
  };
  CHECK(hmr::parse_json(nested(512)).has_value());
  const auto too_deep = hmr::parse_json(nested(513));
  REQUIRE_FALSE(too_deep.has_value());
  CHECK(too_deep.error().message == "nesting deeper than 512 levels");
  CHECK(too_deep.error().column == 513);

  // Hostile input far beyond the limit fails cleanly instead of overflowing the stack.
  const auto hostile = hmr::parse_json(std::string(1'000'000, '['));
  REQUIRE_FALSE(hostile.has_value());
  CHECK(hostile.error().column == 513);

  const hmr::json_read_options two{.max_depth = 2};
  CHECK(hmr::parse_json("[[1]]", two).has_value());
  CHECK(hmr::parse_json("{\"a\":[]}", two).has_value());
  const auto objects = hmr::parse_json(R"({"a":{"a":{}}})", two);
  REQUIRE_FALSE(objects.has_value());
  CHECK(objects.error().message == "nesting deeper than 2 levels");
  CHECK(objects.error().column == 11);
  CHECK(hmr::parse_json("1", hmr::json_read_options{.max_depth = 0}).has_value());
  CHECK_FALSE(hmr::parse_json("[]", hmr::json_read_options{.max_depth = 0}).has_value());
}

TEST_CASE("json values keep integer and floating numbers apart", "[json]") {
  const auto doc = hmr::parse_json("[1, 1.0, -0, 1e0, 10000000000000000000]");
  REQUIRE(doc.has_value());
  const auto& items = doc->as_array();
  REQUIRE(items.size() == 5);
  CHECK(items[0].type() == hmr::json_type::integer);
  CHECK(items[0].as_int() == 1);
  CHECK(items[1].type() == hmr::json_type::floating);
  CHECK(items[1].as_double() == 1.0);
  CHECK(items[2].type() == hmr::json_type::integer);
  CHECK(items[2].as_int() == 0);
  CHECK(items[3].type() == hmr::json_type::floating);
  CHECK(items[4].type() == hmr::json_type::floating);
  CHECK(items[4].as_double() == 1e19);
  CHECK_FALSE(items[0] == items[1]);
  CHECK(items[0].as_double() == 1.0);
  REQUIRE_THROWS_AS(items[1].as_int(), std::bad_variant_access);
}

TEST_CASE("json value accessors for configuration", "[json]") {
  const auto doc = hmr::parse_json(R"({
    "debounce_ms": 50,
    "ratio": 0.5,
    "cold": true,
    "build": ["cmake", "--build", "build"],
    "name": "server",
    "nothing": null
  })");
  REQUIRE(doc.has_value());
  CHECK(doc->is_object());
  CHECK(doc->type_name() == "object");
  CHECK(doc->get_int_or("debounce_ms", 100) == 50);
  CHECK(doc->get_int_or("missing", 100) == 100);
  CHECK(doc->get_int_or("ratio", 100) == 100);  // a double is not an integer
  CHECK(doc->get_double_or("ratio", 1.0) == 0.5);
  CHECK(doc->get_double_or("debounce_ms", 1.0) == 50.0);
  CHECK(doc->get_double_or("name", 1.0) == 1.0);
  CHECK(doc->get_bool_or("cold", false) == true);
  CHECK(doc->get_bool_or("name", false) == false);
  CHECK(doc->get_string_or("name", "x") == "server");
  CHECK(doc->get_string_or("cold", "x") == "x");
  CHECK(doc->get_string_or("missing", "fallback") == "fallback");

  const hmr::json_value* build = doc->find("build");
  REQUIRE(build != nullptr);
  REQUIRE(build->is_array());
  REQUIRE(build->as_array().size() == 3);
  CHECK(build->as_array()[1].as_string() == "--build");
  CHECK(build->find("x") == nullptr);  // not an object
  CHECK(doc->find("missing") == nullptr);

  const hmr::json_value* nothing = doc->find("nothing");
  REQUIRE(nothing != nullptr);
  CHECK(nothing->is_null());
  CHECK(nothing->type_name() == "null");
  CHECK(doc->find("ratio")->type_name() == "number");
  CHECK(doc->find("debounce_ms")->type_name() == "integer");
  CHECK(doc->find("debounce_ms")->is_number());
  CHECK(doc->find("name")->type_name() == "string");
  CHECK(doc->find("cold")->type_name() == "boolean");
  CHECK(build->type_name() == "array");
  REQUIRE_THROWS_AS(doc->find("name")->as_bool(), std::bad_variant_access);
  REQUIRE_THROWS_AS(doc->as_array(), std::bad_variant_access);
}

TEST_CASE("json DOM built by hand round-trips through the writer", "[json]") {
  const hmr::json_value doc{hmr::json_object{
      {"event", "reload"},
      {"ok", true},
      {"n", -3},
      {"big", std::numeric_limits<std::int64_t>::max()},
      {"ratio", 0.25},
      {"neg_zero", -0.0},
      {"text", std::string{"a\x00"
                           "b\xE2\x80\xA8",
                           6}},
      {"list", hmr::json_array{1, "two", nullptr, hmr::json_array{}, hmr::json_object{}}},
  }};
  const std::string text = hmr::to_json(doc);
  CHECK(
      text ==
      R"({"event":"reload","ok":true,"n":-3,"big":9223372036854775807,"ratio":0.25,"neg_zero":-0.0,)"
      R"("text":"a\u0000b\u2028","list":[1,"two",null,[],{}]})");
  const auto parsed = hmr::parse_json(text);
  REQUIRE(parsed.has_value());
  CHECK(*parsed == doc);
  CHECK(std::signbit(parsed->find("neg_zero")->as_double()));
  CHECK(hmr::to_json(*parsed) == text);
}

TEST_CASE("json writer output for invalid UTF-8 reads back as the replaced text", "[json]") {
  const std::string input = "ok \xC0\xAF \xED\xA0\x80 \xF0\x9F\x98 \xF0\x9F\x98\x80 \xFF";
  std::string out;
  hmr::json_writer w{out};
  w.string(input);
  const auto parsed = hmr::parse_json(out);
  REQUIRE(parsed.has_value());
  CHECK(parsed->as_string() ==
        "ok " + R + R + " " + R + R + R + " " + R + " \xF0\x9F\x98\x80 " + R);
}

TEST_CASE("json lines: one value per line", "[json]") {
  const auto plain = hmr::parse_json_line(R"({"cmd":"reload"})");
  REQUIRE(plain.has_value());
  CHECK(plain->get_string_or("cmd", "") == "reload");
  CHECK(hmr::parse_json_line("{\"a\":1}\n").has_value());
  CHECK(hmr::parse_json_line("{\"a\":1}\r\n").has_value());
  CHECK(hmr::parse_json_line("  [1] \n").has_value());

  const auto blank = hmr::parse_json_line("\n");
  REQUIRE_FALSE(blank.has_value());
  CHECK(blank.error().message == "empty input: expected a JSON value");

  const auto split = hmr::parse_json_line("{\"a\":\n1}\n");
  REQUIRE_FALSE(split.has_value());
  CHECK(split.error() ==
        hmr::error_info{"a line of line-delimited JSON must not contain a line break", 1, 6, 5});

  const auto two = hmr::parse_json_line("1\n2\n");
  REQUIRE_FALSE(two.has_value());
  CHECK(two.error().column == 2);

  const auto bad = hmr::parse_json_line("{\"a\" 1}\n");
  REQUIRE_FALSE(bad.has_value());
  CHECK(hmr::to_string(bad.error()) == "1:6: expected ':' after object key, found '1'");
}

TEST_CASE("result holds a value or an error", "[json]") {
  hmr::result<int> ok{42};
  CHECK(ok.has_value());
  CHECK(static_cast<bool>(ok));
  CHECK(ok.value() == 42);
  CHECK(*ok == 42);
  REQUIRE_THROWS_AS(ok.error(), std::bad_variant_access);

  const hmr::result<std::string> text{std::string{"abc"}};
  CHECK(text->size() == 3);

  hmr::result<int> failed{hmr::error_info{"port out of range", 2, 5, 17}};
  CHECK_FALSE(failed.has_value());
  CHECK_FALSE(static_cast<bool>(failed));
  CHECK(failed.error().message == "port out of range");
  REQUIRE_THROWS_AS(failed.value(), std::bad_variant_access);

  hmr::result<std::vector<int>> moved{std::vector<int>{1, 2}};
  const std::vector<int> taken = std::move(moved).value();
  CHECK(taken.size() == 2);

  const hmr::result<void> done;
  CHECK(done.has_value());
  const hmr::result<void> refused{hmr::error_info{"refused"}};
  CHECK_FALSE(refused.has_value());
  CHECK(refused.error().message == "refused");
}

TEST_CASE("error_info formats like a compiler diagnostic", "[json]") {
  const hmr::error_info positioned{"expected ',' or '}' after object member", 3, 14, 40};
  CHECK(hmr::to_string(positioned, "hmr.json") ==
        "hmr.json:3:14: expected ',' or '}' after object member");
  CHECK(hmr::to_string(positioned) == "3:14: expected ',' or '}' after object member");
  const hmr::error_info whole{"file is empty"};
  CHECK(hmr::to_string(whole, "hmr.json") == "hmr.json: file is empty");
  CHECK(hmr::to_string(whole) == "file is empty");
}
