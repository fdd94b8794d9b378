#include "hmr_catch.hpp"
// CMake project discovery: the build directory (build/ or a preset's), the File API reply
// read into targets, and the choice of the executable. Real CMake projects are configured
// once each (static fixtures shared by the test cases); the rest uses fake build
// directories whose CMakeCache.txt and File API reply are written by hand.
#include <hmr/cmake_project.hpp>
//
#include "cmake_generator.hpp"
#include <stdlib.h>  // mkdtemp

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using strings = std::vector<std::string>;

/// A fresh directory under the system's temporary directory, removed with its content.
struct temp_dir {
  fs::path path{};
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "cmk-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) path = fs::path(pattern);
  }
  ~temp_dir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  /// Writes `text` to `name` (parents created) and returns the file's path.
  fs::path write(const std::string& name, const std::string& text) const {
    const fs::path file = path / name;
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << text;
    return file;
  }
  /// The absolute path of `name` as a string.
  std::string at(const std::string& name) const { return (path / name).string(); }
};

/// How a command ended and what it printed.
struct run_result {
  bool success = false;
  std::string output{};
};

/// Runs `command` (in `directory` when given) to its end, capturing stdout and stderr.
run_result run(const strings& command, const std::string& directory = {}) {
  std::mutex mutex;
  run_result out;
  auto child = hmr::child_process::spawn({
      .command = command,
      .working_directory = directory,
      .on_line =
          [&](hmr::output_stream, std::string_view line) {
            const std::lock_guard lock(mutex);
            out.output.append(line).append("\n");
          },
  });
  if (!child) return {false, child.error().message};
  const hmr::process_exit exit = child->wait();
  const std::lock_guard lock(mutex);
  out.success = exit.status.success();
  return out;
}

/// Sets the modification time of `file` to now plus `offset`.
void set_mtime(const fs::path& file, std::chrono::seconds offset) {
  fs::last_write_time(file, fs::file_time_type::clock::now() + offset);
}

const char* const tiny_main = "#include <cstdio>\nint main() { std::puts(\"hello from %\"); }\n";

/// `tiny_main` saying hello from `name`.
std::string main_of(const std::string& name) {
  std::string text = tiny_main;
  text.replace(text.find('%'), 1, name);
  return text;
}

// ---- real projects, each configured once ----

/// Two executables (one in bin/), a MODULE library, a static library, a custom target and
/// a shared library in a sub-project; configured into build/ as Debug, without a query.
struct multi_target_project {
  temp_dir dir{};
  run_result configured{};
  multi_target_project() {
    dir.write("CMakeLists.txt",
              "cmake_minimum_required(VERSION 3.16)\n"
              "project(multi CXX)\n"
              "add_executable(app app.cpp)\n"
              "add_executable(tool tool.cpp)\n"
              "set_target_properties(tool PROPERTIES RUNTIME_OUTPUT_DIRECTORY "
              "${CMAKE_BINARY_DIR}/bin)\n"
              "add_library(plugin MODULE plugin.cpp)\n"
              "add_library(helpers STATIC helpers.cpp)\n"
              "add_custom_target(docs COMMAND ${CMAKE_COMMAND} -E echo docs)\n"
              "add_subdirectory(dep)\n");
    dir.write("dep/CMakeLists.txt", "project(dep CXX)\nadd_library(dep SHARED dep.cpp)\n");
    dir.write("app.cpp", main_of("app"));
    dir.write("tool.cpp", main_of("tool"));
    dir.write("plugin.cpp", "extern \"C\" int plugin_value() { return 1; }\n");
    dir.write("helpers.cpp", "int helper() { return 2; }\n");
    dir.write("dep/dep.cpp", "int dep() { return 3; }\n");
    configured =
        run(hmr_test::with_cmake_generator(
            {"cmake", "-S", dir.path.string(), "-B", dir.at("build"), "-DCMAKE_BUILD_TYPE=Debug"}));
  }
};
multi_target_project& multi_project() {
  static multi_target_project project;
  return project;
}

