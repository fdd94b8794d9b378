// The strategy vocabulary: what the orchestrator asks a strategy to do with a batch, the
// policies for busy cycles and crashed programs, and the `strategy` concept users implement.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <hmr/events.hpp>
#include <string>
#include <string_view>
#include <utility>

namespace hmr {

/// Why a cycle runs. The child sees it as `HMR_REASON`.
enum class cycle_reason : std::uint8_t {
  initial,  ///< the first start
  change,   ///< a debounced batch of file changes
  manual,   ///< the user asked (a key, an API call)
  crash,    ///< the program crashed and the crash policy restarts it
};

/// The lower-case name of a cycle reason ("initial", "change", "manual", "crash").
constexpr std::string_view to_string(cycle_reason reason) noexcept {
  switch (reason) {
    case cycle_reason::initial:
      return "initial";
    case cycle_reason::change:
      return "change";
    case cycle_reason::manual:
      return "manual";
    case cycle_reason::crash:
      return "crash";
  }
  return "unknown";
}

/// One request to a strategy: run a cycle for these changes.
struct cycle_request {
  cycle_reason reason = cycle_reason::change;  ///< why
  change_batch batch{};                        ///< what changed; empty for manual requests
  bool build = true;                           ///< run the build step first, when there is one
  /// Restart the program even where a hot reload would apply (the `R` key, `--cold`).
  /// Strategies without hot reload always restart.
  bool restart = false;

  /// Folds a newer request into this one, so that requests arriving during a busy cycle
  /// become exactly one more cycle: the batches are united (the newer change wins for a
  /// path in both), `build` and `restart` are kept if either asks for them, and the newer reason wins
  /// unless this one is `initial` (the program has not started yet).
  void merge(cycle_request newer) {
    for (file_change& change : newer.batch.changes) {
      bool replaced = false;
      for (file_change& mine : batch.changes) {
        if (mine.path == change.path && mine.root == change.root) {
          mine = std::move(change);
          replaced = true;
          break;
        }
      }
      if (!replaced) batch.changes.push_back(std::move(change));
    }
    build = build || newer.build;
    restart = restart || newer.restart;
    if (reason != cycle_reason::initial) reason = newer.reason;
  }
};

/// What a request that arrives while a build (or a `command_strategy` command) runs does.
enum class busy_policy : std::uint8_t {
  queue,    ///< the running build finishes, then exactly one more cycle runs (default)
  restart,  ///< the running build is cancelled (its whole process group) and starts again
};

/// What happens when the supervised program ends on its own with a failure (a non-zero
/// exit code or a signal hmr did not send). A clean exit (code 0) always waits for the
/// next change, except under `exit`.
enum class crash_policy : std::uint8_t {
  wait,     ///< report it and wait for the next change (default)
  restart,  ///< restart it after a backoff that starts at 0.5 s and doubles up to 8 s
  exit,     ///< end the session with the program's status, whatever it is (for containers)
};

/// What a strategy reports to. Set by whoever drives the strategy (the orchestrator, a test).
struct strategy_context {
  /// Receives the lifecycle events. Called from the strategy's own thread and, for
  /// captured output lines, from the processes' reader threads: it must be thread-safe,
  /// must not block for long, and must not call the strategy's `stop()`.
  std::function<void(event)> emit{};
  /// Asks the session to end with `exit_code` (crash policy `exit`), saying why. Called
  /// from the strategy's thread; must not call the strategy's `stop()` itself.
  std::function<void(int exit_code, std::string reason)> finish{};
};

/// What the orchestrator drives: anything that can be started with a context, be given
/// requests, and be stopped. `start` must not block on a cycle (the initial cycle is a
/// request like any other); `submit` is thread-safe and never waits for a running cycle;
/// `stop` cancels what runs, stops every process the strategy started, waits until they
/// are gone, and is idempotent.
///
/// @code
///   hmr::restart_strategy restart{{.run = {"./build/server"}, .build = {"cmake", "--build", "build"}}};
///   restart.start({.emit = [&](hmr::event e) { present(e); }});
///   restart.submit({.reason = hmr::cycle_reason::initial});
///   ...
///   restart.submit({.batch = batch});  // for each debounced batch
///   restart.stop();
/// @endcode
template <class S>
concept strategy = requires(S& s, strategy_context context, cycle_request request) {
  s.start(std::move(context));
  s.submit(std::move(request));
  s.stop();
};

/// The value of `HMR_CHANGED` for a batch: its paths, one per line, in batch order (for a
/// rename, the new path).
inline std::string changed_paths(const change_batch& batch) {
  std::string out;
  for (const file_change& change : batch) {
    if (!out.empty()) out += '\n';
    out += change.path;
  }
  return out;
}

/// A short phrase saying why a cycle ran, for `process_started::reason` and status lines:
/// "initial start", "src/a.cpp changed", "src/a.cpp and 2 more changed", "manual restart",
/// "restart after a crash".
inline std::string describe(const cycle_request& request) {
  switch (request.reason) {
    case cycle_reason::initial:
      return "initial start";
    case cycle_reason::manual:
      return request.build ? "manual rebuild" : "manual restart";
    case cycle_reason::crash:
      return "restart after a crash";
    case cycle_reason::change:
      break;
  }
  if (request.batch.empty()) return "change";
  std::string out = request.batch.changes.front().path;
  const auto kind = request.batch.changes.front().kind;
  if (request.batch.size() > 1) {
    out += " and " + std::to_string(request.batch.size() - 1) + " more changed";
  } else {
    out += kind == change_kind::modified ? " changed" : std::string(" ") + std::string(to_string(kind));
  }
  return out;
}

}  // namespace hmr
