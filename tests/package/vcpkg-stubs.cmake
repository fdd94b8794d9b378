# Runs ports/hmr/portfile.cmake without vcpkg (which does not run here): the vcpkg helpers
# the portfile calls are emulated below by small functions that do what vcpkg does (the
# configure options vcpkg passes, the install, the config fixup, the tool move, the
# copyright), then the installed tree gets vcpkg's post-build checks. Usage:
#   cmake -DSRC=<hmr checkout> -DWORK=<dir> -DFEATURES=core[;cli] [-DREUSE_BUILD=<dir>]
#         [-DGENERATOR=Ninja] -P tests/package/vcpkg-stubs.cmake
# REUSE_BUILD: an existing Release build of SRC with the same features (so that the CLI is
# compiled once); the configure step then only reconfigures it with vcpkg's options.
# Afterwards WORK/packages/hmr_x64-linux is the tree vcpkg would install.
cmake_minimum_required(VERSION 3.25)
foreach(var SRC WORK FEATURES)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "vcpkg stubs: -D${var}=... is required")
  endif()
endforeach()

set(PORT hmr)
set(TARGET_TRIPLET x64-linux)
set(port_dir "${SRC}/ports/${PORT}")
set(CURRENT_PACKAGES_DIR "${WORK}/packages/${PORT}_${TARGET_TRIPLET}")
set(CURRENT_BUILDTREES_DIR "${WORK}/buildtrees/${PORT}")
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}")
file(MAKE_DIRECTORY "${CURRENT_PACKAGES_DIR}" "${CURRENT_BUILDTREES_DIR}")

function(fail)
  list(JOIN ARGN "" text)
  message(FATAL_ERROR "vcpkg stubs: ${text}")
endfunction()

# --- vcpkg.json: what vcpkg reads before running the portfile ---
file(READ "${port_dir}/vcpkg.json" manifest)
string(JSON name GET "${manifest}" name)
string(JSON VERSION GET "${manifest}" version)
file(STRINGS "${SRC}/include/hmr/version.hpp" version_line REGEX "version_string = ")
string(REGEX MATCH "[0-9]+\\.[0-9]+\\.[0-9]+" hpp_version "${version_line}")
if(NOT name STREQUAL PORT OR NOT VERSION STREQUAL hpp_version)
  fail("vcpkg.json names ${name} ${VERSION}; expected ${PORT} ${hpp_version} (version.hpp)")
endif()
string(JSON license ERROR_VARIABLE no_license GET "${manifest}" license)
if(no_license OR NOT license STREQUAL "MIT")
  fail("vcpkg.json must declare \"license\": \"MIT\" (hmr's LICENSE); it has '${license}'")
endif()
foreach(helper vcpkg-cmake vcpkg-cmake-config)
  if(NOT manifest MATCHES "\"name\": \"${helper}\",[ \n]*\"host\": true")
    fail("vcpkg.json must depend on the host port ${helper} (the portfile uses its functions)")
  endif()
endforeach()
set(FEATURES_DECLARED core)
string(JSON feature_count ERROR_VARIABLE no_features LENGTH "${manifest}" features)
if(NOT no_features)
  math(EXPR last "${feature_count} - 1")
  foreach(i RANGE ${last})
    string(JSON feature MEMBER "${manifest}" features ${i})
    list(APPEND FEATURES_DECLARED ${feature})
  endforeach()
endif()
foreach(feature IN LISTS FEATURES)
  if(NOT feature IN_LIST FEATURES_DECLARED)
    fail("feature ${feature} is not declared in vcpkg.json (${FEATURES_DECLARED})")
  endif()
endforeach()

# --- the helpers ---

# Not called while hmr has no release archive; mapped to the checkout if it ever is.
function(vcpkg_from_github)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "OUT_SOURCE_PATH;REPO;REF;SHA512;HEAD_REF" "PATCHES")
  set(${arg_OUT_SOURCE_PATH} "${SRC}" PARENT_SCOPE)
endfunction()

function(vcpkg_check_features)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "OUT_FEATURE_OPTIONS" "FEATURES;INVERTED_FEATURES")
  set(options "")
  set(pairs ${arg_FEATURES})
  while(pairs)
    list(POP_FRONT pairs feature variable)
    if(NOT feature IN_LIST FEATURES_DECLARED)
      fail("vcpkg_check_features names ${feature}, which vcpkg.json does not declare")
    endif()
    if(feature IN_LIST FEATURES)
      list(APPEND options "-D${variable}=ON")
    else()
      list(APPEND options "-D${variable}=OFF")
    endif()
  endwhile()
  set(${arg_OUT_FEATURE_OPTIONS} "${options}" PARENT_SCOPE)
endfunction()

