// Glob patterns for paths relative to a watch root: `*`, `**`, `?`, `[a-z]`, `{a,b}`, `\`.
// A pattern is compiled once; matching never allocates and never backtracks exponentially.
// Semantics tables: docs/filters.md.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hmr {

/// How a glob pattern is interpreted; see `glob`.
struct glob_options {
  /// An alternative that contains no `/` matches the last segment (the basename) of a
  /// path at any depth, as a `.gitignore` line without a slash does: `*.o` then matches
  /// `a/b/c.o`. Off by default: the raw matcher is exact (`*.o` matches only `c.o`).
  bool match_basename = false;
  /// `{a,b}` alternatives. When off, `{`, `,` and `}` are ordinary characters (as in git).
  bool braces = true;
};

class glob_set;

namespace detail {

/// 256 bits, one per byte value: the members of a `[...]` class.
using glob_byte_set = std::array<std::uint64_t, 4>;

inline void glob_set_bit(glob_byte_set& set, unsigned char c) noexcept {
  set[c >> 6U] |= std::uint64_t{1} << (c & 63U);
}
inline bool glob_test_bit(const glob_byte_set& set, unsigned char c) noexcept {
  return ((set[c >> 6U] >> (c & 63U)) & 1U) != 0;
}

/// One compiled pattern element. A `/` never becomes a token: it separates segments.
struct glob_token {
  enum class kind : std::uint8_t { literal, any, set, star, separator };
  kind type = kind::literal;  // what it matches
  unsigned char ch = 0;       // the byte, for `literal`
  std::uint32_t set = 0;      // index into glob::sets_, for `set`
};

/// One `/`-separated part of an expanded alternative.
struct glob_segment {
  std::uint32_t begin = 0;  // token range in glob::tokens_
  std::uint32_t end = 0;
  bool globstar = false;      // a whole-segment `**`
  bool literal = false;       // only literal tokens: compare with `text`
  bool has_star = false;      // contains `*`
  bool single_star = false;   // one `*`, every other token literal: `text` = before + after it
  std::uint32_t star_at = 0;  // for `single_star`: how many literal bytes precede the `*`
  std::uint32_t min_len = 0;  // number of non-star tokens
  std::string text;           // the literal text, when `literal` or `single_star`
};

/// One alternative after brace expansion, with what the matcher precomputes for it.
struct glob_alternative {
  std::vector<glob_segment> segments;
  bool match_all = false;  // the alternative is just `**`
  bool exact = false;      // no wildcard at all: the path must equal `prefix`
  bool has_globstar = false;
  bool trailing = false;   // ends with `/**` (needs at least one more segment)
  std::uint32_t head = 0;  // segments before the first `**` (anchored at the start)
  std::uint32_t tail = 0;  // segments after the last `**` (anchored at the end)
  std::vector<std::pair<std::uint32_t, std::uint32_t>> middle;  // runs between `**`s
  std::size_t min_len = 0;                                      // fewest bytes that can match
  std::string prefix;                                           // every match starts with this
  std::string suffix;                                           // every match ends with this
};

/// A segment of `path` that starts at `pos` (which must be <= path.size()).
inline std::string_view glob_segment_at(std::string_view path, std::size_t pos) noexcept {
  std::size_t end = path.find('/', pos);
  if (end == std::string_view::npos) end = path.size();
  return {path.data() + pos, end - pos};
}

}  // namespace detail

/// A compiled glob pattern for `/`-separated paths relative to a watch root.
///
/// | syntax  | matches                                                          |
/// |---------|------------------------------------------------------------------|
/// | `*`     | any run of bytes inside one segment (never `/`; a leading `.` too) |
/// | `**`    | a whole segment: zero or more segments; `x/**` needs one more      |
/// | `?`     | one byte other than `/`                                          |
/// | `[a-z]` | one byte in the class; `[!x]` `[^x]` negate; never `/`           |
/// | `{a,b}` | either alternative; nestable; may hold `/`, wildcards, nothing   |
/// | `\c`    | the byte `c` literally                                           |
///
/// All details (`**` inside a segment, `]` first in a class, `[:alpha:]`, ...) are in
/// docs/filters.md.
///
/// Paths have no leading `./`, and `/` separates segments on every OS. Matching is
/// byte-wise and case-sensitive. Construction throws `std::invalid_argument` naming the
/// pattern and the 0-based position for an unclosed `[` or `{`, a trailing `\`, an
/// unknown `[:class:]`, braces nested deeper than 32 or more than 1024 alternatives.
///
/// @par Example
/// ```cpp
/// hmr::glob sources{"src/**/*.{cpp,hpp}"};
/// sources.matches("src/net/http.cpp");  // true
/// sources.matches("src/a.txt");         // false
/// hmr::glob swap{"*.swp", {.match_basename = true}};
/// swap.matches("src/.main.cpp.swp");    // true
/// ```
class glob {
 public:
  /// The options type, usable as `hmr::glob::options{.match_basename = true}`.
  using options = glob_options;

