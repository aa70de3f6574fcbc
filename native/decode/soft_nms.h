// Soft-NMS as mmcv's CPU kernel (ops/csrc/pytorch/cpu/nms.cpp softnms_cpu), made
// class-aware the way mmcv's batched_nms does it: every box is shifted by
// label * (max coordinate + 1) so boxes of different classes never overlap.
// The float32 arithmetic follows the reference step by step, because the shift
// and the in-place reordering both change which box wins near-ties.
#pragma once
#include <cstdint>
#include <vector>

namespace cn::decode {

enum class SoftNmsMethod : int { Naive = 0, Linear = 1, Gaussian = 2 };

struct SoftNmsParams {
  SoftNmsMethod method = SoftNmsMethod::Gaussian;
  float iou_threshold = 0.5f;  // used by naive and linear only
  float sigma = 0.5f;          // gaussian: weight = exp(-iou^2 / sigma)
  float min_score = 1e-3f;     // boxes whose rescored score drops below are discarded
  int offset = 0;              // box width = x2 - x1 + offset (mmdet: 0)
};

struct SoftNmsResult {
  std::vector<int64_t> keep;   // indices into the input, in selection order
  std::vector<float> scores;   // rescored score of each kept box
};

// boxes: n x 4 (x1, y1, x2, y2). Scores are not modified.
SoftNmsResult soft_nms(const float* boxes, const float* scores, int64_t n, const SoftNmsParams& p);

// Class-aware: labels shift the boxes apart first (mmcv batched_nms).
SoftNmsResult batched_soft_nms(const float* boxes, const float* scores, const int32_t* labels, int64_t n,
                               const SoftNmsParams& p);

}  // namespace cn::decode
