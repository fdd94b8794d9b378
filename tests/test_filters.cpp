#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hmr/filters.hpp"
#include "hmr/gitignore.hpp"
#include "hmr_catch.hpp"

// Every filter, and every composition of filters, is a path_filter.
static_assert(hmr::path_filter<hmr::ignore_segments>);
static_assert(hmr::path_filter<hmr::include_globs>);
static_assert(hmr::path_filter<hmr::exclude_globs>);
static_assert(hmr::path_filter<hmr::default_ignores>);
static_assert(hmr::path_filter<hmr::gitignore>);
static_assert(hmr::path_filter<hmr::any_filter>);
static_assert(
    hmr::path_filter<decltype(hmr::ignore_segments{".git"} | hmr::include_globs{"*.cpp"})>);
static_assert(hmr::path_filter<decltype(hmr::ignore_segments{".git"} | hmr::include_globs{"*.cpp"} |
                                        hmr::gitignore{} | hmr::exclude_globs{"x"} |
                                        hmr::default_ignores())>);
static_assert(hmr::path_filter<decltype(hmr::any_filter{} | hmr::exclude_globs{"x"})>);
static_assert(!hmr::path_filter<int>);
static_assert(!hmr::path_filter<std::string>);
// keep() is noexcept for the library's filters, and stays so through composition.
static_assert(noexcept(std::declval<const hmr::exclude_globs&>().keep("", false)));
using example_chain = decltype(hmr::ignore_segments{"a"} | hmr::include_globs{"b"} |
                               hmr::gitignore{});
static_assert(noexcept(std::declval<const example_chain&>().keep("", false)));

namespace {

struct row {
  std::string_view path;
  bool is_directory;
  bool kept;
};

template <class F>
void check_keep(const F& filter, const std::vector<row>& rows) {
  for (const auto& r : rows) {
    INFO("path \"" << r.path << "\" (" << (r.is_directory ? "directory" : "file") << ")");
    CHECK(filter.keep(r.path, r.is_directory) == r.kept);
    CHECK(filter.explain(r.path, r.is_directory).kept == r.kept);  // explain agrees with keep
  }
}

struct text_row {
  std::string_view path;
  bool is_directory;
  std::string_view description;
};

template <class F>
void check_explain(const F& filter, const std::vector<text_row>& rows) {
  for (const auto& r : rows) {
    INFO("path \"" << r.path << "\"");
    CHECK(filter.explain(r.path, r.is_directory).describe() == r.description);
  }
}

}  // namespace

TEST_CASE("filter_verdict: describe") {
  const hmr::filter_verdict dropped{false, "build/a.o", "exclude_globs",
                                    "exclude glob \"build/**\"", true};
  CHECK(dropped.describe() == "\"build/a.o\" dropped: exclude glob \"build/**\"");
  const hmr::filter_verdict kept{true, "src/a.cpp", "include_globs",
                                 "matched include glob \"**/*.cpp\"", true};
  CHECK(kept.describe() == "\"src/a.cpp\" kept: matched include glob \"**/*.cpp\"");
}

TEST_CASE("ignore_segments: any segment equal to a name") {
  const hmr::ignore_segments f{".git", "build"};
  check_keep(f, {
                    {".git", true, false},
                    {".git/HEAD", false, false},
                    {"sub/.git/HEAD", false, false},
                    {"build", true, false},
                    {"a/build/b/c.o", false, false},
                    {"a/build", false, false},  // a file named build too: names are names
                    {"builder/x.cpp", false, true},
                    {"src/build.cpp", false, true},
                    {"x.git", false, true},
                    {"", true, true},
                    {"src/main.cpp", false, true},
                });
  check_explain(
      f, {
             {"a/build/b.o", false, "\"a/build/b.o\" dropped: ignored segment \"build\""},
             {"src/a.cpp", false, "\"src/a.cpp\" kept: no ignored segment (ignored: .git, build)"},
         });
  const auto v = f.explain(".git/x", false);
  CHECK(v.filter == "ignore_segments");
  CHECK(v.matched);
  CHECK(f.names() == std::vector<std::string>{".git", "build"});

  const std::vector<std::string> names{"node_modules"};
  const hmr::ignore_segments from_range{names};
  CHECK_FALSE(from_range.keep("web/node_modules/x.js", false));
  REQUIRE_THROWS_AS(hmr::ignore_segments({"a/b"}), std::invalid_argument);
  const hmr::ignore_segments empty_name{""};
  CHECK_FALSE(empty_name.keep("a//b", false));  // an empty name matches an empty segment
  CHECK(empty_name.keep("a/b", false));
}

