// 3x3 / stride 1 / pad 1 max pooling: the heatmap NMS of CornerNet's decoder.
// Forward is separable (a row max of 3, then a column max of 3 over those);
// backward recomputes each window's argmax the way PyTorch's max_pool2d does.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu_backend.h"

namespace cn {

namespace {
// max that lets a NaN through from either side, as PyTorch's pooling does:
// a NaN in a heatmap must not be hidden by the NMS.
inline float nan_max(float a, float b) { return (b > a || b != b) ? b : a; }

void check_pool_shapes(const char* op, const Tensor& x, const Tensor& other, const char* other_name) {
  CN_CHECK(x.dim() == 4, op, ": x must be NCHW, got ", shape_str(x.shape()));
  CN_CHECK(other.shape() == x.shape(), op, ": ", other_name, " has shape ", shape_str(other.shape()),
           " but x has shape ", shape_str(x.shape()));
}

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
}  // namespace

void CpuBackend::maxpool3x3_forward(const Tensor& x, Tensor& y) {
  check_pool_shapes("maxpool3x3_forward", x, y, "y");
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  if (planes == 0 || H == 0 || W == 0) return;
  const float* xp = x.data();
  float* yp = y.data();
  pool_.parallel_for(planes, [&](int64_t b, int64_t e) {
    // Three rolling row-max rows: row r's lives in slot r % 3.
    std::vector<float> buf(3 * W);
    for (int64_t p = b; p < e; ++p) {
      const float* xs = xp + p * H * W;
      float* ys = yp + p * H * W;
      row_max3(xs, buf.data(), W);
      if (H > 1) row_max3(xs + W, buf.data() + W, W);
      for (int64_t i = 0; i < H; ++i) {
        if (i >= 1 && i + 1 < H) row_max3(xs + (i + 1) * W, buf.data() + ((i + 1) % 3) * W, W);
        const float* mid = buf.data() + (i % 3) * W;
        float* out = ys + i * W;
        const bool up = i > 0, down = i + 1 < H;
        const float* above = buf.data() + ((i + 2) % 3) * W;  // row i-1
        const float* below = buf.data() + ((i + 1) % 3) * W;  // row i+1
        if (up && down) {
          for (int64_t j = 0; j < W; ++j) out[j] = nan_max(nan_max(above[j], mid[j]), below[j]);
        } else if (up) {
          for (int64_t j = 0; j < W; ++j) out[j] = nan_max(above[j], mid[j]);
        } else if (down) {
          for (int64_t j = 0; j < W; ++j) out[j] = nan_max(mid[j], below[j]);
        } else {
          std::copy(mid, mid + W, out);
        }
      }
    }
  });
}

void CpuBackend::maxpool3x3_backward(const Tensor& x, const Tensor& gy, Tensor& gx) {
  check_pool_shapes("maxpool3x3_backward", x, gy, "gy");
  check_pool_shapes("maxpool3x3_backward", x, gx, "gx");
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const float* xp = x.data();
  const float* gyp = gy.data();
  float* gxp = gx.data();
  pool_.parallel_for(planes, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      const float* xs = xp + p * H * W;
      const float* gs = gyp + p * H * W;
      float* gd = gxp + p * H * W;
      std::fill(gd, gd + H * W, 0.f);
      for (int64_t i = 0; i < H; ++i) {
        const int64_t i0 = std::max<int64_t>(i - 1, 0), i1 = std::min<int64_t>(i + 1, H - 1);
        for (int64_t j = 0; j < W; ++j) {
          const int64_t j0 = std::max<int64_t>(j - 1, 0), j1 = std::min<int64_t>(j + 1, W - 1);
          // First maximum in row-major window order; a NaN takes over (PyTorch's rule).
          int64_t best = i0 * W + j0;
          float m = -std::numeric_limits<float>::infinity();
          for (int64_t a = i0; a <= i1; ++a)
            for (int64_t c = j0; c <= j1; ++c) {
              float v = xs[a * W + c];
              if (v > m || v != v) {
                m = v;
                best = a * W + c;
              }
            }
          gd[best] += gs[i * W + j];
        }
      }
    }
  });
}

}  // namespace cn
