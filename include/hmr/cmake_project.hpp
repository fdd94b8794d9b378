// Zero-configuration discovery of a CMake project: find its configured build directory
// (`build/` or the binaryDir of a configure preset), then list its targets, their types and
// the files they build through the CMake File API. Design notes: docs/cmake-project.md.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <hmr/detail/json_reader.hpp>
#include <hmr/detail/result.hpp>
#include <hmr/process.hpp>
#include <iterator>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace hmr {

/// One target of a configured CMake build, as CMake's File API describes it.
struct cmake_target {
  /// The target's name, as in `add_executable(NAME ...)`.
  std::string name{};
  /// CMake's type: "EXECUTABLE", "MODULE_LIBRARY", "SHARED_LIBRARY", "STATIC_LIBRARY",
  /// "OBJECT_LIBRARY", "INTERFACE_LIBRARY" or "UTILITY".
  std::string type{};
  /// Absolute paths of the files the target builds, the main one first (a program before
  /// its .pdb); empty for targets that build no file (UTILITY).
  std::vector<std::string> artifacts{};
  /// The `project()` that defines it (a dependency's, for targets from add_subdirectory
  /// or FetchContent).
  std::string project{};

  /// True for a program (`add_executable`).
  [[nodiscard]] bool is_executable() const noexcept { return type == "EXECUTABLE"; }
  /// True for a hot-reloadable module (`add_library(NAME MODULE ...)`).
  [[nodiscard]] bool is_module() const noexcept { return type == "MODULE_LIBRARY"; }

  /// Member-wise equality.
  friend bool operator==(const cmake_target&, const cmake_target&) = default;
};

/// A configured CMake build and its targets, as `query_cmake_project` reads them.
///
/// @code
///   auto project = hmr::discover_cmake_project(".");
///   if (!project) return usage_error(project.error().message);
///   auto app = hmr::pick_executable(*project, target_flag);  // "" when not given
///   if (!app) return usage_error(app.error().message);
///   std::vector<std::string> build = hmr::cmake_build_command(*project);
///   std::vector<std::string> run = {app->artifacts.front()};
/// @endcode
struct cmake_project {
  /// The absolute top-level source directory (the one with the top CMakeLists.txt).
  std::string source_dir{};
  /// The absolute build directory.
  std::string build_dir{};
  /// The cmake program that configured the build (its absolute path, from the reply).
  std::string cmake_program = "cmake";
  /// The generator: "Ninja", "Unix Makefiles", "Ninja Multi-Config", ...
  std::string generator{};
  /// True when the generator builds several configurations in one build directory.
  bool multi_config = false;
  /// Every configuration of the build: {"Debug", "Release", ...} for a multi-config
  /// generator, otherwise one (CMAKE_BUILD_TYPE, "" when that is empty).
  std::vector<std::string> configurations{};
  /// The configuration `targets` describe.
  std::string configuration{};
  /// The targets, sorted by name (imported targets and generator-provided ones excluded).
  std::vector<cmake_target> targets{};

  /// The names of the executable targets, sorted.
  [[nodiscard]] std::vector<std::string> executables() const { return names_if(true); }
  /// The names of the MODULE library targets (hot-reloadable modules), sorted.
  [[nodiscard]] std::vector<std::string> modules() const { return names_if(false); }
  /// The target called `name`, or nullptr.
  [[nodiscard]] const cmake_target* find_target(std::string_view name) const noexcept {
    for (const cmake_target& t : targets)
      if (t.name == name) return &t;
    return nullptr;
  }
  /// The build directory for messages: relative to the source directory when inside it
  /// ("build", "out/dev"), otherwise absolute.
  [[nodiscard]] std::string display_build_dir() const {
    const std::filesystem::path rel =
        std::filesystem::path(build_dir).lexically_relative(source_dir);
    if (rel.empty() || *rel.begin() == "..") return build_dir;
    return rel.generic_string();
  }

 private:
  std::vector<std::string> names_if(bool executables) const {
    std::vector<std::string> names;
    for (const cmake_target& t : targets)
      if (executables ? t.is_executable() : t.is_module()) names.push_back(t.name);
    return names;
  }
};

