// 2-D convolution on the CPU, lowered to the SGEMM (gemm.h) through im2col.
// The im2col matrix [C*kh*kw, positions] is built for a chunk of output
// positions at a time so memory stays bounded (a full one for 256 channels, 3x3,
// 128x128 would be 150 MB); each chunk is one GEMM, itself spread over the pool.
// A 1x1, stride 1, unpadded convolution needs no im2col: x already is the matrix.
// 3x3 stride-1 layers with enough channels go through Winograd F(4x4, 3x3)
// instead (conv2d_winograd.h), forward and both gradients. The weight gradient
// of the other stride-1 layers is one GEMM over shifted views of the whole
// batch (conv2d_shifted.h); other strides go through im2col.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "conv2d_shifted.h"
#include "conv2d_winograd.h"
#include "cpu_backend.h"
#include "gemm.h"
#include "scratch.h"

namespace cn {

namespace {

struct ConvGeom {
  int64_t n, c, h, w;     // input
  int64_t o, kh, kw;      // weight
  int64_t ho, wo;         // output
  int sh, sw, ph, pw;
  int64_t ck() const { return c * kh * kw; }
  int64_t positions() const { return ho * wo; }
  bool direct() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
};

// The forward convolution as the Winograd drivers take it.
WinogradLayer winograd_layer(const float* x, const ConvGeom& g) { return {x, g.n, g.c, g.h, g.w, g.o, g.ph, g.pw}; }

ConvGeom geometry(const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  ConvGeom g{x.size(0), x.size(1), x.size(2), x.size(3), w.size(0), w.size(2), w.size(3), 0, 0,
             p.stride_h, p.stride_w, p.pad_h, p.pad_w};
  g.ho = conv_out_size(g.h, g.kh, g.sh, g.ph);
  g.wo = conv_out_size(g.w, g.kw, g.sw, g.pw);
  return g;
}

// Output positions per im2col chunk: about 8 MB of columns, whole multiples of
// 32 positions (the widest GEMM micro-tile) unless the image is smaller.
int64_t chunk_positions(const ConvGeom& g) {
  const int64_t budget = int64_t(1) << 21;  // floats
  int64_t pc = std::max<int64_t>(32, budget / std::max<int64_t>(1, g.ck()) / 32 * 32);
  return std::min(pc, g.positions());
}

// A few floats at a time: a libc call per short run costs more than the stores.
inline void fill_zero(float* d, int64_t n) {
  for (int64_t t = 0; t < n; ++t) d[t] = 0.0f;
}

// col[r, q] for r = (c, i, j) over the kernel taps and q over output positions
// [p0, p0 + np) of image `xn` [C, H, W]; zero where the tap falls in the padding.
void im2col(ThreadPool& pool, const ConvGeom& g, const float* xn, int64_t p0, int64_t np, float* col) {
  pool.parallel_for(g.ck(), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t c = r / (g.kh * g.kw), i = r / g.kw % g.kh, j = r % g.kw;
      const float* xc = xn + c * g.h * g.w;
      float* dst = col + r * np;
      // Output columns whose tap lands inside the image: 0 <= wo*sw - pw + j < W.
      const int64_t lo = std::min(g.wo, std::max<int64_t>(0, (g.pw - j + g.sw - 1) / g.sw));
      const int64_t hi = std::max(lo, std::min(g.wo, (g.w + g.pw - j + g.sw - 1) / g.sw));
      int64_t q = 0;
      while (q < np) {
        const int64_t pos = p0 + q, oh = pos / g.wo, ow0 = pos % g.wo;
        const int64_t run = std::min(np - q, g.wo - ow0);  // rest of this output row
        const int64_t ih = oh * g.sh - g.ph + i;
        float* d = dst + q;
        if (ih < 0 || ih >= g.h) {
          fill_zero(d, run);
        } else {
          // Padding on the left, the taps inside the row, padding on the right:
          // branch-free loops (the stem's stride-2 gather was element by element
          // behind a bounds test, 12% of a training step).
          const float* xrow = xc + ih * g.w - g.pw + j;
          const int64_t a = std::min(std::max(lo, ow0), ow0 + run), b = std::max(a, std::min(hi, ow0 + run));
          fill_zero(d, a - ow0);
          float* __restrict da = d + (a - ow0);
          const float* __restrict sa = xrow + a * g.sw;
          const int64_t len = b - a;
          if (g.sw == 1)
            for (int64_t t = 0; t < len; ++t) da[t] = sa[t];
          else if (g.sw == 2)
            for (int64_t t = 0; t < len; ++t) da[t] = sa[2 * t];
          else
            for (int64_t t = 0; t < len; ++t) da[t] = sa[t * g.sw];
          fill_zero(d + (b - ow0), ow0 + run - b);
        }
        q += run;
      }
    }
  }, 4);
}

