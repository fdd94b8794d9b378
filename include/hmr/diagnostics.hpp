#pragma once
/// @file
/// Parses compiler, linker and CMake diagnostics out of build output.
///
/// Recognised line formats (ANSI colour escapes are stripped first, a trailing `\r` ignored):
/// - GCC / Clang: `path:line:col: error: msg`, `path:line: warning: msg`, `fatal error:`,
///   `note:`, `remark:`; the path may contain spaces or a drive letter (`C:\a.cpp:3:4: ...`).
/// - Tool-prefixed, no location: `ld.lld: error: msg`, `collect2: error: msg`,
///   `g++: error: msg`, bare `error: msg` (file empty, line 0).
/// - MSVC: `path(line,col): error C2065: msg`, `path(line): warning C4996: msg`,
///   `path(line): note: msg`, `a.obj : error LNK2019: msg` (the code stays in the message).
/// - GNU ld: `obj.o:(.text+0x5): msg`, `src.cpp:12: undefined reference to ...`,
///   `/usr/bin/ld: cannot find -lfoo: ...`, and the one-line form
///   `/usr/bin/ld: a.o: in function `main': a.cpp:(.text+0x5): undefined reference to ...`.
/// - CMake: `CMake Error at CMakeLists.txt:12 (add_executable):`, `CMake Warning (dev) at ...`,
///   `CMake Error in CMakeLists.txt:`, `CMake Error: msg`. The indented body on the following
///   lines is attached by `diagnostic_parser` (not by `parse_diagnostic_line`).
///
/// Diagnostic lines start in column 0: indented lines (source excerpts, caret lines, CMake
/// bodies, lld's `>>>` context) never start a diagnostic on their own.
///
/// A parser told the build's directory (`diagnostic_parser::resolve_from`) also makes the
/// relative paths a compiler printed absolute, for builds that run the compiler elsewhere
/// (Meson's `../src/a.cc`, `make -C sub`): against compile_commands.json's `directory`,
/// the directories the build tool announces (`make[1]: Entering directory '/p/sub'`,
/// ninja's "Entering directory `build'"), then the build's own directory.

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "hmr/events.hpp"

namespace hmr {

namespace detail {

/// Removes ANSI escape sequences (CSI `ESC [ ... final`, OSC `ESC ] ... BEL|ESC \`,
/// nF `ESC ( B`, and two-byte `ESC x`) from `text`.
inline std::string strip_ansi(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c != '\x1b') {
      out.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 >= text.size()) break;  // a lone trailing ESC
    const char kind = text[i + 1];
    i += 2;
    if (kind == '[') {  // CSI: parameter/intermediate bytes, then one final byte 0x40..0x7E
      while (i < text.size() && !(text[i] >= '\x40' && text[i] <= '\x7e')) ++i;
      if (i < text.size()) ++i;
    } else if (kind >= '\x20' && kind <= '\x2f') {  // nF, e.g. `ESC ( B`: then one final byte
      while (i < text.size() && text[i] >= '\x20' && text[i] <= '\x2f') ++i;
      if (i < text.size()) ++i;
    } else if (kind == ']') {  // OSC: up to BEL or ST (ESC backslash)
      while (i < text.size()) {
        if (text[i] == '\x07') {
          ++i;
          break;
        }
        if (text[i] == '\x1b' && i + 1 < text.size() && text[i + 1] == '\\') {
          i += 2;
          break;
        }
        ++i;
      }
    }
  }
  return out;
}

/// True for ASCII space or tab.
inline bool is_blank(char c) { return c == ' ' || c == '\t'; }

/// True for an ASCII decimal digit.
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

/// `s` without leading and trailing spaces and tabs.
inline std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

