// .gitignore rules with git's semantics, as a filter. `gitignore` itself is pure (you hand
// it file contents); `load_gitignore()` at the end is the one function that reads files.
// Semantics tables: docs/filters.md.
#pragma once

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "filters.hpp"
#include "glob.hpp"

namespace hmr {

/// One pattern line of an ignore file, as parsed.
struct gitignore_rule {
  std::string pattern;    ///< the line as written, trailing spaces trimmed ("!keep.log")
  std::string source;     ///< the file it came from, for explanations ("src/.gitignore")
  std::size_t line = 0;   ///< 1-based line number in `source`
  std::string directory;  ///< the directory it applies below, relative to the root ("" = root)
  bool negated = false;   ///< starts with `!`: re-includes what an earlier rule excluded
  bool directory_only = false;  ///< ends with `/`: matches directories only
  bool anchored =
      false;  ///< has a leading or middle `/`: relative to `directory`, not at any depth
  bool valid =
      true;  ///< false for a malformed pattern (an unclosed `[`): it never matches, as in git
  bool from_exclude_file =
      false;  ///< added by `add_exclude_file` (`.git/info/exclude`), not a `.gitignore`

  /// `.gitignore rule "!keep.log" (src/.gitignore:3)`.
  [[nodiscard]] std::string describe() const {
    return std::string(from_exclude_file ? "exclude rule" : ".gitignore rule") + " \"" + pattern +
           "\" (" + source + ":" + std::to_string(line) + ")";
  }
};

/// What `gitignore::check` found for a path, like `git check-ignore -v`.
struct gitignore_match {
  const gitignore_rule* rule =
      nullptr;  ///< the deciding rule (null: none matched); valid until the gitignore changes
  bool ignored = false;  ///< the path is ignored
  bool by_parent =
      false;  ///< ignored because this parent directory is (a negation cannot undo that)
  std::string_view parent;  ///< that directory: a view into the path asked about
};

/// The ignore rules of a tree of `.gitignore` files, with git's semantics:
///
/// - blank lines and lines starting with `#` are skipped; `\#` and `\!` start a pattern
///   with a literal `#` or `!`; trailing spaces are trimmed unless escaped (`\ `); a
///   trailing CR is dropped;
/// - `!` negates: a later negation re-includes a path, but never a path whose parent
///   directory is excluded (git does not look inside excluded directories);
/// - a trailing `/` matches directories only; a leading or middle `/` anchors the pattern
///   to the directory of its file; otherwise it matches the basename at any depth below it;
/// - `*`, `?`, `[...]`, `**` as in `hmr::glob` (no braces: `{` is literal, as in git);
/// - a deeper file takes precedence over a shallower one; within a file the last matching
///   line wins; exclude files (`.git/info/exclude`) come after every `.gitignore`.
///
/// @par Example
/// ```cpp
/// hmr::gitignore ignore{"*.log\n!keep.log\nbuild/\n"};
/// ignore.add_file("src", "gen/\n", "src/.gitignore");
/// ignore.keep("logs/a.log", false);    // false
/// ignore.keep("keep.log", false);      // true
/// ignore.keep("src/gen/x.cpp", false); // false
/// ignore.explain("build/a.o", false).describe();
/// // "build/a.o" dropped: .gitignore rule "build/" (.gitignore:3) excludes parent directory
/// "build"
/// ```
class gitignore {
 public:
  /// No rules: keeps everything.
  gitignore() = default;
  /// The rules of a root `.gitignore` with these contents.
  explicit gitignore(std::string_view contents, std::string source_name = ".gitignore") {
    add_file("", contents, std::move(source_name));
  }

  /// Adds the contents of the `.gitignore` in `directory` (relative to the root, `""` for
  /// the root, no trailing `/` needed). Adding twice for one directory appends the lines.
  void add_file(std::string_view directory, std::string_view contents, std::string source_name) {
    while (!directory.empty() && directory.back() == '/') directory.remove_suffix(1);
    auto it = std::lower_bound(files_.begin(), files_.end(), directory,
                               [](const file& f, std::string_view d) { return f.directory < d; });
    if (it == files_.end() || it->directory != directory)
      it = files_.insert(it, file{std::string(directory), {}});
    parse(contents, directory, source_name, false, it->rules);
  }

  /// Adds an exclude file (`.git/info/exclude`, `core.excludesFile`): root-relative rules
  /// with lower precedence than every `.gitignore`.
  void add_exclude_file(std::string_view contents, std::string source_name = ".git/info/exclude") {
    parse(contents, "", source_name, true, excludes_);
  }