// The adjoint of im2col: gx_n[C, H, W] += col scattered back. Channels are split
// between threads, so no two threads touch the same pixel.
void col2im_add(ThreadPool& pool, const ConvGeom& g, const float* col, int64_t p0, int64_t np, float* gxn) {
  pool.parallel_for(g.c, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      float* gc = gxn + c * g.h * g.w;
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) {
          const float* src = col + ((c * g.kh + i) * g.kw + j) * np;
          const int64_t lo = std::min(g.wo, std::max<int64_t>(0, (g.pw - j + g.sw - 1) / g.sw));
          const int64_t hi = std::max(lo, std::min(g.wo, (g.w + g.pw - j + g.sw - 1) / g.sw));
          int64_t q = 0;
          while (q < np) {
            const int64_t pos = p0 + q, oh = pos / g.wo, ow0 = pos % g.wo;
            const int64_t run = std::min(np - q, g.wo - ow0);
            const int64_t ih = oh * g.sh - g.ph + i;
            if (ih >= 0 && ih < g.h) {
              float* grow = gc + ih * g.w - g.pw + j;
              const float* s = src + q - ow0;  // s[ow] is the value for output column ow
              const int64_t a = std::max(lo, ow0), b = std::min(hi, ow0 + run);
              if (g.sw == 1)
                for (int64_t ow = a; ow < b; ++ow) grow[ow] += s[ow];
              else
                for (int64_t ow = a; ow < b; ++ow) grow[ow * g.sw] += s[ow];
            }
            q += run;
          }
        }
    }
  }, 1);
}

}  // namespace

void CpuBackend::run_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
                                    Tensor& y) {
  const ConvGeom g = geometry(x, w, p);
  const int64_t P = g.positions(), CK = g.ck();
  if (y.numel() == 0) return;
  if (winograd_f4x3_suits(g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.c, g.o, g.n, g.ho, g.wo)) {
    WinogradConvArgs a;
    static_cast<WinogradLayer&>(a) = winograd_layer(x.data(), g);
    a.weight = w.data();
    a.weight_version = p.weight_version;
    a.bias = bias.defined() ? bias.data() : nullptr;
    a.y = y.data();
    winograd_f4x3_conv(pool_, isa_, a);
    return;
  }
  // The GEMMs add onto the bias (Winograd adds it in its output transform).
  if (bias.defined()) {
    pool_.parallel_for(g.n * g.o, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) std::fill_n(y.data() + r * P, P, bias.data()[r % g.o]);
    }, 16);
  }
  const float beta = bias.defined() ? 1.0f : 0.0f;
  GemmOp op;
  op.m = g.o;
  op.k = CK;
  op.a = w.data();
  op.lda = CK;
  op.beta = beta;
  op.ldc = P;
  if (g.direct()) {
    for (int64_t n = 0; n < g.n; ++n) {
      op.n = P;
      op.b = x.data() + n * g.c * g.h * g.w;
      op.ldb = P;
      op.c = y.data() + n * g.o * P;
      sgemm(isa_, &pool_, op);
    }
    return;
  }
  const int64_t pc = chunk_positions(g);
  OpScratch col_buf(ScratchSlot::Conv0, static_cast<size_t>(CK * pc));
  float* col = col_buf.data();
  for (int64_t n = 0; n < g.n; ++n) {
    const float* xn = x.data() + n * g.c * g.h * g.w;
    for (int64_t p0 = 0; p0 < P; p0 += pc) {
      const int64_t np = std::min(pc, P - p0);
      im2col(pool_, g, xn, p0, np, col);
      op.n = np;
      op.b = col;
      op.ldb = np;
      op.c = y.data() + n * g.o * P + p0;
      sgemm(isa_, &pool_, op);
    }
  }
}

