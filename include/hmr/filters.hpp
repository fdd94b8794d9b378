// Filters decide which paths matter, and say why: `ignore_segments`, `include_globs`,
// `exclude_globs`, `default_ignores` (and `gitignore`, in gitignore.hpp), composed with `|`.
// Semantics tables and the default ignore list: docs/filters.md.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "events.hpp"
#include "glob.hpp"

namespace hmr {

/// Why a filter kept or dropped a path: what `explain()` returns.
struct filter_verdict {
  bool kept = true;      ///< the path passes (for a directory: descend into it and watch it)
  std::string path;      ///< the path that was asked about
  std::string filter;    ///< which filter decided: "exclude_globs", "gitignore", ...
  std::string rule;      ///< the deciding rule, e.g. `exclude glob "build/**"`
  bool matched = false;  ///< a specific rule decided (false: "no rule matched" and the like)

  /// One line for a human, e.g. `"build/a.o" dropped: exclude glob "build/**"`.
  [[nodiscard]] std::string describe() const {
    return "\"" + path + "\" " + (kept ? "kept" : "dropped") + ": " + rule;
  }

  friend bool operator==(const filter_verdict&, const filter_verdict&) = default;
};

/// A value that decides whether a path (relative to the watch root, `/`-separated)
/// matters. `keep` is the fast path (no allocation in the filters of this library);
/// `explain` says why, naming the rule.
template <class F>
concept path_filter = std::copy_constructible<F> &&
    requires(const F& f, std::string_view path, bool is_directory) {
  { f.keep(path, is_directory) } -> std::convertible_to<bool>;
  { f.explain(path, is_directory) } -> std::same_as<filter_verdict>;
};

/// `filter.keep` for a path under watch root number `root`: filters that differ per root
/// (`per_root`) have `keep(root, path, is_directory)`; the others see the path alone.
template <path_filter F>
[[nodiscard]] bool keep_in_root(const F& filter, std::size_t root, std::string_view path,
                                bool is_directory) {
  if constexpr (requires { filter.keep(root, path, is_directory); }) {
    return filter.keep(root, path, is_directory);
  } else {
    return filter.keep(path, is_directory);
  }
}

/// `filter.explain` for a path under watch root number `root` (see `keep_in_root`).
template <path_filter F>
[[nodiscard]] filter_verdict explain_in_root(const F& filter, std::size_t root,
                                             std::string_view path, bool is_directory) {
  if constexpr (requires { filter.explain(root, path, is_directory); }) {
    return filter.explain(root, path, is_directory);
  } else {
    return filter.explain(path, is_directory);
  }
}

namespace detail {

/// "a, b, c"
template <class R>
std::string join(const R& items, std::string_view separator = ", ") {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

/// Calls `f` with each proper ancestor directory of `path`, shallowest first, until it
/// returns true; returns whether it did.
template <class F>
bool for_each_parent(std::string_view path, F&& f) {
  for (std::size_t slash = path.find('/'); slash != std::string_view::npos;
       slash = path.find('/', slash + 1)) {
    if (f(path.substr(0, slash))) return true;
  }
  return false;
}

/// A list of globs as include/exclude filters use them: git's rules for the pattern
/// text (no slash but a trailing one: basename at any depth; leading `/`: anchored and
/// removed; trailing `/`: directories only), and a glob that matches a directory also
/// covers everything below it.
class glob_rules {
 public:
  /// Where a rule matched.
  struct hit {
    std::size_t rule = 0;    ///< index of the rule, in the order given
    std::string_view on;     ///< the path or parent directory it matched
    bool on_parent = false;  ///< `on` is a parent directory of the path
  };

  glob_rules() = default;
  template <class R>
  explicit glob_rules(const R& patterns) {
    for (const auto& p : patterns) add(std::string_view(p));
  }

  void add(std::string_view pattern) {
    texts_.emplace_back(pattern);
    std::string_view body = pattern;
    bool dir_only = false;
    if (body.size() > 1 && body.back() == '/') {
      dir_only = true;
      body.remove_suffix(1);
    }
    bool anchored = false;
    if (body.size() > 1 && body.front() == '/') {
      anchored = true;
      body.remove_prefix(1);
    }
    (dir_only ? dirs_ : all_).add(glob(body, {.match_basename = !anchored}));
    (dir_only ? dirs_index_ : all_index_).push_back(texts_.size() - 1);
  }

  [[nodiscard]] std::size_t size() const noexcept { return texts_.size(); }
  [[nodiscard]] bool empty() const noexcept { return texts_.empty(); }
  [[nodiscard]] const std::string& text(std::size_t i) const noexcept { return texts_[i]; }
  [[nodiscard]] const std::vector<std::string>& texts() const noexcept { return texts_; }

  /// The first rule (lowest index) matching `path` itself, never allocating.
  [[nodiscard]] std::optional<std::size_t> match_self(std::string_view path,
                                                      bool is_directory) const noexcept {
    std::optional<std::size_t> best;
    if (auto i = all_.find(path)) best = all_index_[*i];
    if (is_directory) {
      if (auto i = dirs_.find(path); i && (!best || dirs_index_[*i] < *best))
        best = dirs_index_[*i];
    }
    return best;
  }

  /// Where a rule matches: the shallowest parent directory first, then the path itself.
  [[nodiscard]] std::optional<hit> find(std::string_view path, bool is_directory) const noexcept {
    std::optional<hit> out;
    for_each_parent(path, [&](std::string_view parent) {
      if (auto r = match_self(parent, true)) out = hit{*r, parent, true};
      return out.has_value();
    });
    if (!out) {
      if (auto r = match_self(path, is_directory)) out = hit{*r, path, false};
    }
    return out;
  }

  /// True when any rule matches the path or one of its parent directories.
  [[nodiscard]] bool any(std::string_view path, bool is_directory) const noexcept {
    if (match_self(path, is_directory)) return true;
    return for_each_parent(
        path, [&](std::string_view parent) { return match_self(parent, true).has_value(); });
  }

 private:
  std::vector<std::string> texts_;  // the patterns as written
  glob_set all_;                    // patterns for files and directories
  glob_set dirs_;                   // patterns ending in `/`: directories only
  std::vector<std::size_t> all_index_;
  std::vector<std::size_t> dirs_index_;
};

/// `" on parent directory "build""` or nothing.
inline std::string parent_note(const glob_rules::hit& h) {
  if (!h.on_parent) return {};
  return " on parent directory \"" + std::string(h.on) + "\"";
}

}  // namespace detail

/// Drops a path when any of its segments equals one of the names.
///
/// @par Example
/// ```cpp
/// hmr::ignore_segments f{".git", "build"};
/// f.keep("src/build/a.o", false);  // false: the segment "build"
/// f.keep("src/builder.cpp", false);  // true
/// ```
class ignore_segments {
 public:
  /// Ignores these segment names; throws std::invalid_argument for a name with a `/`.
  ignore_segments(std::initializer_list<std::string_view> names) { assign(names); }
  /// Ignores the names of a range of strings.
  template <std::ranges::input_range R>
  requires std::convertible_to<std::ranges::range_reference_t<R>, std::string_view>
  explicit ignore_segments(const R& names) { assign(names); }

