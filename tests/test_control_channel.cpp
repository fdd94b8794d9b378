// The control channel: the message codec (exact lines, round trips, garbage), the line
// splitter, and two endpoints on a real socketpair. Waits are on messages with timeouts.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <hmr/detail/control_channel.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "hmr_catch.hpp"

namespace {

using namespace std::chrono_literals;
using hmr::detail::control_endpoint;
using hmr::detail::control_file_modified;
using hmr::detail::control_hello;
using hmr::detail::control_message;
using hmr::detail::control_ready;
using hmr::detail::control_reload;
using hmr::detail::control_reload_result;
using hmr::detail::decode;
using hmr::detail::encode;

/// Messages an endpoint received, and whether its peer closed, with waits.
struct inbox {
  std::mutex mutex{};
  std::condition_variable changed{};
  std::deque<control_message> messages{};
  int closed = 0;

  std::function<void(control_message)> on_message() {
    return [this](control_message m) {
      const std::lock_guard lock(mutex);
      messages.push_back(std::move(m));
      changed.notify_all();
    };
  }
  std::function<void()> on_closed() {
    return [this] {
      const std::lock_guard lock(mutex);
      ++closed;
      changed.notify_all();
    };
  }
  /// The next message (nullopt after 10 s).
  std::optional<control_message> next() {
    std::unique_lock lock(mutex);
    if (!changed.wait_for(lock, 10s, [&] { return !messages.empty(); })) return std::nullopt;
    control_message m = std::move(messages.front());
    messages.pop_front();
    return m;
  }
  /// True once the peer closed (false after 10 s).
  bool wait_closed() {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 10s, [&] { return closed > 0; });
  }
};

/// A connected pair of endpoints: `supervisor` and `app`.
struct endpoint_pair {
  inbox supervisor_inbox{};
  inbox app_inbox{};
  std::unique_ptr<control_endpoint> supervisor{};
  std::unique_ptr<control_endpoint> app{};
  endpoint_pair() {
    auto pair = hmr::detail::make_control_socketpair();
    REQUIRE(pair.has_value());
    supervisor = std::make_unique<control_endpoint>(
        pair->supervisor_fd, supervisor_inbox.on_message(), supervisor_inbox.on_closed());
    app = std::make_unique<control_endpoint>(pair->child_fd, app_inbox.on_message(),
                                             app_inbox.on_closed());
  }
};

}  // namespace

TEST_CASE("control channel: each message encodes to the documented line", "[control]") {
  struct row {
    control_message message;
    std::string line;
  };
  const std::vector<row> rows = {
      {control_hello{1, 1234}, R"({"type":"hello","protocol":1,"pid":1234})"},
      {control_ready{}, R"({"type":"ready"})"},
      {control_reload{7, {"/abs/build/libhandler.so"}, {"src/handler.cpp"}, 2000ms},
       R"({"type":"reload","id":7,"modules":["/abs/build/libhandler.so"],"changed":["src/handler.cpp"],"timeout_ms":2000})"},
      {control_reload_result{7, true, "", {"/abs/build/libhandler.so"}, 310us},
       R"({"type":"reload_result","id":7,"ok":true,"modules":["/abs/build/libhandler.so"],"elapsed_us":310})"},
      {control_reload_result{7, false, "slot 'counter' changed layout: size 8 -> 16", {}, 0us},
       R"({"type":"reload_result","id":7,"ok":false,"reason":"slot 'counter' changed layout: size 8 -> 16","modules":[],"elapsed_us":0})"},
      {control_file_modified{{"src/a.cpp", "assets/x.png"}},
       R"({"type":"file_modified","paths":["src/a.cpp","assets/x.png"]})"},
      {control_file_modified{{"a\nb\"c\\", "\xC3\xA9t\xC3\xA9"}},
       "{\"type\":\"file_modified\",\"paths\":[\"a\\nb\\\"c\\\\\",\"\xC3\xA9t\xC3\xA9\"]}"},
  };
  for (const row& r : rows) {
    CAPTURE(r.line);
    CHECK(encode(r.message) == r.line);
    const auto back = decode(r.line);
    REQUIRE(back.has_value());
    CHECK(*back == r.message);
    CHECK(encode(r.message).find('\n') == std::string::npos);
  }
}

