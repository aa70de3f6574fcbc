// Batch-norm plane loops built with this file's ISA flags.
#define CN_BN_LANES 8
#include "batch_norm_planes_impl.inc"

namespace cn {
const BatchNormPlaneKernels& batch_norm_planes_avx512() {
  static const BatchNormPlaneKernels k{sum, sq_dev, sum_and_dot_centered, normalise, grad_x};
  return k;
}
}  // namespace cn
