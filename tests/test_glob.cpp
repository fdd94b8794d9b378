#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "hmr/glob.hpp"
#include "hmr_catch.hpp"

namespace {

struct row {
  std::string_view pattern;
  std::string_view path;
  bool expected;
};

void check_table(const std::vector<row>& rows, hmr::glob_options opts = {}) {
  for (const auto& r : rows) {
    INFO("pattern \"" << r.pattern << "\" path \"" << r.path << "\"");
    const hmr::glob g(r.pattern, opts);
    CHECK(g.matches(r.path) == r.expected);
  }
}

std::string what_of(std::string_view pattern, hmr::glob_options opts = {}) {
  try {
    hmr::glob g(pattern, opts);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no exception)";
}

}  // namespace

TEST_CASE("glob: literals, empty paths and trailing slashes") {
  check_table({
      {"a", "a", true},
      {"a", "b", false},
      {"a", "", false},
      {"a", "A", false},  // case-sensitive
      {"a/b", "a/b", true},
      {"a/b", "a/b/c", false},
      {"a/b", "a", false},
      {"a", "a/", false},
      {"a/", "a/", true},
      {"a/", "a", false},
      {"", "", true},
      {"", "a", false},
      {"", "/", false},
      {"main.cpp", "src/main.cpp", false},  // exact: no basename matching by default
      {"a,b", "a,b", true},                 // `,` and `}` outside braces are literal
      {"}", "}", true},
      {"]", "]", true},
      {"a]", "a]", true},
      {"../x", "../x", true},
  });
}