/// How `query_cmake_project` talks to CMake.
struct cmake_query_options {
  /// The cmake program run when the build has no up-to-date File API reply.
  std::string cmake_program = "cmake";
  /// The configuration to describe in a multi-config build ("Release", ...); empty: the
  /// first one, which `cmake --build` builds when given no `--config` (Debug by default).
  std::string configuration{};
};

namespace detail::cmake {

namespace fs = std::filesystem;

/// `p` made absolute and normal, without a trailing separator ("." is the current dir).
inline fs::path absolute_path(std::string_view p) {
  std::error_code ec;
  fs::path out = fs::absolute(fs::path(p.empty() ? std::string_view{"."} : p), ec);
  if (ec) out = fs::path(p);
  out = out.lexically_normal();
  if (!out.has_filename() && out.has_relative_path()) out = out.parent_path();
  return out;
}

/// Directory `p` as the caller wrote it, for messages: normal, no trailing separator,
/// "." when empty.
inline fs::path shown_dir(std::string_view p) {
  fs::path out = fs::path(p.empty() ? std::string_view{"."} : p).lexically_normal();
  if (!out.has_filename() && out.has_relative_path()) out = out.parent_path();
  return out.empty() ? fs::path(".") : out;
}

/// `s` as one word a POSIX shell reads back unchanged (quoted only when needed).
inline std::string shell_word(std::string_view s) {
  constexpr std::string_view plain =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./+=:@%,";
  if (!s.empty() && s.find_first_not_of(plain) == std::string_view::npos) return std::string{s};
  std::string out = "'";
  for (const char c : s) out += c == '\'' ? std::string{"'\\''"} : std::string(1, c);
  return out + "'";
}

/// Names joined with ", ".
inline std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

/// True when `path` is an existing regular file (no error reported).
inline bool is_file(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

/// The whole content of `path`, or an error naming it.
inline result<std::string> read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return error_info{"cannot read " + path.string() + ": " +
                      (is_file(path) ? "permission denied or I/O error" : "no such file")};
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return error_info{"cannot read " + path.string() + ": I/O error"};
  return text.str();
}

/// `path` parsed as JSON; a syntax error is reported as `shown:line:column: message`.
inline result<json_value> read_json_file(const fs::path& path, const std::string& shown) {
  result<std::string> text = read_text_file(path);
  if (!text) return text.error();
  result<json_value> doc = parse_json(*text);
  if (!doc) return error_info{to_string(doc.error(), shown)};
  return doc;
}

// ---- configure presets (CMakePresets.json, CMakeUserPresets.json) ----

/// One configure preset and the file that defines it.
struct cmake_preset {
  std::string name{};        // its "name"
  const json_value* json{};  // the preset object, owned by cmake_preset_set::documents
  fs::path file_dir{};       // the directory of its file, for ${fileDir}
};

/// The configure presets of a project, in file order.
struct cmake_preset_set {
  std::deque<json_value> documents{};  // a deque: the presets point into its elements
  std::vector<cmake_preset> presets{};
  std::vector<fs::path> loaded{};  // files already read (includes may repeat)

