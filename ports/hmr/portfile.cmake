# hmr as a vcpkg overlay port: vcpkg install hmr[cli] --overlay-ports=<hmr checkout>/ports
#
# hmr has no published release to download yet, so the port builds the checkout it lives
# in (ports/hmr/../..). Once releases exist, replace the next line with
#   vcpkg_from_github(OUT_SOURCE_PATH SOURCE_PATH REPO <owner>/hmr REF "v${VERSION}"
#                     SHA512 <sha512 of the release archive> HEAD_REF main)
# vcpkg's binary cache keys on this port's files, not on the checkout: after editing hmr,
# reinstall with --no-binarycaching (or bump port-version).
get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
if(NOT EXISTS "${SOURCE_PATH}/include/hmr/version.hpp")
  message(FATAL_ERROR "ports/hmr must stay inside an hmr checkout (no ${SOURCE_PATH}/include/hmr)")
endif()

# Headers and a release-only tool: nothing differs between debug and release.
set(VCPKG_BUILD_TYPE release)

vcpkg_check_features(OUT_FEATURE_OPTIONS FEATURE_OPTIONS
  FEATURES
    cli HMR_BUILD_CLI)

vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    -DHMR_BUILD_TESTS=OFF
    -DHMR_BUILD_EXAMPLES=OFF
    ${FEATURE_OPTIONS})
vcpkg_cmake_install()

# share/cmake/hmr -> share/hmr (hmrConfig.cmake, hmrTargets.cmake, hmrModule.cmake).
vcpkg_cmake_config_fixup(CONFIG_PATH share/cmake/hmr)
vcpkg_fixup_pkgconfig()

if("cli" IN_LIST FEATURES)
  # bin/hmr -> tools/hmr/hmr, where vcpkg keeps executables.
  vcpkg_copy_tools(TOOL_NAMES hmr AUTO_CLEAN)
endif()

file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")

# hmr is MIT-licensed: share/hmr/copyright is its LICENSE.
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
