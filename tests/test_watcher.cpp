// The watcher's behaviour, run against both backends (inotify, and polling every 20 ms):
// real files in a temporary directory, synchronised on sentinel files, never on sleeps.
// Editor saves: test_watch_editors.cpp. inotify's limits and overflow: test_watcher_inotify.cpp.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <hmr/watcher.hpp>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "hmr_catch.hpp"
#include "watch_fixture.hpp"

using namespace watch_test;
using enum hmr::change_kind;

// Compares two change lists, printing both on failure.
#define CHECK_CHANGES(actual, ...)                                        \
  do {                                                                    \
    const std::vector<hmr::file_change> got_ = (actual);                  \
    const std::vector<hmr::file_change> want_ = __VA_ARGS__;              \
    INFO("got:\n" << describe(got_) << "expected:\n" << describe(want_)); \
    CHECK(got_ == want_);                                                 \
  } while (false)

static_assert(hmr::watcher<hmr::native_watcher>);
static_assert(hmr::watcher<hmr::poll_watcher>);
static_assert(hmr::watcher<hmr::inotify_watcher>);
static_assert(!hmr::watcher<int>);

TEST_CASE("watcher: files created, modified and removed", "[watcher]") {
  const bool polling = GENERATE(false, true);
  CAPTURE(polling);
  temp_tree tree;
  recorder rec;
  hmr::native_watcher w{tree.root().string(), backend_options(polling)};
  CHECK(w.backend() == (polling ? "poll" : "inotify"));
  w.start(rec.handler());
  REQUIRE(w.wait_ready(patience));

  tree.write("a.txt", "one");
  CHECK_CHANGES(debounce(sync(tree, rec)), {ch(created, "a.txt")});
  tree.write("a.txt", "two, longer");
  CHECK_CHANGES(debounce(sync(tree, rec)), {ch(modified, "a.txt")});
  std::filesystem::remove(tree.path("a.txt"));
  CHECK_CHANGES(debounce(sync(tree, rec)), {ch(removed, "a.txt")});
  // Raw, a new file starts with `created`.
  tree.write("b.txt", "x");
  const auto raw = sync(tree, rec);
  REQUIRE_FALSE(raw.empty());
  CHECK(raw.front() == ch(created, "b.txt"));
}

TEST_CASE("watcher: directories created at once lose nothing (mkdir -p a/b/c && touch a/b/c/f)",
          "[watcher]") {
  const bool polling = GENERATE(false, true);
  CAPTURE(polling);
  temp_tree tree;
  recorder rec;
  hmr::native_watcher w{tree.root().string(), backend_options(polling)};
  w.start(rec.handler());
  REQUIRE(w.wait_ready(patience));

  std::vector<hmr::file_change> expected;
  for (int k = 0; k < 20; ++k) {  // 20 races between a new directory and its watch
    const std::string a = "d" + std::to_string(k), b = a + "/b", c = b + "/c", f = c + "/f";
    for (const auto& d : {a, b, c}) check(::mkdir(tree.path(d).c_str(), 0755) == 0, "mkdir");
    temp_tree::write_at(tree.path(f), "", O_WRONLY | O_CREAT);
    for (const auto& d : {a, b, c}) expected.push_back(ch(created, d, true));
    expected.push_back(ch(created, f));
  }
  CHECK_CHANGES(sorted(debounce(sync(tree, rec))), sorted(expected));
  // The new directories are watched.
  tree.write("d7/b/c/g", "");
  tree.write("d7/b/h", "");
  CHECK_CHANGES(sorted(debounce(sync(tree, rec))),
                {ch(created, "d7/b/c/g"), ch(created, "d7/b/h")});
}

TEST_CASE("watcher: renames report the old and the new path", "[watcher]") {
  const bool polling = GENERATE(false, true);
  CAPTURE(polling);
  temp_tree tree;
  tree.write("a.txt", "a");
  tree.mkdir("sub");
  recorder rec;
  hmr::native_watcher w{tree.root().string(), backend_options(polling)};
  w.start(rec.handler());
  REQUIRE(w.wait_ready(patience));

  check(::rename(tree.path("a.txt").c_str(), tree.path("b.txt").c_str()) == 0, "rename");
  CHECK_CHANGES(sync(tree, rec), {ch(renamed, "b.txt", false, "a.txt")});
  check(::rename(tree.path("b.txt").c_str(), tree.path("sub/c.txt").c_str()) == 0, "rename");
  CHECK_CHANGES(sync(tree, rec), {ch(renamed, "sub/c.txt", false, "b.txt")});
}

