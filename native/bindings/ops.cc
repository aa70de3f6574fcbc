#include "ops.h"

namespace cn {

void register_ops(OpRegistry& r) {
  // [families: begin]
  register_conv_ops(r);
  // [families: end]
  register_optimizer_ops(r);
}

}  // namespace cn
