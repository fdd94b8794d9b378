// The JSON-lines presenter: one JSON object per event and line, in the stable schema
// documented in docs/json-lines.md (schema version `json_lines_schema`).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <hmr/detail/json_writer.hpp>
#include <hmr/events.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace hmr {

/// The version of the JSON-lines schema, written as `"schema"` in the `watching` event.
/// Adding fields or events keeps it; renaming, removing or retyping a field bumps it.
inline constexpr int json_lines_schema = 1;

/// The clock a JSON presenter stamps events with.
using wall_clock = std::function<std::chrono::system_clock::time_point()>;

/// Options for `json_presenter`.
struct json_presenter_options {
  /// Where `"time"` comes from; tests inject a fixed time.
  wall_clock clock = [] { return std::chrono::system_clock::now(); };
};

namespace detail {

// Appends `value` as at least `width` decimal digits, zero-padded (a '-' first when negative).
inline void append_padded(std::string& out, long long value, int width) {
  if (value < 0) {
    out.push_back('-');
    value = -value;
  }
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  for (int i = n; i < width; ++i) out.push_back('0');
  while (n > 0) out.push_back(digits[--n]);
}

// Milliseconds as a double with the microseconds as its fraction (12345 us -> 12.345).
inline double to_ms(duration d) noexcept { return static_cast<double>(d.count()) / 1000.0; }

inline std::string_view stream_name(events::output::stream_kind stream) noexcept {
  return stream == events::output::stream_kind::err ? "stderr" : "stdout";
}

inline std::string_view source_name(events::output::source_kind source) noexcept {
  return source == events::output::source_kind::build ? "build" : "process";
}

inline std::string_view cause_name(events::process_exited::cause why) noexcept {
  switch (why) {
    case events::process_exited::cause::stopped:
      return "stopped";
    case events::process_exited::cause::exited:
      return "exited";
    case events::process_exited::cause::crashed:
      return "crashed";
  }
  return "unknown";
}

inline std::string_view severity_name(diagnostic::level level) noexcept {
  switch (level) {
    case diagnostic::level::note:
      return "note";
    case diagnostic::level::warning:
      return "warning";
    case diagnostic::level::error:
      return "error";
    case diagnostic::level::fatal:
      return "fatal";
  }
  return "unknown";
}

// Writes `text`, or null when it is empty.
inline void string_or_null(json_writer& w, std::string_view name, std::string_view text) {
  w.key(name);
  if (text.empty())
    w.null();
  else
    w.string(text);
}

// Writes a positive number, or null for 0 ("unknown").
inline void positive_or_null(json_writer& w, std::string_view name, int number) {
  w.key(name);
  if (number > 0)
    w.number(number);
  else
    w.null();
}

inline void strings(json_writer& w, std::string_view name, const std::vector<std::string>& list) {
  w.key(name);
  w.begin_array();
  for (const std::string& s : list) w.string(s);
  w.end_array();
}

// "code" (int or null) and "signal" (name or null).
inline void status_fields(json_writer& w, const exit_status& status) {
  w.key("code");
  if (status.code)
    w.number(*status.code);
  else
    w.null();
  w.key("signal");
  if (status.code || (status.signal == 0 && status.signal_name.empty()))
    w.null();
  else if (!status.signal_name.empty())
    w.string(status.signal_name);
  else
    w.string("signal " + std::to_string(status.signal));
}

inline void fields(json_writer& w, const events::watching& e) {
  w.member("schema", json_lines_schema);
  strings(w, "roots", e.roots);
  w.member("backend", e.backend);
  w.member("directories", e.directories);
  w.member("startup_ms", to_ms(e.startup));
}

inline void fields(json_writer& w, const events::change& e) {
  w.key("changes");
  w.begin_array();
  for (const file_change& c : e.batch) {
    w.begin_object();
    w.member("path", c.path);
    w.member("kind", to_string(c.kind));
    if (c.kind == change_kind::renamed) w.member("old_path", c.old_path);
    w.end_object();
  }
  w.end_array();
  w.member("reason", e.reason);
}

inline void fields(json_writer& w, const events::build_started& e) {
  w.member("cycle", e.cycle);
  strings(w, "command", e.command);
}

inline void fields(json_writer& w, const events::build_finished& e) {
  w.member("cycle", e.cycle);
  w.member("success", e.success);
  w.member("cancelled", e.cancelled);
  status_fields(w, e.status);
  w.member("elapsed_ms", to_ms(e.elapsed));
  w.key("diagnostics");
  w.begin_array();
  for (const diagnostic& d : e.diagnostics) {
    w.begin_object();
    w.member("file", d.file);
    positive_or_null(w, "line", d.line);
    positive_or_null(w, "column", d.column);
    w.member("severity", severity_name(d.severity));
    w.member("message", d.message);
    w.end_object();
  }
  w.end_array();
}

inline void fields(json_writer& w, const events::process_started& e) {
  w.member("cycle", e.cycle);
  w.member("pid", e.pid);
  strings(w, "command", e.command);
  w.member("reason", e.reason);
}

inline void fields(json_writer& w, const events::process_exited& e) {
  w.member("pid", e.pid);
  w.member("cause", cause_name(e.why));
  status_fields(w, e.status);
  w.member("uptime_ms", to_ms(e.uptime));
  w.key("left_running");
  w.begin_array();
  for (const int pid : e.left_running) w.value(pid);
  w.end_array();
}

inline void fields(json_writer& w, const events::reload_started& e) {
  w.member("cycle", e.cycle);
  strings(w, "modules", e.modules);
}

inline void fields(json_writer& w, const events::reload_finished& e) {
  w.member("cycle", e.cycle);
  w.member("success", e.success);
  string_or_null(w, "reason", e.reason);
  w.member("elapsed_ms", to_ms(e.elapsed));
  w.key("ready_ms");
  if (e.to_ready)
    w.number(to_ms(*e.to_ready));
  else
    w.null();
  strings(w, "modules", e.modules);
  string_or_null(w, "fallback", e.fallback);
}

inline void fields(json_writer& w, const events::no_effect& e) {
  w.member("cycle", e.cycle);
  w.member("reason", e.reason);
}

inline void fields(json_writer& w, const events::program_ready& e) {
  w.member("cycle", e.cycle);
  w.member("pid", e.pid);
  w.member("since_start_ms", to_ms(e.since_start));
}

inline void fields(json_writer& w, const events::output& e) {
  w.member("stream", stream_name(e.stream));
  w.member("source", source_name(e.source));
  w.member("line", e.line);
}

inline void fields(json_writer& w, const events::error& e) {
  w.member("message", e.message);
  string_or_null(w, "hint", e.hint);
  w.member("fatal", e.fatal);
  w.member("severity", std::string_view(e.fatal ? "fatal" : e.warning ? "warning" : "error"));
}

inline void fields(json_writer& w, const events::stopped& e) {
  w.member("reason", e.reason);
  w.member("exit_code", e.exit_code);
}

}  // namespace detail

