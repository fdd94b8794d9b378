// custom_runner: a runner assembled by hand from hmr's parts, with its own presenter.
// It is the shape to copy when the reference CLI does not fit: pick a watcher, filters,
// a debouncer and a strategy, and say things your way.
//
//   custom_runner DIR -- COMMAND [ARGS...]
//
// Watches DIR for C/C++ sources (the default ignores apply), restarts COMMAND (run in
// DIR, without a shell) after each debounced batch, and prints one line per event it
// cares about, numbered. Ctrl-C, SIGTERM or SIGHUP quit cleanly with exit code 0.
#include <chrono>
#include <cstdio>
#include <hmr/debouncer.hpp>
#include <hmr/filters.hpp>
#include <hmr/orchestrator.hpp>
#include <hmr/presenter.hpp>
#include <hmr/restart_strategy.hpp>
#include <hmr/watcher.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace {

using namespace std::chrono_literals;

/// Milliseconds, with one decimal, for humans.
std::string in_ms(hmr::duration d) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f ms", std::chrono::duration<double, std::milli>(d).count());
  return text;
}

/// The example's own presenter: a numbered line per start, exit, build and error, on
/// stderr; the program's output is left alone (it goes straight to the terminal). Any
/// type with `present(const hmr::event&)` is a presenter.
class numbered_presenter {
 public:
  /// Prints `e` if it is one of the events this presenter tells about.
  void present(const hmr::event& e) {
    std::visit([this](const auto& event) { on(event); }, e);
  }

 private:
  void say(const std::string& text) {
    std::fprintf(stderr, "[runner #%u] %s\n", ++count_, text.c_str());
  }

  void on(const hmr::events::watching& e) {
    say("watching " + std::to_string(e.directories) + " directories with " + e.backend +
        ", ready in " + in_ms(e.startup));
  }
  void on(const hmr::events::change& e) {
    say(std::to_string(e.batch.size()) + " change(s), first " + e.batch.changes.front().path);
  }
  void on(const hmr::events::build_finished& e) {
    say(std::string(e.success ? "build ok" : "build FAILED") + " in " + in_ms(e.elapsed));
  }
  void on(const hmr::events::process_started& e) {
    say("started pid " + std::to_string(e.pid) + ": " + e.reason);
  }
  void on(const hmr::events::process_exited& e) {
    say("pid " + std::to_string(e.pid) + " ended (" + e.status.describe() + ") after " +
        in_ms(e.uptime));
  }
  void on(const hmr::events::error& e) { say("error: " + e.message); }
  void on(const hmr::events::stopped& e) { say("stopped: " + e.reason); }
  template <class Other>
  void on(const Other&) {}  // build_start, output, reloads: nothing to say

  unsigned count_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() < 3 || args[1] != "--") {
    std::fprintf(stderr, "usage: custom_runner DIR -- COMMAND [ARGS...]\n");
    return 2;
  }
  const std::string dir = args[0];
  hmr::watch_options watch{.directory_filter = hmr::default_ignores()};
  hmr::orchestrator runner{
      hmr::native_watcher{dir, watch},
      hmr::default_ignores() | hmr::include_globs{{"**/*.c", "**/*.cpp", "**/*.h", "**/*.hpp"}},
      hmr::debouncer{30ms},
      hmr::restart_strategy{{.run = {args.begin() + 2, args.end()}, .working_directory = dir}},
      numbered_presenter{},
  };
  const auto signals = hmr::stop_on_interrupt(runner);
  return runner.run();
}
