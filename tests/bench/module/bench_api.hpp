// The API of the benchmark's module (hmr side).
#pragma once

#include <cstdint>

/// What the benchmark module exports.
struct bench_api {
  static constexpr std::uint32_t abi_version = 1;  ///< the table's version
  int (*id)();                                     ///< which build this is (BENCH_ID)
  std::uint64_t (*work)(std::uint64_t);            ///< a little computation
};
