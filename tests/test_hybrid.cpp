// The hybrid strategy with real children. The "app" is this test binary started again by
// the strategy: a hook that runs before main sees HMR_HYBRID_TEST_APP and speaks the
// control protocol (hmr/detail/control_channel.hpp) on HMR_CONTROL_FD, behaving as the
// flags in that variable say (refuse, stay silent, crash, never say hello, ...). It
// writes what it receives to stdout, captured as output events. Every wait is on an event
// with a timeout; nothing sleeps.
#include "hmr_catch.hpp"
#include "process_fixture.hpp"

#include <hmr/hybrid_strategy.hpp>
#include <hmr/runtime.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <hmr/detail/content_hash.hpp>
#include <hmr/detail/control_channel.hpp>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using events_t = std::vector<hmr::event>;
namespace ctl = hmr::detail;

// ---------------------------------------------------------------------------------------
// The app side

/// True when `flags` (comma-separated) holds `flag`.
bool has_flag(std::string_view flags, std::string_view flag) {
  while (!flags.empty()) {
    const auto comma = flags.find(',');
    if (flags.substr(0, comma) == flag) return true;
    if (comma == std::string_view::npos) break;
    flags.remove_prefix(comma + 1);
  }
  return false;
}

/// One line to stdout in one write (the strategy captures it).
void say(const std::string& text) {
  const std::string line = text + "\n";
  [[maybe_unused]] const auto n = ::write(1, line.data(), line.size());
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

[[noreturn]] void crash_now() {
  ::signal(SIGSEGV, SIG_DFL);  // not the sanitizers' handler: a plain crash
  ::raise(SIGSEGV);
  ::_exit(99);
}

/// The app: flags nohello, refuse, silent, crash_reload, crash_start_gen2, ready_first,
/// late_hello (says hello only after SIGUSR1), deaf (says hello and ready, then never
/// reads its channel).
[[noreturn]] void run_app(const std::string flags) {
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  ::pthread_sigmask(SIG_BLOCK, &usr1, nullptr);  // before any thread: sigwait below takes it
  const char* generation = std::getenv("HMR_GENERATION");
  const std::string gen = generation != nullptr ? generation : "?";
  if (has_flag(flags, "crash_start_gen2") && gen == "2") {
    say("app crashing at start");
    crash_now();
  }
  const char* fd_text = std::getenv("HMR_CONTROL_FD");
  if (fd_text == nullptr) {
    say("app without HMR_CONTROL_FD");
    ::_exit(3);
  }
  const int fd = std::atoi(fd_text);
  say(std::string("app fd is a socket: ") + (ctl::is_stream_socket(fd) ? "yes" : "no"));
  if (has_flag(flags, "deaf")) {  // a program stuck in a callback: its channel fills up
    const std::string lines = ctl::encode(ctl::control_hello{.pid = static_cast<int>(::getpid())}) + "\n" +
                              ctl::encode(ctl::control_ready{}) + "\n";
    [[maybe_unused]] const auto n = ::write(fd, lines.data(), lines.size());
    say("app started gen=" + gen);
    for (;;) ::pause();  // until stopped
  }
  std::atomic<ctl::control_endpoint*> self{nullptr};  // set once the endpoint exists
  ctl::control_endpoint endpoint{
      fd,
      [&](ctl::control_message m) {
        if (const auto* reload = std::get_if<ctl::control_reload>(&m)) {
          say("app reload id=" + std::to_string(reload->id) + " modules=" + joined(reload->modules) +
              " changed=" + joined(reload->changed) + " timeout=" + std::to_string(reload->timeout.count()));
          if (has_flag(flags, "crash_reload")) crash_now();
          if (has_flag(flags, "silent")) return;
          ctl::control_endpoint* const me = self.load(std::memory_order_acquire);
          if (has_flag(flags, "ready_first")) me->send(ctl::control_ready{});
          ctl::control_reload_result result{.id = reload->id, .ok = !has_flag(flags, "refuse")};
          if (result.ok) {
            result.modules = reload->modules;
          } else {
            result.reason = "slot 'counter' changed layout: size 8 -> 16";
          }
          me->send(result);
        } else if (const auto* note = std::get_if<ctl::control_file_modified>(&m)) {
          say("app file_modified " + joined(note->paths));
        }
      },
      [] { ::_exit(0); }};
  self.store(&endpoint, std::memory_order_release);
  if (has_flag(flags, "late_hello")) {
    say("app waiting for SIGUSR1 before its hello");
    int signal = 0;
    ::sigwait(&usr1, &signal);
  }
  if (!has_flag(flags, "nohello")) {
    endpoint.send(ctl::control_hello{.pid = static_cast<int>(::getpid())});
    endpoint.send(ctl::control_ready{});
  }
  say("app started gen=" + gen);
  for (;;) ::pause();  // until stopped
}

/// A module as hmr/module.hpp would register it: `build/libhandler.so`, refusing when the
/// file says "refuse".
struct fake_module final : hmr::reloadable {
  std::string path = fs::absolute("build/libhandler.so").lexically_normal().string();
  [[nodiscard]] std::string file() const override { return path; }
  hmr::reload_outcome reload(std::chrono::steady_clock::time_point) override {
    std::ifstream in(path);
    std::string content;
    std::getline(in, content);
    say("runtime app loads '" + content + "'");
    if (content == "refuse") return {false, "slot 'counter' changed layout: size 8 -> 16"};
    return {true, {}};
  }
};

/// The app on the real runtime (hmr/runtime.hpp), as a program would use it.
[[noreturn]] void run_runtime_app() {
  hmr::runtime& rt = hmr::runtime::instance();
  fake_module module;
  const auto registered = rt.add_reloadable(module);
  const auto reloads = rt.on_reload([](const hmr::reload_info& info) {
    say("runtime app reloaded " + joined(info.modules) + " for " + joined(info.changed));
  });
  const auto notes = rt.on_file_modified([](const std::vector<std::string>& paths) {
    say("runtime app file_modified " + joined(paths));
  });
  const auto restarts = rt.on_restart([](std::string_view reason) {
    say("runtime app restarted: " + std::string(reason));
  });
  say(std::string("runtime app supervised=") + (rt.supervised() ? "yes" : "no") +
      " gen=" + std::to_string(rt.generation()));
  rt.ready();
  for (;;) ::pause();  // until stopped
}

/// Before main: become the app when asked to.
const bool app_hook = [] {
  if (const char* flags = std::getenv("HMR_HYBRID_TEST_APP")) {
    if (std::string_view(flags) == "runtime") run_runtime_app();
    run_app(flags);
  }
  return false;
}();

// ---------------------------------------------------------------------------------------
// The supervisor side

/// Everything the strategy reported, with waits.
class event_log {
 public:
  hmr::strategy_context context() {
    return {.emit = [this](hmr::event e) {
      const std::lock_guard lock(mutex_);
      events_.push_back(std::move(e));
      changed_.notify_all();
    }};
  }
  /// True once `predicate(events)` holds; false after 20 s.
  template <class Predicate>
  bool wait_until(Predicate predicate) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 20s, [&] { return predicate(std::as_const(events_)); });
  }
  events_t snapshot() {
    const std::lock_guard lock(mutex_);
    return events_;
  }

 private:
  std::mutex mutex_{};
  std::condition_variable changed_{};
  events_t events_{};
};

