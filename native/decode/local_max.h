// The heat-map "NMS" of CornerNet: sigmoid, then keep a value only where it equals
// the max over its kernel x kernel window (max_pool2d, stride 1, padding
// (kernel-1)/2, padded cells ignored), zero elsewhere.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

namespace cn::decode {

struct Corner {
  float score;
  int64_t index;  // into the flattened [C, H, W] map
};

// The one sigmoid of the decoder: both ranking paths (topk.cc) must agree bit for bit.
inline float sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }

// Whether `cell` of channel map `logits` [H, W] survives the local-maximum test:
// its sigmoid equals the max of the sigmoids in its window (ties survive).
bool is_local_max(const float* logits, int H, int W, int kernel, int64_t cell);

// Orders corners as the decoder ranks them: higher score first, then lower index.
inline bool corner_before(const Corner& a, const Corner& b) {
  return a.score > b.score || (a.score == b.score && a.index < b.index);
}

// One channel: `logits` [H, W]. Appends every surviving position with a positive
// score to `kept` (index = base + y * W + x). `sig` and `rowmax` are scratch of
// H * W floats. Returns false (and stops) at the first NaN logit.
bool sigmoid_local_max(const float* logits, int H, int W, int kernel, int64_t base, float* sig, float* rowmax,
                       std::vector<Corner>& kept);

}  // namespace cn::decode
