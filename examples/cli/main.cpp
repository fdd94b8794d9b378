// hmr: the reference command line, assembled from the toolkit's parts. Copy it and change
// what you like; the option names and exit codes are a contract (docs/cli.md).
//
//   hmr [OPTIONS] [--] COMMAND [ARGS...]
//
// Exit codes: 0 after a clean quit (q, Ctrl-C, SIGTERM), 2 for usage errors, 1 for fatal
// errors; under --on-crash exit, the program's own status.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <hmr/ansi_presenter.hpp>
#include <hmr/cmake_project.hpp>
#include <hmr/filters.hpp>
#include <hmr/gitignore.hpp>
#include <hmr/hybrid_strategy.hpp>
#include <hmr/json_presenter.hpp>
#include <hmr/orchestrator.hpp>
#include <hmr/restart_strategy.hpp>
#include <hmr/version.hpp>
#include <hmr/watcher.hpp>
#include <algorithm>
#include <cstdint>
#include <iostream>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "cli_options.hpp"
#include "glob_roots.hpp"
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

/// hmr's own output files: its stdout and stderr where they are regular files under a watch
/// root (`hmr --json -- ./app > run.log`). hmr writes them itself; reacting to that would
/// restart the program for every line it reports, forever.
class own_output_files {
 public:
  /// Finds the files behind descriptors 1 and 2 under `roots` (by device and inode: the
  /// path /proc gives must still name the open file).
  explicit own_output_files(const std::vector<std::string>& roots) {
    for (const auto& [fd, stream] : {std::pair{1, "stdout"}, std::pair{2, "stderr"}}) {
      struct stat open_file {};
      if (::fstat(fd, &open_file) != 0 || !S_ISREG(open_file.st_mode)) continue;
      std::error_code ec;
      const fs::path path = fs::read_symlink("/proc/self/fd/" + std::to_string(fd), ec);
      struct stat named {};
      if (ec || ::stat(path.c_str(), &named) != 0 || named.st_dev != open_file.st_dev ||
          named.st_ino != open_file.st_ino)
        continue;  // deleted or renamed since: no path to ignore
      for (std::size_t root = 0; root < roots.size(); ++root) {
        const fs::path rel = path.lexically_relative(fs::weakly_canonical(roots[root], ec));
        if (ec || rel.empty() || *rel.begin() == ".." || rel == ".") continue;
        add(root, rel.generic_string(), stream);
      }
    }
  }

  /// True when neither stream is a file under a watch root.
  [[nodiscard]] bool empty() const noexcept { return files_.empty(); }

  /// False for an output file (under root 0).
  [[nodiscard]] bool keep(std::string_view path, bool is_directory) const { return keep(0, path, is_directory); }
  /// False for an output file under root `root`.
  [[nodiscard]] bool keep(std::size_t root, std::string_view path, bool is_directory) const {
    return is_directory || find(root, path) == nullptr;
  }
  /// Says which stream a dropped path is.
  [[nodiscard]] hmr::filter_verdict explain(std::string_view path, bool is_directory) const {
    return explain(0, path, is_directory);
  }
  /// Says which stream a dropped path under root `root` is.
  [[nodiscard]] hmr::filter_verdict explain(std::size_t root, std::string_view path, bool is_directory) const {
    const entry* own = is_directory ? nullptr : find(root, path);
    if (own == nullptr) return {true, std::string(path), "own_output", "not hmr's own output file", false};
    return {false, std::string(path), "own_output", "hmr's own output file (its " + own->streams + ")", true};
  }

 private:
  struct entry {
    std::size_t root = 0;
    std::string path{};     // relative to the root
    std::string streams{};  // "stdout", "stderr", or "stdout and stderr"
  };
  void add(std::size_t root, std::string path, const std::string& stream) {
    for (entry& e : files_) {
      if (e.root == root && e.path == path) {
        e.streams += " and " + stream;
        return;
      }
    }
    files_.push_back({root, std::move(path), stream});
  }
  [[nodiscard]] const entry* find(std::size_t root, std::string_view path) const {
    for (const entry& e : files_) {
      if (e.root == root && e.path == path) return &e;
    }
    return nullptr;
  }
  std::vector<entry> files_{};
};

