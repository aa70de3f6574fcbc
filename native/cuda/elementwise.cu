// ReLU, add and sigmoid on the GPU: one grid-stride loop per op, memory-bound.
// Each element's arithmetic is the CPU's (native/cpu/elementwise.cc), so the
// results agree bit for bit except sigmoid's exponential (expf, within 2 ulp).
#include <cstdint>

#include "cuda_ops.h"

namespace cn {
namespace cuda {

namespace {

__global__ void relu_forward_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float v = x[i];
    // NaN passes through so a diverging network stays visible; -0 becomes +0 as on the CPU.
    y[i] = (v > 0.f || v != v) ? v : 0.f;
  }
}

__global__ void relu_backward_kernel(const float* __restrict__ y, const float* __restrict__ gy,
                                     float* __restrict__ gx, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    gx[i] = y[i] > 0.f ? gy[i] : 0.f;  // a NaN output passes no gradient, as on the CPU
}

__global__ void add_kernel(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ y,
                           int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    y[i] = a[i] + b[i];
}

__global__ void sigmoid_forward_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    // 1/(1+t) for v >= 0 and t/(1+t) below, t = e^-|v|: the exponent is never
    // positive, so nothing overflows, and very negative v keeps its relative
    // precision instead of 1 - (something near 1). NaN comes back unchanged.
    const float v = x[i];
    const float t = expf(-fabsf(v));
    const float s = 1.f / (1.f + t);
    y[i] = v != v ? v : (v >= 0.f ? s : t * s);
  }
}

__global__ void sigmoid_backward_kernel(const float* __restrict__ y, const float* __restrict__ gy,
                                        float* __restrict__ gx, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float v = y[i];
    gx[i] = gy[i] * v * (1.f - v);  // (gy * y) * (1 - y), the CPU's order
  }
}
}  // namespace

void relu_forward(Ctx& ctx, const Tensor& x, Tensor& y) {
  const int64_t n = x.numel();
  if (n == 0) return;
  CN_LAUNCH(relu_forward_kernel, grid_for(n), kThreads, 0, ctx.stream)(x.data(), y.data(), n);
  CN_CUDA_CHECK(cudaGetLastError());
}

void relu_backward(Ctx& ctx, const Tensor& y, const Tensor& gy, Tensor& gx) {
  const int64_t n = y.numel();
  if (n == 0) return;
  CN_LAUNCH(relu_backward_kernel, grid_for(n), kThreads, 0, ctx.stream)(y.data(), gy.data(), gx.data(), n);
  CN_CUDA_CHECK(cudaGetLastError());
}

void add_forward(Ctx& ctx, const Tensor& a, const Tensor& b, Tensor& y) {
  const int64_t n = a.numel();
  if (n == 0) return;
  CN_LAUNCH(add_kernel, grid_for(n), kThreads, 0, ctx.stream)(a.data(), b.data(), y.data(), n);
  CN_CUDA_CHECK(cudaGetLastError());
}

void sigmoid_forward(Ctx& ctx, const Tensor& x, Tensor& y) {
  const int64_t n = x.numel();
  if (n == 0) return;
  CN_LAUNCH(sigmoid_forward_kernel, grid_for(n), kThreads, 0, ctx.stream)(x.data(), y.data(), n);
  CN_CUDA_CHECK(cudaGetLastError());
}

void sigmoid_backward(Ctx& ctx, const Tensor& y, const Tensor& gy, Tensor& gx) {
  const int64_t n = y.numel();
  if (n == 0) return;
  CN_LAUNCH(sigmoid_backward_kernel, grid_for(n), kThreads, 0, ctx.stream)(y.data(), gy.data(), gx.data(), n);
  CN_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace cn
