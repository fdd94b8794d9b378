// The `hmr` command line and its config file (hmr.json): parsed into one plain struct.
// The option names are a contract (scripts and editors depend on them): see docs/cli.md.
#pragma once

#include <algorithm>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <fstream>
#include <hmr/detail/json_reader.hpp>
#include <hmr/glob.hpp>
#include <hmr/process.hpp>
#include <hmr/strategy.hpp>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hmr::cli {

/// Everything the command line and the config file say.
struct options {
  std::vector<std::string> watch{};       ///< -w: roots; empty means "."
  std::vector<std::string> extensions{};  ///< -e: "cpp", "hpp" (without dots)
  std::vector<std::string> include{};     ///< -i: include globs
  std::vector<std::string> exclude{};     ///< -x: exclude globs
  bool default_ignores = true;            ///< false with --no-default-ignores
  bool gitignore = true;                  ///< false with --no-gitignore
  int debounce_ms = 50;                   ///< -d
  std::string build{};                    ///< -b: a shell string; empty for none
  bool shell = false;                     ///< --shell: COMMAND through /bin/sh -c
  int stop_signal = SIGTERM;              ///< --signal
  int stop_timeout_ms = 5000;             ///< --stop-timeout
  crash_policy on_crash = crash_policy::wait;  ///< --on-crash
  busy_policy on_busy = busy_policy::queue;    ///< --on-busy
  std::optional<int> poll_ms{};           ///< --poll[=MS]: set when polling
  bool json = false;                      ///< --json
  bool clear = false;                     ///< --clear
  bool keys = true;                       ///< false with --no-keys
  bool postpone = false;                  ///< --postpone
  std::string config{};                   ///< --config FILE (empty: ./hmr.json when present)
  std::string target{};                   ///< --target NAME (zero-config CMake)
  std::vector<std::string> reload{};      ///< --reload LIB: hot-reloadable modules
  std::vector<std::string> restart_on{};  ///< --restart-on GLOB: changes that always restart
  bool cold = false;                      ///< --cold: never reload, always restart
  std::optional<std::string> explain{};   ///< --explain PATH
  bool help = false;                      ///< -h
  bool version = false;                   ///< -V
  std::vector<std::string> command{};     ///< COMMAND [ARGS...]
};

/// A usage error: what is wrong, and how to fix it (one line each). Exit code 2.
struct usage_error {
  std::string message{};  ///< e.g. "unknown option '--wach'"
  std::string hint{};     ///< e.g. "did you mean --watch? (hmr --help lists the options)"
};

/// Either parsed options or a usage error.
struct parse_result {
  std::optional<options> parsed{};  ///< set on success
  usage_error error{};              ///< set on failure
  /// True on success.
  explicit operator bool() const noexcept { return parsed.has_value(); }
};

/// The help text of `hmr --help`.
inline constexpr std::string_view help_text =
    R"(hmr: save a file, and the running program is rebuilt and restarted, or its changed
modules are reloaded in place (--reload).

usage: hmr [OPTIONS] [--] COMMAND [ARGS...]
       hmr [OPTIONS]            (in a CMake project: build and run its executable)

  -w, --watch PATH          watch PATH (repeatable; default: .)
  -e, --ext LIST            only these extensions, comma-separated (cpp,hpp)
  -i, --include GLOB        only matching paths (repeatable)
  -x, --exclude GLOB        ignore matching paths (repeatable)
      --no-default-ignores  also watch VCS folders, build folders and editor temp files
      --no-gitignore        do not honour .gitignore files
  -d, --debounce MS         quiet window before a batch is released (default 50)
  -b, --build CMD           build command run before each (re)start (a shell string)
      --shell               run COMMAND through /bin/sh -c (default: exec it directly)
      --signal SIG          stop signal (default TERM)
      --stop-timeout MS     grace before SIGKILL (default 5000)
      --on-crash MODE       wait | restart | exit (default wait)
      --on-busy MODE        queue | restart: a change during a build finishes it then
                            reruns once, or cancels it (default queue)
      --poll[=MS]           use the polling backend (interval default 250)
      --json                JSON lines on stdout instead of the ANSI presenter
      --clear               clear the screen before each cycle
      --no-keys             no interactive keys
      --postpone            wait for the first change before starting
      --target NAME         zero-config: the CMake executable target to run
      --reload LIB          a module the program loads (hmr/module.hpp) and hmr reloads
                            in it when only modules changed (repeatable; zero-config:
                            every MODULE library target)
      --restart-on GLOB     a change matching GLOB restarts instead of reloading
                            (repeatable; e.g. src/main.cpp)
      --cold                never reload: every change restarts
      --config FILE         read options from FILE (default: hmr.json here, when present);
                            flags override it
      --explain PATH        say which rule includes or ignores PATH, and exit
  -h, --help                this text
  -V, --version             the version

