// The CPU backend's CornerNet targets and losses: the host code of
// model/targets.cc and model/losses.cc (the reference the CUDA kernels are
// tested against), the losses' chunked sums spread over this backend's pool.
#include "../model/losses.h"
#include "../model/targets.h"
#include "cpu_backend.h"

namespace cn {

void CpuBackend::corner_targets(const std::vector<std::vector<GtBox>>& boxes, const TargetGeometry& g,
                                Tensor& tl_heatmap, Tensor& br_heatmap, Tensor& tl_offset, Tensor& br_offset,
                                Tensor& tl_mask, Tensor& br_mask, std::vector<std::vector<CornerMatch>>& match) {
  build_corner_targets_into(boxes, g, tl_heatmap, br_heatmap, tl_offset, br_offset, tl_mask, br_mask, match);
}

CornerHeadLosses CpuBackend::corner_head_losses(const CornerHeadTensors& out, const CornerTargets& targets,
                                                const CornerHeadLossWeights& w, CornerHeadTensors& grads,
                                                double grad_scale) {
  return cn::corner_head_losses(out, targets, w, grads, grad_scale, &pool_);
}

}  // namespace cn