template <class T>
std::vector<T> all(const events_t& events) {
  std::vector<T> out;
  for (const hmr::event& e : events)
    if (const T* p = std::get_if<T>(&e)) out.push_back(*p);
  return out;
}

std::vector<std::string> lines(const events_t& events) {
  std::vector<std::string> out;
  for (const auto& o : all<hmr::events::output>(events)) out.push_back(o.line);
  return out;
}

bool has_line(const events_t& events, const std::string& line) {
  const auto l = lines(events);
  return std::find(l.begin(), l.end(), line) != l.end();
}

/// The names of the events other than output lines, in order.
std::vector<std::string> names(const events_t& events) {
  std::vector<std::string> out;
  for (const hmr::event& e : events)
    if (!std::holds_alternative<hmr::events::output>(e)) out.emplace_back(hmr::event_name(e));
  return out;
}

hmr::cycle_request change(const std::vector<std::string>& paths) {
  hmr::cycle_request request;
  for (const std::string& p : paths) request.batch.changes.push_back({.path = p});
  return request;
}

const hmr::cycle_request initial{.reason = hmr::cycle_reason::initial};

/// This test binary's path.
std::string self_exe() { return fs::read_symlink("/proc/self/exe").string(); }

/// A temporary project: a module file, the strategy's options, the event log and waits.
struct fixture {
  hmr_test::temp_dir dir{"hmr-hybrid"};
  std::string module = dir.write("build/libhandler.so", "version 1\n");
  event_log log{};
  hmr::hybrid_options options{};

