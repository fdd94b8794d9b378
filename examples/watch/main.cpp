// hmr_watch: a recursive, reliable `inotifywait -m -r` that prints JSON lines.
//
//   hmr_watch [--poll[=MS]] [--no-default-ignores] [--] PATH...     (default PATH: .)
//
// stdout, one JSON object per line, flushed after each batch:
//   {"event":"watching","roots":["."],"backend":"inotify","directories":12,"startup_us":840}
//   {"event":"change","path":"src/a.cpp","kind":"modified","root":"."}
//   {"event":"change","path":"b.txt","kind":"renamed","old_path":"a.txt","root":"."}
//   {"event":"change","path":"src/new","kind":"created","root":".","directory":true}
//   {"event":"notice","kind":"overflow","message":"...","hint":"...","root":".","path":""}
// Changes are printed as the watcher reports them (not debounced). The default ignores
// (.git, build/, node_modules/, editor temporaries...: docs/filters.md) are never watched
// and their changes not printed, unless --no-default-ignores.
// Exit status: 0 on SIGINT/SIGTERM, 1 when a PATH is missing, 2 for a bad flag.
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <hmr/detail/json_writer.hpp>
#include <hmr/events.hpp>
#include <hmr/filters.hpp>
#include <hmr/watcher.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr const char* usage =
    "usage: hmr_watch [--poll[=MS]] [--no-default-ignores] [--] PATH...\n"
    "  prints each file change under PATH (default .) as one JSON line, until Ctrl-C\n"
    "  --poll[=MS]            poll every MS milliseconds (default 250) instead of inotify\n"
    "  --no-default-ignores   also watch .git, build/, node_modules/, editor temp files...\n";

struct arguments {
  bool poll = false;
  std::chrono::milliseconds interval{250};
  bool default_ignores = true;
  std::vector<std::string> paths;
};

// Parses argv; prints the reason and returns nothing on a bad flag.
std::optional<arguments> parse(int argc, char** argv) {
  arguments args;
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (options_done || a.empty() || a.front() != '-' || a == "-") {
      args.paths.emplace_back(a);
    } else if (a == "--") {
      options_done = true;
    } else if (a == "--poll") {
      args.poll = true;
    } else if (a.starts_with("--poll=")) {
      const std::string ms(a.substr(7));
      char* end = nullptr;
      const long value = std::strtol(ms.c_str(), &end, 10);
      if (ms.empty() || *end != '\0' || value <= 0 || value > 3'600'000) {
        std::fprintf(stderr,
                     "hmr_watch: --poll=%s: give the interval in milliseconds, 1 to 3600000\n%s",
                     ms.c_str(), usage);
        return std::nullopt;
      }
      args.poll = true;
      args.interval = std::chrono::milliseconds{value};
    } else if (a == "--no-default-ignores") {
      args.default_ignores = false;
    } else if (a == "-h" || a == "--help") {
      std::fputs(usage, stdout);
      std::exit(0);
    } else {
      std::fprintf(stderr, "hmr_watch: unknown option %s\n%s", argv[i], usage);
      return std::nullopt;
    }
  }
  if (args.paths.empty()) args.paths.emplace_back(".");
  return args;
}

// Writes `out` to stdout and flushes it.
void emit(const std::string& out) {
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const std::optional<arguments> args = parse(argc, argv);
  if (!args) return 2;
  for (const auto& path : args->paths) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      std::fprintf(stderr,
                   "hmr_watch: cannot watch \"%s\": no such directory; create it, or pass a "
                   "directory that exists\n",
                   path.c_str());
      return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
      std::fprintf(stderr,
                   "hmr_watch: cannot watch \"%s\": not a directory; pass the directory that "
                   "holds it\n",
                   path.c_str());
      return 1;
    }
  }

  // SIGINT and SIGTERM are taken with sigwait() below; block them in every thread first.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  hmr::watch_options options;
  options.force_polling = args->poll;
  options.poll_interval = args->interval;
  if (args->default_ignores) options.directory_filter = hmr::default_ignores();
  const hmr::any_filter event_filter = options.directory_filter;
  hmr::native_watcher watcher{args->paths, options};
  const std::vector<std::string>& roots = watcher.roots();

  std::string out;  // reused for every batch
  hmr::watch_handler handler;
  handler.changes = [&](std::vector<hmr::file_change>&& batch) {
    hmr::filter_changes(batch, event_filter);
    out.clear();
    for (const auto& c : batch) {
      hmr::json_writer json{out};
      json.begin_object();
      json.member("event", "change");
      json.member("path", c.path);
      json.member("kind", hmr::to_string(c.kind));
      if (c.kind == hmr::change_kind::renamed) json.member("old_path", c.old_path);
      json.member("root", roots[c.root]);
      if (c.is_directory) json.member("directory", true);
      json.end_object();
      out.push_back('\n');
    }
    if (!out.empty()) emit(out);
  };
  handler.notice = [&](const hmr::watch_notice& n) {
    std::string line;
    hmr::json_writer json{line};
    json.begin_object();
    if (n.kind == hmr::watch_notice_kind::ready) {
      json.member("event", "watching");
      json.key("roots");
      json.begin_array();
      for (const auto& r : roots) json.string(r);
      json.end_array();
      json.member("backend", watcher.backend());
      json.member("directories", n.stats.directories);
      json.member("startup_us", n.stats.startup.count());
    } else {
      json.member("event", "notice");
      json.member("kind", hmr::to_string(n.kind));
      json.member("message", n.message);
      if (!n.hint.empty()) json.member("hint", n.hint);
      json.member("root", roots[n.root]);
      json.member("path", n.path);
    }
    json.end_object();
    line.push_back('\n');
    emit(line);
  };
  watcher.start(std::move(handler));

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  watcher.stop();
  return 0;
}
