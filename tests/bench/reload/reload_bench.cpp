// Save -> reloaded versus save -> restarted, on the counter_server example, through the
// real `hmr` binary (watcher, debouncer, hybrid strategy, JSON presenter), excluding the
// compile: prebuilt handler builds are renamed over the module file (a reload), or a new
// main.cpp is renamed over the one a --restart-on rule names (a restart). One sample:
// t0 just before rename(); t1 when the driver reads hmr's `reload_end` line (the new code
// is running: the server answered the request) or the new server's `ready` line (it
// listens with the module loaded). The two kinds alternate, so a change in the machine's
// load falls on both. After each sample one request on a client connection checks it
// (not timed): after a reload, the new greeting and the count continued on the same
// connection; after a restart, a new connection and the count from 1.
// See README.md next to this file.
//
// Build: g++ -O2 -std=c++20 tests/bench/reload/reload_bench.cpp -o reload_bench

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

/// Milliseconds on the monotonic clock.
double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "reload_bench: %s\n", why.c_str());
  std::exit(1);
}

/// The q-quantile (0..1) of `v`, linear interpolation between order statistics.
double quantile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(pos);
  const auto hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

/// The number after `"key":` in a JSON line (NAN when absent or null).
double number_of(const std::string& line, const std::string& key) {
  const auto at = line.find("\"" + key + "\":");
  if (at == std::string::npos) return NAN;
  const char* p = line.c_str() + at + key.size() + 3;
  char* end = nullptr;
  const double v = std::strtod(p, &end);
  return end == p ? NAN : v;
}

/// Lines from a pipe, each stamped with when the driver read it.
class line_reader {
 public:
  explicit line_reader(int fd) : fd_(fd) {}
  /// The next line, or "" after `timeout_ms` (the caller treats it as a miss).
  std::string next(double timeout_ms, double& read_at) {
    const double deadline = now_ms() + timeout_ms;
    for (;;) {
      if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        read_at = stamp_;
        return line;
      }
      const double left = deadline - now_ms();
      pollfd p{fd_, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left) + 1) != 1) return {};
      char chunk[65536];
      const ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n <= 0) return {};
      stamp_ = now_ms();
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_;
  std::string buffer_{};
  double stamp_ = 0;
};

/// A client connection to the server, one line per request.
class client {
 public:
  explicit client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<unsigned short>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) die("cannot connect to the server");
  }
  ~client() { ::close(fd_); }
  client(const client&) = delete;
  client& operator=(const client&) = delete;
  std::string ask(const std::string& line) {
    const std::string request = line + "\n";
    if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) < 0) return "<send failed>";
    std::string reply;
    char c = 0;
    while (::recv(fd_, &c, 1, 0) == 1 && c != '\n') reply += c;
    return reply;
  }

 private:
  int fd_ = -1;
};

struct options {
  std::string hmr, server, hello, bonjour, work = "/tmp/reload-bench-work", out;
  int iterations = 100, warmup = 3, debounce_ms = 50;
};

/// Copies `from` to `to` + ".next"; the caller renames it into place (the save).
std::string stage(const std::string& from, const std::string& to) {
  const std::string next = to + ".next";
  fs::copy_file(from, next, fs::copy_options::overwrite_existing);
  return next;
}

