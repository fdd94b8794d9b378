// Throughput of the JSON writer (presenter events, string escaping) and reader.
// Build: g++ -std=c++20 -O2 -DNDEBUG -Iinclude tests/bench/bench_json.cpp -lbenchmark -lpthread
#include <benchmark/benchmark.h>

#include <cstdint>
#include <hmr/detail/json_reader.hpp>
#include <hmr/detail/json_writer.hpp>
#include <string>
#include <string_view>

namespace {

// A typical JSON-lines presenter event: ten fields, three paths.
void write_event(std::string& out, std::int64_t seq) {
  hmr::json_writer w{out};
  w.begin_object();
  w.member("event", "change");
  w.member("time", "2024-05-01T12:00:00.123456Z");
  w.member("seq", seq);
  w.member("root", 0);
  w.key("paths");
  w.begin_array();
  w.string("src/main.cpp");
  w.string("src/handlers/user_handler.cpp");
  w.string("include/app/config.hpp");
  w.end_array();
  w.key("kinds");
  w.begin_array();
  w.string("modified");
  w.string("created");
  w.string("renamed");
  w.end_array();
  w.member("old_path", "include/app/settings.hpp");
  w.member("elapsed_ms", 12.625);
  w.member("cold", false);
  w.member("reason", "a source file changed; rebuilding");
  w.end_object();
  out.push_back('\n');
}

void BM_write_event(benchmark::State& state) {
  std::string line;
  std::int64_t seq = 0;
  std::size_t bytes = 0;
  for (auto _ : state) {
    line.clear();
    write_event(line, ++seq);
    bytes += line.size();
    benchmark::DoNotOptimize(line.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_write_event);

std::string repeat_to(std::string_view unit, std::size_t size) {
  std::string s;
  while (s.size() < size) s += unit;
  return s;
}

// Path-like ASCII text that needs no escaping.
const std::string ascii_text =
    repeat_to("src/handlers/user_handler.cpp include/app/config.hpp ", 4096);
// Mixed UTF-8 (Latin, CJK, emoji) with occasional quotes, backslashes and newlines.
const std::string mixed_text = repeat_to(
    "caf\xC3\xA9 na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x98\x80 \"quoted\" "
    "C:\\path\n",
    4096);

void BM_escape(benchmark::State& state, const std::string& text) {
  std::string out;
  for (auto _ : state) {
    out.clear();
    hmr::append_json_string(out, text);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}
BENCHMARK_CAPTURE(BM_escape, ascii, ascii_text);
BENCHMARK_CAPTURE(BM_escape, mixed_utf8, mixed_text);

// A ~100 KB document: an array of events like the presenter writes, plus nested config.
std::string make_document() {
  std::string doc = "{\"version\":1,\"events\":[";
  for (std::int64_t i = 0; doc.size() < 100'000; ++i) {
    if (i != 0) doc += ',';
    std::string line;
    write_event(line, i);
    line.pop_back();  // the newline
    doc += line;
  }
  doc +=
      "],\"config\":{\"build\":[\"cmake\",\"--build\",\"build\"],\"debounce_ms\":50,\"cold\":false}"
      "}";
  return doc;
}
const std::string document = make_document();

void BM_parse_document(benchmark::State& state) {
  for (auto _ : state) {
    auto parsed = hmr::parse_json(document);
    if (!parsed) state.SkipWithError("document rejected");
    benchmark::DoNotOptimize(parsed);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(document.size()));
  state.counters["doc_bytes"] = static_cast<double>(document.size());
}
BENCHMARK(BM_parse_document);

void BM_write_document(benchmark::State& state) {
  const auto parsed = hmr::parse_json(document);
  std::string out;
  for (auto _ : state) {
    out.clear();
    hmr::json_writer w{out};
    hmr::write(w, *parsed);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(out.size()));
}
BENCHMARK(BM_write_document);

}  // namespace

BENCHMARK_MAIN();
