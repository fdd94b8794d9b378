// The terminal presenter: one concise status line per cycle (what changed, what was done,
// how long it took), build diagnostics when a build fails, and why a program ended.
// Colour only on a terminal, never under NO_COLOR. Design notes: docs/presenters.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <hmr/events.hpp>
#include <hmr/strategy.hpp>
#include <iostream>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#if defined(_WIN32)
#include <io.h>
#else
#include <unistd.h>
#endif

namespace hmr {

/// When to colour the output.
enum class colour_mode : std::uint8_t {
  automatic,  ///< on a terminal, unless NO_COLOR is set to a non-empty value
  always,     ///< always (an explicit request wins over NO_COLOR, as no-color.org says)
  never,      ///< never
};

/// The monotonic clock an ANSI presenter measures restarts with.
using steady_clock_function = std::function<std::chrono::steady_clock::time_point()>;

/// Options for `ansi_presenter`.
struct ansi_presenter_options {
  /// When to use colour.
  colour_mode colour = colour_mode::automatic;
  /// Clear the screen (not the scrollback) when a cycle starts; only on a terminal.
  bool clear = false;
  /// Whether the stream is a terminal; empty = detect (std::cout and std::cerr/std::clog
  /// are asked with isatty, any other stream is not a terminal).
  std::optional<bool> is_tty{};
  /// The strategy's crash policy, so an exit line can say what happens next.
  crash_policy on_crash = crash_policy::wait;
  /// The most lines of a failed build's output shown; the rest are counted.
  std::size_t build_output_limit = 500;
  /// Measures "restarted in 3 ms"; tests inject a fake clock.
  steady_clock_function clock = [] { return std::chrono::steady_clock::now(); };
  /// The directory diagnostic paths are shown relative to; empty = the current directory
  /// when the presenter is made.
  std::string current_directory{};
};

namespace detail {

/// True when `out` is std::cout, std::cerr or std::clog and its file descriptor is a
/// terminal.
inline bool is_terminal(const std::ostream& out) {
  int fd = -1;
  if (&out == &std::cout)
    fd = 1;
  else if (&out == &std::cerr || &out == &std::clog)
    fd = 2;
  if (fd < 0) return false;
#if defined(_WIN32)
  return ::_isatty(fd) != 0;
#else
  return ::isatty(fd) != 0;
#endif
}

/// True when NO_COLOR is set to a non-empty value (https://no-color.org).
inline bool no_color_requested() {
  const char* value = std::getenv("NO_COLOR");  // NOLINT(concurrency-mt-unsafe): read once
  return value != nullptr && value[0] != '\0';
}

/// An absolute `file` as a person opens it from `current`: relative to it when the two
/// share more than the root (`examples/a.cc`, `../lib/b.h`), else absolute
/// (`/usr/include/c++/12/vector`). Relative and empty paths are returned as they are.
inline std::string shown_path(const std::string& file, const std::string& current) {
  namespace fs = std::filesystem;
  const fs::path path = fs::path(file).lexically_normal();
  const fs::path from = fs::path(current).lexically_normal();
  if (!path.is_absolute() || !from.is_absolute()) return file;
  auto p = path.begin();
  auto c = from.begin();
  std::size_t shared = 0;
  for (; p != path.end() && c != from.end() && *p == *c; ++p, ++c) {
    if (!c->empty()) ++shared;  // "/" then each name (a trailing "" is not one)
  }
  if (shared < 2) return file;
  const fs::path relative = path.lexically_relative(from);
  return relative.empty() ? file : relative.string();
}

}  // namespace detail

/// `d` the way a status line shows it: "<1 ms", "3 ms", "1.24 s", "12.3 s", "2 min 5 s",
/// "1 h 2 min": three significant digits below a minute, trailing zeros dropped.
inline std::string format_duration(duration d) {
  const std::int64_t us = d.count() < 0 ? 0 : d.count();
  if (us < 500) return "<1 ms";
  if (const std::int64_t ms = (us + 500) / 1000; ms < 1000) return std::to_string(ms) + " ms";
  auto decimal = [](std::int64_t units, std::int64_t per_second) {
    std::string text = std::to_string(units / per_second);
    std::string fraction = std::to_string(units % per_second + per_second).substr(1);
    while (!fraction.empty() && fraction.back() == '0') fraction.pop_back();
    if (!fraction.empty()) text += '.' + fraction;
    return text + " s";
  };
  if (const std::int64_t cs = (us + 5'000) / 10'000; cs < 1000) return decimal(cs, 100);
  if (const std::int64_t ds = (us + 50'000) / 100'000; ds < 600) return decimal(ds, 10);
  const std::int64_t s = (us + 500'000) / 1'000'000;
  if (s < 3600) {
    std::string text = std::to_string(s / 60) + " min";
    if (s % 60 != 0) text += " " + std::to_string(s % 60) + " s";
    return text;
  }
  const std::int64_t min = (s + 30) / 60;
  std::string text = std::to_string(min / 60) + " h";
  if (min % 60 != 0) text += " " + std::to_string(min % 60) + " min";
  return text;
}

/// Prints events for a person at a terminal: one status line per cycle, e.g.
/// `[hmr] src/a.cpp changed · built 1.24 s · restarted in 3 ms (pid 4242)`, a failed
/// build's diagnostics and output (a successful build stays quiet), why the program
/// ended, and errors with their hint. The program's own captured output lines are
/// passed through verbatim.
///
/// @code
///   hmr::ansi_presenter ansi{std::cerr, {.clear = true}};
///   ansi.present(hmr::events::process_started{4242, {"./server"}, "initial start", 1});
///   // [hmr] initial start · started ./server (pid 4242)
/// @endcode
class ansi_presenter {
 public:
  /// A presenter writing to `out`, which must outlive it. Colour and clearing are decided
  /// here, once (from `options`, the stream and NO_COLOR).
  explicit ansi_presenter(std::ostream& out, ansi_presenter_options options = {})
      : out_(&out), options_(std::move(options)) {
    const bool tty = options_.is_tty ? *options_.is_tty : detail::is_terminal(out);
    switch (options_.colour) {
      case colour_mode::always:
        colour_ = true;
        break;
      case colour_mode::never:
        colour_ = false;
        break;
      case colour_mode::automatic:
        colour_ = tty && !detail::no_color_requested();
        break;
    }
    clear_ = options_.clear && tty;
    if (options_.current_directory.empty()) {
      std::error_code ec;
      options_.current_directory = std::filesystem::current_path(ec).string();
    }
  }

  /// True when this presenter writes colour codes.
  [[nodiscard]] bool colour() const noexcept { return colour_; }
  /// True when this presenter clears the screen at the start of a cycle.
  [[nodiscard]] bool clears() const noexcept { return clear_; }

  /// Shows `e`; writes and flushes whatever lines it completes.
  void present(const event& e) {
    std::visit([this](const auto& alt) { on(alt); }, e);
  }

 private:
  // The cycle being reported: its trigger, the steps done so far, when its restart phase
  // began. A line is printed when the cycle ends (a start, a failed build, a reload).
  struct cycle_state {
    bool active = false;
    std::uint64_t number = 0;
    cycle_request trigger{};
    std::vector<std::string> steps{};
    std::optional<std::chrono::steady_clock::time_point> phase_start{};
    std::vector<std::string> modules{};
  };

  static constexpr std::string_view reset = "\x1b[0m";
  static constexpr std::string_view bold = "\x1b[1m";
  static constexpr std::string_view dim = "\x1b[2m";
  static constexpr std::string_view red = "\x1b[31m";
  static constexpr std::string_view bold_red = "\x1b[1;31m";
  static constexpr std::string_view green = "\x1b[32m";
  static constexpr std::string_view yellow = "\x1b[33m";
  static constexpr std::string_view cyan = "\x1b[36m";
  static constexpr std::string_view separator = " \xC2\xB7 ";  // " · "
  static constexpr std::string_view dash = " \xE2\x80\x94 ";   // " — "

  // `text` wrapped in `style` when colouring.
  std::string paint(std::string_view style, std::string_view text) const {
    std::string out;
    if (colour_) out += style;
    out += text;
    if (colour_) out += reset;
    return out;
  }

  // Writes "[hmr] " + `text` + "\n" and flushes.
  void line(std::string_view text) {
    std::string out = paint(cyan, "[hmr]");
    out += ' ';
    out += text;
    out += '\n';
    write(out);
  }

  void write(std::string_view text) {
    out_->write(text.data(), static_cast<std::streamsize>(text.size()));
    out_->flush();
  }

  std::chrono::steady_clock::time_point now() const { return options_.clock(); }

  // The name a user knows the program by: the shell string, or argv[0].
  static std::string program_name(const std::vector<std::string>& command) {
    if (command.size() == 3 && command[0] == "/bin/sh" && command[1] == "-c") return command[2];
    if (command.empty()) return "the program";
    return command[0];
  }

  // Makes cycle `number` the current one. A different cycle that printed nothing yet (a
  // cancelled build) hands its changes on; one with steps is printed first.
  void enter_cycle(std::uint64_t number) {
    if (cycle_.active && cycle_.number == number) return;
    cycle_request trigger{};
    std::optional<std::chrono::steady_clock::time_point> started{};
    if (cycle_.active) {
      if (!cycle_.steps.empty()) {
        print_cycle("");
      } else {
        trigger = std::move(cycle_.trigger);
        started = cycle_.phase_start;
      }
    }
    if (pending_) {
      trigger.merge(std::move(*pending_));
      started = pending_time_;
      pending_.reset();
    }
    cycle_ = cycle_state{};
    cycle_.active = true;
    cycle_.number = number;
    cycle_.trigger = std::move(trigger);
    cycle_.phase_start = started;
  }

  // Prints the current cycle's line: its trigger (or `fallback_trigger`), its steps and
  // `tail` (" — ..."), then forgets the cycle.
  void print_cycle(std::string_view tail, std::string_view fallback_trigger = {}) {
    std::string text;
    if (!cycle_.trigger.batch.empty())
      text = paint(bold, describe(cycle_.trigger));
    else if (!fallback_trigger.empty())
      text = paint(bold, fallback_trigger);
    for (const std::string& step : cycle_.steps) {
      if (!text.empty()) text += separator;
      text += step;
    }
    text += tail;
    cycle_ = cycle_state{};
    if (!text.empty()) line(text);
  }

  std::string since(std::optional<std::chrono::steady_clock::time_point> start) const {
    if (!start) return {};
    return " in " + format_duration(std::chrono::duration_cast<duration>(now() - *start));
  }

  // What happens after the program ended on its own.
  /// "pid 7", "pids 7, 8, 9" or "pids 7, 8, 9 and 4 more".
  static std::string pids_text(const std::vector<int>& pids) {
    std::string text = pids.size() == 1 ? "pid " : "pids ";
    for (std::size_t i = 0; i < pids.size() && i < 3; ++i) text += (i ? ", " : "") + std::to_string(pids[i]);
    if (pids.size() > 3) text += " and " + std::to_string(pids.size() - 3) + " more";
    return text;
  }

  std::string next_step(bool success) const {
    if (options_.on_crash == crash_policy::exit) return {};
    if (!success && options_.on_crash == crash_policy::restart)
      return paint(dim, std::string(dash) + "restarting");
    return paint(dim, std::string(dash) + "waiting for changes");
  }

  std::string format_diagnostic(const diagnostic& d) const {
    std::string where = detail::shown_path(d.file, options_.current_directory);
    if (!where.empty() && d.line > 0) {
      where += ':' + std::to_string(d.line);
      if (d.column > 0) where += ':' + std::to_string(d.column);
    }
    std::string text = "  ";
    if (!where.empty()) text += paint(bold, where + ":") + " ";
    switch (d.severity) {
      case diagnostic::level::note:
        text += paint(cyan, "note:");
        break;
      case diagnostic::level::warning:
        text += paint(yellow, "warning:");
        break;
      case diagnostic::level::error:
        text += paint(bold_red, "error:");
        break;
      case diagnostic::level::fatal:
        text += paint(bold_red, "fatal error:");
        break;
    }
    text += " " + d.message + "\n";
    return text;
  }

  void on(const events::watching& e) {
    std::string roots;
    for (const std::string& root : e.roots) {
      if (!roots.empty()) roots += ", ";
      roots += root;
    }
    std::string details = e.backend;
    if (!details.empty()) details += ", ";
    details += std::to_string(e.directories) + (e.directories == 1 ? " directory" : " directories");
    line("watching " + paint(bold, roots) + " (" + details + ") in " + format_duration(e.startup));
  }

  void on(const events::change& e) {
    if (clear_) write("\x1b[H\x1b[2J");
    cycle_request request{cycle_reason::change, e.batch, true};
    if (pending_)
      pending_->merge(std::move(request));
    else
      pending_ = std::move(request);
    pending_time_ = now();
  }

  void on(const events::build_started& e) {
    enter_cycle(e.cycle);
    build_output_.clear();
    build_output_dropped_ = 0;
  }

  void on(const events::build_finished& e) {
    enter_cycle(e.cycle);
    if (e.cancelled) {  // a newer change cancelled it; the next cycle reports both
      cycle_.steps.clear();
      build_output_.clear();
      build_output_dropped_ = 0;
      return;
    }
    if (e.success) {
      std::size_t warnings = 0;
      for (const diagnostic& d : e.diagnostics)
        if (d.severity == diagnostic::level::warning) ++warnings;
      std::string step = paint(green, "built " + format_duration(e.elapsed));
      if (warnings > 0)
        step += " " + paint(yellow, "(" + std::to_string(warnings) +
                                        (warnings == 1 ? " warning)" : " warnings)"));
      cycle_.steps.push_back(std::move(step));
      cycle_.phase_start = now();
      build_output_.clear();
      build_output_dropped_ = 0;
      return;
    }
    cycle_.steps.push_back(paint(bold_red, "build failed (" + e.status.describe() + ") after " +
                                               format_duration(e.elapsed)));
    print_cycle(paint(dim, std::string(dash) + (running_.empty() ? "waiting for changes"
                                                                 : "keeping the running program")));
    std::string block;
    for (const diagnostic& d : e.diagnostics) block += format_diagnostic(d);
    write(block);
    if (!build_output_.empty()) {
      line("build output:");
      std::string lines;
      for (const std::string& l : build_output_) lines += l + "\n";
      write(lines);
      if (build_output_dropped_ > 0)
        line("\xE2\x80\xA6 " + std::to_string(build_output_dropped_) + " more lines not shown");
    }
    build_output_.clear();
    build_output_dropped_ = 0;
  }

  void on(const events::process_started& e) {
    enter_cycle(e.cycle);
    running_[e.pid] = program_name(e.command);
    std::string step = stopped_one_ ? "restarted" : "started " + program_name(e.command);
    step += since(cycle_.phase_start);
    step += " (pid " + std::to_string(e.pid) + ")";
    stopped_one_ = false;
    cycle_.steps.push_back(paint(green, step));
    print_cycle("", e.reason);
  }

  void on(const events::process_exited& e) {
    std::string name = "process " + std::to_string(e.pid);
    if (const auto it = running_.find(e.pid); it != running_.end()) {
      name = it->second;
      running_.erase(it);
    }
    const std::string after = " after " + format_duration(e.uptime);
    switch (e.why) {
      case events::process_exited::cause::stopped:
        stopped_one_ = true;  // the next start is a restart
        return;
      case events::process_exited::cause::exited:
        if (!e.left_running.empty()) {
          line(paint(yellow, name + " daemonized (" + pids_text(e.left_running) + " left running" +
                                 (e.status.success() ? "" : ", " + e.status.describe()) + ")") +
               "; run it in the foreground, e.g. without -d" +
               paint(dim, std::string(dash) + "stopped at the next restart or quit"));
          return;
        }
        if (e.status.success())
          line(name + " exited" + after + next_step(true));
        else
          line(paint(yellow, name + " exited with " + e.status.describe() + after) +
               next_step(false));
        return;
      case events::process_exited::cause::crashed:
        line(paint(bold_red, name + " crashed (" + e.status.describe() + ")" + after) +
             next_step(false));
        return;
    }
  }

  void on(const events::reload_started& e) {
    enter_cycle(e.cycle);
    cycle_.modules = e.modules;
  }

  void on(const events::reload_finished& e) {
    enter_cycle(e.cycle);
    if (e.success) {
      std::string what;
      if (cycle_.modules.size() == 1)
        what = cycle_.modules.front();
      else
        what = std::to_string(cycle_.modules.size()) + " modules";
      cycle_.steps.push_back(
          paint(green, "reloaded " + what + " in " + format_duration(e.elapsed)));
      print_cycle("");
      return;
    }
    std::string step = "reload failed";
    if (!e.reason.empty()) step += " (" + e.reason + ")";
    cycle_.steps.push_back(paint(yellow, step));
    cycle_.phase_start = now();  // the restart that follows is timed from here
  }

  void on(const events::no_effect& e) {
    enter_cycle(e.cycle);
    std::string step = "no effect";
    if (!e.reason.empty()) step += " (" + e.reason + ")";
    cycle_.steps.push_back(paint(dim, step));
    print_cycle("");
  }

  void on(const events::program_ready& e) {
    std::string name = "process " + std::to_string(e.pid);
    if (const auto it = running_.find(e.pid); it != running_.end()) name = it->second;
    line(paint(dim, name + " ready in " + format_duration(e.since_start)));
  }

  void on(const events::output& e) {
    if (e.source == events::output::source_kind::build) {
      if (build_output_.size() < options_.build_output_limit)
        build_output_.push_back(e.line);
      else
        ++build_output_dropped_;
      return;
    }
    std::string text = e.line;
    text += '\n';
    write(text);
  }

  void on(const events::error& e) {
    if (cycle_.active && !cycle_.steps.empty()) print_cycle("");
    if (e.warning && !e.fatal) {
      line(paint(yellow, "warning:") + " " + e.message);
    } else {
      line(paint(bold_red, e.fatal ? "fatal error:" : "error:") + " " + e.message);
    }
    if (!e.hint.empty()) write("      " + paint(cyan, "hint:") + " " + e.hint + "\n");
  }

  void on(const events::stopped& e) {
    if (cycle_.active && !cycle_.steps.empty()) print_cycle("");
    std::string text = "stopped";
    if (!e.reason.empty()) text += ": " + e.reason;
    if (e.exit_code != 0) text += " (exit code " + std::to_string(e.exit_code) + ")";
    line(text);
  }

  std::ostream* out_;
  ansi_presenter_options options_;
  bool colour_ = false;
  bool clear_ = false;
  cycle_state cycle_{};
  std::optional<cycle_request> pending_{};  // changes not yet claimed by a cycle
  std::chrono::steady_clock::time_point pending_time_{};
  std::vector<std::string> build_output_{};
  std::size_t build_output_dropped_ = 0;
  std::map<int, std::string> running_{};  // pid -> program name
  bool stopped_one_ = false;              // hmr stopped a program since the last start
};

}  // namespace hmr