std::string row(const char* name, const std::vector<double>& v) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "| %s | %zu | %.2f | %.2f | %.2f | %.2f | %.2f |", name, v.size(), quantile(v, 0.5),
                quantile(v, 0.9), quantile(v, 0.75) - quantile(v, 0.25), v.empty() ? NAN : *std::min_element(v.begin(), v.end()),
                v.empty() ? NAN : *std::max_element(v.begin(), v.end()));
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&](const char* name) -> const char* {
      const std::string prefix = std::string("--") + name + "=";
      return a.rfind(prefix, 0) == 0 ? argv[i] + prefix.size() : nullptr;
    };
    if (const char* v = value("hmr")) o.hmr = v;
    else if (const char* v = value("server")) o.server = v;
    else if (const char* v = value("hello")) o.hello = v;
    else if (const char* v = value("bonjour")) o.bonjour = v;
    else if (const char* v = value("work")) o.work = v;
    else if (const char* v = value("out")) o.out = v;
    else if (const char* v = value("iterations")) o.iterations = std::atoi(v);
    else if (const char* v = value("warmup")) o.warmup = std::atoi(v);
    else if (const char* v = value("debounce")) o.debounce_ms = std::atoi(v);
    else {
      std::puts("reload_bench --hmr=PATH --server=PATH --hello=LIB --bonjour=LIB [--iterations=100]\n"
                "             [--warmup=3] [--debounce=50] [--work=DIR] [--out=results.md]");
      return a == "--help" ? 0 : 2;
    }
  }
  if (o.hmr.empty() || o.server.empty() || o.hello.empty() || o.bonjour.empty()) die("--hmr, --server, --hello and --bonjour are required");
  for (std::string* p : {&o.hmr, &o.server, &o.hello, &o.bonjour}) *p = fs::absolute(*p).string();

  std::error_code ec;
  fs::remove_all(o.work, ec);
  fs::create_directories(fs::path(o.work) / "lib");
  fs::create_directories(fs::path(o.work) / "src");
  const std::string module = o.work + "/lib/libcounter_handler.so";
  const std::string main_cpp = o.work + "/src/main.cpp";
  fs::copy_file(o.hello, module);
  std::ofstream(main_cpp) << "// edit 0\n";

  // hmr --json, its stdout a pipe read here.
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) die("pipe");
  const std::vector<std::string> args{o.hmr, "--json", "--no-keys", "-w", o.work, "-d", std::to_string(o.debounce_ms),
                                      "--reload", module, "--restart-on", "src/main.cpp", "--", o.server, "0", module};
  const pid_t hmr_pid = ::fork();
  if (hmr_pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    ::dup2(pipe_fds[1], 1);
    if (::chdir(o.work.c_str()) != 0) ::_exit(126);
    std::vector<char*> av;
    for (const auto& s : args) av.push_back(const_cast<char*>(s.c_str()));
    av.push_back(nullptr);
    ::execv(av[0], av.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  line_reader lines(pipe_fds[0]);
  const std::string listening = "counter_server listening on 127.0.0.1:";

  // Waits for lines until `done(line)` says so (true) or 10 s pass (a miss).
  const auto until = [&](auto done, double& at) {
    for (;;) {
      const std::string line = lines.next(10000, at);
      if (line.empty()) return std::string();
      if (done(line)) return line;
    }
  };
  // The port of the next server start, once it listens and said ready.
  const auto next_server = [&](double& ready_at, double& since_start_ms) {
    int port = 0;
    bool ready = false;
    double ignored = 0;
    until([&](const std::string& l) {
      if (const auto at = l.find(listening); at != std::string::npos) port = std::atoi(l.c_str() + at + listening.size());
      if (l.find("\"event\":\"ready\"") != std::string::npos) {
        ready = true;
        ready_at = ignored;
        since_start_ms = number_of(l, "since_start_ms");
      }
      return port != 0 && ready;
    }, ignored);
    if (port == 0 || !ready) die("the server did not start (no listening line and ready event within 10 s)");
    return port;
  };

  double t_ready = 0, since_start = 0;
  auto port = next_server(t_ready, since_start);
  auto connection = std::make_unique<client>(port);
  unsigned long long count = 0;
  if (connection->ask("x") != "hello #" + std::to_string(++count) + ": x") die("unexpected first answer");

  std::vector<double> reloaded, restarted, reload_elapsed, restart_spawn_to_ready;
  bool greeting_hello = true;
  int misses = 0;
  for (int i = 0; i < o.iterations + o.warmup; ++i) {
    const bool counted = i >= o.warmup;
    {  // save -> reloaded
      const std::string next = stage(greeting_hello ? o.bonjour : o.hello, module);
      greeting_hello = !greeting_hello;
      double t1 = 0;
      const double t0 = now_ms();
      fs::rename(next, module);
      const std::string end = until([](const std::string& l) { return l.find("\"event\":\"reload_end\"") != std::string::npos; }, t1);
      if (end.empty() || end.find("\"success\":true") == std::string::npos) {
        ++misses;
        die("reload " + std::to_string(i) + " failed: " + end);
      }
      if (counted) {
        reloaded.push_back(t1 - t0);
        reload_elapsed.push_back(number_of(end, "elapsed_ms"));
      }
      const std::string expected = std::string(greeting_hello ? "hello" : "bonjour") + " #" + std::to_string(++count) + ": x";
      if (const std::string got = connection->ask("x"); got != expected) die("after a reload: '" + got + "', expected '" + expected + "'");
    }
    {  // save -> restarted
      const std::string next = main_cpp + ".next";
      std::ofstream(next) << "// edit " << i + 1 << "\n";
      double t1 = 0;
      const double t0 = now_ms();
      fs::rename(next, main_cpp);
      port = next_server(t1, since_start);
      if (counted) {
        restarted.push_back(t1 - t0);
        restart_spawn_to_ready.push_back(since_start);
      }
      connection = std::make_unique<client>(port);
      count = 0;
      const std::string expected = std::string(greeting_hello ? "hello" : "bonjour") + " #" + std::to_string(++count) + ": x";
      if (const std::string got = connection->ask("x"); got != expected) die("after a restart: '" + got + "', expected '" + expected + "'");
    }
  }
  connection.reset();
  ::kill(hmr_pid, SIGINT);
  int status = 0;
  ::waitpid(hmr_pid, &status, 0);

  std::ostringstream table;
  table << "Save -> reloaded / restarted, counter_server under `hmr` (debounce " << o.debounce_ms << " ms), "
        << o.iterations << " samples each, ms\n\n"
        << "| path | n | p50 | p90 | IQR | min | max |\n|---|---|---|---|---|---|---|\n"
        << row("save -> reloaded (reload_end read)", reloaded) << "\n"
        << row("save -> restarted (ready read)", restarted) << "\n"
        << row("  of which reload request -> result (hmr's elapsed_ms)", reload_elapsed) << "\n"
        << row("  of which spawn -> ready (hmr's since_start_ms)", restart_spawn_to_ready) << "\n";
  char ratio[128];
  std::snprintf(ratio, sizeof ratio, "\nrestart / reload, p50: %.2fx; misses: %d\n",
                quantile(restarted, 0.5) / quantile(reloaded, 0.5), misses);
  table << ratio;
  std::fputs(table.str().c_str(), stdout);
  if (!o.out.empty()) std::ofstream(o.out) << table.str();
  return 0;
}
