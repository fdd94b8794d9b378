// inotify's limits, for real: a queue overflow (the reader paused by a test hook while more
// than fs.inotify.max_queued_events events are queued), the watch limit (through
// watch_options::max_native_watches, which takes the very path ENOSPC takes), and no
// inotify instance at all (EMFILE, simulated by a test hook).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
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
