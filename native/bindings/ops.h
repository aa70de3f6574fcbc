// One registration function per family of ops; each lives in its own file
// (ops_<family>.cc) and adds `name` / `nameAsync` pairs to the `ops` object.
#pragma once
#include "op_call.h"

namespace cn {

void register_ops(OpRegistry& r);  // ops.cc: calls every family below
[[maybe_unused]] void register_conv_ops(OpRegistry& r);
[[maybe_unused]] void register_elementwise_ops(OpRegistry& r);
[[maybe_unused]] void register_batch_norm_ops(OpRegistry& r);
[[maybe_unused]] void register_pool_ops(OpRegistry& r);
void register_optimizer_ops(OpRegistry& r);
void register_targets_ops(OpRegistry& r);
void register_losses_ops(OpRegistry& r);
void register_safetensors_io(OpRegistry& r);
void register_data_ops(OpRegistry& r);  // ops_data.cc: data-pipeline pixel ops

}  // namespace cn