/// The filter the flags describe, plus hmr's own output files.
hmr::any_filter make_filter(const hmr::cli::options& o) {
  hmr::any_filter filter;
  if (o.default_ignores) filter = hmr::default_ignores();
  if (o.gitignore && !o.watch.empty()) {
    // Each root's .gitignore governs only that root's tree.
    std::vector<hmr::gitignore> ignores;
    for (const std::string& root : o.watch)
      ignores.push_back(hmr::load_gitignore(root, o.watch.size() > 1 ? root + "/" : std::string()));
    filter = filter | hmr::per_root<hmr::gitignore>{std::move(ignores)};
  }
  std::vector<std::string> includes = o.include;
  for (const auto& ext : o.extensions) includes.push_back("**/*." + ext);
  if (!includes.empty()) filter = filter | hmr::include_globs{includes};
  if (!o.exclude.empty()) filter = filter | hmr::exclude_globs{o.exclude};
  if (own_output_files own(o.watch); !own.empty()) filter = hmr::any_filter(std::move(own)) | filter;
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
  std::vector<std::string> targets{target->name};
  for (const hmr::cmake_target& t : project->targets) {  // every MODULE library: a module
    if (!t.is_module() || t.artifacts.empty()) continue;
    targets.push_back(t.name);  // built too: the program loads it (also under --cold)
    if (std::find(o.reload.begin(), o.reload.end(), t.artifacts.front()) == o.reload.end())
      o.reload.push_back(t.artifacts.front());
  }
  if (o.build.empty()) {
    for (const std::string& arg : hmr::cmake_build_command(*project, targets)) {
      if (!o.build.empty()) o.build += ' ';
      o.build += shell_quote(arg);
    }
  }
  std::error_code ec;
  const std::string relative = fs::relative(fs::absolute(*build_dir), fs::current_path(), ec).generic_string();
  if (!ec && !relative.empty() && relative.rfind("..", 0) != 0) o.exclude.push_back(relative + "/**");
  return std::nullopt;
}

/// Where the module files are watched: each one's path relative to the watch root it is
/// under. A module under no --watch root gets its directory as an extra root that reports
/// nothing but its modules.
struct module_watch {
  std::vector<std::string> roots{};                           ///< --watch roots, then the extra ones
  std::size_t user_roots = 0;                                 ///< how many came from --watch
  std::vector<std::pair<std::uint32_t, std::string>> files{};  ///< (root, relative path) per module
};

module_watch plan_module_watch(const hmr::cli::options& o) {
  module_watch plan;
  plan.roots = o.watch;
  plan.user_roots = o.watch.size();
  std::vector<fs::path> absolute_roots;
  for (const std::string& root : o.watch) absolute_roots.push_back(fs::absolute(root).lexically_normal());
  for (const std::string& module : o.reload) {
    const fs::path file = fs::absolute(module).lexically_normal();
    std::optional<std::pair<std::uint32_t, std::string>> where;
    for (std::uint32_t i = 0; i < absolute_roots.size() && !where; ++i) {
      const fs::path rel = file.lexically_relative(absolute_roots[i]);
      if (!rel.empty() && *rel.begin() != ".." && rel != ".") where.emplace(i, rel.generic_string());
    }
    if (!where) {
      const fs::path dir = file.parent_path();
      auto at = std::find(absolute_roots.begin(), absolute_roots.end(), dir);
      if (at == absolute_roots.end()) {
        plan.roots.push_back(dir.string());
        absolute_roots.push_back(dir);
        at = absolute_roots.end() - 1;
      }
      where.emplace(static_cast<std::uint32_t>(at - absolute_roots.begin()), file.filename().string());
    }
    plan.files.push_back(std::move(*where));
  }
  return plan;
}

/// Lets the module files, and the directories on the way to them, through whatever the
/// other filters say (a module usually lives in an ignored build directory), each under
/// the watch root it belongs to.
class keep_modules {
 public:
  keep_modules(hmr::any_filter inner, std::vector<std::pair<std::uint32_t, std::string>> modules)
      : inner_(std::move(inner)), modules_(std::move(modules)) {}

