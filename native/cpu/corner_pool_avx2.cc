// The corner pool line kernels built with AVX2 (this file gets -mavx2 -mfma):
// 8-wide rows for top/bottom, 8x8 transposed tiles for left/right.
#include "corner_pool_isa.h"

#if defined(__AVX2__)
#include <immintrin.h>

#include "corner_pool_lines.h"

namespace cn {
namespace {

struct Avx2Lanes {
  using V = __m256;
  static constexpr int L = 8;
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V set1(float f) { return _mm256_set1_ps(f); }
  static V zero() { return _mm256_setzero_ps(); }
  // maxps gives its second operand when either is NaN (a new NaN enters);
  // OR-ing the all-ones "m is NaN" mask keeps a running NaN.
  static V max_nan(V m, V v) { return _mm256_or_ps(_mm256_max_ps(m, v), _mm256_cmp_ps(m, m, _CMP_UNORD_Q)); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V record(V x, V y) { return _mm256_or_ps(_mm256_cmp_ps(x, y, _CMP_EQ_OQ), _mm256_cmp_ps(x, x, _CMP_UNORD_Q)); }
  static V keep(V mask, V v) { return _mm256_and_ps(mask, v); }
  static V drop(V mask, V v) { return _mm256_andnot_ps(mask, v); }
  static V load_column(const float* p, int64_t W) {
    return _mm256_setr_ps(p[0], p[W], p[2 * W], p[3 * W], p[4 * W], p[5 * W], p[6 * W], p[7 * W]);
  }
  static void store_column(float* p, int64_t W, V v) {
    alignas(32) float t[8];
    _mm256_store_ps(t, v);
    for (int k = 0; k < 8; ++k) p[k * W] = t[k];
  }
  static void transpose(V r[8]) {
    const V t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const V t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const V t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const V t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const V u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    const V u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    const V u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)), u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    const V u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)), u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20), r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20), r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31), r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31), r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
  }
};

void vertical_forward(const float* x, float* y, int64_t H, int64_t W, int64_t c0, int64_t c1, bool from_bottom) {
  vertical_max(x, y, H, W, c0, c1, from_bottom);
}

void vertical_backward_plane(const float* x, float* y, const float* gy, float* gx, float* pending, int64_t H, int64_t W,
                             int64_t c0, int64_t c1, bool from_bottom) {
  vertical_max(x, y, H, W, c0, c1, from_bottom);
  vertical_backward(x, y, gy, gx, pending, H, W, c0, c1, from_bottom);
}

void horizontal(bool from_right, const float* x, const float* gy, float* y, float* gx, float* scratch, int64_t rows,
                int64_t W) {
  if (from_right) horizontal_lines<Avx2Lanes, true>(x, gy, y, gx, scratch, rows, W);
  else horizontal_lines<Avx2Lanes, false>(x, gy, y, gx, scratch, rows, W);
}

const CornerPoolLineKernels kAvx2{vertical_forward, vertical_backward_plane, horizontal,
                                  horizontal_scratch_floats<Avx2Lanes>};

}  // namespace

const CornerPoolLineKernels* corner_pool_kernels_avx2() { return &kAvx2; }

}  // namespace cn

#else
namespace cn {
const CornerPoolLineKernels* corner_pool_kernels_avx2() { return nullptr; }
}  // namespace cn
#endif