  /// The most alternatives brace expansion may produce before the pattern is rejected.
  static constexpr std::size_t max_alternatives = 1024;
  /// The deepest brace nesting accepted.
  static constexpr std::size_t max_brace_depth = 32;

  /// Compiles `pattern`; throws std::invalid_argument if it is malformed (see above).
  explicit glob(std::string_view pattern, glob_options opts = {})
      : pattern_(pattern), options_(opts) {
    compile();
  }

  /// True when `path` matches the pattern. Never allocates.
  [[nodiscard]] bool matches(std::string_view path) const noexcept {
    for (const auto& alt : alternatives_) {
      if (match_alternative(alt, path)) return true;
    }
    return false;
  }

  /// The pattern as written.
  [[nodiscard]] const std::string& pattern() const noexcept { return pattern_; }
  /// The options it was compiled with.
  [[nodiscard]] const glob_options& opts() const noexcept { return options_; }
  /// How many alternatives brace expansion produced (1 without braces).
  [[nodiscard]] std::size_t alternative_count() const noexcept { return alternatives_.size(); }
  /// True when the pattern has no wildcard at all (after expansion, a single literal path).
  [[nodiscard]] bool is_literal() const noexcept {
    return alternatives_.size() == 1 && alternatives_.front().exact;
  }

 private:
  friend class glob_set;
  using token = detail::glob_token;
  using sequence = std::vector<token>;

  std::string pattern_;
  glob_options options_;
  std::vector<token> tokens_;                // the tokens of every segment of every alternative
  std::vector<detail::glob_byte_set> sets_;  // the `[...]` classes
  std::vector<detail::glob_alternative> alternatives_;

  // ---- compilation -------------------------------------------------------------------

  [[noreturn]] void fail(std::string_view what, std::size_t pos) const {
    throw std::invalid_argument("hmr::glob: " + std::string(what) + " at position " +
                                std::to_string(pos) + " in pattern \"" + pattern_ + "\"");
  }

  void compile() {
    std::size_t pos = 0;
    std::vector<sequence> alts = parse_sequence(pos, 0);
    // parse_sequence stops only at the end at depth 0 (`,` and `}` are literal there).
    for (const auto& seq : alts) alternatives_.push_back(build(seq));
  }

  // Parses until the end of the pattern, or (inside braces) until `,` or `}`.
  // Returns every expansion of what it read.
  std::vector<sequence> parse_sequence(std::size_t& pos, std::size_t depth) {
    std::vector<sequence> out(1);
    const std::string_view p = pattern_;
    auto append = [&out](token t) {
      for (auto& s : out) s.push_back(t);
    };
    while (pos < p.size()) {
      const char c = p[pos];
      if (depth > 0 && (c == ',' || c == '}')) break;
      if (c == '\\') {
        if (pos + 1 >= p.size()) fail("trailing '\\'", pos);
        append(literal(p[pos + 1]));
        pos += 2;
      } else if (c == '[') {
        append(parse_class(pos));
      } else if (c == '?') {
        append({token::kind::any, 0, 0});
        ++pos;
      } else if (c == '*') {
        append({token::kind::star, 0, 0});
        ++pos;
      } else if (c == '{' && options_.braces) {
        const std::size_t open = pos;
        if (depth + 1 > max_brace_depth) fail("braces nested too deeply", open);
        ++pos;
        std::vector<sequence> choices;
        for (;;) {
          std::vector<sequence> alt = parse_sequence(pos, depth + 1);
          if (choices.size() + alt.size() > max_alternatives) fail("too many alternatives", open);
          for (auto& s : alt) choices.push_back(std::move(s));
          if (pos >= p.size()) fail("unclosed '{'", open);
          if (p[pos++] == '}') break;  // else it was ','
        }
        if (out.size() * choices.size() > max_alternatives) fail("too many alternatives", open);
        std::vector<sequence> product;
        product.reserve(out.size() * choices.size());
        for (const auto& head : out) {
          for (const auto& tail : choices) {
            product.push_back(head);
            product.back().insert(product.back().end(), tail.begin(), tail.end());
          }
        }
        out = std::move(product);
      } else {
        append(literal(c));
        ++pos;
      }
    }
    return out;
  }

