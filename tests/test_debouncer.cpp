#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <hmr/debouncer.hpp>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hmr_catch.hpp"

using namespace std::chrono_literals;
using hmr::change_batch;
using hmr::change_kind;
using hmr::debouncer;
using hmr::file_change;
using time_point = debouncer::time_point;

namespace {

// Fake time: an arbitrary origin, far from the clock's epoch.
const time_point t0 = time_point{} + 1h;

// i milliseconds, for loop indices.
std::chrono::milliseconds ms(std::size_t i) {
  return std::chrono::milliseconds{static_cast<long long>(i)};
}

// ---------------------------------------------------------------------------------------
// A tiny notation for changes, shared by the tables here and in docs/debouncer.md:
// "created a", "modified 1:a" (root 1), "removed d/" (a directory), "renamed a -> b".

std::string describe(const file_change& c) {
  const std::string root = c.root != 0 ? std::to_string(c.root) + ":" : "";
  std::string s{hmr::to_string(c.kind)};
  s += ' ';
  if (c.kind == change_kind::renamed || !c.old_path.empty())
    s += c.old_path.empty() ? "-> " : root + c.old_path + " -> ";
  s += root + c.path;
  if (c.is_directory) s += '/';
  return s;
}

std::string describe(const std::vector<file_change>& changes) {
  if (changes.empty()) return "nothing";
  std::string s;
  for (const auto& c : changes) s += (s.empty() ? "" : ", ") + describe(c);
  return s;
}

std::string describe(const change_batch& batch) { return describe(batch.changes); }

std::string describe(const std::optional<change_batch>& batch) {
  return batch ? describe(*batch) : "no batch";
}

// "t0 + 50ms" as "50ms" (or in ns when not a whole number of ms); "none" when empty.
std::string when(std::optional<time_point> t) {
  if (!t) return "none";
  const auto d = *t - t0;
  if (d % 1ms == 0ns) return std::to_string(d / 1ms) + "ms";
  return std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()) + "ns";
}

// Parses one change in the notation above ("" as a rename's source: an empty old_path).
file_change parse_change(std::string_view text) {
  file_change c;
  const auto space = text.find(' ');
  const std::string_view kind = text.substr(0, space);
  std::string_view rest = text.substr(space + 1);
  const auto path_of = [&c](std::string_view p) {
    if (p.size() > 2 && p[1] == ':') {
      c.root = static_cast<std::uint32_t>(p[0] - '0');
      p.remove_prefix(2);
    }
    if (!p.empty() && p.back() == '/') {
      c.is_directory = true;
      p.remove_suffix(1);
    }
    return std::string{p};
  };
  if (kind == "created") c.kind = change_kind::created;
  if (kind == "modified") c.kind = change_kind::modified;
  if (kind == "removed") c.kind = change_kind::removed;
  if (kind == "renamed") {
    c.kind = change_kind::renamed;
    const auto arrow = rest.find("-> ");
    std::string_view from = rest.substr(0, arrow);
    if (!from.empty()) from.remove_suffix(1);  // the space before the arrow
    c.old_path =
        from.size() > 2 && from[1] == ':' ? std::string{from.substr(2)} : std::string{from};
    rest = rest.substr(arrow + 3);
  }
  c.path = path_of(rest);
  return c;
}

std::vector<file_change> parse(std::string_view text) {
  std::vector<file_change> out;
  while (!text.empty()) {
    const auto comma = text.find(", ");
    out.push_back(parse_change(text.substr(0, comma)));
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 2);
  }
  return out;
}

file_change modified(std::string path, std::uint32_t root = 0) {
  return {.path = std::move(path), .kind = change_kind::modified, .root = root};
}

