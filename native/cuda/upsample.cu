// Nearest-neighbour 2x upsampling and its backward on the GPU, both as
// gathers: forward one thread per output element (reads its source), backward
// one thread per input element (sums its 2x2 block of gy in the CPU's order,
// (top-left + top-right) + (bottom-left + bottom-right)), so nothing is
// accumulated with atomics and the result is the CPU's bit for bit.
#include <cstdint>

#include "cuda_ops.h"

namespace cn {
namespace cuda {

namespace {

// y has `rows` = planes * 2H rows of 2W; output (r, j) reads input row r/2 of
// the same plane (plane rows are contiguous, so the flat input row is r / 2).
__global__ void upsample2x_forward_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t out_rows,
                                          int64_t W) {
  const int64_t W2 = 2 * W, n = out_rows * W2;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / W2, j = i % W2;
    y[i] = x[(r / 2) * W + j / 2];
  }
}

// gx has `rows` = planes * H rows of W; input row r owns output rows 2r, 2r+1.
__global__ void upsample2x_backward_kernel(const float* __restrict__ gy, float* __restrict__ gx, int64_t rows,
                                           int64_t W) {
  const int64_t n = rows * W;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / W, j = i % W;
    const float* a = gy + r * 4 * W + 2 * j;  // output row 2r, column 2j
    const float* c = a + 2 * W;               // output row 2r + 1
    gx[i] = (a[0] + a[1]) + (c[0] + c[1]);
  }
}
}  // namespace

void upsample2x_forward(Ctx& ctx, const Tensor& x, Tensor& y) {
  const int64_t rows = x.size(0) * x.size(1) * x.size(2), W = x.size(3);
  if (rows == 0 || W == 0) return;
  CN_LAUNCH(upsample2x_forward_kernel, grid_for(4 * rows * W), kThreads, 0, ctx.stream)(x.data(), y.data(),
                                                                                        2 * rows, W);
  CN_CUDA_CHECK(cudaGetLastError());
}

void upsample2x_backward(Ctx& ctx, const Tensor& gy, Tensor& gx) {
  const int64_t rows = gx.size(0) * gx.size(1) * gx.size(2), W = gx.size(3);
  if (rows == 0 || W == 0) return;
  CN_LAUNCH(upsample2x_backward_kernel, grid_for(rows * W), kThreads, 0, ctx.stream)(gy.data(), gx.data(), rows, W);
  CN_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace cn
