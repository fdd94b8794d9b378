// The umbrella header: every hmr component. Include single headers to build faster.
#pragma once

#include <hmr/version.hpp>
#include <hmr/events.hpp>