  explicit fixture(const std::string& flags) {
    options.run = {self_exe()};
    options.build = {"true"};
    options.working_directory = dir.path.string();
    options.environment = {{"HMR_HYBRID_TEST_APP", flags}};
    options.capture_output = true;
    options.stop_timeout = 5s;
    options.modules = {"build/libhandler.so"};
    options.watch_roots = {dir.path.string()};
  }

  /// Waits for `predicate`; fails with the event names when it does not come.
  template <class Predicate>
  void need(Predicate predicate, const std::string& what) {
    const bool ok = log.wait_until(predicate);
    INFO("waited for " << what);
    INFO("events: " << joined(names(log.snapshot())));
    INFO("lines: " << joined(lines(log.snapshot())));
    REQUIRE(ok);
  }
  /// Waits for the n-th event of type T.
  template <class T>
  T need_nth(std::size_t n, const std::string& what) {
    need([n](const events_t& e) { return all<T>(e).size() >= n; }, what);
    return all<T>(log.snapshot()).at(n - 1);
  }
  void need_line(const std::string& line) {
    need([&](const events_t& e) { return has_line(e, line); }, "line '" + line + "'");
  }
  /// Starts and waits until the app said ready (its hello came first on the channel).
  void start(hmr::hybrid_strategy& strategy, bool expect_ready = true) {
    strategy.start(log.context());
    strategy.submit(initial);
    need_nth<hmr::events::process_started>(1, "the first start");
    if (expect_ready) need_nth<hmr::events::program_ready>(1, "the app's ready");
    need_line("app started gen=1");
  }
  /// Rewrites the module with new content.
  void change_module(const std::string& content) { dir.write("build/libhandler.so", content); }
  std::string module_path() const { return fs::path(module).lexically_normal().string(); }
  /// `relative` under the project (the watch root), as file_modified names it.
  std::string abs(const std::string& relative) const {
    return (fs::absolute(dir.path) / relative).lexically_normal().string();
  }
};

}  // namespace

TEST_CASE("content_hasher: the same bytes in any split give one value; any change differs", "[hybrid][hash]") {
  std::string data;
  for (int i = 0; i < 1000; ++i) data += static_cast<char>(i * 37 + (i >> 3));
  const auto whole = hmr::detail::hash_bytes(data);
  CHECK(whole.size == 1000);
  for (const std::size_t split : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{31},
                                  std::size_t{32}, std::size_t{33}, std::size_t{500}, std::size_t{999}}) {
    CAPTURE(split);
    hmr::detail::content_hasher h;
    h.update(std::string_view(data).substr(0, split));
    h.update(std::string_view(data).substr(split));
    CHECK(h.finish() == whole.hash);
  }
  for (std::size_t at = 0; at < data.size(); at += 97) {
    std::string other = data;
    other[at] = static_cast<char>(other[at] ^ 1);
    CAPTURE(at);
    CHECK(hmr::detail::hash_bytes(other).hash != whole.hash);
  }
  CHECK(hmr::detail::hash_bytes(data + '\0') != whole);        // a longer file
  CHECK(hmr::detail::hash_bytes("").hash != hmr::detail::hash_bytes(std::string(1, '\0')).hash);

  hmr_test::temp_dir dir{"hmr-hash"};
  const auto file = hmr::detail::hash_file(dir.write("f", data));
  REQUIRE(file.has_value());
  CHECK(*file == whole);
  CHECK_FALSE(hmr::detail::hash_file(dir.file("missing")).has_value());
  CHECK_FALSE(hmr::detail::hash_file(dir.path.string()).has_value());  // a directory
}

