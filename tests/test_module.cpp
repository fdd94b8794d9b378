#include "hmr_catch.hpp"

#include <hmr/module.hpp>

#include <hmr/hybrid_strategy.hpp>

#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "modules/test_api.hpp"
#include "process_fixture.hpp"

#ifndef HMR_TEST_CXX
#define HMR_TEST_CXX "c++"
#endif
#ifndef HMR_SOURCE_DIR
#define HMR_SOURCE_DIR "."
#endif

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string read_bytes(const std::string& path) {
  std::string out;
  REQUIRE(hmr::detail::read_whole_file(path, out) == 0);
  return out;
}

/// The output of a shell command (for `c++ --version`).
std::string command_output(const std::string& command) {
  std::string out;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    char buffer[256];
    while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) out += buffer;
    ::pclose(pipe);
  }
  return out;
}

/// True when the module compiler is clang (which has no STB_GNU_UNIQUE symbols).
bool compiler_is_clang() {
  static const bool clang =
      command_output(std::string(HMR_TEST_CXX) + " --version 2>&1").find("clang") != std::string::npos;
  return clang;
}

/// Builds tests/modules/counter_module.cpp with `defines`, once per test run, as
/// hmr_add_module would (hidden visibility, -fno-gnu-unique on GCC) unless `plain`
/// (default visibility, gnu-unique allowed). Returns the built library's path.
std::string built(const std::string& defines, bool plain = false,
                  const std::string& source = "counter_module.cpp") {
  // Removed at exit by this process only: a forked test child's exit() must not remove it.
  static const struct cache_dir {
    pid_t owner = ::getpid();
    hmr_test::temp_dir* dir = new hmr_test::temp_dir("hmr-test-modules");
    ~cache_dir() {
      if (::getpid() == owner) delete dir;
    }
  } cached;
  const hmr_test::temp_dir& cache = *cached.dir;
  static std::map<std::string, std::string> done;
  static int count = 0;
  const std::string key = defines + (plain ? " plain " : " ") + source;
  if (auto it = done.find(key); it != done.end()) return it->second;
  const std::string out = cache.file("variant" + std::to_string(++count) + ".so");
  const std::string src = std::string(HMR_SOURCE_DIR) + "/tests/modules/" + source;
  std::string flags = "-std=c++20 -O0 -fPIC -shared";
  if (!plain) flags += " -fvisibility=hidden" + std::string(compiler_is_clang() ? "" : " -fno-gnu-unique");
  const std::string command = std::string(HMR_TEST_CXX) + " " + flags + " " + defines + " -I" +
                              HMR_SOURCE_DIR + "/include " + src + " -o " + out + " > " + out +
                              ".log 2>&1";
  INFO(command);
  const int status = std::system(command.c_str());
  INFO(command_output("cat " + out + ".log"));
  REQUIRE(status == 0);
  done[key] = out;
  return out;
}

/// Puts `library` at `dest` the way a build does: a new file renamed into place.
void install(const std::string& library, const std::string& dest) {
  const std::string tmp = dest + ".tmp";
  fs::copy_file(library, tmp, fs::copy_options::overwrite_existing);
  fs::rename(tmp, dest);
}

std::size_t entries(const std::string& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

/// The shadow copies (`*.so`) in a private directory (which also holds its `.lock`).
std::size_t copies(const std::string& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().extension() == ".so" ? std::size_t{1} : std::size_t{0};
  return n;
}

/// Waits (20 s at most) until `done()`; the test fails on timeout.
template <class F>
void wait_until(F done) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) REQUIRE(done());
    std::this_thread::yield();
  }
}

/// Closes a descriptor at the end of a scope.
struct fd_holder {
  int fd = -1;
  explicit fd_holder(int f) noexcept : fd(f) {}
  fd_holder(fd_holder&& other) noexcept : fd(std::exchange(other.fd, -1)) {}
  fd_holder& operator=(fd_holder&&) = delete;
  ~fd_holder() {
    if (fd >= 0) ::close(fd);
  }
};

/// Options that collect warnings instead of printing them.
hmr::module_options collecting(std::vector<std::string>& warnings, hmr::module_options base = {}) {
  base.on_warning = [&warnings](std::string_view text) { warnings.emplace_back(text); };
  return base;
}

}  // namespace

TEST_CASE("elf_image: a prefix of a shared library is never complete", "[module]") {
  const std::string image = read_bytes(built("-DHMR_TEST_VERSION=1"));
  REQUIRE(hmr::detail::check_elf_image(image).complete);
  CHECK(hmr::detail::gnu_unique_symbols(image).empty());
  const std::size_t cut = GENERATE(values<std::size_t>({0, 4, 16, 63, 64, 200, 4096}));
  const auto half = GENERATE(values<int>({0, 1}));
  const std::size_t size = half ? image.size() / 2 + cut : image.size() - 1 - cut;
  CAPTURE(size);
  const auto status = hmr::detail::check_elf_image(std::string_view(image).substr(0, size));
  CHECK_FALSE(status.complete);
  CHECK_FALSE(status.reason.empty());
}

