// One include for every test file, so the same tests build against Catch2 v2
// (Debian's single header) and Catch2 v3 (vcpkg, Conan: split headers).
// Use only what both versions provide: TEST_CASE, SECTION, REQUIRE, CHECK,
// *_FALSE, *_THROWS*, INFO, CAPTURE, GENERATE, and the string matchers below.
#pragma once

#if __has_include(<catch2/catch_test_macros.hpp>)
#define HMR_CATCH_VERSION 3
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/generators/catch_generators_range.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#else
#define HMR_CATCH_VERSION 2
#include <catch2/catch.hpp>
#endif