  [[nodiscard]] const cmake_preset* find(std::string_view name) const noexcept {
    for (const cmake_preset& p : presets)
      if (p.name == name) return &p;
    return nullptr;
  }
};

/// Reads a presets file and, after its own presets, the files it includes.
/// A missing file is skipped (the caller checks the ones that must exist).
inline result<void> load_preset_file(cmake_preset_set& set, const fs::path& path,
                                     const std::string& shown) {
  const fs::path normal = path.lexically_normal();
  if (std::find(set.loaded.begin(), set.loaded.end(), normal) != set.loaded.end()) return {};
  if (!is_file(normal)) return {};
  set.loaded.push_back(normal);
  result<json_value> doc = read_json_file(normal, shown);
  if (!doc) return doc.error();
  if (!doc->is_object())
    return error_info{shown + ": expected an object at the top level, found " +
                      std::string{doc->type_name()}};
  const json_value& root = set.documents.emplace_back(std::move(*doc));
  if (const json_value* list = root.find("configurePresets")) {
    if (!list->is_array()) return error_info{shown + ": \"configurePresets\" must be an array"};
    std::size_t index = 0;
    for (const json_value& p : list->as_array()) {
      const json_value* name = p.find("name");
      if (name == nullptr || !name->is_string())
        return error_info{shown + ": configurePresets[" + std::to_string(index) +
                          "] has no \"name\" string"};
      set.presets.push_back({name->as_string(), &p, normal.parent_path()});
      ++index;
    }
  }
  if (const json_value* includes = root.find("include")) {
    if (!includes->is_array()) return error_info{shown + ": \"include\" must be an array"};
    for (const json_value& inc : includes->as_array()) {
      if (!inc.is_string()) return error_info{shown + ": \"include\" must list file names"};
      const fs::path target = fs::path(inc.as_string()).is_absolute()
                                  ? fs::path(inc.as_string())
                                  : normal.parent_path() / inc.as_string();
      const std::string target_shown =
          fs::path(inc.as_string()).is_absolute()
              ? inc.as_string()
              : (fs::path(shown).parent_path() / inc.as_string()).lexically_normal().string();
      if (!is_file(target))
        return error_info{shown + ": the included file " + target_shown + " does not exist"};
      result<void> loaded = load_preset_file(set, target, target_shown);
      if (!loaded) return loaded;
    }
  }
  return {};
}

/// The names of the presets `preset` inherits from, in order.
inline std::vector<std::string> preset_parents(const cmake_preset& preset) {
  std::vector<std::string> parents;
  if (const json_value* inherits = preset.json->find("inherits")) {
    if (inherits->is_string()) parents.push_back(inherits->as_string());
    if (inherits->is_array())
      for (const json_value& p : inherits->as_array())
        if (p.is_string()) parents.push_back(p.as_string());
  }
  return parents;
}

/// The string field `key` of `preset` or, when it has none, of the first preset it
/// inherits from that has it (depth first, as CMake does); with the preset that set it.
inline std::optional<std::pair<std::string, const cmake_preset*>> preset_string(
    const cmake_preset_set& set, const cmake_preset& preset, std::string_view key, int depth = 0) {
  if (const json_value* v = preset.json->find(key); v != nullptr && v->is_string())
    return std::pair{v->as_string(), &preset};
  if (depth > 32) return std::nullopt;  // an inheritance cycle: CMake rejects the file
  for (const std::string& parent : preset_parents(preset))
    if (const cmake_preset* p = set.find(parent))
      if (auto found = preset_string(set, *p, key, depth + 1)) return found;
  return std::nullopt;
}

/// A preset's environment: its parents' (earlier parents win), then its own entries
/// (a null value unsets the variable).
using preset_environment = std::vector<std::pair<std::string, std::optional<std::string>>>;

inline void collect_environment(const cmake_preset_set& set, const cmake_preset& preset,
                                preset_environment& env, int depth = 0) {
  if (depth > 32) return;
  const std::vector<std::string> parents = preset_parents(preset);
  for (auto it = parents.rbegin(); it != parents.rend(); ++it)
    if (const cmake_preset* p = set.find(*it)) collect_environment(set, *p, env, depth + 1);
  const json_value* own = preset.json->find("environment");
  if (own == nullptr || !own->is_object()) return;
  for (const json_member& member : own->as_object()) {
    std::optional<std::string> v;
    if (member.second.is_string()) v = member.second.as_string();
    auto slot = std::find_if(env.begin(), env.end(),
                             [&](const auto& e) { return e.first == member.first; });
    if (slot != env.end())
      slot->second = std::move(v);
    else
      env.emplace_back(member.first, std::move(v));
  }
}

/// What the preset macros expand to.
struct preset_macros {
  fs::path source_dir{};
  std::string preset_name{};
  std::string generator{};
  fs::path file_dir{};
  const preset_environment* environment = nullptr;  // null: $env{} reads the process's
};

/// The name CMake gives the host system (CMAKE_HOST_SYSTEM_NAME).
inline std::string_view host_system_name() noexcept {
#if defined(__linux__)
  return "Linux";
#elif defined(__APPLE__)
  return "Darwin";
#elif defined(_WIN32)
  return "Windows";
#elif defined(__FreeBSD__)
  return "FreeBSD";
#elif defined(__OpenBSD__)
  return "OpenBSD";
#elif defined(__NetBSD__)
  return "NetBSD";
#else
  return "";
#endif
}

/// `text` with CMake's preset macros expanded: ${sourceDir}, ${sourceParentDir},
/// ${sourceDirName}, ${presetName}, ${generator}, ${hostSystemName}, ${fileDir},
/// ${dollar}, ${pathListSep}, $env{NAME} and $penv{NAME}. Others are kept as written.
inline std::string expand_preset_macros(std::string_view text, const preset_macros& m) {
  const auto process_env = [](const std::string& name) {
    const char* v = std::getenv(name.c_str());
    return std::string{v != nullptr ? v : ""};
  };
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '$') {
      out += text[i++];
      continue;
    }
    // `$` + letters (the macro's kind: "", "env", "penv", "vendor") + `{name}`.
    std::size_t open = i + 1;
    while (open < text.size() &&
           ((text[open] >= 'a' && text[open] <= 'z') || (text[open] >= 'A' && text[open] <= 'Z')))
      ++open;
    const std::size_t close =
        open < text.size() && text[open] == '{' ? text.find('}', open) : std::string_view::npos;
    if (close == std::string_view::npos) {  // not a macro: a plain '$'
      out += text[i++];
      continue;
    }
    const std::string_view kind = text.substr(i + 1, open - i - 1);
    const std::string name{text.substr(open + 1, close - open - 1)};
    std::optional<std::string> value;
    if (kind.empty()) {
      if (name == "sourceDir") value = m.source_dir.string();
      if (name == "sourceParentDir") value = m.source_dir.parent_path().string();
      if (name == "sourceDirName") value = m.source_dir.filename().string();
      if (name == "presetName") value = m.preset_name;
      if (name == "generator") value = m.generator;
      if (name == "hostSystemName") value = std::string{host_system_name()};
      if (name == "fileDir") value = m.file_dir.string();
      if (name == "dollar") value = "$";
#ifdef _WIN32
      if (name == "pathListSep") value = ";";
#else
      if (name == "pathListSep") value = ":";
#endif
    } else if (kind == "env") {
      value = process_env(name);
      if (m.environment != nullptr)
        for (const auto& [key, v] : *m.environment)
          if (key == name) {
            preset_macros inner = m;
            inner.environment = nullptr;  // one level: $env{} inside reads the process's
            value = v ? expand_preset_macros(*v, inner) : std::string{};
          }
    } else if (kind == "penv") {
      value = process_env(name);
    }
    if (value) {
      out += *value;
    } else {
      out += text.substr(i, close + 1 - i);  // $vendor{...}, unknown macros: as written
    }
    i = close + 1;
  }
  return out;
}

