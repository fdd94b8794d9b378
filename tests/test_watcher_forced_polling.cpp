// HMR_FORCE_POLLING makes native_watcher poll, whatever the options say: the fallback is
// always testable. (Its own executable, so the macro applies to every use of the header.)
#define HMR_FORCE_POLLING 1
#include <hmr/watcher.hpp>

#include "hmr_catch.hpp"
#include "watch_fixture.hpp"

using namespace watch_test;

TEST_CASE("HMR_FORCE_POLLING: native_watcher polls", "[watcher]") {
  temp_tree tree;
  recorder rec;
  hmr::native_watcher w{tree.root().string(), backend_options(false)};
  CHECK(w.backend() == "poll");
  w.start(rec.handler());
  REQUIRE(w.wait_ready(patience));
  CHECK(w.stats() == hmr::watch_stats{1, 0, 1, w.stats().startup});
  tree.write("a.txt", "a");
  CHECK(debounce(sync(tree, rec)) == std::vector{ch(hmr::change_kind::created, "a.txt")});
}
