# hmr for Conan 2: a header-only library, and optionally the reference CLI `hmr`.
#
#   conan create . -o "hmr/*:cli=True"        # from a checkout of hmr (test_package/ runs)
#   [requires] hmr/0.1.0                      # in a consumer's conanfile.txt
#
# The package is what hmr's own CMake install produces (headers, hmrModule.cmake, and with
# cli=True bin/hmr); Conan's CMakeDeps and PkgConfigDeps write the config files from
# package_info(), so the upstream hmrConfig.cmake and hmr.pc are left out.
# tests/package/conan_check.py checks this recipe without Conan (see README).
import os
import re

from conan import ConanFile
from conan.tools.build import check_min_cppstd
from conan.tools.cmake import CMake, CMakeToolchain, cmake_layout
from conan.tools.files import copy, load, rm, rmdir

required_conan_version = ">=2.0"


class HmrConan(ConanFile):
    name = "hmr"
    license = "MIT"
    description = "Header-only C++20 toolkit for hot reload and hot restart of native programs"
    topics = ("hot-reload", "hot-restart", "file-watcher", "header-only")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    options = {"cli": [True, False]}
    default_options = {"cli": False}
    # What hmr's CMake install needs: the headers, the CMake helpers, and the CLI sources;
    # and the license, which the package carries in licenses/.
    exports_sources = ("CMakeLists.txt", "LICENSE", "cmake/*", "include/*", "examples/cli/*")
    no_copy_source = True

    def set_version(self):
        # The version lives in one place: include/hmr/version.hpp.
        text = load(self, os.path.join(self.recipe_folder, "include", "hmr", "version.hpp"))
        self.version = re.search(r'version_string = "([0-9]+\.[0-9]+\.[0-9]+)"', text).group(1)

    def layout(self):
        cmake_layout(self)

    def package_id(self):
        # Headers only: one package for every configuration. The CLI is a binary, so a
        # package with it depends on the settings.
        if not self.info.options.cli:
            self.info.clear()

    def validate(self):
        if self.settings.get_safe("compiler.cppstd"):
            check_min_cppstd(self, 20)

    def generate(self):
        toolchain = CMakeToolchain(self)
        toolchain.cache_variables["HMR_BUILD_TESTS"] = False
        toolchain.cache_variables["HMR_BUILD_EXAMPLES"] = False
        toolchain.cache_variables["HMR_BUILD_CLI"] = bool(self.options.cli)
        toolchain.generate()

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        if self.options.cli:
            cmake.build()

    def package(self):
        cmake = CMake(self)
        cmake.install()
        # Conan's generators provide these from package_info(); hmrModule.cmake stays, as a
        # build module (hmr_add_module()).
        cmake_dir = os.path.join(self.package_folder, "share", "cmake", "hmr")
        rm(self, "hmrConfig*.cmake", cmake_dir)
        rm(self, "hmrTargets*.cmake", cmake_dir)
        rmdir(self, os.path.join(self.package_folder, "share", "pkgconfig"))
        copy(self, "LICENSE", self.source_folder, os.path.join(self.package_folder, "licenses"))

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "hmr")
        self.cpp_info.set_property("cmake_target_name", "hmr::hmr")
        self.cpp_info.set_property("pkg_config_name", "hmr")
        # find_package(hmr) then also defines hmr_add_module() (docs/modules.md).
        self.cpp_info.set_property(
            "cmake_build_modules", [os.path.join("share", "cmake", "hmr", "hmrModule.cmake")])
        self.cpp_info.libdirs = []
        # With cli=True, bin/hmr is on the PATH of a tool_requires consumer.
        self.cpp_info.bindirs = ["bin"] if self.options.cli else []
        if self.settings.os in ("Linux", "FreeBSD"):
            self.cpp_info.system_libs = ["pthread"]
