// The counter_server example end to end: the real host (examples/counter_server/main.cpp)
// and real handler modules (variants of examples/counter_server/handler.cpp) compiled
// during the test, run under hmr::hybrid_strategy, talked to over TCP. A reload is a
// prebuilt variant renamed over the module file plus a batch naming it, as the CLI's
// watcher would submit. Every wait is on an event or a reply, with a timeout.
#include "hmr_catch.hpp"
#include "process_fixture.hpp"

#include <hmr/hybrid_strategy.hpp>

#include <poll.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using hmr_test::temp_dir;

// ---------------------------------------------------------------------------------------
// The programs, built once per test run

/// The text of `path`.
std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// `text` with its one occurrence of `from` replaced by `to` (the test fails otherwise).
std::string edit(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  REQUIRE(text.find(from, at + 1) == std::string::npos);
  return text.replace(at, from.size(), to);
}

/// Runs `command` (a shell string); the test fails with its output when it fails.
void run(const std::string& command, const fs::path& log) {
  const int status = std::system((command + " >" + log.string() + " 2>&1").c_str());
  INFO(command << "\n" << read_text(log));
  REQUIRE(status == 0);
}

/// The host and the handler variants, compiled into one directory for the whole run.
struct programs {
  temp_dir dir{"hmr-counter-build"};
  std::string host = dir.file("counter_server");
  std::string hello = dir.file("hello.so");      ///< handler.cpp as it is
  std::string bonjour = dir.file("bonjour.so");  ///< the greeting edited
  std::string wider = dir.file("wider.so");      ///< a field added to the slot's type
  std::string crash = dir.file("crash.so");      ///< an on_load hook that crashes

  programs() {
    const std::string source_dir = HMR_SOURCE_DIR;
    const std::string example = source_dir + "/examples/counter_server";
    const std::string cxx = HMR_TEST_CXX;
    const std::string common = "\"" + cxx + "\" -std=c++20 -O1 -I\"" + source_dir + "/include\" -I\"" + example + "\"";
    // As hmr_add_module builds a module (docs/modules.md).
    run("\"" + cxx + "\" --version", dir / "version.log");
    const bool gcc = read_text(dir / "version.log").find("clang") == std::string::npos;
    const std::string module_flags = common + " -shared -fPIC -fvisibility=hidden -Wl,-Bsymbolic" +
                                     (gcc ? " -fno-gnu-unique" : "");
    run(common + " \"" + example + "/main.cpp\" -o \"" + host + "\" -pthread", dir / "host.log");
    const std::string handler = read_text(example + "/handler.cpp");
    const std::string greeting = "constexpr const char* greeting = \"hello\";";
    const std::vector<std::pair<std::string, std::string>> variants{
        {hello, handler},
        {bonjour, edit(handler, greeting, "constexpr const char* greeting = \"bonjour\";")},
        {wider, edit(handler, "std::uint64_t requests = 0;", "std::uint64_t requests = 0;\n  std::uint64_t bytes = 0;")},
        {crash, edit(handler, "\nHMR_MODULE(",
                     "\n#include <csignal>\nstatic void crash_on_load() { std::raise(SIGSEGV); }\n"
                     "static hmr::module_hooks hooks{&crash_on_load, nullptr};\nHMR_MODULE(")},
    };
    for (const auto& [file, text] : variants) {
      const std::string source = dir.write(fs::path(file).stem().string() + ".cpp", text);
      run(module_flags + " \"" + source + "\" -o \"" + file + "\"", dir / "module.log");
    }
  }
};

/// Built on first use (a few seconds), shared by every test case.
const programs& built() {
  static const programs p;
  return p;
}

// ---------------------------------------------------------------------------------------
// A TCP client

/// One connection to the server, one line per request.
class connection {
 public:
  explicit connection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<unsigned short>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  }
  ~connection() { ::close(fd_); }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Sends `line` and returns the reply without its '\n'; "<closed>" at end of stream,
  /// "<timeout>" after 20 s.
  std::string ask(const std::string& line) {
    const std::string request = line + "\n";
    REQUIRE(::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
    return read_line();
  }
  /// The next line from the server, as `ask` says.
  std::string read_line() {
    for (;;) {
      if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20000) != 1) return "<timeout>";
      char chunk[512];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return "<closed>";
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  std::string buffer_{};
};