  /// False when a segment of `path` is one of the names. Never allocates.
  [[nodiscard]] bool keep(std::string_view path, bool /*is_directory*/) const noexcept {
    return !first_ignored(path).has_value();
  }

  /// Which segment, if any, dropped the path.
  [[nodiscard]] filter_verdict explain(std::string_view path, bool /*is_directory*/) const {
    filter_verdict v{true, std::string(path), "ignore_segments", {}, false};
    if (auto i = first_ignored(path)) {
      v.kept = false;
      v.matched = true;
      v.rule = "ignored segment \"" + names_[*i] + "\"";
    } else {
      v.rule = "no ignored segment (ignored: " + detail::join(names_) + ")";
    }
    return v;
  }

  /// The names, as given.
  [[nodiscard]] const std::vector<std::string>& names() const noexcept { return names_; }

 private:
  std::vector<std::string> names_;

  template <class R>
  void assign(const R& names) {
    for (const auto& n : names) {
      const std::string_view name(n);
      if (name.find('/') != std::string_view::npos) {
        throw std::invalid_argument("hmr::ignore_segments: the name \"" + std::string(name) +
                                    "\" contains '/' and can never equal a segment");
      }
      names_.emplace_back(name);
    }
  }

  // The index of the name of the first segment that is ignored.
  [[nodiscard]] std::optional<std::size_t> first_ignored(std::string_view path) const noexcept {
    std::size_t pos = 0;
    for (;;) {
      const std::string_view seg = detail::glob_segment_at(path, pos);
      for (std::size_t i = 0; i < names_.size(); ++i) {
        if (seg == names_[i]) return i;
      }
      pos += seg.size() + 1;
      if (pos > path.size()) return std::nullopt;
    }
  }
};

/// Keeps only files that match at least one glob (an empty list keeps everything).
/// Directories are always kept, so a watcher still descends into `src/` to find
/// `src/a.cpp`. Pattern text follows git: `*.hpp` (no slash) matches at any depth, a
/// leading `/` anchors, a trailing `/` matches directories only, and a glob that matches
/// a parent directory covers the files below it (`src` keeps `src/a.cpp`).
///
/// @par Example
/// ```cpp
/// hmr::include_globs f{"**/*.cpp", "*.hpp"};
/// f.keep("src/a.cpp", false);    // true
/// f.keep("README.md", false);    // false
/// f.keep("docs", true);          // true: a directory
/// ```
class include_globs {
 public:
  /// Keeps files matching any of these globs; throws std::invalid_argument for a malformed one.
  include_globs(std::initializer_list<std::string_view> patterns) : rules_(patterns) {}
  /// The globs of a range of strings.
  template <std::ranges::input_range R>
  requires std::convertible_to<std::ranges::range_reference_t<R>, std::string_view>
  explicit include_globs(const R& patterns) : rules_(patterns) {}

