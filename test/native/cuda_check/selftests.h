#pragma once
#include <string>

// Runs one emulator self-test by name; returns the process exit status.
int run_selftest(const std::string& name);