  [[nodiscard]] bool keep(std::string_view path, bool is_directory) const {
    return keep(0, path, is_directory);
  }
  [[nodiscard]] bool keep(std::size_t root, std::string_view path, bool is_directory) const {
    return is_module(root, path, is_directory) || inner_.keep(root, path, is_directory);
  }
  [[nodiscard]] hmr::filter_verdict explain(std::string_view path, bool is_directory) const {
    return explain(0, path, is_directory);
  }
  [[nodiscard]] hmr::filter_verdict explain(std::size_t root, std::string_view path,
                                            bool is_directory) const {
    if (!is_module(root, path, is_directory)) return inner_.explain(root, path, is_directory);
    return {true, std::string(path), "reload",
            is_directory ? "a directory on the way to a module (--reload)" : "a module (--reload)", true};
  }

 private:
  [[nodiscard]] bool is_module(std::size_t root, std::string_view path, bool is_directory) const {
    for (const auto& [module_root, module] : modules_) {
      if (module_root != root) continue;
      if (!is_directory && module == path) return true;
      if (is_directory && module.size() > path.size() && module.compare(0, path.size(), path) == 0 &&
          module[path.size()] == '/')
        return true;
    }
    return false;
  }
  hmr::any_filter inner_;
  std::vector<std::pair<std::uint32_t, std::string>> modules_;
};

/// A watcher whose roots from `first_module_root` on report only the module files.
template <hmr::watcher W>
class module_root_watcher {
 public:
  module_root_watcher(W inner, std::size_t first_module_root,
                      std::vector<std::pair<std::uint32_t, std::string>> modules)
      : inner_(std::move(inner)), first_(first_module_root), modules_(std::move(modules)) {}

  void start(hmr::watch_handler handler) {
    handler.changes = [first = first_, modules = modules_, next = std::move(handler.changes)](
                          std::vector<hmr::file_change>&& changes) {
      std::erase_if(changes, [&](const hmr::file_change& c) {
        if (c.root < first) return false;
        return std::find(modules.begin(), modules.end(), std::pair{c.root, c.path}) == modules.end();
      });
      if (!changes.empty() && next) next(std::move(changes));
    };
    inner_.start(std::move(handler));
  }
  void stop() { inner_.stop(); }
  bool wait_ready(std::chrono::milliseconds timeout) { return inner_.wait_ready(timeout); }
  [[nodiscard]] bool running() const { return inner_.running(); }
  [[nodiscard]] hmr::watch_stats stats() const { return inner_.stats(); }
  [[nodiscard]] const std::vector<std::string>& roots() const { return inner_.roots(); }
  [[nodiscard]] std::string_view backend() const { return inner_.backend(); }

 private:
  W inner_;
  std::size_t first_;
  std::vector<std::pair<std::uint32_t, std::string>> modules_;
};

template <class Watcher, class Strategy, class Presenter>
int run_with(const hmr::cli::options& o, Watcher watcher, hmr::any_filter filter, Strategy strategy,
             Presenter presenter);

/// True when the flags ask for hot reload (the hybrid strategy).
bool wants_hybrid(const hmr::cli::options& o) { return !o.reload.empty() || !o.restart_on.empty() || o.cold; }

template <class Presenter>
int run(const hmr::cli::options& o, hmr::any_filter filter, Presenter presenter) {
  // Without a build, saving a module file is what reloads it: watch the module files
  // wherever they are. With a build, the build writes them, and the comparison of its
  // outputs decides (watching them would only add a cycle after each build).
  const module_watch modules =
      o.build.empty() ? plan_module_watch(o) : module_watch{.roots = o.watch, .user_roots = o.watch.size()};
  if (!modules.files.empty()) filter = keep_modules{std::move(filter), modules.files};
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
  module_root_watcher watcher{hmr::native_watcher{modules.roots, std::move(watch)}, modules.user_roots,
                              modules.files};
  if (!wants_hybrid(o)) {
    return run_with(o, std::move(watcher), std::move(filter), hmr::restart_strategy{std::move(restart)},
                    std::move(presenter));
  }
  hmr::hybrid_options hybrid{
      .run = std::move(restart.run),
      .run_shell = restart.run_shell,
      .build = std::move(restart.build),
      .build_shell = restart.build_shell,
      .capture_output = restart.capture_output,
      .stop_signal = restart.stop_signal,
      .stop_timeout = restart.stop_timeout,
      .on_busy = restart.on_busy,
      .on_crash = restart.on_crash,
      .modules = o.reload,
      .restart_on = o.restart_on,
      .cold = o.cold,
      .watch_roots = modules.roots,
  };
  return run_with(o, std::move(watcher), std::move(filter), hmr::hybrid_strategy{std::move(hybrid)},
                  std::move(presenter));
}

