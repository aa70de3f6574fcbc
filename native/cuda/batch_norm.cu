// Batch normalisation on the GPU: training forward, inference forward, backward.
// The CPU (native/cpu/batch_norm.cc) is the reference; the arithmetic is its,
// step for step:
//   - per-channel sums are reduced in double in two fixed levels (no atomics,
//     so deterministic): block (c, s) sums slice s of channel c with a tree
//     over its threads, then one thread per channel adds the slices in order;
//     the variance is a second pass around the mean, as on the CPU;
//   - the per-channel scalars (mean, invstd, running statistics, the
//     backward's means) are formed in double and rounded to float once, as on
//     the CPU; scale = gamma * invstd is then a float product, as on the CPU;
//   - the per-element formulas use __fmul_rn / __fadd_rn / __fsub_rn where a
//     product feeds a sum, so nvcc does not fuse them into an FMA (the CPU's
//     plane loops build without contraction): elementwise results round exactly
//     as the CPU's do, and the backward's recomputed ReLU mask (relu set) is
//     exactly the forward's.
// Only the order of the double sums differs from the CPU, far below float.
#include <cstdint>

#include "cuda_ops.h"

namespace cn {
namespace cuda {

namespace {
constexpr int kReduceThreads = 256;  // a power of two (block_sum)
constexpr int kApplyThreads = 256;
constexpr int kApplyPerThread = 4;   // elements of a plane per thread in the elementwise passes

// The forward's output before the ReLU: (x - m) * s + sh, each operation rounded on its own.
__device__ __forceinline__ float bn_affine(float x, float m, float s, float sh) {
  return __fadd_rn(__fmul_rn(x - m, s), sh);
}

// Block (c, s) of a reduction visits, in every plane n of channel c, the
// columns s * blockDim.x + t, stepping by gridDim.y * blockDim.x: neighbouring
// threads read neighbouring floats. `f(plane offset, i)` gives one term.
template <typename F>
__device__ double slice_sum(int64_t N, int64_t C, int64_t HW, F f) {
  const int64_t c = blockIdx.x;
  const int64_t step = static_cast<int64_t>(gridDim.y) * blockDim.x;
  double acc = 0;
  for (int64_t n = 0; n < N; ++n) {
    const int64_t base = (n * C + c) * HW;
    for (int64_t i = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x; i < HW; i += step)
      acc += f(base + i);
  }
  return acc;
}

// partial[c * S + s] = sum of x over slice s of channel c.
__global__ void bn_partial_sum_kernel(const float* __restrict__ x, double* __restrict__ partial, int64_t N,
                                      int64_t C, int64_t HW) {
  __shared__ double buf[kReduceThreads];
  const double t = block_sum(slice_sum(N, C, HW, [x](int64_t k) { return static_cast<double>(x[k]); }), buf);
  if (threadIdx.x == 0) partial[static_cast<int64_t>(blockIdx.x) * gridDim.y + blockIdx.y] = t;
}

// mean[c] = (the channel's slices added in order) / M, one thread per channel.
__global__ void bn_mean_kernel(const double* __restrict__ partial, double* __restrict__ mean, int64_t C, int S,
                               double M) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double s = 0;
  for (int k = 0; k < S; ++k) s += partial[c * S + k];
  mean[c] = s / M;
}

// partial[c * S + s] = sum of (x - mean)^2 over slice s: exact for a constant
// channel, no cancellation.
__global__ void bn_partial_sq_dev_kernel(const float* __restrict__ x, const double* __restrict__ mean,
                                         double* __restrict__ partial, int64_t N, int64_t C, int64_t HW) {
  __shared__ double buf[kReduceThreads];
  const double m = mean[blockIdx.x];
  const double t = block_sum(slice_sum(N, C, HW, [x, m](int64_t k) {
                               const double d = x[k] - m;
                               return d * d;
                             }),
                             buf);
  if (threadIdx.x == 0) partial[static_cast<int64_t>(blockIdx.x) * gridDim.y + blockIdx.y] = t;
}

// Per-channel scalars the elementwise pass reads: params[c] = mean, params[C + c]
// = scale (gamma * invstd), params[2C + c] = shift (beta).
// Training, one thread per channel: the variance from the slices, the saved
// statistics, the running ones updated in place, the normalisation scalars.
__global__ void bn_train_finish_kernel(const double* __restrict__ partial, const double* __restrict__ mean_d,
                                       const float* __restrict__ gamma, const float* __restrict__ beta,
                                       float* __restrict__ running_mean, float* __restrict__ running_var,
                                       float* __restrict__ save_mean, float* __restrict__ save_invstd,
                                       float* __restrict__ params, int64_t C, int S, double M, double eps,
                                       double momentum) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double q = 0;
  for (int k = 0; k < S; ++k) q += partial[c * S + k];
  const double mean = mean_d[c], var = q / M;
  const float invstd = static_cast<float>(1.0 / sqrt(var + eps));
  const float mean_f = static_cast<float>(mean);
  params[c] = mean_f;
  params[C + c] = (gamma ? gamma[c] : 1.f) * invstd;
  params[2 * C + c] = beta ? beta[c] : 0.f;
  if (save_mean) save_mean[c] = mean_f;
  if (save_invstd) save_invstd[c] = invstd;
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
  const float invstd = static_cast<float>(1.0 / sqrt(static_cast<double>(running_var[c]) + eps));
  params[C + c] = (gamma ? gamma[c] : 1.f) * invstd;
  params[2 * C + c] = beta ? beta[c] : 0.f;
}

// y = (x - mean) * scale + shift; the subtraction first so a constant channel
// gives exactly beta; with relu, max(0, y) (NaN passes through, as in
// relu_forward). Grid: x = plane (n * C + c), y = chunk of the plane.
__global__ void bn_apply_kernel(const float* __restrict__ x, const float* __restrict__ params,
                                float* __restrict__ y, int64_t C, int64_t HW, bool relu) {
  const int64_t plane = blockIdx.x, c = plane % C;
  const float m = params[c], s = params[C + c], sh = params[2 * C + c];
  const float* xp = x + plane * HW;
  float* yp = y + plane * HW;
  for (int64_t i = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x; i < HW;
       i += static_cast<int64_t>(gridDim.y) * blockDim.x) {
    const float v = bn_affine(xp[i], m, s, sh);
    yp[i] = !relu || v > 0.f || v != v ? v : 0.f;
  }
}

// The gradient at BN's output: gy, or with relu gy where the forward's output
// was positive. `a` holds each channel's mean, scale, shift as bn_apply_kernel's
// params do.
struct BnMask {
  const float* a;  // null: no ReLU
  int64_t C;
  __device__ __forceinline__ float operator()(float g, float x, int64_t c) const {
    return !a || bn_affine(x, a[c], a[C + c], a[2 * C + c]) > 0.f ? g : 0.f;
  }
};

// params[c] = mean, params[C + c] = gamma * invstd, params[2C + c] = beta, from
// the saved (or running) statistics, one thread per channel: the forward's affine map.
__global__ void bn_affine_params_kernel(const float* __restrict__ save_mean, const float* __restrict__ save_invstd,
                                        const float* __restrict__ gamma, const float* __restrict__ beta,
                                        float* __restrict__ params, int64_t C) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  params[c] = save_mean[c];
  params[C + c] = (gamma ? gamma[c] : 1.f) * save_invstd[c];
  params[2 * C + c] = beta ? beta[c] : 0.f;
}