function(vcpkg_cmake_configure)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "SOURCE_PATH" "OPTIONS;OPTIONS_RELEASE;OPTIONS_DEBUG")
  if(NOT VCPKG_BUILD_TYPE STREQUAL "release")
    fail("these stubs emulate release-only ports; the portfile should set VCPKG_BUILD_TYPE release")
  endif()
  set(build "${CURRENT_BUILDTREES_DIR}/${TARGET_TRIPLET}-rel")
  if(REUSE_BUILD)
    set(build "${REUSE_BUILD}")
  endif()
  set(generator_args "")
  if(GENERATOR)
    set(generator_args -G "${GENERATOR}")
  endif()
  # The options vcpkg_cmake_configure passes to every port (release configuration).
  execute_process(COMMAND "${CMAKE_COMMAND}" -S "${arg_SOURCE_PATH}" -B "${build}" ${generator_args}
      --no-warn-unused-cli
      -DCMAKE_BUILD_TYPE=Release
      "-DCMAKE_INSTALL_PREFIX=${CURRENT_PACKAGES_DIR}"
      -DCMAKE_INSTALL_LIBDIR:STRING=lib -DCMAKE_INSTALL_BINDIR:STRING=bin
      -DBUILD_SHARED_LIBS=OFF
      -DFETCHCONTENT_FULLY_DISCONNECTED=ON
      -DCMAKE_EXPORT_NO_PACKAGE_REGISTRY=ON
      -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON
      -DCMAKE_FIND_PACKAGE_NO_SYSTEM_PACKAGE_REGISTRY=ON
      -DCMAKE_INSTALL_SYSTEM_RUNTIME_LIBS_SKIP=TRUE
      -DCMAKE_ERROR_ON_ABSOLUTE_INSTALL_DESTINATION=ON
      -DVCPKG_TARGET_TRIPLET=${TARGET_TRIPLET}
      ${arg_OPTIONS} ${arg_OPTIONS_RELEASE}
    OUTPUT_QUIET RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    fail("configure failed (${rc})")
  endif()
  # vcpkg forbids absolute install destinations (CMAKE_ERROR_ON_ABSOLUTE_INSTALL_DESTINATION),
  # but cmake --install does not pass that variable on: look for them in the install scripts.
  file(GLOB_RECURSE install_scripts "${build}/cmake_install.cmake")
  foreach(script IN LISTS install_scripts)
    file(STRINGS "${script}" absolute REGEX "CMAKE_ABSOLUTE_DESTINATION_FILES")
    if(absolute)
      fail("${script} installs to an absolute destination")
    endif()
  endforeach()
  set_property(GLOBAL PROPERTY vcpkg_stub_build "${build}")
endfunction()

function(vcpkg_cmake_install)
  get_property(build GLOBAL PROPERTY vcpkg_stub_build)
  foreach(step "--build;${build}" "--install;${build}")
    execute_process(COMMAND "${CMAKE_COMMAND}" ${step} OUTPUT_QUIET RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      fail("cmake ${step} failed (${rc})")
    endif()
  endforeach()
endfunction()

# Moves the CMake package to share/<name> and fixes its relative paths for the new depth,
# as vcpkg's does (the generated hmrTargets.cmake and hmrConfig.cmake climb one level less).
function(vcpkg_cmake_config_fixup)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "CONFIG_PATH;PACKAGE_NAME" "")
  if(NOT arg_PACKAGE_NAME)
    set(arg_PACKAGE_NAME "${PORT}")
  endif()
  set(from "${CURRENT_PACKAGES_DIR}/${arg_CONFIG_PATH}")
  set(to "${CURRENT_PACKAGES_DIR}/share/${arg_PACKAGE_NAME}")
  if(NOT EXISTS "${from}")
    fail("vcpkg_cmake_config_fixup: ${arg_CONFIG_PATH} was not installed")
  endif()
  file(GLOB files "${from}/*")
  file(MAKE_DIRECTORY "${to}")
  foreach(file IN LISTS files)
    get_filename_component(file_name "${file}" NAME)
    file(RENAME "${file}" "${to}/${file_name}")
  endforeach()
  file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/share/cmake")
  file(GLOB targets "${to}/*Targets.cmake")
  foreach(file IN LISTS targets)
    file(READ "${file}" text)
    # share/<name> is two levels below the prefix: climb exactly twice.
    string(REPLACE "get_filename_component(_IMPORT_PREFIX \"\${_IMPORT_PREFIX}\" PATH)\n" ""
      text "${text}")
    string(REPLACE "get_filename_component(_IMPORT_PREFIX \"\${CMAKE_CURRENT_LIST_FILE}\" PATH)\n"
      "get_filename_component(_IMPORT_PREFIX \"\${CMAKE_CURRENT_LIST_FILE}\" PATH)\nget_filename_component(_IMPORT_PREFIX \"\${_IMPORT_PREFIX}\" PATH)\nget_filename_component(_IMPORT_PREFIX \"\${_IMPORT_PREFIX}\" PATH)\n"
      text "${text}")
    file(WRITE "${file}" "${text}")
  endforeach()
  file(GLOB configs "${to}/*Config.cmake")
  foreach(file IN LISTS configs)
    file(READ "${file}" text)
    string(REGEX REPLACE "(PACKAGE_PREFIX_DIR \"\\\${CMAKE_CURRENT_LIST_DIR}/)(\\.\\./)+\"" "\\1../../\""
      text "${text}")
    file(WRITE "${file}" "${text}")
  endforeach()
endfunction()

# vcpkg rewrites prefix= to ${pcfiledir}/../..; hmr.pc must already be relative like that.
function(vcpkg_fixup_pkgconfig)
  file(GLOB pcs "${CURRENT_PACKAGES_DIR}/share/pkgconfig/*.pc" "${CURRENT_PACKAGES_DIR}/lib/pkgconfig/*.pc")
  if(NOT pcs)
    fail("vcpkg_fixup_pkgconfig: no .pc file installed")
  endif()
  foreach(pc IN LISTS pcs)
    file(STRINGS "${pc}" prefix REGEX "^prefix=")
    if(NOT prefix STREQUAL "prefix=\${pcfiledir}/../..")
      fail("${pc}: '${prefix}' is not relative to the .pc file")
    endif()
  endforeach()
endfunction()

function(vcpkg_copy_tools)
  cmake_parse_arguments(PARSE_ARGV 0 arg "AUTO_CLEAN" "SEARCH_DIR;DESTINATION" "TOOL_NAMES")
  foreach(tool IN LISTS arg_TOOL_NAMES)
    if(NOT EXISTS "${CURRENT_PACKAGES_DIR}/bin/${tool}")
      fail("vcpkg_copy_tools: bin/${tool} was not installed")
    endif()
    file(MAKE_DIRECTORY "${CURRENT_PACKAGES_DIR}/tools/${PORT}")
    file(RENAME "${CURRENT_PACKAGES_DIR}/bin/${tool}" "${CURRENT_PACKAGES_DIR}/tools/${PORT}/${tool}")
  endforeach()
  if(arg_AUTO_CLEAN)
    file(GLOB left "${CURRENT_PACKAGES_DIR}/bin/*")
    if(NOT left)
      file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/bin")
    endif()
  endif()
endfunction()

function(vcpkg_install_copyright)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "" "FILE_LIST")
  set(text "")
  foreach(file IN LISTS arg_FILE_LIST)
    if(NOT EXISTS "${file}")
      fail("vcpkg_install_copyright: ${file} does not exist")
    endif()
    file(READ "${file}" content)
    string(APPEND text "${content}")
  endforeach()
  file(WRITE "${CURRENT_PACKAGES_DIR}/share/${PORT}/copyright" "${text}")
