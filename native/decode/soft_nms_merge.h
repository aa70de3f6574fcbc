// Soft-NMS with box merging, as the original CornerNet's multi-scale test ran it
// (princeton-vl/CornerNet external/nms.pyx soft_nms_merge, used per class): every
// box a kept box rescores also pulls the kept box's corners towards its own,
// top-left coordinates weighted by top-left corner scores and bottom-right by
// bottom-right ones, each times (1 - weight)^weight_exp.
//
// Its own rules, unlike mmcv's soft-NMS: IoU with +1 pixel sizes by default;
// only boxes that overlap the kept box are rescored, merged or discarded (a
// non-overlapping box below min_score survives); linear/naive use iou > threshold.
// One deliberate difference from the Cython: there, row swaps move columns 0-4
// only, so after a swap a box is merged with another row's corner scores; here
// corner scores stay with their box.
#pragma once
#include <cstdint>
#include <vector>

#include "soft_nms.h"

namespace cn::decode {

struct SoftNmsMergeParams {
  SoftNmsMethod method = SoftNmsMethod::Gaussian;
  float iou_threshold = 0.5f;  // Nt (CornerNet-multi_scale.json: 0.5)
  float sigma = 0.5f;
  float min_score = 1e-3f;
  float weight_exp = 10.f;     // CornerNet-multi_scale.json
  int offset = 1;
};

struct SoftNmsMergeResult {
  std::vector<int64_t> keep;  // input index of each kept box, in selection order per class
  std::vector<float> boxes;   // merged boxes, 4 per kept box
  std::vector<float> scores;  // rescored scores
  std::vector<int32_t> labels;
};

// boxes n x 4, scores n, corner_scores n x 2 (top-left, bottom-right), labels n
// (classes are processed separately, as the original loops over categories).
// The result is sorted by descending score (stable: class, then selection order).
SoftNmsMergeResult soft_nms_merge(const float* boxes, const float* scores, const float* corner_scores,
                                  const int32_t* labels, int64_t n, const SoftNmsMergeParams& p);

}  // namespace cn::decode