TEST_CASE("hybrid: a changed module is reloaded in the running program", "[hybrid]") {
  fixture f("ready_first");
  hmr::hybrid_strategy strategy{f.options};
  f.start(strategy);
  f.need_line("app fd is a socket: yes");
  const auto ready = f.need_nth<hmr::events::program_ready>(1, "ready");
  CHECK(ready.cycle == 1);
  CHECK(ready.pid == f.need_nth<hmr::events::process_started>(1, "start").pid);

  f.change_module("version 2\n");
  strategy.submit(change({"src/handler.cpp", "src/handler.hpp"}));
  const auto started = f.need_nth<hmr::events::reload_started>(1, "reload_start");
  CHECK(started.modules == std::vector<std::string>{f.module_path()});
  CHECK(started.cycle == 2);
  f.need_line("app reload id=1 modules=" + f.module_path() + " changed=src/handler.cpp,src/handler.hpp timeout=2000");
  const auto finished = f.need_nth<hmr::events::reload_finished>(1, "reload_end");
  CHECK(finished.success);
  CHECK(finished.reason.empty());
  CHECK(finished.fallback.empty());
  CHECK(finished.modules == std::vector<std::string>{f.module_path()});
  CHECK(finished.cycle == 2);
  CHECK(finished.to_ready.has_value());  // the app said ready before it answered
  // The changes reach the app after the reload.
  f.need_line("app file_modified " + f.abs("src/handler.cpp") + "," + f.abs("src/handler.hpp"));
  const auto ready2 = f.need_nth<hmr::events::program_ready>(2, "ready after the reload");
  CHECK(ready2.cycle == 2);

  SECTION("the same build outputs again: no effect, and the app still hears of the change") {
    strategy.submit(change({"README.md"}));
    const auto none = f.need_nth<hmr::events::no_effect>(1, "no_effect");
    CHECK(none.reason == "the build outputs did not change");
    CHECK(none.cycle == 3);
    f.need_line("app file_modified " + f.abs("README.md"));
  }
  SECTION("r (a manual reload without a build) reloads every module even when unchanged") {
    strategy.submit({.reason = hmr::cycle_reason::manual, .build = false});
    const auto again = f.need_nth<hmr::events::reload_finished>(2, "the second reload_end");
    CHECK(again.success);
    CHECK(again.cycle == 3);
    f.need_line("app reload id=2 modules=" + f.module_path() + " changed= timeout=2000");
  }
  SECTION("R restarts even though a reload would apply") {
    f.change_module("version 3\n");
    strategy.submit({.reason = hmr::cycle_reason::manual, .build = false, .restart = true});
    const auto second = f.need_nth<hmr::events::process_started>(2, "the restart");
    CHECK(second.reason == "manual restart");
    f.need_line("app started gen=2");
  }
  strategy.stop();
  const auto events = f.log.snapshot();
  CHECK(all<hmr::events::build_started>(events).size() >= 2);
  CHECK(all<hmr::events::reload_finished>(events).size() ==
        all<hmr::events::reload_started>(events).size());
  const auto exits = all<hmr::events::process_exited>(events);
  REQUIRE_FALSE(exits.empty());
  CHECK(exits.back().why == hmr::process_exit::cause::stopped);
}