/// One executable, configured with `cmake --preset dev` into out/dev (binaryDir inherited
/// from a hidden preset, with macros).
struct preset_project_fixture {
  temp_dir dir{};
  run_result configured{};
  preset_project_fixture() {
    dir.write("CMakeLists.txt",
              "cmake_minimum_required(VERSION 3.16)\nproject(single CXX)\n"
              "add_executable(hello main.cpp)\n");
    dir.write("main.cpp", main_of("hello"));
    dir.write("CMakePresets.json", R"({
  "version": 3,
  "configurePresets": [
    {"name": "base", "hidden": true, "binaryDir": "${sourceDir}/out/${presetName}"},
    {"name": "dev", "inherits": "base", "cacheVariables": {"CMAKE_BUILD_TYPE": "Debug"}}
  ]
})");
    configured = run(hmr_test::with_cmake_generator({"cmake", "--preset", "dev"}), dir.path.string());
  }
};
preset_project_fixture& preset_project() {
  static preset_project_fixture project;
  return project;
}

// ---- fake build directories ----

/// A fake configured build: CMakeCache.txt, the query, and a File API reply written by
/// hand, the reply newer than the rest (so no cmake run is needed).
struct fake_build {
  temp_dir dir{};
  fs::path reply{};
  fake_build() {
    dir.write("CMakeLists.txt", "project(fake)\n");
    dir.write("build/CMakeCache.txt", "");
    dir.write("build/.cmake/api/v1/query/codemodel-v2", "");
    reply = dir.path / "build/.cmake/api/v1/reply";
    for (const char* file :
         {"CMakeLists.txt", "build/CMakeCache.txt", "build/.cmake/api/v1/query/codemodel-v2"})
      set_mtime(dir.path / file, -3600s);
  }
  /// Writes a reply file (an index-*.json gets the current time, newer than the rest).
  void write_reply(const std::string& name, const std::string& text) const {
    dir.write("build/.cmake/api/v1/reply/" + name, text);
  }
  /// A reply index naming `codemodel` as the answer to the codemodel-v2 query.
  void write_index(const std::string& name, const std::string& codemodel) const {
    write_reply(name,
                R"({"cmake": {"generator": {"multiConfig": true, "name": "Ninja Multi-Config"},
  "paths": {"cmake": "/opt/cmake/bin/cmake"}},
 "reply": {"codemodel-v2": {"kind": "codemodel", "jsonFile": ")" +
                    codemodel + R"("}}})");
  }
  /// A multi-config codemodel: app (per-configuration artifacts), tool (an absolute
  /// artifact), a generator-provided ZERO_CHECK.
  void write_multi_config_reply() const {
    write_index("index-2024-05-01T10-00-00-0000.json", "codemodel-v2-abc.json");
    const std::string src = dir.path.string(), build = dir.at("build");
    write_reply("codemodel-v2-abc.json", R"({"kind": "codemodel",
 "paths": {"source": ")" + src + R"(", "build": ")" +
                                             build + R"("},
 "configurations": [
  {"name": "Debug", "projects": [{"name": "fake"}], "targets": [
    {"name": "app", "projectIndex": 0, "jsonFile": "target-app-Debug.json"},
    {"name": "ZERO_CHECK", "projectIndex": 0, "jsonFile": "target-zc-Debug.json"},
    {"name": "tool", "projectIndex": 0, "jsonFile": "target-tool-Debug.json"}]},
  {"name": "Release", "projects": [{"name": "fake"}], "targets": [
    {"name": "app", "projectIndex": 0, "jsonFile": "target-app-Release.json"}]}]})");
    write_reply("target-app-Debug.json",
                R"({"name": "app", "type": "EXECUTABLE", "artifacts": [{"path": "Debug/app"}]})");
    write_reply("target-app-Release.json",
                R"({"name": "app", "type": "EXECUTABLE", "artifacts": [{"path": "Release/app"}]})");
    write_reply(
        "target-tool-Debug.json",
        R"({"name": "tool", "type": "EXECUTABLE", "artifacts": [{"path": "/opt/out/tool"}]})");
    write_reply("target-zc-Debug.json",
                R"({"name": "ZERO_CHECK", "type": "UTILITY", "isGeneratorProvided": true})");
  }
};

hmr::cmake_target target(std::string name, std::string type, strings artifacts = {},
                         std::string project = "multi") {
  return {std::move(name), std::move(type), std::move(artifacts), std::move(project)};
}

}  // namespace