TEST_CASE("watcher: a directory renamed within the tree keeps being watched under its new path",
          "[watcher]") {
  const bool polling = GENERATE(false, true);
  CAPTURE(polling);
  temp_tree tree;
  tree.mkdir("d/e/f");
  tree.write("d/e/x.txt", "x");
  recorder rec;
  hmr::native_watcher w{tree.root().string(), backend_options(polling)};
  w.start(rec.handler());
  REQUIRE(w.wait_ready(patience));

  check(::rename(tree.path("d").c_str(), tree.path("r").c_str()) == 0, "rename");
  CHECK_CHANGES(sync(tree, rec), {ch(renamed, "r", true, "d")});
  tree.write("r/e/x.txt", "changed");
  tree.write("r/e/f/new.txt", "");
  CHECK_CHANGES(sorted(debounce(sync(tree, rec))),
                {ch(created, "r/e/f/new.txt"), ch(modified, "r/e/x.txt")});
  // Renamed again, into another directory: every watch below follows.
  tree.mkdir("deep");
  CHECK_CHANGES(sync(tree, rec), {ch(created, "deep", true)});
  check(::rename(tree.path("r").c_str(), tree.path("deep/r2").c_str()) == 0, "rename");
  tree.write("deep/r2/e/f/new.txt", "more");
  CHECK_CHANGES(debounce(sync(tree, rec)),
                {ch(renamed, "deep/r2", true, "r"), ch(modified, "deep/r2/e/f/new.txt")});
}

TEST_CASE("watcher: a directory moved into a directory just created is watched there",
          "[watcher]") {
  // mkdir n && mv d n/d: the move can happen before n's watch exists, so no IN_MOVED_TO is
  // ever queued; the scan of n finds d, whose watch (same inode) moves to the new node.
  const bool polling = GENERATE(false, true);
  CAPTURE(polling);
  temp_tree tree;
  tree.write("d/e/x.txt", "x");
  recorder rec;
  hmr::native_watcher w{tree.root().string(), backend_options(polling)};
  w.start(rec.handler());
  REQUIRE(w.wait_ready(patience));

  for (int k = 0; k < 10; ++k) {
    const std::string from = k == 0 ? "d" : "n" + std::to_string(k - 1) + "/d";
    const std::string dir = "n" + std::to_string(k);
    check(::mkdir(tree.path(dir).c_str(), 0755) == 0, "mkdir");
    check(::rename(tree.path(from).c_str(), tree.path(dir + "/d").c_str()) == 0, "rename");
    const auto got = debounce(sync(tree, rec));
    INFO(describe(got));
    // Either a rename, or (the race) removed at the old place and created at the new one.
    const bool renamed_dir = got.size() == 2 && got[1] == ch(renamed, dir + "/d", true, from);
    const auto created_dir = std::find(got.begin(), got.end(), ch(created, dir + "/d", true));
    const auto created_file = std::find(got.begin(), got.end(), ch(created, dir + "/d/e/x.txt"));
    const auto removed_dir = std::find(got.begin(), got.end(), ch(removed, from, true));
    CHECK(got.front() == ch(created, dir, true));
    CHECK((renamed_dir ||
           (created_dir != got.end() && created_file != got.end() && removed_dir != got.end())));
    tree.write(dir + "/d/e/x.txt", "still watched " + std::to_string(k));
    CHECK_CHANGES(debounce(sync(tree, rec)), {ch(modified, dir + "/d/e/x.txt")});
  }
}

TEST_CASE("watcher: a move out of the tree is a removal, a move into it a creation", "[watcher]") {
  const bool polling = GENERATE(false, true);
  CAPTURE(polling);
  temp_tree tree, outside;
  tree.write("x/y.txt", "y");
  outside.write("o/p/q.txt", "q");
  recorder rec;
  hmr::native_watcher w{tree.root().string(), backend_options(polling)};
  w.start(rec.handler());
  REQUIRE(w.wait_ready(patience));

  check(::rename(tree.path("x").c_str(), outside.path("x").c_str()) == 0, "rename out");
  CHECK_CHANGES(sorted(debounce(sync(tree, rec))),
                {ch(removed, "x", true), ch(removed, "x/y.txt")});
  check(::rename(outside.path("o").c_str(), tree.path("o").c_str()) == 0, "rename in");
  CHECK_CHANGES(sorted(debounce(sync(tree, rec))),
                {ch(created, "o", true), ch(created, "o/p", true), ch(created, "o/p/q.txt")});
  tree.write("o/p/q.txt", "watched");
  CHECK_CHANGES(debounce(sync(tree, rec)), {ch(modified, "o/p/q.txt")});
}