TEST_CASE("include_globs: files must match, directories always pass") {
  const hmr::include_globs f{"**/*.cpp", "*.hpp", "/tools/*.py", "assets", "gen/"};
  check_keep(f,
             {
                 {"main.cpp", false, true},
                 {"src/net/http.cpp", false, true},
                 {"include/hmr/glob.hpp", false, true},  // no slash: basename at any depth
                 {"tools/run.py", false, true},          // leading slash: anchored at the root
                 {"src/tools/run.py", false, false},
                 {"assets/img/logo.png", false, true},  // a glob matching a parent covers its files
                 {"x/assets/a.bin", false, true},
                 {"gen/a.txt", false, true},  // directory-only glob, matched by the parent
                 {"gen", false, false},       // ... but not by a file named gen
                 {"README.md", false, false},
                 {"src/main.c", false, false},
                 {"src", true, true},  // directories are never dropped by include globs
                 {"docs", true, true},
                 {"", true, true},
             });
  check_explain(
      f,
      {
          {"src/a.cpp", false, "\"src/a.cpp\" kept: matched include glob \"**/*.cpp\""},
          {"assets/a.png", false,
           "\"assets/a.png\" kept: matched include glob \"assets\" on parent directory \"assets\""},
          {"README.md", false,
           "\"README.md\" dropped: no include glob matched (include globs: **/*.cpp, *.hpp, "
           "/tools/*.py, assets, gen/)"},
          {"docs", true, "\"docs\" kept: a directory (include globs never drop directories)"},
      });
  CHECK(f.patterns().size() == 5);

  const hmr::include_globs none{};
  check_keep(none, {{"anything/at/all.txt", false, true}, {"d", true, true}});
  check_explain(none, {{"x", false, "\"x\" kept: no include globs (everything is included)"}});
  REQUIRE_THROWS_AS(hmr::include_globs({"[bad"}), std::invalid_argument);
}

TEST_CASE("exclude_globs: matches drop the path and everything below a matching directory") {
  const hmr::exclude_globs f{"build/**", "out", "gen/", "*.tmp", "/docs/*.md", "**/cache/*.bin"};
  check_keep(f, {
                    {"build/a.o", false, false},
                    {"build/x/y.o", false, false},
                    {"build", true, true},          // "build/**" needs something below build
                    {"out", true, false},           // a directory matching is dropped ...
                    {"out/bin/app", false, false},  // ... with everything below it
                    {"src/out/x", false, false},    // no slash: at any depth
                    {"gen", true, false},
                    {"gen", false, true},  // "gen/" is for directories only
                    {"x/gen/a.c", false, false},
                    {"a.tmp", false, false},
                    {"src/a.tmp", false, false},
                    {"a.tmp.cpp", false, true},
                    {"docs/a.md", false, false},
                    {"src/docs/a.md", false, true},  // anchored
                    {"docs/sub/a.md", false, true},
                    {"a/b/cache/x.bin", false, false},
                    {"src/main.cpp", false, true},
                    {"src", true, true},
                });
  check_explain(f,
                {
                    {"build/a.o", false, "\"build/a.o\" dropped: exclude glob \"build/**\""},
                    {"out/bin/app", false,
                     "\"out/bin/app\" dropped: exclude glob \"out\" on parent directory \"out\""},
                    {"x/gen/a.c", false,
                     "\"x/gen/a.c\" dropped: exclude glob \"gen/\" on parent directory \"x/gen\""},
                    {"src/main.cpp", false, "\"src/main.cpp\" kept: no exclude glob matched"},
                });
  // The shallowest match is reported, and among globs the first.
  const hmr::exclude_globs two{"*.o", "a"};
  check_explain(
      two, {{"a/b.o", false, "\"a/b.o\" dropped: exclude glob \"a\" on parent directory \"a\""},
            {"b.o", false, "\"b.o\" dropped: exclude glob \"*.o\""}});
  const std::vector<std::string> from_flags{"*.log"};
  CHECK_FALSE(hmr::exclude_globs{from_flags}.keep("x/y.log", false));
}

