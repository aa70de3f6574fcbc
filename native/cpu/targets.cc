// The CPU backend's corner_targets: model/targets.cc on the host (the reference
// the CUDA kernels are tested against).
#include "../model/targets.h"
#include "cpu_backend.h"

namespace cn {

void CpuBackend::run_corner_targets(const std::vector<std::vector<GtBox>>& boxes, const TargetGeometry& g,
                                    Tensor& tl_heatmap, Tensor& br_heatmap, Tensor& tl_offset, Tensor& br_offset,
                                    Tensor& tl_mask, Tensor& br_mask, std::vector<std::vector<CornerMatch>>& match) {
  build_corner_targets_into(boxes, g, tl_heatmap, br_heatmap, tl_offset, br_offset, tl_mask, br_mask, match);
}

}  // namespace cn
