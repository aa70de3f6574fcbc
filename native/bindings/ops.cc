#include "ops.h"

namespace cn {

void register_ops(OpRegistry& r) {
  // [families: begin]
  register_conv_ops(r);
  register_elementwise_ops(r);
  register_batch_norm_ops(r);
  register_pool_ops(r);
  register_targets_ops(r);
  register_losses_ops(r);
  register_safetensors_io(r);
  register_data_ops(r);
  // [families: end]
  register_optimizer_ops(r);
  r.add_timer("timeKernel");  // last: it times any op registered above
}

}  // namespace cn
