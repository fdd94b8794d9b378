#include <unistd.h>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <hmr/diagnostics.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "hmr_catch.hpp"
#include "process_fixture.hpp"

using hmr::diagnostic;
using hmr::diagnostic_parser;
using hmr::parse_diagnostic_line;
using hmr::parse_diagnostics;
using lv = hmr::diagnostic::level;

namespace {

// One line and what it must parse to.
struct sample {
  std::string_view line{};
  std::string_view file{};
  int line_no = 0;
  int column = 0;
  lv severity = lv::error;
  std::string_view message{};
};

std::string_view level_name(lv l) {
  switch (l) {
    case lv::note:
      return "note";
    case lv::warning:
      return "warning";
    case lv::error:
      return "error";
    case lv::fatal:
      return "fatal";
  }
  return "?";
}

// Checks every field of `d` against `s`.
void check_matches(const diagnostic& d, const sample& s) {
  CHECK(d.file == s.file);
  CHECK(d.line == s.line_no);
  CHECK(d.column == s.column);
  CHECK(level_name(d.severity) == level_name(s.severity));
  CHECK(d.message == s.message);
}

void check_line(const sample& s) {
  INFO("line: " << s.line);
  const auto d = parse_diagnostic_line(s.line);
  REQUIRE(d.has_value());
  check_matches(*d, s);
}

diagnostic make(std::string_view file, int line, int column, lv severity,
                std::string_view message) {
  return diagnostic{std::string(file), line, column, severity, std::string(message)};
}

// Checks a list of diagnostics field by field against the expected list.
void check_all(const std::vector<diagnostic>& got, const std::vector<diagnostic>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("diagnostic #" << i);
    check_matches(got[i], sample{"", want[i].file, want[i].line, want[i].column, want[i].severity,
                                 want[i].message});
  }
}

}  // namespace

// Ground truth: printed by g++ 12.2 and clang++ 14 on Debian 12 for small broken files.
TEST_CASE("GCC and Clang diagnostics") {
  const sample s = GENERATE(values<sample>({
      {"my src/b.hpp:1:33: error: expected primary-expression before \xe2\x80\x98;\xe2\x80\x99 "
       "token",
       "my src/b.hpp", 1, 33, lv::error,
       "expected primary-expression before \xe2\x80\x98;\xe2\x80\x99 token"},
      {"my src/a.cpp:6:9: warning: comparison of integer expressions of different signedness: "
       "'unsigned int' and 'int' [-Wsign-compare]",
       "my src/a.cpp", 6, 9, lv::warning,
       "comparison of integer expressions of different signedness: 'unsigned int' and 'int' "
       "[-Wsign-compare]"},
      {"my src/a.cpp:7:16: warning: format specifies type 'int' but the argument has type "
       "'double' [-Wformat]",
       "my src/a.cpp", 7, 16, lv::warning,
       "format specifies type 'int' but the argument has type 'double' [-Wformat]"},
      {"my src/a.cpp:4:11: error: use of undeclared identifier 'y'", "my src/a.cpp", 4, 11,
       lv::error, "use of undeclared identifier 'y'"},
      {"m.cpp:1:10: fatal error: missing.hpp: No such file or directory", "m.cpp", 1, 10, lv::fatal,
       "missing.hpp: No such file or directory"},
      {"m.cpp:1:10: fatal error: 'missing.hpp' file not found", "m.cpp", 1, 10, lv::fatal,
       "'missing.hpp' file not found"},
      {"src/a.cpp:12: warning: ignoring #pragma foo [-Wunknown-pragmas]", "src/a.cpp", 12, 0,
       lv::warning, "ignoring #pragma foo [-Wunknown-pragmas]"},
      {"/abs/x.h:3:5: note: declared here", "/abs/x.h", 3, 5, lv::note, "declared here"},
      {"a.cpp:2:3: remark: loop vectorized", "a.cpp", 2, 3, lv::note, "loop vectorized"},
      {"C:\\src\\a.cpp:3:4: error: x", "C:\\src\\a.cpp", 3, 4, lv::error, "x"},
      {"C:\\My Projects\\b c.cpp:30: warning: w: with colons", "C:\\My Projects\\b c.cpp", 30, 0,
       lv::warning, "w: with colons"},
      {"a.cpp:3:4: error: expected ': error: ' here", "a.cpp", 3, 4, lv::error,
       "expected ': error: ' here"},
      {"<command-line>: error: macro names must be identifiers", "", 0, 0, lv::error,
       "macro names must be identifiers"},
      // Tool-prefixed lines with no location.
      {"collect2: error: ld returned 1 exit status", "", 0, 0, lv::error,
       "ld returned 1 exit status"},
      {"clang: error: linker command failed with exit code 1 (use -v to see invocation)", "", 0, 0,
       lv::error, "linker command failed with exit code 1 (use -v to see invocation)"},
      {"cc1plus: warning: command-line option '-Wfoo' is valid for C", "", 0, 0, lv::warning,
       "command-line option '-Wfoo' is valid for C"},
      {"fatal error: too many errors emitted, stopping now [-ferror-limit=]", "", 0, 0, lv::fatal,
       "too many errors emitted, stopping now [-ferror-limit=]"},
  }));
  check_line(s);
}

