// The supervised program of the restart benchmark: the same binary for hmr, `entr -r` and
// nodemon. First thing in main() it reads CLOCK_MONOTONIC, writes "PID NANOSECONDS\n" to the
// FIFO named by argv[1], then sleeps until a signal ends it. SIGTERM keeps its default
// action, so its shutdown is just the kernel tearing the process down.
//
// Only libc is used, so with -Wl,--as-needed the dynamic loader maps nothing but libc.
// Build: g++ -O2 -Wl,--as-needed tests/bench/restart/child.cpp -o restart_child

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>

int main(int argc, char** argv) {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  if (argc < 2) return 2;
  char line[64];
  const int n = std::snprintf(line, sizeof line, "%ld %lld\n", static_cast<long>(::getpid()),
                              static_cast<long long>(now.tv_sec) * 1'000'000'000LL + now.tv_nsec);
  // O_NONBLOCK: the driver keeps the FIFO open for reading, so the open never waits; without
  // a reader (the driver is gone) it fails with ENXIO and the child just waits to be stopped.
  const int fd = ::open(argv[1], O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd >= 0) {
    if (n > 0) {
      [[maybe_unused]] const ssize_t written = ::write(fd, line, static_cast<std::size_t>(n));
    }
    ::close(fd);
  }
  for (;;) ::pause();
}