  static token literal(char c) noexcept {
    if (c == '/') return {token::kind::separator, '/', 0};
    return {token::kind::literal, static_cast<unsigned char>(c), 0};
  }

  // Parses `[...]` starting at `pos` (on the `[`); leaves `pos` after the closing `]`.
  token parse_class(std::size_t& pos) {
    const std::string_view p = pattern_;
    const std::size_t open = pos;
    std::size_t j = pos + 1;
    bool negate = false;
    if (j < p.size() && (p[j] == '!' || p[j] == '^')) {
      negate = true;
      ++j;
    }
    detail::glob_byte_set set{};
    bool first = true;
    // Reads one member character (possibly escaped) at j.
    auto member = [&](unsigned char& out) {
      if (j >= p.size()) fail("unclosed '['", open);
      if (p[j] == '\\') {
        if (j + 1 >= p.size()) fail("unclosed '['", open);
        out = static_cast<unsigned char>(p[j + 1]);
        j += 2;
      } else {
        out = static_cast<unsigned char>(p[j]);
        j += 1;
      }
    };
    for (;;) {
      if (j >= p.size()) fail("unclosed '['", open);
      if (p[j] == ']' && !first) {
        ++j;
        break;
      }
      first = false;
      if (p[j] == '[' && j + 1 < p.size() && p[j + 1] == ':') {
        const std::size_t close = p.find(']', j + 2);
        if (close != std::string_view::npos && close >= j + 3 && p[close - 1] == ':') {
          add_named_class(set, p.substr(j + 2, close - 1 - (j + 2)), j);
          j = close + 1;
          continue;
        }
      }
      unsigned char lo = 0;
      member(lo);
      detail::glob_set_bit(set, lo);  // the start of a range always matches itself, as in git
      if (j + 1 < p.size() && p[j] == '-' && p[j + 1] != ']') {
        ++j;
        unsigned char hi = 0;
        member(hi);
        for (unsigned c = lo; c <= hi; ++c)
          detail::glob_set_bit(set, static_cast<unsigned char>(c));
      }
    }
    if (negate) {
      for (auto& word : set) word = ~word;
    }
    set['/' >> 6U] &= ~(std::uint64_t{1} << ('/' & 63U));  // classes never match `/`
    pos = j;
    sets_.push_back(set);
    return {token::kind::set, 0, static_cast<std::uint32_t>(sets_.size() - 1)};
  }

  void add_named_class(detail::glob_byte_set& set, std::string_view name, std::size_t at) const {
    auto in = [](unsigned c, unsigned lo, unsigned hi) { return c >= lo && c <= hi; };
    auto test = [&](unsigned c) -> int {  // -1: unknown name
      const bool upper = in(c, 'A', 'Z'), lower = in(c, 'a', 'z'), digit = in(c, '0', '9');
      const bool print = in(c, 0x20, 0x7e), space = c == ' ' || in(c, '\t', '\r');
      if (name == "alpha") return upper || lower;
      if (name == "digit") return digit;
      if (name == "alnum") return upper || lower || digit;
      if (name == "upper") return upper;
      if (name == "lower") return lower;
      if (name == "xdigit") return digit || in(c, 'a', 'f') || in(c, 'A', 'F');
      if (name == "space") return space;
      if (name == "blank") return c == ' ' || c == '\t';
      if (name == "cntrl") return c < 0x20 || c == 0x7f;
      if (name == "print") return print;
      if (name == "graph") return print && c != ' ';
      if (name == "punct") return print && c != ' ' && !upper && !lower && !digit;
      return -1;
    };
    if (test('a') < 0) fail("unknown character class \"[:" + std::string(name) + ":]\"", at);
    for (unsigned c = 0; c < 256; ++c) {
      if (test(c) == 1) detail::glob_set_bit(set, static_cast<unsigned char>(c));
    }
  }

