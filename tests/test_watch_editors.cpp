// Editors' save sequences, replayed with the system calls each editor makes, through the
// watcher, the default ignores (applied the way the orchestrator does, filter_changes) and
// the debouncer: every one must come out as exactly `modified <target>`, for both backends,
// and the target must still be watched afterwards.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <hmr/debouncer.hpp>
#include <hmr/filters.hpp>
#include <hmr/watcher.hpp>
#include <string>
#include <vector>

#include "hmr_catch.hpp"
#include "watch_fixture.hpp"

using namespace watch_test;

namespace {

constexpr std::string_view target = "src/main.cpp";

// One editor's save of `target` (a path in `tree`), with its own system calls.
struct editor {
  const char* name;
  std::function<void(const temp_tree&)> setup;  // before the watcher starts (backups, swap files)
  std::function<void(const temp_tree&)> save;
};

void do_rename(const temp_tree& t, std::string_view from, std::string_view to) {
  check(::rename(t.path(from).c_str(), t.path(to).c_str()) == 0, "rename");
}
void do_unlink(const temp_tree& t, std::string_view path) {
  check(::unlink(t.path(path).c_str()) == 0, "unlink");
}
void do_link(const temp_tree& t, std::string_view from, std::string_view to) {
  check(::link(t.path(from).c_str(), t.path(to).c_str()) == 0, "link");
}
// open + write + fsync + close with these flags, as editors do.
void do_write(const temp_tree& t, std::string_view path, std::string_view text, int flags) {
  temp_tree::write_at(t.path(path), text, flags, true);
}
constexpr int create_new = O_WRONLY | O_CREAT | O_EXCL;
constexpr int truncate = O_WRONLY | O_CREAT | O_TRUNC;

const std::vector<editor>& editors() {
  static const std::vector<editor> all{
      {"vim (writebackup: test file, rename to backup, write new, delete backup)",
       [](const temp_tree& t) { t.write("src/.main.cpp.swp", "swap"); },
       [](const temp_tree& t) {
         do_write(t, "src/4913", "", create_new);  // can the directory be written?
         do_unlink(t, "src/4913");
         do_write(t, "src/.main.cpp.swp", "swap, updated", O_WRONLY);
         do_rename(t, target, "src/main.cpp~");
         do_write(t, target, "int main() { return 1; }\n", create_new);
         do_unlink(t, "src/main.cpp~");
       }},
      {"vim backupcopy=yes (copy to backup, rewrite in place)", nullptr,
       [](const temp_tree& t) {
         do_write(t, "src/main.cpp~", "int main() {}\n", create_new);
         do_write(t, target, "int main() { return 2; }\n", O_WRONLY | O_TRUNC);
         do_unlink(t, "src/main.cpp~");
       }},
      {"sed -i (temp file in the same directory, renamed over the target)", nullptr,
       [](const temp_tree& t) {
         do_write(t, "src/sedAbC123", "int main() { return 3; }\n", create_new);
         check(::chmod(t.path("src/sedAbC123").c_str(), 0644) == 0, "chmod");
         do_rename(t, "src/sedAbC123", target);
       }},
      {"VS Code (truncate and write in place)", nullptr,
       [](const temp_tree& t) { do_write(t, target, "int main() { return 4; }\n", truncate); }},
      {"JetBrains safe write (temp, original renamed away, temp renamed in, original deleted)",
       nullptr,
       [](const temp_tree& t) {
         do_write(t, "src/main.cpp___jb_tmp___", "int main() { return 5; }\n", create_new);
         do_rename(t, target, "src/main.cpp___jb_old___");
         do_rename(t, "src/main.cpp___jb_tmp___", target);
         do_unlink(t, "src/main.cpp___jb_old___");
       }},
      {"emacs first save (lock file, backup by rename, write new)", nullptr,
       [](const temp_tree& t) {
         check(::symlink("user@host.1234:1", t.path("src/.#main.cpp").c_str()) == 0, "symlink");
         do_rename(t, target, "src/main.cpp~");
         do_write(t, target, "int main() { return 6; }\n", create_new);
         do_unlink(t, "src/.#main.cpp");
       }},
      {"emacs with an old backup (renamed over it)",
       [](const temp_tree& t) { t.write("src/main.cpp~", "older"); },
       [](const temp_tree& t) {
         do_rename(t, target, "src/main.cpp~");
         do_write(t, target, "int main() { return 7; }\n", create_new);
       }},
      {"gedit / GIO (.goutputstream temp renamed over the target)", nullptr,
       [](const temp_tree& t) {
         do_write(t, "src/.goutputstream-XYZ123", "int main() { return 8; }\n", create_new);
         do_rename(t, "src/.goutputstream-XYZ123", target);
       }},
      {"hard link swap (unlink target, link the new file in, unlink the new name)", nullptr,
       [](const temp_tree& t) {
         do_write(t, "src/main.cpp.new", "int main() { return 9; }\n", create_new);
         do_unlink(t, target);
         do_link(t, "src/main.cpp.new", target);
         do_unlink(t, "src/main.cpp.new");
       }},
      {"temp file written outside the tree, moved over the target", nullptr,
       [](const temp_tree& t) {
         temp_tree outside;
         temp_tree::write_at(outside.path("staged"), "int main() { return 10; }\n", create_new,
                             true);
         check(::rename(outside.path("staged").c_str(), t.path(target).c_str()) == 0, "rename");
       }},
  };
  return all;
}

}  // namespace

TEST_CASE("editors: every save sequence is `modified <target>` after filtering and debouncing",
          "[watcher][editors]") {
  const bool polling = GENERATE(false, true);
  const std::size_t which = GENERATE(range(std::size_t{0}, editors().size()));
  const editor& e = editors()[which];
  CAPTURE(polling, e.name);

  temp_tree tree;
  tree.write(target, "int main() {}\n");
  tree.age(target);
  tree.write("src/other.cpp", "");
  if (e.setup) e.setup(tree);
  hmr::watch_options options = backend_options(polling);
  options.directory_filter = hmr::default_ignores();
  recorder rec;
  hmr::native_watcher w{tree.root().string(), options};
  w.start(rec.handler());
  REQUIRE(w.wait_ready(patience));

  e.save(tree);
  auto raw = sync(tree, rec);
  INFO("raw:\n" << describe(raw));
  hmr::filter_changes(raw, hmr::default_ignores());
  const auto batch = debounce(raw);
  INFO("debounced:\n" << describe(batch));
  CHECK(batch == std::vector{ch(hmr::change_kind::modified, std::string(target))});

  // The watch survived the save.
  tree.write(target, "int main() { return 42; }\n");
  CHECK(debounce(sync(tree, rec)) ==
        std::vector{ch(hmr::change_kind::modified, std::string(target))});
}

TEST_CASE(
    "editors (inotify): a rename onto an existing file is `removed <temp>` + `modified <target>`",
    "[watcher][editors]") {
  temp_tree tree;
  tree.write("t.txt", "old");
  recorder rec;
  hmr::inotify_watcher w{tree.root().string(), backend_options(false)};
  w.start(rec.handler());
  REQUIRE(w.wait_ready(patience));

  do_write(tree, "tmp", "new", create_new);
  do_rename(tree, "tmp", "t.txt");
  const auto raw = sync(tree, rec);
  INFO(describe(raw));
  REQUIRE(raw.size() >= 3);
  CHECK(raw.front() == ch(hmr::change_kind::created, "tmp"));
  CHECK(raw[raw.size() - 2] == ch(hmr::change_kind::removed, "tmp"));
  CHECK(raw.back() == ch(hmr::change_kind::modified, "t.txt"));
}