  /// True for directories, when there are no globs, or when a glob matches. Never allocates.
  [[nodiscard]] bool keep(std::string_view path, bool is_directory) const noexcept {
    return is_directory || rules_.empty() || rules_.any(path, false);
  }

  /// Which glob kept the file, or the list that none matched.
  [[nodiscard]] filter_verdict explain(std::string_view path, bool is_directory) const {
    filter_verdict v{true, std::string(path), "include_globs", {}, false};
    if (is_directory) {
      v.rule = "a directory (include globs never drop directories)";
    } else if (rules_.empty()) {
      v.rule = "no include globs (everything is included)";
    } else if (auto h = rules_.find(path, false)) {
      v.matched = true;
      v.rule = "matched include glob \"" + rules_.text(h->rule) + "\"" + detail::parent_note(*h);
    } else {
      v.kept = false;
      v.rule = "no include glob matched (include globs: " + detail::join(rules_.texts()) + ")";
    }
    return v;
  }

  /// The globs, as given.
  [[nodiscard]] const std::vector<std::string>& patterns() const noexcept { return rules_.texts(); }

 private:
  detail::glob_rules rules_;
};

/// Drops paths that match any glob, and everything below a directory that matches (so a
/// watcher never descends into it). Pattern text as for `include_globs`.
///
/// @par Example
/// ```cpp
/// hmr::exclude_globs f{"build/", "*.tmp"};
/// f.keep("build", true);          // false
/// f.keep("build/obj/a.o", false); // false: its parent directory "build" matched
/// f.keep("src/x.tmp", false);     // false
/// ```
class exclude_globs {
 public:
  /// Drops paths matching any of these globs; throws std::invalid_argument for a malformed one.
  exclude_globs(std::initializer_list<std::string_view> patterns) : rules_(patterns) {}
  /// The globs of a range of strings.
  template <std::ranges::input_range R>
  requires std::convertible_to<std::ranges::range_reference_t<R>, std::string_view>
  explicit exclude_globs(const R& patterns) : rules_(patterns) {}

  /// False when a glob matches the path or one of its parent directories. Never allocates.
  [[nodiscard]] bool keep(std::string_view path, bool is_directory) const noexcept {
    return !rules_.any(path, is_directory);
  }

  /// Which glob dropped the path.
  [[nodiscard]] filter_verdict explain(std::string_view path, bool is_directory) const {
    filter_verdict v{true, std::string(path), "exclude_globs", {}, false};
    if (auto h = rules_.find(path, is_directory)) {
      v.kept = false;
      v.matched = true;
      v.rule = "exclude glob \"" + rules_.text(h->rule) + "\"" + detail::parent_note(*h);
    } else {
      v.rule = "no exclude glob matched";
    }
    return v;
  }

