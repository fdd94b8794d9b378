// The inotify backend (Linux): one inotify instance per root, one watch per directory, and
// per directory the set of its entry names (what lets a rename onto an existing file be
// reported as the modification it is). Subtrees past the watch limit, roots without an
// inotify instance and missing roots are polled. Semantics: docs/watcher.md.
#pragma once

#include <hmr/detail/watch_engine.hpp>
#include <hmr/detail/watcher_poll.hpp>

#if defined(__linux__)

#include <poll.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hmr::detail {

/// Hashes strings and string views alike (heterogeneous lookup).
struct string_hash {
  using is_transparent = void;  ///< enables find(string_view)
  /// The hash of `s`.
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

/// Now, in nanoseconds since the epoch (the clock file timestamps come from).
inline std::int64_t realtime_ns() noexcept {
  timespec t{};
  ::clock_gettime(CLOCK_REALTIME, &t);
  return to_ns(t);
}

/// What sets the inotify watch limit this process runs under (`read_inotify_limits`).
struct inotify_limits {
  /// fs.inotify.max_user_watches: the per-user limit of the initial user namespace (the
  /// host's); "" when unreadable.
  std::string system{};
  /// user.max_inotify_watches of this process's user namespace; "" when unreadable.
  std::string user_namespace{};
  /// This process runs in a user namespace other than the initial one (a rootless
  /// container, `unshare -U`): the limit in force is the lowest along the namespace chain.
  bool nested = false;
  /// A container runtime's marker is present (/.dockerenv, /run/.containerenv).
  bool container = false;
};

/// True when `uid_map` (the text of /proc/self/uid_map) is the initial user namespace's
/// identity map, "0 0 4294967295".
inline bool identity_uid_map(std::string_view uid_map) {
  const auto next = [&uid_map]() {
    while (!uid_map.empty() && (uid_map.front() == ' ' || uid_map.front() == '\t' || uid_map.front() == '\n'))
      uid_map.remove_prefix(1);
    std::size_t n = 0;
    while (n < uid_map.size() && uid_map[n] != ' ' && uid_map[n] != '\t' && uid_map[n] != '\n') ++n;
    const std::string_view word = uid_map.substr(0, n);
    uid_map.remove_prefix(n);
    return word;
  };
  const std::string_view inside = next(), outside = next(), count = next();
  return inside == "0" && outside == "0" && count == "4294967295" && next().empty();
}

/// Reads `inotify_limits` from /proc: both sysctls, /proc/self/uid_map and
/// /proc/self/ns/user (the initial namespace's inode is fixed, 4026531837), and the markers.
inline inotify_limits read_inotify_limits() {
  inotify_limits out;
  out.system = read_small_file("/proc/sys/fs/inotify/max_user_watches");
  out.user_namespace = read_small_file("/proc/sys/user/max_inotify_watches");
  const std::string uid_map = read_small_file("/proc/self/uid_map");
  char link[64] = {};
  const ssize_t n = ::readlink("/proc/self/ns/user", link, sizeof link - 1);
  out.nested = (!uid_map.empty() && !identity_uid_map(uid_map)) ||
               (n > 0 && std::string_view(link, static_cast<std::size_t>(n)) != "user:[4026531837]");
  out.container = ::access("/.dockerenv", F_OK) == 0 || ::access("/run/.containerenv", F_OK) == 0;
  return out;
}

/// A notice's two lines.
struct notice_text {
  std::string message{};  ///< what happened, naming the limit, its value and its source
  std::string hint{};     ///< what to do about it, for where hmr runs
};

/// The text of the notice for reaching the watch limit (not the `max_native_watches` cap):
/// the limit in force (user.max_inotify_watches of a nested user namespace when it is the
/// lower, else fs.inotify.max_user_watches), the watches `held`, the `subtrees` polled
/// every `every` (named in `list`), and a hint that fits: the sysctl on a plain machine,
/// the host's part in a container. Nothing failed: every change is still seen.
inline notice_text watch_limit_text(const inotify_limits& limits, std::size_t held, std::size_t subtrees,
                                    std::string_view every, std::string_view list) {
  const auto number = [](const std::string& text) -> std::optional<std::uint64_t> {
    std::uint64_t v = 0;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || r.ec != std::errc{} || r.ptr != text.data() + text.size()) return std::nullopt;
    return v;
  };
  const auto system = number(limits.system);
  const auto user_namespace = number(limits.user_namespace);
  const bool namespace_limit = limits.nested && user_namespace && (!system || *user_namespace < *system);
  const bool contained = limits.nested || limits.container;
  const std::string system_text = system ? std::to_string(*system) : std::string("unknown");
  const std::optional<std::uint64_t> in_force = namespace_limit ? user_namespace : system;
  std::string held_text = std::to_string(held) + " held by this watcher";
  if (in_force && held < *in_force) {
    held_text += limits.nested ? ", the rest by other programs of this user or a lower limit of a parent namespace"
                               : ", the rest by other programs of this user";
  }
  notice_text out;
  if (namespace_limit) {
    out.message = "the inotify watch limit of this user namespace was reached (user.max_inotify_watches = " +
                  std::to_string(*user_namespace) + " per user, below the host's fs.inotify.max_user_watches = " +
                  system_text + "; " + held_text + ")";
    out.hint = "the limit is set for this container's user namespace by its host (/proc/sys/user/"
               "max_inotify_watches there); raise it there to watch natively, or watch fewer directories "
               "(ignore large ones); until then the rest is polled";
  } else {
    out.message = std::string("the inotify watch limit was reached (") + (contained ? "the host's " : "") +
                  "fs.inotify.max_user_watches = " + system_text + " per user; " + held_text + ")";
    out.hint = contained
                   ? "the limit is the host's: raise it on the host (sudo sysctl fs.inotify.max_user_watches=524288) "
                     "to watch natively, or watch fewer directories (ignore large ones); until then the rest is "
                     "polled"
                   : "raise the limit: sudo sysctl fs.inotify.max_user_watches=524288 (make it permanent in "
                     "/etc/sysctl.d/), or watch fewer directories (ignore large ones); until then the rest is "
                     "polled";
  }
  out.message += "; " + std::to_string(subtrees) + (subtrees == 1 ? " subtree is" : " subtrees are") +
                 " polled every " + std::string(every) + " instead, so every change is still seen: " +
                 std::string(list);
  return out;
}

