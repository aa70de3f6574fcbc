// Float math of the host decoder (native/decode), reproduced bit for bit on the
// device: the decoder's ties (local maxima, top-k, pair order, soft-NMS) depend on
// the last bit of every probability and weight, so "close" is not enough.
#pragma once
#include <cmath>
#include <cstdint>

#include "cuda_compat.cuh"

namespace cn {
namespace cuda {

// glibc's expf (the host's std::exp(float)), step by step: x / ln2 * 32 is split
// into k + r, exp(x) = 2^(k/32) * p(r) with a cubic p, evaluated in double with
// the FMAs the x86-64 FMA and aarch64 builds of glibc use (the reduction
// r = x * 32/ln2 - k included: without that FMA 2 of the 2^32 inputs differ),
// then rounded once to float. Exhaustively equal to glibc 2.36's expf over all 2^32 inputs
// (test/native/cuda_check). kExp2[i] is the double nearest 2^(i/32) with i << 47
// subtracted, so that adding k << 47 scales it by 2^(k div 32).
static __constant__ uint64_t kExp2[32] = {
    0x3ff0000000000000ull, 0x3fefd9b0d3158574ull, 0x3fefb5586cf9890full, 0x3fef9301d0125b51ull,
    0x3fef72b83c7d517bull, 0x3fef54873168b9aaull, 0x3fef387a6e756238ull, 0x3fef1e9df51fdee1ull,
    0x3fef06fe0a31b715ull, 0x3feef1a7373aa9cbull, 0x3feedea64c123422ull, 0x3feece086061892dull,
    0x3feebfdad5362a27ull, 0x3feeb42b569d4f82ull, 0x3feeab07dd485429ull, 0x3feea47eb03a5585ull,
    0x3feea09e667f3bcdull, 0x3fee9f75e8ec5f74ull, 0x3feea11473eb0187ull, 0x3feea589994cce13ull,
    0x3feeace5422aa0dbull, 0x3feeb737b0cdc5e5ull, 0x3feec49182a3f090ull, 0x3feed503b23e255dull,
    0x3feee89f995ad3adull, 0x3feeff76f2fb5e47ull, 0x3fef199bdd85529cull, 0x3fef3720dcef9069ull,
    0x3fef5818dcfba487ull, 0x3fef7c97337b9b5full, 0x3fefa4afa2a490daull, 0x3fefd0765b6e4540ull};

__device__ __forceinline__ float host_expf(float x) {
  const uint32_t top = (__float_as_uint(x) >> 20) & 0x7ff;
  if (top >= ((__float_as_uint(88.f) >> 20) & 0x7ff)) {  // |x| >= 88, inf or NaN
    if (__float_as_uint(x) == __float_as_uint(-INFINITY)) return 0.f;
    if (top >= ((__float_as_uint(INFINITY) >> 20) & 0x7ff)) return x + x;
    if (x > 0x1.62e42ep6f) return INFINITY;  // overflow
    if (x < -0x1.9fe368p6f) return 0.f;     // underflow
  }
  const double kInvLn2x32 = 0x1.71547652b82fep+0 * 32, kShift = 0x1.8p+52;
  const double c0 = 0x1.c6af84b912394p-5 / 32 / 32 / 32, c1 = 0x1.ebfce50fac4f3p-3 / 32 / 32,
               c2 = 0x1.62e42ff0c52d6p-1 / 32;
  const double z = __dmul_rn(kInvLn2x32, static_cast<double>(x));
  double kd = __dadd_rn(z, kShift);  // rounds z to an integer (ties to even)
  const uint64_t ki = static_cast<uint64_t>(__double_as_longlong(kd));
  kd = __dsub_rn(kd, kShift);
  // glibc's build contracts z - kd into one FMA: r from the exact product.
  const double r = __fma_rn(kInvLn2x32, static_cast<double>(x), -kd);
  const double s = __longlong_as_double(static_cast<long long>(kExp2[ki % 32] + (ki << 47)));
  const double p = __fma_rn(c0, r, c1);
  double y = __fma_rn(c2, r, 1.0);
  y = __fma_rn(p, __dmul_rn(r, r), y);
  return __double2float_rn(__dmul_rn(y, s));
}

// local_max.h sigmoid: 1 / (1 + exp(-x)) in float32.
__device__ __forceinline__ float host_sigmoid(float x) { return __fdiv_rn(1.f, __fadd_rn(1.f, host_expf(-x))); }

}  // namespace cuda
}  // namespace cn
