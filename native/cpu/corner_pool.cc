// CornerNet's corner pools: a running max along H (top, bottom) or W (left,
// right) of each NCHW plane, forward and backward. How the lines are computed
// is in corner_pool_lines.h; this file splits the work over the thread pool,
// owns the scratch memory, and picks the kernel build for the backend's ISA.
#include <algorithm>
#include <vector>

#include "corner_pool_isa.h"
#include "cpu_backend.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "corner_pool_lines.h"

namespace cn {

namespace {

#if defined(__SSE2__)
struct SseLanes {
  using V = __m128;
  static constexpr int L = 4;
  static V load(const float* p) { return _mm_loadu_ps(p); }
  static void store(float* p, V v) { _mm_storeu_ps(p, v); }
  static V set1(float f) { return _mm_set1_ps(f); }
  static V zero() { return _mm_setzero_ps(); }
  // maxps gives its second operand when either is NaN (a new NaN enters);
  // OR-ing the all-ones "m is NaN" mask keeps a running NaN.
  static V max_nan(V m, V v) { return _mm_or_ps(_mm_max_ps(m, v), _mm_cmpunord_ps(m, m)); }
  static V add(V a, V b) { return _mm_add_ps(a, b); }
  static V record(V x, V y) { return _mm_or_ps(_mm_cmpeq_ps(x, y), _mm_cmpunord_ps(x, x)); }
  static V keep(V mask, V v) { return _mm_and_ps(mask, v); }
  static V drop(V mask, V v) { return _mm_andnot_ps(mask, v); }
  static V load_column(const float* p, int64_t W) { return _mm_setr_ps(p[0], p[W], p[2 * W], p[3 * W]); }
  static void store_column(float* p, int64_t W, V v) {
    alignas(16) float t[4];
    _mm_store_ps(t, v);
    p[0] = t[0], p[W] = t[1], p[2 * W] = t[2], p[3 * W] = t[3];
  }
  static void transpose(V r[4]) { _MM_TRANSPOSE4_PS(r[0], r[1], r[2], r[3]); }
};

void horizontal_baseline(bool from_right, const float* x, const float* gy, float* y, float* gx, float* scratch,
                         int64_t rows, int64_t W) {
  if (from_right) horizontal_lines<SseLanes, true>(x, gy, y, gx, scratch, rows, W);
  else horizontal_lines<SseLanes, false>(x, gy, y, gx, scratch, rows, W);
}
int64_t scratch_baseline(int64_t W) { return horizontal_scratch_floats<SseLanes>(W); }
#else
void horizontal_baseline(bool from_right, const float* x, const float* gy, float* y, float* gx, float* scratch,
                         int64_t rows, int64_t W) {
  if (from_right) horizontal_scalar<true>(x, gy, gx ? scratch : y, gx, rows, W);
  else horizontal_scalar<false>(x, gy, gx ? scratch : y, gx, rows, W);
}
int64_t scratch_baseline(int64_t W) { return 8 * W; }
#endif

void vertical_forward_baseline(const float* x, float* y, int64_t H, int64_t W, int64_t c0, int64_t c1, bool from_bottom) {
  vertical_max(x, y, H, W, c0, c1, from_bottom);
}

void vertical_backward_baseline(const float* x, float* y, const float* gy, float* gx, float* pending, int64_t H,
                                int64_t W, int64_t c0, int64_t c1, bool from_bottom) {
  vertical_max(x, y, H, W, c0, c1, from_bottom);
  vertical_backward(x, y, gy, gx, pending, H, W, c0, c1, from_bottom);
}

const CornerPoolLineKernels kBaseline{vertical_forward_baseline, vertical_backward_baseline, horizontal_baseline,
                                      scratch_baseline};

const CornerPoolLineKernels& kernels_for(Isa isa) {
  const CornerPoolLineKernels* avx2 = corner_pool_kernels_avx2();
  // The AVX-512 build of the engine uses the AVX2 kernels here: the work is
  // bound by memory traffic once rows are 8 wide.
  if (isa != Isa::Portable && avx2) return *avx2;
  return kBaseline;
}

// Column blocks per plane for top/bottom: one unless there are too few planes
// to feed every thread, and never narrower than 64 floats (four cache lines).
int64_t column_blocks(int64_t planes, int64_t W, int threads) {
  int64_t cb = 1;
  while (planes * cb < 4 * threads && W / (cb * 2) >= 64) cb *= 2;
  return cb;
}

// Rows per parallel chunk for left/right: whole groups of 16, ~32K floats.
int64_t row_grain(int64_t W) {
  int64_t g = std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, W));
  return (g + 15) / 16 * 16;
}

}  // namespace