TEST_CASE("watcher: directories the filter drops are never watched nor reported", "[watcher]") {
  const bool polling = GENERATE(false, true);
  CAPTURE(polling);
  temp_tree tree;
  for (int i = 0; i < 20; ++i)
    tree.write("build/obj" + std::to_string(i % 4) + "/f" + std::to_string(i), "");
  tree.write("src/a.cpp", "a");
  tree.age("src/a.cpp");
  hmr::watch_options options = backend_options(polling);
  options.directory_filter = hmr::default_ignores();
  recorder rec;
  hmr::native_watcher w{tree.root().string(), options};
  w.start(rec.handler());
  REQUIRE(w.wait_ready(patience));
  const hmr::watch_stats two{2, polling ? 0U : 2U, polling ? 2U : 0U, {}};
  CHECK(w.stats().directories == two.directories);
  CHECK(w.stats().native == two.native);
  CHECK(w.stats().polled == two.polled);

  tree.write("build/obj0/f0", "rebuilt");
  tree.write("build/new/deep/z.o", "");
  tree.write("node_modules/pkg/index.js", "");
  tree.write("src/a.cpp", "edited");
  CHECK_CHANGES(debounce(sync(tree, rec)), {ch(modified, "src/a.cpp")});
  CHECK(w.stats().directories == 2);
}

TEST_CASE("watcher: symlinks are not followed unless asked, and loops are cut", "[watcher]") {
  const bool polling = GENERATE(false, true);
  const bool follow = GENERATE(false, true);
  CAPTURE(polling, follow);
  temp_tree tree, ext;
  ext.write("f.txt", "f");
  ext.age("f.txt");
  check(::symlink(ext.root().c_str(), tree.path("link").c_str()) == 0, "symlink");
  check(::symlink(".", tree.path("loop").c_str()) == 0, "symlink");  // the root itself
  hmr::watch_options options = backend_options(polling);
  options.follow_symlinks = follow;
  recorder rec;
  hmr::native_watcher w{tree.root().string(), options};
  w.start(rec.handler());
  REQUIRE(w.wait_ready(patience));
  CHECK(w.stats().directories == (follow ? 2U : 1U));

  ext.write("f.txt", "changed");
  if (follow) {
    CHECK_CHANGES(debounce(sync(tree, rec)), {ch(modified, "link/f.txt")});
  } else {
    CHECK_CHANGES(debounce(sync(tree, rec)), {});
  }
}

TEST_CASE("watcher: ready comes first, with the counts", "[watcher]") {
  const bool polling = GENERATE(false, true);
  CAPTURE(polling);
  temp_tree tree;
  tree.write("a/b/f.txt", "");
  tree.write("c/g.txt", "");
  tree.write("h.txt", "");
  recorder rec;
  hmr::native_watcher w{tree.root().string(), backend_options(polling)};
  w.start(rec.handler());
  REQUIRE(w.wait_ready(patience));
  const auto notices = rec.notices();
  REQUIRE(notices.size() == 1);
  CHECK(notices[0].kind == hmr::watch_notice_kind::ready);
  CHECK(notices[0].stats.directories == 4);
  CHECK(notices[0].stats.native == (polling ? 0U : 4U));
  CHECK(notices[0].stats.polled == (polling ? 4U : 0U));
  CHECK(notices[0].stats == w.stats());
  CHECK(rec.take().empty());  // the initial contents are not reported
  CHECK(w.running());
}

