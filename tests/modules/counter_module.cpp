// The test module, in variants chosen with -D:
//   HMR_TEST_VERSION=N     what version() returns (through an exported helper of its own)
//   HMR_TEST_WIDE_COUNTER  the "counter" slot becomes 16 bytes (a layout change)
//   HMR_TEST_MISSING       calls a function nobody defines (dlopen fails, RTLD_NOW)
//   HMR_TEST_ABI=N         another ABI version of test_api
//   HMR_TEST_UNIQUE        a template static member: STB_GNU_UNIQUE when built by g++
//                          without -fno-gnu-unique, which keeps the image loaded
//   HMR_TEST_THROW_ON_LOAD    on_load throws std::runtime_error("on_load refuses")
//   HMR_TEST_THROW_ON_UNLOAD  on_unload throws an int (not a std::exception)
#include <hmr/module_api.hpp>

#include <stdexcept>
#include <string>
#include <vector>

#include "test_api.hpp"

#ifndef HMR_TEST_VERSION
#define HMR_TEST_VERSION 1
#endif

/// How the "log" slot moves to the next version: length-prefixed strings.
template <>
struct hmr::slot_codec<std::vector<std::string>> {
  static std::string save(const std::vector<std::string>& log) {
    std::string out;
    for (const auto& s : log) out += std::to_string(s.size()) + ":" + s;
    return out;
  }
  static bool restore(std::vector<std::string>& log, std::string_view bytes) {
    log.clear();
    while (!bytes.empty()) {
      const auto colon = bytes.find(':');
      if (colon == std::string_view::npos) return false;
      const auto n = std::stoul(std::string(bytes.substr(0, colon)));
      log.emplace_back(bytes.substr(colon + 1, n));
      bytes.remove_prefix(colon + 1 + n);
    }
    return true;
  }
};

#ifdef HMR_TEST_WIDE_COUNTER
struct wide { std::uint64_t low; std::uint64_t high; };
static hmr::persistent<wide> counter{"counter", wide{0, 0}};
static std::uint64_t increment() { return ++counter->low; }
#else
static hmr::persistent<std::uint64_t> counter{"counter"};
static std::uint64_t increment() { return ++*counter; }
#endif
static hmr::persistent<std::vector<std::string>> log_slot{"log"};
static hmr::persistent<std::uint64_t> loads_slot{"loads"};

#ifdef HMR_TEST_THROW_ON_LOAD
static void on_load() { throw std::runtime_error("on_load refuses"); }
#else
static void on_load() { ++*loads_slot; }
#endif
#ifdef HMR_TEST_THROW_ON_UNLOAD
static void on_unload() { throw 42; }
static hmr::module_hooks hooks{&on_load, &on_unload};
#else
static hmr::module_hooks hooks{&on_load, nullptr};
#endif

// Exported and interposable: with RTLD_GLOBAL a new version would call the old one's.
extern "C" __attribute__((visibility("default"))) int hmr_test_helper() { return HMR_TEST_VERSION; }

#ifdef HMR_TEST_MISSING
extern "C" int hmr_test_function_nobody_defines();
static int version() { return hmr_test_function_nobody_defines(); }
#else
static int version() { return hmr_test_helper(); }
#endif

#ifdef HMR_TEST_UNIQUE
template <class T>
struct shared_counter {
  static inline int value = 0;
};
template struct shared_counter<int>;
static int unique() { return ++shared_counter<int>::value; }
#else
static int unique() { return 0; }
#endif

static void append(const char* text) { log_slot->emplace_back(text); }
static std::size_t log_size() { return log_slot->size(); }
static const char* log_at(std::size_t i) { return (*log_slot)[i].c_str(); }
static std::uint64_t loads() { return *loads_slot; }

HMR_MODULE(test_api, {&version, &increment, &append, &log_size, &log_at, &loads, &unique});
