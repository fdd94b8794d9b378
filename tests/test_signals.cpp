// Shutdown signals: in-process delivery, and a real supervisor process that receives
// SIGINT, SIGTERM or SIGHUP and leaves nothing of its child's tree running.
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <hmr/restart_strategy.hpp>
#include <hmr/signals.hpp>
#include <iterator>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <variant>

#include "hmr_catch.hpp"
#include "process_fixture.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using hmr_test::not_running;

/// Signals received by a `shutdown_signals` callback, with a bounded wait.
struct received_signals {
  std::mutex mutex{};
  std::condition_variable arrived{};
  std::vector<int> signals{};
  void add(int signal) {
    const std::lock_guard lock(mutex);
    signals.push_back(signal);
    arrived.notify_all();
  }
  bool wait_for_count(std::size_t count) {
    std::unique_lock lock(mutex);
    return arrived.wait_for(lock, 10s, [&] { return signals.size() >= count; });
  }
};

/// Reads one '\n'-terminated line from `fd`, waiting 10 s at most; empty on timeout or EOF.
std::string read_line(int fd) {
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd readable{fd, POLLIN, 0};
    if (::poll(&readable, 1, 100) <= 0) continue;
    char c = 0;
    if (::read(fd, &c, 1) != 1) return line;
    if (c == '\n') return line;
    line += c;
  }
  return line;
}

void write_line(int fd, const std::string& text) {
  const std::string line = text + "\n";
  if (::write(fd, line.data(), line.size()) < 0) std::_Exit(3);
}

// Started again as a supervisor by the test below (before main): runs a restart strategy
// whose program starts a background grandchild, reports both pids on the inherited
// descriptor, waits for a shutdown signal, stops the strategy and exits 0.
[[maybe_unused]] const bool supervisor_mode = [] {
  const char* fd_text = std::getenv("HMR_TEST_SIGNALS_FD");
  if (fd_text == nullptr) return false;
  const int fd = std::atoi(fd_text);
  std::mutex mutex;
  std::condition_variable arrived;
  int received = 0;
  {
    hmr::shutdown_signals signals{[&](int signal) {
      const std::lock_guard lock(mutex);
      if (received == 0) received = signal;
      arrived.notify_all();
    }};
    hmr::restart_strategy strategy{{
        .run = {"sleep 1000 & echo \"pids $$ $!\"; wait"},
        .run_shell = true,
        .capture_output = true,
    }};
    strategy.start({.emit = [fd](hmr::event e) {
      if (const auto* out = std::get_if<hmr::events::output>(&e)) write_line(fd, out->line);
    }});
    strategy.submit({.reason = hmr::cycle_reason::initial});
    {
      std::unique_lock lock(mutex);
      arrived.wait(lock, [&] { return received != 0; });
    }
    strategy.stop();
  }
  write_line(fd, "stopped " + hmr::signal_name(received));
  std::_Exit(0);
}();

}  // namespace

TEST_CASE("a shutdown signal reaches the callback instead of ending the process", "[signals]") {
  received_signals got;
  {
    hmr::shutdown_signals signals{[&](int signal) { got.add(signal); }};
    REQUIRE(::raise(SIGHUP) == 0);
    REQUIRE(::raise(SIGINT) == 0);
    REQUIRE(got.wait_for_count(2));
  }
  const std::lock_guard lock(got.mutex);
  REQUIRE(got.signals.size() == 2);
  CHECK(got.signals[0] == SIGHUP);
  CHECK(got.signals[1] == SIGINT);
}

namespace {
std::atomic<int> previous_handler_calls{0};
extern "C" void count_usr1(int) { previous_handler_calls.fetch_add(1); }
}  // namespace

TEST_CASE("the previous disposition comes back on destruction", "[signals]") {
  struct sigaction mine {};
  mine.sa_handler = count_usr1;
  sigemptyset(&mine.sa_mask);
  struct sigaction before {};
  REQUIRE(::sigaction(SIGUSR1, &mine, &before) == 0);
  received_signals got;
  {
    hmr::shutdown_signals signals{[&](int signal) { got.add(signal); }, {SIGUSR1}};
    REQUIRE(::raise(SIGUSR1) == 0);
    REQUIRE(got.wait_for_count(1));
    CHECK(previous_handler_calls.load() == 0);
  }
  REQUIRE(::raise(SIGUSR1) == 0);  // synchronous for a single-threaded raise to itself
  CHECK(previous_handler_calls.load() == 1);
  ::sigaction(SIGUSR1, &before, nullptr);
}

TEST_CASE("only one shutdown_signals at a time", "[signals]") {
  hmr::shutdown_signals first{[](int) {}};
  REQUIRE_THROWS_AS(hmr::shutdown_signals([](int) {}), std::logic_error);
}

TEST_CASE("SIGINT, SIGTERM or SIGHUP to a supervisor leaves nothing of its tree running",
          "[signals]") {
  const int signal = GENERATE(SIGINT, SIGTERM, SIGHUP);
  CAPTURE(signal);
  const auto [supervisor, read_end] = hmr_test::start_self_as("HMR_TEST_SIGNALS_FD");

  const std::string pids = read_line(read_end);
  int child = 0;
  int grandchild = 0;
  REQUIRE(std::sscanf(pids.c_str(), "pids %d %d", &child, &grandchild) == 2);
  CHECK_FALSE(not_running(child));
  CHECK_FALSE(not_running(grandchild));

  REQUIRE(::kill(supervisor, signal) == 0);
  CHECK(read_line(read_end) == "stopped " + hmr::signal_name(signal));
  ::close(read_end);
  int status = 0;
  REQUIRE(::waitpid(supervisor, &status, 0) == supervisor);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(not_running(child));
  CHECK(not_running(grandchild));
  if (!not_running(grandchild)) ::kill(grandchild, SIGKILL);  // a failure must not leak it
  if (!not_running(child)) ::kill(child, SIGKILL);
}
