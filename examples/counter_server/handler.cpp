// The counter server's request handler: a hot-reloadable module (hmr_add_module). Edit
// the greeting and save: the running server answers with the new text, its count intact.
#include <hmr/module_api.hpp>

#include <cstdint>
#include <cstdio>

#include "handler_api.hpp"

namespace {

/// The state this module keeps across reloads. Adding a field changes the slot's layout:
/// the reload is refused (naming the slot) and hmr restarts the server instead.
struct counter_state {
  std::uint64_t requests = 0;  ///< requests answered since the server started
};

/// Held by the host while a new version loads, then handed to it.
hmr::persistent<counter_state> counter{"counter"};

/// Edit me and save.
constexpr const char* greeting = "hello";

int handle(const char* request, int length, char* reply, int capacity) {
  const auto count = static_cast<unsigned long long>(++counter->requests);
  const int n = std::snprintf(reply, static_cast<std::size_t>(capacity), "%s #%llu: %.*s\n",
                              greeting, count, length, request);
  if (n < 0) return 0;           // an encoding error: no reply
  if (n < capacity) return n;
  reply[capacity - 2] = '\n';    // truncated: still one whole line
  return capacity - 1;
}

}  // namespace

HMR_MODULE(handler_api, {&handle});
