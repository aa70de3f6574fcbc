// Batch normalisation on the GPU: training forward, inference forward, backward.
// The CPU (native/cpu/batch_norm.cc) is the reference; the arithmetic is its,
// step for step:
//   - per-channel statistics are reduced in double by one block per channel
//     (a fixed tree over the block's threads, no atomics: deterministic), the
//     variance in a second pass around the mean;
//   - the per-channel scalars (mean, gamma * invstd, running statistics, the
//     backward's means) are formed in double and rounded to float once, as on
//     the CPU;
//   - the per-element formulas use __fmul_rn / __fadd_rn / __fsub_rn where a
//     product feeds a sum, so nvcc does not fuse them into an FMA the CPU does
//     not have: elementwise results then round exactly as the CPU's do.
// Only the order of the double sums differs from the CPU, far below float.
#include <cstdint>

#include "cuda_ops.h"

namespace cn {
namespace cuda {

namespace {
constexpr int kReduceThreads = 256;  // one block per channel
constexpr int kApplyThreads = 256;
constexpr int kApplyPerThread = 4;   // elements of a plane per thread in the elementwise passes

// Tree sum of one double per thread over the block; every thread gets the total.
// `buf` holds blockDim.x doubles; blockDim.x is a power of two.
__device__ double block_sum(double v, double* buf) {
  buf[threadIdx.x] = v;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) buf[threadIdx.x] += buf[threadIdx.x + s];
    __syncthreads();
  }
  const double total = buf[0];
  __syncthreads();  // buf is reused by the caller's next sum
  return total;
}

// Per-channel scalars the elementwise pass reads: params[c] = mean, params[C + c]
// = scale (gamma * invstd), params[2C + c] = shift (beta).
// Training forward, one block per channel c: the batch statistics, the saved
// ones, the running ones updated in place, and the normalisation scalars.
__global__ void bn_train_stats_kernel(const float* __restrict__ x, const float* __restrict__ gamma,
                                      const float* __restrict__ beta, float* __restrict__ running_mean,
                                      float* __restrict__ running_var, float* __restrict__ save_mean,
                                      float* __restrict__ save_invstd, float* __restrict__ params, int64_t N,
                                      int64_t C, int64_t HW, double eps, double momentum) {
  __shared__ double buf[kReduceThreads];
  const int64_t c = blockIdx.x;
  const double M = static_cast<double>(N * HW);
  double s = 0;
  for (int64_t n = 0; n < N; ++n) {
    const float* xp = x + (n * C + c) * HW;
    for (int64_t i = threadIdx.x; i < HW; i += blockDim.x) s += xp[i];
  }
  const double mean = block_sum(s, buf) / M;
  // Second pass around the mean: exact for a constant channel, no cancellation.
  double q = 0;
  for (int64_t n = 0; n < N; ++n) {
    const float* xp = x + (n * C + c) * HW;
    for (int64_t i = threadIdx.x; i < HW; i += blockDim.x) {
      const double d = xp[i] - mean;
      q += d * d;
    }
  }
  const double var = block_sum(q, buf) / M;
  if (threadIdx.x != 0) return;
  const double invstd = 1.0 / sqrt(var + eps);
  const float mean_f = static_cast<float>(mean);
  params[c] = mean_f;
  params[C + c] = static_cast<float>(invstd * (gamma ? gamma[c] : 1.f));
  params[2 * C + c] = beta ? beta[c] : 0.f;
  if (save_mean) save_mean[c] = mean_f;
  if (save_invstd) save_invstd[c] = static_cast<float>(invstd);
  // (1 - m) * old + m * batch, the unbiased variance for the running one; no FMA, as on the CPU.
  if (running_mean)
    running_mean[c] = static_cast<float>(__dadd_rn(__dmul_rn(1.0 - momentum, running_mean[c]),
                                                   __dmul_rn(momentum, mean)));
  if (running_var)
    running_var[c] = static_cast<float>(__dadd_rn(__dmul_rn(1.0 - momentum, running_var[c]),
                                                  __dmul_rn(momentum, var) * M / (M - 1)));
}

// Inference: the scalars from the running statistics, one thread per channel.
__global__ void bn_eval_params_kernel(const float* __restrict__ gamma, const float* __restrict__ beta,
                                      const float* __restrict__ running_mean, const float* __restrict__ running_var,
                                      float* __restrict__ params, int64_t C, double eps) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  params[c] = running_mean[c];
  params[C + c] = static_cast<float>((gamma ? gamma[c] : 1.f) / sqrt(static_cast<double>(running_var[c]) + eps));
  params[2 * C + c] = beta ? beta[c] : 0.f;
}