/// `t` in RFC 3339 form, UTC, with microseconds: "2026-11-21T10:04:05.123456Z". Finer
/// precision is truncated towards the past (so a time never reads as later than it was).
inline std::string format_rfc3339(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto us = floor<microseconds>(t);
  const auto day = floor<days>(us);
  const year_month_day date{day};
  const hh_mm_ss<microseconds> clock_time{us - day};
  std::string out;
  out.reserve(27);
  detail::append_padded(out, static_cast<int>(date.year()), 4);
  out.push_back('-');
  detail::append_padded(out, static_cast<unsigned>(date.month()), 2);
  out.push_back('-');
  detail::append_padded(out, static_cast<unsigned>(date.day()), 2);
  out.push_back('T');
  detail::append_padded(out, clock_time.hours().count(), 2);
  out.push_back(':');
  detail::append_padded(out, clock_time.minutes().count(), 2);
  out.push_back(':');
  detail::append_padded(out, clock_time.seconds().count(), 2);
  out.push_back('.');
  detail::append_padded(out, clock_time.subseconds().count(), 6);
  out.push_back('Z');
  return out;
}

/// Writes `e` as one JSON object with `w`: `"event"`, `"time"` (from `at`), then the
/// event's own fields as docs/json-lines.md lists them.
inline void write_json(json_writer& w, const event& e, std::chrono::system_clock::time_point at) {
  w.begin_object();
  w.member("event", event_name(e));
  w.member("time", format_rfc3339(at));
  std::visit([&w](const auto& alt) { detail::fields(w, alt); }, e);
  w.end_object();
}

/// `e` as one JSON-lines line, without the trailing newline.
///
/// @code
///   hmr::to_json_line(hmr::events::stopped{"interrupted", 130}, now)
///   //
///   {"event":"stopped","time":"2026-11-21T10:04:05.123456Z","reason":"interrupted","exit_code":130}
/// @endcode
inline std::string to_json_line(const event& e, std::chrono::system_clock::time_point at) {
  std::string line;
  json_writer w{line};
  write_json(w, e, at);
  return line;
}

/// Writes each event as one line of JSON (schema: docs/json-lines.md) and flushes after
/// each line, so a reader at the other end of a pipe sees events as they happen.
///
/// @code
///   hmr::json_presenter json{std::cout};
///   json.present(hmr::events::stopped{"interrupted", 130});
///   // {"event":"stopped","time":"...Z","reason":"interrupted","exit_code":130}
/// @endcode
class json_presenter {
 public:
  /// A presenter writing to `out`, which must outlive it.
  explicit json_presenter(std::ostream& out, json_presenter_options options = {})
      : out_(&out), clock_(std::move(options.clock)) {}

  /// Writes `e` as one line and flushes.
  void present(const event& e) {
    line_.clear();
    json_writer w{line_};
    write_json(w, e, clock_());
    line_.push_back('\n');
    out_->write(line_.data(), static_cast<std::streamsize>(line_.size()));
    out_->flush();
  }

 private:
  std::ostream* out_;
  wall_clock clock_;
  std::string line_{};  // reused between events
};

}  // namespace hmr
