#pragma once
#include <string>

int run_probe(const std::string& plugin_path);
int run_op(int argc, char** argv);