  /// The deciding rule for `path` (relative to the root), as `git check-ignore -v` reports
  /// it. The root itself (`""`) is never ignored. Never allocates.
  [[nodiscard]] gitignore_match check(std::string_view path, bool is_directory) const noexcept {
    gitignore_match out;
    if (path.empty()) return out;  // the root itself is never ignored (`*` would match "")
    detail::for_each_parent(path, [&](std::string_view parent) {
      const compiled* r = last_match(parent, true);
      if (r == nullptr || r->info.negated) return false;
      out = {&r->info, true, true, parent};
      return true;
    });
    if (out.ignored) return out;
    if (const compiled* r = last_match(path, is_directory))
      out = {&r->info, !r->info.negated, false, {}};
    return out;
  }

  /// True when `path` is ignored. Never allocates.
  [[nodiscard]] bool ignored(std::string_view path, bool is_directory) const noexcept {
    return check(path, is_directory).ignored;
  }
  /// False when `path` is ignored (the `path_filter` interface). Never allocates.
  [[nodiscard]] bool keep(std::string_view path, bool is_directory) const noexcept {
    return !ignored(path, is_directory);
  }

  /// Which rule, in which file and line, decided.
  [[nodiscard]] filter_verdict explain(std::string_view path, bool is_directory) const {
    const gitignore_match m = check(path, is_directory);
    filter_verdict v{!m.ignored, std::string(path), "gitignore", {}, m.rule != nullptr};
    if (m.rule == nullptr) {
      v.rule = "no .gitignore rule matched";
    } else if (!m.by_parent) {
      v.rule = m.rule->describe();
    } else {
      v.rule = m.rule->describe() + " excludes parent directory \"" + std::string(m.parent) + "\"";
      if (const compiled* r = last_match(path, is_directory); r != nullptr && r->info.negated) {
        v.rule += "; " + r->info.describe() + " cannot re-include it inside an excluded directory";
      }
    }
    return v;
  }

  /// The number of rules (pattern lines) in every file.
  [[nodiscard]] std::size_t size() const noexcept {
    std::size_t n = excludes_.size();
    for (const auto& f : files_) n += f.rules.size();
    return n;
  }
  /// True when there are no rules.
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }

 private:
  struct compiled {
    gitignore_rule info;
    std::optional<glob> matcher;  // empty when the pattern is malformed
  };
  struct file {
    std::string directory;
    std::vector<compiled> rules;
  };
  std::vector<file> files_;         // sorted by directory
  std::vector<compiled> excludes_;  // exclude files, after every .gitignore

  // Git's trimming: unescaped trailing spaces go (tabs stay); after a trailing `\`, nothing goes.
  static std::string_view trim_trailing_spaces(std::string_view s) noexcept {
    std::size_t keep = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == ' ') continue;
      if (s[i] == '\\') {
        if (i + 1 == s.size()) return s;
        ++i;
      }
      keep = i + 1;
    }
    return s.substr(0, keep);
  }

  static void parse(std::string_view contents, std::string_view directory,
                    const std::string& source, bool exclude_file, std::vector<compiled>& out) {
    if (contents.substr(0, 3) == "\xEF\xBB\xBF")
      contents.remove_prefix(3);  // git skips a UTF-8 BOM
    std::size_t line_no = 0;
    std::size_t pos = 0;
    while (pos < contents.size()) {
      std::size_t end = contents.find('\n', pos);
      if (end == std::string_view::npos) end = contents.size();
      std::string_view line = contents.substr(pos, end - pos);
      pos = end + 1;
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty() || line.front() == '#') continue;
      line = trim_trailing_spaces(line);
      if (line.empty()) continue;
      compiled c;
      c.info.pattern = std::string(line);
      c.info.source = source;
      c.info.line = line_no;
      c.info.directory = std::string(directory);
      c.info.from_exclude_file = exclude_file;
      std::string_view body = line;
      if (body.front() == '!') {
        c.info.negated = true;
        body.remove_prefix(1);
      }
      if (!body.empty() && body.back() == '/') {
        c.info.directory_only = true;
        body.remove_suffix(1);
      }
      c.info.anchored = body.find('/') != std::string_view::npos;
      if (!body.empty() && body.front() == '/') body.remove_prefix(1);
      try {
        c.matcher.emplace(body, glob_options{.match_basename = false, .braces = false});
      } catch (const std::invalid_argument&) {
        c.info.valid = false;  // git's matcher never matches a malformed pattern either
      }
      out.push_back(std::move(c));
    }
  }

  [[nodiscard]] const file* find_file(std::string_view directory) const noexcept {
    auto it = std::lower_bound(files_.begin(), files_.end(), directory,
                               [](const file& f, std::string_view d) { return f.directory < d; });
    return it != files_.end() && it->directory == directory ? &*it : nullptr;
  }

  // The last rule of `rules` (from a file in `directory`) that matches `path`.
  static const compiled* match_in(const std::vector<compiled>& rules, std::string_view directory,
                                  std::string_view path, bool is_directory) noexcept {
    const std::string_view rel = directory.empty() ? path : path.substr(directory.size() + 1);
    const std::size_t slash = rel.rfind('/');
    const std::string_view base = slash == std::string_view::npos ? rel : rel.substr(slash + 1);
    for (auto it = rules.rbegin(); it != rules.rend(); ++it) {
      if (!it->matcher || (it->info.directory_only && !is_directory)) continue;
      if (it->matcher->matches(it->info.anchored ? rel : base)) return &*it;
    }
    return nullptr;
  }

  // The deciding rule for `path` itself (parents not considered): the files of its parent
  // directories, deepest first, then the exclude files.
  [[nodiscard]] const compiled* last_match(std::string_view path,
                                           bool is_directory) const noexcept {
    std::size_t end = path.size();
    for (;;) {
      const std::size_t slash = end == 0 ? std::string_view::npos : path.rfind('/', end - 1);
      const std::string_view dir =
          slash == std::string_view::npos ? std::string_view{} : path.substr(0, slash);
      if (const file* f = find_file(dir)) {
        if (const compiled* r = match_in(f->rules, dir, path, is_directory)) return r;
      }
      if (slash == std::string_view::npos) break;
      end = slash;
    }
    return match_in(excludes_, {}, path, is_directory);
  }
};

