#!/usr/bin/env python3
"""Checks conanfile.py and test_package/ without Conan (which does not run here).

A minimal stand-in for the `conan` Python package lets the recipe import; then its metadata
is checked, and its steps run for real for cli=False and cli=True: export (exports_sources
copied), generate() (the CMakeToolchain cache variables), build() (cmake configure/build),
package() (cmake --install, then the recipe's own clean-up), package_info() and
package_id(). The package folders are checked against the CMake install, and
test_package/ is built against a CMakeDeps-like config written from package_info() and its
test() run. Usage:
  conan_check.py SRC WORK CLI_BUILD_DIR
CLI_BUILD_DIR is a Release build of SRC configured with HMR_BUILD_CLI=ON and already built
(tests/package/run.sh's), reused so that the CLI is compiled once.
"""
import fnmatch
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import types

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
SRC, WORK, CLI_BUILD = (os.path.abspath(a) for a in sys.argv[1:4])
GENERATOR = ["-G", "Ninja"] if shutil.which("ninja") else []
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print(f"conan check: FAILED: {message}", file=sys.stderr)


def run(cmd, **kwargs):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kwargs)


# --- the stand-in for conan: only what conanfile.py and test_package/conanfile.py use ---

class ConanInvalidConfiguration(Exception):
    pass


class Namespace(types.SimpleNamespace):
    def get_safe(self, name, default=None):
        value = self
        for part in name.split("."):
            value = getattr(value, part, None)
            if value is None:
                return default
        return value


class Info:
    def __init__(self, settings, options):
        self.settings, self.options, self.cleared = settings, options, False

    def clear(self):
        self.settings, self.options, self.cleared = Namespace(), Namespace(), True


class CppInfo:
    def __init__(self):
        self.includedirs, self.libdirs, self.bindirs = ["include"], ["lib"], ["bin"]
        self.system_libs, self.properties = [], {}

    def set_property(self, name, value):
        self.properties[name] = value

    def get_property(self, name):
        return self.properties.get(name)


class ConanFile:
    def __init__(self, **attrs):
        self.output = Namespace(info=print, warning=print)
        self.folders = Namespace()
        self.cpp = Namespace(build=Namespace(bindir="."))
        self.cpp_info = CppInfo()
        for key, value in attrs.items():
            setattr(self, key, value)

    def run(self, command, env=None):
        subprocess.run(command, shell=True, check=True, cwd=self.build_folder)

    def requires(self, reference):
        self.requirements_seen = getattr(self, "requirements_seen", []) + [reference]


def cmake_layout(conanfile):
    conanfile.folders.source, conanfile.folders.build = ".", "build/Release"
    conanfile.cpp.build.bindir = "."


class CMakeToolchain:
    def __init__(self, conanfile):
        self.conanfile, self.cache_variables = conanfile, {}

    def generate(self):
        self.conanfile.toolchain_cache_variables = dict(self.cache_variables)


class CMake:
    """Runs what Conan's CMake helper runs (minus the toolchain file), for real."""

    def __init__(self, conanfile):
        self.conanfile = conanfile

    def configure(self):
        c = self.conanfile
        defs = [f"-D{k}={'ON' if v is True else 'OFF' if v is False else v}"
                for k, v in c.toolchain_cache_variables.items()]
        run(["cmake", "-S", c.source_folder, "-B", c.build_folder, *GENERATOR,
             "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_INSTALL_PREFIX={c.package_folder}",
             "--no-warn-unused-cli", *defs])

    def build(self):
        run(["cmake", "--build", self.conanfile.build_folder])

    def install(self):
        run(["cmake", "--install", self.conanfile.build_folder,
             "--prefix", self.conanfile.package_folder])


def check_min_cppstd(conanfile, minimum):
    if int(conanfile.settings.get_safe("compiler.cppstd")) < int(minimum):
        raise ConanInvalidConfiguration(f"needs C++{minimum}")


