#pragma once

// `libraries [soname...]`: the optional-library loader's result as JSON (libraries.cc).
int run_libraries(int argc, char** argv);
