// The supervised program of the CLI benchmark: the same binary under `hmr`, `entr -r` and
// nodemon. First thing in main() it reads CLOCK_MONOTONIC and writes one line to stdout,
// "cli-bench-child PID NANOSECONDS\n", with a single write() (no stdio buffer), then sleeps
// until a signal ends it. SIGTERM keeps its default action.
//
// Only libc is used; with -Wl,--as-needed the dynamic loader maps libc alone.
// Build: g++ -O2 -Wl,--as-needed tests/bench/cli/child.cpp -o cli_bench_child

#include <time.h>
#include <unistd.h>

#include <cstdio>

int main() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  char line[80];
  const int n = std::snprintf(line, sizeof line, "cli-bench-child %ld %lld\n",
                              static_cast<long>(::getpid()),
                              static_cast<long long>(now.tv_sec) * 1'000'000'000LL + now.tv_nsec);
  if (n > 0 && ::write(1, line, static_cast<std::size_t>(n)) < 0) return 1;
  for (;;) ::pause();
}