/// Parses a decimal of 1..9 digits (so it fits an int); nullopt otherwise.
inline std::optional<int> parse_number(std::string_view s) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  int value = 0;
  for (const char c : s) {
    if (!is_digit(c)) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

/// If `s` starts with a severity word followed by `:`, returns the level and the length
/// consumed including the colon and one following space.
inline std::optional<std::pair<diagnostic::level, std::size_t>> gnu_severity(std::string_view s) {
  using lv = diagnostic::level;
  static constexpr std::pair<std::string_view, lv> words[] = {
      {"fatal error:", lv::fatal}, {"error:", lv::error}, {"warning:", lv::warning},
      {"note:", lv::note},         {"remark:", lv::note},
  };
  for (const auto& [word, level] : words) {
    if (s.substr(0, word.size()) == word) {
      std::size_t n = word.size();
      if (n < s.size() && s[n] == ' ') ++n;
      return std::pair{level, n};
    }
  }
  return std::nullopt;
}

/// `path:line` or `path:line:col`, parsed from the right so drive letters stay in the path.
struct location {
  std::string_view file{};  ///< the path, never empty
  int line = 0;             ///< 1-based line
  int column = 0;           ///< 1-based column, 0 when absent
};

/// Splits a GCC-style location prefix; nullopt if it has no line number or no path.
inline std::optional<location> parse_gnu_location(std::string_view prefix) {
  const auto last_colon = prefix.rfind(':');
  if (last_colon == std::string_view::npos) return std::nullopt;
  const auto last = parse_number(prefix.substr(last_colon + 1));
  if (!last) return std::nullopt;
  const std::string_view before = prefix.substr(0, last_colon);
  const auto mid_colon = before.rfind(':');
  if (mid_colon != std::string_view::npos) {
    const std::string_view mid_text = before.substr(mid_colon + 1);
    const auto mid = parse_number(mid_text);
    if (!mid && !mid_text.empty() && mid_text.find_first_not_of("0123456789") == mid_text.npos)
      return std::nullopt;                           // a line number too large for int
    if (mid && mid_colon == 0) return std::nullopt;  // `:3:4`, no path
    if (mid) return location{before.substr(0, mid_colon), *mid, *last};
  }
  if (before.empty()) return std::nullopt;
  return location{before, *last, 0};
}

/// Builds a diagnostic from its parts.
inline diagnostic make_diagnostic(std::string_view file, int line, int column,
                                  diagnostic::level level, std::string_view message) {
  return diagnostic{std::string(file), line, column, level, std::string(trim(message))};
}

/// `path:line[:col]: severity: msg` (GCC, Clang), and `path:line: undefined reference ...`.
inline std::optional<diagnostic> parse_gnu(std::string_view s) {
  for (auto p = s.find(": "); p != std::string_view::npos; p = s.find(": ", p + 1)) {
    const std::string_view rest = s.substr(p + 2);
    const auto loc = parse_gnu_location(s.substr(0, p));
    if (!loc) continue;
    if (const auto sev = gnu_severity(rest)) {
      return make_diagnostic(loc->file, loc->line, loc->column, sev->first,
                             rest.substr(sev->second));
    }
    // GNU ld with debug info: `src.cpp:12: undefined reference to `foo'`.
    if (rest.rfind("undefined reference to ", 0) == 0 ||
        rest.rfind("multiple definition of ", 0) == 0) {
      return make_diagnostic(loc->file, loc->line, loc->column, diagnostic::level::error, rest);
    }
    return std::nullopt;  // e.g. `a.cpp:10:6:   required from here`
  }
  return std::nullopt;
}

/// MSVC severity after `): ` or ` : `: `error C2065: msg`, `warning C4996: msg`,
/// `fatal error C1083: msg`, `note: msg`. Returns the level and the message (code kept).
inline std::optional<std::pair<diagnostic::level, std::string_view>> msvc_severity(
    std::string_view s) {
  using lv = diagnostic::level;
  static constexpr std::pair<std::string_view, lv> words[] = {{"fatal error", lv::fatal},
                                                              {"error", lv::error},
                                                              {"warning", lv::warning},
                                                              {"note", lv::note}};
  for (const auto& [word, level] : words) {
    if (s.substr(0, word.size()) != word) continue;
    std::string_view after = s.substr(word.size());
    if (!after.empty() && after.front() == ':') return std::pair{level, after.substr(1)};
    if (after.empty() || after.front() != ' ') return std::nullopt;
    after.remove_prefix(1);
    std::size_t n = 0;  // the code: letters and digits up to ':'
    while (n < after.size() && ((after[n] >= 'A' && after[n] <= 'Z') ||
                                (after[n] >= 'a' && after[n] <= 'z') || is_digit(after[n])))
      ++n;
    if (n == 0 || n >= after.size() || after[n] != ':') return std::nullopt;
    return std::pair{level, after};
  }
  return std::nullopt;
}

/// `path(line[,col]): severity [code]: msg` and `object : severity code: msg` (MSVC, link.exe).
inline std::optional<diagnostic> parse_msvc(std::string_view s) {
  for (auto p = s.find("): "); p != std::string_view::npos; p = s.find("): ", p + 1)) {
    const auto sev = msvc_severity(s.substr(p + 3));
    if (!sev) continue;
    const auto open = s.rfind('(', p);
    if (open == std::string_view::npos || open == 0) continue;
    const std::string_view inside = s.substr(open + 1, p - open - 1);
    const auto comma = inside.find(',');
    const auto line = parse_number(inside.substr(0, comma));
    std::optional<int> column = 0;
    if (comma != std::string_view::npos) column = parse_number(inside.substr(comma + 1));
    if (!line || !column) continue;
    return make_diagnostic(s.substr(0, open), *line, *column, sev->first, sev->second);
  }
  if (const auto p = s.find(" : "); p != std::string_view::npos && p > 0) {
    if (const auto sev = msvc_severity(s.substr(p + 3))) {
      const std::string_view who = s.substr(0, p);
      return make_diagnostic(who == "LINK" ? std::string_view{} : who, 0, 0, sev->first,
                             sev->second);
    }
  }
  return std::nullopt;
}

/// `obj.o:(.text+0x5): msg` or `src.cpp:(.text+0x5): msg` (GNU ld, no line number).
inline std::optional<diagnostic> parse_ld_object(std::string_view s) {
  const auto open = s.find(":(.");  // sections start with a dot: .text, .data, .bss
  if (open == std::string_view::npos || open == 0) return std::nullopt;
  const auto close = s.find("): ", open);
  if (close == std::string_view::npos) return std::nullopt;
  return make_diagnostic(s.substr(0, open), 0, 0, diagnostic::level::error, s.substr(close + 3));
}

/// True when `prefix` names a linker (`/usr/bin/ld`, `ld.gold`, `ld.lld`, `mold`, ...).
inline bool is_linker(std::string_view prefix) {
  const auto slash = prefix.find_last_of("/\\");
  std::string_view base = slash == std::string_view::npos ? prefix : prefix.substr(slash + 1);
  if (base.size() > 4 && base.substr(base.size() - 4) == ".exe") base.remove_suffix(4);
  return base == "ld" || base == "ld.bfd" || base == "ld.gold" || base == "ld.lld" ||
         base == "ld.mold" || base == "mold" || base == "lld" || base == "ld64.lld";
}

/// `tool: severity: msg` (no location) and `/usr/bin/ld: msg` forms.
inline std::optional<diagnostic> parse_tool(std::string_view s) {
  if (const auto sev = gnu_severity(s)) {  // bare `error: msg`
    return make_diagnostic({}, 0, 0, sev->first, s.substr(sev->second));
  }
  const auto p = s.find(": ");
  if (p == std::string_view::npos || p == 0) return std::nullopt;
  const std::string_view prefix = s.substr(0, p);
  const std::string_view rest = s.substr(p + 2);
  // A program name or path: no colon, except a drive letter's (`C:\bin\clang.exe`).
  const auto colon = prefix.find(':');
  if (colon != std::string_view::npos &&
      (colon != 1 || prefix.find(':', 2) != std::string_view::npos))
    return std::nullopt;
  if (const auto sev = gnu_severity(rest)) {
    return make_diagnostic({}, 0, 0, sev->first, rest.substr(sev->second));
  }
  if (!is_linker(prefix)) return std::nullopt;
  // `/usr/bin/ld: a.o: in function `main':` alone is context; with a tail it is one line.
  if (const auto in_fn = rest.find(": in function `"); in_fn != std::string_view::npos) {
    const auto end = rest.find("':", in_fn);
    if (end == std::string_view::npos) return std::nullopt;
    const std::string_view tail = trim(rest.substr(end + 2));
    if (tail.empty()) return std::nullopt;
    if (auto d = parse_gnu(tail)) return d;
    return parse_ld_object(tail);
  }
  if (auto d = parse_ld_object(rest)) return d;
  return make_diagnostic({}, 0, 0, diagnostic::level::error, rest);
}

/// `CMake Error at file:12 (command):`, `CMake Warning (dev) at ...`, `CMake Error in file:`,
/// `CMake Error: msg`. The message is the command name (or the text after `: `).
inline std::optional<diagnostic> parse_cmake(std::string_view s) {
  using lv = diagnostic::level;
  static constexpr std::pair<std::string_view, lv> heads[] = {
      {"CMake Error", lv::error},
      {"CMake Warning (dev)", lv::warning},
      {"CMake Warning", lv::warning},
      {"CMake Deprecation Error", lv::error},
      {"CMake Deprecation Warning", lv::warning},
  };
  for (const auto& [head, level] : heads) {
    if (s.substr(0, head.size()) != head) continue;
    std::string_view rest = s.substr(head.size());
    if (rest.substr(0, 2) == ": ") return make_diagnostic({}, 0, 0, level, rest.substr(2));
    const bool at = rest.substr(0, 4) == " at ";
    if (!at && rest.substr(0, 4) != " in ") return std::nullopt;
    rest.remove_prefix(4);
    if (rest.empty() || rest.back() != ':') return std::nullopt;
    rest.remove_suffix(1);
    std::string_view command{};
    if (!rest.empty() && rest.back() == ')') {  // ` (add_executable)`
      const auto open = rest.rfind(" (");
      if (open == std::string_view::npos) return std::nullopt;
      command = rest.substr(open + 2, rest.size() - open - 3);
      rest = rest.substr(0, open);
    }
    if (!at) return make_diagnostic(rest, 0, 0, level, command);  // `CMake Error in file:`
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    const auto line = parse_number(rest.substr(colon + 1));
    if (!line) return std::nullopt;
    return make_diagnostic(rest.substr(0, colon), *line, 0, level, command);
  }
  return std::nullopt;
}

/// Parses one line whose colour codes and line ending are already removed.
inline std::optional<diagnostic> parse_clean_line(std::string_view s) {
  if (s.empty() || is_blank(s.front())) return std::nullopt;  // excerpts, carets, bodies
  if (s.rfind("CMake ", 0) == 0) return parse_cmake(s);
  if (auto d = parse_gnu(s)) return d;
  if (auto d = parse_msvc(s)) return d;
  if (auto d = parse_tool(s)) return d;
  return parse_ld_object(s);
}

/// `line` without a trailing `\n` and `\r`, and without ANSI escapes.
inline std::string clean_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  return strip_ansi(line);
}

