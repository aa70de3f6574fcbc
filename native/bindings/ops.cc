#include "ops.h"

namespace cn {

void register_ops(OpRegistry& r) {
  // [families: begin]
  register_targets_ops(r);
  register_losses_ops(r);
  register_safetensors_io(r);
  // [families: end]
  (void)r;
}

}  // namespace cn
