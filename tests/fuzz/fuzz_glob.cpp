// Fuzzer for hmr::glob and hmr::glob_set.
//
// Input: one flag byte (bit 0: match_basename, bit 1: braces off, bit 2: token mode), then
// the pattern, a NUL byte and the path (no NUL: the rest is both pattern and path). In
// token mode each byte picks a glob token (`**`, `[!a]`, `{`, ...) or a path piece, which
// makes structured cases far denser than raw bytes. Checks, aborting on a mismatch:
//  - construction succeeds or throws std::invalid_argument, and throws exactly when the
//    reference below finds the pattern malformed;
//  - glob::matches agrees with a small brute-force reference matcher written here;
//  - glob::matches agrees with glibc fnmatch(FNM_PATHNAME) where the semantics coincide
//    (no `**`, `{`, `\`, `[^`, and no class corner that git and glibc read differently);
//  - glob_set::find agrees with testing its globs one by one.
//
// Build: clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined
//        -fno-sanitize-recover=all -Iinclude tests/fuzz/fuzz_glob.cpp -o /tmp/fuzz_glob
#include <fnmatch.h>

#include <bitset>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "hmr/glob.hpp"

namespace {

// ---- the reference: simple, slow, obviously correct ------------------------------------

namespace ref {

enum kind { lit, any, set, star, slash, open, comma, close };

struct tok {
  kind k = lit;
  unsigned char c = 0;
  std::bitset<256> members;
};

struct invalid {};

struct class_notes {
  bool unusual = false;  // a corner where glibc and git-style classes may differ
};

bool named(std::string_view name, unsigned char c, bool& known) {
  known = true;
  if (name == "alpha") return std::isalpha(c) != 0;
  if (name == "digit") return std::isdigit(c) != 0;
  if (name == "alnum") return std::isalnum(c) != 0;
  if (name == "upper") return std::isupper(c) != 0;
  if (name == "lower") return std::islower(c) != 0;
  if (name == "xdigit") return std::isxdigit(c) != 0;
  if (name == "space") return std::isspace(c) != 0;
  if (name == "blank") return c == ' ' || c == '\t';
  if (name == "cntrl") return std::iscntrl(c) != 0;
  if (name == "print") return std::isprint(c) != 0;
  if (name == "graph") return std::isgraph(c) != 0;
  if (name == "punct") return std::ispunct(c) != 0;
  known = false;
  return false;
}

// Reads `[...]` at p[i]; returns the class and moves i past it.
tok read_class(std::string_view p, std::size_t& i, class_notes& notes) {
  tok t;
  t.k = set;
  std::size_t j = i + 1;
  bool negated = false;
  if (j < p.size() && (p[j] == '!' || p[j] == '^')) {
    negated = true;
    ++j;
  }
  bool first = true, had_named = false, had_dash = false, after_range = false;
  auto one = [&]() -> unsigned char {
    if (j >= p.size()) throw invalid{};
    if (p[j] == '\\') {
      if (j + 1 >= p.size()) throw invalid{};
      j += 2;
      return static_cast<unsigned char>(p[j - 1]);
    }
    return static_cast<unsigned char>(p[j++]);
  };
  while (true) {
    if (j >= p.size()) throw invalid{};
    if (!first && p[j] == ']') {
      ++j;
      break;
    }
    first = false;
    if (p[j] == '/' || (p[j] == '[' && j + 1 < p.size() && (p[j + 1] == '.' || p[j + 1] == '='))) {
      notes.unusual = true;
    }
    if (p[j] == '-') {
      had_dash = true;
      if (after_range) notes.unusual = true;
    }
    after_range = false;
    if (p[j] == '[' && j + 1 < p.size() && p[j + 1] == ':') {
      const std::size_t k = p.find(']', j + 2);
      if (k != std::string_view::npos && k - 1 > j + 1 && p[k - 1] == ':') {
        const std::string_view name = p.substr(j + 2, k - 1 - (j + 2));
        for (unsigned c = 0; c < 256; ++c) {
          bool known = false;
          if (named(name, static_cast<unsigned char>(c), known)) t.members.set(c);
          if (!known) throw invalid{};
        }
        had_named = true;
        j = k + 1;
        continue;
      }
    }
    const unsigned char a = one();
    t.members.set(a);
    if (j + 1 < p.size() && p[j] == '-' && p[j + 1] != ']') {
      ++j;
      const unsigned char b = one();
      if (b < a) notes.unusual = true;  // git: only `a`; glibc: nothing
      for (unsigned c = a; c <= b; ++c) t.members.set(c);
      after_range = true;
    }
  }
  if (had_named && had_dash) notes.unusual = true;
  if (negated) t.members.flip();
  t.members.reset('/');
  i = j;
  return t;
}

std::vector<tok> tokenize(std::string_view p, bool braces, class_notes& notes) {
  std::vector<tok> out;
  int depth = 0;
  for (std::size_t i = 0; i < p.size();) {
    const char c = p[i];
    tok t;
    if (c == '\\') {
      if (i + 1 >= p.size()) throw invalid{};
      t.k = p[i + 1] == '/' ? slash : lit;
      t.c = static_cast<unsigned char>(p[i + 1]);
      i += 2;
    } else if (c == '[') {
      t = read_class(p, i, notes);
    } else {
      ++i;
      if (c == '?')
        t.k = any;
      else if (c == '*')
        t.k = star;
      else if (c == '/')
        t.k = slash;
      else if (braces && c == '{') {
        t.k = open;
        if (++depth > 32) throw invalid{};
      } else if (braces && depth > 0 && c == ',')
        t.k = comma;
      else if (braces && depth > 0 && c == '}') {
        t.k = close;
        --depth;
      } else {
        t.k = lit;
        t.c = static_cast<unsigned char>(c);
      }
    }
    out.push_back(t);
  }
  if (depth != 0) throw invalid{};
  return out;
}

// How many expansions tokens [b, e) have (saturating at a big number).
std::size_t count(const std::vector<tok>& t, std::size_t b, std::size_t e) {
  std::size_t n = 1;
  for (std::size_t i = b; i < e; ++i) {
    if (t[i].k != open) continue;
    std::size_t sum = 0, start = i + 1, depth = 0, j = i + 1;
    for (;; ++j) {
      if (t[j].k == open) ++depth;
      if (t[j].k == close && depth-- == 0) break;
      if (depth == 0 && t[j].k == comma) {
        sum += count(t, start, j);
        start = j + 1;
      }
    }
    sum += count(t, start, j);
    n = std::min<std::size_t>(n * std::min<std::size_t>(sum, 1U << 20), 1U << 20);
    i = j;
  }
  return n;
}

std::vector<std::vector<tok>> expand(const std::vector<tok>& t, std::size_t b, std::size_t e) {
  std::vector<std::vector<tok>> out(1);
  for (std::size_t i = b; i < e; ++i) {
    if (t[i].k != open) {
      for (auto& s : out) s.push_back(t[i]);
      continue;
    }
    std::vector<std::vector<tok>> choices;
    std::size_t start = i + 1, depth = 0, j = i + 1;
    for (;; ++j) {
      if (t[j].k == open) ++depth;
      if (t[j].k == close && depth-- == 0) break;
      if (depth == 0 && t[j].k == comma) {
        for (auto& s : expand(t, start, j)) choices.push_back(s);
        start = j + 1;
      }
    }
    for (auto& s : expand(t, start, j)) choices.push_back(s);
    std::vector<std::vector<tok>> next;
    for (const auto& head : out) {
      for (const auto& tail : choices) {
        next.push_back(head);
        next.back().insert(next.back().end(), tail.begin(), tail.end());
      }
    }
    out = next;
    i = j;
  }
  return out;
}

struct segment {
  bool globstar = false;
  std::vector<tok> toks;
};

struct pattern {
  std::vector<std::vector<segment>> alternatives;

