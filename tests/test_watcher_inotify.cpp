// inotify's limits, for real: a queue overflow (the reader paused by a test hook while more
// than fs.inotify.max_queued_events events are queued), the watch limit (through
// watch_options::max_native_watches, which takes the very path ENOSPC takes), and no
// inotify instance at all (EMFILE, simulated by a test hook).
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <hmr/watcher.hpp>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hmr_catch.hpp"
#include "watch_fixture.hpp"

using namespace watch_test;
using enum hmr::change_kind;

namespace {

std::size_t max_queued_events() {
  return static_cast<std::size_t>(
      std::stoul(hmr::detail::read_small_file("/proc/sys/fs/inotify/max_queued_events")));
}

// Blocks the watcher's reader at will (watch_test_hooks::before_read).
struct reader_gate {
  std::mutex m;
  std::condition_variable cv;
  bool armed = false, paused = false, released = false;

  void before_read() {
    std::unique_lock lock(m);
    if (!armed) return;
    armed = false;
    paused = true;
    cv.notify_all();
    cv.wait_for(lock, patience, [&] { return released; });
  }
};

}  // namespace

TEST_CASE("inotify: a queue overflow is rescanned, the differences reported, the user told",
          "[watcher][inotify]") {
  const std::size_t limit = max_queued_events();
  if (limit > 200'000) {
    WARN("fs.inotify.max_queued_events = " << limit << ": too large to overflow in a test");
    return;
  }
  temp_tree tree;
  tree.mkdir("spam");
  tree.write("keep/k.txt", "k");
  tree.write("mod.txt", "m");
  tree.write("gone.txt", "g");
  tree.write("gone_dir/x.txt", "x");
  tree.write("moved_dir/y.txt", "y");
  // The rescan reports files changed since shortly (~10 ms) before the last read that
  // emptied the queue; keep the untouched files clearly older than that.
  std::this_thread::sleep_for(100ms);

  reader_gate gate;
  hmr::watch_options options = backend_options(false);
  options.test_hooks.before_read = [&] { gate.before_read(); };
  recorder rec;
  hmr::inotify_watcher w{tree.root().string(), options};
  w.start(rec.handler());
  REQUIRE(w.wait_ready(patience));
  sync(tree, rec);  // a read that empties the queue, after the files above were written

  {
    std::lock_guard lock(gate.m);
    gate.armed = true;
  }
  tree.write("trigger", "");  // wakes the reader, which pauses before reading
  {
    std::unique_lock lock(gate.m);
    REQUIRE(gate.cv.wait_for(lock, patience, [&] { return gate.paused; }));
  }
  std::vector<hmr::file_change> expected{ch(created, "trigger")};
  const std::size_t files = limit + 1000;  // one IN_CREATE each: more than the queue holds
  for (std::size_t i = 0; i < files; ++i) {
    const std::string rel = "spam/f" + std::to_string(i);
    temp_tree::write_at(tree.path(rel), "", O_WRONLY | O_CREAT);
    expected.push_back(ch(created, rel));
  }
  tree.write("mod.txt", "modified while the queue was full");
  expected.push_back(ch(modified, "mod.txt"));
  std::filesystem::remove(tree.path("gone.txt"));
  std::filesystem::remove_all(tree.path("gone_dir"));
  expected.push_back(ch(removed, "gone.txt"));
  expected.push_back(ch(removed, "gone_dir", true));
  expected.push_back(ch(removed, "gone_dir/x.txt"));
  tree.write("new_dir/inner/z.txt", "z");  // its watch did not exist: only a scan finds it
  expected.push_back(ch(created, "new_dir", true));
  expected.push_back(ch(created, "new_dir/inner", true));
  expected.push_back(ch(created, "new_dir/inner/z.txt"));
  check(::rename(tree.path("moved_dir").c_str(), tree.path("keep/moved").c_str()) == 0, "rename");
  expected.push_back(ch(removed, "moved_dir", true));
  expected.push_back(ch(removed, "moved_dir/y.txt"));
  expected.push_back(ch(created, "keep/moved", true));
  expected.push_back(ch(created, "keep/moved/y.txt"));
  {
    std::lock_guard lock(gate.m);
    gate.released = true;
  }
  gate.cv.notify_all();

  REQUIRE(rec.wait_notice(hmr::watch_notice_kind::overflow));
  const auto raw = sync(tree, rec);
  const auto notices = rec.notices();
  REQUIRE(notices.size() == 2);  // ready, overflow
  CHECK(notices[1].kind == hmr::watch_notice_kind::overflow);
  CHECK(notices[1].message.find("fs.inotify.max_queued_events = " + std::to_string(limit)) !=
        std::string::npos);
  // Each new file is reported created exactly once (from the queue or from the rescan).
  std::size_t created_count = 0;
  for (const auto& c : raw) created_count += c.kind == created && c.path.starts_with("spam/");
  CHECK(created_count == files);
  const auto got = sorted(debounce(raw));
  const auto want = sorted(expected);
  CHECK(got.size() == want.size());
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < std::min(got.size(), want.size()) && mismatches < 5; ++i) {
    if (got[i] == want[i]) continue;
    ++mismatches;
    INFO("got " << describe({got[i]}) << "want " << describe({want[i]}));
    CHECK(got[i] == want[i]);
  }
  // Still watching, the new directories too.
  tree.write("new_dir/inner/z.txt", "again");
  CHECK(debounce(sync(tree, rec)) == std::vector{ch(modified, "new_dir/inner/z.txt")});
}