  // Splits an expanded token sequence into segments and precomputes what matching needs.
  detail::glob_alternative build(const sequence& seq) {
    detail::glob_alternative alt;
    const bool has_separator = std::any_of(
        seq.begin(), seq.end(), [](const token& t) { return t.type == token::kind::separator; });
    if (options_.match_basename && !has_separator) alt.segments.push_back(globstar());
    std::size_t i = 0;
    for (;;) {
      std::size_t j = i;
      while (j < seq.size() && seq[j].type != token::kind::separator) ++j;
      add_segment(alt, seq, i, j);
      if (j == seq.size()) break;
      i = j + 1;
    }
    auto& segs = alt.segments;
    const std::size_t m = segs.size();
    alt.has_globstar =
        std::any_of(segs.begin(), segs.end(), [](const auto& s) { return s.globstar; });
    alt.match_all = m == 1 && segs[0].globstar;
    alt.trailing = segs.back().globstar;
    std::size_t plain = 0;
    for (const auto& s : segs) {
      if (!s.globstar) {
        ++plain;
        alt.min_len += s.min_len;
      }
    }
    alt.min_len += (plain > 0 ? plain - 1 : 0) + (alt.trailing ? 1 : 0);
    if (alt.has_globstar) {
      while (alt.head < m && !segs[alt.head].globstar) ++alt.head;
      while (alt.tail < m && !segs[m - 1 - alt.tail].globstar) ++alt.tail;
      std::size_t k = alt.head;
      while (k < m - alt.tail) {
        if (segs[k].globstar) {
          ++k;
          continue;
        }
        std::size_t e = k;
        while (!segs[e].globstar) ++e;
        alt.middle.emplace_back(static_cast<std::uint32_t>(k), static_cast<std::uint32_t>(e));
        k = e;
      }
    }
    compute_affixes(alt);
    return alt;
  }

  static detail::glob_segment globstar() {
    detail::glob_segment s;
    s.globstar = true;
    return s;
  }

  void add_segment(detail::glob_alternative& alt, const sequence& seq, std::size_t b,
                   std::size_t e) {
    const bool all_stars =
        e - b >= 2 && std::all_of(seq.begin() + static_cast<std::ptrdiff_t>(b),
                                  seq.begin() + static_cast<std::ptrdiff_t>(e),
                                  [](const token& t) { return t.type == token::kind::star; });
    if (all_stars) {
      if (alt.segments.empty() || !alt.segments.back().globstar) alt.segments.push_back(globstar());
      return;  // consecutive `**` segments collapse into one
    }
    detail::glob_segment s;
    s.begin = static_cast<std::uint32_t>(tokens_.size());
    s.literal = true;
    for (std::size_t k = b; k < e; ++k) {
      const token t = seq[k];
      if (t.type == token::kind::star) {
        s.has_star = true;
        s.literal = false;
        if (k > b && seq[k - 1].type == token::kind::star)
          continue;  // `**` inside a segment is `*`
      } else {
        ++s.min_len;
        if (t.type == token::kind::literal) {
          s.text.push_back(static_cast<char>(t.ch));
        } else {
          s.literal = false;
        }
      }
      tokens_.push_back(t);
    }
    s.end = static_cast<std::uint32_t>(tokens_.size());
    std::uint32_t stars = 0, literals = 0;
    for (std::uint32_t k = s.begin; k < s.end; ++k) {
      if (tokens_[k].type == token::kind::star) {
        if (stars++ == 0) s.star_at = literals;
      } else if (tokens_[k].type == token::kind::literal) {
        ++literals;
      }
    }
    s.single_star = stars == 1 && literals + 1 == s.end - s.begin;
    if (!s.literal && !s.single_star) s.text.clear();
    alt.segments.push_back(std::move(s));
  }