// ---------------------------------------------------------------------------------------
// The server under hmr::hybrid_strategy

template <class T>
std::vector<T> all(const std::vector<hmr::event>& events) {
  std::vector<T> out;
  for (const hmr::event& e : events)
    if (const T* p = std::get_if<T>(&e)) out.push_back(*p);
  return out;
}

/// The ports of the "counter_server listening on 127.0.0.1:PORT" lines, in order.
std::vector<int> ports(const std::vector<hmr::event>& events) {
  static const std::string prefix = "counter_server listening on 127.0.0.1:";
  std::vector<int> out;
  for (const auto& o : all<hmr::events::output>(events))
    if (o.line.rfind(prefix, 0) == 0) out.push_back(std::stoi(o.line.substr(prefix.size())));
  return out;
}

/// True when some output line of the program is `line`.
bool printed(const std::vector<hmr::event>& events, const std::string& line) {
  const auto lines = all<hmr::events::output>(events);
  return std::any_of(lines.begin(), lines.end(), [&](const auto& o) { return o.line == line; });
}

/// A session: the module file in a private directory, the strategy running the host, and
/// every event it reported.
class session {
 public:
  temp_dir dir{"hmr-counter"};
  std::string module = dir.file("lib/libcounter_handler.so");  ///< what the host loads
  std::string shadow_parent = dir.file("tmp");                  ///< the host's TMPDIR

  /// Installs the module `variant` and starts the server (waits until it listens).
  explicit session(const std::string& variant) {
    fs::create_directories(dir / "lib");
    fs::create_directories(shadow_parent);
    install(variant);
    strategy_.emplace(hmr::hybrid_options{
        .run = {built().host, "0", module},
        .working_directory = dir.path.string(),
        .environment = {{"TMPDIR", shadow_parent}},
        .capture_output = true,
        .modules = {module},
        .restart_on = {"main.cpp"},
    });
    strategy_->start({.emit = [this](hmr::event e) {
      const std::lock_guard lock(mutex_);
      events_.push_back(std::move(e));
      changed_.notify_all();
    }});
    strategy_->submit({.reason = hmr::cycle_reason::initial});
    REQUIRE(serving(1));
  }
  ~session() { strategy_->stop(); }
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  /// Puts a fresh copy of `variant` in place of the module file by an atomic rename, as a
  /// linker writing a new file would.
  void install(const std::string& variant) {
    const std::string next = module + ".next";
    fs::copy_file(variant, next, fs::copy_options::overwrite_existing);
    fs::rename(next, module);
  }
  /// Submits a batch with `path` changed (a cycle, as the watcher would).
  void changed(const std::string& path) {
    strategy_->submit({.batch = {{hmr::file_change{.path = path, .kind = hmr::change_kind::modified}}}});
  }
  /// Installs `variant`, submits the module's change, and returns the reload_end event.
  hmr::events::reload_finished reload(const std::string& variant) {
    const std::size_t before = count<hmr::events::reload_finished>();
    install(variant);
    changed(module);
    REQUIRE(wait([&](const auto& e) { return all<hmr::events::reload_finished>(e).size() == before + 1; }));
    return all<hmr::events::reload_finished>(snapshot()).back();
  }

