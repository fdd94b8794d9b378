# hmr_add_module(<name> [SOURCES] <source>...)
#
# Builds a hot-reloadable module for hmr::module<Api> (hmr/module.hpp): a MODULE library
# (dlopen'ed, never linked against) whose code is safe to load, unload and load again:
#   - hidden visibility: only hmr_module_entry (marked by HMR_MODULE) is exported;
#   - -fno-gnu-unique on GCC: no STB_GNU_UNIQUE symbols, which would keep every old
#     version loaded after dlclose (clang makes none);
#   - -Wl,-Bsymbolic: the module binds its own symbols, so new code never calls into
#     another version or into the host by accident;
#   - linked to hmr::hmr (for hmr/module_api.hpp).
# Example:
#   find_package(hmr CONFIG REQUIRED)          # provides hmr_add_module
#   hmr_add_module(handler SOURCES src/handler.cpp)
#   add_executable(server src/main.cpp)        # loads $<TARGET_FILE:handler> at run time
#   target_link_libraries(server PRIVATE hmr::hmr)
#   add_dependencies(server handler)
include_guard(GLOBAL)

function(hmr_add_module name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES")
  set(sources ${arg_SOURCES} ${arg_UNPARSED_ARGUMENTS})
  if(NOT sources)
    message(FATAL_ERROR "hmr_add_module(${name}): no sources; "
      "use hmr_add_module(${name} SOURCES file.cpp ...)")
  endif()
  if(NOT TARGET hmr::hmr)
    message(FATAL_ERROR "hmr_add_module(${name}): the target hmr::hmr does not exist; "
      "call find_package(hmr CONFIG REQUIRED) or add_subdirectory(hmr) first")
  endif()
  add_library(${name} MODULE ${sources})
  set_target_properties(${name} PROPERTIES
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON)
  target_compile_options(${name} PRIVATE
    $<$<COMPILE_LANG_AND_ID:CXX,GNU>:-fno-gnu-unique>
    $<$<COMPILE_LANG_AND_ID:C,GNU>:-fno-gnu-unique>)
  if(NOT APPLE AND NOT WIN32)
    target_link_options(${name} PRIVATE "LINKER:-Bsymbolic")
  endif()
  target_link_libraries(${name} PRIVATE hmr::hmr)
endfunction()
