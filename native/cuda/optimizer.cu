// Optimizer arithmetic on the GPU: copy, the squared norm, axpy, the Adam step.
// The CPU (native/cpu/optimizer.cc) is the reference. axpy and Adam use
// __fmul_rn / __fadd_rn / __fsub_rn wherever a product feeds a sum, so nvcc
// cannot fuse them into FMAs the CPU does not have: with IEEE division and
// square root (nvcc's defaults) every element rounds exactly as on the CPU.
// sum_squares accumulates in double in a fixed two-level order (per-block
// trees, then one block over the partials), so it is deterministic and within
// float rounding of the CPU's (which sums float lanes of 256 first).
#include <cmath>
#include <cstdint>

#include "cuda_ops.h"

namespace cn {
namespace cuda {

namespace {
constexpr int kMaxPartials = 1024;  // blocks of the first sum_squares pass; fixed, so the order is too

__global__ void sum_squares_partial_kernel(const float* __restrict__ x, double* __restrict__ partial, int64_t n) {
  __shared__ double buf[kThreads];
  double acc = 0;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const double v = x[i];
    acc += v * v;
  }
  const double total = block_sum(acc, buf);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

// One block: the partials in a fixed order.
__global__ void sum_squares_final_kernel(const double* __restrict__ partial, int count, double* __restrict__ out) {
  __shared__ double buf[kThreads];
  double acc = 0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partial[i];
  const double total = block_sum(acc, buf);
  if (threadIdx.x == 0) *out = total;
}

__global__ void axpy_kernel(float alpha, const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    y[i] = __fadd_rn(y[i], __fmul_rn(alpha, x[i]));
}

// torch.optim.Adam's single-tensor step, in the CPU's order of operations.
__global__ void adam_kernel(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ m,
                            float* __restrict__ v, int64_t n, float b1, float b2, float eps, float wd, float gs,
                            float step_size, float bc2_sqrt) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float wi = w[i];
    float gi = g[i] * gs;
    if (wd != 0.f) gi = __fadd_rn(gi, __fmul_rn(wd, wi));  // L2 added to the gradient, as torch does
    const float mi = __fadd_rn(__fmul_rn(m[i], b1), __fmul_rn(1.f - b1, gi));
    const float vi = __fadd_rn(__fmul_rn(v[i], b2), __fmul_rn((1.f - b2) * gi, gi));
    const float denom = sqrtf(vi) / bc2_sqrt + eps;
    m[i] = mi;
    v[i] = vi;
    w[i] = __fsub_rn(wi, __fmul_rn(step_size, mi / denom));
  }
}
}  // namespace

void copy(Ctx& ctx, const Tensor& src, Tensor& dst) {
  if (!src.numel() || src.data() == dst.data()) return;
  CN_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), src.bytes(), cudaMemcpyDeviceToDevice, ctx.stream));
}

double sum_squares(Ctx& ctx, const Tensor& x) {
  const int64_t n = x.numel();
  if (n == 0) return 0.0;
  // ~8 elements per thread before the tree, at most kMaxPartials blocks.
  int64_t blocks = (n + kThreads * 8 - 1) / (kThreads * 8);
  if (blocks > kMaxPartials) blocks = kMaxPartials;
  // Doubles in a float tensor's storage: blocks partials, then the total
  // (device allocations are at least 256-byte aligned).
  Tensor scratch = ctx.alloc({2 * (blocks + 1)});
  double* partial = reinterpret_cast<double*>(scratch.data());
  CN_LAUNCH(sum_squares_partial_kernel, static_cast<unsigned>(blocks), kThreads, 0, ctx.stream)(x.data(), partial, n);
  CN_CUDA_CHECK(cudaGetLastError());
  CN_LAUNCH(sum_squares_final_kernel, 1, kThreads, 0, ctx.stream)(partial, static_cast<int>(blocks),
                                                                   partial + blocks);
  CN_CUDA_CHECK(cudaGetLastError());
  double total = 0.0;
  CN_CUDA_CHECK(cudaMemcpyAsync(&total, partial + blocks, sizeof total, cudaMemcpyDeviceToHost, ctx.stream));
  CN_CUDA_CHECK(cudaStreamSynchronize(ctx.stream));  // the result is needed on the host now
  return total;
}

void axpy(Ctx& ctx, float alpha, const Tensor& x, Tensor& y) {
  const int64_t n = x.numel();
  if (n == 0) return;
  CN_LAUNCH(axpy_kernel, grid_for(n), kThreads, 0, ctx.stream)(alpha, x.data(), y.data(), n);
  CN_CUDA_CHECK(cudaGetLastError());
}

void adam_update(Ctx& ctx, Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                 const AdamParams& p) {
  const int64_t n = param.numel();
  if (n == 0) return;
  // The bias corrections on the host in double, exactly as the CPU forms them.
  const double bc1 = 1.0 - std::pow(static_cast<double>(p.beta1), static_cast<double>(p.step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(p.beta2), static_cast<double>(p.step));
  const float step_size = static_cast<float>(p.lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  CN_LAUNCH(adam_kernel, grid_for(n), kThreads, 0, ctx.stream)(param.data(), grad.data(), exp_avg.data(),
                                                                exp_avg_sq.data(), n, p.beta1, p.beta2, p.eps,
                                                                p.weight_decay, p.grad_scale, step_size, bc2_sqrt);
  CN_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace cn