// MSVC's documented format: file(line[,col]): severity code: message.
TEST_CASE("MSVC diagnostics") {
  const sample s = GENERATE(values<sample>({
      {"C:\\src\\main.cpp(10,5): error C2065: 'x': undeclared identifier", "C:\\src\\main.cpp", 10,
       5, lv::error, "C2065: 'x': undeclared identifier"},
      {"main.cpp(7): warning C4996: 'strcpy': This function or variable may be unsafe.", "main.cpp",
       7, 0, lv::warning, "C4996: 'strcpy': This function or variable may be unsafe."},
      {"C:\\Program Files (x86)\\p\\a.cpp(1,10): fatal error C1083: Cannot open include file: "
       "'missing.h': No such file or directory",
       "C:\\Program Files (x86)\\p\\a.cpp", 1, 10, lv::fatal,
       "C1083: Cannot open include file: 'missing.h': No such file or directory"},
      {"c:\\src\\a.h(4): note: see declaration of 'f'", "c:\\src\\a.h", 4, 0, lv::note,
       "see declaration of 'f'"},
      {"main.obj : error LNK2019: unresolved external symbol foo referenced in function main",
       "main.obj", 0, 0, lv::error,
       "LNK2019: unresolved external symbol foo referenced in function main"},
      {"LINK : fatal error LNK1104: cannot open file 'a.lib'", "", 0, 0, lv::fatal,
       "LNK1104: cannot open file 'a.lib'"},
  }));
  check_line(s);
}

// Ground truth: GNU ld 2.40 and lld 14 on Debian 12; the one-line ld form from the brief.
TEST_CASE("linker diagnostics") {
  const sample s = GENERATE(values<sample>({
      {"/usr/bin/ld: a.o: in function `main': a.cpp:(.text+0x5): undefined reference to `foo'",
       "a.cpp", 0, 0, lv::error, "undefined reference to `foo'"},
      {"l.cpp:(.text+0x5): undefined reference to `foo()'", "l.cpp", 0, 0, lv::error,
       "undefined reference to `foo()'"},
      {"/tmp/diag/l.cpp:2: undefined reference to `foo()'", "/tmp/diag/l.cpp", 2, 0, lv::error,
       "undefined reference to `foo()'"},
      {"/usr/bin/ld: /tmp/ccQzTllD.o:(.data+0x0): multiple definition of `x'; "
       "/tmp/ccFL0RDH.o:(.data+0x0): first defined here",
       "/tmp/ccQzTllD.o", 0, 0, lv::error,
       "multiple definition of `x'; /tmp/ccFL0RDH.o:(.data+0x0): first defined here"},
      {"/usr/bin/ld: cannot find -lnosuch: No such file or directory", "", 0, 0, lv::error,
       "cannot find -lnosuch: No such file or directory"},
      {"/usr/bin/ld: warning: a.o: missing .note.GNU-stack section", "", 0, 0, lv::warning,
       "a.o: missing .note.GNU-stack section"},
      {"ld.lld: error: undefined symbol: foo()", "", 0, 0, lv::error, "undefined symbol: foo()"},
  }));
  check_line(s);
}