// y = (x - mean) * scale + shift; the subtraction first so a constant channel
// gives exactly beta. Grid: x = plane (n * C + c), y = chunk of the plane.
__global__ void bn_apply_kernel(const float* __restrict__ x, const float* __restrict__ params,
                                float* __restrict__ y, int64_t C, int64_t HW) {
  const int64_t plane = blockIdx.x, c = plane % C;
  const float m = params[c], s = params[C + c], sh = params[2 * C + c];
  const float* xp = x + plane * HW;
  float* yp = y + plane * HW;
  for (int64_t i = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x; i < HW;
       i += static_cast<int64_t>(gridDim.y) * blockDim.x)
    yp[i] = __fadd_rn(__fmul_rn(xp[i] - m, s), sh);
}

// Backward, one block per channel: the sums over the channel (when needed),
// ggamma / gbeta, and the scalars of the gx pass: params[c] = k = gamma * invstd,
// params[C + c] = mean(gy), params[2C + c] = mean(gy * xhat) (zero in inference).
__global__ void bn_backward_sums_kernel(const float* __restrict__ x, const float* __restrict__ gy,
                                        const float* __restrict__ gamma, const float* __restrict__ save_mean,
                                        const float* __restrict__ save_invstd, float* __restrict__ ggamma,
                                        float* __restrict__ gbeta, float* __restrict__ params, int64_t N,
                                        int64_t C, int64_t HW, bool training, bool need_sums) {
  __shared__ double buf[kReduceThreads];
  const int64_t c = blockIdx.x;
  const double m = save_mean[c];
  double sum_gy = 0, sum_dot = 0;
  if (need_sums) {
    double a = 0, b = 0;
    for (int64_t n = 0; n < N; ++n) {
      const float* g = gy + (n * C + c) * HW;
      const float* xp = x + (n * C + c) * HW;
      for (int64_t i = threadIdx.x; i < HW; i += blockDim.x) {
        a += g[i];
        b += g[i] * (xp[i] - m);
      }
    }
    sum_gy = block_sum(a, buf);
    sum_dot = block_sum(b, buf);
  }
  if (threadIdx.x != 0) return;
  const float invstd = save_invstd[c];
  const double sum_gy_xhat = sum_dot * invstd;
  if (ggamma) ggamma[c] = static_cast<float>(sum_gy_xhat);
  if (gbeta) gbeta[c] = static_cast<float>(sum_gy);
  const double M = static_cast<double>(N * HW);
  params[c] = (gamma ? gamma[c] : 1.f) * invstd;
  params[C + c] = training ? static_cast<float>(sum_gy / M) : 0.f;
  params[2 * C + c] = training ? static_cast<float>(sum_gy_xhat / M) : 0.f;
}

// Training: gx = k * (gy - mean(gy) - xhat * mean(gy * xhat)), the last two
// terms being the batch statistics' dependence on x; inference: gx = k * gy.
__global__ void bn_grad_x_kernel(const float* __restrict__ x, const float* __restrict__ gy,
                                 const float* __restrict__ save_mean, const float* __restrict__ save_invstd,
                                 const float* __restrict__ params, float* __restrict__ gx, int64_t C, int64_t HW,
                                 bool training) {
  const int64_t plane = blockIdx.x, c = plane % C;
  const float k = params[c], mg = params[C + c], mgx = params[2 * C + c];
  const float m = save_mean[c], is = save_invstd[c];
  const float* g = gy + plane * HW;
  const float* xp = x + plane * HW;
  float* out = gx + plane * HW;
  for (int64_t i = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x; i < HW;
       i += static_cast<int64_t>(gridDim.y) * blockDim.x) {
    if (training)
      out[i] = k * __fsub_rn(g[i] - mg, __fmul_rn((xp[i] - m) * is, mgx));
    else
      out[i] = k * g[i];
  }
}