/// The loop with the chosen watcher and strategy, and the interactive keys.
template <class Watcher, class Strategy, class Presenter>
int run_with(const hmr::cli::options& o, Watcher watcher, hmr::any_filter filter, Strategy strategy,
             Presenter presenter) {
  hmr::orchestrator runner{
      std::move(watcher),
      std::move(filter),
      hmr::debouncer{std::chrono::milliseconds(o.debounce_ms)},
      std::move(strategy),
      std::move(presenter),
  };
  runner.set_options({.postpone = o.postpone});
  const auto signals = hmr::stop_on_interrupt(runner);
  bool paused = false;
  // Before the first program starts: the terminal's modes at start, and hmr's right to
  // hand it over (the program gets it when it reads it or sets its modes).
  auto& terminal = hmr::shared_terminal::instance();
  [[maybe_unused]] const bool on_terminal = terminal.available();
  std::optional<hmr::cli::terminal_keys> keys;
  if (o.keys) {
    // Said once: the first time the program takes the terminal (see --help).
    auto on_handover = [told = false, program = o.shell || o.command.empty() ? std::string("the program")
                                                                             : o.command.front()](
                           bool program_holds) mutable {
      if (!program_holds || std::exchange(told, true)) return;
      std::cerr << "[hmr] " << program << " has the terminal: keys and Ctrl-C go to it until it ends\n"
                << std::flush;
    };
    keys.emplace([&](char key) {
      switch (key) {
        case 'r':
          runner.reload();
          break;
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
    }, std::move(on_handover));
  }
  const int code = runner.run();
  if (keys) keys->restore();
  terminal.restore();  // also after a program that held it crashed in raw mode
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
  // Globs written from the current directory (`-w src --restart-on src/main.cpp`) are
  // matched relative to the watch root they point into.
  const auto globs = hmr::cli::rebase_option_globs(o, fs::current_path());
  hmr::any_filter filter;
  try {
    filter = make_filter(o);
  } catch (const std::invalid_argument& e) {
    return usage_failure({e.what(), "fix the glob given to --include or --exclude"});
  }
  if (o.explain) {
    // Judged under the first watch root that holds it, as a path relative to that root.
    const fs::path asked = fs::absolute(*o.explain).lexically_normal();
    std::size_t root = 0;
    std::string path = *o.explain;
    for (std::size_t i = 0; i < o.watch.size(); ++i) {
      const fs::path rel = asked.lexically_relative(fs::absolute(o.watch[i]).lexically_normal());
      if (!rel.empty() && *rel.begin() != ".." && rel != ".") {
        root = i;
        path = rel.generic_string();
        break;
      }
    }
    hmr::filter_verdict verdict = hmr::explain_in_root(filter, root, path, fs::is_directory(*o.explain));
    verdict.path = *o.explain;  // as the user wrote it
    std::cout << verdict.describe() << "\n";
    return 0;
  }
  // Globs that match nothing: a line on stderr, or with --json a warning event.
  std::vector<hmr::event> glob_warnings;
  for (const std::string& line : hmr::cli::unmatched_glob_warnings(globs, o.watch)) {
    if (!o.json) std::cerr << "hmr: warning: " << line << "\n";
    glob_warnings.emplace_back(hmr::events::error{.message = line, .warning = true});
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
  if (o.json) {
    return run(o, std::move(filter),
               hmr::cli::after_watching{hmr::json_presenter{std::cout}, std::move(glob_warnings)});
  }
  return run(o, std::move(filter),
             hmr::ansi_presenter{std::cerr, {.clear = o.clear, .on_crash = o.on_crash}});
}