TEST_CASE("CMake diagnostic headers") {
  const sample s = GENERATE(values<sample>({
      {"CMake Error at CMakeLists.txt:12 (add_executable):", "CMakeLists.txt", 12, 0, lv::error,
       "add_executable"},
      {"CMake Warning (dev) at cmake/x y.cmake:3 (message):", "cmake/x y.cmake", 3, 0, lv::warning,
       "message"},
      {"CMake Warning at CMakeLists.txt:1 (project):", "CMakeLists.txt", 1, 0, lv::warning,
       "project"},
      {"CMake Deprecation Warning at CMakeLists.txt:1 (cmake_minimum_required):", "CMakeLists.txt",
       1, 0, lv::warning, "cmake_minimum_required"},
      {"CMake Error at CMakeLists.txt:5:", "CMakeLists.txt", 5, 0, lv::error, ""},
      {"CMake Error in src/CMakeLists.txt:", "src/CMakeLists.txt", 0, 0, lv::error, ""},
      {"CMake Error: The source directory \"/x\" does not exist.", "", 0, 0, lv::error,
       "The source directory \"/x\" does not exist."},
  }));
  check_line(s);
}

TEST_CASE("lines that are not diagnostics") {
  const std::string_view line = GENERATE(values<std::string_view>({
      "",
      "[3/10] Building CXX object CMakeFiles/app.dir/src/a.cpp.o",
      "FAILED: CMakeFiles/app.dir/src/a.cpp.o ",
      "/usr/bin/c++ -Wall -Werror -o CMakeFiles/app.dir/src/a.cpp.o -c /w/src/a.cpp",
      "    4 |   int x = y;",
      "      |           ^",
      "      |            int double",
      "    5 |   puts(\"a.c:1:2: error: inside a string\");",
      "  puts(\"a.c:1:2: error: clang excerpt\");",
      "          ^~~~~~~~~~~~~",
      "In file included from a.hpp:3,",
      "In file included from my src/a.cpp:1:",
      "my src/a.cpp: In function \xe2\x80\x98int main()\xe2\x80\x99:",
      "In function 'int main()':",
      "a.cpp:10:6:   required from here",
      "/usr/bin/ld: /tmp/ccfjw7jY.o: in function `main':",
      ">>> referenced by l.cpp",
      "compilation terminated.",
      "2 warnings and 3 errors generated.",
      "ninja: build stopped: subcommand failed.",
      "make[2]: *** [Makefile:2: all] Error 1",
      "-- Configuring incomplete, errors occurred!",
      "  add_executable called with incorrect number of arguments",
      "CMake is great",
      "x.cpp:abc: error: not a line number",
      ":3:4: error: no path",
      "a.cpp(x): error C1: bad line",
  }));
  INFO("line: " << line);
  CHECK_FALSE(parse_diagnostic_line(line).has_value());
}

