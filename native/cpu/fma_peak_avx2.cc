// The AVX2 FMA loop of fma_peak.h, in inline assembly: the compiler must
// neither merge the 12 identical-looking chains nor fold them away.
#include "fma_peak.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

namespace cn {

double fma_loop_avx2(int64_t iters) {
  __m256 a0 = _mm256_set1_ps(0.1f), a1 = _mm256_set1_ps(0.2f), a2 = _mm256_set1_ps(0.3f),
         a3 = _mm256_set1_ps(0.4f), a4 = _mm256_set1_ps(0.5f), a5 = _mm256_set1_ps(0.6f),
         a6 = _mm256_set1_ps(0.7f), a7 = _mm256_set1_ps(0.8f), a8 = _mm256_set1_ps(0.9f),
         a9 = _mm256_set1_ps(1.0f), a10 = _mm256_set1_ps(1.1f), a11 = _mm256_set1_ps(1.2f);
  const __m256 b = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1e-6f);
  for (int64_t it = 0; it < iters; ++it) {
    __asm__ volatile(
        "vfmadd231ps %[b], %[c], %[a0]\n\t"
        "vfmadd231ps %[b], %[c], %[a1]\n\t"
        "vfmadd231ps %[b], %[c], %[a2]\n\t"
        "vfmadd231ps %[b], %[c], %[a3]\n\t"
        "vfmadd231ps %[b], %[c], %[a4]\n\t"
        "vfmadd231ps %[b], %[c], %[a5]\n\t"
        "vfmadd231ps %[b], %[c], %[a6]\n\t"
        "vfmadd231ps %[b], %[c], %[a7]\n\t"
        "vfmadd231ps %[b], %[c], %[a8]\n\t"
        "vfmadd231ps %[b], %[c], %[a9]\n\t"
        "vfmadd231ps %[b], %[c], %[a10]\n\t"
        "vfmadd231ps %[b], %[c], %[a11]\n\t"
        : [a0] "+v"(a0), [a1] "+v"(a1), [a2] "+v"(a2), [a3] "+v"(a3), [a4] "+v"(a4), [a5] "+v"(a5),
          [a6] "+v"(a6), [a7] "+v"(a7), [a8] "+v"(a8), [a9] "+v"(a9), [a10] "+v"(a10), [a11] "+v"(a11)
        : [b] "v"(b), [c] "v"(c));
  }
  volatile float sink = _mm256_cvtss_f32(_mm256_add_ps(_mm256_add_ps(a0, a11), a5));
  (void)sink;
  return 12.0 * 8 * 2 * iters;
}

}  // namespace cn

#else

namespace cn {
double fma_loop_avx2(int64_t iters) { return fma_loop_portable(iters); }
}  // namespace cn

#endif
