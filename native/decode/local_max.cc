#include "local_max.h"

#include <algorithm>
#include <cmath>

namespace cn::decode {

bool is_local_max(const float* logits, int H, int W, int kernel, int64_t cell) {
  const int pad = (kernel - 1) / 2;
  const int y = static_cast<int>(cell / W), x = static_cast<int>(cell % W);
  const float s = sigmoid(logits[cell]);
  for (int yy = std::max(0, y - pad); yy <= std::min(H - 1, y + pad); ++yy)
    for (int xx = std::max(0, x - pad); xx <= std::min(W - 1, x + pad); ++xx)
      // Compared after the sigmoid, as the reference pools probabilities: distinct
      // logits can round to the same probability and then both survive.
      if (sigmoid(logits[static_cast<int64_t>(yy) * W + xx]) > s) return false;
  return true;
}

bool sigmoid_local_max(const float* logits, int H, int W, int kernel, int64_t base, float* sig, float* rowmax,
                       std::vector<Corner>& kept) {
  const int64_t hw = static_cast<int64_t>(H) * W;
  for (int64_t i = 0; i < hw; ++i) {
    const float x = logits[i];
    if (std::isnan(x)) return false;
    sig[i] = sigmoid(x);
  }
  const int pad = (kernel - 1) / 2;
  // Max is separable: along rows first, then along columns of the row maxima.
  for (int y = 0; y < H; ++y) {
    const float* s = sig + static_cast<int64_t>(y) * W;
    float* r = rowmax + static_cast<int64_t>(y) * W;
    for (int x = 0; x < W; ++x) {
      const int x0 = std::max(0, x - pad), x1 = std::min(W - 1, x + pad);
      float m = s[x0];
      for (int xx = x0 + 1; xx <= x1; ++xx) m = std::max(m, s[xx]);
      r[x] = m;
    }
  }
  for (int y = 0; y < H; ++y) {
    const int y0 = std::max(0, y - pad), y1 = std::min(H - 1, y + pad);
    for (int x = 0; x < W; ++x) {
      float m = rowmax[static_cast<int64_t>(y0) * W + x];
      for (int yy = y0 + 1; yy <= y1; ++yy) m = std::max(m, rowmax[static_cast<int64_t>(yy) * W + x]);
      const int64_t i = static_cast<int64_t>(y) * W + x;
      if (m == sig[i] && sig[i] > 0.f) kept.push_back({sig[i], base + i});
    }
  }
  return true;
}

}  // namespace cn::decode
