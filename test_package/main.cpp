// Uses the packaged headers: the glob matcher and the filters decide two paths, and the
// version is printed. Exits 0 when all is well.
#include <cstdio>
#include <hmr/filters.hpp>
#include <hmr/glob.hpp>
#include <hmr/version.hpp>

int main() {
  const auto filter = hmr::default_ignores() | hmr::include_globs{"**/*.cpp"};
  if (!filter.keep("src/main.cpp", false) || filter.keep("build/main.cpp", false)) {
    std::fprintf(stderr, "test_package: the filters decided wrongly\n");
    return 1;
  }
  std::printf("hmr %s: test_package ok\n", hmr::version_string);
  return 0;
}