/// A build tool changing directory: make's `make[1]: Entering directory '/p/sub'` (also
/// with a backquote, and `Leaving directory`), ninja's "ninja: Entering directory `build'".
struct directory_change {
  bool entering = true;     ///< false for `Leaving directory`
  std::string directory{};  ///< as printed (ninja's may be relative to the build's directory)
};

/// Parses a cleaned line of the form `tool[N]: Entering|Leaving directory 'dir'`.
inline std::optional<directory_change> parse_directory_change(std::string_view s) {
  const auto colon = s.find(": ");
  if (colon == std::string_view::npos || colon == 0 || s.substr(0, colon).find(' ') != std::string_view::npos)
    return std::nullopt;
  std::string_view rest = s.substr(colon + 2);
  directory_change change;
  static constexpr std::string_view entering = "Entering directory ", leaving = "Leaving directory ";
  if (rest.substr(0, entering.size()) == entering) {
    rest.remove_prefix(entering.size());
  } else if (rest.substr(0, leaving.size()) == leaving) {
    rest.remove_prefix(leaving.size());
    change.entering = false;
  } else {
    return std::nullopt;
  }
  if (rest.size() < 3 || (rest.front() != '\'' && rest.front() != '`') || rest.back() != '\'')
    return std::nullopt;
  change.directory = std::string(rest.substr(1, rest.size() - 2));
  return change;
}

