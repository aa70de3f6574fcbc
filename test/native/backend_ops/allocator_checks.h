// `test-backend-ops allocator`: checks of the engine's caching allocator (allocator_checks.cc).
#pragma once

// Runs every check, prints one line each; returns the number that failed.
int check_caching_allocator();