TEST_CASE("inotify: past the watch limit (here the cap) subtrees are polled, and the user told",
          "[watcher][inotify]") {
  temp_tree tree;
  const std::vector<std::string> dirs{"", "a", "a/a1", "b", "b/b1", "c", "c/c1"};
  for (const auto& d : dirs) tree.write(d.empty() ? "f.txt" : d + "/f.txt", "1");
  hmr::watch_options options = backend_options(false);
  options.max_native_watches = 3;
  recorder rec;
  hmr::inotify_watcher w{tree.root().string(), options};
  w.start(rec.handler());
  REQUIRE(w.wait_ready(patience));

  CHECK(w.stats() == hmr::watch_stats{7, 3, 4, w.stats().startup});
  const auto notices = rec.notices();
  REQUIRE(notices.size() == 2);
  CHECK(notices[0].kind == hmr::watch_notice_kind::watch_limit);
  INFO(notices[0].message);
  CHECK(notices[0].message.find("max_native_watches = 3") != std::string::npos);
  CHECK(notices[0].message.find("fs.inotify.max_user_watches is " +
                                hmr::detail::read_small_file(
                                    "/proc/sys/fs/inotify/max_user_watches")) != std::string::npos);
  CHECK(notices[0].message.find("polled every 20 ms") != std::string::npos);
  CHECK(notices[1].kind == hmr::watch_notice_kind::ready);

  // Every directory still reports, natively or by polling.
  std::vector<hmr::file_change> expected;
  for (const auto& d : dirs) {
    const std::string f = d.empty() ? "f.txt" : d + "/f.txt";
    tree.write(f, "changed");
    expected.push_back(ch(modified, f));
  }
  // A new directory past the cap is polled, and what it holds is reported.
  tree.write("n/m/g.txt", "");
  expected.push_back(ch(created, "n", true));
  expected.push_back(ch(created, "n/m", true));
  expected.push_back(ch(created, "n/m/g.txt"));
  REQUIRE(rec.wait([&](const auto& changes, const auto&) {
    return std::all_of(expected.begin(), expected.end(), [&](const auto& e) {
      return std::any_of(changes.begin(), changes.end(), [&](const auto& c) {
        return c.path == e.path && (c.kind == e.kind || e.kind == modified);
      });
    });
  }));
  const auto got = sorted(debounce(rec.take()));
  INFO(describe(got));
  CHECK(got == sorted(expected));
  CHECK(w.stats() == hmr::watch_stats{9, 3, 6, w.stats().startup});
  REQUIRE(rec.notices().size() == 3);
  CHECK(rec.notices()[2].kind == hmr::watch_notice_kind::watch_limit);
  CHECK(rec.notices()[2].path == "n");
}

TEST_CASE("inotify: without an inotify instance (EMFILE) the root is polled, and the user told",
          "[watcher][inotify]") {
  temp_tree tree;
  tree.write("a/f.txt", "1");
  hmr::watch_options options = backend_options(false);
  options.test_hooks.inotify_init_errno = EMFILE;
  recorder rec;
  hmr::native_watcher w{tree.root().string(), options};
  w.start(rec.handler());
  REQUIRE(w.wait_ready(patience));
  CHECK(w.backend() == "inotify");
  CHECK(w.stats() == hmr::watch_stats{2, 0, 2, w.stats().startup});
  const auto notices = rec.notices();
  REQUIRE(notices.size() == 2);
  CHECK(notices[0].kind == hmr::watch_notice_kind::instance_limit);
  INFO(notices[0].message);
  CHECK(notices[0].message.find("Too many open files") != std::string::npos);
  CHECK(notices[0].message.find(
            "fs.inotify.max_user_instances = " +
            hmr::detail::read_small_file("/proc/sys/fs/inotify/max_user_instances")) !=
        std::string::npos);

  tree.write("a/f.txt", "changed");
  tree.write("b/g.txt", "");
  CHECK(sorted(debounce(sync(tree, rec))) ==
        std::vector{ch(modified, "a/f.txt"), ch(created, "b", true), ch(created, "b/g.txt")});
}