TEST_CASE("watcher: a removed root is picked up again when re-created", "[watcher]") {
  const bool polling = GENERATE(false, true);
  CAPTURE(polling);
  temp_tree tree;
  tree.write("proj/f.txt", "");
  tree.write("proj/d/g.txt", "");
  const std::string proj = tree.path("proj");
  recorder rec;
  hmr::native_watcher w{proj, backend_options(polling)};
  w.start(rec.handler());
  REQUIRE(w.wait_ready(patience));

  std::filesystem::remove_all(proj);
  REQUIRE(rec.wait_notice(hmr::watch_notice_kind::root_missing));
  CHECK_CHANGES(sorted(debounce(rec.take())),
                {ch(removed, "d", true), ch(removed, "d/g.txt"), ch(removed, "f.txt")});
  const auto missing = rec.notices().back();
  CHECK(missing.message.find(proj) != std::string::npos);

  tree.write("proj/new.txt", "");
  REQUIRE(rec.wait_notice(hmr::watch_notice_kind::root_restored));
  // new.txt came before or after the root's new watch: either way it is reported once.
  CHECK_CHANGES(debounce(sync(proj, rec)), {ch(created, "new.txt")});
  temp_tree::write_at(proj + "/new.txt", "watched again", O_WRONLY | O_TRUNC);
  CHECK_CHANGES(debounce(sync(proj, rec)), {ch(modified, "new.txt")});
}

TEST_CASE("watcher: a root missing at start is waited for", "[watcher]") {
  const bool polling = GENERATE(false, true);
  CAPTURE(polling);
  temp_tree tree;
  recorder rec;
  hmr::native_watcher w{tree.path("later"), backend_options(polling)};
  w.start(rec.handler());
  REQUIRE(w.wait_ready(patience));
  const auto notices = rec.notices();
  REQUIRE(notices.size() == 2);
  CHECK(notices[0].kind == hmr::watch_notice_kind::root_missing);
  CHECK(notices[0].message.find("does not exist") != std::string::npos);
  CHECK(notices[1].kind == hmr::watch_notice_kind::ready);
  CHECK(w.stats().directories == 0);

  tree.write("later/a.txt", "");
  REQUIRE(rec.wait_notice(hmr::watch_notice_kind::root_restored));
  REQUIRE(rec.wait_change("a.txt", created));
  CHECK(w.stats().directories == 1);
}

TEST_CASE("watcher: several roots, each change tagged with its root", "[watcher]") {
  const bool polling = GENERATE(false, true);
  CAPTURE(polling);
  temp_tree r0, r1;
  r0.write("a.txt", "a");
  recorder rec;
  hmr::native_watcher w{std::vector<std::string>{r0.root().string(), r1.root().string()},
                        backend_options(polling)};
  CHECK(w.roots().size() == 2);
  w.start(rec.handler());
  REQUIRE(w.wait_ready(patience));
  CHECK(w.stats().directories == 2);

  r1.write("b.txt", "b");
  check(::rename(r0.path("a.txt").c_str(), r1.path("a.txt").c_str()) == 0, "rename");
  auto got = sync(r0, rec);
  for (auto& c : sync(r1, rec)) got.push_back(c);
  CHECK_CHANGES(sorted(debounce(got)),
                {ch(removed, "a.txt", false, {}, 0), ch(created, "a.txt", false, {}, 1),
                 ch(created, "b.txt", false, {}, 1)});
}

TEST_CASE("watcher (poll): a same-size rewrite with the same mtime is still seen", "[watcher]") {
  temp_tree tree;
  tree.write("a.txt", "aaaa");
  tree.age("a.txt");
  recorder rec;
  hmr::poll_watcher w{tree.root().string(), backend_options(true)};
  w.start(rec.handler());
  REQUIRE(w.wait_ready(patience));

  temp_tree::write_at(tree.path("a.txt"), "bbbb", O_WRONLY | O_TRUNC);
  tree.age("a.txt");  // same size, same mtime as before: the ctime tells
  CHECK_CHANGES(sync(tree, rec), {ch(modified, "a.txt")});
}

// --- lifecycle ---

TEST_CASE("watcher: stop() from the handler ends the calls at once", "[watcher]") {
  const bool polling = GENERATE(false, true);
  CAPTURE(polling);
  temp_tree tree;
  hmr::native_watcher w{tree.root().string(), backend_options(polling)};
  std::mutex m;
  std::condition_variable cv;
  int calls = 0;
  w.start({.changes =
               [&](std::vector<hmr::file_change>&&) {
                 w.stop();  // returns at once
                 std::lock_guard lock(m);
                 ++calls;
                 cv.notify_all();
               },
           .notice = {}});
  REQUIRE(w.wait_ready(patience));
  tree.write("a.txt", "");
  {
    std::unique_lock lock(m);
    REQUIRE(cv.wait_for(lock, patience, [&] { return calls > 0; }));
  }
  for (int i = 0; i < 10; ++i) tree.write("more" + std::to_string(i), "");
  w.stop();  // joins
  CHECK_FALSE(w.running());
  CHECK(calls == 1);
  // It can be started again.
  recorder rec;
  w.start(rec.handler());
  REQUIRE(w.wait_ready(patience));
  tree.write("again.txt", "");
  CHECK(rec.wait_change("again.txt", created));
}