/// The build directory of a configure preset (binaryDir, macros expanded, relative to the
/// source directory), or nothing when it has none.
inline std::optional<fs::path> preset_build_dir(const cmake_preset_set& set,
                                                const cmake_preset& preset,
                                                const fs::path& source_dir) {
  const auto binary = preset_string(set, preset, "binaryDir");
  if (!binary) return std::nullopt;
  preset_environment env;
  collect_environment(set, preset, env);
  const auto generator = preset_string(set, preset, "generator");
  const preset_macros macros{.source_dir = source_dir,
                             .preset_name = preset.name,
                             .generator = generator ? generator->first : std::string{},
                             .file_dir = binary->second->file_dir,
                             .environment = &env};
  fs::path dir = expand_preset_macros(binary->first, macros);
  if (dir.empty()) return std::nullopt;
  if (dir.is_relative()) dir = source_dir / dir;
  dir = dir.lexically_normal();
  if (!dir.has_filename() && dir.has_relative_path()) dir = dir.parent_path();
  return dir;
}

/// `command` with each word shell-quoted when needed, for messages.
inline std::string show_command(const std::vector<std::string>& command) {
  std::string out;
  for (const std::string& word : command) out += (out.empty() ? "" : " ") + shell_word(word);
  return out;
}

// ---- the File API reply ----

/// The newest reply index in `reply_dir` (index-*.json; the largest name is the newest).
inline std::optional<fs::path> newest_reply_index(const fs::path& reply_dir) {
  std::error_code ec;
  std::optional<fs::path> newest;
  for (fs::directory_iterator it(reply_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() > 11 && name.starts_with("index-") && name.ends_with(".json") &&
        (!newest || name > newest->filename().string()))
      newest = it->path();
  }
  return newest;
}