/// The distinct `directory` values of a compile_commands.json text, in order of first
/// appearance, at most `limit`. A light scan (the file of a large project is big), not a
/// validating parse: escapes `\"`, `\\` and `\/` are understood, a value with any other
/// escape is skipped.
inline std::vector<std::string> compile_command_directories(std::string_view json, std::size_t limit = 16) {
  std::vector<std::string> out;
  static constexpr std::string_view key = "\"directory\"";
  for (auto at = json.find(key); at != std::string_view::npos && out.size() < limit; at = json.find(key, at + 1)) {
    std::size_t i = at + key.size();
    while (i < json.size() && (is_blank(json[i]) || json[i] == '\n' || json[i] == '\r')) ++i;
    if (i >= json.size() || json[i] != ':') continue;
    ++i;
    while (i < json.size() && (is_blank(json[i]) || json[i] == '\n' || json[i] == '\r')) ++i;
    if (i >= json.size() || json[i] != '"') continue;
    std::string value;
    bool ok = false;
    for (++i; i < json.size(); ++i) {
      const char c = json[i];
      if (c == '"') {
        ok = true;
        break;
      }
      if (c != '\\') {
        value.push_back(c);
        continue;
      }
      if (++i >= json.size() || (json[i] != '"' && json[i] != '\\' && json[i] != '/')) break;
      value.push_back(json[i]);
    }
    if (ok && !value.empty() && std::find(out.begin(), out.end(), value) == out.end()) out.push_back(std::move(value));
  }
  return out;
}

