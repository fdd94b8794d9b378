// Proves that an installed hmr is usable: every header through the umbrella, and a few
// components doing real work. Prints one line and exits 0 when all is well.
#include <cstdio>
#include <hmr/hmr.hpp>
#include <string>

int main() {
  const hmr::event e = hmr::events::stopped{.reason = "consumer", .exit_code = 0};
  const std::string name{hmr::event_name(e)};
  if (name != "stopped") {
    std::fprintf(stderr, "consumer: unexpected event name %s\n", name.c_str());
    return 1;
  }
  std::printf("hmr %s consumer ok: %s\n", hmr::version_string, name.c_str());
  return 0;
}