/// True when `file` was last written before `other` (false when either is missing).
inline bool written_before(const fs::path& file, const fs::path& other) {
  std::error_code e1, e2;
  const auto a = fs::last_write_time(file, e1);
  const auto b = fs::last_write_time(other, e2);
  return !e1 && !e2 && a < b;
}

/// Runs `cmake -S source -B build`; on failure the error holds the last lines of its
/// stderr (where CMake's errors go), or of its stdout when stderr is empty. The two
/// streams are kept apart: their relative order is not preserved by the capture.
inline result<void> run_cmake_configure(const std::string& program, const fs::path& source,
                                        const fs::path& build) {
  std::mutex mutex;
  std::vector<std::string> out_lines, err_lines;
  const std::vector<std::string> command{program, "-S", source.string(), "-B", build.string()};
  result<child_process> child = child_process::spawn({
      .command = command,
      .on_line =
          [&](output_stream stream, std::string_view line) {
            const std::lock_guard lock(mutex);
            (stream == output_stream::err ? err_lines : out_lines).emplace_back(line);
          },
  });
  if (!child)
    return error_info{child.error().message + "; hmr runs CMake to list the targets of " +
                      build.string() + " (install CMake, or put it in PATH)"};
  const process_exit exit = child->wait();
  if (exit.status.success()) return {};
  const std::lock_guard lock(mutex);
  for (std::vector<std::string>* lines : {&out_lines, &err_lines})
    while (!lines->empty() && lines->back().empty()) lines->pop_back();
  const std::vector<std::string>& lines = err_lines.empty() ? out_lines : err_lines;
  constexpr std::size_t shown = 20;
  const std::size_t first = lines.size() > shown ? lines.size() - shown : 0;
  std::string message = show_command(command) + " failed (" + exit.status.describe() + ")";
  if (!lines.empty())
    message += first == 0 ? ":" : "; the last " + std::to_string(shown) + " lines it printed:";
  for (std::size_t i = first; i < lines.size(); ++i) message += "\n" + lines[i];
  return error_info{message};
}

/// An error about a reply file that does not have the expected shape.
inline error_info bad_reply(const fs::path& file, std::string_view what,
                            const fs::path& reply_dir) {
  return {"unexpected content in CMake's reply " + file.string() + ": " + std::string{what} +
          "; delete " + reply_dir.string() + " and run hmr again"};
}

/// The string member `key` of `object`, or nullptr.
inline const std::string* string_member(const json_value& object, std::string_view key) {
  const json_value* v = object.find(key);
  return v != nullptr && v->is_string() ? &v->as_string() : nullptr;
}

/// The array member `key` of `object`, or nullptr.
inline const json_array* array_member(const json_value& object, std::string_view key) {
  const json_value* v = object.find(key);
  return v != nullptr && v->is_array() ? &v->as_array() : nullptr;
}

/// Reads one target's reply file.
inline result<cmake_target> read_target_reply(const fs::path& reply_dir, const std::string& file,
                                              const fs::path& build_dir, std::string project) {
  const fs::path path = reply_dir / file;
  result<json_value> doc = read_json_file(path, path.string());
  if (!doc) return doc.error();
  cmake_target target;
  const std::string* name = string_member(*doc, "name");
  const std::string* type = string_member(*doc, "type");
  if (name == nullptr || type == nullptr)
    return bad_reply(path, "a target needs a \"name\" and a \"type\"", reply_dir);
  target.name = *name;
  target.type = *type;
  target.project = std::move(project);
  if (const json_array* artifacts = array_member(*doc, "artifacts"))
    for (const json_value& a : *artifacts) {
      const std::string* p = string_member(a, "path");
      if (p == nullptr) return bad_reply(path, "an artifact needs a \"path\"", reply_dir);
      const fs::path artifact(*p);
      target.artifacts.push_back(
          (artifact.is_absolute() ? artifact : build_dir / artifact).lexically_normal().string());
    }
  if (doc->get_bool_or("isGeneratorProvided", false)) target.type.clear();  // skipped
  return target;
}

}  // namespace detail::cmake