  /// The globs, as given.
  [[nodiscard]] const std::vector<std::string>& patterns() const noexcept { return rules_.texts(); }

 private:
  detail::glob_rules rules_;
};

/// One entry of the built-in ignore list.
struct default_ignore_rule {
  std::string_view pattern;  ///< a glob, with the same rules as `exclude_globs`
  std::string_view reason;   ///< what it is, for explanations ("vim swap file")
};

/// What hmr ignores out of the box (docs/filters.md explains each choice): VCS metadata,
/// build output directories, dependency folders, editor temporary and swap files.
inline constexpr std::array<default_ignore_rule, 31> default_ignore_rules{{
    {".git", "git metadata"},
    {".hg/", "Mercurial metadata"},
    {".svn/", "Subversion metadata"},
    {".jj/", "Jujutsu metadata"},
    {".bzr/", "Bazaar metadata"},
    {"build/", "build output directory"},
    {"cmake-build-*/", "CLion build directory"},
    {"builddir/", "Meson build directory"},
    {"out/", "build output directory (Visual Studio's CMake default)"},
    {"CMakeFiles/", "CMake's build metadata (in-source build)"},
    {".cache/", "tool cache (clangd's index, ...)"},
    {"node_modules/", "npm dependencies"},
    {"__pycache__/", "Python bytecode cache"},
    {".idea/", "JetBrains project state"},
    {".vs/", "Visual Studio state"},
    {"*.swp", "vim swap file"},
    {"*.swo", "vim swap file"},
    {"*.swn", "vim swap file"},
    {"*.swx", "vim swap file"},
    {"*~", "editor backup file"},
    {"4913", "vim's write test file"},
    {".#*", "emacs lock file"},
    {"#*#", "emacs auto-save file"},
    {"*___jb_tmp___", "JetBrains safe-write temporary"},
    {"*___jb_old___", "JetBrains safe-write backup"},
    {".DS_Store", "macOS Finder metadata"},
    {"*.tmp", "temporary file"},
    {"*.kate-swp", "Kate swap file"},
    {".goutputstream-*", "GNOME (gedit) save temporary"},
    {"*.pyc", "Python bytecode"},
    {"Thumbs.db", "Windows Explorer metadata"},
}};

/// The built-in ignore list as a filter: drops VCS metadata, build output, dependency
/// folders and editor temporaries. Explanations name the default ignore and the CLI
/// flag that turns it off. `hmr::default_ignores()` is a ready-to-use value.
///
/// @par Example
/// ```cpp
/// auto f = hmr::default_ignores() | hmr::include_globs{"**/*.cpp"};
/// f.keep(".git/index", false);     // false
/// f.keep("src/.a.cpp.swp", false); // false
/// ```
class default_ignores {
 public:
  /// The built-in list, `default_ignore_rules`.
  default_ignores() {
    for (const auto& r : default_ignore_rules) rules_.add(r.pattern);
  }

  /// False for anything on the list, or below a directory on it. Never allocates.
  [[nodiscard]] bool keep(std::string_view path, bool is_directory) const noexcept {
    return !rules_.any(path, is_directory);
  }

  /// Which default ignore dropped the path, and how to turn it off.
  [[nodiscard]] filter_verdict explain(std::string_view path, bool is_directory) const {
    filter_verdict v{true, std::string(path), "default_ignores", {}, false};
    if (auto h = rules_.find(path, is_directory)) {
      const auto& r = default_ignore_rules[h->rule];
      v.kept = false;
      v.matched = true;
      v.rule = "default ignore \"" + std::string(r.pattern) + "\" (" + std::string(r.reason) + ")" +
               detail::parent_note(*h) + "; pass --no-default-ignores to watch it";
    } else {
      v.rule = "no default ignore matched";
    }
    return v;
  }

 private:
  detail::glob_rules rules_;
};

/// Two filters in sequence: a path is kept only if both keep it; the first that drops it
/// is the reason. Made by `a | b`.
template <path_filter First, path_filter Second>
class filter_chain {
 public:
  /// Chains `first` then `second`.
  filter_chain(First first, Second second) : first_(std::move(first)), second_(std::move(second)) {}