/// Where a path a build printed opens: an absolute or empty `file` as it is; a relative one
/// under the first of `candidates` (absolute directories, best first) where `exists` finds
/// it; else, for a compiler run in a subdirectory nobody announced (`cd out && c++ -c
/// ../src/a.cc`), the path without its leading `..` (one, then two, ...) under the first
/// candidate where that exists; else under the first candidate. Lexically normal. Without
/// candidates, `file` as is.
template <class Exists>
std::string resolve_build_path(std::string_view file, const std::vector<std::string>& candidates, Exists&& exists) {
  namespace fs = std::filesystem;
  const fs::path printed{std::string(file)};
  if (file.empty() || printed.is_absolute() || candidates.empty()) return std::string(file);
  for (const std::string& directory : candidates) {
    std::string joined = (fs::path(directory) / printed).lexically_normal().string();
    if (exists(joined)) return joined;
  }
  const fs::path normal = printed.lexically_normal();
  std::size_t ups = 0;  // leading ".." components
  for (auto it = normal.begin(); it != normal.end() && *it == ".."; ++it) ++ups;
  for (std::size_t k = 1; k <= ups; ++k) {
    fs::path tail;  // `normal` without its first k components
    std::size_t i = 0;
    for (const fs::path& part : normal) {
      if (i++ >= k) tail /= part;
    }
    if (tail.empty()) break;
    for (const std::string& directory : candidates) {
      std::string joined = (fs::path(directory) / tail).lexically_normal().string();
      if (exists(joined)) return joined;
    }
  }
  return (fs::path(candidates.front()) / printed).lexically_normal().string();
}

}  // namespace detail