  // The literal text every match must start and end with (a cheap prefilter).
  void compute_affixes(detail::glob_alternative& alt) const {
    const auto& segs = alt.segments;
    const std::size_t m = segs.size();
    if (alt.match_all) return;
    if (!alt.has_globstar &&
        std::all_of(segs.begin(), segs.end(), [](const auto& s) { return s.literal; })) {
      for (std::size_t i = 0; i < m; ++i) {
        if (i > 0) alt.prefix.push_back('/');
        alt.prefix += segs[i].text;
      }
      alt.suffix = alt.prefix;
      alt.exact = true;
      return;
    }
    // Forward: whole literal segments (each followed by `/`), then the literal head of the next.
    for (std::size_t i = 0; i < m && !segs[i].globstar; ++i) {
      if (segs[i].literal) {
        alt.prefix += segs[i].text;
        alt.prefix.push_back('/');  // not the last segment: otherwise it would be exact
        continue;
      }
      for (std::uint32_t k = segs[i].begin;
           k < segs[i].end && tokens_[k].type == token::kind::literal; ++k) {
        alt.prefix.push_back(static_cast<char>(tokens_[k].ch));
      }
      break;
    }
    // Backward: the literal tail of the last segment, then whole literal segments.
    std::string rev;
    for (std::size_t n = m; n > 0 && !segs[n - 1].globstar; --n) {
      const auto& s = segs[n - 1];
      if (!s.literal) {
        for (std::uint32_t k = s.end; k > s.begin && tokens_[k - 1].type == token::kind::literal;
             --k) {
          rev.push_back(static_cast<char>(tokens_[k - 1].ch));
        }
        break;
      }
      rev.append(s.text.rbegin(), s.text.rend());
      // The `/` before this segment belongs to every match, unless it follows a leading `**`.
      if (n - 1 == 0) break;
      if (n - 1 == 1 && segs[0].globstar) break;
      rev.push_back('/');
    }
    alt.suffix.assign(rev.rbegin(), rev.rend());
  }

  // ---- matching ----------------------------------------------------------------------

  bool match_segment(const detail::glob_segment& s, std::string_view text) const noexcept {
    if (s.literal) return text == s.text;
    if (text.size() < s.min_len) return false;
    if (s.single_star) {  // `abc*def`: a prefix and a suffix check
      const std::string_view lit = s.text;
      return text.substr(0, s.star_at) == lit.substr(0, s.star_at) &&
             text.substr(text.size() - (lit.size() - s.star_at)) == lit.substr(s.star_at);
    }
    if (!s.has_star && text.size() != s.min_len) return false;
    const token* const tok = tokens_.data();
    std::uint32_t p = s.begin;
    std::size_t t = 0;
    std::uint32_t star_p = 0;  // the token after the last `*` seen, if have_star
    std::size_t star_t = 0;    // where that `*` started absorbing
    bool have_star = false;
    while (t < text.size()) {
      if (p < s.end) {
        const token& k = tok[p];
        if (k.type == token::kind::star) {
          have_star = true;
          star_p = ++p;
          star_t = t;
          continue;
        }
        if (token_matches(k, static_cast<unsigned char>(text[t]))) {
          ++p;
          ++t;
          continue;
        }
      }
      if (!have_star) return false;
      p = star_p;  // let the last `*` absorb one more byte and retry
      t = ++star_t;
    }
    while (p < s.end && tok[p].type == token::kind::star) ++p;
    return p == s.end;
  }

  bool token_matches(const token& k, unsigned char c) const noexcept {
    switch (k.type) {
      case token::kind::literal:
        return k.ch == c;
      case token::kind::any:
        return true;  // segments never contain `/`
      case token::kind::set:
        return detail::glob_test_bit(sets_[k.set], c);
      default:
        return false;
    }
  }