/// The configured build directory of the CMake project in `source_dir`: `build/` when it
/// holds a CMakeCache.txt, else the binaryDir of the first configure preset (in
/// CMakePresets.json, then CMakeUserPresets.json, each followed by its includes; hidden
/// presets skipped; inherited fields and the usual macros resolved) whose directory holds
/// one. Returns an absolute path. Errors say what to do: no CMakeLists.txt, nothing
/// configured yet, or a presets file that is not valid JSON (`file:line:column: message`).
[[nodiscard]] inline result<std::string> find_cmake_build_dir(std::string_view source_dir) {
  namespace fs = std::filesystem;
  const fs::path source = detail::cmake::absolute_path(source_dir);
  const std::string run_hint = "pass the command to run: hmr -- ./app";
  if (!detail::cmake::is_file(source / "CMakeLists.txt"))
    return error_info{"no CMakeLists.txt in " + source.string() + "; " + run_hint};
  if (detail::cmake::is_file(source / "build" / "CMakeCache.txt"))
    return (source / "build").string();

  // Shown paths: as the caller wrote them ("CMakePresets.json" for ".").
  const fs::path shown_source = detail::cmake::shown_dir(source_dir);
  const auto shown = [&](const char* name) {
    return (shown_source / name).lexically_normal().string();
  };
  detail::cmake::cmake_preset_set presets;
  for (const char* name : {"CMakePresets.json", "CMakeUserPresets.json"}) {
    result<void> loaded = detail::cmake::load_preset_file(presets, source / name, shown(name));
    if (!loaded) return loaded.error();
  }
  std::vector<std::string> visible;
  for (const detail::cmake::cmake_preset& preset : presets.presets) {
    if (preset.json->get_bool_or("hidden", false)) continue;
    visible.push_back(preset.name);
    const auto dir = detail::cmake::preset_build_dir(presets, preset, source);
    if (dir && detail::cmake::is_file(*dir / "CMakeCache.txt")) return dir->string();
  }

  const std::string shown_build = (shown_source / "build").lexically_normal().string();
  const std::string configure =
      detail::cmake::show_command({"cmake", "-S", shown_source.string(), "-B", shown_build});
  std::string message = source.string() + " has a CMakeLists.txt but no configured build directory";
  if (visible.empty()) {
    message += " (" + shown_build + "/ has no CMakeCache.txt); configure it first: " + configure;
  } else {
    message += " (" + shown_build + "/ has no CMakeCache.txt, nor has the binaryDir of preset " +
               detail::cmake::join_names(visible) + "); configure it first: cmake --preset " +
               detail::cmake::shell_word(visible.front()) + " (or " + configure + ")";
  }
  return error_info{message + ", or " + run_hint};
}

