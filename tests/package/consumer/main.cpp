// Proves that an installed hmr is usable: every header through the umbrella, and a few
// components doing real work. Prints one line and exits 0 when all is well.
#include <chrono>
#include <cstdio>
#include <hmr/detail/json_reader.hpp>
#include <hmr/detail/json_writer.hpp>
#include <hmr/hmr.hpp>
#include <string>

int main() {
  using namespace std::chrono_literals;
  const auto filter = hmr::default_ignores() | hmr::include_globs{"**/*.cpp"};
  if (!filter.keep("src/main.cpp", false) || filter.keep("build/main.cpp", false)) {
    std::fprintf(stderr, "consumer: the filters decided wrongly\n");
    return 1;
  }

  hmr::debouncer debouncer{50ms};
  const auto start = hmr::debouncer::clock::time_point{};
  debouncer.push({.path = "src/main.cpp", .kind = hmr::change_kind::created}, start);
  debouncer.push({.path = "src/main.cpp", .kind = hmr::change_kind::modified}, start + 1ms);
  const auto batch = debouncer.poll(start + 51ms);
  if (!batch || batch->size() != 1 || batch->changes[0].kind != hmr::change_kind::created) {
    std::fprintf(stderr, "consumer: the debouncer did not coalesce create+modify\n");
    return 1;
  }

  std::string line;
  hmr::json_writer json{line};
  json.begin_object();
  json.member("event", hmr::event_name(hmr::events::change{.batch = *batch}));
  json.member("path", batch->changes[0].path);
  json.end_object();
  const auto parsed = hmr::parse_json(line);
  if (!parsed || parsed->get_string_or("path", "") != "src/main.cpp") {
    std::fprintf(stderr, "consumer: JSON did not round-trip: %s\n", line.c_str());
    return 1;
  }
  std::printf("hmr %s consumer ok: %s\n", hmr::version_string, line.c_str());
  return 0;
}
