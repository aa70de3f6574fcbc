// The CPU backend's corner_head_losses: model/losses.cc on the host (the
// reference the CUDA kernels are tested against), its chunked sums spread over
// this backend's pool (results do not depend on the thread count).
#include "../model/losses.h"
#include "cpu_backend.h"

namespace cn {

CornerHeadLosses CpuBackend::run_corner_head_losses(const CornerHeadTensors& out, const CornerTargets& targets,
                                                    const CornerHeadLossWeights& w, CornerHeadTensors& grads,
                                                    double grad_scale) {
  return cn::corner_head_losses(out, targets, w, grads, grad_scale, &pool_);
}

}  // namespace cn
