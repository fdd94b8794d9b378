// hello_server: the README demo's program. A small HTTP server on 127.0.0.1 that answers
// every request with the greeting in greeting.hpp and says which generation it is, from
// the HMR_* variables hmr gives the programs it runs.
//
//   hello_server [PORT]      (default 8080; 0 picks a free port)
//
// Run alone it works the same; under `hmr` each save of greeting.hpp rebuilds and
// restarts it (tools/dev.sh demo).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "greeting.hpp"

namespace {

/// The value of environment variable `name`, or `fallback` when it is unset.
std::string env_or(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : fallback;
}

/// A listening socket on 127.0.0.1:`port`, or -1 with the reason printed.
int listen_on(unsigned short port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(fd, 16) != 0) {
    std::fprintf(stderr, "hello_server: cannot listen on 127.0.0.1:%u: %s\n", port,
                 std::strerror(errno));
    ::close(fd);
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

}  // namespace

int main(int argc, char** argv) {
  char* end = nullptr;
  const long requested = argc > 1 ? std::strtol(argv[1], &end, 10) : 8080;
  if (argc > 1 && (end == argv[1] || *end != '\0' || requested < 0 || requested > 65535)) {
    std::fprintf(stderr, "hello_server: '%s' is not a port (0 to 65535)\n", argv[1]);
    return 2;
  }
  int listener = listen_on(static_cast<unsigned short>(requested));
  if (listener < 0 && requested != 0) listener = listen_on(0);  // 8080 taken: any free port
  if (listener < 0) return 1;

  const std::string generation = env_or("HMR_GENERATION", "-");
  const std::string reason = env_or("HMR_REASON", "not under hmr");
  std::printf("hello_server generation %s (%s): \"%s\" on http://127.0.0.1:%u/\n",
              generation.c_str(), reason.c_str(), greeting, bound_port(listener));
  std::fflush(stdout);

  for (;;) {
    const int client = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      std::perror("hello_server: accept");
      return 1;
    }
    char request[1024];
    static_cast<void>(::recv(client, request, sizeof request, 0));  // the request is not read
    const std::string body = std::string(greeting) + " (generation " + generation + ")\n";
    const std::string response = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                                 std::to_string(body.size()) + "\r\n\r\n" + body;
    static_cast<void>(::send(client, response.data(), response.size(), MSG_NOSIGNAL));
    ::close(client);
  }
}
