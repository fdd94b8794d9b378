// hmr: the reference command line, assembled from the toolkit's parts. Copy it and change
// what you like; the option names and exit codes are a contract (docs/cli.md).
//
//   hmr [OPTIONS] [--] COMMAND [ARGS...]
//
// Exit codes: 0 after a clean quit (q, Ctrl-C, SIGTERM), 2 for usage errors, 1 for fatal
// errors; under --on-crash exit, the program's own status.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <hmr/ansi_presenter.hpp>
#include <hmr/cmake_project.hpp>
#include <hmr/filters.hpp>
#include <hmr/gitignore.hpp>
#include <hmr/json_presenter.hpp>
#include <hmr/orchestrator.hpp>
#include <hmr/restart_strategy.hpp>
#include <hmr/version.hpp>
#include <hmr/watcher.hpp>
#include <iostream>
#include <string>
#include <system_error>
#include <vector>

#include "cli_options.hpp"
#include "terminal_keys.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int exit_usage = 2;
constexpr int exit_fatal = 1;

int usage_failure(const hmr::cli::usage_error& error) {
  std::cerr << "hmr: " << error.message << "\n";
  if (!error.hint.empty()) std::cerr << "hint: " << error.hint << "\n";
  return exit_usage;
}

int fatal(const std::string& message, const std::string& hint = {}) {
  std::cerr << "hmr: " << message << "\n";
  if (!hint.empty()) std::cerr << "hint: " << hint << "\n";
  return exit_fatal;
}

/// The command line and the config file, merged (flags win).
hmr::cli::parse_result read_options(const std::vector<std::string>& args) {
  auto first = hmr::cli::parse_arguments(args);
  if (!first) return first;
  std::string config = first.parsed->config;
  std::error_code ec;
  if (config.empty() && fs::is_regular_file("hmr.json", ec)) config = "hmr.json";
  if (config.empty()) return first;
  auto base = hmr::cli::read_config(config);
  if (!base) return base;
  return hmr::cli::parse_arguments(args, std::move(*base.parsed));
}

/// The filter the flags describe.
hmr::any_filter make_filter(const hmr::cli::options& o) {
  hmr::any_filter filter;
  if (o.default_ignores) filter = hmr::default_ignores();
  if (o.gitignore && !o.watch.empty()) filter = filter | hmr::load_gitignore(o.watch.front());
  std::vector<std::string> includes = o.include;
  for (const auto& ext : o.extensions) includes.push_back("**/*." + ext);
  if (!includes.empty()) filter = filter | hmr::include_globs{includes};
  if (!o.exclude.empty()) filter = filter | hmr::exclude_globs{o.exclude};
  return filter;
}

