#include <hmr/events.hpp>
#include <set>
#include <string>

#include "hmr_catch.hpp"

TEST_CASE("every lifecycle event has the name the JSON schema documents", "[events]") {
  using namespace hmr::events;
  CHECK(hmr::event_name(watching{}) == "watching");
  CHECK(hmr::event_name(change{}) == "change");
  CHECK(hmr::event_name(build_started{}) == "build_start");
  CHECK(hmr::event_name(build_finished{}) == "build_end");
  CHECK(hmr::event_name(process_started{}) == "process_start");
  CHECK(hmr::event_name(process_exited{}) == "process_exit");
  CHECK(hmr::event_name(reload_started{}) == "reload_start");
  CHECK(hmr::event_name(reload_finished{}) == "reload_end");
  CHECK(hmr::event_name(output{}) == "output");
  CHECK(hmr::event_name(error{}) == "error");
  CHECK(hmr::event_name(stopped{}) == "stopped");
}

TEST_CASE("event names are unique across the variant", "[events]") {
  std::set<std::string> names;
  [&]<std::size_t... i>(std::index_sequence<i...>) {
    (names.emplace(std::variant_alternative_t<i, hmr::event>::name), ...);
  }
  (std::make_index_sequence<std::variant_size_v<hmr::event>>{});
  CHECK(names.size() == std::variant_size_v<hmr::event>);
}

TEST_CASE("change kinds print as their JSON names", "[events]") {
  CHECK(hmr::to_string(hmr::change_kind::created) == "created");
  CHECK(hmr::to_string(hmr::change_kind::modified) == "modified");
  CHECK(hmr::to_string(hmr::change_kind::removed) == "removed");
  CHECK(hmr::to_string(hmr::change_kind::renamed) == "renamed");
}

TEST_CASE("an exit status says what a user wants to read", "[events]") {
  CHECK(hmr::exit_status{.code = 0}.success());
  CHECK_FALSE(hmr::exit_status{.code = 3}.success());
  CHECK(hmr::exit_status{.code = 3}.describe() == "exit code 3");
  CHECK_FALSE(hmr::exit_status{.signal = 11, .signal_name = "SIGSEGV"}.success());
  CHECK(hmr::exit_status{.signal = 11, .signal_name = "SIGSEGV"}.describe() == "SIGSEGV");
  CHECK(hmr::exit_status{.signal = 42}.describe() == "signal 42");
}

TEST_CASE("a batch iterates over its changes in order", "[events]") {
  hmr::change_batch batch{{
      {.path = "src/a.cpp", .kind = hmr::change_kind::modified},
      {.path = "src/b.cpp", .kind = hmr::change_kind::renamed, .old_path = "src/old.cpp"},
  }};
  REQUIRE(batch.size() == 2);
  CHECK_FALSE(batch.empty());
  std::string seen;
  for (const auto& c : batch) seen += c.path + ";";
  CHECK(seen == "src/a.cpp;src/b.cpp;");
  CHECK(hmr::change_batch{}.empty());
  CHECK(batch == hmr::change_batch{batch});
}
