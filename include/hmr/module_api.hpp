// The library side of a hot-reloadable module: one macro that exports the module's entry
// point and API table, named state slots that survive a reload (hmr::persistent), and
// optional load/unload hooks. The host side is hmr/module.hpp; docs/modules.md explains the
// rules.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace hmr {

/// How a slot whose type is not trivially copyable is saved and restored across a reload:
/// specialize it for the type (the primary template is empty).
///
/// @code
///   template <> struct hmr::slot_codec<std::vector<int>> {
///     static std::string save(const std::vector<int>& v);              // to bytes
///     static bool restore(std::vector<int>& v, std::string_view bytes); // false: refuse
///   };
/// @endcode
template <class T>
struct slot_codec {};

/// The codec of std::string: its characters.
template <>
struct slot_codec<std::string> {
  /// The characters.
  static std::string save(const std::string& value) { return value; }
  /// Takes the characters back.
  static bool restore(std::string& value, std::string_view bytes) {
    value.assign(bytes);
    return true;
  }
};

namespace detail {

/// "HMRMODUL": the first field of every module descriptor.
inline constexpr std::uint64_t module_magic = 0x484d524d4f44554cULL;
/// The layout version of `module_descriptor` and `slot_record`.
inline constexpr std::uint32_t module_descriptor_version = 1;

/// Receives the bytes a save hook produced (host side).
using slot_sink = void (*)(void* context, const char* data, std::size_t size);

/// One persistent slot as the host sees it: a plain C layout, stable across versions.
struct slot_record {
  const char* name;                ///< the slot's name, unique in the module
  std::uint64_t size;              ///< sizeof(T)
  std::uint64_t align;             ///< alignof(T)
  const char* type_name;           ///< T's name as the compiler spells it (not NUL-terminated)
  std::uint64_t type_name_size;    ///< its length
  std::uint32_t version;           ///< the user's version
  std::uint32_t by_codec;          ///< 1: saved through slot_codec<T>, 0: copied as bytes
  void* object;                    ///< the T
  int (*save)(const void* object, void* context, slot_sink sink);  ///< 1 on success
  int (*restore)(void* object, const char* data, std::size_t size); ///< 1 on success
  slot_record* next;               ///< the next slot of the module
};

/// Hooks a module may set with hmr::module_hooks.
struct module_hooks_record {
  void (*on_load)();    ///< after the state was restored, before the first call
  void (*on_unload)();  ///< before the module is replaced or unloaded
};

/// What `hmr_module_entry` returns.
struct module_descriptor {
  std::uint64_t magic;               ///< module_magic
  std::uint32_t descriptor_version;  ///< module_descriptor_version
  std::uint32_t abi_version;         ///< Api::abi_version (0 when absent)
  std::uint64_t api_size;            ///< sizeof(Api)
  const char* api_type_name;         ///< Api's name (not NUL-terminated)
  std::uint64_t api_type_name_size;  ///< its length
  const void* api;                   ///< the Api table
  slot_record* slots;                ///< the slots, most recently constructed first
  void (*on_load)();                 ///< or nullptr
  void (*on_unload)();               ///< or nullptr
};

/// The compiler's spelling of a type, from __PRETTY_FUNCTION__ ("[with T = int]" on GCC,
/// "[T = int]" on clang).
template <class T>
constexpr const char* pretty_signature() noexcept {
  return __PRETTY_FUNCTION__;
}

/// The name of `T` as the compiler spells it.
template <class T>
constexpr std::string_view type_name() noexcept {
  const std::string_view s = pretty_signature<T>();
  const auto from = s.find("T = ");
  const auto to = s.rfind(']');
  if (from == std::string_view::npos || to == std::string_view::npos || to < from) return s;
  return s.substr(from + 4, to - from - 4);
}

/// Api::abi_version, or 0 when the API type declares none.
template <class Api>
constexpr std::uint32_t abi_version_of() noexcept {
  if constexpr (requires { Api::abi_version; }) {
    return static_cast<std::uint32_t>(Api::abi_version);
  } else {
    return 0;
  }
}

/// True when slot_codec<T> is specialized with save and restore.
template <class T>
concept has_slot_codec = requires(const T& in, T& out, std::string_view bytes) {
  { slot_codec<T>::save(in) } -> std::convertible_to<std::string>;
  { slot_codec<T>::restore(out, bytes) } -> std::convertible_to<bool>;
};

/// The descriptor of a module whose API table is `api`.
template <class Api>
module_descriptor describe(const Api* api, slot_record* slots, module_hooks_record hooks) noexcept {
  constexpr std::string_view name = type_name<Api>();
  return {module_magic, module_descriptor_version, abi_version_of<Api>(), sizeof(Api),
          name.data(), name.size(), api, slots, hooks.on_load, hooks.on_unload};
}

}  // namespace detail
}  // namespace hmr

// The module's own slot list and hooks: hidden, so each loaded version has its own (defined
// by HMR_MODULE; only referenced when a module uses hmr::persistent or hmr::module_hooks).
extern "C" {
/// The head of the module's slot list (defined by HMR_MODULE).
extern __attribute__((visibility("hidden"))) hmr::detail::slot_record* hmr_detail_module_slots;
/// The module's hooks (defined by HMR_MODULE).
extern __attribute__((visibility("hidden"))) hmr::detail::module_hooks_record hmr_detail_module_hooks;
}