  /// True once the `n`th server listens and has said `ready` (so the supervisor has its
  /// hello: a reload before it would restart instead); false after 20 s.
  bool serving(std::size_t n) {
    return wait([n](const auto& e) { return ports(e).size() == n && all<hmr::events::program_ready>(e).size() == n; });
  }
  /// True once `predicate(events)` holds; false after 20 s.
  template <class Predicate>
  bool wait(Predicate predicate) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 20s, [&] { return predicate(std::as_const(events_)); });
  }
  /// The events so far.
  std::vector<hmr::event> snapshot() {
    const std::lock_guard lock(mutex_);
    return events_;
  }
  /// How many events of type T so far.
  template <class T>
  std::size_t count() {
    return all<T>(snapshot()).size();
  }
  /// The port of the latest start.
  int port() { return ports(snapshot()).back(); }
  /// The pid of the latest start.
  int pid() { return all<hmr::events::process_started>(snapshot()).back().pid; }
  /// The shadow copies (the .so files; the directory also holds its owner's .lock) under
  /// the host's TMPDIR.
  std::size_t shadow_files() const {
    std::size_t n = 0;
    for (const auto& entry : fs::recursive_directory_iterator(shadow_parent))
      if (entry.is_regular_file() && entry.path().extension() == ".so") ++n;
    return n;
  }

 private:
  std::optional<hmr::hybrid_strategy> strategy_{};
  std::mutex mutex_{};
  std::condition_variable changed_{};
  std::vector<hmr::event> events_{};
};

/// How many descriptors process `pid` has open.
std::size_t open_fds(int pid) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) ++n;
  return n;
}

/// VmRSS of `pid`, in KiB (0 when unknown).
long rss_kib(int pid) {
  const std::string status = hmr_test::read_proc_file("/proc/" + std::to_string(pid) + "/status");
  const auto at = status.find("VmRSS:");
  return at == std::string::npos ? 0 : std::strtol(status.c_str() + at + 6, nullptr, 10);
}

/// `count` reloads alternating bonjour/hello, each checked by a request on one connection
/// kept open throughout; then no growth in fds, shadow files, or (beyond 8 MiB) memory.
void reload_loop(int count) {
  session s{built().hello};
  const int pid = s.pid();
  connection client{s.port()};
  std::uint64_t requests = 0;
  const auto step = [&](int i) {
    const bool odd = i % 2 == 1;
    const auto finished = s.reload(odd ? built().bonjour : built().hello);
    INFO("reload " << i << ": " << finished.reason);
    REQUIRE(finished.success);
    const std::string expected = std::string(odd ? "bonjour" : "hello") + " #" + std::to_string(++requests) + ": r";
    REQUIRE(client.ask("r") == expected);
  };
  for (int i = 1; i <= 10; ++i) step(i);  // warm-up: the allocator and the loader settle
  const std::size_t fds = open_fds(pid);
  const long rss = rss_kib(pid);
  const std::size_t files = s.shadow_files();
  CHECK(files == 1);  // the copy in use
  for (int i = 11; i <= 10 + count; ++i) step(i);
  CHECK(s.pid() == pid);
  CHECK(s.count<hmr::events::process_started>() == 1);
  CHECK(open_fds(pid) == fds);
  CHECK(s.shadow_files() == files);
  const long growth = rss_kib(pid) - rss;
  INFO("VmRSS " << rss << " KiB -> " << rss + growth << " KiB after " << count << " reloads");
  CHECK(growth < 8 * 1024);
}

}  // namespace

TEST_CASE("counter_server: a handler edit reloads in place; the count and an open connection survive") {
  session s{built().hello};
  const int pid = s.pid();
  connection client{s.port()};
  CHECK(client.ask("a") == "hello #1: a");
  CHECK(client.ask("b") == "hello #2: b");
  CHECK(client.ask("c") == "hello #3: c");

  const auto finished = s.reload(built().bonjour);
  INFO(finished.reason);
  REQUIRE(finished.success);
  CHECK(finished.modules == std::vector<std::string>{s.module});
  CHECK(finished.fallback.empty());

  CHECK(client.ask("d") == "bonjour #4: d");  // the same connection, the new code, the count kept
  connection second{s.port()};
  CHECK(second.ask("e") == "bonjour #5: e");
  CHECK(client.ask("f") == "bonjour #6: f");
  CHECK(s.pid() == pid);
  CHECK(s.count<hmr::events::process_started>() == 1);
  CHECK(s.wait([](const auto& e) { return printed(e, "handler reloaded"); }));
}

