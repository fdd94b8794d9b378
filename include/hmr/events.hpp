// The event vocabulary: file changes as the watcher reports them, the batches the
// debouncer releases, and the typed lifecycle events every presenter receives.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace hmr {

/// How long something took. Microseconds: fine enough for a watcher's latency,
/// wide enough for a build that runs for hours.
using duration = std::chrono::microseconds;

/// What happened to a path.
enum class change_kind : std::uint8_t {
  created,   ///< the path appeared
  modified,  ///< its content or metadata changed (an atomic save is reported as this)
  removed,   ///< the path is gone
  renamed,   ///< moved from `file_change::old_path` to `file_change::path`
};

/// The lower-case name of a change kind, as it appears in JSON ("created", ...).
constexpr std::string_view to_string(change_kind kind) noexcept {
  switch (kind) {
    case change_kind::created:
      return "created";
    case change_kind::modified:
      return "modified";
    case change_kind::removed:
      return "removed";
    case change_kind::renamed:
      return "renamed";
  }
  return "unknown";
}

/// One change to one path.
///
/// Paths are relative to the watch root they belong to and use `/` as the separator on
/// every OS, which is the form filters and presenters expect.
struct file_change {
  std::string path{};                        ///< the path now (the new path for renames)
  change_kind kind = change_kind::modified;  ///< what happened to it
  std::string old_path{};                    ///< the previous path; set only for `renamed`
  std::uint32_t root = 0;                    ///< index of the watch root, in the order given
  bool is_directory = false;                 ///< the path is (or was) a directory

  friend bool operator==(const file_change&, const file_change&) = default;
};

/// The changes the debouncer releases together: at most one entry per path.
struct change_batch {
  std::vector<file_change> changes{};  ///< in the order each path first changed

  /// True when nothing is left after coalescing (a file created and removed, say).
  [[nodiscard]] bool empty() const noexcept { return changes.empty(); }
  /// The number of changed paths.
  [[nodiscard]] std::size_t size() const noexcept { return changes.size(); }
  /// Iteration over the changes.
  [[nodiscard]] auto begin() const noexcept { return changes.begin(); }
  /// Iteration over the changes.
  [[nodiscard]] auto end() const noexcept { return changes.end(); }

  friend bool operator==(const change_batch&, const change_batch&) = default;
};

/// How a process ended: an exit code, or the signal that killed it.
struct exit_status {
  std::optional<int> code{};  ///< set when the process called exit()
  int signal = 0;             ///< the terminating signal when `code` is empty
  std::string signal_name{};  ///< "SIGSEGV", ...: filled in by the process layer

  /// True for exit code 0.
  [[nodiscard]] bool success() const noexcept { return code && *code == 0; }
  /// "exit code 3", "SIGSEGV" or "signal 42": what a user reads.
  [[nodiscard]] std::string describe() const {
    if (code) return "exit code " + std::to_string(*code);
    if (!signal_name.empty()) return signal_name;
    return "signal " + std::to_string(signal);
  }

  friend bool operator==(const exit_status&, const exit_status&) = default;
};

/// One compiler diagnostic parsed from build output (GCC, Clang or MSVC format).
struct diagnostic {
  /// How serious the diagnostic is.
  enum class level : std::uint8_t { note, warning, error, fatal };
  std::string file{};             ///< absolute when a strategy resolved it; else as printed
  int line = 0;                   ///< 1-based; 0 when unknown
  int column = 0;                 ///< 1-based; 0 when unknown
  level severity = level::error;  ///< its severity
  std::string message{};          ///< the text after the severity

  friend bool operator==(const diagnostic&, const diagnostic&) = default;
};