TEST_CASE("hybrid: a reload that cannot apply restarts once, saying why", "[hybrid]") {
  struct row {
    const char* flags;
    std::string reason;
  };
  const row r = GENERATE(values<row>({
      {"refuse", "slot 'counter' changed layout: size 8 -> 16"},
      {"silent", "no answer within 300 ms"},
      {"nohello",
       "the program has not said hello (it does not use hmr/runtime.hpp, or had not reached it within 300 ms "
       "of its start): restarting instead"},
      {"crash_reload", "the program ended during the reload (SIGSEGV)"},
  }));
  CAPTURE(r.flags);
  fixture f(r.flags);
  f.options.reload_timeout = 300ms;
  hmr::hybrid_strategy strategy{f.options};
  f.start(strategy, std::string(r.flags) != "nohello");
  f.change_module("version 2\n");
  strategy.submit(change({"src/handler.cpp"}));
  const auto finished = f.need_nth<hmr::events::reload_finished>(1, "reload_end");
  CHECK_FALSE(finished.success);
  CHECK(finished.reason == r.reason);
  CHECK(finished.fallback == "restart");
  CHECK(finished.modules == std::vector<std::string>{f.module_path()});
  CHECK(finished.cycle == 2);
  const auto second = f.need_nth<hmr::events::process_started>(2, "the restart");
  CHECK(second.reason == "src/handler.cpp changed (" + r.reason + ")");
  CHECK(second.cycle == 2);
  f.need_line("app started gen=2");
  const auto exits = all<hmr::events::process_exited>(f.log.snapshot());
  REQUIRE(exits.size() == 1);
  CHECK(exits[0].why == (std::string(r.flags) == "crash_reload" ? hmr::process_exit::cause::crashed
                                                                  : hmr::process_exit::cause::stopped));
  if (std::string(r.flags) != "nohello" && std::string(r.flags) != "crash_reload") {
    f.need_line("app reload id=1 modules=" + f.module_path() + " changed=src/handler.cpp timeout=300");
  }
  // The restarted program has the new module: the same outputs again are no effect.
  strategy.submit(change({"src/other.cpp"}));
  CHECK(f.need_nth<hmr::events::no_effect>(1, "no_effect").cycle == 3);
  strategy.stop();
  const auto names_seen = names(f.log.snapshot());
  CHECK(std::count(names_seen.begin(), names_seen.end(), "process_start") == 2);
}

TEST_CASE("hybrid: a program that does not read its channel never blocks the strategy", "[hybrid]") {
  fixture f("deaf");
  f.options.reload_timeout = 300ms;
  hmr::hybrid_strategy strategy{f.options};
  f.start(strategy);
  // A batch whose file_modified note (~800 KB) cannot fit in the socket's buffers: the
  // send gives up after the reload timeout instead of blocking the strategy's thread.
  hmr::cycle_request flood;
  for (int i = 0; i < 8; ++i)
    flood.batch.changes.push_back({.path = "assets/" + std::to_string(i) + std::string(100000, 'x')});
  strategy.submit(flood);
  CHECK(f.need_nth<hmr::events::no_effect>(1, "no_effect").cycle == 2);
  // The reload request cannot be sent either: restart, saying why.
  f.change_module("version 2\n");
  strategy.submit(change({"src/handler.cpp"}));
  const auto finished = f.need_nth<hmr::events::reload_finished>(1, "reload_end");
  CHECK_FALSE(finished.success);
  CHECK(finished.reason == "the program is not reading its control channel");
  CHECK(finished.fallback == "restart");
  CHECK(finished.cycle == 3);
  CHECK(f.need_nth<hmr::events::process_started>(2, "the restart").reason ==
        "src/handler.cpp changed (the program is not reading its control channel)");
  f.need_line("app started gen=2");
  strategy.stop();  // returns: nothing is stuck
  CHECK(all<hmr::events::process_exited>(f.log.snapshot()).size() == 2);
}

