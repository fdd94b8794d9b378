// The benchmark's module: -DBENCH_ID=N tells builds apart; -DBENCH_BIG adds the generated
// big.inc (about 1 MB of code and relocations, made by run.sh).
#include <hmr/module_api.hpp>

#include "bench_api.hpp"

#ifndef BENCH_ID
#define BENCH_ID 1
#endif

#ifdef BENCH_BIG
#include "big.inc"
#else
static std::uint64_t big_work(std::uint64_t x) { return x; }
#endif

static hmr::persistent<std::uint64_t> calls{"calls"};

static int id() { return BENCH_ID; }
static std::uint64_t work(std::uint64_t x) {
  ++*calls;
  return big_work(x * 2654435761U + BENCH_ID);
}

HMR_MODULE(bench_api, {&id, &work});