  bool match_alternative(const detail::glob_alternative& alt,
                         std::string_view path) const noexcept {
    if (alt.match_all) return true;
    if (path.size() < alt.min_len) return false;
    if (path.substr(0, alt.prefix.size()) != alt.prefix) return false;
    if (path.substr(path.size() - alt.suffix.size()) != alt.suffix) return false;
    if (alt.exact) return path.size() == alt.prefix.size();
    const auto& segs = alt.segments;
    std::size_t pos = 0;  // where the next unread segment starts
    bool more = true;     // there is an unread segment at pos
    auto take = [&](const detail::glob_segment& s) {
      const std::string_view seg = detail::glob_segment_at(path, pos);
      pos += seg.size() + 1;
      more = pos <= path.size();
      return match_segment(s, seg);
    };
    if (!alt.has_globstar) {
      for (const auto& s : segs) {
        if (!more || !take(s)) return false;
      }
      return !more;
    }
    // The head is anchored at the start ...
    for (std::uint32_t i = 0; i < alt.head; ++i) {
      if (!more || !take(segs[i])) return false;
    }
    // ... the tail at the end, without reaching back into the head ...
    std::size_t tail_start = path.size() + 1;
    std::size_t end = path.size();
    for (std::uint32_t i = 0; i < alt.tail; ++i) {
      if (!more || (i > 0 && tail_start == 0)) return false;
      if (i > 0) end = tail_start - 1;
      const std::size_t slash = end == 0 ? std::string_view::npos : path.rfind('/', end - 1);
      tail_start = slash == std::string_view::npos ? 0 : slash + 1;
      if (tail_start < pos) return false;
      if (!match_segment(segs[segs.size() - 1 - i], path.substr(tail_start, end - tail_start)))
        return false;
    }
    if (alt.middle.empty()) return !alt.trailing || more;  // a trailing `**` needs a segment
    // ... and each run between `**`s at its leftmost place in between, which is optimal.
    std::size_t region = 0;  // segments between head and tail
    if (more && !(alt.tail > 0 && tail_start == pos)) {
      const std::size_t region_end = alt.tail > 0 ? tail_start - 1 : path.size();
      region = static_cast<std::size_t>(
                   std::count(path.begin() + static_cast<std::ptrdiff_t>(pos),
                              path.begin() + static_cast<std::ptrdiff_t>(region_end), '/')) +
               1;
    }
    if (alt.trailing && region == 0) return false;
    const std::size_t avail = region - (alt.trailing ? 1 : 0);
    std::size_t used = 0;
    for (const auto& [b, e] : alt.middle) {
      const std::size_t k = e - b;
      for (;;) {
        if (used + k > avail) return false;
        std::size_t p = pos;
        bool ok = true;
        for (std::uint32_t j = b; j < e; ++j) {
          const std::string_view seg = detail::glob_segment_at(path, p);
          if (!match_segment(segs[j], seg)) {
            ok = false;
            break;
          }
          p += seg.size() + 1;
        }
        if (ok) {
          pos = p;
          used += k;
          break;
        }
        pos += detail::glob_segment_at(path, pos).size() + 1;
        ++used;
      }
    }
    return true;
  }
};

/// Many globs tested together: which one (the lowest index) matches a path.
///
/// A prefilter keeps a bit per alternative for each value of the last four and first two
/// bytes of a path (set when its literal suffix or prefix allows that byte there), so a
/// path is only tested against the few patterns that could match it.
///
/// @par Example
/// ```cpp
/// hmr::glob_set set{"**/*.cpp", "build/**", "docs/*.md"};
/// set.find("build/a.o");  // std::optional{1}
/// set.matches("README");  // false
/// ```
class glob_set {
 public:
  /// An empty set; matches nothing.
  glob_set() = default;
  /// Compiles each pattern with `opts`; throws std::invalid_argument for a malformed one.
  glob_set(std::initializer_list<std::string_view> patterns, glob_options opts = {}) {
    for (auto p : patterns) globs_.emplace_back(p, opts);
    reindex();
  }
  /// Compiles each pattern of a range of strings with `opts`.
  template <std::ranges::input_range R>
  requires std::convertible_to<std::ranges::range_reference_t<R>, std::string_view>
  explicit glob_set(const R& patterns, glob_options opts = {}) {
    for (const auto& p : patterns) globs_.emplace_back(std::string_view(p), opts);
    reindex();
  }

  /// Appends a compiled glob; it gets index size() - 1.
  void add(glob g) {
    globs_.push_back(std::move(g));
    reindex();
  }
  /// Compiles and appends a pattern.
  void add(std::string_view pattern, glob_options opts = {}) { add(glob(pattern, opts)); }