/// The lifecycle events presenters receive. Each is a plain struct whose `name` is its
/// event name in the JSON lines schema.
namespace events {

/// The initial watch set is complete; changes from now on are seen.
struct watching {
  static constexpr std::string_view name = "watching";
  std::vector<std::string> roots{};  ///< the watched roots, as the user gave them
  std::string backend{};             ///< "inotify", "poll", ...
  std::size_t directories = 0;       ///< directories being watched
  duration startup{};                ///< from start to ready
};

/// A debounced batch of changes was released and will be acted on.
struct change {
  static constexpr std::string_view name = "change";
  change_batch batch{};  ///< what changed
  std::string reason{};  ///< why it counts, e.g. "src/a.cpp kept by include glob **/*.cpp"
};

/// A build command started.
struct build_started {
  static constexpr std::string_view name = "build_start";
  std::vector<std::string> command{};  ///< argv, or {"/bin/sh", "-c", string}
  std::uint64_t cycle = 0;             ///< which cycle this build belongs to
};

/// A build command ended.
struct build_finished {
  static constexpr std::string_view name = "build_end";
  bool success = false;                   ///< true when the build exited with 0
  exit_status status{};                   ///< how the build process ended
  duration elapsed{};                     ///< how long the build took
  std::vector<diagnostic> diagnostics{};  ///< parsed errors and warnings
  bool cancelled = false;                 ///< stopped by hmr because a newer change arrived
  std::uint64_t cycle = 0;                ///< which cycle this build belongs to
};

/// The supervised program was started.
struct process_started {
  static constexpr std::string_view name = "process_start";
  int pid = 0;                         ///< its process id (also its process group id)
  std::vector<std::string> command{};  ///< what was run
  std::string reason{};                ///< "initial start", "src/main.cpp changed", ...
  std::uint64_t cycle = 0;             ///< which cycle started it
};

/// The supervised program ended.
struct process_exited {
  static constexpr std::string_view name = "process_exit";
  /// Who ended it.
  enum class cause : std::uint8_t {
    stopped,  ///< hmr stopped it (restart or quit)
    exited,   ///< it exited on its own
    crashed,  ///< it was killed by a signal hmr did not send
  };
  int pid = 0;                ///< its process id
  exit_status status{};       ///< exit code or signal
  duration uptime{};          ///< how long it ran
  cause why = cause::exited;  ///< who ended it
  /// Processes it started that still ran when it ended on its own (it daemonized, or left a
  /// background child), oldest first; they stay until the next restart or quit.
  std::vector<int> left_running{};
};

/// The running program was asked to reload changed modules.
struct reload_started {
  static constexpr std::string_view name = "reload_start";
  std::vector<std::string> modules{};  ///< the modules that changed
  std::uint64_t cycle = 0;             ///< which cycle this reload belongs to
};

/// A reload attempt ended.
struct reload_finished {
  static constexpr std::string_view name = "reload_end";
  bool success = false;                ///< the new code is running with its state kept
  std::string reason{};                ///< on failure: why, e.g. "slot 'world' changed layout"
  duration elapsed{};                  ///< request to reloaded
  std::optional<duration> to_ready{};  ///< request to the app's ready(), when it calls it
  std::uint64_t cycle = 0;             ///< which cycle this reload belongs to
  std::vector<std::string> modules{};  ///< the modules it was about
  std::string fallback{};              ///< on failure, what hmr does instead ("restart"); may be empty
};

/// A cycle ended without touching the program: the build produced nothing new (a
/// comment-only edit, say), so there was nothing to reload or restart.
struct no_effect {
  static constexpr std::string_view name = "no_effect";
  std::string reason{};     ///< why, e.g. "the build outputs did not change"
  std::uint64_t cycle = 0;  ///< which cycle
};

/// The program said it is serving (`hmr::runtime::ready()`).
struct program_ready {
  static constexpr std::string_view name = "ready";
  int pid = 0;              ///< the program
  duration since_start{};   ///< from its start (or from the reload request, after a reload)
  std::uint64_t cycle = 0;  ///< the cycle that started or reloaded it
};

/// One line of output from the program or the build.
struct output {
  static constexpr std::string_view name = "output";
  /// Which stream the line came from.
  enum class stream_kind : std::uint8_t { out, err };
  /// Which process wrote it.
  enum class source_kind : std::uint8_t { process, build };
  stream_kind stream = stream_kind::out;      ///< stdout or stderr
  source_kind source = source_kind::process;  ///< the program or the build
  std::string line{};                         ///< without its line terminator
};

/// Something went wrong that the user can act on (or, with `warning`, something the user
/// should know, which hmr worked around).
struct error {
  static constexpr std::string_view name = "error";
  std::string message{};  ///< what went wrong, naming the thing
  std::string hint{};     ///< how to fix it; may be empty
  bool fatal = false;     ///< hmr is going to exit because of it
  /// Nothing failed: hmr works around it and carries on, e.g. a watch limit was reached and
  /// the rest of the tree is polled. Shown as a warning.
  bool warning = false;
};

/// hmr stopped watching and is about to return.
struct stopped {
  static constexpr std::string_view name = "stopped";
  std::string reason{};  ///< "interrupted", "quit", "child exited (--on-crash exit)", ...
  int exit_code = 0;     ///< the code hmr exits with
};

}  // namespace events

/// Any lifecycle event. Presenters visit it.
using event =
    std::variant<events::watching, events::change, events::build_started, events::build_finished,
                 events::process_started, events::process_exited, events::reload_started,
                 events::reload_finished, events::no_effect, events::program_ready, events::output,
                 events::error, events::stopped>;

/// The JSON name of whichever event `e` holds ("build_start", ...).
inline std::string_view event_name(const event& e) noexcept {
  return std::visit([](const auto& alt) { return std::remove_cvref_t<decltype(alt)>::name; }, e);
}

}  // namespace hmr
