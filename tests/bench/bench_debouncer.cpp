// Debouncer throughput: events per second for the shapes that matter in practice.
// Run: bench_debouncer --benchmark_repetitions=10 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
#include <hmr/debouncer.hpp>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using hmr::change_kind;
using hmr::file_change;
using time_point = hmr::debouncer::time_point;

// n microseconds.
std::chrono::microseconds us(std::size_t n) {
  return std::chrono::microseconds{static_cast<long long>(n)};
}

// A timed change, as a watcher would hand it over.
struct timed_change {
  file_change change;
  time_point at;
};

// Feeds the changes the way an event loop does (poll at the deadline whenever it comes
// before the next change, then flush) and returns how many changes were released.
std::size_t run(const std::vector<timed_change>& changes) {
  hmr::debouncer d;
  std::size_t released = 0;
  for (const auto& [change, at] : changes) {
    while (d.deadline() && *d.deadline() <= at)
      if (auto batch = d.poll(*d.deadline())) released += batch->size();
    d.push(change, at);
  }
  released += d.flush().size();
  return released;
}

void report(benchmark::State& state, std::size_t events) {
  state.counters["events/s"] = benchmark::Counter(static_cast<double>(events),
                                                  benchmark::Counter::kIsIterationInvariantRate);
}

// A git checkout: 5,000 files, each modified 1 to 3 times, in three sweeps 1 µs apart.
void checkout_burst(benchmark::State& state) {
  std::vector<timed_change> changes;
  const time_point t0{};
  for (int sweep = 0; sweep < 3; ++sweep)
    for (int i = 0; i < 5000; ++i)
      if ((i * 7) % 3 >= sweep)
        changes.push_back(
            {{.path = "src/module" + std::to_string(i % 50) + "/file" + std::to_string(i) + ".cpp",
              .kind = change_kind::modified},
             t0 + us(changes.size())});
  for (auto _ : state) benchmark::DoNotOptimize(run(changes));
  report(state, changes.size());
}
BENCHMARK(checkout_burst)->Unit(benchmark::kMicrosecond);

// 100,000 changes over 10,000 paths, one every 50 µs (5 s: batches cut by the 1 s cap),
// from a small model: mostly modifications, some creations, removals and renames.
void stream_100k(benchmark::State& state) {
  std::mt19937 random{42};
  std::vector<bool> exists(10000, true);
  std::vector<timed_change> changes;
  const time_point t0{};
  const auto name = [](std::size_t i) {
    return "lib/dir" + std::to_string(i % 100) + "/f" + std::to_string(i) + ".hpp";
  };
  while (changes.size() < 100000) {
    const std::size_t p = random() % exists.size();
    const auto roll = random() % 100;
    file_change c{.path = name(p)};
    if (!exists[p]) {
      c.kind = change_kind::created;
      exists[p] = true;
    } else if (roll < 85) {
      c.kind = change_kind::modified;
    } else if (roll < 93) {
      c.kind = change_kind::removed;
      exists[p] = false;
    } else {
      const std::size_t q = random() % exists.size();
      if (q == p || exists[q]) continue;
      c = {.path = name(q), .kind = change_kind::renamed, .old_path = name(p)};
      exists[p] = false;
      exists[q] = true;
    }
    changes.push_back({std::move(c), t0 + us(50 * changes.size())});
  }
  for (auto _ : state) benchmark::DoNotOptimize(run(changes));
  report(state, changes.size());
}
BENCHMARK(stream_100k)->Unit(benchmark::kMillisecond);

// An editor's atomic save, 10,000 times over 100 files: create the temporary file,
// write it, rename it over the target (30,000 changes, 1 µs apart: one batch).
void atomic_saves(benchmark::State& state) {
  std::vector<timed_change> changes;
  const time_point t0{};
  for (int save = 0; save < 10000; ++save) {
    const std::string target = "src/file" + std::to_string(save % 100) + ".cpp";
    const std::string temp = "src/.file" + std::to_string(save % 100) + ".cpp.tmp";
    for (auto c : {file_change{.path = temp, .kind = change_kind::created},
                   file_change{.path = temp, .kind = change_kind::modified},
                   file_change{.path = target, .kind = change_kind::renamed, .old_path = temp}})
      changes.push_back({std::move(c), t0 + us(changes.size())});
  }
  for (auto _ : state) benchmark::DoNotOptimize(run(changes));
  report(state, changes.size());
}
BENCHMARK(atomic_saves)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