  /// True when both keep the path.
  [[nodiscard]] bool keep(std::string_view path, bool is_directory) const
      noexcept(noexcept(std::declval<const First&>().keep(path, is_directory)) && noexcept(
          std::declval<const Second&>().keep(path, is_directory))) {
    return first_.keep(path, is_directory) && second_.keep(path, is_directory);
  }

  /// True when both keep the path under watch root number `root` (see `keep_in_root`).
  [[nodiscard]] bool keep(std::size_t root, std::string_view path, bool is_directory) const {
    return keep_in_root(first_, root, path, is_directory) &&
           keep_in_root(second_, root, path, is_directory);
  }

  /// The verdict of the first filter that drops the path. When both keep it: the first
  /// verdict that names a matching rule (an include glob, a `!` rule), else both reasons.
  [[nodiscard]] filter_verdict explain(std::string_view path, bool is_directory) const {
    return explain(0, path, is_directory);
  }

  /// `explain` for a path under watch root number `root` (see `keep_in_root`).
  [[nodiscard]] filter_verdict explain(std::size_t root, std::string_view path,
                                       bool is_directory) const {
    filter_verdict a = explain_in_root(first_, root, path, is_directory);
    if (!a.kept) return a;
    filter_verdict b = explain_in_root(second_, root, path, is_directory);
    if (!b.kept) return b;
    if (a.matched) return a;
    if (b.matched) return b;
    a.filter += " | " + b.filter;
    a.rule += "; " + b.rule;
    return a;
  }

  /// The first filter.
  [[nodiscard]] const First& first() const noexcept { return first_; }
  /// The second filter.
  [[nodiscard]] const Second& second() const noexcept { return second_; }

 private:
  First first_;
  Second second_;
};

/// Composes filters: `ignore_segments{".git"} | include_globs{"**/*.cpp"}`.
template <path_filter First, path_filter Second>
[[nodiscard]] filter_chain<First, Second> operator|(First first, Second second) {
  return {std::move(first), std::move(second)};
}

/// Applies `filter` to one change the way a runner must, so that a rename across the
/// filter's boundary keeps its meaning: a kept file renamed to an ignored name (vim's
/// `main.cpp` -> `main.cpp~` backup) is gone from what matters, so it becomes `removed`
/// of the old path; an ignored temp file renamed onto a kept name (most editors' atomic
/// save) becomes `created` of the new one. Other changes pass if `filter.keep` says so
/// (for the change's root: `keep_in_root`).
///
/// @par Example
/// ```cpp
/// auto kept = hmr::filter_change(hmr::default_ignores(),
///     {.path = "a.cpp~", .kind = hmr::change_kind::renamed, .old_path = "a.cpp"});
/// // kept: removed "a.cpp"
/// ```
template <path_filter F>
[[nodiscard]] std::optional<file_change> filter_change(const F& filter, file_change change) {
  if (change.kind != change_kind::renamed) {
    if (!keep_in_root(filter, change.root, change.path, change.is_directory)) return std::nullopt;
    return change;
  }
  const bool new_kept = keep_in_root(filter, change.root, change.path, change.is_directory);
  const bool old_kept = keep_in_root(filter, change.root, change.old_path, change.is_directory);
  if (new_kept && old_kept) return change;
  if (new_kept) {
    change.kind = change_kind::created;
  } else if (old_kept) {
    change.kind = change_kind::removed;
    change.path = std::move(change.old_path);
  } else {
    return std::nullopt;
  }
  change.old_path.clear();
  return change;
}

/// `filter_change` over a whole batch, in place: what a runner does to each batch a
/// watcher reports before handing it to the debouncer.
///
/// @par Example
/// ```cpp
/// hmr::filter_changes(batch, hmr::default_ignores());
/// ```
template <path_filter F>
void filter_changes(std::vector<file_change>& changes, const F& filter) {
  std::size_t kept = 0;
  for (auto& change : changes) {
    if (auto out = filter_change(filter, std::move(change))) changes[kept++] = std::move(*out);
  }
  changes.resize(kept);
}

/// One filter per watch root, for rules that belong to a tree: each root's own
/// `.gitignore`. A change under root `i` (`file_change::root`) meets filter `i`; a root
/// without a filter keeps everything. Without a root (`keep(path, is_directory)`), root 0.
///
/// @par Example
/// ```cpp
/// hmr::per_root<hmr::gitignore> ignores{{hmr::load_gitignore("app"), hmr::load_gitignore("lib")}};
/// auto filter = hmr::default_ignores() | ignores;  // lib's rules never hide app's files
/// ```
template <path_filter F>
class per_root {
 public:
  /// Filter `i` of `filters` applies under watch root `i`.
  explicit per_root(std::vector<F> filters) : filters_(std::move(filters)) {}