TEST_CASE("colour escapes and line endings are removed before parsing") {
  SECTION("GCC -fdiagnostics-color") {
    check_line(
        {"\x1b[01m\x1b[Km.cpp:1:10:\x1b[m\x1b[K \x1b[01;31m\x1b[Kfatal error: "
         "\x1b[m\x1b[Kmissing.hpp: No such file or directory",
         "m.cpp", 1, 10, lv::fatal, "missing.hpp: No such file or directory"});
  }
  SECTION("Clang -fcolor-diagnostics") {
    check_line(
        {"\x1b[1mm.cpp:1:10: \x1b[0m\x1b[0;1;31mfatal error: \x1b[0m\x1b[1m'missing.hpp' "
         "file not found\x1b[0m",
         "m.cpp", 1, 10, lv::fatal, "'missing.hpp' file not found"});
  }
  SECTION("OSC hyperlink around the path") {
    check_line({"\x1b]8;;file:///a.cpp\x1b\\a.cpp\x1b]8;;\x07:2:3: warning: w", "a.cpp", 2, 3,
                lv::warning, "w"});
  }
  SECTION("coloured excerpt lines stay non-diagnostics") {
    CHECK_FALSE(
        parse_diagnostic_line("    1 | #include \x1b[01;31m\x1b[K\"missing.hpp\"\x1b[m\x1b[K")
            .has_value());
  }
  SECTION("CRLF and LF endings") {
    check_line({"a.cpp(3,4): error C2143: syntax error\r\n", "a.cpp", 3, 4, lv::error,
                "C2143: syntax error"});
    check_line({"a.cpp:3:4: note: n\r", "a.cpp", 3, 4, lv::note, "n"});
  }
  SECTION("strip_ansi on its own") {
    CHECK(hmr::detail::strip_ansi("a\x1b[1;31mb\x1b[0mc\x1b") == "abc");
    CHECK(hmr::detail::strip_ansi("\x1b]8;;x\x1b\\y\x1b(Bz") == "yz");
  }
}

// A configure, compile and link log: Ninja, CMake, GCC, Clang, ld, with noise between.
TEST_CASE("a whole build log, incrementally and at once") {
  const std::string_view log =
      "-- Configuring done\n"
      "CMake Warning (dev) at CMakeLists.txt:4 (find_package):\n"
      "  By not providing \"FindFoo.cmake\" this project\n"
      "  has asked CMake to find Foo.\n"
      "\n"
      "  Could not find Foo:\n"
      "\n"
      "    FooConfig.cmake\n"
      "This warning is for project developers.  Use -Wno-dev to suppress it.\n"
      "\n"
      "[1/4] Building CXX object CMakeFiles/app.dir/src/a.cpp.o\n"
      "FAILED: CMakeFiles/app.dir/src/a.cpp.o \n"
      "/usr/bin/c++ -Wall -c /w/src/a.cpp\n"
      "In file included from /w/src/a.cpp:1:\n"
      "/w/src/b.hpp: In function \xe2\x80\x98int f(int)\xe2\x80\x99:\n"
      "/w/src/b.hpp:1:33: error: expected primary-expression\r\n"
      "    1 | inline int f(int a) { return a +; }\n"
      "      |                                 ^\n"
      "\x1b[01m\x1b[K/w/src/a.cpp:4:7:\x1b[m\x1b[K \x1b[01;35m\x1b[Kwarning: \x1b[m\x1b[Kunused "
      "variable \xe2\x80\x98x\xe2\x80\x99 [-Wunused-variable]\n"
      "    4 |   int x = y;\n"
      "      |       ^\n"
      "[2/4] Linking CXX executable app\n"
      "FAILED: app\n"
      "/usr/bin/ld: /tmp/cc.o: in function `main':\n"
      "l.cpp:(.text+0x5): undefined reference to `foo()'\n"
      "collect2: error: ld returned 1 exit status\n"
      "ninja: build stopped: subcommand failed.\n"
      "CMake Error at CMakeLists.txt:3 (add_executable):\n"
      "  add_executable called with incorrect number of arguments\n";
  const std::vector<diagnostic> want{
      make("CMakeLists.txt", 4, 0, lv::warning,
           "find_package: By not providing \"FindFoo.cmake\" this project has asked CMake to "
           "find Foo.\nCould not find Foo:\nFooConfig.cmake"),
      make("/w/src/b.hpp", 1, 33, lv::error, "expected primary-expression"),
      make("/w/src/a.cpp", 4, 7, lv::warning,
           "unused variable \xe2\x80\x98x\xe2\x80\x99 [-Wunused-variable]"),
      make("l.cpp", 0, 0, lv::error, "undefined reference to `foo()'"),
      make("", 0, 0, lv::error, "ld returned 1 exit status"),
      make("CMakeLists.txt", 3, 0, lv::error,
           "add_executable: add_executable called with incorrect number of arguments"),
  };

  SECTION("parse_diagnostics") { check_all(parse_diagnostics(log), want); }

  SECTION("diagnostic_parser, one line at a time, taking as it goes") {
    diagnostic_parser parser;
    std::vector<diagnostic> got;
    std::string_view rest = log;
    std::size_t lines = 0;
    while (!rest.empty()) {
      const auto nl = rest.find('\n');
      parser.feed(rest.substr(0, nl + 1));  // keeps the '\n', as read from a pipe
      rest.remove_prefix(nl + 1);
      ++lines;
      if (lines == 3) CHECK(parser.diagnostics().empty());      // the CMake body is still open
      if (lines == 9) CHECK(parser.diagnostics().size() == 1);  // closed by a column-0 line
      for (auto& d : parser.take()) got.push_back(std::move(d));
    }
    CHECK(parser.diagnostics().empty());
    CHECK(got.size() == want.size() - 1);  // the last CMake error waits for finish()
    parser.finish();
    for (auto& d : parser.take()) got.push_back(std::move(d));
    check_all(got, want);
    parser.finish();  // idempotent
    CHECK(parser.take().empty());
  }

  SECTION("the same log with CRLF endings") {
    std::string crlf;
    for (const char c : log) {
      if (c == '\n') crlf += '\r';
      crlf += c;
    }
    check_all(parse_diagnostics(crlf), want);
  }
}