TEST_CASE("find_cmake_build_dir: no CMake project, or nothing configured", "[cmake_project]") {
  temp_dir dir;
  const std::string src = dir.path.string();
  const std::string abs = dir.path.string();

  SECTION("no CMakeLists.txt") {
    const auto found = hmr::find_cmake_build_dir(src);
    REQUIRE_FALSE(found);
    CHECK(found.error().message ==
          "no CMakeLists.txt in " + abs + "; pass the command to run: hmr -- ./app");
  }
  SECTION("a CMakeLists.txt and an unconfigured build/") {
    dir.write("CMakeLists.txt", "project(x)\n");
    fs::create_directories(dir.path / "build");
    const auto found = hmr::find_cmake_build_dir(src);
    REQUIRE_FALSE(found);
    CHECK(found.error().message ==
          abs + " has a CMakeLists.txt but no configured build directory (" + abs +
              "/build/ has no CMakeCache.txt); configure it first: "
              "cmake -S " +
              abs + " -B " + abs +
              "/build, or pass the "
              "command to run: hmr -- ./app");
  }
  SECTION("presets, none configured: the message names the first visible one") {
    dir.write("CMakeLists.txt", "project(x)\n");
    dir.write("CMakePresets.json", R"({"version": 3, "configurePresets": [
      {"name": "base", "hidden": true, "binaryDir": "${sourceDir}/out/${presetName}"},
      {"name": "dev", "inherits": "base"}, {"name": "rel", "inherits": "base"}]})");
    const auto found = hmr::find_cmake_build_dir(src);
    REQUIRE_FALSE(found);
    CHECK(found.error().message ==
          abs + " has a CMakeLists.txt but no configured build directory (" + abs +
              "/build/ has no CMakeCache.txt, nor has the binaryDir of preset dev, rel); "
              "configure it first: cmake --preset dev (or cmake -S " +
              abs + " -B " + abs + "/build), or pass the command to run: hmr -- ./app");
  }
}

TEST_CASE("find_cmake_build_dir: build/ first, then configure presets", "[cmake_project]") {
  struct row {
    const char* what;
    const char* presets;       // CMakePresets.json ("" for none)
    const char* user_presets;  // CMakeUserPresets.json ("" for none)
    strings configured;        // directories given a CMakeCache.txt
    const char* expected;      // relative to the source directory
  };
  const char* const dev_and_rel = R"({"version": 3, "configurePresets": [
    {"name": "dev", "binaryDir": "${sourceDir}/out/dev"},
    {"name": "rel", "binaryDir": "${sourceDir}/out/rel"}]})";
  const std::vector<row> rows = {
      {"build/ only", "", "", {"build"}, "build"},
      {"build/ wins over a configured preset", dev_and_rel, "", {"out/rel", "build"}, "build"},
      {"the first configured preset in file order",
       dev_and_rel,
       "",
       {"out/rel", "out/dev"},
       "out/dev"},
      {"a later preset when the first is not configured", dev_and_rel, "", {"out/rel"}, "out/rel"},
      {"a relative binaryDir is relative to the source directory",
       R"({"version": 3, "configurePresets": [{"name": "x", "binaryDir": "b/../out/x/"}]})",
       "",
       {"out/x"},
       "out/x"},
      {"${presetName} of the preset configured, binaryDir inherited from a hidden one",
       R"({"version": 3, "configurePresets": [
          {"name": "base", "hidden": true, "binaryDir": "${sourceDir}/out/${presetName}"},
          {"name": "debug", "inherits": ["base"]}]})",
       "",
       {"out/debug"},
       "out/debug"},
      {"a hidden preset is never picked",
       R"({"version": 3, "configurePresets": [
          {"name": "base", "hidden": true, "binaryDir": "${sourceDir}/out/base"},
          {"name": "debug", "inherits": "base", "binaryDir": "${sourceDir}/out/debug"}]})",
       "",
       {"out/base", "out/debug"},
       "out/debug"},
      {"the earlier of several parents wins",
       R"({"version": 3, "configurePresets": [
          {"name": "a", "hidden": true, "binaryDir": "${sourceDir}/from-a"},
          {"name": "b", "hidden": true, "binaryDir": "${sourceDir}/from-b"},
          {"name": "c", "inherits": ["a", "b"]}]})",
       "",
       {"from-a", "from-b"},
       "from-a"},
      {"CMakeUserPresets.json, inheriting from CMakePresets.json",
       R"({"version": 3, "configurePresets": [
          {"name": "base", "hidden": true, "binaryDir": "${sourceDir}/out/${presetName}"}]})",
       R"({"version": 3, "configurePresets": [{"name": "mine", "inherits": "base"}]})",
       {"out/mine"},
       "out/mine"},
      {"an included file, with ${fileDir}",
       R"({"version": 4, "include": ["cmake/more.json"]})",
       "",
       {"cmake/out"},
       "cmake/out"},
      {"$env{} from the preset's environment (a parent's, overridden), generator, dollar",
       R"({"version": 3, "configurePresets": [
          {"name": "p", "hidden": true, "environment": {"DIR": "parent", "SUB": "s"}},
          {"name": "q", "inherits": "p", "generator": "Ninja", "environment": {"DIR": "own"},
           "binaryDir": "${sourceDir}/$env{DIR}-$env{SUB}-${generator}-${dollar}"}]})",
       "",
       {"own-s-Ninja-$"},
       "own-s-Ninja-$"},
  };
  for (const row& r : rows) {
    CAPTURE(r.what);
    temp_dir dir;
    dir.write("CMakeLists.txt", "project(x)\n");
    if (*r.presets != '\0') dir.write("CMakePresets.json", r.presets);
    if (*r.user_presets != '\0') dir.write("CMakeUserPresets.json", r.user_presets);
    dir.write("cmake/more.json", R"({"version": 4, "configurePresets": [
      {"name": "inc", "binaryDir": "${fileDir}/out"}]})");
    for (const std::string& d : r.configured) dir.write(d + "/CMakeCache.txt", "");
    const auto found = hmr::find_cmake_build_dir(dir.path.string());
    REQUIRE(found);
    CHECK(*found == dir.at(r.expected));
  }
}

