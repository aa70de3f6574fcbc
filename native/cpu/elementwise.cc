// ReLU, add and sigmoid: memory-bound loops split over the pool in chunks large
// enough that the hand-off costs less than the work.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "cpu_backend.h"

namespace cn {

namespace {
// ~64K floats (256 KiB) per chunk: a chunk streams through L2 and dwarfs the
// few microseconds a pool hand-off costs.
constexpr int64_t kGrain = 1 << 16;

// c ? a : b on the bits. With floating-point traps assumed (no -ffast-math),
// GCC will not turn `c ? a : x * y` into a vector blend, since that would
// compute x * y where the source does not; as integer masking it vectorises.
inline float bit_select(bool c, float a, float b) {
  uint32_t ua, ub;
  std::memcpy(&ua, &a, sizeof ua);
  std::memcpy(&ub, &b, sizeof ub);
  const uint32_t m = 0u - static_cast<uint32_t>(c);
  const uint32_t r = (ua & m) | (ub & ~m);
  float f;
  std::memcpy(&f, &r, sizeof f);
  return f;
}

// e^r for r <= 0 (or NaN, giving a meaningless finite value the caller
// replaces), within ~1 ulp of the exact value down into the subnormal range.
// Plain arithmetic the compiler vectorises: std::exp is one library call per
// element, which made sigmoid ~30x slower than a memcpy. Cody-Waite range
// reduction and the Cephes expf polynomial; the 2^n scale is applied in two
// halves so a result below FLT_MIN rounds once, like the library's.
inline float exp_nonpositive(float r) {
  r = bit_select(r != r, 0.f, r);
  r = bit_select(r < -104.f, -104.f, r);  // e^-104 is below half the smallest subnormal: rounds to 0
  // Round r*log2(e) to the nearest integer by the 1.5*2^23 trick (|.| < 2^22 here).
  const float n = (r * 1.44269504088896341f + 12582912.f) - 12582912.f;
  float f = r - n * 0.693359375f;
  f = f - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * f + 1.3981999507e-3f;
  p = p * f + 8.3334519073e-3f;
  p = p * f + 4.1665795894e-2f;
  p = p * f + 1.6666665459e-1f;
  p = p * f + 5.0000001201e-1f;
  p = p * f * f + f + 1.f;
  const int32_t ni = static_cast<int32_t>(n);
  const int32_t n1 = ni / 2, n2 = ni - n1;  // each in [-75, 0]: 2^n1, 2^n2 are normal floats
  float s1, s2;
  const int32_t b1 = (n1 + 127) << 23, b2 = (n2 + 127) << 23;
  std::memcpy(&s1, &b1, sizeof s1);
  std::memcpy(&s2, &b2, sizeof s2);
  return p * s1 * s2;
}

// The loops take their pointers and bounds as parameters: the build uses
// -fno-strict-aliasing, under which a float store inside a lambda that reads
// its pointers through captured references forces those pointers to be
// reloaded on every iteration and blocks vectorisation (relu ran 25x slower).
void relu_range(const float* x, float* y, int64_t b, int64_t e) {
  // NaN passes through (x > 0 is false, x != x is true) so a diverging network stays visible.
  for (int64_t i = b; i < e; ++i) y[i] = (x[i] > 0.f || x[i] != x[i]) ? x[i] : 0.f;
}

void relu_backward_range(const float* y, const float* gy, float* gx, int64_t b, int64_t e) {
  // Both loads unconditional, so the select vectorises instead of branching on the sign.
  for (int64_t i = b; i < e; ++i) {
    const float g = gy[i];
    gx[i] = y[i] > 0.f ? g : 0.f;
  }
}

void add_range(const float* a, const float* b, float* y, int64_t s, int64_t e) {
  for (int64_t i = s; i < e; ++i) y[i] = a[i] + b[i];
}

void sigmoid_range(const float* x, float* y, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) {
    // sigmoid(x) = 1/(1+t) for x >= 0 and t/(1+t) below, t = e^-|x|: the
    // exponent is never positive, so nothing overflows, and for very
    // negative x the result keeps its relative precision instead of 1 - 1.
    const float v = x[i];
    const float t = exp_nonpositive(-std::fabs(v));
    const float s = 1.f / (1.f + t);
    y[i] = bit_select(v != v, v, bit_select(v >= 0.f, s, t * s));
  }
}

void sigmoid_backward_range(const float* y, const float* gy, float* gx, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) gx[i] = gy[i] * y[i] * (1.f - y[i]);
}
}  // namespace

void CpuBackend::run_relu_forward(const Tensor& x, Tensor& y) {
  const float* xp = x.data();
  float* yp = y.data();
  pool_.parallel_for(x.numel(), [=](int64_t b, int64_t e) { relu_range(xp, yp, b, e); }, kGrain);
}

void CpuBackend::run_relu_backward(const Tensor& y, const Tensor& gy, Tensor& gx) {
  const float* yp = y.data();
  const float* gp = gy.data();
  float* gxp = gx.data();
  pool_.parallel_for(y.numel(), [=](int64_t b, int64_t e) { relu_backward_range(yp, gp, gxp, b, e); }, kGrain);
}

void CpuBackend::run_add_forward(const Tensor& a, const Tensor& b, Tensor& y) {
  const float* ap = a.data();
  const float* bp = b.data();
  float* yp = y.data();
  pool_.parallel_for(a.numel(), [=](int64_t s, int64_t e) { add_range(ap, bp, yp, s, e); }, kGrain);
}

void CpuBackend::run_sigmoid_forward(const Tensor& x, Tensor& y) {
  const float* xp = x.data();
  float* yp = y.data();
  pool_.parallel_for(x.numel(), [=](int64_t b, int64_t e) { sigmoid_range(xp, yp, b, e); }, kGrain / 4);
}

void CpuBackend::run_sigmoid_backward(const Tensor& y, const Tensor& gy, Tensor& gx) {
  const float* yp = y.data();
  const float* gp = gy.data();
  float* gxp = gx.data();
  pool_.parallel_for(y.numel(), [=](int64_t b, int64_t e) { sigmoid_backward_range(yp, gp, gxp, b, e); }, kGrain);
}

}  // namespace cn