TEST_CASE("watcher: stop() during the initial scan", "[watcher]") {
  const bool polling = GENERATE(false, true);
  CAPTURE(polling);
  temp_tree tree;
  for (int i = 0; i < 40; ++i) tree.mkdir("d" + std::to_string(i) + "/e");

  SECTION("from the watcher's own thread: the scan ends at that directory") {
    hmr::native_watcher* self = nullptr;
    int listed = 0;
    hmr::watch_options options = backend_options(polling);
    options.test_hooks.on_directory = [&](std::string_view, const std::atomic<bool>&) {
      if (++listed == 10) self->stop();
    };
    hmr::native_watcher w{tree.root().string(), options};
    self = &w;
    recorder rec;
    w.start(rec.handler());
    CHECK_FALSE(w.wait_ready(patience));  // it stopped before being ready
    w.stop();
    CHECK(listed == 10);
    CHECK(rec.notices().empty());
  }
  SECTION("from another thread: the scan ends at the directory being listed") {
    std::atomic<int> listed{0};
    std::atomic<bool> scanning{false};
    hmr::watch_options options = backend_options(polling);
    options.test_hooks.on_directory = [&](std::string_view, const std::atomic<bool>& stopping) {
      if (++listed != 1) return;
      scanning = true;
      // Holds the scan at its first directory until stop() has been called.
      const auto give_up = std::chrono::steady_clock::now() + patience;
      while (!stopping && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
    };
    hmr::native_watcher w{tree.root().string(), options};
    recorder rec;
    w.start(rec.handler());
    while (!scanning) std::this_thread::yield();
    w.stop();
    CHECK_FALSE(w.running());
    CHECK(listed == 1);
    CHECK(rec.notices().empty());
  }
}

TEST_CASE("watcher: 1,000 start/stop cycles leak no descriptor and no thread", "[watcher]") {
  const bool polling = GENERATE(false, true);
  CAPTURE(polling);
  temp_tree tree;
  tree.write("a/b/c.txt", "");
  const std::size_t fds = count_entries("/proc/self/fd");
  const std::size_t threads = count_entries("/proc/self/task");
  {
    hmr::native_watcher reused{tree.root().string(), backend_options(polling)};
    for (int i = 0; i < 1000; ++i) {
      if (i % 2 == 0) {  // the same watcher restarted
        reused.start({});
        if (i % 4 == 0) CHECK(reused.wait_ready(patience));
        reused.stop();
      } else {  // a new one, destroyed while running
        hmr::native_watcher fresh{tree.root().string(), backend_options(polling)};
        fresh.start({});
        if (i % 4 == 1) CHECK(fresh.wait_ready(patience));
      }
    }
  }
  CHECK(count_entries("/proc/self/fd") == fds);
  CHECK(count_entries("/proc/self/task") == threads);
}

TEST_CASE("watcher: no root, or an interval that is not positive, is a programmer error",
          "[watcher]") {
  CHECK_THROWS_AS(hmr::native_watcher(std::vector<std::string>{}), std::invalid_argument);
  hmr::watch_options options;
  options.poll_interval = 0ms;
  CHECK_THROWS_AS(hmr::poll_watcher(".", options), std::invalid_argument);
}

TEST_CASE("watcher: moved while running, started twice, destroyed running", "[watcher]") {
  temp_tree tree;
  recorder rec;
  hmr::native_watcher a{tree.root().string(), backend_options(false)};
  a.start(rec.handler());
  REQUIRE(a.wait_ready(patience));
  hmr::native_watcher b = std::move(a);
  CHECK_THROWS_AS(b.start({}), std::logic_error);
  tree.write("x.txt", "");
  CHECK(rec.wait_change("x.txt", created));
  CHECK(b.running());
}
