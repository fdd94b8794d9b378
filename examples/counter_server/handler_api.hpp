// The table of functions the counter server's handler module exports (handler.cpp) and
// the host calls (main.cpp). Shared by both; only plain data and function pointers.
#pragma once

#include <cstdint>

/// What the handler module offers the host.
struct handler_api {
  /// Bump when the table changes: a host and a module that disagree refuse to load.
  static constexpr std::uint32_t abi_version = 1;
  /// Answers one request line (`request`, `length` bytes, without its '\n'): writes the
  /// reply line, '\n' included, into `reply` (`capacity` bytes) and returns its length.
  int (*handle)(const char* request, int length, char* reply, int capacity);
};