/// Watches each directory with inotify; see the file comment.
class inotify_backend final : public watch_backend {
 public:
  /// A backend for these options.
  explicit inotify_backend(const watch_options& options) : options_(options) {}

  /// Watches until stopped.
  void run(watch_engine& engine) override {
    engine_ = &engine;
    buffer_.resize(buffer_words);
    const auto& abs = engine.absolute_roots();
    for (std::size_t i = 0; i < abs.size(); ++i) {
      auto r = std::make_unique<root_state>(
          scan_setup{&options_, &engine.stop_flag(), static_cast<std::uint32_t>(i)});
      r->index = static_cast<std::uint32_t>(i);
      r->abs = abs[i];
      roots_.push_back(std::move(r));
    }
    for (auto& r : roots_) {
      if (engine.stopping()) return;
      if (const int err = setup_root(*r, nullptr); err != 0)
        notices_.push_back(missing_root_notice(engine, r->index, err, false));
    }
    if (engine.stopping()) return;
    publish();
    flush_notices();
    engine.ready();

    std::vector<file_change> out;
    std::vector<pollfd> fds;
    std::vector<root_state*> fd_roots;
    const auto interval = options_.poll_interval;
    auto next_tick = std::chrono::steady_clock::now() + interval;
    while (!engine.stopping()) {
      fds.assign(1, pollfd{engine.wake_fd(), POLLIN, 0});
      fd_roots.assign(1, nullptr);
      for (auto& r : roots_)
        if (r->present && r->fd) {
          fds.push_back({r->fd.get(), POLLIN, 0});
          fd_roots.push_back(r.get());
        }
      int timeout = -1;
      if (needs_ticks()) {
        const auto left = next_tick - std::chrono::steady_clock::now();
        timeout = static_cast<int>(
            std::max<std::int64_t>(0, std::chrono::ceil<std::chrono::milliseconds>(left).count()));
      }
      if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) break;
      if (engine.stopping()) break;
      if (fds[0].revents != 0) engine.drain_wake();
      for (std::size_t k = 1; k < fds.size(); ++k)
        if (fds[k].revents != 0) read_events(*fd_roots[k], out);
      settle_moves(out);
      if (needs_ticks() && std::chrono::steady_clock::now() >= next_tick) {
        tick(out);
        next_tick = std::chrono::steady_clock::now() + interval;
      }
      publish();
      engine.deliver(out);
      flush_notices();
    }
  }

 private:
  // An entries value: a file (also a symlink, fifo...), or a directory left unwatched
  // (dropped by the filter, a symlink loop, a duplicate). Other values are node indexes.
  static constexpr std::uint32_t file_entry = 0xffffffffU;
  static constexpr std::uint32_t ignored_entry = 0xfffffffeU;
  static constexpr std::uint32_t watch_mask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB |
                                              IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF |
                                              IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK;
  static constexpr std::size_t buffer_words = 8192;  // 64 KiB
  static constexpr auto move_pairing_wait = std::chrono::milliseconds{20};

  // A watched directory.
  struct node {
    std::string path;                  // relative to the root; "" for the root
    std::uint32_t parent = no_index;   // the directory holding it
    int wd = -1;                       // its watch; -1 when polled or not (or no longer) watched
    bool alive = false;                // the slot is in use
    bool detached = false;             // moved away; waiting for the IN_MOVED_TO
    std::unique_ptr<snap_dir> polled;  // set when its subtree is polled (watch limit)
    std::unordered_map<std::string, std::uint32_t, string_hash, std::equal_to<>> entries;
    std::uint64_t dev = 0, ino = 0;     // identity, recorded when following symlinks
    std::uint32_t taken_by = no_index;  // the node that took its watch over (it moved there)
  };

  // The first half of a rename (IN_MOVED_FROM), until its IN_MOVED_TO.
  struct pending_move {
    std::uint32_t cookie = 0;
    std::string path;                  // where it was
    std::uint32_t entry = file_entry;  // what it was: file_entry, ignored_entry or a node
    bool known = false;                // it was in its directory's entries
  };

  struct root_state {
    explicit root_state(scan_setup setup) : scanner(setup) {}
    std::uint32_t index = 0;
    std::string abs;                  // absolute path, for system calls
    unique_fd fd;                     // its inotify instance
    std::deque<node> nodes;           // [0] is the root; a deque keeps references stable
    std::vector<std::uint32_t> free;  // reusable node slots
    std::unordered_map<int, std::uint32_t> by_wd;
    std::vector<pending_move> moves;
    bool present = false;         // the root exists and is watched
    bool no_instance = false;     // inotify_init1 failed: the root is polled
    std::int64_t drained_at = 0;  // before the last read that emptied the queue (realtime ns)
    tree_scanner scanner;         // for polled subtrees
  };

  enum class watch_result : std::uint8_t { ok, limit, gone, failed, duplicate };

  // --- nodes ---

  std::string abs_of(const root_state& r, std::uint32_t i) const {
    const std::string& rel = r.nodes[i].path;
    return rel.empty() ? r.abs : r.abs + "/" + rel;
  }

  std::uint32_t new_node(root_state& r, std::uint32_t parent, std::string path) {
    std::uint32_t i;
    if (!r.free.empty()) {
      i = r.free.back();
      r.free.pop_back();
    } else {
      i = static_cast<std::uint32_t>(r.nodes.size());
      r.nodes.emplace_back();
    }
    node& n = r.nodes[i];
    n.path = std::move(path);
    n.parent = parent;
    n.alive = true;
    return i;
  }

  void free_node(root_state& r, std::uint32_t i) {
    node& n = r.nodes[i];
    if (options_.follow_symlinks && n.ino != 0) identities_.erase({n.dev, n.ino});
    if (n.polled) --polled_nodes_;
    n = node{};
    r.free.push_back(i);
  }

  // Records a directory's identity when following symlinks; false when it is already
  // watched (a loop, or a second path to it).
  bool claim_identity(const std::string& abs, std::uint64_t& dev, std::uint64_t& ino) {
    if (!options_.follow_symlinks) return true;
    struct stat st {};
    if (::stat(abs.c_str(), &st) != 0) return true;
    dev = static_cast<std::uint64_t>(st.st_dev);
    ino = static_cast<std::uint64_t>(st.st_ino);
    return identities_.insert({dev, ino}).second;
  }

  // Whether `name` in the directory of node i is a symlink to a directory (when following).
  bool link_to_directory(const root_state& r, std::uint32_t i, std::string_view name) const {
    if (!options_.follow_symlinks) return false;
    const std::string abs = abs_of(r, i) + "/" + std::string(name);
    struct stat l {
    }, t{};
    return ::lstat(abs.c_str(), &l) == 0 && S_ISLNK(l.st_mode) && ::stat(abs.c_str(), &t) == 0 &&
           S_ISDIR(t.st_mode);
  }

  // --- watching and scanning ---

  watch_result add_watch(root_state& r, std::uint32_t i, const std::string& abs) {
    int err = 0;
    int wd = -1;
    if (options_.max_native_watches != 0 && native_count_ >= options_.max_native_watches) {
      err = ENOSPC;  // the cap behaves exactly as the kernel's limit
      cap_reached_ = true;
    } else {
      std::uint32_t mask = watch_mask;
      if (i != 0 && !options_.follow_symlinks) mask |= IN_DONT_FOLLOW;
      wd = ::inotify_add_watch(r.fd.get(), abs.c_str(), mask);
      if (wd < 0) err = errno;
    }
    if (err == ENOSPC) {
      limited_.emplace_back(r.index, r.nodes[i].path);
      return watch_result::limit;
    }
    if (err == ENOENT || err == ENOTDIR) return watch_result::gone;
    if (err != 0) {
      unreadable(r, r.nodes[i].path, err, "cannot watch");
      return watch_result::failed;
    }
    if (auto it = r.by_wd.find(wd); it != r.by_wd.end()) {
      // The same directory already has a node: it moved here (and that node's IN_MOVED_FROM
      // is pending or still to come), or it is reachable twice (a bind mount).
      node& other = r.nodes[it->second];
      if (!in_detached(r, it->second) && same_directory(abs_of(r, it->second), abs))
        return watch_result::duplicate;
      other.wd = -1;  // this node takes the watch over
      other.taken_by = i;
      it->second = i;
      r.nodes[i].wd = wd;
      return watch_result::ok;
    }
    r.by_wd.emplace(wd, i);
    r.nodes[i].wd = wd;
    ++native_count_;
    return watch_result::ok;
  }

  // Whether two paths are the same directory now.
  static bool same_directory(const std::string& a, const std::string& b) {
    struct stat sa {
    }, sb{};
    return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
  }

  // Whether node i is, or is below, a directory moved away and not yet placed again.
  static bool in_detached(const root_state& r, std::uint32_t i) {
    for (; i != no_index; i = r.nodes[i].parent)
      if (r.nodes[i].detached) return true;
    return false;
  }

  void drop_watch(root_state& r, node& n) {
    if (n.wd < 0) return;
    if (r.fd) ::inotify_rm_watch(r.fd.get(), n.wd);
    r.by_wd.erase(n.wd);
    n.wd = -1;
    --native_count_;
  }

  // Polls node i's subtree instead of watching it (the watch limit was reached).
  void make_polled(root_state& r, std::uint32_t i, const std::string& abs,
                   std::vector<file_change>* out) {
    node& n = r.nodes[i];
    n.polled = std::make_unique<snap_dir>();
    ++polled_nodes_;
    r.scanner.scan(abs, n.path, *n.polled, out);
  }

  // Watches node i and everything below it: each directory's watch is added before it is
  // listed, so nothing created meanwhile is missed. With `out`, entries found are reported
  // as created.
  void watch_tree(root_state& r, std::uint32_t start, std::vector<file_change>* out) {
    std::vector<std::uint32_t> stack{start};
    while (!stack.empty() && !engine_->stopping()) {
      const std::uint32_t i = stack.back();
      stack.pop_back();
      if (!r.nodes[i].alive) continue;
      const std::string abs = abs_of(r, i);
      switch (add_watch(r, i, abs)) {
        case watch_result::ok:
          break;
        case watch_result::limit:
          make_polled(r, i, abs, out);
          continue;
        case watch_result::duplicate:
          unlink_duplicate(r, i);
          continue;
        case watch_result::gone:
        case watch_result::failed:
          continue;
      }
      list_into(r, i, abs, out, stack);
    }
  }

  // A directory already watched under another path: left unwatched here.
  void unlink_duplicate(root_state& r, std::uint32_t i) {
    const std::uint32_t p = r.nodes[i].parent;
    const std::string& path = r.nodes[i].path;
    const std::string_view name = std::string_view(path).substr(path.rfind('/') + 1);
    if (p != no_index)
      if (auto e = r.nodes[p].entries.find(name); e != r.nodes[p].entries.end())
        e->second = ignored_entry;
    free_node(r, i);
  }

  // Lists node i's directory into its entries; new subdirectories go on `stack`.
  void list_into(root_state& r, std::uint32_t i, const std::string& abs,
                 std::vector<file_change>* out, std::vector<std::uint32_t>& stack) {
    directory_reader reader(abs);
    if (reader.error() != 0) {
      if (reader.error() != ENOENT && reader.error() != ENOTDIR)
        unreadable(r, r.nodes[i].path, reader.error(), "cannot list");
      return;
    }
    if (const auto& hook = options_.test_hooks.on_directory) hook(abs, engine_->stop_flag());
    node& n = r.nodes[i];
    std::string_view name;
    entry_type type{};
    bool unknown = false;
    while (reader.next(name, type, unknown)) {
      type = reader.resolve(name, type, unknown, options_.follow_symlinks);
      if (n.entries.find(name) != n.entries.end()) continue;  // already known from an event
      if (type != entry_type::directory) {
        n.entries.emplace(std::string(name), file_entry);
        if (out != nullptr)
          out->push_back(change(r, join_path(n.path, name), change_kind::created, false));
        continue;
      }
      std::string path = join_path(n.path, name);
      std::uint64_t dev = 0, ino = 0;
      if (!options_.directory_filter.keep(r.index, path, true) ||
          !claim_identity(abs + "/" + std::string(name), dev, ino)) {
        n.entries.emplace(std::string(name), ignored_entry);
        continue;
      }
      if (out != nullptr) out->push_back(change(r, path, change_kind::created, true));
      const std::uint32_t c = new_node(r, i, std::move(path));
      r.nodes[c].dev = dev;
      r.nodes[c].ino = ino;
      n.entries.emplace(std::string(name), c);
      stack.push_back(c);
    }
  }

  // Adds directory `name` (just seen) below node i: reported as created with its contents.
  void add_directory(root_state& r, std::uint32_t i, std::string_view name,
                     std::vector<file_change>* out) {
    std::string path = join_path(r.nodes[i].path, name);
    std::uint64_t dev = 0, ino = 0;
    if (!options_.directory_filter.keep(r.index, path, true) ||
        !claim_identity(r.abs + "/" + path, dev, ino)) {
      r.nodes[i].entries.insert_or_assign(std::string(name), ignored_entry);
      return;
    }
    if (out != nullptr) out->push_back(change(r, path, change_kind::created, true));
    const std::uint32_t c = new_node(r, i, std::move(path));
    r.nodes[c].dev = dev;
    r.nodes[c].ino = ino;
    r.nodes[i].entries.insert_or_assign(std::string(name), c);
    watch_tree(r, c, out);
  }

  // Forgets node i and everything below it, reporting each entry as removed (children
  // first) when `out` is set. The root itself is never reported.
  void remove_subtree(root_state& r, std::uint32_t i, std::vector<file_change>* out) {
    node& n = r.nodes[i];
    if (n.polled && out != nullptr) r.scanner.report_removed(n.path, *n.polled, *out);
    for (const auto& [name, v] : n.entries) {
      if (v == file_entry) {
        if (out != nullptr)
          out->push_back(change(r, join_path(n.path, name), change_kind::removed, false));
      } else if (v != ignored_entry) {
        remove_subtree(r, v, out);
      }
    }
    drop_watch(r, n);
    if (out != nullptr && i != 0) out->push_back(change(r, n.path, change_kind::removed, true));
    free_node(r, i);
  }

  // Removes entry `e` of node i, reporting it.
  template <class Iterator>
  void remove_entry(root_state& r, std::uint32_t i, Iterator e, std::vector<file_change>* out) {
    const std::uint32_t v = e->second;
    if (v == file_entry) {
      if (out != nullptr)
        out->push_back(
            change(r, join_path(r.nodes[i].path, e->first), change_kind::removed, false));
    } else if (v != ignored_entry) {
      remove_subtree(r, v, out);
    }
    r.nodes[i].entries.erase(e);
  }

  // After a directory moved to `path`: updates the paths below it and applies the filter
  // again (a directory can enter or leave an ignored path).
  void repath(root_state& r, std::uint32_t i, std::string path, std::vector<file_change>& out) {
    r.nodes[i].path = std::move(path);
    std::vector<std::string> unignored;
    for (auto& [name, v] : r.nodes[i].entries) {
      if (v == file_entry) continue;
      std::string child = join_path(r.nodes[i].path, name);
      const bool keep = options_.directory_filter.keep(r.index, child, true);
      if (v == ignored_entry) {
        if (keep) unignored.push_back(name);
      } else if (!keep) {
        remove_subtree(r, v, nullptr);
        v = ignored_entry;
      } else {
        repath(r, v, std::move(child), out);
      }
    }
    for (const auto& name : unignored) {
      r.nodes[i].entries.erase(name);
      add_directory(r, i, name, &out);
    }
  }

  // --- events ---

  file_change change(const root_state& r, std::string path, change_kind kind, bool dir) const {
    return {.path = std::move(path),
            .kind = kind,
            .old_path = {},
            .root = r.index,
            .is_directory = dir};
  }

  void read_events(root_state& r, std::vector<file_change>& out) {
    if (const auto& hook = options_.test_hooks.before_read) hook();
    auto* const buf = reinterpret_cast<char*>(buffer_.data());
    const std::size_t size = buffer_.size() * sizeof(std::uint64_t);
    for (;;) {
      if (!r.fd) return;
      const std::int64_t started = realtime_ns();
      const ssize_t n = ::read(r.fd.get(), buf, size);
      if (n <= 0) {
        if (n < 0 && errno == EAGAIN) r.drained_at = started;
        return;
      }
      for (std::size_t at = 0; at < static_cast<std::size_t>(n);) {
        const auto* ev = reinterpret_cast<const inotify_event*>(buf + at);
        handle(r, *ev, out);
        at += sizeof(inotify_event) + ev->len;
      }
      if (static_cast<std::size_t>(n) + sizeof(inotify_event) + NAME_MAX + 1 <= size) {
        r.drained_at = started;  // the queue was emptied by this read
        return;
      }
    }
  }

  void handle(root_state& r, const inotify_event& ev, std::vector<file_change>& out) {
    if ((ev.mask & IN_Q_OVERFLOW) != 0) {
      overflowed(r, out);
      return;
    }
    // The kernel queues a rename's two halves back to back (then the moved directory's
    // IN_MOVE_SELF): any other event means the IN_MOVED_TO is not coming.
    if (!r.moves.empty() && ((ev.mask & IN_MOVED_TO) == 0 || !pending_cookie(r, ev.cookie)))
      finish_moves(r, out);
    const auto it = r.by_wd.find(ev.wd);
    if (it == r.by_wd.end()) return;  // a watch already dropped
    const std::uint32_t i = it->second;
    if ((ev.mask & IN_IGNORED) != 0) {
      r.by_wd.erase(it);
      r.nodes[i].wd = -1;
      --native_count_;
      if (i == 0) root_gone(r, out);
      return;
    }
    if (ev.len == 0 || ev.name[0] == '\0') {  // about the directory itself
      if (i == 0 && (ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) != 0)
        root_gone(r, out);
      return;
    }
    const std::string_view name(ev.name);
    const bool is_dir = (ev.mask & IN_ISDIR) != 0;
    if ((ev.mask & IN_MOVED_FROM) != 0) {
      moved_from(r, i, name, is_dir, ev.cookie);
    } else if ((ev.mask & IN_MOVED_TO) != 0) {
      moved_to(r, i, name, is_dir, ev.cookie, out);
    } else if ((ev.mask & IN_CREATE) != 0) {
      arrived(r, i, name, is_dir, false, out);
    } else if ((ev.mask & IN_DELETE) != 0) {
      auto& entries = r.nodes[i].entries;
      if (auto e = entries.find(name); e != entries.end()) remove_entry(r, i, e, &out);
    } else if ((ev.mask & (IN_MODIFY | IN_ATTRIB)) != 0) {
      modified(r, i, name, is_dir, out);
    }
  }

  static bool pending_cookie(const root_state& r, std::uint32_t cookie) {
    for (const pending_move& m : r.moves)
      if (m.cookie == cookie) return true;
    return false;
  }

  // Something appeared at `name`: created, or (moved in) replacing what was there.
  void arrived(root_state& r, std::uint32_t i, std::string_view name, bool is_dir, bool moved_in,
               std::vector<file_change>& out) {
    const bool dir = is_dir || link_to_directory(r, i, name);
    auto& entries = r.nodes[i].entries;
    if (auto e = entries.find(name); e != entries.end()) {
      const bool known_dir = e->second != file_entry;
      if (!moved_in && known_dir == dir) return;  // already reported by a scan
      if (moved_in && !dir && !known_dir) {       // a file moved over a file: replaced
        out.push_back(change(r, join_path(r.nodes[i].path, name), change_kind::modified, false));
        return;
      }
      remove_entry(r, i, e, &out);
    }
    if (dir) {
      add_directory(r, i, name, &out);
    } else {
      entries.emplace(std::string(name), file_entry);
      out.push_back(change(r, join_path(r.nodes[i].path, name), change_kind::created, false));
    }
  }

  void modified(root_state& r, std::uint32_t i, std::string_view name, bool is_dir,
                std::vector<file_change>& out) {
    const auto& entries = r.nodes[i].entries;
    const auto e = entries.find(name);
    if (e == entries.end() && is_dir) return;
    if (e != entries.end() && e->second == ignored_entry) return;
    const bool dir = e != entries.end() && e->second != file_entry;
    std::string path = join_path(r.nodes[i].path, name);
    if (!out.empty() && out.back().kind == change_kind::modified && out.back().root == r.index &&
        out.back().path == path)
      return;  // the same file written again in this batch
    out.push_back(change(r, std::move(path), change_kind::modified, dir));
  }

  void moved_from(root_state& r, std::uint32_t i, std::string_view name, bool is_dir,
                  std::uint32_t cookie) {
    pending_move m{cookie, join_path(r.nodes[i].path, name), is_dir ? ignored_entry : file_entry,
                   false};
    auto& entries = r.nodes[i].entries;
    if (auto e = entries.find(name); e != entries.end()) {
      m.entry = e->second;
      m.known = true;
      entries.erase(e);
      if (m.entry < ignored_entry) r.nodes[m.entry].detached = true;
    }
    r.moves.push_back(std::move(m));
  }

  void moved_to(root_state& r, std::uint32_t i, std::string_view name, bool is_dir,
                std::uint32_t cookie, std::vector<file_change>& out) {
    const auto pm = std::find_if(r.moves.begin(), r.moves.end(),
                                 [&](const pending_move& m) { return m.cookie == cookie; });
    if (pm == r.moves.end() || !pm->known || pm->entry == ignored_entry) {
      if (pm != r.moves.end()) r.moves.erase(pm);
      arrived(r, i, name, is_dir, true, out);  // from outside the tree, or from an unwatched place
      return;
    }
    const pending_move m = std::move(*pm);
    r.moves.erase(pm);
    std::string to = join_path(r.nodes[i].path, name);
    auto& entries = r.nodes[i].entries;
    auto e = entries.find(name);
    if (m.entry == file_entry) {
      if (e != entries.end() && e->second == file_entry) {
        // An atomic save: the target existed, so it was modified, and the source is gone.
        out.push_back(change(r, m.path, change_kind::removed, false));
        out.push_back(change(r, std::move(to), change_kind::modified, false));
        return;
      }
      if (e != entries.end()) remove_entry(r, i, e, &out);
      entries.emplace(std::string(name), file_entry);
      out.push_back({.path = std::move(to),
                     .kind = change_kind::renamed,
                     .old_path = m.path,
                     .root = r.index,
                     .is_directory = false});
      return;
    }
    const std::uint32_t c = m.entry;
    if (e != entries.end() && e->second == r.nodes[c].taken_by) {
      // The scan of a directory created just before found it here first, reported it
      // created and took its watches over: what is left is its old place, gone.
      remove_subtree(r, c, &out);
      return;
    }
    if (e != entries.end()) remove_entry(r, i, e, &out);  // an empty directory replaced
    if (!options_.directory_filter.keep(r.index, to, true)) {
      remove_subtree(r, c, &out);  // moved into an ignored place: gone, as far as we report
      entries.emplace(std::string(name), ignored_entry);
      return;
    }
    r.nodes[c].detached = false;
    r.nodes[c].parent = i;
    entries.emplace(std::string(name), c);
    out.push_back({.path = to,
                   .kind = change_kind::renamed,
                   .old_path = m.path,
                   .root = r.index,
                   .is_directory = true});
    repath(r, c, std::move(to), out);
  }

  // IN_MOVED_FROMs left unpaired: wait briefly for their IN_MOVED_TO (it is queued right
  // after, but may miss the read), then report them as moved out of the tree.
  void settle_moves(std::vector<file_change>& out) {
    for (auto& rp : roots_) {
      root_state& r = *rp;
      if (r.moves.empty()) continue;
      const auto deadline = std::chrono::steady_clock::now() + move_pairing_wait;
      while (!r.moves.empty() && r.fd && !engine_->stopping()) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p[2] = {{r.fd.get(), POLLIN, 0}, {engine_->wake_fd(), POLLIN, 0}};
        if (::poll(p, 2, static_cast<int>(left.count())) <= 0 || p[1].revents != 0) break;
        read_events(r, out);
      }
      finish_moves(r, out);
    }
  }

  void finish_moves(root_state& r, std::vector<file_change>& out) {
    for (const pending_move& m : r.moves) {
      if (!m.known) continue;
      if (m.entry == file_entry) {
        out.push_back(change(r, m.path, change_kind::removed, false));
      } else if (m.entry != ignored_entry && r.nodes[m.entry].alive) {
        remove_subtree(r, m.entry, &out);
      }
    }
    r.moves.clear();
  }

  // --- roots, overflow, polling ---

  // Watches root r (at start, or when it is back). Returns 0, or why it is missing.
  int setup_root(root_state& r, std::vector<file_change>* out) {
    struct stat st {};
    if (::stat(r.abs.c_str(), &st) != 0) return errno;
    if (!S_ISDIR(st.st_mode)) return ENOTDIR;
    if (!r.fd && !r.no_instance) {
      int err = options_.test_hooks.inotify_init_errno;
      const int fd = err != 0 ? -1 : ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
      if (fd < 0 && err == 0) err = errno;
      if (fd >= 0) {
        r.fd.reset(fd);
      } else {
        r.no_instance = true;
        notices_.push_back(instance_notice(r, err));
      }
    }
    r.nodes.clear();
    r.free.clear();
    r.by_wd.clear();
    r.moves.clear();
    r.present = true;
    r.drained_at = realtime_ns();
    const std::uint32_t root = new_node(r, no_index, "");
    claim_identity(r.abs, r.nodes[root].dev, r.nodes[root].ino);
    if (r.no_instance) {
      make_polled(r, root, r.abs, out);
    } else {
      watch_tree(r, root, out);
    }
    return 0;
  }

  // The root was removed or moved away: everything in it is reported removed, and it is
  // checked for every poll interval.
  void root_gone(root_state& r, std::vector<file_change>& out) {
    if (!r.present) return;
    finish_moves(r, out);
    if (!r.nodes.empty() && r.nodes[0].alive) remove_subtree(r, 0, &out);
    r.fd.reset();  // drops every watch left
    r.nodes.clear();
    r.free.clear();
    r.by_wd.clear();
    r.present = false;
    r.no_instance = false;
    notices_.push_back(missing_root_notice(*engine_, r.index, ENOENT, true));
  }

  void overflowed(root_state& r, std::vector<file_change>& out) {
    finish_moves(r, out);
    engine_->deliver(out);
    const std::string queued = read_small_file("/proc/sys/fs/inotify/max_queued_events");
    engine_->notify(
        {.kind = watch_notice_kind::overflow,
         .message = "the inotify event queue of watch root " +
                    quote_path(engine_->roots()[r.index]) +
                    " overflowed (fs.inotify.max_queued_events = " + queued +
                    "); events were lost, so the tree is rescanned and the differences are "
                    "reported as changes",
         .hint = "raise it (sudo sysctl fs.inotify.max_queued_events=65536), or ignore "
                 "directories that change in bulk (build output)",
         .root = r.index,
         .path = {},
         .stats = {}});
    timespec res{};
    ::clock_getres(CLOCK_REALTIME_COARSE, &res);
    const std::int64_t margin = std::max<std::int64_t>(10'000'000, 2 * to_ns(res));
    rescan(r, out, r.drained_at - margin);
  }

  // After an overflow: compares every watched directory with the disk. Entries gone are
  // removed, entries new are created (directories watched and scanned), and files changed
  // (mtime or ctime) since `since` are modified. Removals come first, so a directory moved
  // meanwhile is dropped at its old place before it is watched at its new one.
  void rescan(root_state& r, std::vector<file_change>& out, std::int64_t since) {
    struct addition {
      std::uint32_t node;
      std::string name;
      bool dir;
    };
    std::vector<addition> additions;
    std::vector<std::pair<std::string, bool>> listing;
    for (std::uint32_t i = 0; i < r.nodes.size() && r.present && !engine_->stopping(); ++i) {
      node& n = r.nodes[i];
      if (!n.alive || n.detached || n.polled || n.wd < 0) continue;
      directory_reader reader(abs_of(r, i));
      if (reader.error() != 0) {
        if (i == 0) root_gone(r, out);
        continue;
      }
      listing.clear();
      std::string_view name;
      entry_type type{};
      bool unknown = false;
      while (reader.next(name, type, unknown)) {
        type = reader.resolve(name, type, unknown, options_.follow_symlinks);
        listing.emplace_back(std::string(name), type == entry_type::directory);
      }
      std::sort(listing.begin(), listing.end());
      std::vector<std::string> gone;
      for (const auto& [entry, v] : n.entries) {
        const auto l = std::lower_bound(listing.begin(), listing.end(), std::pair{entry, false});
        const bool found = l != listing.end() && l->first == entry;
        const bool same_type = found && (l->second == (v != file_entry));
        if (!found || !same_type) gone.push_back(entry);
      }
      for (const auto& g : gone) remove_entry(r, i, n.entries.find(g), &out);
      for (auto& [entry, dir] : listing) {
        const auto e = n.entries.find(entry);
        if (e == n.entries.end()) {
          additions.push_back({i, std::move(entry), dir});
        } else if (e->second == file_entry) {
          struct stat st {};
          if (::fstatat(reader.fd(), entry.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
              std::max(to_ns(st.st_mtim), to_ns(st.st_ctim)) >= since)
            out.push_back(change(r, join_path(n.path, entry), change_kind::modified, false));
        }
      }
    }
    for (auto& a : additions) {
      if (!r.present || engine_->stopping()) return;
      if (!r.nodes[a.node].alive || r.nodes[a.node].entries.contains(a.name)) continue;
      if (a.dir) {
        add_directory(r, a.node, a.name, &out);
      } else {
        r.nodes[a.node].entries.emplace(a.name, file_entry);
        out.push_back(
            change(r, join_path(r.nodes[a.node].path, a.name), change_kind::created, false));
      }
    }
  }

  [[nodiscard]] bool needs_ticks() const noexcept {
    if (polled_nodes_ != 0) return true;
    for (const auto& r : roots_)
      if (!r->present) return true;
    return false;
  }

  // Every poll interval: rescans polled subtrees, looks for missing roots.
  void tick(std::vector<file_change>& out) {
    for (auto& rp : roots_) {
      root_state& r = *rp;
      if (!r.present) {
        if (setup_root(r, &out) == 0) notices_.push_back(restored_root_notice(*engine_, r.index));
        continue;
      }
      for (std::uint32_t i = 0; i < r.nodes.size() && !engine_->stopping(); ++i) {
        node& n = r.nodes[i];
        if (!n.alive || !n.polled) continue;
        const int err = r.scanner.rescan(abs_of(r, i), n.path, *n.polled, out);
        if (i == 0 && (err == ENOENT || err == ENOTDIR)) {
          root_gone(r, out);
          break;
        }
      }
    }
  }

  // --- counts and notices ---

  void publish() {
    std::size_t polled = 0;
    if (polled_nodes_ != 0)
      for (const auto& r : roots_)
        for (const node& n : r->nodes)
          if (n.alive && n.polled) polled += 1 + tree_scanner::count_directories(*n.polled);
    engine_->set_counts(native_count_, polled);
  }

  void unreadable(const root_state& r, const std::string& path, int err, const char* what) {
    notices_.push_back(unreadable_notice(*engine_, r.index, path, err, what));
  }

  watch_notice instance_notice(const root_state& r, int err) const {
    rlimit files{};
    ::getrlimit(RLIMIT_NOFILE, &files);
    const std::string instances = read_small_file("/proc/sys/fs/inotify/max_user_instances");
    const std::string every = std::to_string(options_.poll_interval.count()) + " ms";
    return {.kind = watch_notice_kind::instance_limit,
            .message = "cannot create an inotify instance for watch root " +
                       quote_path(engine_->roots()[r.index]) + ": " + errno_text(err) +
                       " (fs.inotify.max_user_instances = " + instances +
                       ", open file limit = " + std::to_string(files.rlim_cur) +
                       "); it is polled every " + every + " instead",
            .hint =
                "raise the limit (sudo sysctl fs.inotify.max_user_instances=512, or ulimit "
                "-n), or stop other programs that watch files",
            .root = r.index,
            .path = {},
            .stats = {}};
  }

  // One notice for all the directories the watch limit pushed to polling since the last.
  void limit_notice() {
    if (limited_.empty()) return;
    const inotify_limits limits = read_inotify_limits();
    const std::string every = std::to_string(options_.poll_interval.count()) + " ms";
    std::string list;
    for (std::size_t k = 0; k < limited_.size() && k < 3; ++k)
      list += (k == 0 ? "" : ", ") + quote_path(limited_[k].second);
    if (limited_.size() > 3) list += " and " + std::to_string(limited_.size() - 3) + " more";
    notice_text text;
    if (cap_reached_) {
      text.message = "the cap on native watches was reached (watch_options::max_native_watches = " +
                     std::to_string(options_.max_native_watches) +
                     "; the system limit fs.inotify.max_user_watches is " + limits.system + "); " +
                     std::to_string(limited_.size()) + (limited_.size() == 1 ? " subtree is" : " subtrees are") +
                     " polled every " + every + " instead: " + list;
      text.hint = "raise watch_options::max_native_watches, or ignore large directories";
    } else {
      text = watch_limit_text(limits, native_count_, limited_.size(), every, list);
    }
    notices_.push_back({.kind = watch_notice_kind::watch_limit,
                        .message = std::move(text.message),
                        .hint = std::move(text.hint),
                        .root = limited_.front().first,
                        .path = limited_.front().second,
                        .stats = {}});
    limited_.clear();
    cap_reached_ = false;
  }

  void flush_notices() {
    limit_notice();
    for (auto& r : roots_) take_failures(*engine_, r->index, r->scanner, notices_);
    for (auto& n : notices_) engine_->notify(std::move(n));
    notices_.clear();
  }

  watch_options options_;
  watch_engine* engine_ = nullptr;
  std::vector<std::unique_ptr<root_state>> roots_;
  std::vector<std::uint64_t> buffer_;                             // the read buffer, 8-byte aligned
  std::size_t native_count_ = 0;                                  // watches held, across roots
  std::size_t polled_nodes_ = 0;                                  // nodes whose subtree is polled
  std::set<std::pair<std::uint64_t, std::uint64_t>> identities_;  // watched (dev, ino)
  std::vector<std::pair<std::uint32_t, std::string>> limited_;    // pushed to polling
  bool cap_reached_ = false;
  std::vector<watch_notice> notices_;
};

/// Makes an inotify backend (a `backend_factory`).
inline std::unique_ptr<watch_backend> make_inotify_backend(const watch_options& options) {
  return std::make_unique<inotify_backend>(options);
}

}  // namespace hmr::detail

#endif  // defined(__linux__)