  static bool one(const tok& t, unsigned char c) {
    switch (t.k) {
      case lit:
        return t.c == c;
      case any:
        return true;
      case set:
        return t.members.test(c);
      default:
        return false;
    }
  }

  // One segment against one path segment: plain recursion with a memo.
  static bool seg(const std::vector<tok>& t, std::string_view s, std::size_t ti, std::size_t si,
                  std::vector<signed char>& memo) {
    signed char& m = memo[ti * (s.size() + 1) + si];
    if (m >= 0) return m != 0;
    bool r = false;
    if (ti == t.size()) {
      r = si == s.size();
    } else if (t[ti].k == star) {
      for (std::size_t k = si; k <= s.size() && !r; ++k) r = seg(t, s, ti + 1, k, memo);
    } else {
      r = si < s.size() && one(t[ti], static_cast<unsigned char>(s[si])) &&
          seg(t, s, ti + 1, si + 1, memo);
    }
    m = r ? 1 : 0;
    return r;
  }

  // Pattern segments from pi against path segments from si: a `**` takes any number of
  // segments, except a trailing one, which takes at least one.
  static bool segs(const std::vector<segment>& p, const std::vector<std::string_view>& s,
                   std::size_t pi, std::size_t si, std::vector<signed char>& memo) {
    signed char& m = memo[pi * (s.size() + 1) + si];
    if (m >= 0) return m != 0;
    bool r = false;
    if (pi == p.size()) {
      r = si == s.size();
    } else if (p[pi].globstar) {
      if (pi + 1 == p.size()) {
        r = s.size() - si >= 1;
      } else {
        for (std::size_t k = si; k <= s.size() && !r; ++k) r = segs(p, s, pi + 1, k, memo);
      }
    } else if (si < s.size()) {
      std::vector<signed char> inner((p[pi].toks.size() + 1) * (s[si].size() + 1), -1);
      r = seg(p[pi].toks, s[si], 0, 0, inner) && segs(p, s, pi + 1, si + 1, memo);
    }
    m = r ? 1 : 0;
    return r;
  }

