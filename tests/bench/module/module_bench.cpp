// Module image complete -> new code running in the host, for hmr::module (and for cr.h when
// built with -DHMR_BENCH_CR_H="/path/to/cr.h"). See README.md; run.sh builds everything.
//
//   module_bench --pair=NAME:A.so:B.so [--pair=...] [--cr-pair=NAME:A.so:B.so]
//                [--reloads=200] [--warmup=5] [--cr-period-ms=10]
//
// Each sample: the next build (A and B alternate, telling themselves apart by id()) is
// copied to a temporary name in the watched directory, then renamed over the module's path
// (the moment the image is complete: t0). The host loop runs until a call into the module
// returns the new id (t1). hmr's watch (inotify IN_CLOSE_WRITE/IN_MOVED_TO on the
// directory) marks the new version pending; the swap happens at the safe point: in `sync`
// mode the host loop calls sync(); in `automatic` mode the watch thread swaps as soon as no
// call is inside the library. The hmr hosts and the first cr.h host spin, as a game loop or
// a busy server would. The second cr.h host is cr's own polling loop: cr_plugin_update()
// once per period (10 ms by default) on a fixed schedule; there each sample waits a random
// 0..period before the rename, so the image lands at a uniformly random phase of the loop.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <hmr/module.hpp>

#include "bench_api.hpp"

#ifdef HMR_BENCH_CR_H
#define CR_HOST CR_UNSAFE
#include HMR_BENCH_CR_H
#endif

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

struct pair_spec {
  std::string name, a, b;
};

struct row {
  std::string what, module;
  std::size_t bytes = 0;
  std::vector<double> us;
  int misses = 0;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double at = p * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(at);
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (at - static_cast<double>(lo));
}

/// How a series of samples stages its builds and how long a host may take.
struct series_settings {
  bool real_mtimes = false;                      ///< keep the mtime the copy got (no utimensat)
  std::chrono::milliseconds timeout{5000};       ///< a sample not seen by then is missed
};

/// The settings of the series being run (set by main between series).
series_settings series;

/// Copies `from` to `dir/next.tmp` with mtime `second` (whole seconds: cr.h compares
/// whole-second mtimes, so every build gets a later second), unless `series.real_mtimes`.
std::string stage(const std::string& from, const std::string& dir, long second) {
  const std::string tmp = dir + "/next.tmp";
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing);
  if (!series.real_mtimes) {
    const timespec times[2] = {{second, 0}, {second, 0}};
    ::utimensat(AT_FDCWD, tmp.c_str(), times, 0);
  }
  return tmp;
}

