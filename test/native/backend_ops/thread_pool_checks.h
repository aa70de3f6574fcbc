// `test-backend-ops threads`: checks of the engine's thread pool (thread_pool_checks.cc).
#pragma once

// Runs every check, prints one line each; returns the number that failed.
int check_thread_pool();