endfunction()

# --- the portfile ---
include("${port_dir}/portfile.cmake")

# --- vcpkg's post-build checks, and what the port promises ---
set(share "${CURRENT_PACKAGES_DIR}/share/${PORT}")
foreach(file include/hmr/hmr.hpp include/hmr/version.hpp share/${PORT}/hmrConfig.cmake
    share/${PORT}/hmrConfigVersion.cmake share/${PORT}/hmrTargets.cmake share/${PORT}/hmrModule.cmake
    share/${PORT}/usage share/${PORT}/copyright share/pkgconfig/hmr.pc)
  if(NOT EXISTS "${CURRENT_PACKAGES_DIR}/${file}")
    fail("${file} is missing from the installed tree")
  endif()
endforeach()
foreach(dir share/cmake debug lib bin)
  if(EXISTS "${CURRENT_PACKAGES_DIR}/${dir}")
    fail("${dir}/ must not be in the installed tree (vcpkg rejects or does not expect it)")
  endif()
endforeach()
if("cli" IN_LIST FEATURES)
  if(NOT EXISTS "${CURRENT_PACKAGES_DIR}/tools/${PORT}/hmr")
    fail("feature cli: tools/${PORT}/hmr is missing")
  endif()
elseif(EXISTS "${CURRENT_PACKAGES_DIR}/tools")
  fail("without the cli feature, tools/ must not be installed")
endif()
file(READ "${share}/copyright" copyright)
file(READ "${SRC}/LICENSE" license_text)
if(NOT copyright STREQUAL license_text)
  fail("share/${PORT}/copyright is not LICENSE")
endif()
# No installed text file may name the packages, build or source directory.
file(GLOB_RECURSE text_files "${CURRENT_PACKAGES_DIR}/share/*" "${CURRENT_PACKAGES_DIR}/include/*")
foreach(file IN LISTS text_files)
  file(READ "${file}" text)
  foreach(path "${CURRENT_PACKAGES_DIR}" "${WORK}" "${SRC}")
    string(FIND "${text}" "${path}" at)
    if(NOT at EQUAL -1)
      fail("${file} names ${path}")
    endif()
  endforeach()
endforeach()
message(STATUS "vcpkg port hmr[${FEATURES}]: portfile ran, ${CURRENT_PACKAGES_DIR} passes the checks")
