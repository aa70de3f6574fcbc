// Optimizer arithmetic on the CPU: the gradient norm, axpy, and the Adam step.
// Memory-bound loops over contiguous floats; the compiler vectorises them, the
// pool splits them. Chunks are large so the per-task overhead stays negligible.
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu_backend.h"

namespace cn {

namespace {
constexpr int64_t kGrain = 1 << 15;

}  // namespace

void CpuBackend::run_copy(const Tensor& src, Tensor& dst) {
  if (src.data() == dst.data()) return;
  const float* s = src.data();
  float* d = dst.data();
  pool().parallel_for(src.numel(), [&](int64_t b, int64_t e) {
    std::memcpy(d + b, s + b, static_cast<size_t>(e - b) * sizeof(float));
  }, kGrain);
}

double CpuBackend::run_sum_squares(const Tensor& x) {
  const float* p = x.data();
  const int64_t n = x.numel();
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(pool().num_threads() * 4, (n + kGrain - 1) / kGrain));
  std::vector<double> partial(chunks, 0.0);
  pool().run_tasks(chunks, [&](int64_t c) {
    int64_t b = n * c / chunks, e = n * (c + 1) / chunks;
    // Float lanes within a block of 256 keep it vectorised; double across blocks keeps it exact enough.
    double acc = 0.0;
    for (int64_t i = b; i < e; i += 256) {
      float s = 0.f;
      int64_t stop = std::min(e, i + 256);
      for (int64_t j = i; j < stop; ++j) s += p[j] * p[j];
      acc += s;
    }
    partial[c] = acc;
  });
  double total = 0.0;
  for (double v : partial) total += v;
  return total;
}

void CpuBackend::run_axpy(float alpha, const Tensor& x, Tensor& y) {
  const float* xp = x.data();
  float* yp = y.data();
  pool().parallel_for(x.numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) yp[i] += alpha * xp[i];
  }, kGrain);
}

void CpuBackend::run_adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                             const AdamParams& p) {
  // Same order of operations as torch.optim.Adam's single-tensor path.
  const double bc1 = 1.0 - std::pow(static_cast<double>(p.beta1), static_cast<double>(p.step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(p.beta2), static_cast<double>(p.step));
  const float step_size = static_cast<float>(p.lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const float b1 = p.beta1, b2 = p.beta2, eps = p.eps, wd = p.weight_decay, gs = p.grad_scale;
  float* w = param.data();
  const float* g = grad.data();
  float* m = exp_avg.data();
  float* v = exp_avg_sq.data();
  pool().parallel_for(param.numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float gi = g[i] * gs;
      if (wd != 0.f) gi += wd * w[i];
      m[i] = m[i] * b1 + (1.f - b1) * gi;
      v[i] = v[i] * b2 + (1.f - b2) * gi * gi;
      float denom = std::sqrt(v[i]) / bc2_sqrt + eps;
      w[i] -= step_size * (m[i] / denom);
    }
  }, kGrain);
}

}  // namespace cn
