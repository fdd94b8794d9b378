// hmr's version, for code that must adapt to it.
#pragma once

/// hmr's major version: incremented on incompatible API changes.
#define HMR_VERSION_MAJOR 0
/// hmr's minor version: incremented when features are added.
#define HMR_VERSION_MINOR 1
/// hmr's patch version: incremented for fixes.
#define HMR_VERSION_PATCH 0

namespace hmr {
/// The version as text, "0.1.0": the same as the build systems' project version.
inline constexpr const char* version_string = "0.1.0";
}  // namespace hmr