// Backward slices: partial[c * S + s] = sum gy, partial[C * S + c * S + s] =
// sum gy * (x - mean), both over slice s of channel c.
__global__ void bn_backward_partial_kernel(const float* __restrict__ x, const float* __restrict__ gy,
                                           const float* __restrict__ save_mean, BnMask mask,
                                           double* __restrict__ partial, int64_t N, int64_t C, int64_t HW) {
  __shared__ double buf[kReduceThreads];
  const int64_t c = blockIdx.x;
  const double m = save_mean[c];
  const double a = block_sum(
      slice_sum(N, C, HW, [x, gy, mask, c](int64_t k) { return static_cast<double>(mask(gy[k], x[k], c)); }), buf);
  const double b = block_sum(
      slice_sum(N, C, HW, [x, gy, m, mask, c](int64_t k) { return mask(gy[k], x[k], c) * (x[k] - m); }), buf);
  if (threadIdx.x == 0) {
    const int64_t at = static_cast<int64_t>(blockIdx.x) * gridDim.y + blockIdx.y;
    partial[at] = a;
    partial[C * gridDim.y + at] = b;
  }
}

// One thread per channel: ggamma / gbeta and the scalars of the gx pass:
// params[c] = k = gamma * invstd, params[C + c] = mean(gy),
// params[2C + c] = mean(gy * xhat) (both zero in inference). S = 0: no sums.
__global__ void bn_backward_finish_kernel(const double* __restrict__ partial, const float* __restrict__ gamma,
                                          const float* __restrict__ save_invstd, float* __restrict__ ggamma,
                                          float* __restrict__ gbeta, float* __restrict__ params, int64_t C, int S,
                                          double M, bool training) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double sum_gy = 0, sum_dot = 0;
  for (int k = 0; k < S; ++k) {
    sum_gy += partial[c * S + k];
    sum_dot += partial[C * S + c * S + k];
  }
  const float invstd = save_invstd[c];
  const double sum_gy_xhat = sum_dot * invstd;
  if (ggamma) ggamma[c] = static_cast<float>(sum_gy_xhat);
  if (gbeta) gbeta[c] = static_cast<float>(sum_gy);
  params[c] = (gamma ? gamma[c] : 1.f) * invstd;
  params[C + c] = training ? static_cast<float>(sum_gy / M) : 0.f;
  params[2 * C + c] = training ? static_cast<float>(sum_gy_xhat / M) : 0.f;
}

