// 3x3 / stride 1 / pad 1 max pooling on the GPU (CornerNet's heatmap NMS).
// Semantics are the CPU's (native/cpu/maxpool3x3.cc), to the bit:
//   forward: max over the window's cells that exist (padding never wins), each
//     row folded left to right, then the rows top to bottom, with a max that
//     lets a NaN through from either side; the fold order is the CPU's, so
//     even the sign of a zero and which NaN comes out agree;
//   backward: each output's gradient goes to the first maximum of its window
//     in row-major order, except that every NaN takes over (so the last NaN
//     of the window wins), exactly the CPU's/PyTorch's scan.
// Backward is a gather, no atomics: one kernel writes each output's argmax
// (0..8 in its window) to scratch, a second has each input sum, over the
// outputs whose window holds it in row-major order, the gradients whose argmax
// it is, starting from 0 as the CPU's scatter does: the same sums in the same order.
#include <cstdint>

#include "cuda_ops.h"

namespace cn {
namespace cuda {

namespace {

__device__ __forceinline__ float nan_max(float a, float b) { return (b > a || b != b) ? b : a; }

// The rows i0..i1 and columns j0..j1 of output (i, j)'s 3x3 window that exist (padding never wins).
struct Window3 {
  int i0, i1, j0, j1;
};
__device__ __forceinline__ Window3 window3(int i, int j, int H, int W) {
  return {i > 0 ? i - 1 : 0, i + 1 < H ? i + 1 : H - 1, j > 0 ? j - 1 : 0, j + 1 < W ? j + 1 : W - 1};
}

__global__ void maxpool3x3_forward_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n, int H,
                                          int W) {
  const int64_t hw = static_cast<int64_t>(H) * W;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float* xs = x + (t / hw) * hw;
    const int i = static_cast<int>((t % hw) / W), j = static_cast<int>(t % W);
    const Window3 win = window3(i, j, H, W);
    const int i0 = win.i0, i1 = win.i1, j0 = win.j0, j1 = win.j1;
    float col = 0.f;
    for (int a = i0; a <= i1; ++a) {
      const float* row = xs + static_cast<int64_t>(a) * W;
      float r = row[j0];
      for (int c = j0 + 1; c <= j1; ++c) r = nan_max(r, row[c]);
      col = a == i0 ? r : nan_max(col, r);
    }
    y[t] = col;
  }
}

// arg[t] = the window position (3 * (row - i + 1) + (col - j + 1)) that output t's gradient goes to.
__global__ void maxpool3x3_argmax_kernel(const float* __restrict__ x, int* __restrict__ arg, int64_t n, int H,
                                         int W) {
  const int64_t hw = static_cast<int64_t>(H) * W;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float* xs = x + (t / hw) * hw;
    const int i = static_cast<int>((t % hw) / W), j = static_cast<int>(t % W);
    const Window3 win = window3(i, j, H, W);
    const int i0 = win.i0, i1 = win.i1, j0 = win.j0, j1 = win.j1;
    float m = -INFINITY;
    int best = 3 * (i0 - i + 1) + (j0 - j + 1);  // all -inf: the first cell
    for (int a = i0; a <= i1; ++a)
      for (int c = j0; c <= j1; ++c) {
        const float v = xs[static_cast<int64_t>(a) * W + c];
        if (v > m || v != v) {
          m = v;
          best = 3 * (a - i + 1) + (c - j + 1);
        }
      }
    arg[t] = best;
  }
}

__global__ void maxpool3x3_gather_kernel(const int* __restrict__ arg, const float* __restrict__ gy,
                                         float* __restrict__ gx, int64_t n, int H, int W) {
  const int64_t hw = static_cast<int64_t>(H) * W;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t plane = (t / hw) * hw;
    const int i = static_cast<int>((t % hw) / W), j = static_cast<int>(t % W);
    float acc = 0.f;
    // Outputs (oi, oj) around (i, j) in row-major order; this input is cell
    // 3 * (i - oi + 1) + (j - oj + 1) of their windows.
    for (int oi = i - 1; oi <= i + 1; ++oi) {
      if (oi < 0 || oi >= H) continue;
      for (int oj = j - 1; oj <= j + 1; ++oj) {
        if (oj < 0 || oj >= W) continue;
        const int64_t o = plane + static_cast<int64_t>(oi) * W + oj;
        if (arg[o] == 3 * (i - oi + 1) + (j - oj + 1)) acc += gy[o];
      }
    }
    gx[t] = acc;
  }
}
}  // namespace

void maxpool3x3_forward(Ctx& ctx, const Tensor& x, Tensor& y) {
  const int64_t n = x.numel();
  if (n == 0) return;
  const int H = static_cast<int>(x.size(2)), W = static_cast<int>(x.size(3));
  CN_LAUNCH(maxpool3x3_forward_kernel, grid_for(n), kThreads, 0, ctx.stream)(x.data(), y.data(), n, H, W);
  CN_CUDA_CHECK(cudaGetLastError());
}

void maxpool3x3_backward(Ctx& ctx, const Tensor& x, const Tensor& gy, Tensor& gx) {
  const int64_t n = x.numel();
  if (n == 0) return;
  const int H = static_cast<int>(x.size(2)), W = static_cast<int>(x.size(3));
  // One int per output, in a float tensor's storage (same size, 4-byte aligned).
  static_assert(sizeof(int) == sizeof(float), "argmax codes share a float tensor's storage");
  Tensor scratch = ctx.alloc(x.shape());
  int* arg = reinterpret_cast<int*>(scratch.data());
  CN_LAUNCH(maxpool3x3_argmax_kernel, grid_for(n), kThreads, 0, ctx.stream)(x.data(), arg, n, H, W);
  CN_CUDA_CHECK(cudaGetLastError());
  CN_LAUNCH(maxpool3x3_gather_kernel, grid_for(n), kThreads, 0, ctx.stream)(arg, gy.data(), gx.data(), n, H, W);
  CN_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace cn
