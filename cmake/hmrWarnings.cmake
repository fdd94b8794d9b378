# Warnings for hmr's own tests, examples and benchmarks (never imposed on consumers).
add_library(hmr_warnings INTERFACE)
if(MSVC)
  target_compile_options(hmr_warnings INTERFACE /W4 /permissive-)
else()
  target_compile_options(hmr_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
    -Wconversion -Wsign-conversion -Wold-style-cast -Wnon-virtual-dtor)
endif()
option(HMR_WARNINGS_AS_ERRORS "Treat warnings in hmr's own targets as errors" OFF)
if(HMR_WARNINGS_AS_ERRORS)
  target_compile_options(hmr_warnings INTERFACE $<IF:$<CXX_COMPILER_ID:MSVC>,/WX,-Werror>)
endif()
