// Throughput of hmr::glob, hmr::glob_set and the filters over 100k generated paths.
//
// Build: g++ -std=c++20 -O2 -DNDEBUG -Iinclude tests/bench/bench_glob.cpp -lbenchmark -lpthread
// Run:   ./bench_glob --benchmark_repetitions=10 --benchmark_report_aggregates_only=true
// items_per_second is paths per second. The `allocs` counter is the number of heap
// allocations made while matching every path once (expected: 0).
#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "hmr/filters.hpp"
#include "hmr/gitignore.hpp"
#include "hmr/glob.hpp"

// ---- allocation counting ----------------------------------------------------------------

// GCC flags free() in a replaced operator delete as mismatched with operator new (a false
// positive: the replacement operator new below calls malloc).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {
std::atomic<std::size_t> allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

// ---- a deterministic generator of realistic project paths -------------------------------

struct rng {
  std::uint64_t state;
  std::uint64_t next() {  // xorshift64*
    state ^= state >> 12U;
    state ^= state << 25U;
    state ^= state >> 27U;
    return state * 2685821657736338717ULL;
  }
  template <class T, std::size_t N>
  const T& pick(const std::array<T, N>& items) {
    return items[next() % N];
  }
};

constexpr std::array<std::string_view, 14> top_dirs{
    "src",         "include",  "tests", "docs", "build", "tools",        "cmake",
    "third_party", "examples", ".git",  "lib",  "apps",  "node_modules", "scripts"};
constexpr std::array<std::string_view, 24> sub_dirs{
    "net",    "http",   "core",  "util",   "detail",     "impl",     "v2",     "platform",
    "linux",  "win",    "io",    "parser", "CMakeFiles", "objects",  "render", "audio",
    "server", "client", "proto", "gen",    "internal",   "fixtures", "assets", "x86_64"};
constexpr std::array<std::string_view, 24> base_names{
    "main",       "server",   "client", "parser", "lexer",  "buffer",  "string_view", "config",
    "http",       "socket",   "thread", "pool",   "vector", "handler", "module",      "README",
    "CMakeLists", "Makefile", "index",  "utils",  "types",  "logger",  "allocator",   "json"};
constexpr std::array<std::string_view, 24> extensions{
    ".cpp", ".cpp", ".cpp",  ".hpp",  ".hpp",   ".h",   ".c", ".cc",
    ".txt", ".md",  ".json", ".py",   ".cmake", ".o",   ".o", ".a",
    ".so",  ".swp", ".tmp",  ".yaml", ".sh",    ".inl", "",   ".ipp"};

std::vector<std::string> make_paths(std::size_t count) {
  rng r{0x9e3779b97f4a7c15ULL};
  std::vector<std::string> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t depth = 1 + r.next() % 8;  // segments, file included: 1..8
    std::string p;
    for (std::size_t d = 0; d + 1 < depth; ++d) {
      p += d == 0 ? r.pick(top_dirs) : r.pick(sub_dirs);
      p += '/';
    }
    const std::uint64_t style = r.next() % 20;
    if (style == 0) p += "test_";
    if (style == 1) p += '.';
    p += r.pick(base_names);
    const std::string_view base = r.pick(base_names);
    if (base != "CMakeLists" && base != "Makefile") p += r.pick(extensions);
    if (style == 2) p += '~';
    out.push_back(std::move(p));
  }
  return out;
}