def load(conanfile, path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def rm(conanfile, pattern, folder, recursive=False):
    for root, _, files in os.walk(folder):
        for name in fnmatch.filter(files, pattern):
            os.remove(os.path.join(root, name))
        if not recursive:
            break


def rmdir(conanfile, path):
    shutil.rmtree(path, ignore_errors=True)


def copy(conanfile, pattern, src, dst):
    copied = []
    for name in fnmatch.filter(os.listdir(src), pattern):
        if os.path.isfile(os.path.join(src, name)):
            os.makedirs(dst, exist_ok=True)
            copied.append(shutil.copy2(os.path.join(src, name), os.path.join(dst, name)))
    return copied


def install_stub_modules():
    modules = {
        "conan": {"ConanFile": ConanFile},
        "conan.errors": {"ConanInvalidConfiguration": ConanInvalidConfiguration},
        "conan.tools": {},
        "conan.tools.build": {"check_min_cppstd": check_min_cppstd, "can_run": lambda c: True},
        "conan.tools.cmake": {"CMake": CMake, "CMakeToolchain": CMakeToolchain,
                              "cmake_layout": cmake_layout},
        "conan.tools.files": {"copy": copy, "load": load, "rm": rm, "rmdir": rmdir},
    }
    for name, attrs in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        sys.modules[name] = module


def load_recipe(path):
    spec = importlib.util.spec_from_file_location(f"recipe_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found = [v for v in vars(module).values()
             if isinstance(v, type) and issubclass(v, ConanFile) and v is not ConanFile]
    assert len(found) == 1, f"{path}: expected one ConanFile class, found {found}"
    return module, found[0]


# --- the checks ---

install_stub_modules()
module, recipe = load_recipe(os.path.join(SRC, "conanfile.py"))
version_hpp = load(None, os.path.join(SRC, "include", "hmr", "version.hpp"))
version = re.search(r'version_string = "([0-9.]+)"', version_hpp).group(1)

check(getattr(module, "required_conan_version", "").startswith(">=2"), "required_conan_version >=2")
check(recipe.name == "hmr", f"name is {recipe.name!r}")
check(recipe.package_type == "header-library", f"package_type is {recipe.package_type!r}")
check(recipe.options == {"cli": [True, False]}, f"options are {recipe.options!r}")
check(recipe.default_options == {"cli": False}, f"default_options are {recipe.default_options!r}")
check(set(recipe.settings) == {"os", "arch", "compiler", "build_type"}, "settings")
probe = recipe(recipe_folder=SRC)
probe.set_version()
check(probe.version == version, f"set_version() gives {probe.version}, version.hpp {version}")
check(getattr(recipe, "license", None) == "MIT",
      f"license is {getattr(recipe, 'license', None)!r}, expected 'MIT' (hmr's LICENSE)")

# Export: the recipe's exports_sources must be enough for the CMake install, CLI included.
export = os.path.join(WORK, "export")
shutil.rmtree(WORK, ignore_errors=True)
for top in ("CMakeLists.txt", "LICENSE", "cmake", "include", "examples"):
    for root, _, files in os.walk(os.path.join(SRC, top)) if top not in ("CMakeLists.txt", "LICENSE") else [(SRC, [], [top])]:
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), SRC)
            if any(fnmatch.fnmatch(rel, p) for p in recipe.exports_sources):
                os.makedirs(os.path.dirname(os.path.join(export, rel)), exist_ok=True)
                shutil.copy2(os.path.join(root, name), os.path.join(export, rel))
run(["cmake", "-S", export, "-B", os.path.join(WORK, "export-cli-configure"), *GENERATOR,
     "-DHMR_BUILD_TESTS=OFF", "-DHMR_BUILD_EXAMPLES=OFF", "-DHMR_BUILD_CLI=ON"])
run([os.environ.get("CXX", "c++"), "-std=c++20", "-E", "-I", os.path.join(export, "include"),
     os.path.join(export, "examples", "cli", "main.cpp"), "-o", os.devnull])

src_headers = {os.path.relpath(os.path.join(r, f), os.path.join(SRC, "include"))
               for r, _, fs in os.walk(os.path.join(SRC, "include")) for f in fs if f.endswith(".hpp")}