TEST_CASE("elf_image: the reasons name what is missing", "[module]") {
  CHECK(hmr::detail::check_elf_image("hello").reason ==
        "the file is too short for an ELF header (5 bytes)");
  CHECK(hmr::detail::check_elf_image(std::string(64, 'x')).reason == "not an ELF file (bad magic)");
  const std::string image = read_bytes(built("-DHMR_TEST_VERSION=1"));
  const auto status = hmr::detail::check_elf_image(std::string_view(image).substr(0, image.size() - 1));
  CHECK(status.reason.find("the file is " + std::to_string(image.size() - 1) + " bytes but ") == 0);
  CHECK(status.reason.find("(still being written?)") != std::string::npos);
}

TEST_CASE("module: new code calls its own functions; copies are fresh and removed", "[module]") {
  hmr_test::temp_dir dir("hmr-module");
  const std::string path = dir.file("libcounter.so");
  install(built("-DHMR_TEST_VERSION=1"), path);
  std::vector<std::string> warnings;
  std::string shadow;
  {
    hmr::module<test_api> m{path, collecting(warnings)};
    REQUIRE(m.loaded());
    CHECK_FALSE(hmr::runtime::instance().supervised());
    CHECK(m.file() == path);
    CHECK(m->version() == 1);
    shadow = m.shadow_directory();
    const std::string first_copy = m.loaded_copy();
    CHECK(fs::path(first_copy).parent_path() == fs::path(shadow));
    CHECK(fs::path(shadow).filename().string().find("hmr-modules-" + std::to_string(::getpid()) + "-") == 0);
    CHECK(copies(shadow) == 1);

    install(built("-DHMR_TEST_VERSION=2"), path);
    const hmr::reload_outcome r = m.reload();
    CHECK(r.ok);
    CHECK(r.reason.empty());
    CHECK(m->version() == 2);  // through its own exported helper, not version 1's
    CHECK(m.loaded_copy() != first_copy);
    CHECK_FALSE(fs::exists(first_copy));
    CHECK(copies(shadow) == 1);
    const hmr::module_stats s = m.stats();
    CHECK(s.loads == 2);
    CHECK(s.load_attempts == 2);
    CHECK(s.stayed_loaded == 0);
  }
  CHECK(warnings.empty());
  CHECK_FALSE(fs::exists(shadow));  // the last handle removed the private directory
}

TEST_CASE("module: a missing symbol is refused at load with the dlerror text, once per file", "[module]") {
  hmr_test::temp_dir dir("hmr-module");
  const std::string path = dir.file("libcounter.so");
  install(built("-DHMR_TEST_MISSING"), path);
  SECTION("at the first load: the handle stays empty") {
    hmr::module<test_api> m{path};
    CHECK_FALSE(m.loaded());
    CHECK(m.last_error().find("cannot load " + path + ": ") == 0);
    CHECK(m.last_error().find("undefined symbol: hmr_test_function_nobody_defines") != std::string::npos);
    REQUIRE_THROWS_AS(m->version(), std::logic_error);
  }
  SECTION("at a reload: the old version keeps running, no retry until the file changes") {
    install(built("-DHMR_TEST_VERSION=1"), path);
    hmr::module<test_api> m{path};
    install(built("-DHMR_TEST_MISSING"), path);
    const hmr::reload_outcome r = m.reload();
    CHECK_FALSE(r.ok);
    CHECK(r.reason.find("undefined symbol: hmr_test_function_nobody_defines") != std::string::npos);
    CHECK(m->version() == 1);
    CHECK(m.stats().load_attempts == 2);
    for (int i = 0; i < 5; ++i) {
      const hmr::reload_outcome again = m.reload();
      CHECK_FALSE(again.ok);
      CHECK(again.reason == r.reason + " (the file has not changed since; not retried until it does)");
    }
    CHECK(m.stats().load_attempts == 2);
    CHECK(m.stats().refused_unchanged == 5);
    install(built("-DHMR_TEST_MISSING"), path);  // rebuilt: a new file, tried again
    CHECK_FALSE(m.reload().ok);
    CHECK(m.stats().load_attempts == 3);
    install(built("-DHMR_TEST_VERSION=2"), path);
    CHECK(m.reload().ok);
    CHECK(m->version() == 2);
    CHECK(copies(m.shadow_directory()) == 1);
  }
}