keys: r reload  R restart  b rebuild  c clear  p pause/resume  q quit  h help
  The program shares the terminal as under a shell: when it reads the terminal or sets
  its modes (a REPL, a TUI), it gets the terminal, and keys and Ctrl-C go to it (a Ctrl-C
  that kills it also quits hmr); hmr's keys come back, and the terminal's modes are put
  back, when it ends. Saves still restart it.
)";

namespace detail {

/// Parses a non-negative decimal integer that fits in an int.
inline std::optional<int> parse_count(std::string_view text) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

/// "TERM", "SIGTERM", "term" or "15" to a signal number.
inline std::optional<int> parse_signal(std::string_view text) {
  if (auto n = parse_count(text); n && *n > 0 && *n < 65) return n;
  std::string upper;
  for (const char c : text) upper += static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
  if (upper.rfind("SIG", 0) != 0) upper = "SIG" + upper;
  for (int s = 1; s < 65; ++s) {
    if (signal_name(s) == upper) return s;
  }
  return std::nullopt;
}

/// "cpp,.hpp, h" to {"cpp", "hpp", "h"}; empty items dropped.
inline std::vector<std::string> split_extensions(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    const auto comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '.')) item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

/// The long options, with whether each takes a value.
struct option_spec {
  std::string_view name;  ///< long name without dashes
  char short_name;        ///< 0 when none
  bool takes_value;       ///< needs a value (--x V or --x=V)
};

inline constexpr option_spec option_table[] = {
    {"watch", 'w', true},         {"ext", 'e', true},
    {"include", 'i', true},       {"exclude", 'x', true},
    {"no-default-ignores", 0, false}, {"no-gitignore", 0, false},
    {"debounce", 'd', true},      {"build", 'b', true},
    {"shell", 0, false},          {"signal", 0, true},
    {"stop-timeout", 0, true},    {"on-crash", 0, true},
    {"on-busy", 0, true},         {"poll", 0, false},
    {"json", 0, false},           {"clear", 0, false},
    {"no-keys", 0, false},        {"postpone", 0, false},
    {"config", 0, true},          {"target", 0, true},
    {"explain", 0, true},         {"help", 'h', false},
    {"version", 'V', false},      {"reload", 0, true},
    {"restart-on", 0, true},      {"cold", 0, false},
};

inline const option_spec* find_long(std::string_view name) {
  for (const auto& spec : option_table) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

inline const option_spec* find_short(char name) {
  for (const auto& spec : option_table) {
    if (spec.short_name != 0 && spec.short_name == name) return &spec;
  }
  return nullptr;
}

/// The option name closest to `name` (edit distance at most 2), for "did you mean".
inline std::string_view closest_option(std::string_view name) {
  std::string_view best;
  std::size_t best_distance = 3;
  for (const auto& spec : option_table) {
    const std::string_view other = spec.name;
    std::vector<std::size_t> row(other.size() + 1);
    for (std::size_t j = 0; j <= other.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= name.size(); ++i) {
      std::size_t diagonal = row[0];
      row[0] = i;
      for (std::size_t j = 1; j <= other.size(); ++j) {
        const std::size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                           diagonal + (name[i - 1] == other[j - 1] ? 0U : 1U)});
        diagonal = up;
      }
    }
    if (row[other.size()] < best_distance) {
      best_distance = row[other.size()];
      best = other;
    }
  }
  return best;
}

inline usage_error unknown_option(std::string_view shown, std::string_view name) {
  const std::string_view near = closest_option(name);
  return {"unknown option '" + std::string(shown) + "'",
          near.empty() ? std::string("hmr --help lists the options")
                       : "did you mean --" + std::string(near) + "? (hmr --help lists the options)"};
}

