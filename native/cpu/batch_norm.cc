// Batch normalisation over (N, H, W) per channel, training and inference mode,
// with the full backward. Statistics are reduced in double: a channel of a
// 32x128x128 batch sums half a million floats, where float accumulation would
// lose the digits the fixtures check.
#include <cmath>
#include <vector>

#include "batch_norm_planes.h"
#include "cpu_backend.h"

namespace cn {

namespace {
struct Dims {
  int64_t N, C, HW;
  int64_t count() const { return N * HW; }  // elements per channel
};

Dims bn_dims(const Tensor& x) {
  return {x.size(0), x.size(1), x.size(2) * x.size(3)};
}

// Planes per chunk so that a chunk covers ~32K floats.
int64_t plane_grain(int64_t hw) { return std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, hw)); }

// Two sums reduced together, so a backward reads gy once for both.
struct SumPair {
  double a = 0, b = 0;
  SumPair& operator+=(const SumPair& o) {
    a += o.a, b += o.b;
    return *this;
  }
};

// sums[c] = sum over n of plane_sum(n*C + c, c), with plane sums computed in
// parallel and combined in a fixed order (the result does not depend on the
// number of threads). S is double or SumPair.
template <typename S, typename F>
std::vector<S> channel_sums(ThreadPool& pool, const Dims& d, F plane_sum) {
  std::vector<S> per_plane(d.N * d.C);
  pool.parallel_for(d.N * d.C, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) per_plane[p] = plane_sum(p, p % d.C);
  }, plane_grain(d.HW));
  std::vector<S> sums(d.C);
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t c = 0; c < d.C; ++c) sums[c] += per_plane[n * d.C + c];
  return sums;
}

const BatchNormPlaneKernels& planes_for(Isa isa) {
  return kernels_for_isa(isa, batch_norm_planes_portable, batch_norm_planes_avx2, batch_norm_planes_avx512);
}

inline float at_or(const Tensor& t, int64_t c, float def) { return t.defined() ? t.data()[c] : def; }

// Each channel's affine map from its mean and invstd: scale = gamma * invstd in
// float, the rounding every backend uses (BatchNormParams), so the backward
// recomputes the forward's values from the same three floats.
std::vector<PlaneAffine> channel_affines(int64_t C, const float* mean, const float* invstd, const Tensor& gamma,
                                         const Tensor& beta) {
  std::vector<PlaneAffine> a(C);
  for (int64_t c = 0; c < C; ++c) a[c] = {mean[c], at_or(gamma, c, 1.f) * invstd[c], at_or(beta, c, 0.f)};
  return a;
}

// y = (x - mean) * scale + beta (then the ReLU when asked), plane by plane.
void normalise(ThreadPool& pool, const BatchNormPlaneKernels& k, const Dims& d, const float* x,
               const std::vector<PlaneAffine>& affine, bool relu, float* y) {
  pool.parallel_for(d.N * d.C, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) k.normalise(x + p * d.HW, y + p * d.HW, d.HW, affine[p % d.C], relu);
  }, plane_grain(d.HW));
}
}  // namespace

void CpuBackend::run_batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                          Tensor& running_mean, Tensor& running_var, const BatchNormParams& p,
                                          Tensor& y, Tensor& save_mean, Tensor& save_invstd) {
  const Dims d = bn_dims(x);
  const int64_t M = d.count();
  const float* xp = x.data();

  const int64_t HW = d.HW;
  const BatchNormPlaneKernels& planes = planes_for(isa_);
  std::vector<double> mean =
      channel_sums<double>(pool_, d, [=, &planes](int64_t pl, int64_t) { return planes.sum(xp + pl * HW, HW); });
  for (double& m : mean) m /= static_cast<double>(M);
  // Second pass around the mean: exact for a constant channel, no cancellation.
  std::vector<double> var = channel_sums<double>(pool_, d, [&](int64_t pl, int64_t c) {
    return planes.sq_dev(xp + pl * HW, HW, mean[c]);
  });
  for (double& v : var) v /= static_cast<double>(M);

  std::vector<float> mean_f(d.C), invstd_f(d.C);
  for (int64_t c = 0; c < d.C; ++c) {
    mean_f[c] = static_cast<float>(mean[c]);
    invstd_f[c] = static_cast<float>(1.0 / std::sqrt(var[c] + static_cast<double>(p.eps)));
    if (save_mean.defined()) save_mean.data()[c] = mean_f[c];
    if (save_invstd.defined()) save_invstd.data()[c] = invstd_f[c];
    const double mom = p.momentum;
    if (running_mean.defined())
      running_mean.data()[c] = static_cast<float>((1.0 - mom) * running_mean.data()[c] + mom * mean[c]);
    if (running_var.defined())
      running_var.data()[c] = static_cast<float>((1.0 - mom) * running_var.data()[c] +
                                                 mom * var[c] * static_cast<double>(M) / static_cast<double>(M - 1));
  }
  normalise(pool_, planes, d, xp, channel_affines(d.C, mean_f.data(), invstd_f.data(), gamma, beta), p.relu,
            y.data());
}