TEST_CASE("default_ignores: VCS, build output, dependencies, editor temporaries") {
  const auto f = hmr::default_ignores();
  check_keep(f, {
                    {".git", true, false},
                    {".git", false, false},  // a worktree's .git file
                    {".git/index.lock", false, false},
                    {"sub/.hg/store", false, false},
                    {".svn", true, false},
                    {".jj/repo", false, false},
                    {"build", true, false},
                    {"build/CMakeCache.txt", false, false},
                    {"examples/x/build/a.o", false, false},
                    {"build", false, true},  // a file (a script) named build is a source
                    {"cmake-build-debug/app", false, false},
                    {"builddir/build.ninja", false, false},
                    {"out/build/x64-Debug/app.exe", false, false},
                    {"CMakeFiles/x.dir/a.o", false, false},
                    {".cache/clangd/index/a.idx", false, false},
                    {"web/node_modules/lodash/index.js", false, false},
                    {"tools/__pycache__/gen.cpython-311.pyc", false, false},
                    {".idea/workspace.xml", false, false},
                    {"src/.main.cpp.swp", false, false},
                    {"src/.main.cpp.swx", false, false},
                    {"main.cpp~", false, false},
                    {"src/4913", false, false},
                    {"src/.#main.cpp", false, false},
                    {"src/#main.cpp#", false, false},
                    {"src/main.cpp___jb_tmp___", false, false},
                    {"src/main.cpp___jb_old___", false, false},
                    {".DS_Store", false, false},
                    {"src/x.tmp", false, false},
                    {"src/main.cpp", false, true},
                    {"src/build.cpp", false, true},
                    {"builder/a.cpp", false, true},
                    {"output/a.txt", false, true},
                    {"src/out.cpp", false, true},
                    {"src/main.cpp.swap", false, true},
                    {"src", true, true},
                    {".github/workflows/ci.yml", false, true},
                    {".gitignore", false, true},
                    {".clang-format", false, true},
                });
  check_explain(
      f, {
             {"src/.a.cpp.swp", false,
              "\"src/.a.cpp.swp\" dropped: default ignore \"*.swp\" (vim swap file); pass "
              "--no-default-ignores to watch it"},
             {"build/a.o", false,
              "\"build/a.o\" dropped: default ignore \"build/\" (build output directory) on parent "
              "directory \"build\"; pass --no-default-ignores to watch it"},
             {"src/a.cpp", false, "\"src/a.cpp\" kept: no default ignore matched"},
         });
  CHECK(f.explain(".git/HEAD", false).filter == "default_ignores");
}

TEST_CASE("composition: every filter must keep; the first that drops is the reason") {
  const auto f = hmr::ignore_segments{".git"} | hmr::exclude_globs{"build/"} |
                 hmr::include_globs{"**/*.cpp"} | hmr::gitignore{"*.gen.cpp\n!keep.gen.cpp\n"};
  check_keep(f, {
                    {"src/a.cpp", false, true},
                    {".git/a.cpp", false, false},
                    {"build/a.cpp", false, false},
                    {"src/a.txt", false, false},
                    {"src/x.gen.cpp", false, false},
                    {"src/keep.gen.cpp", false, true},
                    {"src", true, true},
                    {"build", true, false},
                    {".git", true, false},
                });
  check_explain(
      f, {
             {".git/build/a.txt", false, "\".git/build/a.txt\" dropped: ignored segment \".git\""},
             {"build/a.txt", false,
              "\"build/a.txt\" dropped: exclude glob \"build/\" on parent directory \"build\""},
             {"src/a.txt", false,
              "\"src/a.txt\" dropped: no include glob matched (include globs: **/*.cpp)"},
             {"src/x.gen.cpp", false,
              "\"src/x.gen.cpp\" dropped: .gitignore rule \"*.gen.cpp\" (.gitignore:1)"},
             // Kept: the first verdict that names a matching rule.
             {"src/a.cpp", false, "\"src/a.cpp\" kept: matched include glob \"**/*.cpp\""},
             {"src/keep.gen.cpp", false,
              "\"src/keep.gen.cpp\" kept: matched include glob \"**/*.cpp\""},
         });
  CHECK(f.explain("build/a.txt", false).filter == "exclude_globs");

  // Order decides which reason is given when several filters drop a path.
  const auto a = hmr::exclude_globs{"*.o"} | hmr::ignore_segments{"build"};
  const auto b = hmr::ignore_segments{"build"} | hmr::exclude_globs{"*.o"};
  CHECK(a.explain("build/x.o", false).filter == "exclude_globs");
  CHECK(b.explain("build/x.o", false).filter == "ignore_segments");

  // Kept without any rule matching: every reason, in order.
  const auto c = hmr::ignore_segments{".git"} | hmr::exclude_globs{"*.o"};
  const auto v = c.explain("src/a.cpp", false);
  CHECK(v.kept);
  CHECK_FALSE(v.matched);
  CHECK(v.filter == "ignore_segments | exclude_globs");
  CHECK(v.describe() ==
        "\"src/a.cpp\" kept: no ignored segment (ignored: .git); no exclude glob matched");

  // A negation is a matching rule too.
  const auto d = hmr::exclude_globs{"*.o"} | hmr::gitignore{"*.cpp\n!main.cpp\n"};
  CHECK(d.explain("main.cpp", false).describe() ==
        "\"main.cpp\" kept: .gitignore rule \"!main.cpp\" (.gitignore:2)");
  CHECK(d.first().patterns() == std::vector<std::string>{"*.o"});
  CHECK(d.second().size() == 2);
}