const std::vector<std::string>& paths() {
  static const std::vector<std::string> all = make_paths(100'000);
  return all;
}

constexpr std::array<std::string_view, 20> patterns{"**/*.cpp",
                                                    "src/**/*.{h,hpp}",
                                                    "build/**",
                                                    "*.swp",
                                                    "**/test_*.cpp",
                                                    "docs/*.md",
                                                    "include/**/*.hpp",
                                                    "**/*.[ch]",
                                                    "tests/**/*_test.cc",
                                                    "third_party/**",
                                                    "*.{o,a,so}",
                                                    "**/CMakeLists.txt",
                                                    "cmake/*.cmake",
                                                    "tools/**/*.py",
                                                    "*~",
                                                    ".#*",
                                                    "**/[Mm]akefile",
                                                    "examples/*/src/**",
                                                    "**/*.{json,yaml,yml}",
                                                    "src/**/detail/*.hpp"};

// Runs `match` over every path per iteration; items = paths.
template <class F>
void run(benchmark::State& state, F&& match) {
  const auto& all = paths();
  std::size_t hits = 0;
  const std::size_t before = allocations.load();
  for (const auto& p : all) hits += match(p) ? 1U : 0U;
  state.counters["allocs"] = static_cast<double>(allocations.load() - before);
  state.counters["hit_rate"] = static_cast<double>(hits) / static_cast<double>(all.size());
  for (auto _ : state) {
    std::size_t n = 0;
    for (const auto& p : all) n += match(p) ? 1U : 0U;
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(all.size()));
}

void BM_glob_set_20_patterns(benchmark::State& state) {
  hmr::glob_set set;
  for (auto p : patterns) set.add(p, {.match_basename = true});
  run(state, [&](std::string_view p) { return set.find(p).has_value(); });
}
BENCHMARK(BM_glob_set_20_patterns);

// The same 20 globs tested one after the other, without the set's prefilter index.
void BM_glob_loop_20_patterns(benchmark::State& state) {
  std::vector<hmr::glob> globs;
  for (auto p : patterns) globs.emplace_back(p, hmr::glob_options{.match_basename = true});
  run(state, [&](std::string_view p) {
    for (const auto& g : globs) {
      if (g.matches(p)) return true;
    }
    return false;
  });
}
BENCHMARK(BM_glob_loop_20_patterns);

void BM_single(benchmark::State& state, std::string_view pattern) {
  const hmr::glob g(pattern, {.match_basename = true});
  run(state, [&](std::string_view p) { return g.matches(p); });
}
BENCHMARK_CAPTURE(BM_single, star_star_cpp, "**/*.cpp");
BENCHMARK_CAPTURE(BM_single, src_braces, "src/**/*.{h,hpp}");
BENCHMARK_CAPTURE(BM_single, build_all, "build/**");
BENCHMARK_CAPTURE(BM_single, basename_swp, "*.swp");
BENCHMARK_CAPTURE(BM_single, test_prefix, "**/test_*.cpp");
BENCHMARK_CAPTURE(BM_single, class, "**/[Mm]akefile");
BENCHMARK_CAPTURE(BM_single, middle_globstar, "src/**/detail/*.hpp");
BENCHMARK_CAPTURE(BM_single, literal, "src/net/main.cpp");
BENCHMARK_CAPTURE(BM_single, many_stars, "*a*a*a*a*b");
BENCHMARK_CAPTURE(BM_single, many_globstars, "**/a/**/b/**/c/**/d");

// The filters a runner would use, on the same paths (files).
void BM_filter_default_ignores(benchmark::State& state) {
  const auto f = hmr::default_ignores();
  run(state, [&](std::string_view p) { return f.keep(p, false); });
}
BENCHMARK(BM_filter_default_ignores);

void BM_filter_exclude_globs_20(benchmark::State& state) {
  const hmr::exclude_globs f(patterns);
  run(state, [&](std::string_view p) { return f.keep(p, false); });
}
BENCHMARK(BM_filter_exclude_globs_20);

void BM_filter_gitignore(benchmark::State& state) {
  hmr::gitignore g{
      "build/\n*.o\n*.a\n*.so\n/third_party/\nnode_modules/\n*.swp\n*~\n!keep.o\n.cache/\n"};
  g.add_file("src", "gen/\n*.tmp\n", "src/.gitignore");
  g.add_file("tests", "fixtures/*.json\n!fixtures/main.json\n", "tests/.gitignore");
  run(state, [&](std::string_view p) { return g.keep(p, false); });
}
BENCHMARK(BM_filter_gitignore);

void BM_filter_chain(benchmark::State& state) {
  const auto f = hmr::default_ignores() |
                 hmr::include_globs{"**/*.{cpp,hpp,h,c}", "**/CMakeLists.txt"} |
                 hmr::gitignore{"build/\n*.o\n/third_party/\n*.swp\n"};
  run(state, [&](std::string_view p) { return f.keep(p, false); });
}
BENCHMARK(BM_filter_chain);

}  // namespace

BENCHMARK_MAIN();