/// Runs `reloads + warmup` samples; `wait_for(id)` runs the host until it runs build `id`
/// and returns false on a timeout (`series.timeout`). With `jitter` > 0 each sample first sleeps a
/// random 0..jitter (before t0), so that the rename lands at a random phase of a periodic
/// host loop.
row measure(const std::string& what, const pair_spec& p, const std::string& dir, int reloads,
            int warmup, const std::function<bool(int)>& wait_for,
            std::chrono::microseconds jitter = std::chrono::microseconds{0}) {
  row r{what, p.name, static_cast<std::size_t>(fs::file_size(p.a)), {}, 0};
  const long base = static_cast<long>(std::time(nullptr)) + 10;
  std::mt19937 rng{12345};
  std::uniform_int_distribution<long> phase{0, std::max<long>(0, jitter.count() - 1)};
  for (int i = 0; i < reloads + warmup; ++i) {
    const int next = i % 2 == 0 ? 2 : 1;
    const std::string tmp = stage(next == 2 ? p.b : p.a, dir, base + i);
    if (jitter.count() > 0) std::this_thread::sleep_for(std::chrono::microseconds{phase(rng)});
    const auto t0 = clock_type::now();
    fs::rename(tmp, dir + "/libbench.so");
    const bool ok = wait_for(next);
    const auto t1 = clock_type::now();
    if (i < warmup) continue;
    if (!ok) {
      ++r.misses;
      continue;
    }
    r.us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  return r;
}

std::string make_dir() {
  std::string pattern = (fs::temp_directory_path() / "hmr-module-bench-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) std::exit(2);
  return pattern;
}

row run_hmr(const pair_spec& p, hmr::swap_mode mode, int reloads, int warmup) {
  const std::string dir = make_dir();
  fs::copy_file(p.a, dir + "/libbench.so");
  row r;
  {
    hmr::module<bench_api> m{dir + "/libbench.so", {.mode = mode, .watch = true}};
    if (!m.loaded()) {
      std::fprintf(stderr, "cannot load %s: %s\n", p.a.c_str(), m.last_error().c_str());
      std::exit(1);
    }
    const bool sync = mode == hmr::swap_mode::sync;
    r = measure(sync ? "hmr::module, sync() in the loop" : "hmr::module, automatic", p, dir,
                reloads, warmup, [&](int id) {
                  const auto deadline = clock_type::now() + series.timeout;
                  for (;;) {
                    if (sync) m.sync();
                    if (m->id() == id) return true;
                    if (clock_type::now() > deadline) return false;
                  }
                });
    m->work(1);
  }
  fs::remove_all(dir);
  return r;
}

#ifdef HMR_BENCH_CR_H
/// cr.h's host: cr_plugin_update() (a stat() of the module, then cr_main(CR_STEP)) in a busy
/// loop when `period` is 0, else once per `period` on a fixed schedule (sleep_until the next
/// tick), as cr's own samples and a frame-paced host call it.
row run_cr(const pair_spec& p, int reloads, int warmup, std::chrono::milliseconds period) {
  const std::string dir = make_dir();
  fs::copy_file(p.a, dir + "/libbench.so");
  cr_plugin ctx{};
  if (!cr_plugin_open(ctx, (dir + "/libbench.so").c_str()) || cr_plugin_update(ctx) != 1) {
    std::fprintf(stderr, "cr.h cannot load %s\n", p.a.c_str());
    std::exit(1);
  }
  auto tick = clock_type::now();
  const auto step = [&] {
    if (period.count() > 0) {
      tick += period;
      const auto now = clock_type::now();
      if (tick < now) tick = now;  // late (long reload): keep the cadence from here
      std::this_thread::sleep_until(tick);
    }
    return cr_plugin_update(ctx);
  };
  const std::string what = period.count() > 0
                               ? "cr.h, cr_plugin_update() every " +
                                     std::to_string(period.count()) + " ms"
                               : std::string{"cr.h, cr_plugin_update() in a busy loop"};
  row r = measure(
      what, p, dir, reloads, warmup,
      [&](int id) {
        const auto deadline = clock_type::now() + series.timeout;
        for (;;) {
          if (step() == id) return true;
          if (clock_type::now() > deadline) return false;
        }
      },
      std::chrono::duration_cast<std::chrono::microseconds>(period));
  cr_plugin_close(ctx);
  fs::remove_all(dir);
  return r;
}
#endif

bool parse_pair(const std::string& text, pair_spec& out) {
  const auto c1 = text.find(':');
  const auto c2 = text.find(':', c1 + 1);
  if (c1 == std::string::npos || c2 == std::string::npos) return false;
  out = {text.substr(0, c1), text.substr(c1 + 1, c2 - c1 - 1), text.substr(c2 + 1)};
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<pair_spec> pairs, cr_pairs;
  int reloads = 200, warmup = 5, cr_period_ms = 10, mtime_reloads = 20;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    pair_spec p;
    if (arg.rfind("--pair=", 0) == 0 && parse_pair(arg.substr(7), p)) {
      pairs.push_back(p);
    } else if (arg.rfind("--cr-pair=", 0) == 0 && parse_pair(arg.substr(10), p)) {
      cr_pairs.push_back(p);
    } else if (arg.rfind("--reloads=", 0) == 0) {
      reloads = std::atoi(arg.c_str() + 10);
    } else if (arg.rfind("--warmup=", 0) == 0) {
      warmup = std::atoi(arg.c_str() + 9);
    } else if (arg.rfind("--cr-period-ms=", 0) == 0) {
      cr_period_ms = std::atoi(arg.c_str() + 15);
    } else if (arg.rfind("--real-mtime-reloads=", 0) == 0) {
      mtime_reloads = std::atoi(arg.c_str() + 21);
    } else {
      std::fprintf(stderr, "usage: %s --pair=NAME:A.so:B.so ... [--cr-pair=NAME:A.so:B.so] "
                           "[--reloads=200] [--warmup=5] [--cr-period-ms=10] [--real-mtime-reloads=20]\n", argv[0]);
      return 2;
    }
  }
  std::vector<row> rows;
  for (const auto& p : pairs) {
    rows.push_back(run_hmr(p, hmr::swap_mode::sync, reloads, warmup));
    rows.push_back(run_hmr(p, hmr::swap_mode::automatic, reloads, warmup));
  }
#ifdef HMR_BENCH_CR_H
  for (const auto& p : cr_pairs) {
    rows.push_back(run_cr(p, reloads, warmup, std::chrono::milliseconds{0}));
    rows.push_back(run_cr(p, reloads, warmup, std::chrono::milliseconds{cr_period_ms}));
  }
#else
  (void)cr_period_ms;
  if (!cr_pairs.empty()) std::fprintf(stderr, "built without cr.h (CR_H unset): cr.h skipped\n");
#endif
  // Rebuilds landing back to back with the mtimes the copies really get (several within one
  // second): does a host miss some? The small module, busy loops, 1.5 s timeout.
  if (mtime_reloads > 0 && !pairs.empty()) {
    series = {.real_mtimes = true, .timeout = std::chrono::milliseconds{1500}};
    rows.push_back(run_hmr(pairs.front(), hmr::swap_mode::sync, mtime_reloads, 0));
    rows.back().what += " (real mtimes)";
#ifdef HMR_BENCH_CR_H
    if (!cr_pairs.empty()) {
      rows.push_back(run_cr(cr_pairs.front(), mtime_reloads, 0, std::chrono::milliseconds{0}));
      rows.back().what += " (real mtimes)";
    }
#endif
  }
  std::printf("| host | module | file size | n | p50 (us) | p90 (us) | IQR (us) | min (us) | max (us) | missed |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& r : rows) {
    std::printf("| %s | %s | %zu KB | %zu | %.0f | %.0f | %.0f | %.0f | %.0f | %d |\n",
                r.what.c_str(), r.module.c_str(), r.bytes / 1024, r.us.size(),
                percentile(r.us, 0.5), percentile(r.us, 0.9),
                percentile(r.us, 0.75) - percentile(r.us, 0.25), percentile(r.us, 0.0),
                percentile(r.us, 1.0), r.misses);
  }
  return 0;
}