TEST_CASE("module: a library without HMR_MODULE or with another ABI version is refused", "[module]") {
  hmr_test::temp_dir dir("hmr-module");
  const std::string path = dir.file("libcounter.so");
  install(built("-DHMR_TEST_VERSION=1"), path);
  hmr::module<test_api> m{path};
  install(built("-DHMR_TEST_ABI=2"), path);
  hmr::reload_outcome r = m.reload();
  CHECK_FALSE(r.ok);
  CHECK(r.reason == path + " implements test_api ABI version 2, the host expects test_api ABI version 1");
  install(built("", false, "plain_library.cpp"), path);
  r = m.reload();
  CHECK_FALSE(r.ok);
  CHECK(r.reason == path + " exports no hmr_module_entry (build it with HMR_MODULE)");
  CHECK(m->version() == 1);
  CHECK(copies(m.shadow_directory()) == 1);
}

TEST_CASE("module: an image still being written is waited for, never loaded", "[module]") {
  hmr_test::temp_dir dir("hmr-module");
  const std::string path = dir.file("libcounter.so");
  const std::string v2 = read_bytes(built("-DHMR_TEST_VERSION=2"));
  const auto write_half = [&] {
    std::ofstream(path + ".tmp", std::ios::binary).write(v2.data(), static_cast<std::streamsize>(v2.size() / 2));
    fs::rename(path + ".tmp", path);
  };
  SECTION("refused when it stays incomplete") {
    write_half();
    hmr::module<test_api> m{path, {.complete_timeout = 20ms}};
    CHECK_FALSE(m.loaded());
    CHECK(m.last_error().find("the image " + path + " is not complete after 20 ms: the file is ") == 0);
    CHECK(m.stats().load_attempts == 0);
    CHECK(m.stats().incomplete_waits == 1);
  }
  SECTION("loaded once the writer completes it") {
    install(built("-DHMR_TEST_VERSION=1"), path);
    hmr::module<test_api> m{path, {.complete_timeout = 60s}};
    REQUIRE(m.loaded());
    write_half();
    hmr::reload_outcome r;
    std::thread reloader([&] { r = m.reload(); });
    wait_until([&] { return m.stats().incomplete_waits == 1; });
    {
      std::ofstream rest(path, std::ios::binary | std::ios::app);
      rest.write(v2.data() + v2.size() / 2, static_cast<std::streamsize>(v2.size() - v2.size() / 2));
    }
    reloader.join();
    CHECK(r.ok);
    CHECK(m->version() == 2);
    CHECK(m.stats().load_attempts == 2);
  }
}

TEST_CASE("module: slots survive a reload; a layout change is refused naming the slot", "[module]") {
  hmr_test::temp_dir dir("hmr-module");
  const std::string path = dir.file("libcounter.so");
  install(built("-DHMR_TEST_VERSION=1"), path);
  hmr::module<test_api> m{path};
  CHECK(m->loads() == 1);
  CHECK(m->increment() == 1);
  CHECK(m->increment() == 2);
  m->append("alpha");
  m->append("with:colon");
  install(built("-DHMR_TEST_VERSION=2"), path);
  REQUIRE(m.reload().ok);
  CHECK(m->version() == 2);
  CHECK(m->increment() == 3);  // bytes
  REQUIRE(m->log_size() == 2);  // slot_codec
  CHECK(std::string(m->log_at(0)) == "alpha");
  CHECK(std::string(m->log_at(1)) == "with:colon");
  CHECK(m->loads() == 2);  // restored, then the new version's on_load

  install(built("-DHMR_TEST_VERSION=3 -DHMR_TEST_WIDE_COUNTER"), path);
  const hmr::reload_outcome r = m.reload();
  CHECK_FALSE(r.ok);
  CHECK(r.reason.find("slot 'counter' changed layout: size 8 -> 16, type '") == 0);
  CHECK(r.reason.find("' -> 'wide'") != std::string::npos);
  CHECK(m->version() == 2);  // the old version runs on, untouched
  CHECK(m->increment() == 4);
  CHECK(m->loads() == 2);
  CHECK(copies(m.shadow_directory()) == 1);
}

TEST_CASE("module: an image that stays loaded after dlclose is reported (STB_GNU_UNIQUE)", "[module]") {
  const std::string library = built("-DHMR_TEST_UNIQUE", true);
  const auto unique = hmr::detail::gnu_unique_symbols(read_bytes(library));
  if (unique.empty()) {
    WARN("the compiler made no STB_GNU_UNIQUE symbol (clang?): nothing to probe");
    return;
  }
  CHECK(std::find(unique.begin(), unique.end(), "_ZN14shared_counterIiE5valueE") != unique.end());
  hmr_test::temp_dir dir("hmr-module");
  const std::string path = dir.file("libcounter.so");
  install(library, path);
  std::vector<std::string> warnings;
  hmr::module<test_api> m{path, collecting(warnings)};
  CHECK(m->unique() == 1);
  install(library, path);
  REQUIRE(m.reload().ok);
  CHECK(m.stats().stayed_loaded == 1);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("the previous version of " + path + " is still loaded after dlclose") == 0);
  CHECK(warnings[0].find("STB_GNU_UNIQUE symbols (") != std::string::npos);
  CHECK(warnings[0].find("-fno-gnu-unique") != std::string::npos);
  CHECK(warnings[0].find("_ZN14shared_counterIiE5valueE") != std::string::npos);
}