TEST_CASE("control channel: every message round-trips, extremes included", "[control]") {
  const std::vector<control_message> messages = {
      control_hello{},
      control_hello{-5, 2147483647},
      control_hello{2147483647, -2147483647 - 1},
      control_ready{},
      control_reload{},
      control_reload{9223372036854775807ULL, {"", "/x y/z", std::string("nul\0in", 6)}, {}, 3600000ms},
      control_reload{1, {}, {"a", "b", "c"}, 0ms},
      control_reload_result{},
      control_reload_result{9223372036854775807ULL, true, "kept", {"m"}, -3us},
      control_reload_result{3, false, "\x7f\x01 \xF0\x9F\x98\x80", {"a", "b"}, 123456789us},
      control_file_modified{},
      control_file_modified{{"\xE2\x80\xA8", "\t"}},
  };
  for (const control_message& m : messages) {
    const std::string line = encode(m);
    CAPTURE(line);
    const auto back = decode(line);
    REQUIRE(back.has_value());
    CHECK(*back == m);
  }
}

TEST_CASE("control channel: a reload's timeout_ms is clamped to [0, 1 h]", "[control]") {
  struct row {
    std::string timeout;
    std::chrono::milliseconds expected;
  };
  const std::vector<row> rows = {
      {"0", 0ms},
      {"1", 1ms},
      {"3600000", 3600000ms},
      {"3600001", 3600000ms},
      {"9223372036854775807", 3600000ms},
      {"-1", 0ms},
      {"-9223372036854775808", 0ms},
  };
  for (const row& r : rows) {
    CAPTURE(r.timeout);
    const auto m = decode(R"({"type":"reload","id":1,"timeout_ms":)" + r.timeout + "}");
    REQUIRE(m.has_value());
    const auto* reload = std::get_if<control_reload>(&*m);
    REQUIRE(reload != nullptr);
    CHECK(reload->timeout == r.expected);
  }
  CHECK(hmr::detail::control_max_timeout == 3600000ms);
}

TEST_CASE("control channel: decoding the documented lines, with defaults and extras", "[control]") {
  // The contract's failure example: no modules, no elapsed_us.
  auto m = decode(
      R"({"type":"reload_result","id":7,"ok":false,"reason":"slot 'counter' changed layout: size 8 -> 16"})");
  REQUIRE(m.has_value());
  CHECK(*m == control_message{control_reload_result{
                  7, false, "slot 'counter' changed layout: size 8 -> 16", {}, 0us}});
  // Missing optional members take their defaults; unknown members are ignored; a line
  // ending is accepted.
  m = decode("{\"type\":\"reload\",\"id\":3,\"future\":{\"x\":[1,2]}}\r\n");
  REQUIRE(m.has_value());
  CHECK(*m == control_message{control_reload{3, {}, {}, 2000ms}});
  m = decode(R"({"pid":5,"type":"hello","protocol":2,"extra":null})");
  REQUIRE(m.has_value());
  CHECK(*m == control_message{control_hello{2, 5}});
  m = decode(R"({"type":"ready","id":1})");
  REQUIRE(m.has_value());
  CHECK(*m == control_message{control_ready{}});
  m = decode(R"({"type":"file_modified"})");
  REQUIRE(m.has_value());
  CHECK(*m == control_message{control_file_modified{}});
}

TEST_CASE("control channel: lines that are not messages decode to nothing", "[control]") {
  const std::string line = GENERATE(values<std::string>({
      "",
      "\n",
      "{",
      "garbage",
      "[]",
      "null",
      "42",
      "{}",
      R"({"type":7})",
      R"({"type":null})",
      R"({"type":"nope"})",
      R"({"type":"HELLO","protocol":1})",
      R"({"type":"hello"})",  // protocol is required
      R"({"type":"hello","protocol":1.0})",
      R"({"type":"hello","protocol":4294967296})",  // out of int range
      R"({"type":"hello","protocol":1,"pid":"12"})",
      R"({"type":"reload"})",  // id is required
      R"({"type":"reload","id":-1})",
      R"({"type":"reload","id":1.5})",
      R"({"type":"reload","id":18446744073709551615})",  // above INT64_MAX
      R"({"type":"reload","id":1,"modules":"a.so"})",
      R"({"type":"reload","id":1,"modules":[1]})",
      R"({"type":"reload","id":1,"changed":[null]})",
      R"({"type":"reload","id":1,"timeout_ms":"2s"})",
      R"({"type":"reload_result","id":1})",  // ok is required
      R"({"type":"reload_result","id":1,"ok":1})",
      R"({"type":"reload_result","id":1,"ok":true,"reason":false})",
      R"({"type":"reload_result","id":1,"ok":true,"elapsed_us":1e3})",
      R"({"type":"file_modified","paths":{}})",
      R"({"type":"ready","type":"ready"})",          // duplicate key
      R"({"type":"ready"} {"type":"ready"})",        // two values
      "{\"type\":\"ready\"}\n{\"type\":\"ready\"}",  // a line break inside
      "{\"type\":\"re\xFF"
      "ady\"}",                                       // invalid UTF-8
      std::string(100, '[') + std::string(100, ']'),  // too deep
  }));
  CAPTURE(line);
  CHECK_FALSE(decode(line).has_value());
}

