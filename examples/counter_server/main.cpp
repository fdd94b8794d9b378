// counter_server: a small line server on 127.0.0.1 whose request handler is a
// hot-reloadable module (handler.cpp, loaded through hmr::module<handler_api>). Each line
// a client sends gets one line back, counted. Under `hmr --reload`, an edit of handler.cpp
// swaps the handler in place: the count (a persistent slot in the module) and every open
// connection (held here, in the host) survive. An edit of this file restarts the server.
// Walkthrough: docs/hot-reload.md.
//
//   counter_server [PORT [MODULE]]   PORT 0 (default) picks a free one, printed on the
//                                    first line; MODULE defaults to libcounter_handler.so
//                                    next to this program.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hmr/module.hpp>
#include <hmr/runtime.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "handler_api.hpp"

namespace {

/// A listening socket on 127.0.0.1:`port`, or -1 with the reason printed.
int listen_on(unsigned short port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(fd, 64) != 0) {
    std::fprintf(stderr, "counter_server: cannot listen on 127.0.0.1:%u: %s\n", port,
                 std::strerror(errno));
    return -1;
  }
  return fd;
}

/// The port `fd` is bound to.
unsigned short bound_port(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  return ntohs(address.sin_port);
}

/// The longest request line a client may send; a longer one ends its connection.
constexpr std::size_t max_line = 64 * 1024;

/// One connected client and the part of a line it has sent so far.
struct client {
  int fd = -1;
  std::string pending{};
};

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also into a pipe
  char* end = nullptr;
  const long port = argc > 1 ? std::strtol(argv[1], &end, 10) : 0;
  if (argc > 1 && (end == argv[1] || *end != '\0' || port < 0 || port > 65535)) {
    std::fprintf(stderr, "counter_server: '%s' is not a port (0 to 65535)\n", argv[1]);
    return 2;
  }
  std::string module_path = argc > 2 ? argv[2] : "";
  if (module_path.empty()) {  // libcounter_handler.so next to this program
    std::error_code ec;
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) {
      std::fprintf(stderr, "counter_server: cannot find my own directory (%s); give the module: "
                   "counter_server PORT MODULE\n", ec.message().c_str());
      return 2;
    }
    module_path = (self.parent_path() / "libcounter_handler.so").string();
  }
  const int listener = listen_on(static_cast<unsigned short>(port));
  if (listener < 0) return 1;

  // The handler. swap_mode::automatic: this loop sleeps in poll() until a client speaks,
  // so a new version is swapped in by hmr's channel thread as soon as no call is inside
  // the handler, rather than at the next sync() (docs/hot-reload.md says more).
  int swaps = 0;  // the first one is the initial load
  hmr::module<handler_api> handler{
      module_path,
      {.mode = hmr::swap_mode::automatic, .on_reload = [&swaps](const hmr::reload_outcome& r) {
         if (!r.ok) {
           std::printf("handler not reloaded: %s\n", r.reason.c_str());
         } else if (swaps++ > 0) {
           std::printf("handler reloaded\n");
         }
       }}};
  if (!handler) {
    std::fprintf(stderr, "counter_server: %s\n", handler.last_error().c_str());
    return 1;
  }
  std::printf("counter_server listening on 127.0.0.1:%u\n", bound_port(listener));

  hmr::runtime& hmr = hmr::runtime::instance();  // alone: every call does nothing
  auto restarted = hmr.on_restart([](std::string_view why) {
    std::printf("counter_server restarted: %.*s\n", static_cast<int>(why.size()), why.data());
  });
  hmr.ready();  // serving: hmr reports the time from the save to here

  std::vector<client> clients;
  for (;;) {
    std::vector<pollfd> fds{{listener, POLLIN, 0}};
    for (const client& c : clients) fds.push_back({c.fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      std::perror("counter_server: poll");
      return 1;
    }
    for (std::size_t i = clients.size(); i-- > 0;) {  // backwards: erase as we go
      if (fds[i + 1].revents == 0) continue;
      client& c = clients[i];
      char buffer[4096];
      const ssize_t n = ::recv(c.fd, buffer, sizeof buffer, 0);
      if (n <= 0) {  // the client left (or failed)
        ::close(c.fd);
        clients.erase(clients.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      c.pending.append(buffer, static_cast<std::size_t>(n));
      if (c.pending.size() > max_line && c.pending.find('\n') == std::string::npos) {
        static constexpr char too_long[] = "error: line too long\n";  // then goodbye
        static_cast<void>(::send(c.fd, too_long, sizeof too_long - 1, MSG_NOSIGNAL));
        ::close(c.fd);
        clients.erase(clients.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      for (std::size_t newline; (newline = c.pending.find('\n')) != std::string::npos;) {
        char reply[4096];
        const int length = handler->handle(c.pending.data(), static_cast<int>(newline), reply,
                                           static_cast<int>(sizeof reply));
        static_cast<void>(::send(c.fd, reply, static_cast<std::size_t>(length), MSG_NOSIGNAL));
        c.pending.erase(0, newline + 1);
      }
    }
    if (fds[0].revents & POLLIN) {
      const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) clients.push_back({fd, {}});
    }
  }
}