  bool matches(std::string_view path) const {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= path.size(); ++i) {
      if (i == path.size() || path[i] == '/') {
        parts.push_back(path.substr(start, i - start));
        start = i + 1;
      }
    }
    for (const auto& alt : alternatives) {
      std::vector<signed char> memo((alt.size() + 1) * (parts.size() + 1), -1);
      if (segs(alt, parts, 0, 0, memo)) return true;
    }
    return false;
  }
};

// nullopt: malformed.
std::optional<pattern> compile(std::string_view text, hmr::glob_options opts, class_notes& notes) {
  try {
    const std::vector<tok> toks = tokenize(text, opts.braces, notes);
    if (count(toks, 0, toks.size()) > hmr::glob::max_alternatives) return std::nullopt;
    pattern p;
    for (const auto& alt : expand(toks, 0, toks.size())) {
      std::vector<segment> segs(1);
      bool any_slash = false;
      for (const auto& t : alt) {
        if (t.k == slash) {
          segs.emplace_back();
          any_slash = true;
        } else {
          segs.back().toks.push_back(t);
        }
      }
      for (auto& s : segs) {
        bool stars = s.toks.size() >= 2;
        for (const auto& t : s.toks) stars = stars && t.k == star;
        s.globstar = stars;
      }
      if (opts.match_basename && !any_slash) segs.insert(segs.begin(), segment{true, {}});
      p.alternatives.push_back(segs);
    }
    return p;
  } catch (const invalid&) {
    return std::nullopt;
  }
}

}  // namespace ref

[[noreturn]] void fail(const char* what, std::string_view pattern, std::string_view path, int got,
                       int want) {
  std::fprintf(stderr, "MISMATCH (%s): pattern \"%.*s\" path \"%.*s\": glob says %d, expected %d\n",
               what, static_cast<int>(pattern.size()), pattern.data(),
               static_cast<int>(path.size()), path.data(), got, want);
  std::abort();
}