// Grid of the elementwise passes: one block row per plane, enough chunks to cover it.
dim3 apply_grid(int64_t planes, int64_t HW) {
  const int64_t per_block = static_cast<int64_t>(kApplyThreads) * kApplyPerThread;
  int64_t chunks = (HW + per_block - 1) / per_block;
  if (chunks > 65535) chunks = 65535;  // gridDim.y's limit; the loop strides over the rest
  return dim3(static_cast<unsigned>(planes), static_cast<unsigned>(chunks));
}

const float* data_or_null(const Tensor& t) { return t.defined() ? t.data() : nullptr; }
float* data_or_null(Tensor& t) { return t.defined() ? t.data() : nullptr; }
}  // namespace

void batch_norm_forward_train(Ctx& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                              Tensor& running_mean, Tensor& running_var, const BatchNormParams& p, Tensor& y,
                              Tensor& save_mean, Tensor& save_invstd) {
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  if (C == 0) return;
  Tensor params = ctx.alloc({3 * C});
  CN_LAUNCH(bn_train_stats_kernel, static_cast<unsigned>(C), kReduceThreads, 0, ctx.stream)(
      x.data(), data_or_null(gamma), data_or_null(beta), data_or_null(running_mean), data_or_null(running_var),
      data_or_null(save_mean), data_or_null(save_invstd), params.data(), N, C, HW, static_cast<double>(p.eps),
      static_cast<double>(p.momentum));
  CN_CUDA_CHECK(cudaGetLastError());
  if (N * HW == 0) return;
  CN_LAUNCH(bn_apply_kernel, apply_grid(N * C, HW), kApplyThreads, 0, ctx.stream)(x.data(), params.data(),
                                                                                  y.data(), C, HW);
  CN_CUDA_CHECK(cudaGetLastError());
}

void batch_norm_forward_eval(Ctx& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                             const Tensor& running_mean, const Tensor& running_var, const BatchNormParams& p,
                             Tensor& y) {
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  if (C == 0 || N * HW == 0) return;
  Tensor params = ctx.alloc({3 * C});
  CN_LAUNCH(bn_eval_params_kernel, static_cast<unsigned>((C + 127) / 128), 128, 0, ctx.stream)(
      data_or_null(gamma), data_or_null(beta), running_mean.data(), running_var.data(), params.data(), C,
      static_cast<double>(p.eps));
  CN_CUDA_CHECK(cudaGetLastError());
  CN_LAUNCH(bn_apply_kernel, apply_grid(N * C, HW), kApplyThreads, 0, ctx.stream)(x.data(), params.data(),
                                                                                  y.data(), C, HW);
  CN_CUDA_CHECK(cudaGetLastError());
}

void batch_norm_backward(Ctx& ctx, const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                         const Tensor& save_invstd, const Tensor& gy, bool training, Tensor& gx, Tensor& ggamma,
                         Tensor& gbeta) {
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  if (C == 0) return;
  if (!gx.defined() && !ggamma.defined() && !gbeta.defined()) return;
  const bool need_sums = training || ggamma.defined() || gbeta.defined();
  Tensor params = ctx.alloc({3 * C});
  CN_LAUNCH(bn_backward_sums_kernel, static_cast<unsigned>(C), kReduceThreads, 0, ctx.stream)(
      x.data(), gy.data(), data_or_null(gamma), save_mean.data(), save_invstd.data(), data_or_null(ggamma),
      data_or_null(gbeta), params.data(), N, C, HW, training, need_sums);
  CN_CUDA_CHECK(cudaGetLastError());
  if (!gx.defined() || N * HW == 0) return;
  CN_LAUNCH(bn_grad_x_kernel, apply_grid(N * C, HW), kApplyThreads, 0, ctx.stream)(
      x.data(), gy.data(), save_mean.data(), save_invstd.data(), params.data(), gx.data(), C, HW, training);
  CN_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace cn