TEST_CASE("parse_diagnostics edge cases") {
  SECTION("empty output") { CHECK(parse_diagnostics("").empty()); }
  SECTION("only newlines") { CHECK(parse_diagnostics("\n\r\n\n").empty()); }
  SECTION("no trailing newline") {
    check_all(parse_diagnostics("x\na.cpp:1:2: error: e"), {make("a.cpp", 1, 2, lv::error, "e")});
  }
  SECTION("a CMake header alone at the end keeps its command as message") {
    check_all(parse_diagnostics("CMake Error at CMakeLists.txt:7 (project):"),
              {make("CMakeLists.txt", 7, 0, lv::error, "project")});
  }
  SECTION("a line number too large for int is rejected") {
    CHECK_FALSE(parse_diagnostic_line("a.cpp:99999999999:1: error: e").has_value());
  }
}

TEST_CASE("a 10,000-line log") {
  std::string log;
  const int lines = 10000;
  for (int i = 1; i <= lines; ++i) {
    switch (i % 4) {
      case 0:
        log += "src/f" + std::to_string(i) + ".cpp:" + std::to_string(i) + ":7: warning: w" +
               std::to_string(i) + " [-Wunused]\n";
        break;
      case 1:
        log += "[" + std::to_string(i) + "/10000] Building CXX object x.o\n";
        break;
      case 2:
        log += "    " + std::to_string(i) + " |   int x = y;\n";
        break;
      default:
        log += "      |           ^\n";
        break;
    }
  }
  const auto found = parse_diagnostics(log);
  REQUIRE(found.size() == static_cast<std::size_t>(lines / 4));
  for (std::size_t k = 0; k < found.size(); ++k) {
    const int i = static_cast<int>(k + 1) * 4;
    INFO("k = " << k);
    REQUIRE(found[k].file == "src/f" + std::to_string(i) + ".cpp");
    REQUIRE(found[k].line == i);
    REQUIRE(found[k].column == 7);
    REQUIRE(found[k].severity == lv::warning);
    REQUIRE(found[k].message == "w" + std::to_string(i) + " [-Wunused]");
  }
}

// ---------------------------------------------------------------------------------------
// Paths printed relative to the directory the compiler ran in