namespace detail {

inline std::string path_to_utf8(const std::filesystem::path& p) {
  const auto s = p.generic_u8string();
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

// The contents of a regular file (not a symlink, as git >= 2.32), or nothing.
inline std::optional<std::string> read_regular_file(const std::filesystem::path& p,
                                                    bool follow_symlinks) {
  std::error_code ec;
  const auto st =
      follow_symlinks ? std::filesystem::status(p, ec) : std::filesystem::symlink_status(p, ec);
  if (ec || st.type() != std::filesystem::file_type::regular) return std::nullopt;
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace detail

/// Reads the ignore rules of the tree at `root` the way git does, with file I/O:
/// `.git/info/exclude` (when `root/.git` is a directory), then the `.gitignore` of `root`
/// and of every directory below it that is not itself ignored, never entering `.git` and
/// never following symbolic links. Unreadable files and directories are skipped, not
/// reported. `core.excludesFile` is not read: add it with `add_exclude_file`. Rules name
/// their file relative to `root`, after `source_prefix` (say "lib/" when watching several
/// roots, so a verdict reads "lib/.gitignore:3").
///
/// @par Example
/// ```cpp
/// auto filter = hmr::default_ignores() | hmr::load_gitignore(".");
/// ```
inline gitignore load_gitignore(const std::filesystem::path& root,
                                const std::string& source_prefix = {}) {
  namespace fs = std::filesystem;
  gitignore rules;
  std::error_code ec;
  if (fs::is_directory(root / ".git", ec)) {
    if (auto text = detail::read_regular_file(root / ".git" / "info" / "exclude", true)) {
      rules.add_exclude_file(*text, source_prefix + ".git/info/exclude");
    }
  }
  std::vector<std::pair<fs::path, std::string>> pending{{root, std::string()}};
  while (!pending.empty()) {
    auto [dir, rel] = std::move(pending.back());
    pending.pop_back();
    if (auto text = detail::read_regular_file(dir / ".gitignore", false)) {
      rules.add_file(rel, *text, source_prefix + (rel.empty() ? ".gitignore" : rel + "/.gitignore"));
    }
    fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
      std::error_code entry_ec;
      if (it->is_symlink(entry_ec) || !it->is_directory(entry_ec)) continue;
      std::string name = detail::path_to_utf8(it->path().filename());
      if (name == ".git") continue;
      std::string child = rel.empty() ? std::move(name) : rel + "/" + name;
      if (rules.ignored(child, true)) continue;  // git never reads inside an ignored directory
      pending.emplace_back(it->path(), std::move(child));
    }
    ec.clear();
  }
  return rules;
}

}  // namespace hmr