TEST_CASE("counter_server: an edit of main.cpp restarts it, with a new pid and the count reset") {
  session s{built().hello};
  const int first = s.pid();
  connection client{s.port()};
  CHECK(client.ask("a") == "hello #1: a");
  CHECK(client.ask("b") == "hello #2: b");

  s.changed("examples/counter_server/main.cpp");
  REQUIRE(s.serving(2));
  const auto started = all<hmr::events::process_started>(s.snapshot());
  REQUIRE(started.size() == 2);
  CHECK(started[1].pid != first);
  CHECK(started[1].reason ==
        "examples/counter_server/main.cpp changed (examples/counter_server/main.cpp matches --restart-on main.cpp)");
  CHECK(hmr_test::not_running(first));
  CHECK(s.count<hmr::events::reload_started>() == 0);
  CHECK(client.read_line() == "<closed>");  // the old server's connection ended with it

  connection fresh{s.port()};
  CHECK(fresh.ask("c") == "hello #1: c");
  CHECK(s.wait([](const auto& e) { return printed(e, "counter_server restarted: change"); }));
}

TEST_CASE("counter_server: a field added to the slot's type refuses the reload, naming the slot, and restarts") {
  session s{built().hello};
  const int first = s.pid();
  connection client{s.port()};
  CHECK(client.ask("a") == "hello #1: a");
  CHECK(client.ask("b") == "hello #2: b");

  const auto finished = s.reload(built().wider);
  CHECK_FALSE(finished.success);
  CHECK(finished.reason == s.module + ": slot 'counter' changed layout: size 8 -> 16");
  CHECK(finished.fallback == "restart");
  CHECK(finished.modules == std::vector<std::string>{s.module});

  REQUIRE(s.serving(2));
  CHECK(s.pid() != first);
  CHECK(s.count<hmr::events::process_started>() == 2);
  CHECK(hmr_test::not_running(first));
  connection fresh{s.port()};
  CHECK(fresh.ask("c") == "hello #1: c");  // the new layout starts from its initial value
}

TEST_CASE("counter_server: a module that crashes in its on_load hook leads to one restart, not a loop") {
  session s{built().hello};
  const int first = s.pid();
  connection client{s.port()};
  CHECK(client.ask("a") == "hello #1: a");

  // The reload crashes the server; hmr restarts it once. The new server loads the same
  // module at start and crashes in the same hook; hmr reports it and waits for a change.
  const auto finished = s.reload(built().crash);
  CHECK_FALSE(finished.success);
  CHECK(finished.reason.find("the program ended during the reload") != std::string::npos);
  CHECK(finished.reason.find("SIGSEGV") != std::string::npos);
  CHECK(finished.fallback == "restart");
  REQUIRE(s.wait([](const auto& e) { return all<hmr::events::process_exited>(e).size() == 2; }));
  auto exits = all<hmr::events::process_exited>(s.snapshot());
  CHECK(exits[0].pid == first);
  CHECK(exits[1].why == hmr::events::process_exited::cause::crashed);
  CHECK(exits[1].status.describe() == "SIGSEGV");

  // The fix: the next change starts it again, exactly once more.
  s.install(built().hello);
  s.changed(s.module);
  REQUIRE(s.serving(2));
  const auto events = s.snapshot();
  CHECK(all<hmr::events::process_started>(events).size() == 3);
  CHECK(all<hmr::events::process_exited>(events).size() == 2);
  CHECK(all<hmr::events::reload_finished>(events).size() == 1);
  connection fresh{s.port()};
  CHECK(fresh.ask("b") == "hello #1: b");
  // Each crashed server left its shadow directory; the next start removed them.
  std::size_t directories = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(s.shadow_parent)) ++directories;
  CHECK(directories == 1);
}

TEST_CASE("counter_server: 100 consecutive reloads keep the state, the connection, the fds and the memory") {
  reload_loop(100);
}

TEST_CASE("counter_server: 1,000 consecutive reloads keep the state, the connection, the fds and the memory",
          "[.long]") {
  reload_loop(1000);
}
