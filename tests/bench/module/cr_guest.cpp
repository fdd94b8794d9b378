// The same module for cr.h (https://github.com/fungos/cr), built only when CR_H names a
// cr.h: cr_main returns BENCH_ID on CR_STEP so the host sees which build runs.
#include <cstdint>

#include HMR_BENCH_CR_H

#ifndef BENCH_ID
#define BENCH_ID 1
#endif

#ifdef BENCH_BIG
#include "big.inc"
#else
static std::uint64_t big_work(std::uint64_t x) { return x; }
#endif

CR_EXPORT int cr_main(struct cr_plugin* ctx, enum cr_op operation) {
  (void)ctx;
  if (operation != CR_STEP) return 0;
  return static_cast<int>(big_work(0) & 0) + BENCH_ID;
}