// Training: gx = k * (gy - mean(gy) - xhat * mean(gy * xhat)), the last two
// terms being the batch statistics' dependence on x; inference: gx = k * gy
// (gy masked by the ReLU where there was one).
__global__ void bn_grad_x_kernel(const float* __restrict__ x, const float* __restrict__ gy,
                                 const float* __restrict__ save_mean, const float* __restrict__ save_invstd,
                                 const float* __restrict__ params, BnMask mask, float* __restrict__ gx, int64_t C,
                                 int64_t HW, bool training) {
  const int64_t plane = blockIdx.x, c = plane % C;
  const float k = params[c], mg = params[C + c], mgx = params[2 * C + c];
  const float m = save_mean[c], is = save_invstd[c];
  const float* g = gy + plane * HW;
  const float* xp = x + plane * HW;
  float* out = gx + plane * HW;
  for (int64_t i = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x; i < HW;
       i += static_cast<int64_t>(gridDim.y) * blockDim.x) {
    const float gi = mask(g[i], xp[i], c);
    if (training)
      out[i] = k * __fsub_rn(gi - mg, __fmul_rn((xp[i] - m) * is, mgx));
    else
      out[i] = k * gi;
  }
}

// Slices per channel: enough blocks in all to fill a large GPU (~1024), each
// slice at least ~4 elements per thread of a plane. A function of the shape
// only, so results do not depend on the device.
int slices_for(int64_t C, int64_t HW) {
  const int64_t by_work = (HW + 4 * kReduceThreads - 1) / (4 * kReduceThreads);
  const int64_t by_fill = (1024 + C - 1) / C;
  int64_t s = by_work < by_fill ? by_work : by_fill;
  if (s < 1) s = 1;
  return static_cast<int>(s > 65535 ? 65535 : s);  // gridDim.y's limit
}

// Grid of the elementwise passes: one block row per plane, enough chunks to cover it.
dim3 apply_grid(int64_t planes, int64_t HW) {
  const int64_t per_block = static_cast<int64_t>(kApplyThreads) * kApplyPerThread;
  int64_t chunks = (HW + per_block - 1) / per_block;
  if (chunks > 65535) chunks = 65535;  // gridDim.y's limit; the loop strides over the rest
  return dim3(static_cast<unsigned>(planes), static_cast<unsigned>(chunks));
}

unsigned channel_blocks(int64_t C) { return static_cast<unsigned>((C + 127) / 128); }  // 128 threads each

const float* data_or_null(const Tensor& t) { return t.defined() ? t.data() : nullptr; }
float* data_or_null(Tensor& t) { return t.defined() ? t.data() : nullptr; }

// Doubles in a float tensor's storage (device allocations are 256-byte aligned).
double* as_doubles(Tensor& t) { return reinterpret_cast<double*>(t.data()); }
}  // namespace