namespace hmr {

/// A named piece of the module's state that the host keeps across a reload.
///
/// Trivially copyable types move as bytes; other types need a `hmr::slot_codec<T>`
/// specialization. The host compares each slot's fingerprint (size, alignment, type name,
/// `Version`) with the previous version's and refuses the reload on a mismatch, naming the
/// slot. Bump `Version` when a type keeps its name and size but changes meaning.
///
/// @code
///   hmr::persistent<std::uint64_t> requests{"requests"};
///   hmr::persistent<world_state, 2> world{"world"};
///   std::uint64_t handle() { return ++*requests; }
/// @endcode
template <class T, std::uint32_t Version = 0>
class persistent {
  static_assert(std::is_trivially_copyable_v<T> || detail::has_slot_codec<T>,
                "hmr::persistent<T>: T is not trivially copyable, so its bytes cannot move to "
                "the next version. Fix: specialize hmr::slot_codec<T> with "
                "`static std::string save(const T&)` and "
                "`static bool restore(T&, std::string_view)` (see docs/modules.md)");

 public:
  /// Declares the slot `name` (a string with static storage, unique in the module) holding
  /// `initial` until the host restores the previous version's value.
  explicit persistent(const char* name, T initial = T{}) : value_(std::move(initial)) {
    constexpr std::string_view type = detail::type_name<T>();
    record_ = {name,      sizeof(T),   alignof(T), type.data(), type.size(),   Version,
               by_codec ? 1U : 0U, &value_, &save_thunk, &restore_thunk, hmr_detail_module_slots};
    hmr_detail_module_slots = &record_;
  }
  /// Leaves the module's slot list.
  ~persistent() {
    for (detail::slot_record** at = &hmr_detail_module_slots; *at != nullptr; at = &(*at)->next) {
      if (*at == &record_) {
        *at = record_.next;
        break;
      }
    }
  }
  persistent(const persistent&) = delete;
  persistent& operator=(const persistent&) = delete;

  /// The value.
  T& operator*() noexcept { return value_; }
  /// The value.
  const T& operator*() const noexcept { return value_; }
  /// Member access to the value.
  T* operator->() noexcept { return &value_; }
  /// Member access to the value.
  const T* operator->() const noexcept { return &value_; }
  /// The value.
  T& get() noexcept { return value_; }
  /// The value.
  const T& get() const noexcept { return value_; }

 private:
  static constexpr bool by_codec = detail::has_slot_codec<T>;

  static int save_thunk(const void* object, void* context, detail::slot_sink sink) {
    if constexpr (by_codec) {
      try {
        const std::string bytes = slot_codec<T>::save(*static_cast<const T*>(object));
        sink(context, bytes.data(), bytes.size());
        return 1;
      } catch (...) {
        return 0;
      }
    } else {
      sink(context, static_cast<const char*>(object), sizeof(T));
      return 1;
    }
  }
  static int restore_thunk(void* object, const char* data, std::size_t size) {
    if constexpr (by_codec) {
      try {
        return slot_codec<T>::restore(*static_cast<T*>(object), std::string_view(data, size)) ? 1 : 0;
      } catch (...) {
        return 0;
      }
    } else {
      if (size != sizeof(T)) return 0;
      for (std::size_t i = 0; i < size; ++i) static_cast<char*>(object)[i] = data[i];
      return 1;
    }
  }

  T value_;
  detail::slot_record record_{};
};

/// Registers the module's load and unload hooks (one object per module; either may be
/// nullptr). `on_load` runs after the previous version's slots were restored, before the
/// host calls in; `on_unload` runs before the module is replaced or unloaded. A throwing
/// `on_load` undoes the swap (the previous version stays); a throwing `on_unload` is a warning.
///
/// @code
///   static void start() { /* reopen what the old version closed */ }
///   hmr::module_hooks hooks{&start, nullptr};
/// @endcode
struct module_hooks {
  /// Sets the hooks.
  module_hooks(void (*on_load)(), void (*on_unload)()) noexcept {
    hmr_detail_module_hooks = {on_load, on_unload};
  }
};

}  // namespace hmr

/// Exports the module's entry point `hmr_module_entry` with the API table `api_type`
/// initialised from the remaining arguments. Use once per module, at namespace scope:
///
/// @code
///   struct greeter_api { static constexpr std::uint32_t abi_version = 1; int (*greet)(char*, int); };
///   static int greet(char* out, int n) { return std::snprintf(out, n, "hello"); }
///   HMR_MODULE(greeter_api, {&greet});
/// @endcode
#define HMR_MODULE(api_type, ...)                                                          \
  extern "C" {                                                                             \
  __attribute__((visibility("hidden")))::hmr::detail::slot_record* hmr_detail_module_slots = \
      nullptr;                                                                             \
  __attribute__((visibility("hidden")))::hmr::detail::module_hooks_record                   \
      hmr_detail_module_hooks = {nullptr, nullptr};                                        \
  }                                                                                        \
  static const api_type hmr_detail_module_api = __VA_ARGS__;                               \
  static ::hmr::detail::module_descriptor hmr_detail_module_descriptor{};                  \
  extern "C" __attribute__((visibility("default"))) const ::hmr::detail::module_descriptor* \
  hmr_module_entry() noexcept {                                                            \
    hmr_detail_module_descriptor = ::hmr::detail::describe<api_type>(                      \
        &hmr_detail_module_api, hmr_detail_module_slots, hmr_detail_module_hooks);         \
    return &hmr_detail_module_descriptor;                                                  \
  }                                                                                        \
  static_assert(std::is_class_v<api_type>, "HMR_MODULE: the API type must be a struct")
