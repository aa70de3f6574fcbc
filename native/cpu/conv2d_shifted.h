// Weight gradient of a stride-1 convolution without im2col. The batch is laid
// out channel-major with every image's rows zero-padded ("wide" rows of
// W + 2 * pad_w floats, images stacked in blocks of rows), and gradY the same
// way with zeros past each output row; then for kernel tap (i, j) the input
// under output position k of the whole batch sits at k + i * Wp + j. Each tap is
// one GEMM over the whole batch, gradW[:, :, i, j] = gradY_wide * shifted_x^T,
// reading the padded copy (about the size of x) instead of building a kh*kw
// times larger column matrix per image, and running 9 big GEMMs instead of one
// small one per image. Exact arithmetic: only the order of the sums changes.
#pragma once
#include <cstdint>

#include "../engine/thread_pool.h"
#include "cpu_features.h"

namespace cn {

struct ShiftedConvGeom {
  int64_t n, c, h, w;  // x
  int64_t o, kh, kw;   // weight
  int64_t ho, wo;      // gradY
  int ph, pw;          // stride is 1
};

// Stride 1, a kernel of more than one tap (1x1 needs no im2col anyway) and
// buffers of a sane size.
bool shifted_weight_grad_suits(const ShiftedConvGeom& g, int sh, int sw);

// gw[o, c, i, j] = sum over images and positions of gy[n, o, p] * x[n, c, p + (i, j) - pad]; overwrites gw.
void shifted_weight_grad(ThreadPool& pool, Isa isa, const ShiftedConvGeom& g, const float* x, const float* gy,
                         float* gw);

}  // namespace cn
