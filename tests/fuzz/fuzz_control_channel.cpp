// Fuzzes the control channel codec and line splitter.
// Properties (abort() on a violation):
//  1. decode() of arbitrary bytes never crashes or throws; when it returns a message m,
//     encode(m) is one line and decode(encode(m)) == m.
//     A decoded reload's timeout is within [0, control_max_timeout] (no overflow later).
//  2. For a message built from the input, decode(encode(m)) == m', where m' is m with each
//     string as the JSON writer writes it (invalid UTF-8 -> U+FFFD; otherwise unchanged)
//     and a reload's timeout clamped to [0, 1 h]; also for a raw timeout_ms line.
//  3. The line splitter, fed the input in pieces, delivers exactly the lines a simple
//     reference (split at '\n', drop lines over the cap and the unterminated tail) gives.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <hmr/detail/control_channel.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace hmr::detail;

/// Reads the fuzzer's bytes as a stream of choices.
struct input {
  const std::uint8_t* p;
  std::size_t n;
  std::uint8_t byte() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  std::uint64_t u64() {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | byte();
    return v;
  }
  std::string text() {
    const std::size_t len = std::min<std::size_t>(byte() % 24, n);
    std::string s(reinterpret_cast<const char*>(p), len);
    p += len;
    n -= len;
    return s;
  }
  std::vector<std::string> texts() {
    std::vector<std::string> out(byte() % 4);
    for (std::string& s : out) s = text();
    return out;
  }
};

/// What the JSON writer and reader make of `s`: valid UTF-8 is unchanged.
std::string as_written(const std::string& s) {
  std::string quoted;
  hmr::append_json_string(quoted, s);
  auto parsed = hmr::parse_json(quoted);
  if (!parsed || !parsed->is_string()) std::abort();
  return parsed->as_string();
}

std::vector<std::string> as_written(const std::vector<std::string>& v) {
  std::vector<std::string> out;
  for (const std::string& s : v) out.push_back(as_written(s));
  return out;
}

control_message make_message(input& in) {
  switch (in.byte() % 5) {
    case 0:
      return control_hello{static_cast<int>(in.u64()), static_cast<int>(in.u64())};
    case 1:
      return control_ready{};
    case 2: {
      control_reload m;
      m.id = in.u64() >> 1;  // ids are at most INT64_MAX
      m.modules = in.texts();
      m.changed = in.texts();
      m.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(in.u64()));
      return m;
    }
    case 3: {
      control_reload_result m;
      m.id = in.u64() >> 1;
      m.ok = in.byte() & 1;
      m.reason = in.text();
      m.modules = in.texts();
      m.elapsed = std::chrono::microseconds(static_cast<std::int64_t>(in.u64()));
      return m;
    }
    default:
      return control_file_modified{in.texts()};
  }
}

/// `m` with its strings as the writer writes them.
control_message normalised(control_message m) {
  if (auto* r = std::get_if<control_reload>(&m)) {
    r->modules = as_written(r->modules);
    r->changed = as_written(r->changed);
    r->timeout = std::clamp(r->timeout, std::chrono::milliseconds(0), control_max_timeout);
  } else if (auto* r = std::get_if<control_reload_result>(&m)) {
    r->reason = as_written(r->reason);
    r->modules = as_written(r->modules);
  } else if (auto* f = std::get_if<control_file_modified>(&m)) {
    f->paths = as_written(f->paths);
  }
  return m;
}

void check_round_trip(const control_message& m, const control_message& expected) {
  const std::string line = encode(m);
  if (line.find('\n') != std::string::npos) std::abort();
  const auto back = decode(line);
  if (!back || !(*back == expected)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  // 1. Arbitrary bytes.
  if (const auto m = decode(bytes)) {
    if (const auto* r = std::get_if<control_reload>(&*m))
      if (r->timeout.count() < 0 || r->timeout > control_max_timeout) std::abort();
    check_round_trip(*m, *m);
  }

  // 2. A message built from the bytes.
  input in{data, size};
  const control_message m = make_message(in);
  check_round_trip(m, normalised(m));
  {  // Any integer timeout_ms, as text: clamped, never rejected.
    input t{data, size};
    const auto ms = static_cast<std::int64_t>(t.u64());
    const auto r = decode(R"({"type":"reload","id":0,"timeout_ms":)" + std::to_string(ms) + "}");
    if (!r) std::abort();
    const auto* reload = std::get_if<control_reload>(&*r);
    const std::int64_t want = ms < 0 ? 0 : std::min<std::int64_t>(ms, control_max_timeout.count());
    if (reload == nullptr || reload->timeout.count() != want) std::abort();
  }

  // 3. The splitter against a reference, with a small cap and the input cut in pieces.
  const std::size_t cap = size == 0 ? 4 : data[0] % 16;
  std::vector<std::string> expected;
  std::size_t start = 0;
  for (std::size_t nl; (nl = bytes.find('\n', start)) != std::string_view::npos; start = nl + 1)
    if (nl - start <= cap) expected.emplace_back(bytes.substr(start, nl - start));
  std::vector<std::string> got;
  control_line_splitter splitter{cap};
  const std::size_t step = size == 0 ? 1 : 1 + data[size - 1] % 7;
  for (std::size_t i = 0; i < size; i += step)
    splitter.feed(bytes.substr(i, step), [&](std::string_view line) {
      got.emplace_back(line);
      return true;
    });
  if (got != expected) std::abort();
  return 0;
}