TEST_CASE("any_filter: filters chosen at run time") {
  const hmr::any_filter nothing;
  CHECK(nothing.keep("a", false));
  CHECK(nothing.explain("a", false).describe() == "\"a\" kept: no filters");

  // The way a CLI assembles flags.
  const bool no_default_ignores = false;
  const std::vector<std::string> excludes{"*.log"};
  const std::vector<std::string> includes{"**/*.cpp", "**/*.hpp"};
  hmr::any_filter f;
  if (!no_default_ignores) f = hmr::default_ignores();
  if (!excludes.empty()) f = f | hmr::exclude_globs{excludes};
  if (!includes.empty()) f = f | hmr::include_globs{includes};
  check_keep(f, {
                    {"src/a.cpp", false, true},
                    {"src/a.txt", false, false},
                    {"x.log", false, false},
                    {"build/a.cpp", false, false},
                    {"src", true, true},
                });
  CHECK(f.explain("x.log", false).describe() == "\"x.log\" dropped: exclude glob \"*.log\"");

  const hmr::any_filter copy = f;  // copies share the filter
  CHECK_FALSE(copy.keep("build/a.cpp", false));
  const auto chained = copy | hmr::ignore_segments{"src"};
  CHECK_FALSE(chained.keep("src/a.cpp", false));
}

TEST_CASE("filter_change keeps the meaning of a rename across the filter's boundary", "[filters]") {
  using hmr::change_kind;
  const auto filter = hmr::default_ignores() | hmr::include_globs{"**/*.cpp"};
  auto run = [&](hmr::file_change c) { return hmr::filter_change(filter, std::move(c)); };

  SECTION("plain changes pass or drop as keep() says") {
    CHECK(run({.path = "src/a.cpp", .kind = change_kind::modified}) ==
          hmr::file_change{.path = "src/a.cpp", .kind = change_kind::modified});
    CHECK_FALSE(run({.path = "src/a.cpp.swp", .kind = change_kind::created}).has_value());
    CHECK_FALSE(run({.path = "build/a.cpp", .kind = change_kind::modified}).has_value());
  }
  SECTION("kept to kept stays a rename") {
    const hmr::file_change c{.path = "b.cpp", .kind = change_kind::renamed, .old_path = "a.cpp"};
    CHECK(run(c) == c);
  }
  SECTION("kept to ignored (vim's backup rename) is a removal of the old path") {
    CHECK(run({.path = "src/a.cpp~", .kind = change_kind::renamed, .old_path = "src/a.cpp"}) ==
          hmr::file_change{.path = "src/a.cpp", .kind = change_kind::removed});
  }
  SECTION("ignored to kept (an atomic save's temp file) is a creation of the new path") {
    CHECK(run({.path = "src/a.cpp", .kind = change_kind::renamed, .old_path = "src/.a.cpp.tmp"}) ==
          hmr::file_change{.path = "src/a.cpp", .kind = change_kind::created});
  }
  SECTION("ignored to ignored is dropped") {
    CHECK_FALSE(
        run({.path = "x.tmp", .kind = change_kind::renamed, .old_path = "y.tmp"}).has_value());
  }
  SECTION("the directory flag and root survive the translation") {
    const auto out = run({.path = "build/src",
                          .kind = change_kind::renamed,
                          .old_path = "src",
                          .root = 2,
                          .is_directory = true});
    REQUIRE(out.has_value());
    CHECK(*out ==
          hmr::file_change{
              .path = "src", .kind = change_kind::removed, .root = 2, .is_directory = true});
  }
}

