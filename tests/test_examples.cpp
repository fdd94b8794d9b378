// The examples run: custom_runner (a runner assembled by hand, with its own presenter)
// restarts its command on a save and quits cleanly on Ctrl-C, and hello_server (the
// README demo's program) answers with its greeting and generation. Each example runs as
// a real child; every wait is for a line, bounded by a timeout.
#include "hmr_catch.hpp"
#include "process_fixture.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <functional>
#include <hmr/process.hpp>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#if !defined(HMR_CUSTOM_RUNNER_PATH) || !defined(HMR_HELLO_SERVER_PATH)
#error "HMR_CUSTOM_RUNNER_PATH and HMR_HELLO_SERVER_PATH must name the built examples"
#endif

namespace {

using namespace std::chrono_literals;
constexpr auto patience = 15s;

/// The lines a child prints (stdout and stderr), and a wait for the one a test expects.
class line_log {
 public:
  /// The `on_line` handler that records into this log.
  std::function<void(hmr::output_stream, std::string_view)> recorder() {
    return [this](hmr::output_stream, std::string_view line) {
      const std::lock_guard lock(mutex_);
      lines_.emplace_back(line);
      arrived_.notify_all();
    };
  }

  /// The first line containing `text`, waiting up to `patience`; empty when none came.
  std::string wait_for(std::string_view text) {
    std::unique_lock lock(mutex_);
    std::string found;
    arrived_.wait_for(lock, patience, [&] {
      for (const std::string& line : lines_) {
        if (line.find(text) != std::string::npos) {
          found = line;
          return true;
        }
      }
      return false;
    });
    return found;
  }

  /// Everything so far, for failure messages.
  std::string all() {
    const std::lock_guard lock(mutex_);
    std::string out;
    for (const std::string& line : lines_) out += line + "\n";
    return out;
  }

 private:
  std::mutex mutex_{};
  std::condition_variable arrived_{};
  std::vector<std::string> lines_{};
};

/// The number after `prefix` in `line` (0 when absent).
int number_after(const std::string& line, std::string_view prefix) {
  const auto at = line.find(prefix);
  if (at == std::string::npos) return 0;
  return std::atoi(line.c_str() + at + prefix.size());
}

}  // namespace

TEST_CASE("custom_runner restarts its command after a save and quits cleanly on SIGINT",
          "[examples]") {
  hmr_test::temp_dir dir("hmr-custom-runner");
  dir.write("src/app.cpp", "int main() {}\n");
  line_log log;
  auto runner = hmr::child_process::spawn({
      .command = {HMR_CUSTOM_RUNNER_PATH, dir.path.string(), "--", "/bin/sh", "-c",
                  "echo \"generation $HMR_GENERATION\"; exec sleep 600"},
      .on_line = log.recorder(),
  });
  REQUIRE(runner);

  REQUIRE_FALSE(log.wait_for("generation 1").empty());
  const std::string first_start = log.wait_for("] started pid ");
  INFO(log.all());
  REQUIRE_FALSE(first_start.empty());
  CHECK(first_start.find("[runner #") == 0);
  CHECK(first_start.find("initial start") != std::string::npos);
  const int first_pid = number_after(first_start, "started pid ");

  dir.write("src/app.cpp", "int main() { return 0; }\n");
  REQUIRE_FALSE(log.wait_for("generation 2").empty());
  CHECK_FALSE(log.wait_for("change(s), first src/app.cpp").empty());
  CHECK(hmr_test::not_running(first_pid));

  REQUIRE(::kill(runner->pid(), SIGINT) == 0);
  const auto exit = runner->wait_for(patience);
  REQUIRE(exit);
  CHECK(exit->status.code == 0);
  CHECK_FALSE(log.wait_for("stopped: interrupted (SIGINT)").empty());
  const int second_pid = number_after(log.wait_for("src/app.cpp changed"), "started pid ");
  CHECK(second_pid > 0);
  CHECK(hmr_test::not_running(second_pid));
}

TEST_CASE("custom_runner without a command is a usage error", "[examples]") {
  line_log log;
  auto runner = hmr::child_process::spawn({.command = {HMR_CUSTOM_RUNNER_PATH, "."},
                                           .on_line = log.recorder()});
  REQUIRE(runner);
  const auto exit = runner->wait_for(patience);
  REQUIRE(exit);
  CHECK(exit->status.code == 2);
  CHECK_FALSE(log.wait_for("usage: custom_runner DIR -- COMMAND").empty());
}

TEST_CASE("hello_server answers with its greeting and generation", "[examples]") {
  line_log log;
  auto server = hmr::child_process::spawn({
      .command = {HMR_HELLO_SERVER_PATH, "0"},
      .environment = {{"HMR_GENERATION", "3"}, {"HMR_REASON", "change"}},
      .on_line = log.recorder(),
  });
  REQUIRE(server);
  const std::string banner = log.wait_for("on http://127.0.0.1:");
  INFO(log.all());
  REQUIRE(banner.find("hello_server generation 3 (change): \"Hello from hmr!\"") == 0);
  const int port = number_after(banner, "http://127.0.0.1:");
  REQUIRE(port > 0);

  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  const std::string request = "GET / HTTP/1.0\r\n\r\n";
  REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size()));
  std::string response;
  char buffer[512];
  for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;)
    response.append(buffer, static_cast<std::size_t>(n));
  ::close(fd);
  CHECK(response.find("HTTP/1.0 200 OK\r\n") == 0);
  CHECK(response.substr(response.find("\r\n\r\n") + 4) == "Hello from hmr! (generation 3)\n");
  server->stop();
}