TEST_CASE("find_cmake_build_dir: the source directory's name and parent macros",
          "[cmake_project]") {
  temp_dir dir;
  dir.write("proj/CMakeLists.txt", "project(x)\n");
  dir.write("proj/CMakePresets.json", R"({"version": 3, "configurePresets": [
    {"name": "side", "binaryDir": "${sourceParentDir}/${sourceDirName}-build"}]})");
  dir.write("proj-build/CMakeCache.txt", "");
  const auto found = hmr::find_cmake_build_dir(dir.at("proj/"));
  REQUIRE(found);
  CHECK(*found == dir.at("proj-build"));
}

TEST_CASE("find_cmake_build_dir: what is not a known macro stays as written", "[cmake_project]") {
  temp_dir dir;
  dir.write("CMakeLists.txt", "project(x)\n");
  dir.write("CMakePresets.json", R"({"version": 3, "configurePresets": [{"name": "m",
    "binaryDir": "${sourceDir}/o-$penv{HMR_CMK_TEST_UNSET}-${hostSystemName}-a$b-$vendor{v}-${nope}-${presetName}-$"}]})");
  const std::string expected = dir.at("o--Linux-a$b-$vendor{v}-${nope}-m-$");
  dir.write("o--Linux-a$b-$vendor{v}-${nope}-m-$/CMakeCache.txt", "");
  const auto found = hmr::find_cmake_build_dir(dir.path.string());
  REQUIRE(found);
  CHECK(*found == expected);
}

TEST_CASE("find_cmake_build_dir: broken presets files name the file and position",
          "[cmake_project]") {
  temp_dir dir;
  dir.write("CMakeLists.txt", "project(x)\n");
  const std::string presets = dir.at("CMakePresets.json");

  SECTION("invalid JSON") {
    dir.write(
        "CMakePresets.json",
        "{\n  \"version\": 3,\n  \"configurePresets\": [\n    {\"name\": \"dev\",}\n  ]\n}\n");
    const auto found = hmr::find_cmake_build_dir(dir.path.string());
    REQUIRE_FALSE(found);
    CHECK(found.error().message == presets + ":4:19: trailing comma before '}'");
  }
  SECTION("invalid JSON in CMakeUserPresets.json") {
    dir.write("CMakeUserPresets.json", "{\"version\": 3 \"configurePresets\": []}");
    const auto found = hmr::find_cmake_build_dir(dir.path.string());
    REQUIRE_FALSE(found);
    CHECK(found.error().message ==
          dir.at("CMakeUserPresets.json") +
              ":1:15: expected ',' or '}' after object member, found '\"'");
  }
  SECTION("a preset without a name") {
    dir.write("CMakePresets.json", R"({"configurePresets": [{"name": "a"}, {"binaryDir": "b"}]})");
    const auto found = hmr::find_cmake_build_dir(dir.path.string());
    REQUIRE_FALSE(found);
    CHECK(found.error().message == presets + ": configurePresets[1] has no \"name\" string");
  }
  SECTION("a missing include") {
    dir.write("CMakePresets.json", R"({"version": 4, "include": ["gone.json"]})");
    const auto found = hmr::find_cmake_build_dir(dir.path.string());
    REQUIRE_FALSE(found);
    CHECK(found.error().message ==
          presets + ": the included file " + dir.at("gone.json") + " does not exist");
  }
  SECTION("not an object") {
    dir.write("CMakePresets.json", "[]");
    const auto found = hmr::find_cmake_build_dir(dir.path.string());
    REQUIRE_FALSE(found);
    CHECK(found.error().message == presets + ": expected an object at the top level, found array");
  }
}