TEST_CASE("strategy_core: an exception escaping a cycle is an error event, not the end", "[hybrid][core]") {
  struct throwing_owner final : hmr::detail::cycle_owner {
    std::mutex mutex{};
    std::condition_variable changed{};
    int cycles = 0;
    void run_cycle(hmr::cycle_request request) override {
      {
        const std::lock_guard lock(mutex);
        ++cycles;
        changed.notify_all();
      }
      if (request.reason == hmr::cycle_reason::initial) throw std::runtime_error("boom");
    }
    void on_process_exit(std::uint64_t, const hmr::process_exit&) override {}
    void on_stop() override { throw 42; }  // not even a std::exception
  };
  event_log log;
  throwing_owner owner;
  {
    hmr::detail::strategy_core core{hmr::busy_policy::queue};
    core.start(log.context(), owner);
    core.submit(initial);
    REQUIRE(log.wait_until([](const events_t& e) { return all<hmr::events::error>(e).size() == 1; }));
    core.submit(change({"a.cpp"}));  // the thread goes on
    {
      std::unique_lock lock(owner.mutex);
      CHECK(owner.changed.wait_for(lock, 20s, [&] { return owner.cycles == 2; }));
    }
    core.stop();
  }
  const auto errors = all<hmr::events::error>(log.snapshot());
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].message == "the strategy failed in a cycle: boom");
  CHECK(errors[0].hint == "hmr goes on; the next change starts a new cycle");
  CHECK_FALSE(errors[0].fatal);
  CHECK(errors[1].message == "the strategy failed in stopping the program (an unknown exception)");
}

TEST_CASE("hybrid: a save just after a start waits for the program's hello, then reloads", "[hybrid]") {
  fixture f("late_hello");
  hmr::hybrid_strategy strategy{f.options};
  strategy.start(f.log.context());
  strategy.submit(initial);
  const auto first = f.need_nth<hmr::events::process_started>(1, "the first start");
  f.need_line("app waiting for SIGUSR1 before its hello");
  f.change_module("version 2\n");
  strategy.submit(change({"src/handler.cpp"}));
  f.need_nth<hmr::events::reload_started>(1, "reload_start");  // asked before the hello came
  REQUIRE(::kill(first.pid, SIGUSR1) == 0);
  const auto finished = f.need_nth<hmr::events::reload_finished>(1, "reload_end");
  CHECK(finished.success);
  CHECK(finished.reason.empty());
  strategy.stop();
  CHECK(all<hmr::events::process_started>(f.log.snapshot()).size() == 1);
}

TEST_CASE("hybrid: a crash while reloading restarts once; a crash after that follows the crash policy",
          "[hybrid]") {
  fixture f("crash_reload,crash_start_gen2");
  hmr::hybrid_strategy strategy{f.options};
  f.start(strategy);
  f.change_module("version 2\n");
  strategy.submit(change({"src/handler.cpp"}));
  CHECK(f.need_nth<hmr::events::reload_finished>(1, "reload_end").reason ==
        "the program ended during the reload (SIGSEGV)");
  f.need_line("app crashing at start");
  const auto crash = f.need_nth<hmr::events::process_exited>(2, "the second crash");
  CHECK(crash.why == hmr::process_exit::cause::crashed);
  // Crash policy `wait`: nothing restarts it until asked.
  strategy.submit({.reason = hmr::cycle_reason::manual, .build = false, .restart = true});
  CHECK(f.need_nth<hmr::events::process_started>(3, "the manual restart").reason == "manual restart");
  strategy.stop();
  const auto events = f.log.snapshot();
  const auto starts = all<hmr::events::process_started>(events);
  REQUIRE(starts.size() == 3);
  CHECK(starts[0].reason == "initial start");
  CHECK(starts[1].reason == "src/handler.cpp changed (the program ended during the reload (SIGSEGV))");
  CHECK(starts[2].reason == "manual restart");
  CHECK(all<hmr::events::reload_started>(events).size() == 1);
}

