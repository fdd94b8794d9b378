#include <chrono>
#include <cstdlib>
#include <hmr/ansi_presenter.hpp>
#include <hmr/detail/json_reader.hpp>
#include <hmr/json_presenter.hpp>
#include <hmr/presenter.hpp>
#include <optional>
#include <sstream>
#include <streambuf>
#include <string>
#include <utility>
#include <vector>

#include "hmr_catch.hpp"

namespace {

using namespace std::chrono_literals;
using std::chrono::system_clock;
namespace ev = hmr::events;

// 2026-11-21T10:04:05.123456Z
system_clock::time_point fixed_time() {
  using namespace std::chrono;
  return system_clock::time_point{sys_days{year{2026} / 11 / 21}.time_since_epoch() + 10h + 4min +
                                  5s + 123456us};
}

const std::string T = R"("time":"2026-11-21T10:04:05.123456Z")";

hmr::exit_status exit_code(int code) { return {code, 0, ""}; }
hmr::exit_status killed_by(int signal, std::string name) {
  return {std::nullopt, signal, std::move(name)};
}

hmr::change_batch batch_of(std::vector<std::string> paths) {
  hmr::change_batch batch;
  for (auto& path : paths) batch.changes.push_back({std::move(path), hmr::change_kind::modified});
  return batch;
}

// A fake steady clock the tests move by hand.
struct fake_clock {
  std::chrono::steady_clock::time_point now{};
  hmr::steady_clock_function function() {
    return [this] { return now; };
  }
};

// The options of a plain (no colour, no clear) ANSI presenter on a fake clock.
hmr::ansi_presenter_options plain(fake_clock& clock) {
  return {.colour = hmr::colour_mode::never, .clock = clock.function()};
}

// Counts how often a stream is flushed, and keeps what was written.
struct counting_buffer : std::stringbuf {
  int syncs = 0;
  int sync() override {
    ++syncs;
    return std::stringbuf::sync();
  }
};

// Sets or unsets an environment variable for one scope and restores it afterwards.
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;
  ~scoped_env() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

struct json_case {
  hmr::event event;
  std::string expected;
};

}  // namespace

// ---------------------------------------------------------------------------------------
// presenter.hpp

namespace {
struct recorder {
  std::vector<std::string>* log;
  std::string tag;
  void present(const hmr::event& e) { log->push_back(tag + ":" + std::string(hmr::event_name(e))); }
};
struct not_a_presenter {
  void show(const hmr::event&) {}
};
}  // namespace

static_assert(hmr::presenter<recorder>);
static_assert(!hmr::presenter<not_a_presenter>);
static_assert(hmr::presenter<hmr::json_presenter>);
static_assert(hmr::presenter<hmr::ansi_presenter>);
static_assert(hmr::presenter<hmr::presenters<recorder, recorder>>);
static_assert(hmr::presenter<hmr::presenters<recorder&>>);
static_assert(hmr::presenter<hmr::any_presenter>);
static_assert(hmr::presenter<hmr::presenter_list>);

TEST_CASE("presenters fans each event out in order", "[presenters]") {
  std::vector<std::string> log;
  hmr::presenters all{recorder{&log, "a"}, recorder{&log, "b"}};
  static_assert(decltype(all)::size() == 2);
  all.present(ev::stopped{"quit", 0});
  all.present(ev::error{"boom", "", false});
  REQUIRE(log == std::vector<std::string>{"a:stopped", "b:stopped", "a:error", "b:error"});
  all.get<1>().tag = "c";
  all.present(ev::stopped{});
  REQUIRE(log.back() == "c:stopped");
}

TEST_CASE("presenters can share members by reference", "[presenters]") {
  std::vector<std::string> log;
  recorder shared{&log, "x"};
  hmr::presenters<recorder&, recorder&> twice{shared, shared};
  twice.present(ev::stopped{});
  shared.tag = "y";
  twice.present(ev::stopped{});
  REQUIRE(log == std::vector<std::string>{"x:stopped", "x:stopped", "y:stopped", "y:stopped"});
}

TEST_CASE("callback_presenter, any_presenter and presenter_list", "[presenters]") {
  std::vector<std::string> log;
  hmr::callback_presenter callback{
      [&log](const hmr::event& e) { log.push_back("cb:" + std::string(hmr::event_name(e))); }};
  hmr::any_presenter empty;
  CHECK_FALSE(empty);
  empty.present(ev::stopped{});  // ignored

  hmr::presenter_list list;
  CHECK(list.empty());
  list.add(recorder{&log, "r"});
  list.add(callback);
  list.add(hmr::any_presenter{recorder{&log, "any"}});
  REQUIRE(list.size() == 3);
  list.present(ev::output{});
  REQUIRE(log == std::vector<std::string>{"r:output", "cb:output", "any:output"});
}

// ---------------------------------------------------------------------------------------
// JSON lines

TEST_CASE("rfc 3339 times are UTC with exactly six fraction digits", "[presenters][json]") {
  using namespace std::chrono;
  struct time_case {
    system_clock::time_point time;
    std::string expected;
  };
  const sys_days leap{year{2024} / 2 / 29};
  const std::vector<time_case> cases = {
      {fixed_time(), "2026-11-21T10:04:05.123456Z"},
      {system_clock::time_point{}, "1970-01-01T00:00:00.000000Z"},
      {system_clock::time_point{} + 1us, "1970-01-01T00:00:00.000001Z"},
      {system_clock::time_point{} - 1us, "1969-12-31T23:59:59.999999Z"},
      {time_point_cast<system_clock::duration>(leap + 23h + 59min + 59s + 999999us),
       "2024-02-29T23:59:59.999999Z"},
      {time_point_cast<system_clock::duration>(sys_days{year{2000} / 1 / 1}),
       "2000-01-01T00:00:00.000000Z"},
      // Finer precision is truncated, never rounded up into the next second.
      {time_point_cast<system_clock::duration>(sys_days{year{2026} / 12 / 31} + 23h + 59min + 59s) +
           duration_cast<system_clock::duration>(999999999ns),
       "2026-12-31T23:59:59.999999Z"},
  };
  for (const auto& c : cases) {
    INFO(c.expected);
    CHECK(hmr::format_rfc3339(c.time) == c.expected);
  }
}

