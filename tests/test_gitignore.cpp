#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "hmr/gitignore.hpp"
#include "hmr_catch.hpp"

static_assert(hmr::path_filter<hmr::gitignore>);

namespace {

struct ignore_file {
  std::string_view directory;  // relative to the root, "" for the root
  std::string_view contents;
};

// One path and what `git check-ignore -v --no-index` says about it: ignored or not, and
// the deciding rule as "source:line" ("" when no rule matched).
struct expectation {
  std::string_view path;
  bool is_directory;
  bool ignored;
  std::string_view rule;
};

struct scenario {
  std::string_view name;
  std::vector<ignore_file> files;
  std::string_view exclude;  // .git/info/exclude
  std::vector<expectation> rows;
};

// The tables below were produced by building each scenario as a real repository (every
// path created as a file or directory) and asking git 2.39 `git check-ignore -v
// --no-index --non-matching` about each path. They are git's answers, not ours.
const scenario syntax_scenario{
    "syntax",
    {
        {"",
         "\xef"
         "\xbb"
         "\xbf"
         "# comment\n\n\\#hash\n\\!bang\ntrail   \nesc\\ "
         "\ntab\t\n*.log\n!keep.log\nfoo\\\n[abc\n{x,y}\n/anchored.txt\nmid/dle.txt\ndironly/\n**/"
         "deep.txt\nlead/**\na/**/b\ncrlf.txt\r\n   \n!\n*.LOG2\nx[z-a]\n\\ lead\n"},
    },
    "",
    {
        {"#hash", false, true, ".gitignore:3"},
        {"hash", false, false, ""},
        {"!bang", false, true, ".gitignore:4"},
        {"bang", false, false, ""},
        {"trail", false, true, ".gitignore:5"},
        {"trail   ", false, false, ""},
        {"esc ", false, true, ".gitignore:6"},
        {"esc", false, false, ""},
        {"tab\t", false, true, ".gitignore:7"},
        {"tab", false, false, ""},
        {"x.log", false, true, ".gitignore:8"},
        {"d/x.log", false, true, ".gitignore:8"},
        {"keep.log", false, false, ".gitignore:9"},
        {"d/keep.log", false, false, ".gitignore:9"},
        {"foo\\", false, false, ""},
        {"foo", false, false, ""},
        {"[abc", false, false, ""},
        {"c", false, false, ""},
        {"{x,y}", false, true, ".gitignore:12"},
        {"y", false, false, ""},
        {"anchored.txt", false, true, ".gitignore:13"},
        {"d/anchored.txt", false, false, ""},
        {"mid/dle.txt", false, true, ".gitignore:14"},
        {"x/mid/dle.txt", false, false, ""},
        {"dironly", true, true, ".gitignore:15"},
        {"f/dironly", false, false, ""},
        {"x/dironly", true, true, ".gitignore:15"},
        {"x/dironly/f", false, true, ".gitignore:15"},
        {"deep.txt", false, true, ".gitignore:16"},
        {"p/q/deep.txt", false, true, ".gitignore:16"},
        {"lead", true, false, ""},
        {"lead/x", false, true, ".gitignore:17"},
        {"lead/y/z", false, true, ".gitignore:17"},
        {"a/b", false, true, ".gitignore:18"},
        {"a/x/y/b", false, true, ".gitignore:18"},
        {"a/xb", false, false, ""},
        {"crlf.txt", false, true, ".gitignore:19"},
        {"x.log2", false, false, ""},
        {"x.LOG2", false, true, ".gitignore:22"},
        {"xz", false, true, ".gitignore:23"},
        {"xa", false, false, ""},
        {" lead", false, true, ".gitignore:24"},
        {"lead2", false, false, ""},
        {".hidden.log", false, true, ".gitignore:8"},
    },
};

const scenario nested_scenario{
    "nested",
    {
        {"",
         "build/\n!build/"
         "keep.o\n!keep.o\n*.tmp\n*.o\n!important.o\nlast.txt\n!last.txt\nlast.txt\n"},
        {"src", "!*.tmp\nimportant.o\n/gen\nx/y\n*.gen\n"},
        {"src/sub", "!*.gen\n"},
        {"other", "!last.txt\n"},
    },
    "*.ex\ntop.ex\n!keep.ex\nsrc/*.tmp\n",
    {
        {"build", true, true, ".gitignore:1"},
        {"build/keep.o", false, true, ".gitignore:1"},
        {"build/sub", true, true, ".gitignore:1"},
        {"build/sub/keep.o", false, true, ".gitignore:1"},
        {"a.tmp", false, true, ".gitignore:4"},
        {"src/a.tmp", false, false, "src/.gitignore:1"},
        {"src/deep/a.tmp", false, false, "src/.gitignore:1"},
        {"a.o", false, true, ".gitignore:5"},
        {"important.o", false, false, ".gitignore:6"},
        {"src/important.o", false, true, "src/.gitignore:2"},
        {"lib/important.o", false, false, ".gitignore:6"},
        {"keep.o", false, true, ".gitignore:5"},
        {"src/gen", true, true, "src/.gitignore:3"},
        {"src/gen/a.c", false, true, "src/.gitignore:3"},
        {"src/x/gen", true, false, ""},
        {"src/x/y", false, true, "src/.gitignore:4"},
        {"src/a/x/y", false, false, ""},
        {"x/y", false, false, ""},
        {"src/a.gen", false, true, "src/.gitignore:5"},
        {"src/sub/a.gen", false, false, "src/sub/.gitignore:1"},
        {"src/sub/deeper/a.gen", false, false, "src/sub/.gitignore:1"},
        {"last.txt", false, true, ".gitignore:9"},
        {"other/last.txt", false, false, "other/.gitignore:1"},
        {"a.ex", false, true, ".git/info/exclude:1"},
        {"keep.ex", false, false, ".git/info/exclude:3"},
        {"src/top.ex", false, true, ".git/info/exclude:2"},
        {"src", true, false, ""},
        {"other", true, false, ""},
        {"other/x.o", false, true, ".gitignore:5"},
    },
};

const scenario except_scenario{
    "except",
    {
        {"", "/*\n!/foo\n/foo/*\n!/foo/bar\nlogs/\n!logs/\n!/keep/\n/keep/*\n!/keep/**/*.c\n"},
    },
    "",
    {
        {"top.txt", false, true, ".gitignore:1"},
        {"other", true, true, ".gitignore:1"},
        {"other/x", false, true, ".gitignore:1"},
        {"foo", true, false, ".gitignore:2"},
        {"foo/x", false, true, ".gitignore:3"},
        {"foo/baz", true, true, ".gitignore:3"},
        {"foo/baz/y", false, true, ".gitignore:3"},
        {"foo/bar", true, false, ".gitignore:4"},
        {"foo/bar/x", false, false, ""},
        {"foo/bar/logs", true, false, ".gitignore:6"},
        {"keep", true, false, ".gitignore:7"},
        {"keep/a.c", false, false, ".gitignore:9"},
        {"keep/d", true, true, ".gitignore:8"},
        {"keep/d/a.c", false, true, ".gitignore:8"},
        {".gitignore", false, true, ".gitignore:1"},
    },
};

const scenario docs_scenario{
    "docs",
    {
        {"", "doc/frotz/\nfrotz/\n"},
        {"x", "foo/*\n/ab/\n*\n!*/\n!*.c\n"},
    },
    "",
    {
        {"doc/frotz", true, true, ".gitignore:2"},
        {"a/doc/frotz", true, true, ".gitignore:2"},
        {"frotz", false, false, ""},
        {"x/foo/test.json", false, true, "x/.gitignore:3"},
        {"x/foo/bar", true, false, "x/.gitignore:4"},
        {"x/foo/bar/hello.c", false, false, "x/.gitignore:5"},
        {"x/ab", true, false, "x/.gitignore:4"},
        {"x/q/ab", true, false, "x/.gitignore:4"},
        {"x/q", true, false, "x/.gitignore:4"},
        {"x/q/a.c", false, false, "x/.gitignore:5"},
        {"x/q/a.h", false, true, "x/.gitignore:3"},
        {"x/a.h", false, true, "x/.gitignore:3"},
    },
};

hmr::gitignore build(const scenario& s) {
  hmr::gitignore g;
  for (const auto& f : s.files) {
    g.add_file(f.directory, f.contents,
               f.directory.empty() ? ".gitignore" : std::string(f.directory) + "/.gitignore");
  }
  if (!s.exclude.empty()) g.add_exclude_file(s.exclude);
  return g;
}

std::string where(const hmr::gitignore_match& m) {
  return m.rule == nullptr ? std::string() : m.rule->source + ":" + std::to_string(m.rule->line);
}

void check_scenario(const scenario& s, const hmr::gitignore& g) {
  for (const auto& row : s.rows) {
    INFO("scenario " << s.name << ", path \"" << row.path << "\" ("
                     << (row.is_directory ? "directory" : "file") << ")");
    const hmr::gitignore_match m = g.check(row.path, row.is_directory);
    CHECK(m.ignored == row.ignored);
    CHECK(where(m) == row.rule);
    CHECK(g.keep(row.path, row.is_directory) == !row.ignored);
    CHECK(g.ignored(row.path, row.is_directory) == row.ignored);
    CHECK(g.explain(row.path, row.is_directory).kept == !row.ignored);
  }
}

// A unique empty directory under the system temporary directory, removed at the end.
struct temp_tree {
  std::filesystem::path root;
  temp_tree() {
    static std::atomic<unsigned> counter{0};
    const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    root = std::filesystem::temp_directory_path() /
           ("hmr_test_gitignore_" + std::to_string(stamp) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(root);
  }
  ~temp_tree() {
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  }
  temp_tree(const temp_tree&) = delete;
  temp_tree& operator=(const temp_tree&) = delete;

  void write(std::string_view relative, std::string_view contents) const {
    const auto p = root / std::filesystem::path(std::string(relative));
    std::filesystem::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  }
  void mkdir(std::string_view relative) const {
    std::filesystem::create_directories(root / std::filesystem::path(std::string(relative)));
  }
};

}  // namespace

TEST_CASE("gitignore: syntax as git reads it") {
  // BOM, comments, blank lines, \# and \! escapes, trailing spaces (escaped or not),
  // tabs kept, CRLF, malformed patterns, literal braces, anchoring, directory-only, **.
  check_scenario(syntax_scenario, build(syntax_scenario));
}

TEST_CASE("gitignore: nested files, precedence, negation and exclude files") {
  check_scenario(nested_scenario, build(nested_scenario));
}

TEST_CASE("gitignore: excluding everything except some paths") {
  check_scenario(except_scenario, build(except_scenario));
}

TEST_CASE("gitignore: examples from git's documentation") {
  check_scenario(docs_scenario, build(docs_scenario));
}

TEST_CASE("gitignore: parsed rule fields") {
  const hmr::gitignore g{"!/a/b/\n*.o\n[x\n\\!y\n"};
  REQUIRE(g.size() == 4);
  const auto* negated_dir = g.check("a/b", true).rule;
  REQUIRE(negated_dir != nullptr);
  CHECK(negated_dir->pattern == "!/a/b/");
  CHECK(negated_dir->negated);
  CHECK(negated_dir->directory_only);
  CHECK(negated_dir->anchored);
  CHECK(negated_dir->valid);
  CHECK(negated_dir->line == 1);
  CHECK(negated_dir->directory.empty());
  CHECK(negated_dir->source == ".gitignore");
  const auto* object = g.check("x/y.o", false).rule;
  REQUIRE(object != nullptr);
  CHECK(object->pattern == "*.o");
  CHECK_FALSE(object->negated);
  CHECK_FALSE(object->directory_only);
  CHECK_FALSE(object->anchored);
  const auto* bang = g.check("!y", false).rule;
  REQUIRE(bang != nullptr);
  CHECK(bang->pattern == "\\!y");
  CHECK_FALSE(bang->negated);
  CHECK(bang->line == 4);
  CHECK(g.check("[x", false).rule == nullptr);  // the malformed line 3 never matches
}

TEST_CASE("gitignore: the root itself is never ignored") {
  const hmr::gitignore g{"*\n"};
  CHECK(g.keep("", true));
  CHECK(g.check("", true).rule == nullptr);
  CHECK_FALSE(g.keep("a", true));
  CHECK_FALSE(g.keep("a/b.cpp", false));
}

TEST_CASE("gitignore: add_file details") {
  hmr::gitignore g;
  CHECK(g.empty());
  CHECK(g.keep("anything", false));
  g.add_file("src/", "*.o\n", "src/.gitignore");  // a trailing slash on the directory is fine
  g.add_file("src", "!keep.o\n", "src/.gitignore (more)");  // appended: later lines win
  CHECK(g.size() == 2);
  CHECK_FALSE(g.keep("src/a.o", false));
  CHECK(g.keep("src/keep.o", false));
  CHECK(g.keep("a.o", false));  // the rules apply below src only
  CHECK(g.keep("srcx/a.o", false));
  const auto m = g.check("src/deep/keep.o", false);
  REQUIRE(m.rule != nullptr);
  CHECK(m.rule->source == "src/.gitignore (more)");
  CHECK(m.rule->line == 1);
  CHECK(m.rule->directory == "src");
}

TEST_CASE("gitignore: explanations name the rule, file and line") {
  hmr::gitignore g{"*.log\nbuild/\n!build/keep.o\n"};
  g.add_file("src", "# logs we keep\n!keep.log\n", "src/.gitignore");
  g.add_exclude_file("*.bak\n");
  struct row {
    std::string_view path;
    bool is_directory;
    std::string_view description;
  };
  const std::vector<row> rows{
      {"a.log", false, "\"a.log\" dropped: .gitignore rule \"*.log\" (.gitignore:1)"},
      {"src/keep.log", false,
       "\"src/keep.log\" kept: .gitignore rule \"!keep.log\" (src/.gitignore:2)"},
      {"src/a.cpp", false, "\"src/a.cpp\" kept: no .gitignore rule matched"},
      {"build", true, "\"build\" dropped: .gitignore rule \"build/\" (.gitignore:2)"},
      {"build/x/a.o", false,
       "\"build/x/a.o\" dropped: .gitignore rule \"build/\" (.gitignore:2) excludes parent "
       "directory \"build\""},
      {"build/keep.o", false,
       "\"build/keep.o\" dropped: .gitignore rule \"build/\" (.gitignore:2) excludes parent "
       "directory \"build\"; "
       ".gitignore rule \"!build/keep.o\" (.gitignore:3) cannot re-include it inside an excluded "
       "directory"},
      {"x.bak", false, "\"x.bak\" dropped: exclude rule \"*.bak\" (.git/info/exclude:1)"},
  };
  for (const auto& r : rows) {
    INFO("path \"" << r.path << "\"");
    const hmr::filter_verdict v = g.explain(r.path, r.is_directory);
    CHECK(v.describe() == r.description);
    CHECK(v.filter == "gitignore");
  }
  const auto negated = g.explain("src/keep.log", false);
  CHECK(negated.kept);
  CHECK(negated.matched);
  CHECK(negated.rule == ".gitignore rule \"!keep.log\" (src/.gitignore:2)");
  const auto none = g.explain("src/a.cpp", false);
  CHECK_FALSE(none.matched);
  const auto parent = g.check("build/x/a.o", false);
  CHECK(parent.by_parent);
  CHECK(parent.parent == "build");
}

TEST_CASE("gitignore: load_gitignore reads a real tree as git does") {
  temp_tree tree;
  for (const auto& f : nested_scenario.files) {
    tree.write(
        f.directory.empty() ? std::string(".gitignore") : std::string(f.directory) + "/.gitignore",
        f.contents);
  }
  tree.write(".git/info/exclude", nested_scenario.exclude);
  for (const auto& row : nested_scenario.rows) {
    if (row.is_directory)
      tree.mkdir(row.path);
    else
      tree.write(row.path, "");
  }
  // Never read: inside an ignored directory, inside .git, or a symlink's target.
  tree.write("build/.gitignore", "!*\n");
  tree.write(".git/hooks/.gitignore", "*\n");
  tree.write("src/gen/.gitignore", "*\n");
  tree.write("elsewhere/rules", "*\n");
  tree.mkdir("linked");
  std::filesystem::create_symlink(tree.root / "elsewhere" / "rules",
                                  tree.root / "linked" / ".gitignore");
  std::filesystem::create_directory_symlink(tree.root / "src", tree.root / "src-link");

  const hmr::gitignore g = hmr::load_gitignore(tree.root);
  std::size_t expected_rules = 4;  // .git/info/exclude
  for (const auto& f : nested_scenario.files) {
    expected_rules +=
        static_cast<std::size_t>(std::count(f.contents.begin(), f.contents.end(), '\n'));
  }
  CHECK(g.size() == expected_rules);
  check_scenario(nested_scenario, g);
  const auto m = g.check("src/sub/a.gen", false);
  REQUIRE(m.rule != nullptr);
  CHECK(m.rule->source == "src/sub/.gitignore");
  CHECK(m.rule->directory == "src/sub");
}

TEST_CASE("gitignore: load_gitignore without .git or any .gitignore") {
  temp_tree tree;
  tree.write("a/b/c.txt", "x");
  const hmr::gitignore g = hmr::load_gitignore(tree.root);
  CHECK(g.empty());
  CHECK(g.keep("a/b/c.txt", false));
  const hmr::gitignore missing = hmr::load_gitignore(tree.root / "does-not-exist");
  CHECK(missing.empty());
}
