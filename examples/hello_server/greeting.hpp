// Edit the greeting and save: hmr rebuilds hello_server and restarts it.
#pragma once

/// What hello_server answers every request with.
inline constexpr const char* greeting = "Hello from hmr!";
