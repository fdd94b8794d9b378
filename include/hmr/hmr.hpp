// The umbrella header: every hmr component. Include single headers to build faster.
#pragma once

#include <hmr/events.hpp>
#include <hmr/version.hpp>