/// The targets of the CMake build in `build_dir` (relative paths are relative to the
/// current directory), read through the CMake File API.
///
/// Writes the stateless query `<build>/.cmake/api/v1/query/codemodel-v2` when missing.
/// When the build has no reply to it yet, or the newest reply is older than the query,
/// CMakeCache.txt or the top CMakeLists.txt, runs `cmake -S source_dir -B build_dir`
/// (output captured; on failure the error holds what it printed on stderr, at most the
/// last 20 lines). Then reads the newest
/// reply index, the codemodel and each target's reply, for `options.configuration` (the
/// first configuration when empty). Artifact paths are made absolute.
[[nodiscard]] inline result<cmake_project> query_cmake_project(
    std::string_view source_dir, std::string_view build_dir,
    const cmake_query_options& options = {}) {
  namespace fs = std::filesystem;
  const fs::path source = detail::cmake::absolute_path(source_dir);
  const fs::path build = detail::cmake::absolute_path(build_dir);
  const fs::path cache = build / "CMakeCache.txt";
  if (!detail::cmake::is_file(cache))
    return error_info{
        build.string() +
        " is not a configured CMake build directory (it has no "
        "CMakeCache.txt); configure it first: " +
        detail::cmake::show_command({"cmake", "-S", detail::cmake::shown_dir(source_dir).string(),
                                     "-B", detail::cmake::shown_dir(build_dir).string()})};

  const fs::path api = build / ".cmake" / "api" / "v1";
  const fs::path query = api / "query" / "codemodel-v2";
  const fs::path reply_dir = api / "reply";
  std::error_code ec;
  if (!fs::exists(query, ec)) {
    fs::create_directories(query.parent_path(), ec);
    std::ofstream touch(query);
    if (ec || !touch)
      return error_info{"cannot write the CMake File API query " + query.string() + ": " +
                        (ec ? ec.message() : std::string{"cannot create the file"})};
  }

  // The newest index and its answer to our query; both reread after running cmake.
  std::optional<fs::path> index_file;
  std::optional<json_value> index;
  const json_value* answer = nullptr;
  const auto load_index = [&]() -> result<void> {
    answer = nullptr;
    index.reset();
    index_file = detail::cmake::newest_reply_index(reply_dir);
    if (!index_file) return {};
    result<json_value> doc = detail::cmake::read_json_file(*index_file, index_file->string());
    if (!doc) return doc.error();
    index = std::move(*doc);
    if (const json_value* reply = index->find("reply")) answer = reply->find("codemodel-v2");
    return {};
  };
  result<void> loaded = load_index();
  const bool stale = !loaded || !index || answer == nullptr ||
                     detail::cmake::written_before(*index_file, query) ||
                     detail::cmake::written_before(*index_file, cache) ||
                     detail::cmake::written_before(*index_file, source / "CMakeLists.txt");
  if (stale) {
    const std::string program = options.cmake_program.empty() ? "cmake" : options.cmake_program;
    result<void> configured = detail::cmake::run_cmake_configure(program, source, build);
    if (!configured) return configured.error();
    loaded = load_index();
    if (!loaded) return loaded.error();
    if (!index)
      return error_info{"CMake wrote no File API reply in " + reply_dir.string() +
                        " (the File API needs CMake 3.14 or newer)"};
  }
  if (answer == nullptr)
    return error_info{"CMake did not answer the codemodel query in " + index_file->string() +
                      " (the codemodel needs CMake 3.14 or newer)"};
  if (const std::string* error = detail::cmake::string_member(*answer, "error"))
    return error_info{"CMake could not answer the codemodel query: " + *error};
  const std::string* codemodel_file = detail::cmake::string_member(*answer, "jsonFile");
  if (codemodel_file == nullptr)
    return detail::cmake::bad_reply(*index_file, "the codemodel-v2 reply has no \"jsonFile\"",
                                    reply_dir);

  cmake_project project;
  if (const json_value* cmake = index->find("cmake")) {
    if (const json_value* generator = cmake->find("generator")) {
      project.generator = generator->get_string_or("name", "");
      project.multi_config = generator->get_bool_or("multiConfig", false);
    }
    if (const json_value* paths = cmake->find("paths"))
      project.cmake_program = paths->get_string_or("cmake", "cmake");
  }

  const fs::path codemodel_path = reply_dir / *codemodel_file;
  result<json_value> codemodel =
      detail::cmake::read_json_file(codemodel_path, codemodel_path.string());
  if (!codemodel) return codemodel.error();
  const json_value* paths = codemodel->find("paths");
  const std::string* source_path = paths ? detail::cmake::string_member(*paths, "source") : nullptr;
  const std::string* build_path = paths ? detail::cmake::string_member(*paths, "build") : nullptr;
  const json_array* configurations = detail::cmake::array_member(*codemodel, "configurations");
  if (source_path == nullptr || build_path == nullptr || configurations == nullptr ||
      configurations->empty())
    return detail::cmake::bad_reply(
        codemodel_path, "the codemodel needs \"paths\" and \"configurations\"", reply_dir);
  project.source_dir = fs::path(*source_path).lexically_normal().string();
  project.build_dir = fs::path(*build_path).lexically_normal().string();

  const json_value* chosen = nullptr;
  for (const json_value& c : *configurations) {
    project.configurations.push_back(c.get_string_or("name", ""));
    if (chosen == nullptr &&
        (options.configuration.empty() || project.configurations.back() == options.configuration))
      chosen = &c;
  }
  if (chosen == nullptr) {
    std::vector<std::string> shown;
    for (const std::string& c : project.configurations)
      shown.push_back(c.empty() ? "\"\" (no CMAKE_BUILD_TYPE)" : c);
    return error_info{project.display_build_dir() + " has no configuration '" +
                      options.configuration + "' (it has: " + detail::cmake::join_names(shown) +
                      ")"};
  }
  project.configuration = chosen->get_string_or("name", "");

  std::vector<std::string> project_names;
  if (const json_array* projects = detail::cmake::array_member(*chosen, "projects"))
    for (const json_value& p : *projects) project_names.push_back(p.get_string_or("name", ""));
  if (const json_array* targets = detail::cmake::array_member(*chosen, "targets")) {
    for (const json_value& t : *targets) {
      const std::string* file = detail::cmake::string_member(t, "jsonFile");
      if (file == nullptr)
        return detail::cmake::bad_reply(codemodel_path, "a target has no \"jsonFile\"", reply_dir);
      const std::int64_t index_of_project = t.get_int_or("projectIndex", -1);
      std::string owner =
          index_of_project >= 0 && static_cast<std::size_t>(index_of_project) < project_names.size()
              ? project_names[static_cast<std::size_t>(index_of_project)]
              : std::string{};
      result<cmake_target> target = detail::cmake::read_target_reply(
          reply_dir, *file, fs::path(project.build_dir), std::move(owner));
      if (!target) return target.error();
      if (!target->type.empty()) project.targets.push_back(std::move(*target));
    }
  }
  std::stable_sort(project.targets.begin(), project.targets.end(),
                   [](const cmake_target& a, const cmake_target& b) { return a.name < b.name; });
  return project;
}