const CornerPoolLineKernels& corner_pool_kernels_baseline() { return kBaseline; }

void CpuBackend::run_corner_pool_forward(CornerPoolMode mode, const Tensor& x, Tensor& y) {
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  if (planes == 0 || H == 0 || W == 0) return;
  const CornerPoolLineKernels& k = kernels_for(isa_);
  const float* xp = x.data();
  float* yp = y.data();
  if (mode == CornerPoolMode::Top || mode == CornerPoolMode::Bottom) {
    const bool from_bottom = mode == CornerPoolMode::Top;
    const int64_t cb = column_blocks(planes, W, pool_.num_threads());
    const int64_t bw = (W + cb - 1) / cb;
    pool_.parallel_for(planes * cb, [&](int64_t b, int64_t e) {
      for (int64_t u = b; u < e; ++u) {
        const int64_t p = u / cb, c0 = (u % cb) * bw, c1 = std::min(W, c0 + bw);
        k.vertical_forward(xp + p * H * W, yp + p * H * W, H, W, c0, c1, from_bottom);
      }
    });
    return;
  }
  const bool from_right = mode == CornerPoolMode::Left;
  pool_.parallel_for(planes * H, [&](int64_t b, int64_t e) {
    k.horizontal(from_right, xp + b * W, nullptr, yp + b * W, nullptr, nullptr, e - b, W);
  }, row_grain(W));
}

void CpuBackend::run_corner_pool_backward(CornerPoolMode mode, const Tensor& x, const Tensor& gy, Tensor& gx) {
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  if (planes == 0 || H == 0 || W == 0) return;
  const CornerPoolLineKernels& k = kernels_for(isa_);
  const float* xp = x.data();
  const float* gp = gy.data();
  float* gxp = gx.data();
  if (mode == CornerPoolMode::Top || mode == CornerPoolMode::Bottom) {
    const bool from_bottom = mode == CornerPoolMode::Top;
    const int64_t cb = column_blocks(planes, W, pool_.num_threads());
    const int64_t bw = (W + cb - 1) / cb;
    pool_.parallel_for(planes * cb, [&](int64_t b, int64_t e) {
      // The recomputed forward plane stays in L2 between the two passes.
      std::vector<float> y(static_cast<size_t>(H * W)), pending(static_cast<size_t>(W));
      for (int64_t u = b; u < e; ++u) {
        const int64_t p = u / cb, c0 = (u % cb) * bw, c1 = std::min(W, c0 + bw);
        const int64_t off = p * H * W;
        k.vertical_backward(xp + off, y.data(), gp + off, gxp + off, pending.data(), H, W, c0, c1, from_bottom);
      }
    });
    return;
  }
  const bool from_right = mode == CornerPoolMode::Left;
  pool_.parallel_for(planes * H, [&](int64_t b, int64_t e) {
    std::vector<float> scratch(static_cast<size_t>(k.scratch_floats(W)));
    k.horizontal(from_right, xp + b * W, gp + b * W, nullptr, gxp + b * W, scratch.data(), e - b, W);
  }, row_grain(W));
}

}  // namespace cn