TEST_CASE("control channel: the line splitter frames, caps and resumes", "[control]") {
  hmr::detail::control_line_splitter splitter{8};
  std::vector<std::string> lines;
  const auto collect = [&](std::string_view l) {
    lines.emplace_back(l);
    return true;
  };
  splitter.feed("ab", collect);
  splitter.feed("c\nde", collect);
  splitter.feed("\n\n12345678\n123456789", collect);  // 9 bytes: over the cap
  splitter.feed("0123\nok\nxx", collect);             // the rest of the long line is dropped
  const std::vector<std::string> expected = {"abc", "de", "", "12345678", "ok"};
  CHECK(lines == expected);
  // Stopping early.
  lines.clear();
  hmr::detail::control_line_splitter second;
  int calls = 0;
  CHECK_FALSE(second.feed("a\nb\nc\n", [&](std::string_view) { return ++calls < 2; }));
  CHECK(calls == 2);
}

TEST_CASE("control channel: endpoints exchange messages in both directions", "[control]") {
  endpoint_pair p;
  const control_message reload = control_reload{1, {"/abs/lib.so"}, {"src/a.cpp"}, 1500ms};
  const control_message hello = control_hello{1, 4321};
  const control_message result = control_reload_result{1, true, "", {"/abs/lib.so"}, 99us};
  REQUIRE(p.app->send(hello));
  REQUIRE(p.supervisor->send(reload));
  REQUIRE(p.app->send(result));
  REQUIRE(p.supervisor->send(control_file_modified{{"assets/x.png"}}));
  auto got = p.supervisor_inbox.next();
  REQUIRE(got.has_value());
  CHECK(*got == hello);
  got = p.supervisor_inbox.next();
  REQUIRE(got.has_value());
  CHECK(*got == result);
  got = p.app_inbox.next();
  REQUIRE(got.has_value());
  CHECK(*got == reload);
  got = p.app_inbox.next();
  REQUIRE(got.has_value());
  CHECK(*got == control_message{control_file_modified{{"assets/x.png"}}});
}

TEST_CASE("control channel: garbage and a 2 MiB line are skipped, the next message arrives",
          "[control]") {
  endpoint_pair p;
  REQUIRE(p.app->send_raw("not json\n{\"type\":\"unknown\"}\n\n"));
  REQUIRE(p.app->send_raw(std::string(2u << 20, 'x')));  // in pieces, no '\n' yet
  REQUIRE(p.app->send_raw("{\"type\":\"ready\"}\n"));    // ends the long line: dropped too
  // A long line that is valid JSON is dropped as well.
  std::string big = encode(control_file_modified{{std::string(2u << 20, 'y')}});
  REQUIRE(p.app->send_raw(big + "\n"));
  REQUIRE(p.app->send(control_hello{1, 77}));
  auto got = p.supervisor_inbox.next();
  REQUIRE(got.has_value());
  CHECK(*got == control_message{control_hello{1, 77}});
  // And a line of exactly the cap is still delivered (it is not a message: skipped).
  REQUIRE(p.app->send_raw(std::string(hmr::detail::control_max_line, ' ') + "\n"));
  REQUIRE(p.app->send(control_ready{}));
  got = p.supervisor_inbox.next();
  REQUIRE(got.has_value());
  CHECK(*got == control_message{control_ready{}});
  const std::lock_guard lock(p.supervisor_inbox.mutex);
  CHECK(p.supervisor_inbox.messages.empty());
}