  /// What root 0's filter says.
  [[nodiscard]] bool keep(std::string_view path, bool is_directory) const {
    return keep(0, path, is_directory);
  }
  /// What root `root`'s filter says; true when it has none.
  [[nodiscard]] bool keep(std::size_t root, std::string_view path, bool is_directory) const {
    return root >= filters_.size() || filters_[root].keep(path, is_directory);
  }
  /// Root 0's verdict.
  [[nodiscard]] filter_verdict explain(std::string_view path, bool is_directory) const {
    return explain(0, path, is_directory);
  }
  /// Root `root`'s verdict.
  [[nodiscard]] filter_verdict explain(std::size_t root, std::string_view path,
                                       bool is_directory) const {
    if (root >= filters_.size())
      return {true, std::string(path), "per_root", "no filter for root " + std::to_string(root), false};
    return filters_[root].explain(path, is_directory);
  }

 private:
  std::vector<F> filters_;
};

/// Any filter behind one type, for filters assembled at run time (from CLI flags, say).
/// Copies share the (immutable) filter. A default-constructed one keeps everything.
///
/// @par Example
/// ```cpp
/// hmr::any_filter f = hmr::default_ignores();
/// if (!excludes.empty()) f = f | hmr::exclude_globs{excludes};
/// ```
class any_filter {
 public:
  /// Keeps everything.
  any_filter() = default;
  /// Wraps `filter`.
  template <class F>
  requires(!std::same_as<std::remove_cvref_t<F>, any_filter> && path_filter<std::remove_cvref_t<F>>)
      any_filter(F&& filter)  // NOLINT(google-explicit-constructor): conversion is the point
      : self_(std::make_shared<const model<std::remove_cvref_t<F>>>(std::forward<F>(filter))) {}

  /// What the wrapped filter says (true when empty).
  [[nodiscard]] bool keep(std::string_view path, bool is_directory) const {
    return !self_ || self_->keep(path, is_directory);
  }
  /// What the wrapped filter says for a path under watch root number `root`.
  [[nodiscard]] bool keep(std::size_t root, std::string_view path, bool is_directory) const {
    return !self_ || self_->keep(root, path, is_directory);
  }
  /// What the wrapped filter explains.
  [[nodiscard]] filter_verdict explain(std::string_view path, bool is_directory) const {
    return explain(0, path, is_directory);
  }
  /// What the wrapped filter explains for a path under watch root number `root`.
  [[nodiscard]] filter_verdict explain(std::size_t root, std::string_view path,
                                       bool is_directory) const {
    if (!self_) return {true, std::string(path), "any_filter", "no filters", false};
    return self_->explain(root, path, is_directory);
  }

 private:
  struct concept_base {
    virtual ~concept_base() = default;
    [[nodiscard]] virtual bool keep(std::string_view path, bool is_directory) const = 0;
    [[nodiscard]] virtual bool keep(std::size_t root, std::string_view path,
                                    bool is_directory) const = 0;
    [[nodiscard]] virtual filter_verdict explain(std::size_t root, std::string_view path,
                                                 bool is_directory) const = 0;
  };
  template <class F>
  struct model final : concept_base {
    explicit model(F f) : filter(std::move(f)) {}
    bool keep(std::string_view path, bool is_directory) const override {
      return filter.keep(path, is_directory);
    }
    bool keep(std::size_t root, std::string_view path, bool is_directory) const override {
      return keep_in_root(filter, root, path, is_directory);
    }
    filter_verdict explain(std::size_t root, std::string_view path,
                           bool is_directory) const override {
      return explain_in_root(filter, root, path, is_directory);
    }
    F filter;
  };
  std::shared_ptr<const concept_base> self_;
};

}  // namespace hmr