TEST_CASE("module: automatic mode swaps while another thread calls in a loop", "[module]") {
  hmr_test::temp_dir dir("hmr-module");
  const std::string path = dir.file("libcounter.so");
  const std::string versions[2] = {built("-DHMR_TEST_VERSION=1"), built("-DHMR_TEST_VERSION=2")};
  install(versions[0], path);
  hmr::module<test_api> m{path, {.mode = hmr::swap_mode::automatic}};
  std::atomic<bool> stop{false};
  std::uint64_t calls = 0;
  bool counted_right = true;
  std::thread caller([&] {
    while (!stop.load()) {
      const int v = m->version();
      counted_right = counted_right && (v == 1 || v == 2) && m->increment() == calls + 1;
      ++calls;
    }
  });
  int ok = 0;
  for (int i = 1; i <= 40; ++i) {
    install(versions[i % 2], path);
    ok += m.reload().ok ? 1 : 0;
  }
  stop.store(true);
  caller.join();
  CHECK(ok == 40);
  CHECK(counted_right);
  CHECK(m->increment() == calls + 1);  // not one increment lost across 40 swaps
  CHECK(m->version() == 1);
}

TEST_CASE("module: automatic mode waits for a call to leave; nested calls pass the gate", "[module]") {
  hmr_test::temp_dir dir("hmr-module");
  const std::string path = dir.file("libcounter.so");
  install(built("-DHMR_TEST_VERSION=1"), path);
  hmr::module<test_api> m{path, {.mode = hmr::swap_mode::automatic, .safe_point_timeout = 60s}};
  install(built("-DHMR_TEST_VERSION=2"), path);
  hmr::reload_outcome r;
  std::thread reloader;
  {
    auto&& outer = m.operator->();  // this thread is inside the library
    reloader = std::thread([&] { r = m.reload(); });
    wait_until([&] { return m.swapping(); });
    CHECK(outer->version() == 1);
    CHECK(m->version() == 1);  // a nested call: no deadlock, still the old version
    CHECK(m.swapping());
  }
  reloader.join();
  CHECK(r.ok);
  CHECK_FALSE(m.swapping());
  CHECK(m->version() == 2);
}

TEST_CASE("module: automatic mode gives up when a call stays inside", "[module]") {
  hmr_test::temp_dir dir("hmr-module");
  const std::string path = dir.file("libcounter.so");
  install(built("-DHMR_TEST_VERSION=1"), path);
  hmr::module<test_api> m{path, {.mode = hmr::swap_mode::automatic, .safe_point_timeout = 60s}};
  install(built("-DHMR_TEST_VERSION=2"), path);
  hmr::reload_outcome r;
  {
    auto&& outer = m.operator->();
    std::thread request([&] { r = m.reload(std::chrono::steady_clock::now() + 20ms); });
    request.join();
    CHECK(outer->version() == 1);
  }
  CHECK_FALSE(r.ok);
  CHECK(r.reason.find("no safe point within ") == 0);
  CHECK(m->version() == 1);
  CHECK(m.reload().ok);  // a timeout is not remembered as a failure of the file
  CHECK(m->version() == 2);
}

TEST_CASE("module: sync mode swaps only in sync(); a request without a safe point fails", "[module]") {
  hmr_test::temp_dir dir("hmr-module");
  const std::string path = dir.file("libcounter.so");
  install(built("-DHMR_TEST_VERSION=1"), path);
  hmr::module<test_api> m{path};
  CHECK_FALSE(m.sync().has_value());
  install(built("-DHMR_TEST_VERSION=2"), path);
  SECTION("nobody calls sync(): the deadline passes") {
    const hmr::reload_outcome r = m.reload(std::chrono::steady_clock::now() + 30ms);
    CHECK_FALSE(r.ok);
    CHECK(r.reason == "no safe point within 30 ms: call sync() in the app's loop, or use swap_mode::automatic");
    CHECK(m->version() == 1);
  }
  SECTION("the app's loop calls sync()") {
    hmr::reload_outcome r;
    std::thread request([&] { r = m.reload(std::chrono::steady_clock::now() + 60s); });
    std::optional<hmr::reload_outcome> swapped;
    wait_until([&] { return (swapped = m.sync()).has_value(); });
    request.join();
    CHECK(swapped->ok);
    CHECK(r.ok);
    CHECK(m->version() == 2);
    CHECK_FALSE(m.sync().has_value());
  }
}

