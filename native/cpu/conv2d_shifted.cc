// See conv2d_shifted.h.
#include "conv2d_shifted.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "gemm.h"
#include "gemm_kernels.h"
#include "scratch.h"

namespace cn {

namespace {

struct WideLayout {
  int64_t hb;     // rows per image block
  int64_t wp;     // floats per wide row
  int64_t k;      // wide positions of the whole batch (the GEMM depth)
  int64_t cs;     // floats per channel of the padded x (k plus slack rows for the shifted reads)
};

// Image n's data rows are block rows [ph, ph + h) of block n; the block must
// hold them (hb >= h + ph, so the next image's top padding is zero) and every
// output row's taps must stay clear of the next image's data (hb + ph > ho + kh - 2).
WideLayout layout(const ShiftedConvGeom& g) {
  WideLayout l;
  l.hb = std::max<int64_t>(g.h + g.ph, g.ho + g.kh - 1 - g.ph);
  l.wp = g.w + 2 * g.pw;
  l.k = g.n * l.hb * l.wp;
  l.cs = (g.n * l.hb + g.kh) * l.wp;
  return l;
}

}  // namespace

bool shifted_weight_grad_suits(const ShiftedConvGeom& g, int sh, int sw) {
  if (sh != 1 || sw != 1 || g.kh * g.kw < 2 || g.n <= 0 || g.ho <= 0 || g.wo <= 0) return false;
  if (g.wo + g.kw - 1 != g.w + 2 * g.pw) return false;  // what stride 1 implies; guards the layout
  const WideLayout l = layout(g);
  const int64_t limit = int64_t(1) << 25;  // floats (128 MB) per buffer
  return g.c * l.cs <= limit && g.o * l.k <= limit;
}

void shifted_weight_grad(ThreadPool& pool, Isa isa, const ShiftedConvGeom& g, const float* x, const float* gy,
                         float* gw) {
  const WideLayout l = layout(g);
  const int64_t taps = g.kh * g.kw;
  // Both copies are position-major (channels contiguous), so that the GEMM
  // packs its panels by plain row copies rather than by transposing.
  OpScratch xw_buf(ScratchSlot::Conv0, static_cast<size_t>(g.c * l.cs)), gyw_buf(ScratchSlot::Conv1, static_cast<size_t>(g.o * l.k)),
      gwt_buf(ScratchSlot::Conv2, static_cast<size_t>(taps * g.o * g.c));
  float *xw = xw_buf.data(), *gyw = gyw_buf.data(), *gwt = gwt_buf.data();

  const int64_t x_rows = l.cs / l.wp;  // wide rows of the padded x, slack included
  pool.parallel_for(x_rows, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* dst = xw + r * l.wp * g.c;
      const int64_t n = r / l.hb, ih = r % l.hb - g.ph;
      if (n >= g.n || ih < 0 || ih >= g.h) {
        std::memset(dst, 0, static_cast<size_t>(l.wp * g.c) * sizeof(float));
        continue;
      }
      std::memset(dst, 0, static_cast<size_t>(g.pw * g.c) * sizeof(float));
      std::memset(dst + (g.pw + g.w) * g.c, 0, static_cast<size_t>(g.pw * g.c) * sizeof(float));
      // body[iw * C + c] = x[n, c, ih, iw]: a transpose, in the ISA's register blocks (8x8 with AVX).
      gemm_pack_transposed(isa, x + (n * g.c * g.h + ih) * g.w, g.h * g.w, static_cast<int>(g.c), g.w,
                           static_cast<int>(g.c), dst + g.pw * g.c);
    }
  }, 4);
  pool.parallel_for(g.n * l.hb, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* dst = gyw + r * l.wp * g.o;
      const int64_t n = r / l.hb, oh = r % l.hb;
      if (oh >= g.ho) {
        std::memset(dst, 0, static_cast<size_t>(l.wp * g.o) * sizeof(float));
        continue;
      }
      std::memset(dst + g.wo * g.o, 0, static_cast<size_t>((l.wp - g.wo) * g.o) * sizeof(float));
      gemm_pack_transposed(isa, gy + (n * g.o * g.ho + oh) * g.wo, g.ho * g.wo, static_cast<int>(g.o), g.wo,
                           static_cast<int>(g.o), dst);
    }
  }, 4);

  // All taps in one GEMM, gwt[O, taps * C] = gy_wide^T[O, K] * [x_wide shifted
  // by each tap][K, taps * C]: gy is packed once for every tap, and the shifted
  // rows of x are copied into the packed panels straight from cache.
  std::vector<int64_t> shift(static_cast<size_t>(taps));
  for (int64_t t = 0; t < taps; ++t) shift[t] = (t / g.kw * l.wp + t % g.kw) * g.c;
  GemmOp op;
  op.trans_a = true;
  op.m = g.o;
  op.n = taps * g.c;
  op.k = l.k;
  op.a = gyw;
  op.lda = g.o;
  op.b = xw;
  op.ldb = g.c;
  op.b_group_cols = g.c;
  op.b_group_offset = shift.data();
  op.c = gwt;
  op.ldc = taps * g.c;
  sgemm(isa, &pool, op);

  pool.parallel_for(g.o, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o)
      for (int64_t c = 0; c < g.c; ++c)
        for (int64_t t = 0; t < taps; ++t) gw[(o * g.c + c) * taps + t] = gwt[(o * taps + t) * g.c + c];
  }, 8);
}

}  // namespace cn