TEST_CASE("query_cmake_project: a real project with two executables and a module",
          "[cmake_project]") {
  multi_target_project& p = multi_project();
  INFO(p.configured.output);
  REQUIRE(p.configured.success);
  const std::string src = p.dir.path.string();
  const std::string build = p.dir.at("build");
  const fs::path query = p.dir.path / "build/.cmake/api/v1/query/codemodel-v2";

  // The first query writes the query file and runs cmake (no reply yet); later ones read it.
  const auto project = hmr::query_cmake_project(src, build);
  INFO((project ? std::string{} : project.error().message));
  REQUIRE(project);
  CHECK(fs::exists(query));
  CHECK(project->source_dir == src);
  CHECK(project->build_dir == build);
  CHECK(project->configurations == strings{"Debug"});
  CHECK(project->configuration == "Debug");
  CHECK_FALSE(project->multi_config);
  CHECK(project->display_build_dir() == "build");
  CHECK(project->targets == std::vector<hmr::cmake_target>{
                                target("app", "EXECUTABLE", {build + "/app"}),
                                target("dep", "SHARED_LIBRARY", {build + "/dep/libdep.so"}, "dep"),
                                target("docs", "UTILITY"),
                                target("helpers", "STATIC_LIBRARY", {build + "/libhelpers.a"}),
                                target("plugin", "MODULE_LIBRARY", {build + "/libplugin.so"}),
                                target("tool", "EXECUTABLE", {build + "/bin/tool"}),
                            });
  CHECK(project->executables() == strings{"app", "tool"});
  CHECK(project->modules() == strings{"plugin"});

  SECTION("an up-to-date reply is read without running cmake") {
    const auto again =
        hmr::query_cmake_project(src, build, {.cmake_program = "/nonexistent/cmake"});
    INFO((again ? std::string{} : again.error().message));
    REQUIRE(again);
    CHECK(again->targets == project->targets);
  }
  SECTION("discover_cmake_project finds build/ and gives the same project") {
    const auto discovered = hmr::discover_cmake_project(src);
    REQUIRE(discovered);
    CHECK(discovered->targets == project->targets);
  }
  SECTION("picking: several executables need --target") {
    const auto none_named = hmr::pick_executable(*project);
    REQUIRE_FALSE(none_named);
    CHECK(none_named.error().message ==
          "2 executables in build: app, tool — pick one with --target NAME");
    const auto tool = hmr::pick_executable(*project, "tool");
    REQUIRE(tool);
    CHECK(*tool == target("tool", "EXECUTABLE", {build + "/bin/tool"}));
    const auto module = hmr::pick_executable(*project, "plugin");
    REQUIRE_FALSE(module);
    CHECK(module.error().message ==
          "target 'plugin' is a MODULE_LIBRARY, not an executable; "
          "executables in build: app, tool");
    const auto missing = hmr::pick_executable(*project, "nope");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message == "no target 'nope' in build; executables in build: app, tool");
  }
  SECTION("cmake --build makes every artifact, and the executable runs") {
    const strings build_command = hmr::cmake_build_command(*project);
    CHECK(build_command == strings{project->cmake_program, "--build", build});
    const run_result built = run(build_command);
    INFO(built.output);
    REQUIRE(built.success);
    for (const std::string_view name : {"app", "dep", "helpers", "plugin", "tool"}) {
      const hmr::cmake_target* t = project->find_target(name);
      REQUIRE(t != nullptr);
      CAPTURE(name, t->artifacts.front());
      CHECK(fs::is_regular_file(t->artifacts.front()));
    }
    const auto tool = hmr::pick_executable(*project, "tool");
    REQUIRE(tool);
    const run_result ran = run({tool->artifacts.front()});
    CHECK(ran.success);
    CHECK(ran.output == "hello from tool\n");
  }
}

