// ReLU, add and sigmoid: memory-bound loops split over the pool in chunks large
// enough that the hand-off costs less than the work.
#include <cmath>

#include "cpu_backend.h"

namespace cn {

namespace {
// ~64K floats (256 KiB) per chunk: a chunk streams through L2 and dwarfs the
// few microseconds a pool hand-off costs.
constexpr int64_t kGrain = 1 << 16;

void check_same_shape(const char* op, const char* a_name, const Tensor& a, const char* b_name, const Tensor& b) {
  CN_CHECK(a.shape() == b.shape(), op, ": ", b_name, " has shape ", shape_str(b.shape()), " but ", a_name,
           " has shape ", shape_str(a.shape()));
}
}  // namespace

void CpuBackend::relu_forward(const Tensor& x, Tensor& y) {
  check_same_shape("relu_forward", "x", x, "y", y);
  const float* xp = x.data();
  float* yp = y.data();
  pool_.parallel_for(x.numel(), [&](int64_t b, int64_t e) {
    // NaN passes through (x > 0 is false, x != x is true) so a diverging network stays visible.
    for (int64_t i = b; i < e; ++i) yp[i] = (xp[i] > 0.f || xp[i] != xp[i]) ? xp[i] : 0.f;
  }, kGrain);
}

void CpuBackend::relu_backward(const Tensor& y, const Tensor& gy, Tensor& gx) {
  check_same_shape("relu_backward", "y", y, "gy", gy);
  check_same_shape("relu_backward", "y", y, "gx", gx);
  const float* yp = y.data();
  const float* gp = gy.data();
  float* gxp = gx.data();
  pool_.parallel_for(y.numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) gxp[i] = yp[i] > 0.f ? gp[i] : 0.f;
  }, kGrain);
}

void CpuBackend::add_forward(const Tensor& a, const Tensor& b, Tensor& y) {
  check_same_shape("add_forward", "a", a, "b", b);
  check_same_shape("add_forward", "a", a, "y", y);
  const float* ap = a.data();
  const float* bp = b.data();
  float* yp = y.data();
  pool_.parallel_for(a.numel(), [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) yp[i] = ap[i] + bp[i];
  }, kGrain);
}

void CpuBackend::sigmoid_forward(const Tensor& x, Tensor& y) {
  check_same_shape("sigmoid_forward", "x", x, "y", y);
  const float* xp = x.data();
  float* yp = y.data();
  pool_.parallel_for(x.numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      // exp of a non-positive argument only: never overflows, and for very
      // negative x the result keeps its relative precision instead of 1 - 1.
      float v = xp[i];
      if (v >= 0.f) {
        yp[i] = 1.f / (1.f + std::exp(-v));
      } else {
        float t = std::exp(v);
        yp[i] = t / (1.f + t);
      }
    }
  }, kGrain / 4);
}

void CpuBackend::sigmoid_backward(const Tensor& y, const Tensor& gy, Tensor& gx) {
  check_same_shape("sigmoid_backward", "y", y, "gy", gy);
  check_same_shape("sigmoid_backward", "y", y, "gx", gx);
  const float* yp = y.data();
  const float* gp = gy.data();
  float* gxp = gx.data();
  pool_.parallel_for(y.numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) gxp[i] = gp[i] * yp[i] * (1.f - yp[i]);
  }, kGrain);
}

}  // namespace cn
