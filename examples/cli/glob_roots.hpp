// The CLI's globs (--include, --exclude, --restart-on) against the watch roots: a glob
// written relative to the current directory is rewritten relative to the watch root it
// points into, and one that matches no existing path at start is reported.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <hmr/events.hpp>
#include <hmr/filters.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include "cli_options.hpp"

namespace hmr::cli {

/// A glob as the filters match it, and where that came from.
struct rooted_glob {
  std::string written{};             ///< as the user wrote it
  std::string pattern{};             ///< what is matched against paths relative to a watch root
  std::optional<std::size_t> root{};  ///< the watch root it was rewritten for, if it was
};

namespace detail {

/// True for a glob segment without wildcards, classes, braces or escapes.
inline bool literal_segment(std::string_view segment) {
  return segment.find_first_of("*?[{\\") == std::string_view::npos;
}

}  // namespace detail

/// `glob` made relative to a watch root. Globs are matched against paths relative to each
/// watch root (`main.cpp`, not `src/main.cpp`, under `-w src`); a glob whose leading
/// literal directories, taken from `cwd` (or from `/` for a glob starting with `/`), lead
/// into a watch root is rewritten relative to the first such root and anchored there:
/// `src/main.cpp` under `-w src` becomes `/main.cpp`, `src/**/*.h` becomes `/**/*.h`.
/// Any other glob (a basename glob such as `*.cpp`, one already relative to a root, one
/// naming a root itself, or one the rewrite would not change, as under `-w .`) is kept as
/// written. `roots` are as given to --watch; `cwd` is
/// absolute. Pure: no file system access.
///
/// @par Example
/// ```cpp
/// rebase_glob("src/main.cpp", {"src"}, "/work").pattern;  // "/main.cpp"
/// rebase_glob("net/*.cpp", {"src"}, "/work").pattern;     // "net/*.cpp" (root-relative)
/// ```
inline rooted_glob rebase_glob(std::string_view glob, const std::vector<std::string>& roots,
                               const std::filesystem::path& cwd) {
  namespace fs = std::filesystem;
  rooted_glob out{std::string(glob), std::string(glob), std::nullopt};
  std::string_view body = glob;
  const bool anchored = body.size() > 1 && body.front() == '/';
  if (anchored) body.remove_prefix(1);
  const bool dir_only = body.size() > 1 && body.back() == '/';
  if (dir_only) body.remove_suffix(1);
  if (body.find('/') == std::string_view::npos) return out;  // a basename glob
  // The leading literal segments: a path to resolve. The rest stays a glob.
  fs::path prefix = anchored ? fs::path("/") : cwd;
  std::size_t pos = 0;
  bool any_literal = false;
  while (pos <= body.size()) {
    std::size_t end = body.find('/', pos);
    if (end == std::string_view::npos) end = body.size();
    const std::string_view segment = body.substr(pos, end - pos);
    if (!detail::literal_segment(segment)) break;
    prefix /= std::string(segment);
    any_literal = true;
    pos = end + 1;
  }
  if (!any_literal) return out;
  const std::string rest = pos < body.size() ? std::string(body.substr(pos)) : std::string();
  prefix = prefix.lexically_normal();
  for (std::size_t i = 0; i < roots.size(); ++i) {
    const fs::path root = (cwd / roots[i]).lexically_normal();
    fs::path rel = prefix.lexically_relative(root);
    if (rel.empty() || *rel.begin() == "..") continue;
    std::string lead = rel == "." ? std::string() : rel.generic_string();
    if (!lead.empty() && lead.back() == '/') lead.pop_back();  // "src/" normalised to "src/."
    if (lead.empty() && rest.empty()) return out;  // the root itself: nothing under it
    std::string pattern = lead + (!lead.empty() && !rest.empty() ? "/" : "") + rest;
    if (!anchored && pattern == body) return out;  // already relative to that root (`-w .`)
    pattern.insert(0, "/");
    if (dir_only) pattern += '/';
    out.pattern = std::move(pattern);
    out.root = i;
    return out;
  }
  return out;
}

/// What a glob given to the CLI is for: which paths it may match at start.
enum class glob_use : std::uint8_t {
  include,     ///< --include: files
  exclude,     ///< --exclude: files and directories (and what is under them)
  restart_on,  ///< --restart-on: files
};

/// The globs the CLI took, of one use, each rebased with rebase_glob.
struct glob_group {
  glob_use use = glob_use::include;  ///< what they are for
  std::string option{};               ///< the option that gave them, "--include", ...
  std::vector<rooted_glob> globs{};   ///< in the order given
};

/// The warning lines for the globs that match no existing path under `roots` (one each,
/// without the `hmr: warning: ` prefix), found by walking the trees once. A walk that
/// would go past `max_entries` paths stops, and the globs still unmatched then are not
/// reported (too big a tree to say).
inline std::vector<std::string> unmatched_glob_warnings(const std::vector<glob_group>& groups,
                                                        const std::vector<std::string>& roots,
                                                        std::size_t max_entries = 200'000) {
  namespace fs = std::filesystem;
  struct pending {
    const glob_group* group;
    const rooted_glob* glob;
    std::optional<hmr::include_globs> include{};
    std::optional<hmr::exclude_globs> exclude{};
    bool matched = false;
  };
  std::vector<pending> open;
  for (const glob_group& group : groups) {
    for (const rooted_glob& g : group.globs) {
      pending p{&group, &g};
      const std::vector<std::string> one{g.pattern};
      if (group.use == glob_use::exclude) {
        p.exclude.emplace(one);
      } else {
        p.include.emplace(one);
      }
      open.push_back(std::move(p));
    }
  }
  std::size_t left = open.size();
  std::size_t seen = 0;
  for (const std::string& root : roots) {
    std::error_code ec;
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
    for (; left > 0 && !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (++seen > max_entries) return {};
      std::error_code type_ec;
      const bool is_directory = it->is_directory(type_ec) && !it->is_symlink(type_ec);
      const std::string path = it->path().lexically_relative(root).generic_string();
      for (pending& p : open) {
        if (p.matched) continue;
        const bool hit = p.exclude ? !p.exclude->keep(path, is_directory)
                                   : !is_directory && p.include->keep(path, false);
        if (hit) {
          p.matched = true;
          --left;
        }
      }
    }
  }
  std::string where = roots.size() == 1 ? "the watch root " : "the watch roots ";
  for (std::size_t i = 0; i < roots.size(); ++i) where += (i == 0 ? "" : ", ") + roots[i];
  std::vector<std::string> lines;
  for (const pending& p : open) {
    if (p.matched) continue;
    const rooted_glob& g = *p.glob;
    std::string line = p.group->option + " '" + g.written + "' matches no existing " +
                       (p.group->use == glob_use::exclude ? "file or directory" : "file");
    if (g.root) {
      line += " under the watch root " + roots[*g.root] + " (matched there as '" + g.pattern + "')";
    } else {
      line += " under " + where +
              " (globs are matched relative to each watch root; a path from the current "
              "directory works too)";
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

/// Rebases `o.include`, `o.exclude` and `o.restart_on` in place against `o.watch` (see
/// rebase_glob; `cwd` absolute), and returns them as written and as rebased, for
/// unmatched_glob_warnings.
inline std::vector<glob_group> rebase_option_globs(options& o, const std::filesystem::path& cwd) {
  std::vector<glob_group> groups{{glob_use::include, "--include", {}},
                                 {glob_use::exclude, "--exclude", {}},
                                 {glob_use::restart_on, "--restart-on", {}}};
  std::vector<std::string>* lists[] = {&o.include, &o.exclude, &o.restart_on};
  for (std::size_t i = 0; i < groups.size(); ++i) {
    for (std::string& text : *lists[i]) {
      groups[i].globs.push_back(rebase_glob(text, o.watch, cwd));
      text = groups[i].globs.back().pattern;
    }
  }
  return groups;
}

/// A presenter that presents `pending` right after the first `watching` event (which the
/// JSON lines schema puts first): how the JSON presenter shows the glob warnings.
template <class Presenter>
class after_watching {
 public:
  /// Wraps `inner`; `pending` are presented once, after the first `watching`.
  after_watching(Presenter inner, std::vector<hmr::event> pending)
      : inner_(std::move(inner)), pending_(std::move(pending)) {}
  /// Presents `e`, then the pending events if `e` is the first `watching`.
  void present(const hmr::event& e) {
    inner_.present(e);
    if (pending_.empty() || !std::holds_alternative<hmr::events::watching>(e)) return;
    for (const hmr::event& p : pending_) inner_.present(p);
    pending_.clear();
  }

 private:
  Presenter inner_;
  std::vector<hmr::event> pending_;
};

}  // namespace hmr::cli