/// `text` in single quotes for /bin/sh.
std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (const char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// Zero configuration: the CMake project here, built with `cmake --build`, running its
/// one executable (or the --target one). Fills in command and build; usage errors otherwise.
std::optional<hmr::cli::usage_error> zero_config(hmr::cli::options& o) {
  const auto build_dir = hmr::find_cmake_build_dir(".");
  if (!build_dir) {
    return hmr::cli::usage_error{"no command to run: " + build_dir.error().message,
                                 "give one (hmr -- ./app), or run hmr in a configured CMake project"};
  }
  const auto project = hmr::query_cmake_project(".", *build_dir);
  if (!project) return hmr::cli::usage_error{project.error().message, "check that 'cmake " + *build_dir + "' works"};
  const auto target = hmr::pick_executable(*project, o.target);
  if (!target) return hmr::cli::usage_error{target.error().message, "hmr --target NAME picks one"};
  o.command = {target->artifacts.front()};
  if (o.build.empty()) {
    for (const std::string& arg : hmr::cmake_build_command(*project, {target->name})) {
      if (!o.build.empty()) o.build += ' ';
      o.build += shell_quote(arg);
    }
  }
  std::error_code ec;
  const std::string relative = fs::relative(fs::absolute(*build_dir), fs::current_path(), ec).generic_string();
  if (!ec && !relative.empty() && relative.rfind("..", 0) != 0) o.exclude.push_back(relative + "/**");
  return std::nullopt;
}

template <class Presenter>
int run(const hmr::cli::options& o, hmr::any_filter filter, Presenter presenter) {
  hmr::watch_options watch{.directory_filter = filter};
  if (o.poll_ms) {
    watch.force_polling = true;
    watch.poll_interval = std::chrono::milliseconds(*o.poll_ms);
  }
  hmr::restart_options restart{
      .run = o.command,
      .run_shell = o.shell,
      .build = o.build.empty() ? std::vector<std::string>{} : std::vector<std::string>{o.build},
      .build_shell = true,
      .capture_output = o.json,
      .stop_signal = o.stop_signal,
      .stop_timeout = std::chrono::milliseconds(o.stop_timeout_ms),
      .on_busy = o.on_busy,
      .on_crash = o.on_crash,
  };
  hmr::orchestrator runner{
      hmr::native_watcher{o.watch, std::move(watch)},
      std::move(filter),
      hmr::debouncer{std::chrono::milliseconds(o.debounce_ms)},
      hmr::restart_strategy{std::move(restart)},
      std::move(presenter),
  };
  runner.set_options({.postpone = o.postpone});
  const auto signals = hmr::stop_on_interrupt(runner);
  bool paused = false;
  std::optional<hmr::cli::terminal_keys> keys;
  if (o.keys) {
    keys.emplace([&](char key) {
      switch (key) {
        case 'r':
        case 'b':
          runner.rebuild();
          break;
        case 'R':
          runner.restart();
          break;
        case 'c':
          std::cerr << "\x1b[H\x1b[2J" << std::flush;
          break;
        case 'p':
          paused = !paused;
          runner.pause(paused);
          std::cerr << (paused ? "[hmr] paused: changes are ignored (p resumes)\n"
                               : "[hmr] resumed\n")
                    << std::flush;
          break;
        case 'q':
          runner.stop(0, "quit");
          break;
        case 'h':
          std::cerr << "[hmr] keys: r reload  R restart  b rebuild  c clear  p pause  q quit  h help\n"
                    << std::flush;
          break;
        default:
          break;
      }
    });
  }
  const int code = runner.run();
  if (keys) keys->restore();
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(true);
  const std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = read_options(args);
  if (!parsed) return usage_failure(parsed.error);
  hmr::cli::options o = std::move(*parsed.parsed);
  if (o.help) {
    std::cout << hmr::cli::help_text;
    return 0;
  }
  if (o.version) {
    std::cout << "hmr " << hmr::version_string << "\n";
    return 0;
  }
  if (o.watch.empty()) o.watch = {"."};
  for (const auto& root : o.watch) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) {
      return fatal("watch path '" + root + "' " +
                       (fs::exists(root, ec) ? "is not a directory" : "does not exist"),
                   "give an existing directory to --watch");
    }
  }
  hmr::any_filter filter;
  try {
    filter = make_filter(o);
  } catch (const std::invalid_argument& e) {
    return usage_failure({e.what(), "fix the glob given to --include or --exclude"});
  }
  if (o.explain) {
    std::cout << filter.explain(*o.explain, fs::is_directory(*o.explain)).describe() << "\n";
    return 0;
  }
  if (o.command.empty()) {
    if (auto error = zero_config(o)) return usage_failure(*error);
    filter = make_filter(o);
  }
  if (o.shell && o.command.size() > 1) {  // `hmr --shell -- echo a b`: one shell string
    std::string joined;
    for (const auto& word : o.command) joined += (joined.empty() ? "" : " ") + word;
    o.command = {joined};
  }
  if (o.json) return run(o, std::move(filter), hmr::json_presenter{std::cout});
  return run(o, std::move(filter),
             hmr::ansi_presenter{std::cerr, {.clear = o.clear, .on_crash = o.on_crash}});
}