// ---------------------------------------------------------------------------------------
// The oracle: a small file-system model that follows every entry (file or directory)
// through renames, then derives each path's net change from its state before the batch
// and after it. It shares no code with the debouncer.
//
// What existed before the batch is what a path's first event in the batch implies
// (created: absent; modified, removed, a rename's source: present; a rename's target:
// absent, as the debouncer cannot know better). It returns nothing for a sequence that is
// physically impossible under that model (removing what is not there, a rename onto an
// entry of the other type, a modification that changes a file into a directory, ...).

using path_key = std::pair<std::uint32_t, std::string>;

struct model_entry {
  bool is_directory = false;
  std::optional<path_key> origin;  // the path it was at before the batch; empty: new
};

struct model_path {
  bool existed_before = false;
  bool was_directory = false;
  std::optional<model_entry> now;
  std::size_t first_touch = 0;
};

std::optional<change_batch> oracle(const std::vector<file_change>& events) {
  std::map<path_key, model_path> paths;
  std::size_t touches = 0;
  const auto touch = [&](path_key key, bool existed, bool dir) -> model_path& {
    auto [it, fresh] = paths.try_emplace(key);
    if (fresh) {
      it->second = {existed, dir, std::nullopt, touches++};
      if (existed) it->second.now = model_entry{dir, key};
    }
    return it->second;
  };
  for (const auto& e : events) {
    const bool dir = e.is_directory;
    switch (e.kind) {
      case change_kind::created: {
        auto& p = touch({e.root, e.path}, false, dir);
        if (p.now) return std::nullopt;
        p.now = model_entry{dir, std::nullopt};
        break;
      }
      case change_kind::modified: {
        auto& p = touch({e.root, e.path}, true, dir);
        if (!p.now || p.now->is_directory != dir) return std::nullopt;
        break;
      }
      case change_kind::removed: {
        auto& p = touch({e.root, e.path}, true, dir);
        if (!p.now || p.now->is_directory != dir) return std::nullopt;
        p.now.reset();
        break;
      }
      case change_kind::renamed: {
        if (e.old_path.empty() || e.old_path == e.path) return std::nullopt;
        auto& from = touch({e.root, e.old_path}, true, dir);
        auto& to = touch({e.root, e.path}, false, dir);
        if (!from.now || from.now->is_directory != dir) return std::nullopt;
        if (to.now && to.now->is_directory != dir) return std::nullopt;
        to.now = from.now;
        from.now.reset();
        break;
      }
    }
  }
  std::vector<std::pair<std::size_t, file_change>> net;  // (position, change)
  for (const auto& item : paths) {
    const path_key& key = item.first;  // not a structured binding: the lambda below uses it
    const model_path& p = item.second;
    const auto& [root, path] = key;
    if (p.existed_before && p.now) {
      net.push_back({p.first_touch, {path, change_kind::modified, "", root, p.now->is_directory}});
    } else if (p.now) {
      const auto& origin = p.now->origin;
      if (origin && !paths.at(*origin).now) {  // moved here from a path that is gone
        net.push_back({std::min(p.first_touch, paths.at(*origin).first_touch),
                       {path, change_kind::renamed, origin->second, root, p.now->is_directory}});
      } else {
        net.push_back({p.first_touch, {path, change_kind::created, "", root, p.now->is_directory}});
      }
    } else if (p.existed_before) {
      const bool reported_as_rename = std::any_of(paths.begin(), paths.end(), [&](const auto& q) {
        return !q.second.existed_before && q.second.now && q.second.now->origin == key;
      });
      if (!reported_as_rename)
        net.push_back({p.first_touch, {path, change_kind::removed, "", root, p.was_directory}});
    }
  }
  std::sort(net.begin(), net.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  change_batch batch;
  for (auto& [position, change] : net) batch.changes.push_back(std::move(change));
  return batch;
}

// Pushes `events` 1 ms apart from t0 and checks everything the debouncer reports against
// `expected` (the oracle's answer): pending state, count, deadline, and the batch itself,
// released exactly at the deadline. `variant` picks how the events are pushed.
void check_against(const std::vector<file_change>& events, const change_batch& expected,
                   std::size_t variant) {
  debouncer d;
  if (variant % 3 == 2) {
    d.push(events, t0);
  } else {
    for (std::size_t i = 0; i < events.size(); ++i) {
      const time_point at = t0 + ms(i);
      if (variant % 3 == 0)
        d.push(events[i], at);
      else
        d.push(file_change{events[i]}, at);
    }
  }
  const time_point last = variant % 3 == 2 ? t0 : t0 + ms(events.size() - 1);
  const bool before_ok = d.pending() && d.pending_count() == expected.size() &&
                         d.deadline() == last + 50ms && !d.poll(last + 50ms - 1ns);
  const auto got = d.poll(last + 50ms);
  const auto want = expected.empty() ? std::optional<change_batch>{} : expected;
  if (!before_ok || got != want || d.pending() || d.deadline() || d.pending_count() != 0) {
    INFO("events: " << describe(events));
    INFO("push variant " << variant % 3);
    CHECK(d.pending_count() == 0);
    CHECK_FALSE(d.pending());
    CHECK(before_ok);
    REQUIRE(describe(got) == describe(want));
  }
}

// The alphabet of the exhaustive check: every kind on every path, as file and directory,
// and renames between paths of the same root.
std::vector<file_change> alphabet(const std::vector<path_key>& paths, bool directories = true) {
  std::vector<file_change> out;
  for (bool dir : {false, true}) {
    if (dir && !directories) break;
    for (const auto& [root, path] : paths) {
      for (auto kind : {change_kind::created, change_kind::modified, change_kind::removed})
        out.push_back({path, kind, "", root, dir});
      for (const auto& [root2, path2] : paths)
        if (root2 == root && path2 != path)
          out.push_back({path2, change_kind::renamed, path, root, dir});
    }
  }
  return out;
}

// Every physically possible sequence of up to `max_length` changes from `letters`,
// checked against the oracle. Returns how many sequences were checked.
std::size_t explore(std::vector<file_change>& sequence, const std::vector<file_change>& letters,
                    std::size_t max_length) {
  std::size_t checked = 0;
  for (const auto& letter : letters) {
    sequence.push_back(letter);
    if (const auto expected = oracle(sequence)) {
      check_against(sequence, *expected, checked);
      ++checked;
      if (sequence.size() < max_length) checked += explore(sequence, letters, max_length);
    }
    sequence.pop_back();
  }
  return checked;
}

// What must hold for any input, possible or not: each path once (counting a rename's
// source), a rename names two different paths and only a rename has an old path, every
// reported path was mentioned, and pending_count() announced the size.
void check_invariants(const std::vector<file_change>& events) {
  debouncer d;
  d.push(events, t0);
  const std::size_t announced = d.pending_count();
  const change_batch batch = d.flush();
  std::set<path_key> mentioned, seen;
  for (const auto& e : events) {
    mentioned.insert({e.root, e.path});
    if (!e.old_path.empty()) mentioned.insert({e.root, e.old_path});
  }
  bool ok = announced == batch.size() && !d.pending();
  for (const auto& c : batch) {
    ok = ok && seen.insert({c.root, c.path}).second && mentioned.count({c.root, c.path}) == 1;
    if (c.kind == change_kind::renamed) {
      ok = ok && !c.old_path.empty() && c.old_path != c.path &&
           seen.insert({c.root, c.old_path}).second && mentioned.count({c.root, c.old_path}) == 1;
    } else {
      ok = ok && c.old_path.empty();
    }
  }
  if (!ok) {
    INFO("events: " << describe(events));
    INFO("batch: " << describe(batch) << " (pending_count said " << announced << ")");
    REQUIRE(ok);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------

TEST_CASE("coalescing: every row of the table in docs/debouncer.md", "[debouncer]") {
  struct row {
    const char* events;
    const char* released;
  };
  const auto r = GENERATE(values<row>({
      // one change
      {"created a", "created a"},
      {"modified a", "modified a"},
      {"removed a", "removed a"},
      {"renamed a -> b", "renamed a -> b"},
      // one path
      {"created a, modified a", "created a"},
      {"created a, removed a", "nothing"},
      {"modified a, modified a", "modified a"},
      {"modified a, removed a", "removed a"},
      {"removed a, created a", "modified a"},
      {"removed a, created a, modified a", "modified a"},
      {"created a, removed a, created a", "created a"},
      {"created a, modified a, removed a", "nothing"},
      // renames
      {"renamed a -> b, renamed b -> c", "renamed a -> c"},
      {"renamed a -> b, renamed b -> c, renamed c -> a", "modified a"},
      {"renamed a -> b, renamed b -> a", "modified a"},
      {"modified b, renamed a -> b, renamed b -> a", "removed b, modified a"},
      {"created a, renamed a -> b", "created b"},
      {"created a, renamed a -> b, renamed b -> a", "created a"},
      {"renamed a -> b, modified b", "renamed a -> b"},
      {"renamed a -> b, removed b", "removed a"},
      {"renamed a -> b, created a", "modified a, created b"},
      {"renamed a -> b, renamed c -> a", "modified a, created b, removed c"},
      {"created b, renamed a -> b", "renamed a -> b"},
      {"created b, removed b, renamed a -> b", "renamed a -> b"},
      // renames onto a path known to exist (the editor's atomic save)
      {"modified t, created tmp, modified tmp, renamed tmp -> t", "modified t"},
      {"modified b, renamed a -> b", "modified b, removed a"},
      {"removed b, renamed a -> b", "modified b, removed a"},
      {"created tmp, modified tmp, renamed tmp -> t", "created t"},  // t's past unknown
      {"created tmp, renamed tmp -> t, created tmp, renamed tmp -> t", "created t"},
      // order: by each path's first change; a rename at the earlier of its two paths
      {"modified x, created b, removed b, renamed a -> b", "modified x, renamed a -> b"},
      {"modified a, modified x, renamed a -> b", "renamed a -> b, modified x"},
      {"modified z, modified y, modified x, modified y", "modified z, modified y, modified x"},
      // directories: the flag of what is there now, or of what was there for removed
      {"created d/, renamed d -> e/", "created e/"},
      {"removed d/", "removed d/"},
      {"removed d/, created d", "modified d"},
      {"removed d, created d/", "modified d/"},
      {"removed d/, created d, removed d", "removed d/"},
      {"renamed d -> e/, renamed e -> f/", "renamed d -> f/"},
      // roots: the same path in two roots is two paths
      {"modified a, removed 1:a", "modified a, removed 1:a"},
      {"created 1:a, removed a, modified 1:a", "created 1:a, removed a"},
      {"renamed 1:a -> 1:b, renamed a -> b", "renamed 1:a -> 1:b, renamed a -> b"},
      // impossible input (a lost event, a confused watcher): still one sane change per path
      {"removed a, modified a", "modified a"},
      {"modified a, created a", "modified a"},
      {"created a, created a", "created a"},
      {"renamed a -> b, created b", "removed a, created b"},
      {"renamed a -> b, renamed -> b", "removed a, created b"},
      {"removed a, removed a", "removed a"},
      {"renamed a -> a", "modified a"},
      {"renamed -> b", "created b"},
      {"removed a, renamed a -> b", "removed a, created b"},
  }));
  INFO("events: " << r.events);
  const auto events = parse(r.events);
  REQUIRE(describe(events) == r.events);  // the notation round-trips

  debouncer d;
  for (std::size_t i = 0; i < events.size(); ++i) d.push(events[i], t0 + ms(i));
  CHECK(d.pending());
  const std::size_t announced = d.pending_count();
  const change_batch batch = d.flush();
  CHECK(describe(batch) == r.released);
  CHECK(announced == batch.size());
  CHECK_FALSE(d.pending());

  // The oracle agrees on every row it considers possible.
  if (const auto expected = oracle(events)) CHECK(describe(*expected) == r.released);
}

TEST_CASE("coalescing: exhaustive check against the file-system model", "[debouncer]") {
  std::vector<file_change> sequence;
  SECTION("three paths in one root, files and directories, up to 4 changes") {
    const auto letters = alphabet({{0, "a"}, {0, "b"}, {0, "c"}});
    const std::size_t checked = explore(sequence, letters, 4);
    CHECK(checked == 89190);  // the physically possible ones among 30^4 + ... + 30
  }
  SECTION("three paths in one root, files only, up to 5 changes") {
    const auto letters = alphabet({{0, "a"}, {0, "b"}, {0, "c"}}, false);
    const std::size_t checked = explore(sequence, letters, 5);
    CHECK(checked == 144294);  // among 15^5 + ... + 15
  }
  SECTION("two roots, up to 4 changes") {
    const auto letters = alphabet({{0, "a"}, {0, "b"}, {1, "a"}});
    const std::size_t checked = explore(sequence, letters, 4);
    CHECK(checked == 39550);
  }
}

TEST_CASE("coalescing: any input, possible or not, keeps the batch's invariants", "[debouncer]") {
  // created/modified/removed on each path, renames between any two (itself too) and a
  // rename with no source: every sequence of up to 4 of them.
  std::vector<file_change> letters;
  for (const char* p : {"a", "b", "c"}) {
    for (auto kind : {change_kind::created, change_kind::modified, change_kind::removed})
      letters.push_back({p, kind});
    for (const char* q : {"", "a", "b", "c"}) letters.push_back({p, change_kind::renamed, q});
  }
  std::vector<file_change> sequence;
  std::size_t checked = 0;
  const auto all = [&](auto& self, std::size_t length) -> void {
    for (const auto& letter : letters) {
      sequence.push_back(letter);
      check_invariants(sequence);
      ++checked;
      if (sequence.size() < length) self(self, length);
      sequence.pop_back();
    }
  };
  all(all, 4);
  CHECK(checked == 21 + 21 * 21 + 21 * 21 * 21 + 21 * 21 * 21 * 21);
}

TEST_CASE("coalescing and timing: long random streams against the model", "[debouncer]") {
  // Random physically possible streams over five paths with random gaps, driven the way
  // an event loop drives the debouncer: poll at deadline() whenever it comes before the
  // next change. Each released batch must be the oracle's answer for the changes since
  // the previous one, released exactly when the rule says.
  std::mt19937 random{20240601};
  const auto letters = alphabet({{0, "a"}, {0, "b"}, {0, "c"}, {0, "d"}, {1, "a"}});
  const std::vector<std::chrono::nanoseconds> gaps{0ms, 1ms, 20ms, 49ms, 50ms, 51ms, 300ms};
  for (int stream = 0; stream < 300; ++stream) {
    debouncer d{{.window = 50ms, .cap = 200ms}};
    std::vector<file_change> all, batch_events;
    time_point now = t0, first = t0, last = t0;
    std::size_t batches = 0;
    const auto check_release = [&](time_point at) {
      const auto expected = oracle(batch_events);
      INFO("stream " << stream << ", events so far: " << describe(all));
      INFO("this batch: " << describe(batch_events));
      REQUIRE(expected.has_value());
      REQUIRE(when(d.deadline()) == when(std::min(last + 50ms, first + 200ms)));
      CHECK(when(at) == when(std::min(last + 50ms, first + 200ms)));
      const auto got = d.poll(at);
      REQUIRE(describe(got) == describe(expected->empty() ? std::nullopt : expected));
      CHECK_FALSE(d.pending());
      batch_events.clear();
      ++batches;
    };
    for (int i = 0; i < 60; ++i) {
      // A random change that is possible after `all` (whose model carries the history).
      file_change next;
      do {
        next = letters[random() % letters.size()];
        all.push_back(next);
        const bool possible = oracle(all).has_value();
        all.pop_back();
        if (possible) break;
      } while (true);
      now += gaps[random() % gaps.size()];
      while (d.deadline() && *d.deadline() <= now) check_release(*d.deadline());
      if (batch_events.empty()) first = now;
      last = now;
      d.push(next, now);
      all.push_back(next);
      batch_events.push_back(next);
    }
    check_release(*d.deadline());
    CHECK(batches > 1);
  }
}

// ---------------------------------------------------------------------------------------

TEST_CASE("release timing: the window boundary is inclusive", "[debouncer]") {
  const auto epsilon = GENERATE(std::chrono::nanoseconds{1}, std::chrono::nanoseconds{1000});
  CAPTURE(epsilon.count());
  debouncer d;
  d.push(modified("a"), t0);
  CHECK(when(d.deadline()) == "50ms");
  CHECK_FALSE(d.poll(t0 + 50ms - epsilon).has_value());
  CHECK(d.pending());
  const auto batch = d.poll(t0 + 50ms);
  CHECK(describe(batch) == "modified a");
  CHECK_FALSE(d.pending());
  CHECK(when(d.deadline()) == "none");
  CHECK_FALSE(d.poll(t0 + 1h).has_value());
}

TEST_CASE("release timing: each change restarts the window", "[debouncer]") {
  debouncer d;
  d.push(modified("a"), t0);
  d.push(modified("b"), t0 + 30ms);
  CHECK(when(d.deadline()) == "80ms");
  CHECK_FALSE(d.poll(t0 + 79ms).has_value());
  CHECK(d.pending_count() == 2);
  CHECK(describe(d.poll(t0 + 80ms)) == "modified a, modified b");
  // The next change starts a new batch with its own window.
  d.push(modified("c"), t0 + 90ms);
  CHECK(when(d.deadline()) == "140ms");
}

TEST_CASE("release timing: deadline() is the earlier of window and cap", "[debouncer]") {
  debouncer d{{.window = 50ms, .cap = 100ms}};
  CHECK(when(d.deadline()) == "none");
  d.push(modified("a"), t0);
  CHECK(when(d.deadline()) == "50ms");
  d.push(modified("a"), t0 + 40ms);
  CHECK(when(d.deadline()) == "90ms");
  d.push(modified("a"), t0 + 80ms);
  CHECK(when(d.deadline()) == "100ms");  // the cap, not 130ms
  CHECK_FALSE(d.poll(t0 + 100ms - 1ns).has_value());
  CHECK(describe(d.poll(t0 + 100ms)) == "modified a");
}

TEST_CASE("release timing: a steady stream is cut at the cap", "[debouncer]") {
  // A change every 10 ms for 2 s; the loop polls at deadline() when it comes first.
  const bool one_path = GENERATE(false, true);
  CAPTURE(one_path);
  debouncer d;                                                // 50 ms window, 1 s cap
  std::vector<std::pair<std::string, std::string>> releases;  // (when, what)
  const auto release = [&](time_point at) {
    auto batch = d.poll(at);
    REQUIRE(batch.has_value());
    const std::string what = one_path ? describe(*batch)
                                      : std::to_string(batch->size()) + " from " +
                                            batch->changes.front().path + " to " +
                                            batch->changes.back().path;
    releases.emplace_back(when(at), what);
  };
  for (int i = 0; i < 200; ++i) {
    const time_point now = t0 + ms(10 * static_cast<std::size_t>(i));
    while (d.deadline() && *d.deadline() <= now) release(*d.deadline());
    d.push(modified(one_path ? "a" : "f" + std::to_string(i)), now);
  }
  release(*d.deadline());
  REQUIRE(releases.size() == 2);
  CHECK(releases[0].first == "1000ms");
  CHECK(releases[1].first == "2000ms");
  CHECK(releases[0].second == (one_path ? "modified a" : "100 from f0 to f99"));
  CHECK(releases[1].second == (one_path ? "modified a" : "100 from f100 to f199"));
}

TEST_CASE("release timing: a change pushed after the deadline joins the due batch", "[debouncer]") {
  // The caller did not poll in time: the batch stays due at its deadline (a late change
  // does not postpone it) and takes the late change along.
  debouncer d;
  d.push(modified("a"), t0);
  SECTION("well after the deadline") {
    d.push(modified("b"), t0 + 70ms);
    CHECK(when(d.deadline()) == "50ms");
    CHECK(d.pending_count() == 2);
    CHECK(describe(d.poll(t0 + 70ms)) == "modified a, modified b");
  }
  SECTION("exactly at the deadline") {
    d.push(modified("b"), t0 + 50ms);
    CHECK(when(d.deadline()) == "50ms");
    CHECK(describe(d.poll(t0 + 50ms)) == "modified a, modified b");
  }
  SECTION("just before the deadline: the window restarts") {
    d.push(modified("b"), t0 + 50ms - 1ns);
    CHECK(when(d.deadline()) == std::to_string(100'000'000 - 1) + "ns");
  }
}

TEST_CASE("release timing: a time point older than the last change does not shorten the window",
          "[debouncer]") {
  debouncer d;
  d.push(modified("a"), t0 + 10ms);
  d.push(modified("b"), t0 + 5ms);
  CHECK(when(d.deadline()) == "60ms");
}

TEST_CASE("release timing: a cap or window of 'forever' does not overflow", "[debouncer]") {
  constexpr auto forever = debouncer::clock::duration::max();
  debouncer no_cap{{.window = 50ms, .cap = forever}};
  no_cap.push(modified("a"), t0);
  CHECK(when(no_cap.deadline()) == "50ms");
  debouncer never{{.window = forever, .cap = forever}};
  never.push(modified("a"), t0);
  CHECK(never.deadline() == time_point::max());
  CHECK_FALSE(never.poll(t0 + 1000h).has_value());
  never.push(modified("b"), time_point::max());
  CHECK(describe(never.poll(time_point::max())) == "modified a, modified b");
}

TEST_CASE("a batch that cancels out is never released", "[debouncer]") {
  debouncer d;
  d.push({.path = "a", .kind = change_kind::created}, t0);
  d.push({.path = "a", .kind = change_kind::removed}, t0 + 1ms);
  // Still pending (the caller must poll at the deadline), but nothing to release.
  CHECK(d.pending());
  CHECK(d.pending_count() == 0);
  CHECK(when(d.deadline()) == "51ms");
  SECTION("poll drops it") {
    CHECK_FALSE(d.poll(t0 + 51ms).has_value());
    CHECK_FALSE(d.pending());
    CHECK(when(d.deadline()) == "none");
  }
  SECTION("flush returns it empty") {
    CHECK(d.flush().empty());
    CHECK_FALSE(d.pending());
  }
}

TEST_CASE("flush releases whatever is pending, due or not", "[debouncer]") {
  debouncer d;
  CHECK(d.flush().empty());
  d.push({.path = "a", .kind = change_kind::created}, t0);
  d.push(modified("b"), t0 + 1ms);
  CHECK(describe(d.flush()) == "created a, modified b");
  CHECK_FALSE(d.pending());
  CHECK(d.pending_count() == 0);
  CHECK(when(d.deadline()) == "none");
  CHECK(d.flush().empty());
  CHECK_FALSE(d.poll(t0 + 1h).has_value());
}

TEST_CASE("nothing is remembered from one batch to the next", "[debouncer]") {
  debouncer d;
  d.push(modified("t"), t0);
  CHECK(describe(d.poll(t0 + 50ms)) == "modified t");
  // t is not known to exist in the new batch: an atomic save over it reads as created.
  d.push({.path = "tmp", .kind = change_kind::created}, t0 + 100ms);
  d.push({.path = "t", .kind = change_kind::renamed, .old_path = "tmp"}, t0 + 101ms);
  CHECK(describe(d.poll(t0 + 151ms)) == "created t");
}

TEST_CASE("changes in several roots stay apart, in first-change order", "[debouncer]") {
  debouncer d;
  d.push(modified("src/a.cpp", 1), t0);
  d.push(modified("src/a.cpp", 0), t0);
  d.push({.path = "src/a.cpp", .kind = change_kind::removed, .root = 1}, t0);
  d.push(modified("src/b.cpp", 2), t0);
  CHECK(describe(d.flush()) == "removed 1:src/a.cpp, modified src/a.cpp, modified 2:src/b.cpp");
}

TEST_CASE("push takes a whole range of changes", "[debouncer]") {
  const change_batch burst{parse("created a, modified a, renamed a -> b, modified c")};
  debouncer one_by_one, as_batch, as_vector;
  for (const auto& c : burst) one_by_one.push(c, t0);
  as_batch.push(burst, t0);
  as_vector.push(burst.changes, t0);
  CHECK(describe(as_batch.flush()) == "created b, modified c");
  CHECK(describe(as_vector.flush()) == "created b, modified c");
  CHECK(describe(one_by_one.flush()) == "created b, modified c");
  // An empty range starts no batch.
  as_batch.push(std::vector<file_change>{}, t0);
  CHECK_FALSE(as_batch.pending());
}

TEST_CASE("a 5,000-file burst is one batch in first-change order", "[debouncer]") {
  // The shape of a git checkout: every file modified 1 to 3 times, interleaved.
  debouncer d;
  for (int round = 0; round < 3; ++round)
    for (int i = 0; i < 5000; ++i)
      if (i % 3 >= round)
        d.push(modified("src/f" + std::to_string(i) + ".cpp"),
               t0 + ms(static_cast<std::size_t>(round)));
  CHECK(d.pending_count() == 5000);
  const auto batch = d.poll(t0 + 52ms);
  REQUIRE(batch.has_value());
  REQUIRE(batch->size() == 5000);
  bool in_order = true;
  for (int i = 0; i < 5000; ++i)
    in_order = in_order && batch->changes[static_cast<std::size_t>(i)] ==
                               modified("src/f" + std::to_string(i) + ".cpp");
  CHECK(in_order);
}

TEST_CASE("options: defaults, validation and the window-only constructor", "[debouncer]") {
  CHECK(debouncer{}.options().window == 50ms);
  CHECK(debouncer{}.options().cap == 1s);
  CHECK(debouncer{20ms}.options().window == 20ms);
  CHECK(debouncer{20ms}.options().cap == 1s);
  CHECK(debouncer{2s}.options().cap == 2s);  // the cap grows to the window
  REQUIRE_NOTHROW((debouncer{{.window = 1ns, .cap = 1ns}}));
  REQUIRE_THROWS_AS(debouncer{{.window = 0ms}}, std::invalid_argument);
  REQUIRE_THROWS_AS(debouncer{{.window = -5ms}}, std::invalid_argument);
  REQUIRE_THROWS_AS((debouncer{{.window = 50ms, .cap = 49ms}}), std::invalid_argument);
  REQUIRE_THROWS_AS(debouncer{0ms}, std::invalid_argument);
  std::string message;
  try {
    debouncer d{{.window = 50ms, .cap = 10ms}};
  } catch (const std::invalid_argument& e) {
    message = e.what();
  }
  CHECK(message == "hmr::debouncer: cap (10000000 ns) must be >= window (50000000 ns)");
  try {
    debouncer d{{.window = 0ms}};
  } catch (const std::invalid_argument& e) {
    message = e.what();
  }
  CHECK(message == "hmr::debouncer: window must be > 0, got 0 ns");
}