TEST_CASE("module: standalone watch reloads at the safe point", "[module]") {
  hmr_test::temp_dir dir("hmr-module");
  const std::string path = dir.file("libcounter.so");
  install(built("-DHMR_TEST_VERSION=1"), path);
  SECTION("sync mode") {
    hmr::module<test_api> m{path, {.watch = true}};
    CHECK(m->increment() == 1);
    dir.write("unrelated.txt", "not the module");
    install(built("-DHMR_TEST_VERSION=2"), path);
    wait_until([&] { return m.pending(); });
    CHECK(m->version() == 1);  // nothing swaps behind the app's back
    const auto r = m.sync();
    REQUIRE(r.has_value());
    CHECK(r->ok);
    CHECK(m->version() == 2);
    CHECK(m->increment() == 2);
  }
  SECTION("automatic mode") {
    std::atomic<int> reloads{0};
    hmr::module<test_api> m{path, {.mode = hmr::swap_mode::automatic, .watch = true,
                                   .on_reload = [&](const hmr::reload_outcome& r) { reloads += r.ok; }}};
    CHECK(reloads == 1);
    install(built("-DHMR_TEST_VERSION=2"), path);
    wait_until([&] { return reloads == 2; });  // on_reload runs after the swap
    CHECK(m->version() == 2);
  }
}

TEST_CASE("module: 200 reloads leave no descriptor or file behind", "[module]") {
  hmr_test::temp_dir dir("hmr-module");
  const std::string path = dir.file("libcounter.so");
  const std::string versions[2] = {built("-DHMR_TEST_VERSION=1"), built("-DHMR_TEST_VERSION=2")};
  install(versions[0], path);
  hmr::module<test_api> m{path, {.watch = true}};
  REQUIRE(m.reload().ok);
  const std::size_t fds = entries("/proc/self/fd");
  const std::size_t files = entries(dir.path.string());
  for (int i = 1; i <= 200; ++i) {
    install(versions[i % 2], path);
    REQUIRE(m.reload().ok);
    CHECK(m->increment() == static_cast<std::uint64_t>(i));
  }
  m.sync();  // whatever the watch saw
  CHECK(entries("/proc/self/fd") == fds);
  CHECK(entries(dir.path.string()) == files);
  CHECK(copies(m.shadow_directory()) == 1);
  CHECK(m->version() == 1);
}

