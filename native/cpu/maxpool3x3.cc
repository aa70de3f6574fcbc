// 3x3 / stride 1 / pad 1 max pooling: the heatmap NMS of CornerNet's decoder.
// Forward is separable (a row max of 3, then a column max of 3 over those);
// backward recomputes each window's argmax the way PyTorch's max_pool2d does.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "cpu_backend.h"

namespace cn {

namespace {
// max that lets a NaN through from either side, as PyTorch's pooling does:
// a NaN in a heatmap must not be hidden by the NMS.
inline float nan_max(float a, float b) { return (b > a || b != b) ? b : a; }

// h[j] = max(x[j-1], x[j], x[j+1]) over the columns that exist.
void row_max3(const float* x, float* h, int64_t W) {
  if (W == 1) {
    h[0] = x[0];
    return;
  }
  h[0] = nan_max(x[0], x[1]);
  for (int64_t j = 1; j + 1 < W; ++j) h[j] = nan_max(nan_max(x[j - 1], x[j]), x[j + 1]);
  h[W - 1] = nan_max(x[W - 2], x[W - 1]);
}

// Planes [b, e). Pointers and sizes are parameters, not captured references:
// under the build's -fno-strict-aliasing a float store could otherwise change
// them, and the loops would reload them every iteration instead of vectorising.
void maxpool_planes(const float* xp, float* yp, int64_t H, int64_t W, int64_t b, int64_t e) {
  // Three rolling row-max rows: row r's lives in slot r % 3.
  std::vector<float> buf(3 * W);
  float* rows = buf.data();
  for (int64_t p = b; p < e; ++p) {
    const float* xs = xp + p * H * W;
    float* ys = yp + p * H * W;
    row_max3(xs, rows, W);
    if (H > 1) row_max3(xs + W, rows + W, W);
    for (int64_t i = 0; i < H; ++i) {
      if (i >= 1 && i + 1 < H) row_max3(xs + (i + 1) * W, rows + ((i + 1) % 3) * W, W);
      const float* mid = rows + (i % 3) * W;
      const float* above = rows + ((i + 2) % 3) * W;  // row i-1
      const float* below = rows + ((i + 1) % 3) * W;  // row i+1
      float* out = ys + i * W;
      const bool up = i > 0, down = i + 1 < H;
      if (up && down) {
        for (int64_t j = 0; j < W; ++j) out[j] = nan_max(nan_max(above[j], mid[j]), below[j]);
      } else if (up) {
        for (int64_t j = 0; j < W; ++j) out[j] = nan_max(above[j], mid[j]);
      } else if (down) {
        for (int64_t j = 0; j < W; ++j) out[j] = nan_max(mid[j], below[j]);
      } else {
        for (int64_t j = 0; j < W; ++j) out[j] = mid[j];
      }
    }
  }
}

// Output (i, j)'s gradient goes to the first maximum of its window in
// row-major order, a NaN taking over (PyTorch's rule).
inline void window_backward(const float* xs, const float* gs, float* gd, int64_t H, int64_t W, int64_t i, int64_t j) {
  const int64_t i0 = i > 0 ? i - 1 : 0, i1 = i + 1 < H ? i + 1 : H - 1;
  const int64_t j0 = j > 0 ? j - 1 : 0, j1 = j + 1 < W ? j + 1 : W - 1;
  int64_t best = i0 * W + j0;
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t a = i0; a <= i1; ++a)
    for (int64_t c = j0; c <= j1; ++c) {
      const float v = xs[a * W + c];
      const bool take = (v > m) | (v != v);
      m = take ? v : m;
      best = take ? a * W + c : best;
    }
  gd[best] += gs[i * W + j];
}

void maxpool_backward_planes(const float* xp, const float* gyp, float* gxp, int64_t H, int64_t W, int64_t b,
                             int64_t e) {
  // Interior windows: the argmax (0..8, row-major in the window) is found for
  // a whole row at once, a select per window position that vectorises; only
  // the gradient accumulation that follows is scalar.
  std::vector<int32_t> codes(W > 0 ? W : 1);
  int32_t* code = codes.data();
  for (int64_t p = b; p < e; ++p) {
    const float* xs = xp + p * H * W;
    const float* gs = gyp + p * H * W;
    float* gd = gxp + p * H * W;
    for (int64_t k = 0; k < H * W; ++k) gd[k] = 0.f;
    for (int64_t i = 0; i < H; ++i) {
      if (i == 0 || i + 1 == H || W < 3) {
        for (int64_t j = 0; j < W; ++j) window_backward(xs, gs, gd, H, W, i, j);
        continue;
      }
      window_backward(xs, gs, gd, H, W, i, 0);
      const float* r0 = xs + (i - 1) * W - 1;  // r0[j] is the window's top-left for output column j
      for (int64_t j = 1; j + 1 < W; ++j) {
        float m = -std::numeric_limits<float>::infinity();
        int32_t best = 0;
        for (int a = 0; a < 3; ++a)
          for (int c = 0; c < 3; ++c) {
            const float v = r0[a * W + j + c];
            const bool take = (v > m) | (v != v);
            m = take ? v : m;
            best = take ? a * 3 + c : best;
          }
        code[j] = best;
      }
      for (int64_t j = 1; j + 1 < W; ++j) gd[(i - 1 + code[j] / 3) * W + j - 1 + code[j] % 3] += gs[i * W + j];
      window_backward(xs, gs, gd, H, W, i, W - 1);
    }
  }
}
}  // namespace

void CpuBackend::run_maxpool3x3_forward(const Tensor& x, Tensor& y) {
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  if (planes == 0 || H == 0 || W == 0) return;
  const float* xp = x.data();
  float* yp = y.data();
  pool_.parallel_for(planes, [=](int64_t b, int64_t e) { maxpool_planes(xp, yp, H, W, b, e); });
}

void CpuBackend::run_maxpool3x3_backward(const Tensor& x, const Tensor& gy, Tensor& gx) {
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const float* xp = x.data();
  const float* gyp = gy.data();
  float* gxp = gx.data();
  pool_.parallel_for(planes, [=](int64_t b, int64_t e) { maxpool_backward_planes(xp, gyp, gxp, H, W, b, e); });
}

}  // namespace cn