TEST_CASE("parse_directory_change: make's and ninja's announcements") {
  using hmr::detail::parse_directory_change;
  const auto make_in = parse_directory_change("make[2]: Entering directory '/p/sub dir'");
  REQUIRE(make_in);
  CHECK(make_in->entering);
  CHECK(make_in->directory == "/p/sub dir");
  const auto make_out = parse_directory_change("make: Leaving directory `/p/sub'");
  REQUIRE(make_out);
  CHECK_FALSE(make_out->entering);
  CHECK(make_out->directory == "/p/sub");
  const auto ninja = parse_directory_change("ninja: Entering directory `build'");
  REQUIRE(ninja);
  CHECK(ninja->entering);
  CHECK(ninja->directory == "build");
  CHECK_FALSE(parse_directory_change("a b: Entering directory 'x'"));
  CHECK_FALSE(parse_directory_change("make: Entering directory x"));
  CHECK_FALSE(parse_directory_change("make: *** [Makefile:2: all] Error 1"));
  CHECK_FALSE(parse_directory_change("Entering directory 'x'"));
}

TEST_CASE("compile_command_directories: distinct values in order, escapes understood") {
  using hmr::detail::compile_command_directories;
  const std::string json = R"([
  {"directory": "/p/build", "file": "../a.cc", "command": "c++ -c ../a.cc"},
  {
    "directory" :
      "/p/build",
    "file": "../b.cc"
  },
  {"directory": "/p/other\/dir \"q\"", "file": "c.cc"},
  {"directory": "/p/\u0041", "file": "d.cc"},
  {"directory": 7}
])";
  CHECK(compile_command_directories(json) == std::vector<std::string>{"/p/build", "/p/other/dir \"q\""});
  CHECK(compile_command_directories(json, 1) == std::vector<std::string>{"/p/build"});
  CHECK(compile_command_directories("").empty());
  CHECK(compile_command_directories(R"({"directory": "/p/unterminated)").empty());
}

TEST_CASE("resolve_build_path: the first candidate holding the file, else the first") {
  using hmr::detail::resolve_build_path;
  const std::set<std::string> files{"/p/examples/hello.cc", "/p/build/gen/config.h", "/p/CMakeLists.txt"};
  const auto exists = [&files](const std::string& path) { return files.count(path) > 0; };
  const std::vector<std::string> meson{"/p/build", "/p"};
  CHECK(resolve_build_path("../examples/hello.cc", meson, exists) == "/p/examples/hello.cc");
  CHECK(resolve_build_path("gen/config.h", meson, exists) == "/p/build/gen/config.h");
  CHECK(resolve_build_path("CMakeLists.txt", meson, exists) == "/p/CMakeLists.txt");  // the second
  CHECK(resolve_build_path("./missing.cc", meson, exists) == "/p/build/missing.cc");  // none: the first
  // `cd out && c++ -c ../examples/hello.cc` (nothing announced): without the leading "..".
  CHECK(resolve_build_path("../examples/hello.cc", {"/p"}, exists) == "/p/examples/hello.cc");
  CHECK(resolve_build_path("../../examples/hello.cc", {"/p"}, exists) == "/p/examples/hello.cc");
  CHECK(resolve_build_path("../../missing.cc", {"/p"}, exists) == "/missing.cc");  // none: the first
  CHECK(resolve_build_path("/abs/x.cc", meson, exists) == "/abs/x.cc");
  CHECK(resolve_build_path("", meson, exists).empty());
  CHECK(resolve_build_path("../x.cc", {}, exists) == "../x.cc");  // nothing known
}

namespace {

/// A parser resolving against `dir`, fed `log`, finished.
std::vector<diagnostic> resolved(const std::string& dir, std::string_view log) {
  diagnostic_parser parser;
  parser.resolve_from(dir);
  while (!log.empty()) {
    const auto nl = log.find('\n');
    parser.feed(log.substr(0, nl));
    if (nl == std::string_view::npos) break;
    log.remove_prefix(nl + 1);
  }
  parser.finish();
  return parser.take();
}

}  // namespace

