// The generator the tests configure their generated CMake projects with: the surrounding
// build's (HMR_TEST_CMAKE_GENERATOR, HMR_TEST_CMAKE_MAKE_PROGRAM), so a machine with only
// what tools/dev.sh installs (ninja, no make) can run them.
#ifndef HMR_TESTS_CMAKE_GENERATOR_HPP
#define HMR_TESTS_CMAKE_GENERATOR_HPP

#include <string>
#include <utility>
#include <vector>

namespace hmr_test {

/// Arguments to append to `cmake -S … -B …` (or `cmake --preset …`): `-G <generator>` and
/// `-DCMAKE_MAKE_PROGRAM=<path>` when the build defines them; none otherwise (CMake's default).
inline std::vector<std::string> cmake_generator_args() {
  std::vector<std::string> args;
#ifdef HMR_TEST_CMAKE_GENERATOR
  if (const std::string generator = HMR_TEST_CMAKE_GENERATOR; !generator.empty())
    args.insert(args.end(), {"-G", generator});
#endif
#ifdef HMR_TEST_CMAKE_MAKE_PROGRAM
  if (const std::string program = HMR_TEST_CMAKE_MAKE_PROGRAM; !program.empty())
    args.push_back("-DCMAKE_MAKE_PROGRAM=" + program);
#endif
  return args;
}

/// `command` followed by cmake_generator_args().
inline std::vector<std::string> with_cmake_generator(std::vector<std::string> command) {
  for (std::string& arg : cmake_generator_args()) command.push_back(std::move(arg));
  return command;
}

}  // namespace hmr_test

#endif  // HMR_TESTS_CMAKE_GENERATOR_HPP
