// Nearest-neighbour 2x upsampling (the hourglass's merge path) and its
// backward, a 2x2 block sum. Work is split by input rows: each writes or reads
// two whole output rows, so threads never share a cache line of the output.
#include <algorithm>
#include <cstring>

#include "cpu_backend.h"

namespace cn {

namespace {
// Rows per chunk: about 64K output floats at W = 128.
int64_t row_grain(int64_t w) { return std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, w)); }

// Pointers and sizes as parameters, not captured references: under the
// build's -fno-strict-aliasing a float store could otherwise change them, and
// the loops would reload them every iteration instead of vectorising.
void upsample_rows(const float* x, float* y, int64_t W, int64_t b, int64_t e) {
  for (int64_t r = b; r < e; ++r) {
    const float* src = x + r * W;
    float* top = y + r * 4 * W;  // output rows 2r and 2r+1 of the flattened planes
    for (int64_t j = 0; j < W; ++j) top[2 * j] = top[2 * j + 1] = src[j];
    std::memcpy(top + 2 * W, top, 2 * W * sizeof(float));
  }
}

void block_sum_rows(const float* gy, float* gx, int64_t W, int64_t b, int64_t e) {
  for (int64_t r = b; r < e; ++r) {
    const float* a = gy + r * 4 * W;
    const float* c = a + 2 * W;
    float* dst = gx + r * W;
    for (int64_t j = 0; j < W; ++j) dst[j] = (a[2 * j] + a[2 * j + 1]) + (c[2 * j] + c[2 * j + 1]);
  }
}
}  // namespace

void CpuBackend::run_upsample2x_forward(const Tensor& x, Tensor& y) {
  const int64_t H = x.size(2), W = x.size(3);
  const float* xp = x.data();
  float* yp = y.data();
  const int64_t rows = x.size(0) * x.size(1) * H;  // input rows over all planes
  pool_.parallel_for(rows, [=](int64_t b, int64_t e) { upsample_rows(xp, yp, W, b, e); }, row_grain(W));
}

void CpuBackend::run_upsample2x_backward(const Tensor& gy, Tensor& gx) {
  const int64_t H = gx.size(2), W = gx.size(3);
  const float* gyp = gy.data();
  float* gxp = gx.data();
  const int64_t rows = gx.size(0) * gx.size(1) * H;
  pool_.parallel_for(rows, [=](int64_t b, int64_t e) { block_sum_rows(gyp, gxp, W, b, e); }, row_grain(W));
}

}  // namespace cn