TEST_CASE("query_cmake_project: a real project configured with a preset", "[cmake_project]") {
  preset_project_fixture& p = preset_project();
  INFO(p.configured.output);
  REQUIRE(p.configured.success);
  const std::string build = p.dir.at("out/dev");

  const auto found = hmr::find_cmake_build_dir(p.dir.path.string());
  REQUIRE(found);
  CHECK(*found == build);
  const auto project = hmr::discover_cmake_project(p.dir.path.string());
  INFO((project ? std::string{} : project.error().message));
  REQUIRE(project);
  CHECK(project->build_dir == build);
  CHECK(project->display_build_dir() == "out/dev");
  CHECK(project->targets == std::vector<hmr::cmake_target>{
                                target("hello", "EXECUTABLE", {build + "/hello"}, "single")});

  const auto hello = hmr::pick_executable(*project);  // the only one: no --target needed
  REQUIRE(hello);
  CHECK(hello->name == "hello");
  const strings command = hmr::cmake_build_command(*project, {hello->name});
  CHECK(command == strings{project->cmake_program, "--build", build, "--target", "hello"});
  const run_result built = run(command);
  INFO(built.output);
  REQUIRE(built.success);
  const run_result ran = run({hello->artifacts.front()});
  CHECK(ran.success);
  CHECK(ran.output == "hello from hello\n");
}

TEST_CASE("query_cmake_project: a real project without executables, then broken",
          "[cmake_project]") {
  temp_dir dir;
  const std::string src = dir.path.string();
  const std::string build = dir.at("build");
  dir.write("CMakeLists.txt",
            "cmake_minimum_required(VERSION 3.16)\nproject(scripts NONE)\n"
            "add_custom_target(lint COMMAND ${CMAKE_COMMAND} -E echo lint)\n");
  const run_result configured = run(hmr_test::with_cmake_generator({"cmake", "-S", src, "-B", build}));
  INFO(configured.output);
  REQUIRE(configured.success);

  const auto project = hmr::query_cmake_project(src, build);
  INFO((project ? std::string{} : project.error().message));
  REQUIRE(project);
  CHECK(project->targets ==
        std::vector<hmr::cmake_target>{target("lint", "UTILITY", {}, "scripts")});
  const auto picked = hmr::pick_executable(*project);
  REQUIRE_FALSE(picked);
  CHECK(picked.error().message == "no executable target in build (CMake project " + src +
                                      "); add one with add_executable(), or pass the command to "
                                      "run: hmr -- ./app");
  const auto named = hmr::pick_executable(*project, "lint");
  REQUIRE_FALSE(named);
  CHECK(named.error().message ==
        "target 'lint' is a UTILITY, not an executable; build has no executable targets");

  // A CMakeLists.txt that no longer configures: the error carries CMake's own words.
  dir.write("CMakeLists.txt",
            "cmake_minimum_required(VERSION 3.16)\nproject(scripts NONE)\n"
            "message(FATAL_ERROR \"broken on purpose\")\n");
  fs::remove_all(dir.path / "build/.cmake/api/v1/reply");
  const auto broken = hmr::query_cmake_project(src, build);
  REQUIRE_FALSE(broken);
  CHECK(broken.error().message == "cmake -S " + src + " -B " + build +
                                      " failed (exit code 1):\n"
                                      "CMake Error at CMakeLists.txt:3 (message):\n"
                                      "  broken on purpose");
}