TEST_CASE("diagnostic_parser::resolve_from: Meson, make -C, compile_commands.json, CMake") {
  const hmr_test::temp_dir project("hmr-diagnostics");
  const std::string p = project.path.lexically_normal().string();
  project.write("examples/hello.cc", "int main() { return x; }\n");
  project.write("sub/lib.cc", "int f() { return y; }\n");
  project.write("CMakeLists.txt", "project(p)\n");
  std::filesystem::create_directories(project.path / "build");

  SECTION("ninja announces a relative build directory (meson compile, ninja -C)") {
    const auto found = resolved(p, "ninja: Entering directory `build'\n"
                                   "[1/2] Compiling C++ object hello.p/examples_hello.cc.o\n"
                                   "../examples/hello.cc:1:21: error: 'x' was not declared in this scope\n"
                                   "../examples/gone.cc:2:1: warning: no such file any more\n");
    REQUIRE(found.size() == 2);
    CHECK(found[0].file == p + "/examples/hello.cc");
    CHECK(found[0].line == 1);
    CHECK(found[1].file == p + "/examples/gone.cc");  // found nowhere: under the announced directory
  }
  SECTION("make -C: the innermost announced directory at the time of each diagnostic") {
    const auto found = resolved(p, "make: Entering directory '" + p + "/sub'\n"
                                   "lib.cc:1:18: error: 'y' was not declared in this scope\n"
                                   "make: Leaving directory '" + p + "/sub'\n"
                                   "CMakeLists.txt:1: warning: at the top again\n");
    REQUIRE(found.size() == 2);
    CHECK(found[0].file == p + "/sub/lib.cc");
    CHECK(found[1].file == p + "/CMakeLists.txt");
  }
  SECTION("compile_commands.json's directory comes first") {
    project.write("build/compile_commands.json",
                  R"([{"directory": ")" + p + R"(/build", "file": "../examples/hello.cc"}])");
    project.write("build/examples/hello.cc", "generated into the build directory\n");
    project.write("examples/only-here.cc", "");
    // No announcement: the file sits in the build's own directory (a symlink there, say).
    std::filesystem::copy_file(project.path / "build/compile_commands.json", project.path / "compile_commands.json");
    const auto found = resolved(p, "examples/hello.cc:1:1: error: from the build directory\n"
                                   "examples/only-here.cc:1:1: error: from the working directory\n");
    REQUIRE(found.size() == 2);
    CHECK(found[0].file == p + "/build/examples/hello.cc");
    CHECK(found[1].file == p + "/examples/only-here.cc");
  }
  SECTION("CMake's paths, absolute paths and tool messages") {
    const auto found = resolved(p, "CMake Error at CMakeLists.txt:1 (project):\n"
                                   "  something is wrong\n"
                                   "\n"
                                   "/usr/include/x.h:3:4: error: absolute stays\n"
                                   "collect2: error: ld returned 1 exit status\n");
    REQUIRE(found.size() == 3);
    CHECK(found[0].file == p + "/CMakeLists.txt");
    CHECK(found[0].message == "project: something is wrong");
    CHECK(found[1].file == "/usr/include/x.h");
    CHECK(found[2].file.empty());
  }
  SECTION("a relative build directory is taken against the current directory") {
    const std::string cwd = std::filesystem::current_path().string();
    REQUIRE(::chdir(p.c_str()) == 0);
    const auto found = resolved("build", "../examples/hello.cc:1:21: error: x\n");
    REQUIRE(::chdir(cwd.c_str()) == 0);
    REQUIRE(found.size() == 1);
    CHECK(found[0].file == p + "/examples/hello.cc");
  }
  SECTION("without resolve_from, paths stay as printed") {
    const auto found = parse_diagnostics("ninja: Entering directory `build'\n../examples/hello.cc:1:21: error: x\n");
    REQUIRE(found.size() == 1);
    CHECK(found[0].file == "../examples/hello.cc");
  }
}