TEST_CASE("hybrid: restart rules, cold, and a changed executable restart without reloading", "[hybrid]") {
  SECTION("restart_on names the file and the rule") {
    fixture f("");
    f.options.restart_on = {"main.cpp", "/include/**"};
    hmr::hybrid_strategy strategy{f.options};
    f.start(strategy);
    f.change_module("version 2\n");
    strategy.submit(change({"src/handler.cpp", "src/main.cpp"}));
    CHECK(f.need_nth<hmr::events::process_started>(2, "restart").reason ==
          "src/handler.cpp and 1 more changed (src/main.cpp matches --restart-on main.cpp)");
    f.need_line("app started gen=2");
    strategy.submit(change({"include/a/b.hpp"}));
    CHECK(f.need_nth<hmr::events::process_started>(3, "restart").reason ==
          "include/a/b.hpp changed (include/a/b.hpp matches --restart-on /include/**)");
    strategy.submit(change({"src/include/c.hpp"}));  // anchored: not this one
    CHECK(f.need_nth<hmr::events::no_effect>(1, "no effect").cycle == 4);
    strategy.stop();
    CHECK(all<hmr::events::reload_started>(f.log.snapshot()).empty());
  }
  SECTION("cold never reloads") {
    fixture f("");
    f.options.cold = true;
    hmr::hybrid_strategy strategy{f.options};
    f.start(strategy);
    f.change_module("version 2\n");
    strategy.submit(change({"src/handler.cpp"}));
    CHECK(f.need_nth<hmr::events::process_started>(2, "restart").reason ==
          "src/handler.cpp changed (cold: reloads are off)");
    strategy.stop();
    CHECK(all<hmr::events::reload_started>(f.log.snapshot()).empty());
  }
  SECTION("a new executable restarts even when a module changed too") {
    fixture f("");
    const std::string app = f.dir.file("app");
    fs::copy_file(self_exe(), app);
    fs::permissions(app, fs::perms::owner_all);
    f.options.run = {"./app"};
    hmr::hybrid_strategy strategy{f.options};
    f.start(strategy);
    fs::copy_file(app, app + ".new");
    std::ofstream(app + ".new", std::ios::app | std::ios::binary) << "x";  // trailing bytes: still runs
    fs::rename(app + ".new", app);  // as a linker replaces its output
    f.change_module("version 2\n");
    strategy.submit(change({"src/main.cpp"}));
    CHECK(f.need_nth<hmr::events::process_started>(2, "restart").reason ==
          "src/main.cpp changed (the executable changed)");
    f.need_line("app started gen=2");
    strategy.submit(change({"src/main.cpp"}));  // the restart recorded the new outputs
    CHECK(f.need_nth<hmr::events::no_effect>(1, "no effect").cycle == 3);
    strategy.stop();
    CHECK(all<hmr::events::reload_started>(f.log.snapshot()).empty());
  }
}

TEST_CASE("hybrid: an interpreter's executable is not compared: a build without new modules restarts",
          "[hybrid]") {
  fixture f("");
  // /bin/sh is found in a PATH directory: what it runs is not its executable.
  f.options.run = {"/bin/sh", "-c", "echo \"sh started gen=$HMR_GENERATION\"; exec sleep 600"};
  hmr::hybrid_strategy strategy{f.options};
  strategy.start(f.log.context());
  strategy.submit(initial);
  f.need_line("sh started gen=1");
  strategy.submit(change({"src/script.sh"}));  // the build leaves the module alone
  CHECK(f.need_nth<hmr::events::process_started>(2, "restart").reason == "src/script.sh changed");
  f.need_line("sh started gen=2");
  strategy.stop();
  CHECK(all<hmr::events::no_effect>(f.log.snapshot()).empty());
}