/// Applies one option with its value (empty for flags) to `out`; an error when the value
/// is not valid. `source` names where it came from, for messages ("--debounce", "hmr.json: debounce").
inline std::optional<usage_error> apply(options& out, std::string_view name,
                                        std::string_view value, std::string_view source) {
  const auto bad = [&](std::string_view expected) {
    return usage_error{"invalid value '" + std::string(value) + "' for " + std::string(source),
                       "expected " + std::string(expected)};
  };
  if (name == "watch") {
    out.watch.emplace_back(value);
  } else if (name == "ext") {
    for (auto& e : split_extensions(value)) out.extensions.push_back(std::move(e));
  } else if (name == "include") {
    out.include.emplace_back(value);
  } else if (name == "exclude") {
    out.exclude.emplace_back(value);
  } else if (name == "no-default-ignores") {
    out.default_ignores = false;
  } else if (name == "no-gitignore") {
    out.gitignore = false;
  } else if (name == "debounce") {
    const auto ms = parse_count(value);
    if (!ms || *ms == 0) return bad("a positive number of milliseconds, e.g. --debounce 50");
    out.debounce_ms = *ms;
  } else if (name == "build") {
    out.build = value;
  } else if (name == "shell") {
    out.shell = true;
  } else if (name == "signal") {
    const auto s = parse_signal(value);
    if (!s) return bad("a signal name or number, e.g. --signal INT");
    out.stop_signal = *s;
  } else if (name == "stop-timeout") {
    const auto ms = parse_count(value);
    if (!ms) return bad("a number of milliseconds, e.g. --stop-timeout 2000");
    out.stop_timeout_ms = *ms;
  } else if (name == "on-crash") {
    if (value == "wait") {
      out.on_crash = crash_policy::wait;
    } else if (value == "restart") {
      out.on_crash = crash_policy::restart;
    } else if (value == "exit") {
      out.on_crash = crash_policy::exit;
    } else {
      return bad("wait, restart or exit");
    }
  } else if (name == "on-busy") {
    if (value == "queue") {
      out.on_busy = busy_policy::queue;
    } else if (value == "restart") {
      out.on_busy = busy_policy::restart;
    } else {
      return bad("queue or restart");
    }
  } else if (name == "poll") {
    if (value.empty()) {
      out.poll_ms = 250;
    } else {
      const auto ms = parse_count(value);
      if (!ms || *ms == 0) return bad("a positive number of milliseconds, e.g. --poll=500");
      out.poll_ms = *ms;
    }
  } else if (name == "json") {
    out.json = true;
  } else if (name == "clear") {
    out.clear = true;
  } else if (name == "no-keys") {
    out.keys = false;
  } else if (name == "postpone") {
    out.postpone = true;
  } else if (name == "config") {
    out.config = value;
  } else if (name == "target") {
    out.target = value;
  } else if (name == "explain") {
    out.explain = std::string(value);
  } else if (name == "reload") {
    if (value.empty()) return bad("the path of a module file, e.g. --reload build/libhandler.so");
    out.reload.emplace_back(value);
  } else if (name == "restart-on") {
    if (value.empty()) return bad("a glob, e.g. --restart-on 'src/main.cpp'");
    try {
      const std::string_view body = value.size() > 1 && value.front() == '/' ? value.substr(1) : value;
      static_cast<void>(glob(body));
    } catch (const std::invalid_argument& e) {
      return usage_error{"invalid value '" + std::string(value) + "' for " + std::string(source) + ": " + e.what(),
                         "expected a glob, e.g. --restart-on 'src/main.cpp'"};
    }
    out.restart_on.emplace_back(value);
  } else if (name == "cold") {
    out.cold = true;
  } else if (name == "help") {
    out.help = true;
  } else if (name == "version") {
    out.version = true;
  }
  return std::nullopt;
}

}  // namespace detail

/// Parses the command line `args` (without the program name) on top of `base` (the
/// config file's options, or defaults). Lists given on the command line replace the
/// config file's lists. The first argument that is not an option starts COMMAND; `--`
/// ends the options explicitly.
inline parse_result parse_arguments(const std::vector<std::string>& args, options base = {}) {
  options out = std::move(base);
  bool replaced[std::size(detail::option_table)] = {};
  const auto reset_list = [&](const detail::option_spec& spec) {
    const auto index = static_cast<std::size_t>(&spec - detail::option_table);
    if (replaced[index]) return;
    replaced[index] = true;
    if (spec.name == "watch") out.watch.clear();
    if (spec.name == "ext") out.extensions.clear();
    if (spec.name == "include") out.include.clear();
    if (spec.name == "exclude") out.exclude.clear();
    if (spec.name == "reload") out.reload.clear();
    if (spec.name == "restart-on") out.restart_on.clear();
  };
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') break;  // COMMAND starts here
    const detail::option_spec* spec = nullptr;
    std::string shown;
    std::optional<std::string> value;
    if (arg[1] == '-') {
      const auto eq = arg.find('=');
      const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      shown = "--" + name;
      spec = detail::find_long(name);
      if (!spec) return {std::nullopt, detail::unknown_option(arg, name)};
      if (eq != std::string::npos) {
        if (!spec->takes_value && spec->name != "poll") {
          return {std::nullopt, {"option " + shown + " takes no value", "write it as " + shown}};
        }
        value = arg.substr(eq + 1);
      }
    } else {
      shown = arg.substr(0, 2);
      spec = detail::find_short(arg[1]);
      if (!spec) return {std::nullopt, detail::unknown_option(shown, std::string(1, arg[1]))};
      if (arg.size() > 2) {
        if (!spec->takes_value) {
          return {std::nullopt,
                  {"unexpected '" + arg.substr(2) + "' after " + shown, "give one option per argument"}};
        }
        value = arg.substr(2);
      }
    }
    if (spec->takes_value && !value) {
      if (i + 1 >= args.size()) {
        return {std::nullopt, {"option " + shown + " needs a value",
                               "e.g. " + shown + " " + std::string(spec->name == "watch" ? "src" : "...") +
                                   " (hmr --help lists the options)"}};
      }
      value = args[++i];
    }
    reset_list(*spec);
    if (auto error = detail::apply(out, spec->name, value.value_or(""), shown)) {
      return {std::nullopt, std::move(*error)};
    }
  }
  if (i < args.size()) out.command.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  return {std::move(out), {}};
}