TEST_CASE("module: stale private directories are removed when nobody holds their lock", "[module]") {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) ::_exit(0);
  REQUIRE(::waitpid(child, nullptr, 0) == child);
  const char* tmp = std::getenv("TMPDIR");
  const std::string parent = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  struct stale_case {
    const char* what;
    bool lock_file;   // has a .lock
    bool held;        // someone (another PID namespace, say) holds it
    bool old;         // no .lock: last changed two minutes ago
    bool removed;
  };
  const stale_case cases[] = {
      {"a .lock nobody holds", true, false, false, true},
      {"a .lock held, although the pid in the name is gone", true, true, false, false},
      {"no .lock, dead pid, two minutes old", false, false, true, true},
      {"no .lock, dead pid, just made (its owner may be locking it)", false, false, false, false},
  };
  std::vector<std::string> dirs;
  std::vector<fd_holder> held;
  for (const stale_case& c : cases) {
    std::string stale = parent + "/hmr-modules-" + std::to_string(child) + "-XXXXXX";
    REQUIRE(::mkdtemp(stale.data()) != nullptr);
    std::ofstream(stale + "/libold.1.so") << "x";
    if (c.lock_file) {
      std::ofstream(stale + "/.lock") << "";
      if (c.held) {
        held.emplace_back(::open((stale + "/.lock").c_str(), O_RDONLY | O_CLOEXEC));
        REQUIRE(::flock(held.back().fd, LOCK_EX | LOCK_NB) == 0);
      }
    }
    if (c.old) fs::last_write_time(stale, fs::file_time_type::clock::now() - std::chrono::minutes(2));
    dirs.push_back(stale);
  }
  hmr_test::temp_dir dir("hmr-module");
  const std::string path = dir.file("libcounter.so");
  install(built("-DHMR_TEST_VERSION=1"), path);
  {
    hmr::module<test_api> m{path};
    REQUIRE(m.loaded());
    CHECK(fs::exists(m.shadow_directory()));
    // Its own lock is held: another open of .lock cannot take it.
    fd_holder other(::open((m.shadow_directory() + "/.lock").c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(other.fd >= 0);
    CHECK(::flock(other.fd, LOCK_EX | LOCK_NB) == -1);
    CHECK(errno == EWOULDBLOCK);
  }
  for (std::size_t i = 0; i < dirs.size(); ++i) {
    INFO(cases[i].what);
    CHECK(fs::exists(dirs[i]) == !cases[i].removed);
    std::error_code ec;
    fs::remove_all(dirs[i], ec);
  }
}

TEST_CASE("module: a forked child that exits leaves the parent's copies and directory alone", "[module]") {
  hmr_test::temp_dir dir("hmr-module");
  const std::string path = dir.file("libcounter.so");
  const std::string v2 = built("-DHMR_TEST_VERSION=2");
  install(built("-DHMR_TEST_VERSION=1"), path);
  // 0: the child destroys the handle, then exit(); 1: exit() with the handle alive (static
  // destructors only); 2: the child reloads (a directory of its own), then destroys it.
  const int how = GENERATE(0, 1, 2);
  CAPTURE(how);
  auto m = std::make_unique<hmr::module<test_api>>(path);
  REQUIRE(m->loaded());
  CHECK((*m)->increment() == 1);
  const std::string shadow = m->shadow_directory();
  const std::string copy = m->loaded_copy();
  std::fflush(nullptr);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    int code = 0;
    if (how == 2) {
      install(v2, path);
      const hmr::reload_outcome r = m->reload();
      if (!r.ok || (*m)->version() != 2 || (*m)->increment() != 2) code = 2;
      if (m->shadow_directory() == shadow || !fs::exists(copy)) code = 3;
    }
    if (how != 1) m.reset();
    std::exit(code);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(fs::exists(shadow));
  CHECK(fs::exists(copy));
  CHECK(copies(shadow) == 1);
  install(v2, path);
  const hmr::reload_outcome r = m->reload();
  CHECK(r.ok);
  CHECK((*m)->version() == 2);
  CHECK((*m)->increment() == 2);
  CHECK_FALSE(fs::exists(copy));
  CHECK(copies(shadow) == 1);
  m.reset();
  CHECK_FALSE(fs::exists(shadow));
}

TEST_CASE("module: an unusable TMPDIR fails the load without throwing, naming the fix", "[module]") {
  hmr_test::temp_dir dir("hmr-module");
  const std::string path = dir.file("libcounter.so");
  install(built("-DHMR_TEST_VERSION=1"), path);
  const std::string missing = dir.file("no-such-directory");
  const char* saved = std::getenv("TMPDIR");
  const std::optional<std::string> before = saved != nullptr ? std::optional<std::string>(saved) : std::nullopt;
  std::unique_ptr<hmr::module<test_api>> m;
  ::setenv("TMPDIR", missing.c_str(), 1);
  REQUIRE_NOTHROW(m = std::make_unique<hmr::module<test_api>>(path));
  if (before) {
    ::setenv("TMPDIR", before->c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
  CHECK_FALSE(m->loaded());
  CHECK(m->shadow_directory().empty());
  CHECK(m->last_error() == "cannot load " + path + ": cannot create a private directory for shadow copies in " +
                               missing + " (No such file or directory): set TMPDIR to a writable directory");
  CHECK(m->reload().ok);  // TMPDIR is fine again
  CHECK((*m)->version() == 1);
}

TEST_CASE("module: destruction fails a pending reload request at once, saying why", "[module]") {
  hmr_test::temp_dir dir("hmr-module");
  const std::string path = dir.file("libcounter.so");
  install(built("-DHMR_TEST_VERSION=1"), path);
  auto m = std::make_unique<hmr::module<test_api>>(path);
  install(built("-DHMR_TEST_VERSION=2"), path);
  hmr::reload_outcome r;
  std::thread request([&, handle = m.get()] { r = handle->reload(std::chrono::steady_clock::now() + 600s); });
  wait_until([&] { return m->pending(); });  // waiting for a sync() that never comes
  m.reset();  // waits for the request to return, which it does at once
  request.join();
  CHECK_FALSE(r.ok);
  CHECK(r.reason == "the module is being destroyed");
}

TEST_CASE("module: a throwing on_load keeps the old version; a throwing on_unload is reported", "[module]") {
  hmr_test::temp_dir dir("hmr-module");
  const std::string path = dir.file("libcounter.so");
  std::vector<std::string> warnings;
  SECTION("on_load of the new version throws: the swap is undone") {
    install(built("-DHMR_TEST_VERSION=1"), path);
    hmr::module<test_api> m{path, collecting(warnings)};
    CHECK(m->increment() == 1);
    CHECK(m->loads() == 1);
    install(built("-DHMR_TEST_VERSION=2 -DHMR_TEST_THROW_ON_LOAD"), path);
    const hmr::reload_outcome r = m.reload();
    CHECK_FALSE(r.ok);
    CHECK(r.reason == "the on_load hook of the new version of " + path +
                          " threw: on_load refuses (the previous version stays)");
    CHECK(m->version() == 1);
    CHECK(m->loads() == 2);  // its on_unload ran (none here), so its on_load ran again
    CHECK(m->increment() == 2);
    CHECK(m.reload().reason == r.reason + " (the file has not changed since; not retried until it does)");
    CHECK(copies(m.shadow_directory()) == 1);
    CHECK(warnings.empty());
  }
  SECTION("on_load of the first version throws: the handle stays empty") {
    install(built("-DHMR_TEST_VERSION=2 -DHMR_TEST_THROW_ON_LOAD"), path);
    hmr::module<test_api> m{path, collecting(warnings)};
    CHECK_FALSE(m.loaded());
    CHECK(m.last_error() == "the on_load hook of the new version of " + path + " threw: on_load refuses");
    CHECK(copies(m.shadow_directory()) == 0);
  }
  SECTION("on_unload throws at a swap and at destruction: both go on") {
    install(built("-DHMR_TEST_VERSION=3 -DHMR_TEST_THROW_ON_UNLOAD"), path);
    {
      hmr::module<test_api> m{path, collecting(warnings)};
      CHECK(m->increment() == 1);
      install(built("-DHMR_TEST_VERSION=1"), path);
      REQUIRE(m.reload().ok);
      CHECK(m->version() == 1);
      CHECK(m->increment() == 2);
      REQUIRE(warnings.size() == 1);
      CHECK(warnings[0] == "the on_unload hook of the previous version of " + path +
                               " threw an exception that is not a std::exception (the swap went on)");
      install(built("-DHMR_TEST_VERSION=3 -DHMR_TEST_THROW_ON_UNLOAD"), path);
      REQUIRE(m.reload().ok);
      CHECK(m->version() == 3);
    }
    REQUIRE(warnings.size() == 2);
    CHECK(warnings[1] == "the on_unload hook of " + path +
                             " threw an exception that is not a std::exception (unloaded anyway)");
  }
}

TEST_CASE("module: what on_reload throws on the watch thread becomes a warning", "[module]") {
  hmr_test::temp_dir dir("hmr-module");
  const std::string path = dir.file("libcounter.so");
  install(built("-DHMR_TEST_VERSION=1"), path);
  std::mutex mutex;
  std::vector<std::string> warnings;
  std::atomic<int> calls{0};
  hmr::module_options options{
      .mode = hmr::swap_mode::automatic,
      .watch = true,
      .on_reload = [&](const hmr::reload_outcome&) {
        if (++calls > 1) throw std::runtime_error("on_reload is broken");
      },
      .on_warning = [&](std::string_view text) {
        std::lock_guard lock(mutex);
        warnings.emplace_back(text);
      }};
  hmr::module<test_api> m{path, options};
  REQUIRE(calls == 1);
  install(built("-DHMR_TEST_VERSION=2"), path);
  wait_until([&] {
    std::lock_guard lock(mutex);
    return !warnings.empty();
  });
  CHECK(m->version() == 2);
  std::lock_guard lock(mutex);
  CHECK(warnings[0] == "the on_reload callback for " + path + " threw: on_reload is broken");
}

TEST_CASE("module: an automatic request's deadline bounds the wait for a complete image", "[module]") {
  hmr_test::temp_dir dir("hmr-module");
  const std::string path = dir.file("libcounter.so");
  install(built("-DHMR_TEST_VERSION=1"), path);
  // A complete_timeout whose milliseconds overflow an int and whose nanoseconds overflow the clock.
  hmr::module<test_api> m{path, {.mode = hmr::swap_mode::automatic,
                                 .complete_timeout = std::chrono::hours(1'000'000'000)}};
  REQUIRE(m.loaded());
  const std::string v2 = read_bytes(built("-DHMR_TEST_VERSION=2"));
  std::ofstream(path + ".tmp", std::ios::binary).write(v2.data(), static_cast<std::streamsize>(v2.size() / 2));
  fs::rename(path + ".tmp", path);
  const hmr::reload_outcome r = m.reload(std::chrono::steady_clock::now() + 30ms);
  CHECK_FALSE(r.ok);
  const std::string prefix = "the image " + path + " is not complete after ";
  REQUIRE(r.reason.find(prefix) == 0);
  const long waited = std::strtol(r.reason.c_str() + prefix.size(), nullptr, 10);
  CHECK(waited <= 30);
  CHECK(r.reason.find(" ms: the file is ") == prefix.size() + std::to_string(waited).size());
  CHECK(m->version() == 1);
}

// ---------------------------------------------------------------------------------------
// A program under the hybrid strategy: this test binary started again, which loads the
// module named by HMR_MODULE_TEST_APP, says where its copy is, and waits to be stopped
// (no handler for any signal, so its at-exit cleanup never runs).

namespace {

/// The app: loads the module, prints "app loaded <copy>" (or "app failed <why>"), waits.
[[noreturn]] void run_module_app(const char* module) {
  hmr::module<test_api> m{module};
  const std::string line = m.loaded() ? "app loaded " + m.loaded_copy() + "\n" : "app failed " + m.last_error() + "\n";
  [[maybe_unused]] const auto n = ::write(1, line.data(), line.size());
  for (;;) ::pause();  // until a signal ends it
}

/// Before main (and before Catch2 installs its signal handlers): become the app when asked to.
const bool module_app_hook = [] {
  if (const char* module = std::getenv("HMR_MODULE_TEST_APP")) run_module_app(module);
  return false;
}();

/// The program's output lines the strategy reported, with a wait.
class output_log {
 public:
  hmr::strategy_context context() {
    return {.emit = [this](hmr::event e) {
      const std::lock_guard lock(mutex_);
      if (const auto* o = std::get_if<hmr::events::output>(&e)) lines_.push_back(o->line);
      changed_.notify_all();
    }};
  }
  /// The n-th line that starts with "app " (20 s at most; the test fails on timeout).
  std::string need_app_line(std::size_t n) {
    std::unique_lock lock(mutex_);
    std::vector<std::string> app;
    const bool ok = changed_.wait_for(lock, 20s, [&] {
      app.clear();
      for (const std::string& l : lines_)
        if (l.rfind("app ", 0) == 0) app.push_back(l);
      return app.size() >= n;
    });
    INFO("lines so far: " << lines_.size());
    REQUIRE(ok);
    return app[n - 1];
  }

 private:
  std::mutex mutex_{};
  std::condition_variable changed_{};
  std::vector<std::string> lines_{};
};

/// The `hmr-modules-*` entries directly in `dir`.
std::vector<std::string> shadow_dirs(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind("hmr-modules-", 0) == 0) out.push_back(e.path().string());
  return out;
}

/// Sets TMPDIR for the scope, then puts back what was there.
struct tmpdir_override {
  std::optional<std::string> saved{};
  explicit tmpdir_override(const std::string& dir) {
    if (const char* old = std::getenv("TMPDIR")) saved = old;
    ::setenv("TMPDIR", dir.c_str(), 1);
  }
  ~tmpdir_override() {
    if (saved) ::setenv("TMPDIR", saved->c_str(), 1);
    else ::unsetenv("TMPDIR");
  }
  tmpdir_override(const tmpdir_override&) = delete;
  tmpdir_override& operator=(const tmpdir_override&) = delete;
};

}  // namespace

TEST_CASE("module under the hybrid strategy: a program stopped by a signal leaves no shadow copies",
          "[module][hybrid]") {
  const int signal = GENERATE(SIGTERM, SIGKILL);
  INFO("stop signal " << hmr::signal_name(signal));
  hmr_test::temp_dir project("hmr-module");
  const std::string module = project.file("libcounter.so");
  install(built("-DHMR_TEST_VERSION=1"), module);
  hmr_test::temp_dir tmp("hmr-tmpdir");  // the session's own TMPDIR, supervisor's and program's
  const tmpdir_override tmpdir(tmp.path.string());
  output_log log;
  {
    hmr::hybrid_strategy strategy{{
        .run = {fs::read_symlink("/proc/self/exe").string()},
        .working_directory = project.path.string(),
        .environment = {{"HMR_MODULE_TEST_APP", module}},
        .capture_output = true,
        .stop_signal = signal,
        .modules = {module},
    }};
    strategy.start(log.context());
    strategy.submit({.reason = hmr::cycle_reason::initial});
    const std::string first = log.need_app_line(1);
    REQUIRE(first.rfind("app loaded ", 0) == 0);
    const fs::path first_copy = first.substr(std::string("app loaded ").size());
    CHECK(fs::exists(first_copy));  // on disk while the program runs (gdb and perf read it)
    CHECK(first_copy.string().rfind(tmp.path.string() + "/", 0) == 0);
    CHECK(shadow_dirs(tmp.path).size() == 1);

    strategy.submit({.reason = hmr::cycle_reason::manual, .build = false, .restart = true});
    const std::string second = log.need_app_line(2);
    REQUIRE(second.rfind("app loaded ", 0) == 0);
    const fs::path second_copy = second.substr(std::string("app loaded ").size());
    CHECK(fs::exists(second_copy));
    // While it runs, only the running generation's directory exists.
    CHECK_FALSE(fs::exists(first_copy.parent_path()));
    std::size_t program_dirs = 0;
    for (const std::string& session : shadow_dirs(tmp.path)) program_dirs += shadow_dirs(session).size();
    CHECK(program_dirs == 1);
    strategy.stop();
    CHECK_FALSE(fs::exists(second_copy));
  }
  CHECK(shadow_dirs(tmp.path).empty());  // nothing of the session is left
}