TEST_CASE("query_cmake_project: reading a hand-written multi-config reply", "[cmake_project]") {
  fake_build b;
  b.write_multi_config_reply();
  const std::string build = b.dir.at("build");
  const hmr::cmake_query_options no_cmake{.cmake_program = "/nonexistent/cmake"};

  SECTION("the first configuration by default; generator-provided targets left out") {
    const auto project = hmr::query_cmake_project(b.dir.path.string(), build, no_cmake);
    INFO((project ? std::string{} : project.error().message));
    REQUIRE(project);
    CHECK(project->cmake_program == "/opt/cmake/bin/cmake");
    CHECK(project->generator == "Ninja Multi-Config");
    CHECK(project->multi_config);
    CHECK(project->configurations == strings{"Debug", "Release"});
    CHECK(project->configuration == "Debug");
    CHECK(project->targets == std::vector<hmr::cmake_target>{
                                  target("app", "EXECUTABLE", {build + "/Debug/app"}, "fake"),
                                  target("tool", "EXECUTABLE", {"/opt/out/tool"}, "fake"),
                              });
    CHECK(hmr::cmake_build_command(*project, {"app", "tool"}) ==
          strings{"/opt/cmake/bin/cmake", "--build", build, "--config", "Debug", "--target", "app",
                  "tool"});
  }
  SECTION("a chosen configuration") {
    auto options = no_cmake;
    options.configuration = "Release";
    const auto project = hmr::query_cmake_project(b.dir.path.string(), build, options);
    REQUIRE(project);
    CHECK(project->configuration == "Release");
    CHECK(project->targets == std::vector<hmr::cmake_target>{
                                  target("app", "EXECUTABLE", {build + "/Release/app"}, "fake")});
    CHECK(hmr::cmake_build_command(*project) ==
          strings{"/opt/cmake/bin/cmake", "--build", build, "--config", "Release"});
  }
  SECTION("a configuration the build does not have") {
    auto options = no_cmake;
    options.configuration = "MinSizeRel";
    const auto project = hmr::query_cmake_project(b.dir.path.string(), build, options);
    REQUIRE_FALSE(project);
    CHECK(project.error().message ==
          "build has no configuration 'MinSizeRel' (it has: Debug, Release)");
  }
  SECTION("the newest index is the one read") {
    b.write_index("index-2023-01-01T00-00-00-0000.json", "codemodel-v2-gone.json");
    const auto project = hmr::query_cmake_project(b.dir.path.string(), build, no_cmake);
    REQUIRE(project);
    CHECK(project->executables() == strings{"app", "tool"});
  }
}

TEST_CASE("query_cmake_project: when cmake must run, and replies that cannot be used",
          "[cmake_project]") {
  fake_build b;
  const std::string build = b.dir.at("build");
  const std::string reply = b.reply.string();
  const hmr::cmake_query_options no_cmake{.cmake_program = "/nonexistent/cmake"};
  const std::string cannot_run =
      "cannot run '/nonexistent/cmake': No such file or directory; hmr "
      "runs CMake to list the targets of " +
      build + " (install CMake, or put it in PATH)";
  b.write_multi_config_reply();

  SECTION("a reply older than CMakeCache.txt") {
    set_mtime(b.dir.path / "build/CMakeCache.txt", 3600s);
    const auto project = hmr::query_cmake_project(b.dir.path.string(), build, no_cmake);
    REQUIRE_FALSE(project);
    CHECK(project.error().message == cannot_run);
  }
  SECTION("a reply older than the top CMakeLists.txt") {
    set_mtime(b.dir.path / "CMakeLists.txt", 3600s);
    const auto project = hmr::query_cmake_project(b.dir.path.string(), build, no_cmake);
    REQUIRE_FALSE(project);
    CHECK(project.error().message == cannot_run);
  }
  SECTION("no query file yet: it is written, and cmake must answer it") {
    const fs::path query = b.dir.path / "build/.cmake/api/v1/query/codemodel-v2";
    fs::remove(query);
    const auto project = hmr::query_cmake_project(b.dir.path.string(), build, no_cmake);
    REQUIRE_FALSE(project);
    CHECK(project.error().message == cannot_run);
    CHECK(fs::is_regular_file(query));
  }
  SECTION("a cmake that fails: the last 20 lines of its stderr, else of its stdout") {
    set_mtime(b.dir.path / "build/CMakeCache.txt", 3600s);
    const fs::path fake = b.dir.write("fake-cmake", R"(#!/bin/sh
echo "status on stdout"
i=1
while [ "$i" -le 25 ]; do echo "error $i" >&2; i=$((i + 1)); done
exit 2
)");
    fs::permissions(fake, fs::perms::owner_all);
    const auto project =
        hmr::query_cmake_project(b.dir.path.string(), build, {.cmake_program = fake.string()});
    REQUIRE_FALSE(project);
    std::string expected = fake.string() + " -S " + b.dir.path.string() + " -B " + build +
                           " failed (exit code 2); the last 20 lines it printed:";
    for (int i = 6; i <= 25; ++i) expected += "\nerror " + std::to_string(i);
    CHECK(project.error().message == expected);

    b.dir.write("fake-cmake", "#!/bin/sh\necho 'only on stdout'\nexit 3\n");
    const auto quiet =
        hmr::query_cmake_project(b.dir.path.string(), build, {.cmake_program = fake.string()});
    REQUIRE_FALSE(quiet);
    CHECK(quiet.error().message == fake.string() + " -S " + b.dir.path.string() + " -B " + build +
                                       " failed (exit code 3):\nonly on stdout");
  }
  SECTION("a cmake that succeeds without writing a reply") {
    fs::remove_all(b.reply);
    const fs::path fake = b.dir.write("fake-cmake", "#!/bin/sh\nexit 0\n");
    fs::permissions(fake, fs::perms::owner_all);
    const auto project =
        hmr::query_cmake_project(b.dir.path.string(), build, {.cmake_program = fake.string()});
    REQUIRE_FALSE(project);
    CHECK(project.error().message == "CMake wrote no File API reply in " + reply +
                                         " (the File API needs CMake 3.14 or newer)");
  }
  SECTION("no CMakeCache.txt") {
    fs::remove(b.dir.path / "build/CMakeCache.txt");
    const auto project = hmr::query_cmake_project(b.dir.path.string(), build, no_cmake);
    REQUIRE_FALSE(project);
    CHECK(project.error().message == build +
                                         " is not a configured CMake build directory (it has "
                                         "no CMakeCache.txt); configure it first: cmake -S " +
                                         b.dir.path.string() + " -B " + build);
  }
  SECTION("CMake answered the query with an error") {
    b.write_reply("index-2030-01-01T00-00-00-0000.json",
                  R"({"reply": {"codemodel-v2": {"error": "unknown query file"}}})");
    const auto project = hmr::query_cmake_project(b.dir.path.string(), build, no_cmake);
    REQUIRE_FALSE(project);
    CHECK(project.error().message ==
          "CMake could not answer the codemodel query: unknown query file");
  }
  SECTION("a codemodel that is not valid JSON") {
    b.write_reply("codemodel-v2-abc.json", "{\"kind\": \"codemodel\",\n \"paths\": }");
    const auto project = hmr::query_cmake_project(b.dir.path.string(), build, no_cmake);
    REQUIRE_FALSE(project);
    CHECK(project.error().message ==
          reply + "/codemodel-v2-abc.json:2:11: expected a value, found '}'");
  }
  SECTION("a target without a type") {
    b.write_reply("target-tool-Debug.json", R"({"name": "tool"})");
    const auto project = hmr::query_cmake_project(b.dir.path.string(), build, no_cmake);
    REQUIRE_FALSE(project);
    CHECK(project.error().message == "unexpected content in CMake's reply " + reply +
                                         "/target-tool-Debug.json: a target needs a \"name\" and "
                                         "a \"type\"; delete " +
                                         reply + " and run hmr again");
  }
}