void batch_norm_forward_train(Ctx& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                              Tensor& running_mean, Tensor& running_var, const BatchNormParams& p, Tensor& y,
                              Tensor& save_mean, Tensor& save_invstd) {
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  if (C == 0) return;
  const int S = slices_for(C, HW);
  const double M = static_cast<double>(N * HW);
  Tensor scratch = ctx.alloc({2 * (C * S + C)});  // C * S partials, then C means, as doubles
  double* partial = as_doubles(scratch);
  double* mean = partial + C * S;
  Tensor params = ctx.alloc({3 * C});
  const dim3 slices(static_cast<unsigned>(C), static_cast<unsigned>(S));
  CN_LAUNCH(bn_partial_sum_kernel, slices, kReduceThreads, 0, ctx.stream)(x.data(), partial, N, C, HW);
  CN_CUDA_CHECK(cudaGetLastError());
  CN_LAUNCH(bn_mean_kernel, channel_blocks(C), 128, 0, ctx.stream)(partial, mean, C, S, M);
  CN_CUDA_CHECK(cudaGetLastError());
  CN_LAUNCH(bn_partial_sq_dev_kernel, slices, kReduceThreads, 0, ctx.stream)(x.data(), mean, partial, N, C, HW);
  CN_CUDA_CHECK(cudaGetLastError());
  CN_LAUNCH(bn_train_finish_kernel, channel_blocks(C), 128, 0, ctx.stream)(
      partial, mean, data_or_null(gamma), data_or_null(beta), data_or_null(running_mean), data_or_null(running_var),
      data_or_null(save_mean), data_or_null(save_invstd), params.data(), C, S, M, static_cast<double>(p.eps),
      static_cast<double>(p.momentum));
  CN_CUDA_CHECK(cudaGetLastError());
  if (N * HW == 0) return;
  CN_LAUNCH(bn_apply_kernel, apply_grid(N * C, HW), kApplyThreads, 0, ctx.stream)(x.data(), params.data(),
                                                                                  y.data(), C, HW, p.relu);
  CN_CUDA_CHECK(cudaGetLastError());
}

void batch_norm_forward_eval(Ctx& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                             const Tensor& running_mean, const Tensor& running_var, const BatchNormParams& p,
                             Tensor& y) {
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  if (C == 0 || N * HW == 0) return;
  Tensor params = ctx.alloc({3 * C});
  CN_LAUNCH(bn_eval_params_kernel, channel_blocks(C), 128, 0, ctx.stream)(
      data_or_null(gamma), data_or_null(beta), running_mean.data(), running_var.data(), params.data(), C,
      static_cast<double>(p.eps));
  CN_CUDA_CHECK(cudaGetLastError());
  CN_LAUNCH(bn_apply_kernel, apply_grid(N * C, HW), kApplyThreads, 0, ctx.stream)(x.data(), params.data(),
                                                                                  y.data(), C, HW, p.relu);
  CN_CUDA_CHECK(cudaGetLastError());
}

void batch_norm_backward(Ctx& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& save_mean,
                         const Tensor& save_invstd, const Tensor& gy, BatchNormBackwardMode mode, Tensor& gx,
                         Tensor& ggamma, Tensor& gbeta) {
  const bool training = mode.training;
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  if (C == 0) return;
  if (!gx.defined() && !ggamma.defined() && !gbeta.defined()) return;
  // The sums are needed for the parameter gradients and for training's gx.
  const bool need_sums = training || ggamma.defined() || gbeta.defined();
  const int S = need_sums ? slices_for(C, HW) : 0;
  const double M = static_cast<double>(N * HW);
  Tensor scratch = ctx.alloc({2 * (2 * C * (S > 0 ? S : 1))});  // sum gy, then sum gy * (x - mean), as doubles
  double* partial = as_doubles(scratch);
  Tensor params = ctx.alloc({3 * C});
  Tensor affine = mode.relu ? ctx.alloc({3 * C}) : Tensor{};
  if (mode.relu) {
    CN_LAUNCH(bn_affine_params_kernel, channel_blocks(C), 128, 0, ctx.stream)(
        save_mean.data(), save_invstd.data(), data_or_null(gamma), data_or_null(beta), affine.data(), C);
    CN_CUDA_CHECK(cudaGetLastError());
  }
  const BnMask mask{mode.relu ? affine.data() : nullptr, C};
  if (need_sums) {
    CN_LAUNCH(bn_backward_partial_kernel, dim3(static_cast<unsigned>(C), static_cast<unsigned>(S)), kReduceThreads, 0,
              ctx.stream)(x.data(), gy.data(), save_mean.data(), mask, partial, N, C, HW);
    CN_CUDA_CHECK(cudaGetLastError());
  }
  CN_LAUNCH(bn_backward_finish_kernel, channel_blocks(C), 128, 0, ctx.stream)(
      partial, data_or_null(gamma), save_invstd.data(), data_or_null(ggamma), data_or_null(gbeta), params.data(), C,
      S, M, training);
  CN_CUDA_CHECK(cudaGetLastError());
  if (!gx.defined() || N * HW == 0) return;
  CN_LAUNCH(bn_grad_x_kernel, apply_grid(N * C, HW), kApplyThreads, 0, ctx.stream)(
      x.data(), gy.data(), save_mean.data(), save_invstd.data(), params.data(), mask, gx.data(), C, HW, training);
  CN_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace cn
