#include "ops.h"

namespace cn {

void register_ops(OpRegistry& r) {
  // [families: begin]
  register_elementwise_ops(r);
  register_batch_norm_ops(r);
  register_pool_ops(r);
  // [families: end]
  r.add_timer("timeKernel");
}

}  // namespace cn