TEST_CASE("filter_changes filters a batch in place, judging renames on both paths", "[filters]") {
  using enum hmr::change_kind;
  auto c = [](hmr::change_kind kind, std::string path, std::string old_path = {},
              bool is_directory = false) {
    return hmr::file_change{.path = std::move(path),
                            .kind = kind,
                            .old_path = std::move(old_path),
                            .is_directory = is_directory};
  };
  std::vector<hmr::file_change> changes{
      c(modified, "a.cpp"),
      c(modified, "a.cpp.swp"),                  // dropped
      c(renamed, "b.cpp", "a.cpp"),              // both kept: a rename
      c(renamed, "b.cpp~", "b.cpp"),             // only the old path kept: removed
      c(renamed, "c.cpp", "c.cpp___jb_tmp___"),  // only the new path kept: created
      c(renamed, "x.tmp", "y.tmp"),              // neither: dropped
      c(created, "build", {}, true),             // an ignored directory: dropped
      c(created, "build/a.o"),                   // inside one: dropped
  };
  hmr::filter_changes(changes, hmr::default_ignores());
  CHECK(changes == std::vector<hmr::file_change>{c(modified, "a.cpp"), c(renamed, "b.cpp", "a.cpp"),
                                                 c(removed, "b.cpp"), c(created, "c.cpp")});
}

TEST_CASE("per_root applies each watch root's own rules, also through | and any_filter",
          "[filters]") {
  using enum hmr::change_kind;
  // Root 0 ignores *.log, root 1 ignores generated/; neither rule may leak to the other.
  const hmr::per_root<hmr::gitignore> ignores{
      {hmr::gitignore{"*.log\n", "app/.gitignore"}, hmr::gitignore{"generated/\n", "lib/.gitignore"}}};
  auto c = [](std::uint32_t root, std::string path, bool is_directory = false) {
    return hmr::file_change{.path = std::move(path), .kind = modified, .root = root, .is_directory = is_directory};
  };
  const std::vector<hmr::file_change> changes{
      c(0, "run.log"),            // dropped by root 0's rule
      c(1, "run.log"),            // kept: root 1 has no *.log rule
      c(0, "generated/a.cpp"),    // kept: root 0 has no generated/ rule
      c(1, "generated/a.cpp"),    // dropped by root 1's rule
      c(2, "run.log"),            // a root without a filter keeps everything
      c(1, "src/.a.cpp.swp"),     // dropped by the default ignores in the chain
  };
  const std::vector<hmr::file_change> expected{c(1, "run.log"), c(0, "generated/a.cpp"),
                                               c(2, "run.log")};
  SECTION("alone") {
    auto batch = changes;
    batch.pop_back();
    hmr::filter_changes(batch, ignores);
    CHECK(batch == expected);
  }
  SECTION("in a chain") {
    auto batch = changes;
    hmr::filter_changes(batch, hmr::default_ignores() | ignores);
    CHECK(batch == expected);
  }
  SECTION("behind any_filter") {
    auto batch = changes;
    const hmr::any_filter filter = hmr::default_ignores() | ignores;
    hmr::filter_changes(batch, filter);
    CHECK(batch == expected);
  }
  SECTION("explain names the root's own rule") {
    const hmr::any_filter filter = hmr::default_ignores() | ignores;
    const hmr::filter_verdict in_lib = hmr::explain_in_root(filter, 1, "generated/a.cpp", false);
    CHECK_FALSE(in_lib.kept);
    CHECK(in_lib.filter == "gitignore");
    CHECK(in_lib.rule.find("lib/.gitignore") != std::string::npos);
    CHECK(hmr::explain_in_root(filter, 0, "generated/a.cpp", false).kept);
    CHECK_FALSE(hmr::explain_in_root(filter, 0, "run.log", false).kept);
    CHECK(hmr::explain_in_root(filter, 3, "run.log", false).kept);
    // Without a root, root 0's rules apply.
    CHECK_FALSE(filter.keep("run.log", false));
    CHECK(filter.keep("generated/a.cpp", false));
  }
}