/// Reads the config file at `path` (an hmr.json): an object whose keys are the long option
/// names. Lists take an array of strings (or one string), flags `true`/`false`, numbers an
/// integer, `poll` `true` or an interval; `command` is an array of strings. An unknown key,
/// a wrong type or malformed JSON is an error naming the file, the key and, for JSON, the
/// line and column.
inline parse_result read_config(const std::string& path, options base = {}) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {std::nullopt, {"cannot read config file '" + path + "'", "check the path given to --config"}};
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto doc = parse_json(text);
  if (!doc) return {std::nullopt, {to_string(doc.error(), path), "fix the JSON (no comments, no trailing commas)"}};
  if (!doc->is_object()) return {std::nullopt, {path + ": the config must be a JSON object", R"(e.g. {"watch": ["src"], "build": "cmake --build build"})"}};
  options out = std::move(base);
  for (const auto& member : doc->as_object()) {
    const std::string& key = member.first;
    const json_value& value = member.second;
    const std::string where = path + ": " + key;
    const auto wrong_type = [&](std::string_view expected) {
      return parse_result{std::nullopt, {where + " must be " + std::string(expected) + ", not " +
                                             std::string(value.type_name()),
                                         "fix the value in " + path}};
    };
    if (key == "command") {
      if (!value.is_array()) return wrong_type("an array of strings");
      out.command.clear();
      for (const auto& item : value.as_array()) {
        if (!item.is_string()) return wrong_type("an array of strings");
        out.command.push_back(item.as_string());
      }
      continue;
    }
    const detail::option_spec* spec = detail::find_long(key);
    if (!spec || key == "config" || key == "help" || key == "version" || key == "explain") {
      const std::string_view near = detail::closest_option(key);
      return {std::nullopt, {path + ": unknown key '" + key + "'",
                             near.empty() ? std::string("the keys are the long option names (hmr --help)")
                                          : "did you mean '" + std::string(near) + "'?"}};
    }
    const bool is_list = key == "watch" || key == "include" || key == "exclude" || key == "ext" ||
                         key == "reload" || key == "restart-on";
    std::vector<std::string> values;
    if (is_list) {
      if (value.is_string()) {
        values.push_back(value.as_string());
      } else if (value.is_array()) {
        for (const auto& item : value.as_array()) {
          if (!item.is_string()) return wrong_type("a string or an array of strings");
          values.push_back(item.as_string());
        }
      } else {
        return wrong_type("a string or an array of strings");
      }
      if (key == "watch") out.watch.clear();
      if (key == "include") out.include.clear();
      if (key == "exclude") out.exclude.clear();
      if (key == "ext") out.extensions.clear();
      if (key == "reload") out.reload.clear();
      if (key == "restart-on") out.restart_on.clear();
    } else if (!spec->takes_value) {
      if (key == "poll" && value.is_integer()) {
        values.push_back(std::to_string(value.as_int()));
      } else if (!value.is_bool()) {
        return wrong_type(key == "poll" ? "true, false or an interval in ms" : "true or false");
      } else if (!value.as_bool()) {
        // false: the default, except for the negative flags
        if (key == "poll") out.poll_ms.reset();
        continue;
      } else {
        values.emplace_back();
      }
    } else if (key == "debounce" || key == "stop-timeout") {
      if (!value.is_integer()) return wrong_type("an integer number of milliseconds");
      values.push_back(std::to_string(value.as_int()));
    } else if (key == "signal" && value.is_integer()) {
      values.push_back(std::to_string(value.as_int()));
    } else {
      if (!value.is_string()) return wrong_type("a string");
      values.push_back(value.as_string());
    }
    for (const auto& v : values) {
      if (auto error = detail::apply(out, key, v, "'" + key + "' in " + path)) {
        return {std::nullopt, std::move(*error)};
      }
    }
  }
  return {std::move(out), {}};
}

}  // namespace hmr::cli