  /// The number of globs.
  [[nodiscard]] std::size_t size() const noexcept { return globs_.size(); }
  /// True when there are no globs.
  [[nodiscard]] bool empty() const noexcept { return globs_.empty(); }
  /// The glob at `index`.
  [[nodiscard]] const glob& operator[](std::size_t index) const { return globs_[index]; }
  /// Iteration over the globs.
  [[nodiscard]] auto begin() const noexcept { return globs_.begin(); }
  /// Iteration over the globs.
  [[nodiscard]] auto end() const noexcept { return globs_.end(); }

  /// True when any glob matches `path`. Never allocates.
  [[nodiscard]] bool matches(std::string_view path) const noexcept {
    return find(path).has_value();
  }

  /// The index of the first (lowest-index) glob that matches `path`. Never allocates.
  [[nodiscard]] std::optional<std::size_t> find(std::string_view path) const noexcept {
    std::array<const std::uint64_t*, tables> rows{};
    for (std::size_t t = 0; t < tables; ++t)
      rows[t] = masks_.data() + (t * buckets + bucket_of(path, t)) * words_;
    for (std::size_t w = 0; w < words_; ++w) {
      std::uint64_t candidates = ~std::uint64_t{0};
      for (const auto* row : rows) candidates &= row[w];
      while (candidates != 0) {  // in entry order, which is glob order
        const auto bit = static_cast<std::size_t>(std::countr_zero(candidates));
        candidates &= candidates - 1;
        const entry& e = entries_[w * 64 + bit];
        const glob& g = globs_[e.glob];
        if (g.match_alternative(g.alternatives_[e.alternative], path)) return e.glob;
      }
    }
    return std::nullopt;
  }

 private:
  struct entry {
    std::uint32_t glob = 0;
    std::uint32_t alternative = 0;
  };
  static constexpr std::size_t suffix_bytes = 4;  // tables 0-3: the last bytes, from the end
  static constexpr std::size_t prefix_bytes = 2;  // tables 4-5: the first bytes
  static constexpr std::size_t tables = suffix_bytes + prefix_bytes;
  static constexpr std::size_t buckets = 257;  // a byte value, or 256: the path is too short

  std::vector<glob> globs_;
  std::vector<entry> entries_;        // every alternative of every glob, in glob order
  std::size_t words_ = 0;             // 64-bit words per bucket: entries_.size() / 64, rounded up
  std::vector<std::uint64_t> masks_;  // [table][bucket][word]: the entries allowed there

  static std::size_t bucket_of(std::string_view path, std::size_t table) noexcept {
    if (table < suffix_bytes) {
      return path.size() > table ? static_cast<unsigned char>(path[path.size() - 1 - table]) : 256U;
    }
    const std::size_t k = table - suffix_bytes;
    return path.size() > k ? static_cast<unsigned char>(path[k]) : 256U;
  }

  void reindex() {
    entries_.clear();
    for (std::size_t g = 0; g < globs_.size(); ++g) {
      for (std::size_t a = 0; a < globs_[g].alternatives_.size(); ++a) {
        entries_.push_back({static_cast<std::uint32_t>(g), static_cast<std::uint32_t>(a)});
      }
    }
    words_ = (entries_.size() + 63) / 64;
    masks_.assign(tables * buckets * words_, 0);
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      const auto& alt = globs_[entries_[i].glob].alternatives_[entries_[i].alternative];
      const std::uint64_t bit = std::uint64_t{1} << (i % 64);
      for (std::size_t t = 0; t < tables; ++t) {
        // The byte this entry requires at this place, if its literal affix reaches it.
        const std::string& affix = t < suffix_bytes ? alt.suffix : alt.prefix;
        const std::size_t k = t < suffix_bytes ? t : t - suffix_bytes;
        std::uint64_t* table = masks_.data() + t * buckets * words_;
        if (affix.size() > k) {
          const auto byte =
              static_cast<unsigned char>(t < suffix_bytes ? affix[affix.size() - 1 - k] : affix[k]);
          table[byte * words_ + i / 64] |= bit;
        } else {
          for (std::size_t b = 0; b < buckets; ++b) table[b * words_ + i / 64] |= bit;
        }
      }
    }
  }
};

}  // namespace hmr
