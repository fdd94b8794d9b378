// The API table the test modules implement and tests/test_module.cpp calls.
#pragma once

#include <cstddef>
#include <cstdint>

#ifndef HMR_TEST_ABI
#define HMR_TEST_ABI 1
#endif

/// What every test module exports.
struct test_api {
  static constexpr std::uint32_t abi_version = HMR_TEST_ABI;  ///< -DHMR_TEST_ABI=2 in one variant
  int (*version)();                      ///< calls the module's own exported helper
  std::uint64_t (*increment)();          ///< ++ the "counter" slot
  void (*append)(const char* text);      ///< adds to the "log" slot (through a slot_codec)
  std::size_t (*log_size)();             ///< entries in the "log" slot
  const char* (*log_at)(std::size_t i);  ///< one entry
  std::uint64_t (*loads)();              ///< the "loads" slot: on_load calls so far
  int (*unique)();                       ///< touches a gnu-unique object (HMR_TEST_UNIQUE only)
};