void CpuBackend::run_batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                         const Tensor& running_mean, const Tensor& running_var,
                                         const BatchNormParams& p, Tensor& y) {
  const Dims d = bn_dims(x);
  std::vector<float> invstd(d.C);
  for (int64_t c = 0; c < d.C; ++c)
    invstd[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(running_var.data()[c]) + p.eps));
  normalise(pool_, planes_for(isa_), d, x.data(), channel_affines(d.C, running_mean.data(), invstd.data(), gamma, beta),
            p.relu, y.data());
}

void CpuBackend::run_batch_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                     const Tensor& save_mean, const Tensor& save_invstd, const Tensor& gy,
                                     BatchNormBackwardMode mode, Tensor& gx, Tensor& ggamma, Tensor& gbeta) {
  const Dims d = bn_dims(x);
  const float* xp = x.data();
  const float* gp = gy.data();
  const float* invstd = save_invstd.data();
  const BatchNormPlaneKernels& planes = planes_for(isa_);
  const std::vector<PlaneAffine> affine = channel_affines(d.C, save_mean.data(), invstd, gamma, beta);
  const bool training = mode.training, relu = mode.relu;

  // d(sum gy*y)/d beta = sum gy;  d/d gamma = sum gy * xhat (gy masked by the ReLU).
  const bool need_sums = training || ggamma.defined() || gbeta.defined();
  std::vector<double> sum_gy(d.C, 0.0), sum_gy_xhat(d.C, 0.0);
  if (need_sums) {
    const int64_t HW = d.HW;
    const std::vector<SumPair> sums = channel_sums<SumPair>(pool_, d, [&](int64_t pl, int64_t c) {
      SumPair p;
      planes.sum_and_dot_centered(gp + pl * HW, xp + pl * HW, HW, affine[c], relu, &p.a, &p.b);
      return p;
    });
    for (int64_t c = 0; c < d.C; ++c) {
      sum_gy[c] = sums[c].a;
      sum_gy_xhat[c] = sums[c].b * invstd[c];
    }
  }
  for (int64_t c = 0; c < d.C; ++c) {
    if (ggamma.defined()) ggamma.data()[c] = static_cast<float>(sum_gy_xhat[c]);
    if (gbeta.defined()) gbeta.data()[c] = static_cast<float>(sum_gy[c]);
  }
  if (!gx.defined()) return;

  const double M = static_cast<double>(d.count());
  std::vector<float> mean_gy(d.C), mean_gy_xhat(d.C);
  for (int64_t c = 0; c < d.C; ++c) {
    mean_gy[c] = training ? static_cast<float>(sum_gy[c] / M) : 0.f;
    mean_gy_xhat[c] = training ? static_cast<float>(sum_gy_xhat[c] / M) : 0.f;
  }
  float* gxp = gx.data();
  pool_.parallel_for(d.N * d.C, [&](int64_t b, int64_t e) {
    const int64_t C = d.C, HW = d.HW;
    for (int64_t pl = b; pl < e; ++pl) {
      const int64_t c = pl % C;
      planes.grad_x(gp + pl * HW, xp + pl * HW, gxp + pl * HW, HW, affine[c], invstd[c], mean_gy[c], mean_gy_xhat[c],
                    training, relu);
    }
  }, plane_grain(d.HW));
}

}  // namespace cn