TEST_CASE("pick_executable and cmake_build_command on a given project", "[cmake_project]") {
  hmr::cmake_project project{
      .source_dir = "/src", .build_dir = "/src/out/dev", .cmake_program = "cmake"};
  SECTION("one executable, with or without its name") {
    project.targets = {target("app", "EXECUTABLE", {"/src/out/dev/app"}),
                       target("hot", "MODULE_LIBRARY", {"/src/out/dev/libhot.so"})};
    for (const std::string_view name : {"", "app"}) {
      const auto picked = hmr::pick_executable(project, name);
      REQUIRE(picked);
      CHECK(*picked == project.targets.front());
    }
  }
  SECTION("three executables, build directory outside the sources") {
    project.build_dir = "/tmp/b";
    project.targets = {target("app", "EXECUTABLE", {"/tmp/b/app"}),
                       target("bench_x", "EXECUTABLE", {"/tmp/b/bench_x"}),
                       target("tool", "EXECUTABLE", {"/tmp/b/tool"})};
    const auto picked = hmr::pick_executable(project);
    REQUIRE_FALSE(picked);
    CHECK(picked.error().message ==
          "3 executables in /tmp/b: app, bench_x, tool — pick one with --target NAME");
  }
  SECTION("no targets at all") {
    const auto picked = hmr::pick_executable(project, "app");
    REQUIRE_FALSE(picked);
    CHECK(picked.error().message ==
          "no target 'app' in out/dev; out/dev has no executable targets");
  }
  SECTION("an executable CMake reports no file for") {
    project.targets = {target("app", "EXECUTABLE")};
    const auto picked = hmr::pick_executable(project);
    REQUIRE_FALSE(picked);
    CHECK(picked.error().message == "CMake reports no file for executable 'app' in out/dev");
  }
  SECTION("the build command: --config only for a multi-config build") {
    project.configuration = "Debug";
    CHECK(hmr::cmake_build_command(project, {"app"}) ==
          strings{"cmake", "--build", "/src/out/dev", "--target", "app"});
    project.multi_config = true;
    CHECK(hmr::cmake_build_command(project) ==
          strings{"cmake", "--build", "/src/out/dev", "--config", "Debug"});
  }
}