TEST_CASE("hybrid without a build: a changed module file reloads, anything else restarts", "[hybrid]") {
  fixture f("");
  f.options.build.clear();
  f.options.watch_roots = {f.dir.file("src"), f.dir.file("build")};
  hmr::hybrid_strategy strategy{f.options};
  f.start(strategy);
  hmr::cycle_request module_change;
  module_change.batch.changes = {{.path = "libhandler.so", .root = 1}};
  strategy.submit(module_change);
  CHECK(f.need_nth<hmr::events::reload_finished>(1, "reload").success);
  f.need_line("app reload id=1 modules=" + f.module_path() + " changed=libhandler.so timeout=2000");
  f.need_line("app file_modified " + f.module_path());  // absolute: its root is known
  hmr::cycle_request same_name_elsewhere;  // src/libhandler.so is not the module
  same_name_elsewhere.batch.changes = {{.path = "libhandler.so", .root = 0}};
  strategy.submit(same_name_elsewhere);
  CHECK(f.need_nth<hmr::events::process_started>(2, "restart").reason == "libhandler.so changed");
  strategy.stop();
  const auto events = f.log.snapshot();
  CHECK(all<hmr::events::reload_started>(events).size() == 1);
  CHECK(all<hmr::events::build_started>(events).empty());
}

TEST_CASE("hybrid: a failed build keeps the program and carries the batch", "[hybrid]") {
  fixture f("");
  const std::string flag = f.dir.file("fail");
  f.options.build = {"test ! -e " + flag};
  f.options.build_shell = true;
  hmr::hybrid_strategy strategy{f.options};
  f.start(strategy);
  f.dir.write("fail", "");
  strategy.submit(change({"src/a.cpp"}));
  CHECK_FALSE(f.need_nth<hmr::events::build_finished>(2, "the failed build").success);
  fs::remove(flag);
  f.change_module("version 2\n");
  strategy.submit(change({"src/b.cpp"}));
  CHECK(f.need_nth<hmr::events::reload_finished>(1, "reload").success);
  f.need_line("app reload id=1 modules=" + f.module_path() + " changed=src/a.cpp,src/b.cpp timeout=2000");
  strategy.stop();
  CHECK(all<hmr::events::process_started>(f.log.snapshot()).size() == 1);
}

TEST_CASE("hybrid: a malformed restart_on glob or no command is an error at start", "[hybrid]") {
  hmr::hybrid_strategy no_command{hmr::hybrid_options{}};
  REQUIRE_THROWS_AS(no_command.start({}), std::invalid_argument);
  hmr::hybrid_strategy bad_glob{{.run = {"true"}, .restart_on = {"src/[a"}}};
  REQUIRE_THROWS_AS(bad_glob.start({}), std::invalid_argument);
}

TEST_CASE("hybrid with a program on hmr/runtime.hpp: reload, file_modified, refusal", "[hybrid][runtime]") {
  fixture f("runtime");
  hmr::hybrid_strategy strategy{f.options};
  strategy.start(f.log.context());
  strategy.submit(initial);
  f.need_line("runtime app supervised=yes gen=1");
  f.need_nth<hmr::events::program_ready>(1, "ready");
  f.change_module("version 2\n");
  strategy.submit(change({"src/handler.cpp"}));
  f.need_line("runtime app loads 'version 2'");
  const auto ok = f.need_nth<hmr::events::reload_finished>(1, "reload_end");
  CHECK(ok.success);
  CHECK(ok.modules == std::vector<std::string>{f.module_path()});
  f.need_line("runtime app reloaded " + f.module_path() + " for src/handler.cpp");
  f.need_line("runtime app file_modified " + f.abs("src/handler.cpp"));
  f.change_module("refuse\n");
  strategy.submit(change({"src/handler.cpp"}));
  const auto refused = f.need_nth<hmr::events::reload_finished>(2, "the refusal");
  CHECK_FALSE(refused.success);
  CHECK(refused.reason.find("slot 'counter' changed layout: size 8 -> 16") != std::string::npos);
  CHECK(refused.fallback == "restart");
  CHECK(f.need_nth<hmr::events::process_started>(2, "the restart").reason ==
        "src/handler.cpp changed (" + refused.reason + ")");
  f.need_line("runtime app restarted: change");
  f.need_line("runtime app supervised=yes gen=2");
  strategy.stop();
}