TEST_CASE("glob: star stays inside one segment") {
  check_table({
      {"*", "", true},
      {"*", "a", true},
      {"*", ".hidden", true},  // a leading dot is not special
      {"*", ".", true},
      {"*", "..", true},
      {"*", "a/b", false},
      {"*", "/", false},
      {"*.cpp", "main.cpp", true},
      {"*.cpp", ".cpp", true},
      {"*.cpp", "main.cpp.bak", false},
      {"*.cpp", "src/main.cpp", false},
      {".*", ".git", true},
      {".*", "git", false},
      {"*.", "a.", true},
      {"a*b", "ab", true},
      {"a*b", "axxb", true},
      {"a*b", "a/b", false},
      {"a*b*c", "abc", true},
      {"a*b*c", "abxbyc", true},
      {"a*b*c", "acb", false},
      {"src/*", "src/main.cpp", true},
      {"src/*", "src/", true},  // `*` matches the empty last segment
      {"src/*", "src", false},
      {"src/*", "src/a/b", false},
      {"*/*", "a/b", true},
      {"*/*", "a", false},
      {"*/", "a/", true},
      {"*/", "a", false},
      {"*a*a*a*a*a*a*a*a*b",
       std::string_view("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), false},
      {"*a*a*a*a*a*a*a*a*b",
       std::string_view("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"), true},
  });
}

TEST_CASE("glob: question mark is one byte other than slash") {
  check_table({
      {"?", "a", true},
      {"?", "", false},
      {"?", "ab", false},
      {"?", "/", false},
      {"a?c", "abc", true},
      {"a?c", "a/c", false},
      {"??", "ab", true},
      {"??", "a", false},
      {"?.c", ".c", false},
      {"?.c", "a.c", true},
      {"?", "\xc3\xa9", false},  // byte-wise: "é" is two bytes
      {"??", "\xc3\xa9", true},
  });
}

TEST_CASE("glob: ** as a whole segment spans segments") {
  check_table({
      {"**", "", true},
      {"**", "a", true},
      {"**", "a/b/c", true},
      {"**", "a/", true},
      {"**", ".git/HEAD", true},
      {"***", "a/b", true},  // any run of two or more stars forming a segment
      {"**/a", "a", true},   // ** at the start: zero or more segments
      {"**/a", "x/a", true},
      {"**/a", "x/y/a", true},
      {"**/a", "xa", false},
      {"**/a", "a/x", false},
      {"**/*.cpp", "main.cpp", true},
      {"**/*.cpp", "src/net/http.cpp", true},
      {"**/*.cpp", "src/net/http.hpp", false},
      {"a/**", "a", false},  // ** at the end: at least one more segment
      {"a/**", "a/", true},
      {"a/**", "a/b", true},
      {"a/**", "a/b/c", true},
      {"a/**", "ab/c", false},
      {"a/**", "b/a/c", false},
      {"*/**", "ab", false},  // decided by the segment count, not by length
      {"*/**", "ab/", true},
      {"[ab]/**", "a", false},
      {"*/**/*/*", "a/b", false},  // head and tail may not share a segment
      {"*/**/*/*", "a/b/c", true},
      {"*/**/*/**", "ab", false},  // the head used every segment
      {"*/**/*/**", "a/b/", true},
      {"*/**/*/**", "a/b", false},
      {"a/**/b", "a/b", true},  // ** in the middle: zero or more segments
      {"a/**/b", "a/x/b", true},
      {"a/**/b", "a/x/y/b", true},
      {"a/**/b", "a/xb", false},
      {"a/**/b", "ab", false},
      {"a/**/b", "a/b/c", false},
      {"a/**/b", "x/a/b", false},
      {"a/**/b/**/c", "a/b/c", true},
      {"a/**/b/**/c", "a/x/b/y/z/c", true},
      {"a/**/b/**/c", "a/b/b/c", true},
      {"a/**/b/**/c", "a/c", false},
      {"a/**/b/**/c", "a/b/x", false},
      {"a/**/**/b", "a/b", true},
      {"**/**", "a", true},
      {"**/b/**", "a/b/c", true},
      {"**/b/**", "b/", true},
      {"**/b/**", "b", false},
      {"**/x/y", "a/x/y", true},
      {"**/x/y", "x/y", true},
      {"**/x/y", "x/a/y", false},
      {"**/**/**/**/**/**/**/**/**/**/x", "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/y", false},
      {"**/a/**/a/**/a/**/a/**/b", "a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a",
       false},
      {"**/a/**/a/**/a/**/a/**/b", "a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/b", true},
  });
}

TEST_CASE("glob: ** that is not a whole segment is a single star") {
  check_table({
      {"a**b", "ab", true},
      {"a**b", "axyb", true},
      {"a**b", "a/b", false},
      {"**b", "ab", true},
      {"**b", "x/ab", false},
      {"b**", "b/c", false},
      {"a/**b", "a/xb", true},
      {"a/**b", "a/x/b", false},
      {"**.cpp", "src/a.cpp", false},
  });
}

TEST_CASE("glob: character classes") {
  check_table({
      {"[abc]", "b", true},
      {"[abc]", "d", false},
      {"[abc]", "", false},
      {"[a-z]", "m", true},
      {"[a-z]", "M", false},
      {"[a-cx-z]", "y", true},
      {"[a-cx-z]", "m", false},
      {"[!a-z]", "M", true},
      {"[!a-z]", "m", false},
      {"[^a-z]", "M", true},
      {"[^a-z]", "m", false},
      {"[]]", "]", true},
      {"[]a]", "a", true},
      {"[]a]", "b", false},
      {"[!]]", "]", false},
      {"[!]]", "a", true},
      {"[a-]", "-", true},
      {"[a-]", "b", false},
      {"[-a]", "-", true},
      {"[!a]", "/", false},  // classes never match `/`, negated or not
      {"a[/]b", "a/b", false},
      {"a[!x]b", "a/b", false},
      {"[.]", ".", true},
      {"x[z-a]", "xz", true},  // a reversed range matches only its first character, as in git
      {"x[z-a]", "xa", false},
      {"x[z-a]", "xm", false},
      {"[[:digit:]]", "7", true},
      {"[[:digit:]]", "x", false},
      {"[[:alpha:][:digit:]_]*", "_x1", true},
      {"[[:upper:]]", "a", false},
      {"[[:xdigit:]]", "F", true},
      {"[![:space:]]", "a", true},
      {"[![:space:]]", " ", false},
      {"[[:punct:]]", "/", false},
      {"[[:punct:]]", "-", true},
      {"[\\]]", "]", true},  // escapes work inside classes
      {"[a\\-z]", "-", true},
      {"[a\\-z]", "b", false},
      {"[[]", "[", true},
      {"[[:]", ":", true},  // `[:` without a closing `:]` is two ordinary members
      {"[[:]", "[", true},
      {"*[0-9].log", "app7.log", true},
      {"*[0-9].log", "app.log", false},
  });
}

TEST_CASE("glob: brace alternatives") {
  check_table({
      {"*.{cpp,hpp}", "a.cpp", true},
      {"*.{cpp,hpp}", "a.hpp", true},
      {"*.{cpp,hpp}", "a.h", false},
      {"*.{cpp,hpp}", "a.{cpp,hpp}", false},
      {"{a,b/c}/d", "b/c/d", true},  // alternatives may contain `/`
      {"{a,b/c}/d", "a/d", true},
      {"{a,b/c}/d", "b/d", false},
      {"{a,{b,c}}", "c", true},  // nested
      {"{a,{b,c}}", "{b,c}", false},
      {"{a,x{1,2}y}z", "x2yz", true},
      {"x{,.bak}", "x", true},  // an empty alternative
      {"x{,.bak}", "x.bak", true},
      {"x{,.bak}", "x.", false},
      {"{}", "", true},
      {"{}", "{}", false},
      {"{src/**/,}*.c", "src/x/y.c", true},
      {"{src/**/,}*.c", "y.c", true},
      {"{src/**/,}*.c", "lib/y.c", false},
      {"{**/,}x", "a/b/x", true},  // `**` formed by expansion is a whole segment
      {"{a,b}}", "a}", true},
      {"{[},]}", "}", true},  // a class inside braces keeps its `,` and `}`
      {"{[},]}", ",", true},
      {"{\\,,x}", ",", true},
      {"{a,b}/{c,d}/{e,f}", "b/c/f", true},
  });
}

TEST_CASE("glob: backslash escapes") {
  check_table({
      {"\\*", "*", true},
      {"\\*", "a", false},
      {"\\?", "?", true},
      {"\\?", "a", false},
      {"\\[a]", "[a]", true},
      {"\\[a]", "a", false},
      {"\\{a,b\\}", "{a,b}", true},
      {"\\a", "a", true},
      {"\\\\", "\\", true},
      {"a\\/b", "a/b", true},  // an escaped `/` still separates segments
      {"\\**", "*x", true},
      {"\\**", "x", false},
      {"\\#x", "#x", true},
  });
}

TEST_CASE("glob: match_basename applies to alternatives without a slash") {
  const hmr::glob_options basename{.match_basename = true};
  check_table(
      {
          {"*.o", "c.o", true},
          {"*.o", "a/b/c.o", true},
          {"*.o", "a/b/c.oo", false},
          {"build", "x/build", true},
          {"build", "build/x", false},  // the glob sees the last segment only; filters add parents
          {"a/b", "a/b", true},
          {"a/b", "x/a/b", false},  // has a slash: anchored as written
          {"{*.o,lib/*.a}", "x/y.o", true},
          {"{*.o,lib/*.a}", "lib/z.a", true},
          {"{*.o,lib/*.a}", "x/lib/z.a", false},
          {"**", "a/b", true},
          {"", "", true},
          {"", "a/", true},
          {"", "a", false},
      },
      basename);
}

TEST_CASE("glob: braces can be turned off") {
  const hmr::glob_options literal_braces{.braces = false};
  check_table(
      {
          {"{a,b}", "a", false},
          {"{a,b}", "{a,b}", true},
          {"{a", "{a", true},
          {"*.{c}", "x.{c}", true},
      },
      literal_braces);
}

TEST_CASE("glob: malformed patterns throw invalid_argument naming pattern and position") {
  CHECK(what_of("a/[bc") == "hmr::glob: unclosed '[' at position 2 in pattern \"a/[bc\"");
  CHECK(what_of("x{a,b") == "hmr::glob: unclosed '{' at position 1 in pattern \"x{a,b\"");
  CHECK(what_of("a\\") == "hmr::glob: trailing '\\' at position 1 in pattern \"a\\\"");
  CHECK(what_of("[[:foo:]]") ==
        "hmr::glob: unknown character class \"[:foo:]\" at position 1 in pattern \"[[:foo:]]\"");
  CHECK(what_of("{a,{b,c}") == "hmr::glob: unclosed '{' at position 0 in pattern \"{a,{b,c}\"");
  for (std::string_view bad :
       {"[", "[abc", "a[!", "[]", "[!]", "[a\\", "{", "{a,b", "a{b{c}", "\\", "[[::]]"}) {
    INFO("pattern \"" << bad << "\"");
    REQUIRE_THROWS_AS(hmr::glob(bad), std::invalid_argument);
  }
  // Braces nested deeper than 32, or more than 1024 alternatives.
  REQUIRE_THROWS_AS(hmr::glob(std::string(33, '{') + std::string(33, '}')), std::invalid_argument);
  REQUIRE_NOTHROW(hmr::glob(std::string(32, '{') + std::string(32, '}')));
  std::string many;
  for (int i = 0; i < 10; ++i) many += "{a,b}";
  REQUIRE_NOTHROW(hmr::glob(many));  // 2^10 = 1024
  REQUIRE_THROWS_AS(hmr::glob(many + "{a,b}"), std::invalid_argument);
  CHECK(what_of(many + "{a,b}") ==
        "hmr::glob: too many alternatives at position 50 in pattern \"" + many + "{a,b}\"");
  // Without braces, `{` cannot be unclosed.
  REQUIRE_NOTHROW(hmr::glob("{a", {.braces = false}));
}

TEST_CASE("glob: accessors") {
  const hmr::glob g("src/*.{c,h}", {.match_basename = true});
  CHECK(g.pattern() == "src/*.{c,h}");
  CHECK(g.opts().match_basename);
  CHECK(g.alternative_count() == 2);
  CHECK_FALSE(g.is_literal());
  CHECK(hmr::glob("docs/README.md").is_literal());
  CHECK_FALSE(hmr::glob("docs/*.md").is_literal());
  CHECK(hmr::glob("{a,b}").alternative_count() == 2);
  CHECK_FALSE(hmr::glob("{a,b}").is_literal());
}

TEST_CASE("glob_set: finds the lowest-index matching glob") {
  const hmr::glob_set set{"**/*.cpp",      "src/**/*.{h,hpp}", "build/**", "*.swp",
                          "**/test_*.cpp", "docs/*.md",        "**"};
  CHECK(set.size() == 7);
  CHECK(set[2].pattern() == "build/**");
  struct expect {
    std::string_view path;
    std::optional<std::size_t> index;
  };
  const std::vector<expect> rows{
      {"src/a.cpp", 0},
      {"tests/test_x.cpp", 0},  // 4 matches too, 0 is lower
      {"src/net/a.hpp", 1},
      {"src/a.h", 1},
      {"build/CMakeCache.txt", 2},
      {"a.swp", 3},
      {"docs/x.md", 5},
      {"docs/a/x.md", 6},
      {"", 6},
      {"README", 6},
  };
  for (const auto& r : rows) {
    INFO("path \"" << r.path << "\"");
    CHECK(set.find(r.path) == r.index);
    CHECK(set.matches(r.path) == r.index.has_value());
  }
}

TEST_CASE("glob_set: empty set and prefilter buckets agree with single globs") {
  const hmr::glob_set empty;
  CHECK(empty.empty());
  CHECK_FALSE(empty.matches(""));
  CHECK(empty.find("a") == std::nullopt);

  // Patterns landing in each bucket (suffix, prefix, neither) and odd ones.
  const std::vector<std::string> patterns{"*.c", "lib/*",   "*", "a/**/b", "**/x/**", "[ab]*[cd]",
                                          "",    "{x,y/z}", "?", "**/",    "q"};
  const hmr::glob_set set(patterns);
  std::vector<hmr::glob> singles;
  for (const auto& p : patterns) singles.emplace_back(p);
  for (std::string_view path : {"", "a.c", "lib/a.c", "lib/x", "x", "y/z", "a/b", "a/q/b", "m/x/n",
                                "bd", "ac/bd", "q", "qq/", "z/q", "lib", "lib/"}) {
    std::optional<std::size_t> expected;
    for (std::size_t i = 0; i < singles.size() && !expected; ++i) {
      if (singles[i].matches(path)) expected = i;
    }
    INFO("path \"" << path << "\"");
    CHECK(set.find(path) == expected);
  }
}

TEST_CASE("glob_set: add and options") {
  hmr::glob_set set;
  set.add("*.o", {.match_basename = true});
  set.add(hmr::glob("docs/**"));
  CHECK(set.size() == 2);
  CHECK(set.find("a/b/c.o") == std::optional<std::size_t>{0});
  CHECK(set.find("docs/x/c.o") == std::optional<std::size_t>{0});
  CHECK(set.find("docs/x/c.txt") == std::optional<std::size_t>{1});
  CHECK(set.find("c.txt") == std::nullopt);
  REQUIRE_THROWS_AS(set.add("[x"), std::invalid_argument);
  CHECK(set.size() == 2);
}

TEST_CASE("glob: regression cases from fuzzing") {
  // (filled in by fuzzing findings, see tests/fuzz/fuzz_glob.cpp)
  check_table({
      {"**/", "a/", true},
      {"**/", "a", false},
      {"/**", "/a", true},
      {"/**", "/", true},
      {"/", "/", true},
  });
}
