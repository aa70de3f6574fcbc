// 3x3, stride-1 convolution by Winograd F(4x4, 3x3) (winograd_f4x3.h): 2.25x
// fewer multiplies than im2col+GEMM for the same GEMM efficiency. conv2d.cc uses
// it for the forward pass and, in its adjoint forms, for both gradients.
#pragma once
#include <cstdint>

#include "../engine/thread_pool.h"
#include "cpu_features.h"

namespace cn {

// Layers worth it: 3x3, stride 1, padding <= 2 on both axes (more pads whole
// tiles of zeros), enough channels that the 36 GEMMs dominate the tile transforms, and at least 16 output tiles (4x4 each) in the batch: images
// with few tiles share their GEMMs (see winograd_f4x3_conv), and below 16 tiles
// the GEMMs' micro-tiles run mostly empty, so im2col (4x the multiplies, 16x the
// width) is faster.
bool winograd_f4x3_suits(int64_t kh, int64_t kw, int sh, int sw, int ph, int pw, int64_t in_channels,
                         int64_t out_channels, int64_t batch, int64_t out_h, int64_t out_w);

// The convolution's input side: x [n, c, h, w], padded by ph, pw, into o output channels.
struct WinogradLayer {
  const float* x = nullptr;
  int64_t n = 0, c = 0, h = 0, w = 0;
  int64_t o = 0;
  int ph = 0, pw = 0;
};

struct WinogradConvArgs : WinogradLayer {
  const float* weight = nullptr;  // [o, c, 3, 3]
  // Conv2dParams::weight_version of the weight (0: unknown). With a version, the
  // transformed weights are kept between calls (see conv2d_winograd.cc).
  uint64_t weight_version = 0;
  const float* bias = nullptr;  // [o] or nullptr
  float* y = nullptr;           // [n, o, h + 2ph - 2, w + 2pw - 2], overwritten
};

void winograd_f4x3_conv(ThreadPool& pool, Isa isa, const WinogradConvArgs& a);

// The gradients of that convolution (winograd_f4x3_suits) from gradY, both from
// one transform of gradY's 4x4 tiles: the input's as the exact adjoint of the
// forward's arithmetic, and the weight's in the Winograd domain (4x fewer
// multiplies than the direct sum over output positions, conv2d_shifted.h).
struct WinogradBackwardArgs : WinogradLayer {
  const float* weight = nullptr;  // [o, c, 3, 3]
  uint64_t weight_version = 0;
  const float* gy = nullptr;  // [n, o, h + 2ph - 2, w + 2pw - 2]
  float* gx = nullptr;        // [n, c, h, w], overwritten; nullptr: not wanted
  float* gw = nullptr;        // [o, c, 3, 3], overwritten; nullptr: not wanted
};

void winograd_f4x3_backward(ThreadPool& pool, Isa isa, const WinogradBackwardArgs& a);

}  // namespace cn