// ---------------------------------------------------------------------------------------
// The watch limit in force and where it comes from (a container's user namespace)

TEST_CASE("identity_uid_map: only the initial namespace's map is the identity", "[watcher][inotify][limit]") {
  using hmr::detail::identity_uid_map;
  CHECK(identity_uid_map("         0          0 4294967295\n"));
  CHECK(identity_uid_map("0 0 4294967295"));
  CHECK_FALSE(identity_uid_map("         0       1000          1\n"));
  CHECK_FALSE(identity_uid_map("0 0 4294967295\n1 1 1\n"));
  CHECK_FALSE(identity_uid_map("0 100000 65536"));
  CHECK_FALSE(identity_uid_map(""));
}

TEST_CASE("watch_limit_text: the limit in force, where it comes from, a hint that fits",
          "[watcher][inotify][limit]") {
  using hmr::detail::watch_limit_text;
  const std::string list = "\"d/8191\", \"d/8192\", \"d/8193\" and 1806 more";
  SECTION("a plain machine: the sysctl") {
    const auto t = watch_limit_text({.system = "65536", .user_namespace = "65536"}, 65536, 3, "20 ms", "\"a\"");
    CHECK(t.message ==
          "the inotify watch limit was reached (fs.inotify.max_user_watches = 65536 per user; 65536 held by "
          "this watcher); 3 subtrees are polled every 20 ms instead, so every change is still seen: \"a\"");
    CHECK(t.hint.rfind("raise the limit: sudo sysctl fs.inotify.max_user_watches=524288", 0) == 0);
  }
  SECTION("a container's user namespace with a lower limit (the issue's case)") {
    const auto t = watch_limit_text({.system = "192530", .user_namespace = "8192", .nested = true}, 8150, 1809,
                                    "1000 ms", list);
    CHECK(t.message ==
          "the inotify watch limit of this user namespace was reached (user.max_inotify_watches = 8192 per "
          "user, below the host's fs.inotify.max_user_watches = 192530; 8150 held by this watcher, the rest by "
          "other programs of this user or a lower limit of a parent namespace); 1809 subtrees are polled every "
          "1000 ms instead, so every change is still seen: " + list);
    CHECK(t.message.find("192530 per user") == std::string::npos);  // not named as the limit hit
    CHECK(t.hint.find("sudo") == std::string::npos);                // no use inside a container
    CHECK(t.hint.find("/proc/sys/user/max_inotify_watches") != std::string::npos);
    CHECK(t.hint.find("the rest is polled") != std::string::npos);
  }
  SECTION("a user namespace whose own limit is higher: the host's sysctl is the one") {
    const auto t = watch_limit_text({.system = "8192", .user_namespace = "2147483647", .nested = true}, 8192, 1,
                                    "20 ms", "\"x\"");
    CHECK(t.message ==
          "the inotify watch limit was reached (the host's fs.inotify.max_user_watches = 8192 per user; 8192 "
          "held by this watcher); 1 subtree is polled every 20 ms instead, so every change is still seen: \"x\"");
    CHECK(t.hint.rfind("the limit is the host's: raise it on the host", 0) == 0);
  }
  SECTION("a container in the initial user namespace (Docker): the host's sysctl") {
    const auto t = watch_limit_text({.system = "8192", .user_namespace = "8192", .container = true}, 8000, 2,
                                    "20 ms", "\"x\"");
    CHECK(t.message.rfind("the inotify watch limit was reached (the host's fs.inotify.max_user_watches = 8192 "
                          "per user; 8000 held by this watcher, the rest by other programs of this user)", 0) == 0);
    CHECK(t.hint.rfind("the limit is the host's", 0) == 0);
  }
  SECTION("unreadable values") {
    const auto t = watch_limit_text({.nested = true}, 10, 1, "20 ms", "\"x\"");
    CHECK(t.message.rfind("the inotify watch limit was reached (the host's fs.inotify.max_user_watches = "
                          "unknown per user; 10 held by this watcher)", 0) == 0);
  }
}

