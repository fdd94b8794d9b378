# Conan 2 test_package: builds a consumer of hmr with CMakeDeps and runs it; with
# -o "hmr/*:cli=True" it also runs the packaged `hmr --version`.
import os

from conan import ConanFile
from conan.tools.build import can_run
from conan.tools.cmake import CMake, cmake_layout


class HmrTestPackageConan(ConanFile):
    settings = "os", "arch", "compiler", "build_type"
    generators = "CMakeDeps", "CMakeToolchain"

    def requirements(self):
        self.requires(self.tested_reference_str)

    def layout(self):
        cmake_layout(self)

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def test(self):
        if not can_run(self):
            return
        self.run(os.path.join(self.cpp.build.bindir, "test_package"), env="conanrun")
        hmr = self.dependencies["hmr"]
        if hmr.options.cli:
            self.run(f'"{os.path.join(hmr.package_folder, "bin", "hmr")}" --version')