/// `find_cmake_build_dir(source_dir)`, then `query_cmake_project` on what it found.
[[nodiscard]] inline result<cmake_project> discover_cmake_project(
    std::string_view source_dir, const cmake_query_options& options = {}) {
  result<std::string> build = find_cmake_build_dir(source_dir);
  if (!build) return build.error();
  return query_cmake_project(source_dir, *build, options);
}

/// The executable to run: the one called `wanted_name`, or, when that is empty, the only
/// executable of the project. The target returned has at least one artifact, the program
/// first. Errors (usage errors: print them and exit) name the executables and say how to
/// pick one: "3 executables in build: app, bench_x, tool — pick one with --target NAME".
[[nodiscard]] inline result<cmake_target> pick_executable(const cmake_project& project,
                                                          std::string_view wanted_name = {}) {
  const std::vector<std::string> executables = project.executables();
  const std::string where = project.display_build_dir();
  const std::string listing = executables.empty() ? where + " has no executable targets"
                                                  : "executables in " + where + ": " +
                                                        detail::cmake::join_names(executables);
  const cmake_target* picked = nullptr;
  if (!wanted_name.empty()) {
    picked = project.find_target(wanted_name);
    if (picked == nullptr)
      return error_info{"no target '" + std::string{wanted_name} + "' in " + where + "; " +
                        listing};
    if (!picked->is_executable())
      return error_info{"target '" + picked->name + "' is a " + picked->type +
                        ", not an executable; " + listing};
  } else if (executables.empty()) {
    return error_info{"no executable target in " + where + " (CMake project " + project.source_dir +
                      "); add one with add_executable(), or pass the command to run: "
                      "hmr -- ./app"};
  } else if (executables.size() > 1) {
    return error_info{std::to_string(executables.size()) + " executables in " + where + ": " +
                      detail::cmake::join_names(executables) + " — pick one with --target NAME"};
  } else {
    picked = project.find_target(executables.front());
  }
  if (picked->artifacts.empty())
    return error_info{"CMake reports no file for executable '" + picked->name + "' in " + where};
  return *picked;
}

/// The command that builds `project`: `cmake --build <build_dir>`, plus `--config NAME` in
/// a multi-config build and `--target A B ...` when `targets` is not empty.
[[nodiscard]] inline std::vector<std::string> cmake_build_command(
    const cmake_project& project, const std::vector<std::string>& targets = {}) {
  std::vector<std::string> command{project.cmake_program, "--build", project.build_dir};
  if (project.multi_config && !project.configuration.empty()) {
    command.emplace_back("--config");
    command.push_back(project.configuration);
  }
  if (!targets.empty()) {
    command.emplace_back("--target");
    command.insert(command.end(), targets.begin(), targets.end());
  }
  return command;
}

}  // namespace hmr