/// Parses one line of build output (GCC, Clang, MSVC, GNU ld, lld or CMake format; see the
/// file comment). Returns nullopt for lines that are not diagnostics. A CMake header's
/// message is the command name only (e.g. "add_executable"); use `diagnostic_parser` to
/// attach the indented body that follows it.
inline std::optional<diagnostic> parse_diagnostic_line(std::string_view line) {
  const std::string clean = detail::clean_line(line);
  return detail::parse_clean_line(clean);
}

/// Parses build output fed one line at a time, as it arrives from a pipe. Lines may keep
/// their `\n` / `\r\n`. CMake bodies (indented and blank lines after a `CMake Error ...`
/// header) are appended to that diagnostic's message: lines joined by a space, paragraphs
/// by `\n`, after `command: `.
///
/// @par Example
/// @code
/// hmr::diagnostic_parser parser;
/// parser.feed("src/a.cpp:4:11: error: 'y' was not declared in this scope");
/// parser.feed("    4 |   int x = y;");
/// parser.finish();                                      // at end of output
/// std::vector<hmr::diagnostic> found = parser.take();   // one error, a.cpp:4:11
/// @endcode
class diagnostic_parser {
 public:
  /// Resolves relative paths from now on: the build runs in `build_directory` (empty: the
  /// current directory). `take()` then returns them absolute, resolved against the
  /// `directory` entries of a compile_commands.json found in the build's announced
  /// directories or its own, then those announced directories (the innermost at the time of
  /// the diagnostic first), then `build_directory`; the first under which the file exists
  /// wins, else the first of them.
  void resolve_from(const std::string& build_directory) {
    std::error_code ec;
    const std::filesystem::path current = std::filesystem::current_path(ec);
    base_ = (build_directory.empty() ? current : current / build_directory).lexically_normal().string();
  }

  /// Consumes one line of output.
  void feed(std::string_view line) {
    const std::string clean = detail::clean_line(line);
    if (base_) {
      if (auto change = detail::parse_directory_change(clean)) {
        enter(std::move(*change));
        return;
      }
    }
    if (pending_) {
      if (clean.empty() || detail::is_blank(clean.front())) {
        append_body(detail::trim(clean));
        return;
      }
      flush();
    }
    auto d = detail::parse_clean_line(clean);
    if (!d) return;
    if (clean.rfind("CMake ", 0) == 0) {
      pending_ = std::move(d);  // a header; its body follows
      pending_directory_ = innermost();
      body_.clear();
      blank_run_ = false;
      return;
    }
    complete(std::move(*d), innermost());
  }

  /// Ends the output: a CMake diagnostic still collecting its body is completed.
  void finish() { flush(); }

  /// Returns the completed diagnostics found since the last call and forgets them (their
  /// relative paths made absolute after `resolve_from`).
  std::vector<diagnostic> take() {
    std::vector<std::string> compiled;  // compile_commands.json's directories
    bool looked = false;
    for (std::size_t i = 0; i < done_.size(); ++i) {
      diagnostic& d = done_[i];
      if (!base_ || d.file.empty() || std::filesystem::path(d.file).is_absolute()) continue;
      if (!looked) {
        looked = true;
        compiled = compile_commands_directories();
      }
      std::vector<std::string> candidates = compiled;
      const auto add = [&candidates](const std::string& dir) {
        if (std::find(candidates.begin(), candidates.end(), dir) == candidates.end()) candidates.push_back(dir);
      };
      if (!directories_[i].empty()) add(directories_[i]);
      for (auto it = announced_.rbegin(); it != announced_.rend(); ++it) add(*it);
      add(*base_);
      d.file = detail::resolve_build_path(d.file, candidates, [](const std::string& path) {
        std::error_code ec;
        return std::filesystem::exists(path, ec);
      });
    }
    directories_.clear();
    return std::exchange(done_, {});
  }