namespace {

/// In a child started by the next test, inside a user namespace whose inotify watch limit
/// is small: watches the tree, prints the watch-limit notice, changes every file, and
/// prints how many changes were seen.
[[noreturn]] void run_limited_watcher(const std::string& root, int files) {
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  hmr::watch_options options = backend_options(false);
  recorder rec;
  hmr::inotify_watcher w{root, options};
  w.start(rec.handler());
  if (!w.wait_ready(patience)) {
    std::printf("not ready\n");
    std::_Exit(2);
  }
  for (const auto& n : rec.notices()) {
    if (n.kind == hmr::watch_notice_kind::watch_limit) std::printf("notice %s\nhint %s\n", n.message.c_str(), n.hint.c_str());
  }
  std::printf("native %zu polled %zu\n", w.stats().native, w.stats().polled);
  for (int i = 0; i < files; ++i) temp_tree::write_at(root + "/d" + std::to_string(i) + "/f.txt", "changed", O_WRONLY | O_TRUNC);
  std::size_t seen = 0;
  rec.wait([&](const auto& changes, const auto&) {
    std::set<std::string> paths;
    for (const auto& c : changes) paths.insert(c.path);
    seen = 0;
    for (int i = 0; i < files; ++i) seen += paths.count("d" + std::to_string(i) + "/f.txt");
    return seen == static_cast<std::size_t>(files);
  });
  std::printf("seen %zu of %d\n", seen, files);
  std::_Exit(0);
}

/// Before main: become that child when asked to.
const bool limited_watcher_hook = [] {
  const char* root = std::getenv("HMR_TEST_LIMITED_WATCHER");
  const char* files = std::getenv("HMR_TEST_LIMITED_FILES");
  if (root != nullptr && files != nullptr) run_limited_watcher(root, std::atoi(files));
  return false;
}();

/// Writes `text` to a /proc file; false when that fails.
bool write_proc(const char* path, const std::string& text) {
  const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

}  // namespace

TEST_CASE("inotify in a user namespace with a low watch limit: a warning names it, every change is seen",
          "[watcher][inotify][limit]") {
  constexpr int limit = 40;
  constexpr int directories = 100;
  temp_tree tree;
  for (int i = 0; i < directories; ++i) tree.write("d" + std::to_string(i) + "/f.txt", "1");
  int out[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const uid_t uid = ::getuid();
  const gid_t gid = ::getgid();
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Single-threaded after fork, as unshare(CLONE_NEWUSER) requires.
    if (::unshare(CLONE_NEWUSER) != 0) std::_Exit(77);
    if (!write_proc("/proc/self/setgroups", "deny") || !write_proc("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
        !write_proc("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1"))
      std::_Exit(78);
    if (!write_proc("/proc/sys/user/max_inotify_watches", std::to_string(limit))) std::_Exit(79);
    ::dup2(out[1], 1);
    ::setenv("HMR_TEST_LIMITED_WATCHER", tree.root().c_str(), 1);
    ::setenv("HMR_TEST_LIMITED_FILES", std::to_string(directories).c_str(), 1);
    ::execl(self.c_str(), self.c_str(), static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  ::close(out[1]);
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = ::read(out[0], buffer, sizeof buffer)) != 0;) {
    if (n > 0) text.append(buffer, static_cast<std::size_t>(n));
    else if (errno != EINTR) break;
  }
  ::close(out[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  if (WEXITSTATUS(status) >= 77 && WEXITSTATUS(status) <= 79) {
    WARN("no user namespace with its own inotify limit here (step " << WEXITSTATUS(status) - 76
                                                                     << " failed): the real run is skipped");
    return;
  }
  INFO(text);
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(text.find("notice the inotify watch limit of this user namespace was reached (user.max_inotify_watches = " +
                  std::to_string(limit) + " per user, below the host's fs.inotify.max_user_watches = " +
                  hmr::detail::read_small_file("/proc/sys/fs/inotify/max_user_watches") + "; ") != std::string::npos);
  CHECK(text.find("hint the limit is set for this container's user namespace by its host") != std::string::npos);
  CHECK(text.find("native " + std::to_string(limit) + " polled " + std::to_string(directories + 1 - limit)) !=
        std::string::npos);
  CHECK(text.find("seen " + std::to_string(directories) + " of " + std::to_string(directories)) != std::string::npos);
}
