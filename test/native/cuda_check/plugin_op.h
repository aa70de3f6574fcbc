#pragma once
#include <memory>
#include <string>

#include "../../../native/engine/backend.h"

// Loads a backend plugin, probes it and creates its backend for `device`; throws with the reason.
std::unique_ptr<cn::Backend> open_backend(const std::string& plugin_path, int device);

int run_probe(const std::string& plugin_path);
int run_op(int argc, char** argv);
int run_memory(const std::string& plugin_path, int device);
// `nccl-group <plugin.so> <ranks> <dead-rank>`: the NCCL ProcessGroup through the plugin (nccl_group.cc).
int run_nccl_group(const std::string& plugin_path, int ranks, int dead_rank);