TEST_CASE("control channel: a peer that closes ends the reader; sending then fails quietly",
          "[control]") {
  endpoint_pair p;
  REQUIRE(p.app->send(control_ready{}));
  p.app.reset();  // the app's end closes
  auto got = p.supervisor_inbox.next();
  REQUIRE(got.has_value());  // what was sent before the close still arrives
  CHECK(*got == control_message{control_ready{}});
  REQUIRE(p.supervisor_inbox.wait_closed());
  // No SIGPIPE (it would end this test program): false instead. The first send after
  // the peer's close may still be accepted by the kernel; a later one cannot.
  bool failed = false;
  for (int i = 0; i < 4 && !failed; ++i) failed = !p.supervisor->send(control_ready{});
  CHECK(failed);
  p.supervisor.reset();
  const std::lock_guard lock(p.supervisor_inbox.mutex);
  CHECK(p.supervisor_inbox.closed == 1);
  CHECK(p.app_inbox.closed == 0);  // destroying an endpoint does not call its on_closed
}

TEST_CASE("control channel: an endpoint destroyed from its own callback", "[control]") {
  auto pair = hmr::detail::make_control_socketpair();
  REQUIRE(pair.has_value());
  std::mutex mutex;
  std::condition_variable done;
  bool destroyed = false;
  std::unique_ptr<control_endpoint> self;
  control_endpoint peer{pair->child_fd, {}, {}};
  {
    const std::lock_guard lock(mutex);
    self = std::make_unique<control_endpoint>(
        pair->supervisor_fd,
        [&](control_message) {
          const std::lock_guard inner(mutex);
          self.reset();  // on the reader thread: must not join itself
          destroyed = true;
          done.notify_all();
        },
        [] {});
  }
  REQUIRE(peer.send(control_ready{}));
  std::unique_lock lock(mutex);
  REQUIRE(done.wait_for(lock, 10s, [&] { return destroyed; }));
  CHECK(self == nullptr);
}

TEST_CASE("control channel: a socketpair whose ends are close-on-exec", "[control]") {
  auto pair = hmr::detail::make_control_socketpair();
  REQUIRE(pair.has_value());
  for (const int fd : {pair->supervisor_fd, pair->child_fd}) {
    CHECK(hmr::detail::is_stream_socket(fd));
    CHECK((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    ::close(fd);
  }
  CHECK_FALSE(hmr::detail::is_stream_socket(pair->child_fd));  // closed
  CHECK_FALSE(hmr::detail::is_stream_socket(-1));
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  CHECK_FALSE(hmr::detail::is_stream_socket(pipe_fds[0]));  // not a socket
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  // A stream socket, but not AF_UNIX (TCP), and an AF_UNIX socket that is not a stream.
  for (const auto& [domain, type] : {std::pair{AF_INET, SOCK_STREAM}, std::pair{AF_UNIX, SOCK_DGRAM}}) {
    CAPTURE(domain);
    CAPTURE(type);
    const int fd = ::socket(domain, type | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    CHECK_FALSE(hmr::detail::is_stream_socket(fd));
    ::close(fd);
  }
}

TEST_CASE("control channel: a peer that never reads: send gives up after its timeout", "[control]") {
  auto pair = hmr::detail::make_control_socketpair();
  REQUIRE(pair.has_value());
  // The supervisor's end with a short send timeout; nothing reads the app's end yet.
  control_endpoint supervisor{pair->supervisor_fd, {}, {}, 20ms};
  const control_file_modified big{{std::string(100000, 'p')}};
  hmr::detail::control_send outcome = hmr::detail::control_send::sent;
  int sent = 0;
  while (sent < 1000 && outcome == hmr::detail::control_send::sent) {
    outcome = supervisor.send_message(big);
    sent += outcome == hmr::detail::control_send::sent;
  }
  CHECK(outcome == hmr::detail::control_send::timed_out);
  CHECK(sent < 1000);
  CHECK_FALSE(supervisor.send(control_ready{}));  // still full: false, not a hang
  // Once the app reads, what was sent whole arrives; a line cut by the timeout is dropped
  // and the next message arrives intact.
  inbox app_inbox;
  control_endpoint app{pair->child_fd, app_inbox.on_message(), app_inbox.on_closed()};
  for (int i = 0; i < sent; ++i) {
    CAPTURE(i);
    const auto m = app_inbox.next();
    REQUIRE(m.has_value());
    CHECK(*m == control_message{big});
  }
  std::optional<control_message> last;
  for (int tries = 0; tries < 1000; ++tries) {
    const auto o = supervisor.send_message(control_hello{1, 5});
    if (o == hmr::detail::control_send::sent) break;
    REQUIRE(o == hmr::detail::control_send::timed_out);  // the reader is catching up
  }
  last = app_inbox.next();
  REQUIRE(last.has_value());
  CHECK(*last == control_message{control_hello{1, 5}});
}