// Where glibc fnmatch(FNM_PATHNAME) and hmr::glob mean the same thing.
bool fnmatch_comparable(std::string_view pattern, std::string_view path,
                        const ref::class_notes& notes) {
  if (notes.unusual) return false;
  if (pattern.find('\0') != std::string_view::npos || path.find('\0') != std::string_view::npos)
    return false;
  if (pattern.find("**") != std::string_view::npos || pattern.find('{') != std::string_view::npos ||
      pattern.find('\\') != std::string_view::npos ||
      pattern.find("[^") != std::string_view::npos) {
    return false;
  }
  return true;
}

constexpr std::string_view pattern_tokens[] = {
    "*",  "**",  "/",     "?",   "a",   "b",   ".",    "[ab]",        "[!a]", "{",  ",",
    "}",  "\\*", "[a-c]", "**/", "/**", "x",   "[]a]", "[[:alpha:]]", "ab",   "*a", "{a,b}",
    "\\", "[",   "[^b]",  "-",   "]",   "\\{", "",     "***",         "/**/", "c"};
constexpr std::string_view path_tokens[] = {"a", "b", "/", ".",  "x",  "ab", "c",  "*",
                                            "{", "-", "]", "aa", "/a", "b/", ".x", ""};

std::string detokenize(std::string_view bytes, const std::string_view* table, std::size_t n) {
  std::string out;
  for (char c : bytes) out += table[static_cast<unsigned char>(c) % n];
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t flags = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::size_t nul = rest.find('\0');
  std::string_view pattern = nul == std::string_view::npos ? rest : rest.substr(0, nul);
  std::string_view path = nul == std::string_view::npos ? rest : rest.substr(nul + 1);
  std::string pattern_storage, path_storage;
  if ((flags & 4U) != 0) {
    pattern_storage = detokenize(pattern, pattern_tokens, std::size(pattern_tokens));
    path_storage = detokenize(path, path_tokens, std::size(path_tokens));
    pattern = pattern_storage;
    path = path_storage;
  }
  if (pattern.size() > 64 || path.size() > 96) return 0;
  const hmr::glob_options opts{.match_basename = (flags & 1U) != 0, .braces = (flags & 2U) == 0};

  std::optional<hmr::glob> g;
  try {
    g.emplace(pattern, opts);
  } catch (const std::invalid_argument&) {
  } catch (...) {
    fail("construction threw something other than std::invalid_argument", pattern, path, -1, -1);
  }
  ref::class_notes notes;
  const std::optional<ref::pattern> r = ref::compile(pattern, opts, notes);
  if (g.has_value() != r.has_value()) fail("validity", pattern, path, g.has_value(), r.has_value());
  if (!g) return 0;

  const bool got = g->matches(path);
  const bool want = r->matches(path);
  if (got != want) fail("reference", pattern, path, got, want);

  if (fnmatch_comparable(pattern, path, notes)) {
    const std::string p(pattern);
    std::string s(path);
    const bool has_slash = pattern.find('/') != std::string_view::npos;
    if (opts.match_basename && !has_slash)
      s = s.substr(s.rfind('/') == std::string::npos ? 0 : s.rfind('/') + 1);
    const bool glibc = fnmatch(p.c_str(), s.c_str(), FNM_PATHNAME) == 0;
    if (got != glibc) fail("fnmatch", pattern, path, got, glibc);
  }

  // glob_set: the same answer as testing one by one, whatever the prefilter does.
  static const hmr::glob fixed_a("**/*.cpp"), fixed_b("src/{a,b}*/x");
  hmr::glob_set set;
  set.add(fixed_a);
  set.add(*g);
  set.add(fixed_b);
  set.add(*g);
  std::optional<std::size_t> expected;
  if (fixed_a.matches(path))
    expected = 0;
  else if (got)
    expected = 1;
  else if (fixed_b.matches(path))
    expected = 2;
  const auto found = set.find(path);
  if (found != expected) {
    fail("glob_set", pattern, path, found ? static_cast<int>(*found) : -1,
         expected ? static_cast<int>(*expected) : -1);
  }
  return 0;
}
