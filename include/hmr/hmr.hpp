// The umbrella header: every hmr component of a runner, and the app side's runtime and
// module loader (a hot-reloadable library itself includes only <hmr/module_api.hpp>).
// Include single headers to build faster.
#pragma once

#include <hmr/ansi_presenter.hpp>
#include <hmr/cmake_project.hpp>
#include <hmr/command_strategy.hpp>
#include <hmr/debouncer.hpp>
#include <hmr/diagnostics.hpp>
#include <hmr/events.hpp>
#include <hmr/filters.hpp>
#include <hmr/gitignore.hpp>
#include <hmr/glob.hpp>
#include <hmr/hybrid_strategy.hpp>
#include <hmr/json_presenter.hpp>
#include <hmr/module.hpp>
#include <hmr/orchestrator.hpp>
#include <hmr/presenter.hpp>
#include <hmr/process.hpp>
#include <hmr/restart_strategy.hpp>
#include <hmr/runtime.hpp>
#include <hmr/signals.hpp>
#include <hmr/strategy.hpp>
#include <hmr/terminal.hpp>
#include <hmr/version.hpp>
#include <hmr/watcher.hpp>