TEST_CASE("every event serialises to its exact line", "[presenters][json]") {
  ev::build_finished failed{};
  failed.success = false;
  failed.status = exit_code(2);
  failed.elapsed = 1240500us;
  failed.diagnostics = {{"src/a.cpp", 3, 5, hmr::diagnostic::level::error, "expected ';'"},
                        {"ld", 0, 0, hmr::diagnostic::level::fatal, "cannot find -lfoo"},
                        {"src/a.hpp", 7, 0, hmr::diagnostic::level::note, "declared here"},
                        {"src/b.cpp", 1, 2, hmr::diagnostic::level::warning, "unused"}};
  failed.cycle = 3;

  ev::build_finished cancelled{};
  cancelled.status = killed_by(15, "SIGTERM");
  cancelled.elapsed = 5ms;
  cancelled.cancelled = true;
  cancelled.cycle = 4;

  hmr::change_batch renamed;
  renamed.changes = {{"src/new.cpp", hmr::change_kind::renamed, "src/old.cpp"},
                     {"src/gone.cpp", hmr::change_kind::removed},
                     {"src/add.cpp", hmr::change_kind::created},
                     {"src/a.cpp", hmr::change_kind::modified}};

  const std::vector<json_case> cases = {
      {ev::watching{{".", "../lib"}, "inotify", 42, 12345us},
       R"({"event":"watching",)" + T +
           R"(,"schema":1,"roots":[".","../lib"],"backend":"inotify","directories":42,"startup_ms":12.345})"},
      {ev::change{renamed, "kept by include glob **/*.cpp"},
       R"({"event":"change",)" + T +
           R"(,"changes":[{"path":"src/new.cpp","kind":"renamed","old_path":"src/old.cpp"},)"
           R"({"path":"src/gone.cpp","kind":"removed"},{"path":"src/add.cpp","kind":"created"},)"
           R"({"path":"src/a.cpp","kind":"modified"}],"reason":"kept by include glob **/*.cpp"})"},
      {ev::change{}, R"({"event":"change",)" + T + R"(,"changes":[],"reason":""})"},
      {ev::build_started{{"cmake", "--build", "build"}, 3},
       R"({"event":"build_start",)" + T + R"(,"cycle":3,"command":["cmake","--build","build"]})"},
      {ev::build_finished{true, exit_code(0), 1s, {}, false, 2},
       R"({"event":"build_end",)" + T +
           R"(,"cycle":2,"success":true,"cancelled":false,"code":0,"signal":null,"elapsed_ms":1000.0,"diagnostics":[]})"},
      {failed,
       R"({"event":"build_end",)" + T +
           R"(,"cycle":3,"success":false,"cancelled":false,"code":2,"signal":null,"elapsed_ms":1240.5,)"
           R"("diagnostics":[{"file":"src/a.cpp","line":3,"column":5,"severity":"error","message":"expected ';'"},)"
           R"({"file":"ld","line":null,"column":null,"severity":"fatal","message":"cannot find -lfoo"},)"
           R"({"file":"src/a.hpp","line":7,"column":null,"severity":"note","message":"declared here"},)"
           R"({"file":"src/b.cpp","line":1,"column":2,"severity":"warning","message":"unused"}]})"},
      {cancelled,
       R"({"event":"build_end",)" + T +
           R"(,"cycle":4,"success":false,"cancelled":true,"code":null,"signal":"SIGTERM","elapsed_ms":5.0,"diagnostics":[]})"},
      {ev::process_started{4242, {"./server", "--port", "8080"}, "src/a.cpp changed", 5},
       R"({"event":"process_start",)" + T +
           R"(,"cycle":5,"pid":4242,"command":["./server","--port","8080"],"reason":"src/a.cpp changed"})"},
      {ev::process_exited{4242, killed_by(11, "SIGSEGV"), 2100ms,
                          ev::process_exited::cause::crashed},
       R"({"event":"process_exit",)" + T +
           R"(,"pid":4242,"cause":"crashed","code":null,"signal":"SIGSEGV","uptime_ms":2100.0,"left_running":[]})"},
      {ev::process_exited{7, exit_code(3), 1us, ev::process_exited::cause::exited, {70, 71}},
       R"({"event":"process_exit",)" + T +
           R"(,"pid":7,"cause":"exited","code":3,"signal":null,"uptime_ms":0.001,"left_running":[70,71]})"},
      {ev::process_exited{8, killed_by(42, ""), 0us, ev::process_exited::cause::stopped},
       R"({"event":"process_exit",)" + T +
           R"(,"pid":8,"cause":"stopped","code":null,"signal":"signal 42","uptime_ms":0.0,"left_running":[]})"},
      {ev::process_exited{9, {}, 0us, ev::process_exited::cause::exited},
       R"({"event":"process_exit",)" + T +
           R"(,"pid":9,"cause":"exited","code":null,"signal":null,"uptime_ms":0.0,"left_running":[]})"},
      {ev::reload_started{{"build/libhandlers.so"}, 6},
       R"({"event":"reload_start",)" + T + R"(,"cycle":6,"modules":["build/libhandlers.so"]})"},
      {ev::reload_finished{true, "", 4321us, 5ms, 6, {"build/libhandlers.so"}},
       R"({"event":"reload_end",)" + T +
           R"(,"cycle":6,"success":true,"reason":null,"elapsed_ms":4.321,"ready_ms":5.0,)"
           R"("modules":["build/libhandlers.so"],"fallback":null})"},
      {ev::reload_finished{false, "slot 'world' changed layout", 2ms, std::nullopt, 7, {"a.so"},
                           "restart"},
       R"({"event":"reload_end",)" + T +
           R"(,"cycle":7,"success":false,"reason":"slot 'world' changed layout","elapsed_ms":2.0,"ready_ms":null,)"
           R"("modules":["a.so"],"fallback":"restart"})"},
      {ev::no_effect{"the build outputs did not change", 8},
       R"({"event":"no_effect",)" + T + R"(,"cycle":8,"reason":"the build outputs did not change"})"},
      {ev::program_ready{4242, 1500us, 9},
       R"({"event":"ready",)" + T + R"(,"cycle":9,"pid":4242,"since_start_ms":1.5})"},
      {ev::output{ev::output::stream_kind::out, ev::output::source_kind::process,
                  "listening on :8080"},
       R"({"event":"output",)" + T +
           R"(,"stream":"stdout","source":"process","line":"listening on :8080"})"},
      {ev::output{ev::output::stream_kind::err, ev::output::source_kind::build,
                  "a.cpp:1:1: error: x"},
       R"({"event":"output",)" + T +
           R"(,"stream":"stderr","source":"build","line":"a.cpp:1:1: error: x"})"},
      {ev::error{"cannot watch src: too many watches", "raise fs.inotify.max_user_watches", true},
       R"({"event":"error",)" + T +
           R"(,"message":"cannot watch src: too many watches","hint":"raise fs.inotify.max_user_watches","fatal":true,"severity":"fatal"})"},
      {ev::error{"the program failed to start", "", false},
       R"({"event":"error",)" + T +
           R"(,"message":"the program failed to start","hint":null,"fatal":false,"severity":"error"})"},
      {ev::error{"the inotify watch limit was reached", "every change is still seen", false, true},
       R"({"event":"error",)" + T +
           R"(,"message":"the inotify watch limit was reached","hint":"every change is still seen","fatal":false,"severity":"warning"})"},
      {ev::stopped{"interrupted", 130},
       R"({"event":"stopped",)" + T + R"(,"reason":"interrupted","exit_code":130})"},
  };
  for (const auto& c : cases) {
    INFO(c.expected);
    CHECK(hmr::to_json_line(c.event, fixed_time()) == c.expected);
    // Every line is one valid JSON object whose "event" names the event.
    const auto parsed = hmr::parse_json(c.expected);
    REQUIRE(parsed);
    CHECK(parsed->get_string_or("event", "") == hmr::event_name(c.event));
  }
}

TEST_CASE("durations are floating milliseconds with microsecond precision", "[presenters][json]") {
  struct duration_case {
    hmr::duration d;
    std::string expected;
  };
  const std::vector<duration_case> cases = {
      {0us, "0.0"},
      {1us, "0.001"},
      {999us, "0.999"},
      {1000us, "1.0"},
      {12345us, "12.345"},
      {1240500us, "1240.5"},
      {3600000000us, "3600000.0"},
      {123456789012us, "123456789.012"},
  };
  for (const auto& c : cases) {
    INFO(c.expected);
    const std::string line =
        hmr::to_json_line(ev::reload_finished{true, "", c.d, std::nullopt, 1}, fixed_time());
    CHECK(line == R"({"event":"reload_end",)" + T +
                      R"(,"cycle":1,"success":true,"reason":null,"elapsed_ms":)" + c.expected +
                      R"(,"ready_ms":null,"modules":[],"fallback":null})");
    const auto parsed = hmr::parse_json(line);
    REQUIRE(parsed);
    CHECK(parsed->get_double_or("elapsed_ms", -1.0) == static_cast<double>(c.d.count()) / 1000.0);
  }
}

TEST_CASE("hostile strings stay valid JSON", "[presenters][json]") {
  const std::string nasty = "say \"hi\"\\ \n\r\t\x01 \x7f end";
  const std::string invalid_utf8 = "bad \xC0\xAF \xE2\x82 \xFF ok \xE2\x82\xAC";
  const std::string replaced =
      "bad \xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD \xEF\xBF\xBD ok \xE2\x82\xAC";
  const std::string with_nul("a\0b", 3);

  SECTION("output line") {
    const auto parsed = hmr::parse_json(hmr::to_json_line(
        ev::output{ev::output::stream_kind::err, ev::output::source_kind::process, nasty},
        fixed_time()));
    REQUIRE(parsed);
    CHECK(parsed->get_string_or("line", "") == nasty);
    CHECK(parsed->get_string_or("stream", "") == "stderr");
  }
  SECTION("invalid UTF-8 becomes U+FFFD") {
    const std::string line = hmr::to_json_line(
        ev::output{ev::output::stream_kind::out, ev::output::source_kind::build, invalid_utf8},
        fixed_time());
    const auto parsed = hmr::parse_json(line);
    REQUIRE(parsed);
    CHECK(parsed->get_string_or("line", "") == replaced);
  }
  SECTION("paths, reasons, diagnostics, commands") {
    hmr::change_batch batch;
    batch.changes = {{nasty, hmr::change_kind::renamed, invalid_utf8}, {with_nul}};
    auto parsed = hmr::parse_json(hmr::to_json_line(ev::change{batch, nasty}, fixed_time()));
    REQUIRE(parsed);
    CHECK(parsed->get_string_or("reason", "") == nasty);
    const auto& changes = parsed->find("changes")->as_array();
    REQUIRE(changes.size() == 2);
    CHECK(changes[0].get_string_or("path", "") == nasty);
    CHECK(changes[0].get_string_or("old_path", "") == replaced);
    CHECK(changes[1].get_string_or("path", "") == with_nul);
    CHECK(changes[1].find("old_path") == nullptr);

    ev::build_finished built{};
    built.diagnostics = {{invalid_utf8, 1, 1, hmr::diagnostic::level::error, nasty}};
    parsed = hmr::parse_json(hmr::to_json_line(built, fixed_time()));
    REQUIRE(parsed);
    const auto& diagnostic = parsed->find("diagnostics")->as_array().at(0);
    CHECK(diagnostic.get_string_or("file", "") == replaced);
    CHECK(diagnostic.get_string_or("message", "") == nasty);

    parsed = hmr::parse_json(
        hmr::to_json_line(ev::process_started{1, {nasty, invalid_utf8}, nasty, 1}, fixed_time()));
    REQUIRE(parsed);
    const auto& command = parsed->find("command")->as_array();
    REQUIRE(command.size() == 2);
    CHECK(command[0].as_string() == nasty);
    CHECK(command[1].as_string() == replaced);
  }
  SECTION("a line never contains a raw newline") {
    const std::string line =
        hmr::to_json_line(ev::error{nasty, nasty + "\n\n", false}, fixed_time());
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.find('\r') == std::string::npos);
  }
}

TEST_CASE("json_presenter writes one flushed line per event", "[presenters][json]") {
  counting_buffer buffer;
  std::ostream out(&buffer);
  auto now = fixed_time();
  hmr::json_presenter json{out, {.clock = [&now] { return now; }}};
  json.present(ev::watching{{"."}, "poll", 1, 2ms});
  CHECK(buffer.syncs == 1);
  now += 1500us;
  json.present(ev::stopped{"quit", 0});
  CHECK(buffer.syncs == 2);
  CHECK(
      buffer.str() ==
      R"({"event":"watching","time":"2026-11-21T10:04:05.123456Z","schema":1,"roots":["."],"backend":"poll","directories":1,"startup_ms":2.0})"
      "\n"
      R"({"event":"stopped","time":"2026-11-21T10:04:05.124956Z","reason":"quit","exit_code":0})"
      "\n");
}

TEST_CASE("json_presenter uses the system clock by default", "[presenters][json]") {
  std::ostringstream out;
  hmr::json_presenter json{out};
  const auto before = std::chrono::floor<std::chrono::microseconds>(system_clock::now());
  json.present(ev::stopped{});
  const auto after = system_clock::now();
  const auto parsed = hmr::parse_json(out.str());
  REQUIRE(parsed);
  const std::string time = parsed->get_string_or("time", "");
  CHECK(time.size() == 27);
  CHECK(time >= hmr::format_rfc3339(before));
  CHECK(time <= hmr::format_rfc3339(after));
  CHECK(hmr::json_lines_schema == 1);
}

// ---------------------------------------------------------------------------------------
// ANSI

TEST_CASE("format_duration", "[presenters][ansi]") {
  struct duration_case {
    hmr::duration d;
    std::string expected;
  };
  const std::vector<duration_case> cases = {
      {0us, "<1 ms"},
      {-5us, "<1 ms"},
      {499us, "<1 ms"},
      {500us, "1 ms"},
      {3200us, "3 ms"},
      {999499us, "999 ms"},
      {999500us, "1 s"},
      {1240000us, "1.24 s"},
      {1244999us, "1.24 s"},
      {1245000us, "1.25 s"},
      {2100000us, "2.1 s"},
      {2000000us, "2 s"},
      {1050000us, "1.05 s"},
      {9994999us, "9.99 s"},
      {9995000us, "10 s"},
      {12340000us, "12.3 s"},
      {59949999us, "59.9 s"},
      {59950000us, "1 min"},
      {125000000us, "2 min 5 s"},
      {3599499999us, "59 min 59 s"},
      {3599500000us, "1 h"},
      {3720000000us, "1 h 2 min"},
  };
  for (const auto& c : cases) {
    INFO(c.d.count() << " us");
    CHECK(hmr::format_duration(c.d) == c.expected);
  }
}

TEST_CASE("a full restart cycle is one exact status line", "[presenters][ansi]") {
  fake_clock clock;
  std::ostringstream out;
  hmr::ansi_presenter ansi{out, plain(clock)};

  // The initial start: built, then started.
  ansi.present(ev::build_started{{"cmake", "--build", "build"}, 1});
  ansi.present(
      ev::output{ev::output::stream_kind::out, ev::output::source_kind::build, "[1/2] a.cpp"});
  clock.now += 4100ms;
  ansi.present(ev::build_finished{true, exit_code(0), 4100ms, {}, false, 1});
  clock.now += 2ms;
  ansi.present(ev::process_started{4241, {"./server"}, "initial start", 1});
  CHECK(out.str() ==
        "[hmr] initial start \xC2\xB7 built 4.1 s \xC2\xB7 started ./server in 2 ms (pid 4241)\n");
  out.str("");

  // A change: built, the old program stopped, the new one started.
  clock.now += 10s;
  ansi.present(ev::change{batch_of({"src/a.cpp"}), "kept by **/*.cpp"});
  ansi.present(ev::build_started{{"cmake", "--build", "build"}, 2});
  ansi.present(
      ev::output{ev::output::stream_kind::out, ev::output::source_kind::build, "[1/2] a.cpp"});
  ansi.present(
      ev::output{ev::output::stream_kind::err, ev::output::source_kind::build, "warning: x"});
  clock.now += 1240ms;
  ansi.present(ev::build_finished{true, exit_code(0), 1240ms, {}, false, 2});
  clock.now += 2ms;
  ansi.present(
      ev::process_exited{4241, killed_by(15, "SIGTERM"), 10s, ev::process_exited::cause::stopped});
  clock.now += 1ms;
  ansi.present(ev::process_started{4242, {"./server"}, "src/a.cpp changed", 2});
  CHECK(out.str() ==
        "[hmr] src/a.cpp changed \xC2\xB7 built 1.24 s \xC2\xB7 restarted in 3 ms (pid 4242)\n");
}

TEST_CASE("a restart without a build is timed from the change", "[presenters][ansi]") {
  fake_clock clock;
  std::ostringstream out;
  hmr::ansi_presenter ansi{out, plain(clock)};
  ansi.present(ev::process_started{10, {"/bin/sh", "-c", "./run.sh --dev"}, "initial start", 1});
  ansi.present(ev::change{batch_of({"a.txt", "b.txt", "c.txt"}), ""});
  clock.now += 25ms;
  ansi.present(ev::process_exited{10, exit_code(0), 1s, ev::process_exited::cause::stopped});
  ansi.present(
      ev::process_started{11, {"/bin/sh", "-c", "./run.sh --dev"}, "a.txt and 2 more changed", 2});
  CHECK(out.str() ==
        "[hmr] initial start \xC2\xB7 started ./run.sh --dev (pid 10)\n"
        "[hmr] a.txt and 2 more changed \xC2\xB7 restarted in 25 ms (pid 11)\n");
}

TEST_CASE("a failed build shows its diagnostics and its buffered output", "[presenters][ansi]") {
  fake_clock clock;
  std::ostringstream out;
  hmr::ansi_presenter ansi{out, plain(clock)};
  ansi.present(ev::process_started{4242, {"./server"}, "initial start", 1});
  out.str("");

  ansi.present(ev::change{batch_of({"src/a.cpp"}), ""});
  ansi.present(ev::build_started{{"make"}, 2});
  ansi.present(ev::output{ev::output::stream_kind::err, ev::output::source_kind::build,
                          "src/a.cpp: In function 'int main()':"});
  ansi.present(ev::output{ev::output::stream_kind::err, ev::output::source_kind::build,
                          "src/a.cpp:3:5: error: expected ';' before '}' token"});
  CHECK(out.str().empty());  // buffered until the build ends
  ev::build_finished failed{false, exit_code(2), 1240ms, {}, false, 2};
  failed.diagnostics = {
      {"src/a.cpp", 3, 5, hmr::diagnostic::level::error, "expected ';' before '}' token"},
      {"src/a.hpp", 7, 0, hmr::diagnostic::level::note, "declared here"},
      {"ld", 0, 0, hmr::diagnostic::level::fatal, "cannot find -lfoo"},
      {"", 0, 0, hmr::diagnostic::level::warning, "no file"}};
  ansi.present(failed);
  CHECK(out.str() ==
        "[hmr] src/a.cpp changed \xC2\xB7 build failed (exit code 2) after 1.24 s"
        " \xE2\x80\x94 keeping the running program\n"
        "  src/a.cpp:3:5: error: expected ';' before '}' token\n"
        "  src/a.hpp:7: note: declared here\n"
        "  ld: fatal error: cannot find -lfoo\n"
        "  warning: no file\n"
        "[hmr] build output:\n"
        "src/a.cpp: In function 'int main()':\n"
        "src/a.cpp:3:5: error: expected ';' before '}' token\n");

  SECTION("the next successful cycle does not repeat the old output") {
    out.str("");
    ansi.present(ev::change{batch_of({"src/a.cpp"}), ""});
    ansi.present(ev::build_started{{"make"}, 3});
    clock.now += 2s;
    ansi.present(ev::build_finished{true, exit_code(0), 2s, {}, false, 3});
    ansi.present(ev::process_exited{4242, exit_code(0), 5s, ev::process_exited::cause::stopped});
    ansi.present(ev::process_started{4243, {"./server"}, "src/a.cpp changed", 3});
    CHECK(out.str() ==
          "[hmr] src/a.cpp changed \xC2\xB7 built 2 s \xC2\xB7 restarted in <1 ms (pid 4243)\n");
  }
}

TEST_CASE("shown_path: absolute paths relative to the current directory when they share more than /",
          "[presenters][ansi]") {
  using hmr::detail::shown_path;
  CHECK(shown_path("/p/examples/hello.cc", "/p") == "examples/hello.cc");
  CHECK(shown_path("/p/examples/hello.cc", "/p/") == "examples/hello.cc");
  CHECK(shown_path("/p/lib/b.h", "/p/app") == "../lib/b.h");
  CHECK(shown_path("/p/a/../b.cc", "/p") == "b.cc");
  CHECK(shown_path("/usr/include/c++/12/vector", "/home/me/p") == "/usr/include/c++/12/vector");
  CHECK(shown_path("/p/x.cc", "/") == "/p/x.cc");
  CHECK(shown_path("src/a.cpp", "/p") == "src/a.cpp");  // as printed: left alone
  CHECK(shown_path("", "/p").empty());
  CHECK(shown_path("/p/x.cc", "") == "/p/x.cc");
}

TEST_CASE("a failed build's absolute diagnostic paths are shown from the current directory",
          "[presenters][ansi]") {
  fake_clock clock;
  std::ostringstream out;
  hmr::ansi_presenter_options options = plain(clock);
  options.current_directory = "/home/me/project";
  hmr::ansi_presenter ansi{out, options};
  ansi.present(ev::build_started{{"meson", "compile", "-C", "build"}, 1});
  ev::build_finished failed{false, exit_code(1), 1240ms, {}, false, 1};
  failed.diagnostics = {
      {"/home/me/project/examples/hello_server.cc", 25, 5, hmr::diagnostic::level::error, "expected ';'"},
      {"/usr/include/stdio.h", 7, 0, hmr::diagnostic::level::note, "declared here"}};
  ansi.present(failed);
  const std::string text = out.str();
  CHECK(text.find("\n  examples/hello_server.cc:25:5: error: expected ';'\n") != std::string::npos);
  CHECK(text.find("\n  /usr/include/stdio.h:7: note: declared here\n") != std::string::npos);
}

TEST_CASE("a failed build with nothing running waits for changes", "[presenters][ansi]") {
  fake_clock clock;
  std::ostringstream out;
  hmr::ansi_presenter ansi{out, plain(clock)};
  ansi.present(ev::build_started{{"make"}, 1});
  ansi.present(ev::error{"build command failed to start: make: not found",
                         "check the build command (--build) and the working directory", false});
  ansi.present(ev::build_finished{false, exit_code(127), 300us, {}, false, 1});
  CHECK(out.str() ==
        "[hmr] error: build command failed to start: make: not found\n"
        "      hint: check the build command (--build) and the working directory\n"
        "[hmr] build failed (exit code 127) after <1 ms \xE2\x80\x94 waiting for changes\n");
}

TEST_CASE("build output is limited to build_output_limit lines", "[presenters][ansi]") {
  fake_clock clock;
  std::ostringstream out;
  auto options = plain(clock);
  options.build_output_limit = 2;
  hmr::ansi_presenter ansi{out, options};
  ansi.present(ev::build_started{{"make"}, 1});
  for (const char* l : {"one", "two", "three", "four"})
    ansi.present(ev::output{ev::output::stream_kind::out, ev::output::source_kind::build, l});
  ansi.present(ev::build_finished{false, exit_code(1), 1s, {}, false, 1});
  CHECK(out.str() ==
        "[hmr] build failed (exit code 1) after 1 s \xE2\x80\x94 waiting for changes\n"
        "[hmr] build output:\n"
        "one\ntwo\n"
        "[hmr] \xE2\x80\xA6 2 more lines not shown\n");
}

TEST_CASE("a successful build stays quiet, warnings are counted", "[presenters][ansi]") {
  fake_clock clock;
  std::ostringstream out;
  hmr::ansi_presenter ansi{out, plain(clock)};
  ansi.present(ev::change{batch_of({"src/b.cpp"}), ""});
  ansi.present(ev::build_started{{"make"}, 1});
  ansi.present(ev::output{ev::output::stream_kind::err, ev::output::source_kind::build,
                          "src/b.cpp:1:1: warning: unused variable 'x'"});
  ev::build_finished built{true, exit_code(0), 1500ms, {}, false, 1};
  built.diagnostics = {{"src/b.cpp", 1, 1, hmr::diagnostic::level::warning, "unused variable 'x'"},
                       {"src/b.cpp", 2, 1, hmr::diagnostic::level::note, "here"}};
  ansi.present(built);
  CHECK(out.str().empty());
  ansi.present(ev::process_started{5, {"./app"}, "src/b.cpp changed", 1});
  CHECK(out.str() ==
        "[hmr] src/b.cpp changed \xC2\xB7 built 1.5 s (1 warning) \xC2\xB7 started ./app in <1 ms "
        "(pid 5)\n");
}

TEST_CASE("changes during a cancelled build are reported with the next cycle",
          "[presenters][ansi]") {
  fake_clock clock;
  std::ostringstream out;
  hmr::ansi_presenter ansi{out, plain(clock)};
  ansi.present(ev::change{batch_of({"a.cpp"}), ""});
  ansi.present(ev::build_started{{"make"}, 1});
  ansi.present(ev::output{ev::output::stream_kind::out, ev::output::source_kind::build, "partial"});
  ansi.present(ev::change{batch_of({"b.cpp"}), ""});
  ansi.present(ev::build_finished{false, killed_by(15, "SIGTERM"), 1s, {}, true, 1});
  CHECK(out.str().empty());
  ansi.present(ev::build_started{{"make"}, 2});
  ansi.present(ev::output{ev::output::stream_kind::out, ev::output::source_kind::build, "full"});
  ansi.present(ev::build_finished{false, exit_code(1), 2s, {}, false, 2});
  CHECK(out.str() ==
        "[hmr] a.cpp and 1 more changed \xC2\xB7 build failed (exit code 1) after 2 s"
        " \xE2\x80\x94 waiting for changes\n"
        "[hmr] build output:\nfull\n");
}

TEST_CASE("a change queued during a build belongs to the next cycle", "[presenters][ansi]") {
  fake_clock clock;
  std::ostringstream out;
  hmr::ansi_presenter ansi{out, plain(clock)};
  ansi.present(ev::change{batch_of({"a.cpp"}), ""});
  ansi.present(ev::build_started{{"make"}, 1});
  ansi.present(ev::change{batch_of({"b.cpp"}), ""});
  ansi.present(ev::build_finished{true, exit_code(0), 1s, {}, false, 1});
  ansi.present(ev::process_started{1, {"./app"}, "a.cpp changed", 1});
  ansi.present(ev::build_started{{"make"}, 2});
  ansi.present(ev::build_finished{true, exit_code(0), 1s, {}, false, 2});
  ansi.present(ev::process_exited{1, exit_code(0), 1s, ev::process_exited::cause::stopped});
  ansi.present(ev::process_started{2, {"./app"}, "b.cpp changed", 2});
  CHECK(out.str() ==
        "[hmr] a.cpp changed \xC2\xB7 built 1 s \xC2\xB7 started ./app in <1 ms (pid 1)\n"
        "[hmr] b.cpp changed \xC2\xB7 built 1 s \xC2\xB7 restarted in <1 ms (pid 2)\n");
}

TEST_CASE("process exits are explained", "[presenters][ansi]") {
  struct exit_case {
    hmr::crash_policy policy;
    ev::process_exited exit;
    std::string expected;
  };
  const std::string dash = " \xE2\x80\x94 ";
  const std::vector<exit_case> cases = {
      {hmr::crash_policy::wait,
       {4242, killed_by(11, "SIGSEGV"), 2100ms, ev::process_exited::cause::crashed},
       "[hmr] ./server crashed (SIGSEGV) after 2.1 s" + dash + "waiting for changes\n"},
      {hmr::crash_policy::wait,
       {4242, exit_code(3), 40ms, ev::process_exited::cause::exited},
       "[hmr] ./server exited with exit code 3 after 40 ms" + dash + "waiting for changes\n"},
      {hmr::crash_policy::wait,
       {4242, exit_code(0), 1s, ev::process_exited::cause::exited},
       "[hmr] ./server exited after 1 s" + dash + "waiting for changes\n"},
      {hmr::crash_policy::restart,
       {4242, killed_by(6, "SIGABRT"), 1s, ev::process_exited::cause::crashed},
       "[hmr] ./server crashed (SIGABRT) after 1 s" + dash + "restarting\n"},
      {hmr::crash_policy::restart,
       {4242, exit_code(0), 1s, ev::process_exited::cause::exited},
       "[hmr] ./server exited after 1 s" + dash + "waiting for changes\n"},
      {hmr::crash_policy::exit,
       {4242, exit_code(1), 1s, ev::process_exited::cause::exited},
       "[hmr] ./server exited with exit code 1 after 1 s\n"},
      {hmr::crash_policy::wait,
       {99, killed_by(9, ""), 1s, ev::process_exited::cause::crashed},
       "[hmr] process 99 crashed (signal 9) after 1 s" + dash + "waiting for changes\n"},
      {hmr::crash_policy::wait, {4242, exit_code(0), 1s, ev::process_exited::cause::stopped}, ""},
      {hmr::crash_policy::wait,
       {4242, exit_code(0), 2ms, ev::process_exited::cause::exited, {17702}},
       "[hmr] ./server daemonized (pid 17702 left running); run it in the foreground, e.g. without -d" +
           dash + "stopped at the next restart or quit\n"},
      {hmr::crash_policy::wait,
       {4242, exit_code(1), 2ms, ev::process_exited::cause::exited, {5, 6, 7, 8, 9}},
       "[hmr] ./server daemonized (pids 5, 6, 7 and 2 more left running, exit code 1); run it in the "
       "foreground, e.g. without -d" +
           dash + "stopped at the next restart or quit\n"},
  };
  for (const auto& c : cases) {
    INFO(c.expected);
    fake_clock clock;
    std::ostringstream out;
    auto options = plain(clock);
    options.on_crash = c.policy;
    hmr::ansi_presenter ansi{out, options};
    ansi.present(ev::process_started{4242, {"./server", "--port", "1"}, "initial start", 1});
    out.str("");
    ansi.present(c.exit);
    CHECK(out.str() == c.expected);
  }
}

TEST_CASE("a crash restart says why it started", "[presenters][ansi]") {
  fake_clock clock;
  std::ostringstream out;
  hmr::ansi_presenter ansi{out,
                           {.colour = hmr::colour_mode::never,
                            .on_crash = hmr::crash_policy::restart,
                            .clock = clock.function()}};
  ansi.present(ev::process_started{1, {"./app"}, "initial start", 1});
  ansi.present(
      ev::process_exited{1, killed_by(11, "SIGSEGV"), 3ms, ev::process_exited::cause::crashed});
  ansi.present(ev::process_started{2, {"./app"}, "restart after a crash (after 500 ms)", 2});
  CHECK(out.str() ==
        "[hmr] initial start \xC2\xB7 started ./app (pid 1)\n"
        "[hmr] ./app crashed (SIGSEGV) after 3 ms \xE2\x80\x94 restarting\n"
        "[hmr] restart after a crash (after 500 ms) \xC2\xB7 started ./app (pid 2)\n");
}

TEST_CASE("program output passes through verbatim", "[presenters][ansi]") {
  fake_clock clock;
  std::ostringstream out;
  hmr::ansi_presenter ansi{out, {.colour = hmr::colour_mode::always, .clock = clock.function()}};
  ansi.present(ev::output{ev::output::stream_kind::out, ev::output::source_kind::process,
                          "listening on :8080"});
  ansi.present(ev::output{ev::output::stream_kind::err, ev::output::source_kind::process,
                          "\x1b[31mred\x1b[0m \xFF raw"});
  ansi.present(ev::output{ev::output::stream_kind::out, ev::output::source_kind::process, ""});
  CHECK(out.str() == "listening on :8080\n\x1b[31mred\x1b[0m \xFF raw\n\n");
}

TEST_CASE("errors, watching and stopped lines", "[presenters][ansi]") {
  fake_clock clock;
  std::ostringstream out;
  hmr::ansi_presenter ansi{out, plain(clock)};
  ansi.present(ev::watching{{".", "../lib"}, "inotify", 120, 12ms});
  ansi.present(ev::watching{{"src"}, "", 1, 0us});
  ansi.present(
      ev::error{"cannot watch src: too many watches", "raise fs.inotify.max_user_watches", true});
  ansi.present(ev::error{"something odd", "", false});
  ansi.present(ev::error{"the inotify watch limit was reached", "every change is still seen", false, true});
  ansi.present(ev::stopped{"interrupted", 130});
  ansi.present(ev::stopped{"quit", 0});
  CHECK(out.str() ==
        "[hmr] watching ., ../lib (inotify, 120 directories) in 12 ms\n"
        "[hmr] watching src (1 directory) in <1 ms\n"
        "[hmr] fatal error: cannot watch src: too many watches\n"
        "      hint: raise fs.inotify.max_user_watches\n"
        "[hmr] error: something odd\n"
        "[hmr] warning: the inotify watch limit was reached\n"
        "      hint: every change is still seen\n"
        "[hmr] stopped: interrupted (exit code 130)\n"
        "[hmr] stopped: quit\n");
}

TEST_CASE("a build followed by a failed start is reported before the error", "[presenters][ansi]") {
  fake_clock clock;
  std::ostringstream out;
  hmr::ansi_presenter ansi{out, plain(clock)};
  ansi.present(ev::change{batch_of({"main.cpp"}), ""});
  ansi.present(ev::build_started{{"make"}, 1});
  ansi.present(ev::build_finished{true, exit_code(0), 1s, {}, false, 1});
  ansi.present(ev::error{"./app: no such file", "check the command", false});
  CHECK(out.str() ==
        "[hmr] main.cpp changed \xC2\xB7 built 1 s\n"
        "[hmr] error: ./app: no such file\n"
        "      hint: check the command\n");
}

TEST_CASE("reloads: success, and refusal followed by a restart", "[presenters][ansi]") {
  fake_clock clock;
  std::ostringstream out;
  hmr::ansi_presenter ansi{out, plain(clock)};
  ansi.present(ev::process_started{1, {"./app"}, "initial start", 1});
  out.str("");

  ansi.present(ev::change{batch_of({"src/handlers.cpp"}), ""});
  ansi.present(ev::build_started{{"make"}, 2});
  ansi.present(ev::build_finished{true, exit_code(0), 800ms, {}, false, 2});
  ansi.present(ev::reload_started{{"build/libhandlers.so"}, 2});
  ansi.present(ev::reload_finished{true, "", 4ms, std::nullopt, 2});
  CHECK(out.str() ==
        "[hmr] src/handlers.cpp changed \xC2\xB7 built 800 ms \xC2\xB7 reloaded "
        "build/libhandlers.so in 4 ms\n");
  out.str("");

  ansi.present(ev::change{batch_of({"src/world.hpp"}), ""});
  ansi.present(ev::build_started{{"make"}, 3});
  ansi.present(ev::build_finished{true, exit_code(0), 900ms, {}, false, 3});
  ansi.present(ev::reload_started{{"a.so", "b.so"}, 3});
  ansi.present(ev::reload_finished{false, "slot 'world' changed layout", 1ms, std::nullopt, 3});
  CHECK(out.str().empty());
  clock.now += 7ms;
  ansi.present(ev::process_exited{1, exit_code(0), 9s, ev::process_exited::cause::stopped});
  ansi.present(ev::process_started{2, {"./app"}, "src/world.hpp changed", 3});
  CHECK(out.str() ==
        "[hmr] src/world.hpp changed \xC2\xB7 built 900 ms \xC2\xB7 reload failed (slot 'world' "
        "changed layout)"
        " \xC2\xB7 restarted in 7 ms (pid 2)\n");
  out.str("");

  ansi.present(ev::reload_started{{"a.so", "b.so"}, 4});
  ansi.present(ev::reload_finished{true, "", 2ms, 3ms, 4});
  CHECK(out.str() == "[hmr] reloaded 2 modules in 2 ms\n");
  out.str("");

  ansi.present(ev::program_ready{2, 12ms, 4});
  CHECK(out.str() == "[hmr] ./app ready in 12 ms\n");
  out.str("");

  ansi.present(ev::change{batch_of({"src/comment.cpp"}), ""});
  ansi.present(ev::build_started{{"make"}, 5});
  ansi.present(ev::build_finished{true, exit_code(0), 300ms, {}, false, 5});
  ansi.present(ev::no_effect{"the build outputs did not change", 5});
  CHECK(out.str() ==
        "[hmr] src/comment.cpp changed \xC2\xB7 built 300 ms \xC2\xB7 no effect (the build "
        "outputs did not change)\n");
}

TEST_CASE("colour: always, never, automatic with a terminal and NO_COLOR", "[presenters][ansi]") {
  struct colour_case {
    hmr::colour_mode mode;
    bool tty;
    const char* no_color;  // nullptr = unset
    bool expected;
  };
  const std::vector<colour_case> cases = {
      {hmr::colour_mode::always, false, nullptr, true},
      {hmr::colour_mode::always, true, "1", true},  // an explicit request wins (no-color.org)
      {hmr::colour_mode::never, true, nullptr, false},
      {hmr::colour_mode::automatic, true, nullptr, true},
      {hmr::colour_mode::automatic, false, nullptr, false},
      {hmr::colour_mode::automatic, true, "1", false},
      {hmr::colour_mode::automatic, true, "anything", false},
      {hmr::colour_mode::automatic, true, "", true},  // set but empty: ignored
  };
  for (const auto& c : cases) {
    CAPTURE(static_cast<int>(c.mode), c.tty, c.no_color ? c.no_color : "(unset)");
    const scoped_env env{"NO_COLOR", c.no_color};
    fake_clock clock;
    std::ostringstream out;
    hmr::ansi_presenter ansi{out, {.colour = c.mode, .is_tty = c.tty, .clock = clock.function()}};
    CHECK(ansi.colour() == c.expected);
    ansi.present(ev::process_started{1, {"./app"}, "initial start", 1});
    ansi.present(
        ev::process_exited{1, killed_by(11, "SIGSEGV"), 1s, ev::process_exited::cause::crashed});
    ansi.present(ev::error{"oops", "fix it", false});
    CHECK((out.str().find('\x1b') != std::string::npos) == c.expected);
  }
}

TEST_CASE("coloured lines are exact", "[presenters][ansi]") {
  fake_clock clock;
  std::ostringstream out;
  hmr::ansi_presenter ansi{out, {.colour = hmr::colour_mode::always, .clock = clock.function()}};
  ansi.present(ev::change{batch_of({"src/a.cpp"}), ""});
  ansi.present(ev::build_started{{"make"}, 1});
  ansi.present(ev::build_finished{false,
                                  exit_code(2),
                                  1s,
                                  {{"a.cpp", 1, 2, hmr::diagnostic::level::error, "bad"},
                                   {"a.cpp", 3, 4, hmr::diagnostic::level::warning, "meh"}},
                                  false,
                                  1});
  ansi.present(ev::error{"oops", "fix it", false});
  CHECK(out.str() ==
        "\x1b[36m[hmr]\x1b[0m \x1b[1msrc/a.cpp changed\x1b[0m \xC2\xB7 "
        "\x1b[1;31mbuild failed (exit code 2) after 1 s\x1b[0m"
        "\x1b[2m \xE2\x80\x94 waiting for changes\x1b[0m\n"
        "  \x1b[1ma.cpp:1:2:\x1b[0m \x1b[1;31merror:\x1b[0m bad\n"
        "  \x1b[1ma.cpp:3:4:\x1b[0m \x1b[33mwarning:\x1b[0m meh\n"
        "\x1b[36m[hmr]\x1b[0m \x1b[1;31merror:\x1b[0m oops\n"
        "      \x1b[36mhint:\x1b[0m fix it\n");
}

TEST_CASE("the screen is cleared only when a cycle starts", "[presenters][ansi]") {
  const std::string clear = "\x1b[H\x1b[2J";
  fake_clock clock;

  SECTION("clear on a terminal") {
    std::ostringstream out;
    hmr::ansi_presenter ansi{out,
                             {.colour = hmr::colour_mode::never,
                              .clear = true,
                              .is_tty = true,
                              .clock = clock.function()}};
    CHECK(ansi.clears());
    ansi.present(ev::watching{{"."}, "poll", 1, 0us});
    ansi.present(ev::build_started{{"make"}, 1});
    ansi.present(ev::build_finished{true, exit_code(0), 1s, {}, false, 1});
    ansi.present(ev::process_started{1, {"./app"}, "initial start", 1});
    CHECK(out.str().find('\x1b') == std::string::npos);  // no cycle has started by a change
    out.str("");
    ansi.present(ev::change{batch_of({"a.cpp"}), ""});
    CHECK(out.str() == clear);
    ansi.present(ev::build_started{{"make"}, 2});
    ansi.present(ev::build_finished{true, exit_code(0), 1s, {}, false, 2});
    ansi.present(ev::process_exited{1, exit_code(0), 1s, ev::process_exited::cause::stopped});
    ansi.present(ev::process_started{2, {"./app"}, "a.cpp changed", 2});
    ansi.present(ev::output{ev::output::stream_kind::out, ev::output::source_kind::process, "hi"});
    CHECK(out.str() ==
          clear +
              "[hmr] a.cpp changed \xC2\xB7 built 1 s \xC2\xB7 restarted in <1 ms (pid 2)\nhi\n");
    CHECK(out.str().find("\x1b[3J") == std::string::npos);  // the scrollback is kept
  }
  SECTION("never when the stream is not a terminal") {
    std::ostringstream out;
    hmr::ansi_presenter ansi{out,
                             {.colour = hmr::colour_mode::never,
                              .clear = true,
                              .is_tty = false,
                              .clock = clock.function()}};
    CHECK_FALSE(ansi.clears());
    ansi.present(ev::change{batch_of({"a.cpp"}), ""});
    CHECK(out.str().empty());
  }
  SECTION("never unless asked") {
    std::ostringstream out;
    hmr::ansi_presenter ansi{
        out, {.colour = hmr::colour_mode::never, .is_tty = true, .clock = clock.function()}};
    CHECK_FALSE(ansi.clears());
    ansi.present(ev::change{batch_of({"a.cpp"}), ""});
    CHECK(out.str().empty());
  }
}

TEST_CASE("a stream other than cout and cerr is not a terminal", "[presenters][ansi]") {
  const scoped_env env{"NO_COLOR", nullptr};
  std::ostringstream out;
  hmr::ansi_presenter ansi{out, {.clear = true}};
  CHECK_FALSE(ansi.colour());
  CHECK_FALSE(ansi.clears());
}

TEST_CASE("the ANSI presenter flushes after each line", "[presenters][ansi]") {
  counting_buffer buffer;
  std::ostream out(&buffer);
  fake_clock clock;
  hmr::ansi_presenter ansi{out, plain(clock)};
  ansi.present(ev::output{ev::output::stream_kind::out, ev::output::source_kind::process, "x"});
  CHECK(buffer.syncs == 1);
  ansi.present(ev::stopped{"quit", 0});
  CHECK(buffer.syncs == 2);
}
