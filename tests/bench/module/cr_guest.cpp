// The same module for cr.h (https://github.com/fungos/cr), built only when CR_H names a
// cr.h: cr_main returns BENCH_ID on CR_STEP so the host sees which build runs. cr.h is not
// part of hmr: the user fetches it and passes its path (CR_H=path to run.sh).
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

/// Exported so that the generated code (and its relocations) stays in the image, as the
/// hmr module keeps it through its API table: both modules have the same size.
CR_EXPORT std::uint64_t bench_work(std::uint64_t x) {
  return big_work(x * 2654435761U + BENCH_ID);
}

CR_EXPORT int cr_main(struct cr_plugin* ctx, enum cr_op operation) {
  (void)ctx;
  if (operation != CR_STEP) return 0;
  return BENCH_ID;
}
