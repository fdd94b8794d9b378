// hmr_demo: what a save in a source tree would trigger, and why.
//
//   hmr_demo [ROOT] [PATH...]
//
// Walks ROOT (default: .) with the filters a C++ project gets by default (the built-in
// ignores, every .gitignore, C/C++ sources and build files), prints what would be watched
// and what is left out by which rule, explains each PATH, then replays the system calls
// vim makes to save a file through the filters and the debouncer, ending with the batch
// as the JSON line a presenter would print.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <hmr/debouncer.hpp>
#include <hmr/detail/json_writer.hpp>
#include <hmr/events.hpp>
#include <hmr/filters.hpp>
#include <hmr/gitignore.hpp>
#include <map>
#include <string>
#include <system_error>
#include <vector>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

/// The path of `p` relative to `root`, `/`-separated, as filters expect it.
std::string relative_path(const fs::path& p, const fs::path& root) {
  return p.lexically_relative(root).generic_string();
}

/// What a walk of the tree found.
struct tree_summary {
  std::size_t watched_directories = 1;  // the root itself
  std::vector<hmr::filter_verdict> pruned_directories;
  std::vector<std::string> kept_files;
  std::map<std::string, std::size_t> dropped_files_by_rule;
};

/// Walks `root` the way the watcher will: never descending into a dropped directory.
template <hmr::path_filter Filter>
tree_summary walk(const fs::path& root, const Filter& filter) {
  tree_summary summary;
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string rel = relative_path(it->path(), root);
    std::error_code type_ec;
    const bool is_directory = it->is_directory(type_ec) && !it->is_symlink(type_ec);
    if (filter.keep(rel, is_directory)) {
      if (is_directory) {
        ++summary.watched_directories;
      } else {
        summary.kept_files.push_back(rel);
      }
      continue;
    }
    if (is_directory) {
      summary.pruned_directories.push_back(filter.explain(rel, true));
      it.disable_recursion_pending();
    } else {
      ++summary.dropped_files_by_rule[filter.explain(rel, false).rule];
    }
  }
  if (ec)
    std::fprintf(stderr, "hmr_demo: cannot walk %s: %s\n", root.c_str(), ec.message().c_str());
  std::sort(summary.kept_files.begin(), summary.kept_files.end());
  return summary;
}

/// The events inotify reports while vim saves `target` with its default settings:
/// probe that the directory is writable (4913), move the original to a backup, write
/// the new file, delete the backup.
std::vector<hmr::file_change> vim_save(const std::string& target) {
  const std::string dir = target.find('/') == std::string::npos
                              ? std::string()
                              : target.substr(0, target.rfind('/') + 1);
  using enum hmr::change_kind;
  return {
      {.path = dir + "4913", .kind = created},
      {.path = dir + "4913", .kind = removed},
      {.path = target + "~", .kind = renamed, .old_path = target},
      {.path = target, .kind = created},
      {.path = target, .kind = modified},
      {.path = target + "~", .kind = removed},
  };
}

/// One `change` event as the JSON lines presenter will print it.
std::string change_event_json(const hmr::change_batch& batch) {
  std::string line;
  hmr::json_writer json{line};
  json.begin_object();
  json.member("event", "change");
  json.key("changes");
  json.begin_array();
  for (const auto& c : batch) {
    json.begin_object();
    json.member("path", c.path);
    json.member("kind", hmr::to_string(c.kind));
    if (c.kind == hmr::change_kind::renamed) json.member("old_path", c.old_path);
    json.end_object();
  }
  json.end_array();
  json.end_object();
  return line;
}

}  // namespace

int main(int argc, char* argv[]) {
  const fs::path root = argc > 1 ? fs::path(argv[1]) : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    std::fprintf(stderr, "hmr_demo: %s is not a directory; give the root of a source tree\n",
                 root.c_str());
    return 1;
  }

  const auto filter = hmr::default_ignores() | hmr::load_gitignore(root) |
                      hmr::include_globs{"**/*.{c,cc,cpp,cxx,h,hh,hpp,hxx,ipp,inl}",
                                         "**/CMakeLists.txt", "**/*.cmake", "**/meson.build"};

  std::printf("hmr demo: what a save under %s would trigger\n\n", root.c_str());
  const tree_summary summary = walk(root, filter);

  std::printf("watching %zu directories; %zu files would start a cycle, e.g.\n",
              summary.watched_directories, summary.kept_files.size());
  for (std::size_t i = 0; i < summary.kept_files.size() && i < 5; ++i)
    std::printf("  %s\n", summary.kept_files[i].c_str());

  std::printf("\nnever descended into (%zu directories):\n", summary.pruned_directories.size());
  for (std::size_t i = 0; i < summary.pruned_directories.size() && i < 8; ++i)
    std::printf("  %s\n", summary.pruned_directories[i].describe().c_str());

  std::printf("\nfiles seen but left out, by rule:\n");
  for (const auto& [rule, count] : summary.dropped_files_by_rule)
    std::printf("  %6zu  %s\n", count, rule.c_str());

  std::printf("\nwhy (or why not)?\n");
  std::vector<std::string> asked(argv + std::min(argc, 2), argv + argc);
  if (asked.empty()) {
    if (!summary.kept_files.empty()) asked.push_back(summary.kept_files.front());
    asked.insert(asked.end(), {"README.md", "build/dev/CMakeCache.txt", "src/.main.cpp.swp"});
  }
  for (const auto& path : asked) {
    std::error_code type_ec;
    const bool is_directory = fs::is_directory(root / path, type_ec);
    std::printf("  %s\n", filter.explain(path, is_directory).describe().c_str());
  }

  if (summary.kept_files.empty()) return 0;
  // Prefer a C++ source for the save, as that is what users edit most.
  const auto source = std::find_if(summary.kept_files.begin(), summary.kept_files.end(),
                                   [](const std::string& f) { return f.ends_with("pp"); });
  const std::string target =
      source != summary.kept_files.end() ? *source : summary.kept_files.front();
  std::printf("\nvim saves %s; the watcher reports:\n", target.c_str());
  hmr::debouncer debouncer{50ms};
  auto now = hmr::debouncer::clock::now();
  for (const auto& change : vim_save(target)) {
    std::string what = std::string(hmr::to_string(change.kind)) + " " + change.path;
    if (change.kind == hmr::change_kind::renamed) what += " (from " + change.old_path + ")";
    // The filter decides what reaches the debouncer; a rename out of what matters
    // (the backup) counts as the removal of the original.
    const auto kept = hmr::filter_change(filter, change);
    std::printf(
        "  %-44s %s\n", what.c_str(),
        kept ? ("-> debouncer: " + std::string(hmr::to_string(kept->kind)) + " " + kept->path)
                   .c_str()
             : filter.explain(change.path, false).rule.c_str());
    if (kept) debouncer.push(*kept, now);
    now += 1ms;
  }
  const auto released = debouncer.poll(*debouncer.deadline());
  std::printf("\n50 ms later the debouncer releases one batch:\n%s\n",
              change_event_json(released.value_or(hmr::change_batch{})).c_str());
  return 0;
}