void CpuBackend::run_conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy, const Conv2dParams& p,
                                     Tensor& gx, Tensor& gw, Tensor& gb) {
  const ConvGeom g = geometry(x, w, p);
  const int64_t P = g.positions(), CK = g.ck(), CHW = g.c * g.h * g.w;

  if (gb.defined()) {
    // Summed in double: a channel may add up hundreds of thousands of terms.
    pool_.parallel_for(g.o, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        // Eight running sums: one long chain of dependent double adds was 4% of a
        // small model's step.
        double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int64_t n = 0; n < g.n; ++n) {
          const float* src = gy.data() + (n * g.o + o) * P;
          int64_t q = 0;
          for (; q + 8 <= P; q += 8)
            for (int j = 0; j < 8; ++j) acc[j] += src[q + j];
          for (; q < P; ++q) acc[q % 8] += src[q];
        }
        gb.data()[o] = static_cast<float>(((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])));
      }
    }, 4);
  }
  if (!gx.defined() && !gw.defined()) return;
  if (gw.defined() && (g.n == 0 || P == 0)) std::memset(gw.data(), 0, gw.bytes());
  // Both gradients of a Winograd-suited layer from one transform of gy (conv2d_winograd.h).
  const bool winograd = P > 0 && winograd_f4x3_suits(g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.c, g.o, g.n, g.ho, g.wo);
  const bool gx_winograd = gx.defined() && winograd, gw_winograd = gw.defined() && winograd;
  if (winograd) {
    WinogradBackwardArgs a;
    static_cast<WinogradLayer&>(a) = winograd_layer(x.data(), g);
    a.weight = w.data();
    a.weight_version = p.weight_version;
    a.gy = gy.data();
    a.gx = gx.defined() ? gx.data() : nullptr;
    a.gw = gw.defined() ? gw.data() : nullptr;
    winograd_f4x3_backward(pool_, isa_, a);
  }
  const ShiftedConvGeom sg{g.n, g.c, g.h, g.w, g.o, g.kh, g.kw, g.ho, g.wo, g.ph, g.pw};
  const bool gw_shifted = gw.defined() && !gw_winograd && P > 0 && g.c > 0 && g.o > 0 && !g.direct() &&
                          shifted_weight_grad_suits(sg, g.sh, g.sw);
  if (gw_shifted) shifted_weight_grad(pool_, isa_, sg, x.data(), gy.data(), gw.data());
  // What is left for the im2col path.
  const bool gx_im2col = gx.defined() && !gx_winograd;
  const bool gw_im2col = gw.defined() && !gw_winograd && !gw_shifted;
  if (!gx_im2col && !gw_im2col) return;
  if (g.n == 0 || P == 0 || g.o == 0 || CK == 0) {
    if (gx_im2col && gx.numel()) std::memset(gx.data(), 0, gx.bytes());
    return;
  }

  // gradWeight[O, CK] += gy_n[O, positions] * col[CK, positions]^T
  GemmOp wop;
  wop.trans_b = true;
  wop.m = g.o;
  wop.n = CK;
  wop.a = nullptr;
  wop.lda = P;
  wop.c = gw.data();
  wop.ldc = CK;
  // gcol[CK, positions] = weight^T * gy_n[O, positions]
  GemmOp xop;
  xop.trans_a = true;
  xop.m = CK;
  xop.k = g.o;
  xop.a = w.data();
  xop.lda = CK;
  xop.ldb = P;

  bool first = true;
  if (g.direct()) {
    for (int64_t n = 0; n < g.n; ++n) {
      const float* gyn = gy.data() + n * g.o * P;
      if (gw_im2col) {
        wop.k = P;
        wop.a = gyn;
        wop.b = x.data() + n * CHW;
        wop.ldb = P;
        wop.beta = first ? 0.0f : 1.0f;
        sgemm(isa_, &pool_, wop);
      }
      if (gx_im2col) {
        xop.n = P;
        xop.b = gyn;
        xop.c = gx.data() + n * CHW;
        xop.ldc = P;
        xop.beta = 0.0f;
        sgemm(isa_, &pool_, xop);
      }
      first = false;
    }
    return;
  }

  // col2im_add scatters into gx.
  if (gx_im2col && gx.numel()) std::memset(gx.data(), 0, gx.bytes());
  const int64_t pc = chunk_positions(g);
  OpScratch col_buf, gcol_buf;
  float* col = gw_im2col ? col_buf.take(ScratchSlot::Conv0, static_cast<size_t>(CK * pc)) : nullptr;
  float* gcol = gx_im2col ? gcol_buf.take(ScratchSlot::Conv1, static_cast<size_t>(CK * pc)) : nullptr;
  for (int64_t n = 0; n < g.n; ++n) {
    const float* gyn = gy.data() + n * g.o * P;
    for (int64_t p0 = 0; p0 < P; p0 += pc) {
      const int64_t np = std::min(pc, P - p0);
      if (gw_im2col) {
        im2col(pool_, g, x.data() + n * CHW, p0, np, col);
        wop.k = np;
        wop.a = gyn + p0;
        wop.b = col;
        wop.ldb = np;
        wop.beta = first ? 0.0f : 1.0f;
        sgemm(isa_, &pool_, wop);
      }
      if (gx_im2col) {
        xop.n = np;
        xop.b = gyn + p0;
        xop.c = gcol;
        xop.ldc = np;
        xop.beta = 0.0f;
        sgemm(isa_, &pool_, xop);
        col2im_add(pool_, g, gcol, p0, np, gx.data() + n * CHW);
      }
      first = false;
    }
  }
}

}  // namespace cn