packages = {}
for cli in (False, True):
    tag = "cli" if cli else "headers"
    settings = Namespace(os="Linux", arch="x86_64", build_type="Release",
                         compiler=Namespace(value="gcc", cppstd="20"))
    options = Namespace(cli=cli)
    c = recipe(recipe_folder=SRC, settings=settings, options=options,
               info=Info(settings, Namespace(cli=cli)), version=version)
    c.layout()
    check(c.folders.build == "build/Release", "layout() is cmake_layout")
    # The CLI build is the one run.sh built (same sources, Release): reused, not rebuilt.
    c.source_folder = SRC if cli else export
    c.build_folder = CLI_BUILD if cli else os.path.join(WORK, f"build-{tag}")
    c.package_folder = os.path.join(WORK, f"package-{tag}")
    c.validate()
    c.generate()
    check(c.toolchain_cache_variables == {"HMR_BUILD_TESTS": False, "HMR_BUILD_EXAMPLES": False,
                                          "HMR_BUILD_CLI": cli},
          f"cli={cli}: toolchain cache variables {c.toolchain_cache_variables}")
    c.build()
    c.package()
    c.package_info()
    c.package_id()
    pkg = c.package_folder
    installed = {os.path.relpath(os.path.join(r, f), os.path.join(pkg, "include"))
                 for r, _, fs in os.walk(os.path.join(pkg, "include")) for f in fs}
    check(installed == src_headers, f"cli={cli}: packaged headers differ from include/: "
          f"{sorted(installed ^ src_headers)[:5]}")
    share = os.path.join(pkg, "share", "cmake", "hmr")
    check(sorted(os.listdir(share)) == ["hmrModule.cmake"],
          f"cli={cli}: share/cmake/hmr holds {sorted(os.listdir(share))}, expected hmrModule.cmake only")
    check(not os.path.exists(os.path.join(pkg, "share", "pkgconfig")), f"cli={cli}: hmr.pc left in")
    check(os.path.isfile(os.path.join(pkg, "bin", "hmr")) == cli, f"cli={cli}: bin/hmr presence")
    packaged_license = os.path.join(pkg, "licenses", "LICENSE")
    check(os.path.isfile(packaged_license)
          and load(None, packaged_license) == load(None, os.path.join(SRC, "LICENSE")),
          f"cli={cli}: licenses/LICENSE is missing or differs from LICENSE")
    if cli:
        out = subprocess.run([os.path.join(pkg, "bin", "hmr"), "--version"], check=True,
                             capture_output=True, text=True).stdout.strip()
        check(out == f"hmr {version}", f"packaged hmr --version says {out!r}")
    info = c.cpp_info
    check(info.get_property("cmake_target_name") == "hmr::hmr", "cmake_target_name")
    check(info.get_property("cmake_file_name") == "hmr", "cmake_file_name")
    check(info.get_property("pkg_config_name") == "hmr", "pkg_config_name")
    for d in info.includedirs + info.bindirs + info.get_property("cmake_build_modules"):
        check(os.path.exists(os.path.join(pkg, d)), f"cli={cli}: package_info names missing {d}")
    check(info.libdirs == [], "libdirs empty (header-only)")
    check(info.bindirs == (["bin"] if cli else []), f"cli={cli}: bindirs {info.bindirs}")
    check(info.system_libs == ["pthread"], f"system_libs {info.system_libs}")
    check(c.info.cleared == (not cli), f"cli={cli}: package_id() clear() is {c.info.cleared}")
    packages[cli] = c

# test_package: built against a config written from package_info() the way CMakeDeps does
# (target, include dirs, system libs, build modules), then its test() run for both packages.
deps = os.path.join(WORK, "deps")
os.makedirs(deps, exist_ok=True)
c = packages[False]
info, pkg = c.cpp_info, c.package_folder
with open(os.path.join(deps, f"{info.get_property('cmake_file_name')}-config.cmake"), "w") as f:
    target = info.get_property("cmake_target_name")
    f.write(f"add_library({target} INTERFACE IMPORTED)\n"
            f"set_target_properties({target} PROPERTIES\n"
            f"  INTERFACE_INCLUDE_DIRECTORIES \"{';'.join(os.path.join(pkg, d) for d in info.includedirs)}\"\n"
            f"  INTERFACE_LINK_LIBRARIES \"{';'.join(info.system_libs)}\")\n")
    for m in info.get_property("cmake_build_modules"):
        f.write(f"include(\"{os.path.join(pkg, m)}\")\n")
test_build = os.path.join(WORK, "test_package-build")
_, test_recipe = load_recipe(os.path.join(SRC, "test_package", "conanfile.py"))
for cli in (False, True):
    t = test_recipe(tested_reference_str=f"hmr/{version}", build_folder=test_build,
                    source_folder=os.path.join(SRC, "test_package"),
                    dependencies={"hmr": Namespace(options=Namespace(cli=cli),
                                                   package_folder=packages[cli].package_folder)})
    t.requirements()
    check(t.requirements_seen == [f"hmr/{version}"], f"test_package requires {t.requirements_seen}")
    t.layout()
    if not cli:
        check(set(t.generators) == {"CMakeDeps", "CMakeToolchain"}, "test_package generators")
        run(["cmake", "-S", t.source_folder, "-B", test_build, *GENERATOR, f"-Dhmr_DIR={deps}"])
        run(["cmake", "--build", test_build])
    t.test()

if failures:
    sys.exit(f"conan check: {len(failures)} failure(s)")
print(f"conan check: recipe hmr/{version} ok (cli=False and cli=True packaged; test_package ran)")
