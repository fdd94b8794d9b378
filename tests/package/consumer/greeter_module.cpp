// A hot-reloadable module built with the installed hmr_add_module().
#include <hmr/module_api.hpp>

/// The module's API table.
struct greeter_api {
  static constexpr unsigned abi_version = 1;  ///< bumped when the table changes
  const char* (*greet)();                     ///< the greeting
};

namespace {
const char* greet() { return "hello from a module"; }
}  // namespace

HMR_MODULE(greeter_api, {&greet});