  /// The completed diagnostics not yet taken.
  [[nodiscard]] const std::vector<diagnostic>& diagnostics() const noexcept { return done_; }

 private:
  void append_body(std::string_view text) {
    if (text.empty()) {
      blank_run_ = !body_.empty();
      return;
    }
    if (!body_.empty()) body_ += blank_run_ ? '\n' : ' ';
    blank_run_ = false;
    body_ += text;
  }

  void flush() {
    if (!pending_) return;
    if (!body_.empty()) {
      std::string& msg = pending_->message;
      msg = msg.empty() ? std::move(body_) : msg + ": " + body_;
    }
    complete(std::move(*pending_), pending_directory_);
    pending_.reset();
    body_.clear();
  }

  void complete(diagnostic d, std::string directory) {
    done_.push_back(std::move(d));
    directories_.push_back(std::move(directory));
  }

  // A directory change announced by the build tool (relative ones against the build's).
  void enter(detail::directory_change change) {
    std::string directory = (std::filesystem::path(*base_) / change.directory).lexically_normal().string();
    if (!directory.empty() && directory.size() > 1 && directory.back() == '/') directory.pop_back();
    if (change.entering) {
      stack_.push_back(directory);
      if (std::find(announced_.begin(), announced_.end(), directory) == announced_.end())
        announced_.push_back(std::move(directory));
    } else if (!stack_.empty()) {
      const auto it = std::find(stack_.rbegin(), stack_.rend(), directory);
      if (it != stack_.rend()) stack_.erase(std::next(it).base());
    }
  }

  // The directory the build tool is in now, as far as its announcements say ("" if none).
  [[nodiscard]] std::string innermost() const { return stack_.empty() ? std::string() : stack_.back(); }

  // The directories of the compile_commands.json files in the announced directories and
  // the build's own.
  [[nodiscard]] std::vector<std::string> compile_commands_directories() const {
    std::vector<std::string> out;
    std::vector<std::string> places(announced_.rbegin(), announced_.rend());
    places.push_back(*base_);
    for (const std::string& place : places) {
      std::ifstream in(std::filesystem::path(place) / "compile_commands.json", std::ios::binary);
      if (!in) continue;
      const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
      for (std::string& dir : detail::compile_command_directories(text)) {
        std::string absolute = (std::filesystem::path(place) / dir).lexically_normal().string();
        if (std::find(out.begin(), out.end(), absolute) == out.end()) out.push_back(std::move(absolute));
      }
    }
    return out;
  }

  std::optional<std::string> base_{};        // the build's directory, once resolving
  std::vector<std::string> stack_{};         // the build tool's directories, innermost last
  std::vector<std::string> announced_{};     // every directory announced, in order
  std::vector<std::string> directories_{};   // per completed diagnostic: innermost then
  std::string pending_directory_{};          // the same for the pending CMake header
  std::vector<diagnostic> done_{};       // completed, in output order
  std::optional<diagnostic> pending_{};  // a CMake header collecting its body
  std::string body_{};                   // the body so far
  bool blank_run_ = false;               // a blank line since the last body text
};

/// Parses a whole build log (lines split on `\n`, `\r\n` tolerated) into its diagnostics, in
/// order, with CMake bodies attached.
inline std::vector<diagnostic> parse_diagnostics(std::string_view output) {
  diagnostic_parser parser;
  while (!output.empty()) {
    const auto nl = output.find('\n');
    parser.feed(output.substr(0, nl));
    if (nl == std::string_view::npos) break;
    output.remove_prefix(nl + 1);
  }
  parser.finish();
  return parser.take();
}

}  // namespace hmr
