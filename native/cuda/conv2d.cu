// 2-D convolution on the GPU with the backend's own kernels: three implicit
// GEMMs (no im2col buffer; each tile gathers its operands straight from the
// tensors) and a per-channel reduction for the bias gradient.
//
//   forward   y[m, o]  = sum_k A[m, k] w[o, k] (+ bias[o])     m = (n, oh, ow), k = (c, i, j)
//   gradX     gx[m', c] = sum_k' gy[n, o, oh, ow] w[o, c, i, j]  m' = (n, ih, iw), k' = (o, i, j),
//             where (oh, ow) is the output whose tap (i, j) lands on (ih, iw) — a gather,
//             so every gx element is written once by one thread: no atomics, no zeroing
//   gradW     gw[o, k] = sum_m gy[n, o, oh, ow] A[m, k]            split over m, partial tiles
//             summed in a fixed order by a second kernel (deterministic, no atomics)
//   gradB     gb[o]    = sum_{n, p} gy[n, o, p]                    one block per channel, double
//
// A[m, k] = x[n, c, oh*sh - ph + i, ow*sw - pw + j], zero in the padding, is
// the im2col matrix the CPU backend (native/cpu/conv2d.cc, the reference)
// builds explicitly.
//
// All three GEMMs share one tiling: a block of 256 threads computes a 64x64
// output tile in 16-deep slices of the reduction, both operand slices staged
// in shared memory, each thread a 4x4 micro-tile. The micro-tile's rows are
// tm, tm+16, tm+32, tm+48 (tm = threadIdx.x % 16): rows are the output's
// contiguous dimension, so each of a thread's stores is part of a half-warp
// writing 16 consecutive floats, and the shared-memory reads of a row slice
// are 16 consecutive words (conflict-free). Global loads for the next slice are
// issued before the current slice is multiplied, so their latency overlaps the
// arithmetic.
#include <algorithm>
#include <cstdint>

#include "cuda_ops.h"

#if defined(__CUDACC__)
#define CN_CONV_UNROLL _Pragma("unroll")
#else
#define CN_CONV_UNROLL
#endif

namespace cn {
namespace cuda {

namespace {

constexpr int kTile = 64;           // output rows and columns per block
constexpr int kDepth = 16;          // reduction slice
constexpr int kPad = kTile + 1;     // shared rows padded: transposing stores hit distinct banks
constexpr int kLoads = kTile * kDepth / kThreads;  // 4 elements of each operand per thread per slice
constexpr int kRowGroups = kThreads / kTile;       // 4: depths a 64-wide row of loads covers at once
// The index arithmetic below (micro-tile rows tm + 16 i, loads at depth
// t / 64 + 4 r or column t / 16 + 16 r) is written for exactly this shape.
static_assert(kThreads == 256 && kTile == 64 && kDepth == 16 && kLoads == 4 && kRowGroups == 4,
              "conv2d tiling constants");

struct ConvShape {
  int n, c, h, w;    // input
  int o, kh, kw;     // weight [O, C, kh, kw]
  int ho, wo;        // output
  int sh, sw, ph, pw;
  __host__ __device__ int khw() const { return kh * kw; }
};

// acc[i][j] += sum_d As[d][tm + 16 i] * Bs[d][tn + 16 j] over one slice.
__device__ __forceinline__ void multiply_slice(const float (*As)[kPad], const float (*Bs)[kPad], int tm, int tn,
                                               float (&acc)[4][4]) {
  CN_CONV_UNROLL
  for (int d = 0; d < kDepth; ++d) {
    float a[4], b[4];
    CN_CONV_UNROLL
    for (int i = 0; i < 4; ++i) a[i] = As[d][tm + 16 * i];
    CN_CONV_UNROLL
    for (int j = 0; j < 4; ++j) b[j] = Bs[d][tn + 16 * j];
    CN_CONV_UNROLL
    for (int i = 0; i < 4; ++i) {
      CN_CONV_UNROLL
      for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
    }
  }
}

// ---- forward: rows m = (n, oh, ow), columns o, reduction k = (c, i, j) -------
// grid (ceil(M/64), ceil(O/64)). A slice: thread t gathers row t % 64 (so a warp
// reads 32 neighbouring output positions: consecutive ow, coalesced for stride
// 1) at depths t/64 + 4r. Weight slice: depth t % 16 (contiguous along k in
// w[o, k]) for columns t/16 + 16r.
__global__ void __launch_bounds__(kThreads)
conv2d_forward_kernel(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ bias,
                      float* __restrict__ y, ConvShape s) {
  __shared__ float As[kDepth][kPad];
  __shared__ float Bs[kDepth][kPad];
  const int t = threadIdx.x, tm = t % 16, tn = t / 16;
  const int P = s.ho * s.wo, M = s.n * P, K = s.c * s.khw(), HW = s.h * s.w;
  const int m0 = blockIdx.x * kTile, o0 = blockIdx.y * kTile;

  // This thread's gathered row: fixed for the whole reduction.
  const int am = m0 + t % kTile;
  const bool a_row = am < M;
  const int an = a_row ? am / P : 0, ap = a_row ? am % P : 0;
  const int ih0 = ap / s.wo * s.sh - s.ph, iw0 = ap % s.wo * s.sw - s.pw;
  const float* xn = x + static_cast<int64_t>(an) * s.c * HW;
  const int ad = t / kTile;
  const int bd = t % kDepth, bo = t / kDepth;

  float ra[kLoads], rb[kLoads];
  auto load = [&](int k0) {
    CN_CONV_UNROLL
    for (int r = 0; r < kLoads; ++r) {
      const int k = k0 + ad + kRowGroups * r;
      float v = 0.f;
      if (a_row && k < K) {
        const int c = k / s.khw(), tap = k - c * s.khw(), i = tap / s.kw, j = tap - i * s.kw;
        const int ih = ih0 + i, iw = iw0 + j;
        if (ih >= 0 && ih < s.h && iw >= 0 && iw < s.w) v = xn[c * HW + ih * s.w + iw];
      }
      ra[r] = v;
      const int o = o0 + bo + 16 * r, kb = k0 + bd;
      rb[r] = (o < s.o && kb < K) ? w[static_cast<int64_t>(o) * K + kb] : 0.f;
    }
  };

  float acc[4][4] = {};
  load(0);
  for (int k0 = 0; k0 < K; k0 += kDepth) {
    CN_CONV_UNROLL
    for (int r = 0; r < kLoads; ++r) {
      As[ad + kRowGroups * r][t % kTile] = ra[r];
      Bs[bd][bo + 16 * r] = rb[r];
    }
    __syncthreads();
    if (k0 + kDepth < K) load(k0 + kDepth);
    multiply_slice(As, Bs, tm, tn, acc);
    __syncthreads();  // the slice is consumed before the next one overwrites it
  }

  CN_CONV_UNROLL
  for (int i = 0; i < 4; ++i) {
    const int m = m0 + tm + 16 * i;
    if (m >= M) continue;
    const int n = m / P, p = m % P;
    CN_CONV_UNROLL
    for (int j = 0; j < 4; ++j) {
      const int o = o0 + tn + 16 * j;
      if (o < s.o) y[(static_cast<int64_t>(n) * s.o + o) * P + p] = acc[i][j] + (bias ? bias[o] : 0.f);
    }
  }
}

// ---- gradX: rows m' = (n, ih, iw), columns c, reduction k' = (o, i, j) -------
// The tap (i, j) of output (oh, ow) reads input (oh*sh - ph + i, ow*sw - pw + j);
// so input (ih, iw) receives from oh = (ih + ph - i) / sh when that division is
// exact and in range. For stride 2 three taps in four find no output and
// contribute zeros: the price of a gather with no atomics.
__global__ void __launch_bounds__(kThreads)
conv2d_grad_x_kernel(const float* __restrict__ gy, const float* __restrict__ w, float* __restrict__ gx, ConvShape s) {
  __shared__ float As[kDepth][kPad];
  __shared__ float Bs[kDepth][kPad];
  const int t = threadIdx.x, tm = t % 16, tn = t / 16;
  const int P = s.ho * s.wo, HW = s.h * s.w, M = s.n * HW, K = s.o * s.khw();
  const int m0 = blockIdx.x * kTile, c0 = blockIdx.y * kTile;

  const int am = m0 + t % kTile;
  const bool a_row = am < M;
  const int an = a_row ? am / HW : 0, aq = a_row ? am % HW : 0;
  const int th0 = aq / s.w + s.ph, tw0 = aq % s.w + s.pw;  // ih + ph, iw + pw
  const float* gyn = gy + static_cast<int64_t>(an) * s.o * P;
  const int ad = t / kTile;
  // Weight slice w[o, c, i, j] for k' = (o, i, j): column c = t % 64, so a warp
  // reads 32 channels khw floats apart (contiguous for 1x1).
  const int bc = t % kTile, bd = t / kTile;
  const int64_t CKHW = static_cast<int64_t>(s.c) * s.khw();

  float ra[kLoads], rb[kLoads];
  auto load = [&](int k0) {
    CN_CONV_UNROLL
    for (int r = 0; r < kLoads; ++r) {
      const int k = k0 + ad + kRowGroups * r;
      float v = 0.f;
      if (a_row && k < K) {
        const int o = k / s.khw(), tap = k - o * s.khw(), i = tap / s.kw, j = tap - i * s.kw;
        const int th = th0 - i, tw = tw0 - j;
        if (th >= 0 && tw >= 0 && th % s.sh == 0 && tw % s.sw == 0) {
          const int oh = th / s.sh, ow = tw / s.sw;
          if (oh < s.ho && ow < s.wo) v = gyn[o * P + oh * s.wo + ow];
        }
      }
      ra[r] = v;
      const int kb = k0 + bd + kRowGroups * r, c = c0 + bc;
      float u = 0.f;
      if (kb < K && c < s.c) {
        const int o = kb / s.khw(), tap = kb - o * s.khw();
        u = w[o * CKHW + static_cast<int64_t>(c) * s.khw() + tap];
      }
      rb[r] = u;
    }
  };

  float acc[4][4] = {};
  load(0);
  for (int k0 = 0; k0 < K; k0 += kDepth) {
    CN_CONV_UNROLL
    for (int r = 0; r < kLoads; ++r) {
      As[ad + kRowGroups * r][t % kTile] = ra[r];
      Bs[bd + kRowGroups * r][bc] = rb[r];
    }
    __syncthreads();
    if (k0 + kDepth < K) load(k0 + kDepth);
    multiply_slice(As, Bs, tm, tn, acc);
    __syncthreads();
  }

  CN_CONV_UNROLL
  for (int i = 0; i < 4; ++i) {
    const int m = m0 + tm + 16 * i;
    if (m >= M) continue;
    const int n = m / HW, q = m % HW;
    CN_CONV_UNROLL
    for (int j = 0; j < 4; ++j) {
      const int c = c0 + tn + 16 * j;
      if (c < s.c) gx[(static_cast<int64_t>(n) * s.c + c) * HW + q] = acc[i][j];
    }
  }
}

// ---- gradW: rows k = (c, i, j), columns o, reduction over m = (n, oh, ow) ---
// grid (ceil(K/64), ceil(O/64), splits); split z covers m in [z*chunk, (z+1)*chunk)
// and writes its tile to out + z*O*K (out is gw itself when there is one split).
// Both slices are loaded with depth t % 16 fastest, i.e. 16 consecutive output
// positions per half-warp: contiguous in gy, and in x for stride 1. The rows
// (c, i, j) of this thread's four gathers are fixed, so they are decoded once.
__global__ void __launch_bounds__(kThreads)
conv2d_grad_w_kernel(const float* __restrict__ x, const float* __restrict__ gy, float* __restrict__ out, ConvShape s,
                     int chunk) {
  __shared__ float As[kDepth][kPad];
  __shared__ float Bs[kDepth][kPad];
  const int t = threadIdx.x, tm = t % 16, tn = t / 16;
  const int P = s.ho * s.wo, M = s.n * P, K = s.c * s.khw(), HW = s.h * s.w;
  const int k0 = blockIdx.x * kTile, o0 = blockIdx.y * kTile;
  const int m_begin = blockIdx.z * chunk, m_end = M - m_begin < chunk ? M : m_begin + chunk;

  const int d = t % kDepth, col = t / kDepth;  // depth, and the first of this thread's rows / columns
  int x_off[kLoads], di[kLoads], dj[kLoads];   // per gathered row k: c*HW (or -1 past K), i, j
  CN_CONV_UNROLL
  for (int r = 0; r < kLoads; ++r) {
    const int k = k0 + col + 16 * r;
    const int c = k / s.khw(), tap = k - c * s.khw();
    x_off[r] = k < K ? c * HW : -1;
    di[r] = tap / s.kw - s.ph;
    dj[r] = tap % s.kw - s.pw;
  }

  float ra[kLoads], rb[kLoads];
  auto load = [&](int mb) {
    const int m = mb + d;
    const bool live = m < m_end;
    const int n = live ? m / P : 0, p = live ? m % P : 0;
    const int ihb = p / s.wo * s.sh, iwb = p % s.wo * s.sw;
    const float* xn = x + static_cast<int64_t>(n) * s.c * HW;
    const float* gyn = gy + static_cast<int64_t>(n) * s.o * P + p;
    CN_CONV_UNROLL
    for (int r = 0; r < kLoads; ++r) {
      float v = 0.f;
      const int ih = ihb + di[r], iw = iwb + dj[r];
      if (live && x_off[r] >= 0 && ih >= 0 && ih < s.h && iw >= 0 && iw < s.w) v = xn[x_off[r] + ih * s.w + iw];
      ra[r] = v;
      const int o = o0 + col + 16 * r;
      rb[r] = (live && o < s.o) ? gyn[static_cast<int64_t>(o) * P] : 0.f;
    }
  };

  float acc[4][4] = {};
  if (m_begin < m_end) load(m_begin);
  for (int mb = m_begin; mb < m_end; mb += kDepth) {
    CN_CONV_UNROLL
    for (int r = 0; r < kLoads; ++r) {
      As[d][col + 16 * r] = ra[r];
      Bs[d][col + 16 * r] = rb[r];
    }
    __syncthreads();
    if (mb + kDepth < m_end) load(mb + kDepth);
    multiply_slice(As, Bs, tm, tn, acc);
    __syncthreads();
  }

  float* dst = out + static_cast<int64_t>(blockIdx.z) * s.o * K;
  CN_CONV_UNROLL
  for (int i = 0; i < 4; ++i) {
    const int k = k0 + tm + 16 * i;
    if (k >= K) continue;
    CN_CONV_UNROLL
    for (int j = 0; j < 4; ++j) {
      const int o = o0 + tn + 16 * j;
      if (o < s.o) dst[static_cast<int64_t>(o) * K + k] = acc[i][j];
    }
  }
}

// gw[e] = sum over splits z, in order z = 0, 1, ..., of partial[z][e].
__global__ void sum_splits_kernel(const float* __restrict__ partial, float* __restrict__ gw, int64_t count,
                                  int splits) {
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= count) return;
  float sum = 0.f;
  for (int z = 0; z < splits; ++z) sum += partial[z * count + e];
  gw[e] = sum;
}

// gb[o] = sum of gy[:, o] in double (as the CPU backend), one block per channel:
// each thread sums a strided share of every image's plane (coalesced), then a
// fixed-shape tree in shared memory.
__global__ void __launch_bounds__(kThreads)
conv2d_grad_bias_kernel(const float* __restrict__ gy, float* __restrict__ gb, int N, int O, int P) {
  __shared__ double part[kThreads];
  const int o = blockIdx.x, t = threadIdx.x;
  double s = 0;
  for (int n = 0; n < N; ++n) {
    const float* plane = gy + (static_cast<int64_t>(n) * O + o) * P;
    for (int p = t; p < P; p += kThreads) s += plane[p];
  }
  part[t] = s;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (t < half) part[t] += part[t + half];
    __syncthreads();
  }
  if (t == 0) gb[o] = static_cast<float>(part[0]);
}

unsigned blocks(int64_t items, int64_t per_block) { return static_cast<unsigned>((items + per_block - 1) / per_block); }

ConvShape conv_shape(const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  ConvShape s{};
  s.n = static_cast<int>(x.size(0));
  s.c = static_cast<int>(x.size(1));
  s.h = static_cast<int>(x.size(2));
  s.w = static_cast<int>(x.size(3));
  s.o = static_cast<int>(w.size(0));
  s.kh = static_cast<int>(w.size(2));
  s.kw = static_cast<int>(w.size(3));
  s.sh = p.stride_h;
  s.sw = p.stride_w;
  s.ph = p.pad_h;
  s.pw = p.pad_w;
  s.ho = static_cast<int>(conv_out_size(x.size(2), w.size(2), p.stride_h, p.pad_h));
  s.wo = static_cast<int>(conv_out_size(x.size(3), w.size(3), p.stride_w, p.pad_w));
  // Kernels index within an image, and along M and K, in 32-bit ints; only the
  // image offset n * C*H*W (and n * O*Ho*Wo) is 64-bit.
  const int64_t lim = INT32_MAX - 2 * kTile;
  const int64_t Pn = int64_t(s.ho) * s.wo;
  CN_CHECK(x.size(1) * x.size(2) * x.size(3) < lim && x.size(0) * x.size(2) * x.size(3) < lim &&
               w.size(0) * Pn < lim && x.size(0) * Pn < lim && w.numel() < lim,
           "conv2d on CUDA: x ", shape_str(x.shape()), " with weight ", shape_str(w.shape()),
           " is too large for 32-bit indexing within the direct kernels");
  return s;
}

// Splits of the weight-gradient reduction: enough blocks to fill a large GPU
// (~2 per SM on 132 SMs) when the output has few tiles (the 7x7 stem: 6), but at
// least 8 slices of 16 positions per split so the partial tiles stay cheap.
int weight_grad_splits(const ConvShape& s, int& chunk) {
  const int64_t M = int64_t(s.n) * s.ho * s.wo, K = int64_t(s.c) * s.khw();
  const int64_t tiles = ((K + kTile - 1) / kTile) * ((s.o + kTile - 1) / kTile);
  const int64_t slices = (M + kDepth - 1) / kDepth;
  const int64_t target = 264;
  int64_t splits = std::max<int64_t>(1, std::min<int64_t>({(target + tiles - 1) / tiles, slices / 8, 256}));
  const int64_t per = (slices + splits - 1) / splits;
  splits = (slices + per - 1) / per;  // no empty split
  chunk = static_cast<int>(per * kDepth);
  return static_cast<int>(splits);
}

}  // namespace

void conv2d_forward_direct(Ctx& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
                           Tensor& y) {
  const ConvShape s = conv_shape(x, w, p);
  const int64_t M = int64_t(s.n) * s.ho * s.wo;
  if (M == 0 || s.o == 0) return;
  const dim3 grid(blocks(M, kTile), blocks(s.o, kTile));
  CN_LAUNCH(conv2d_forward_kernel, grid, kThreads, 0, ctx.stream)
  (x.data(), w.data(), bias.defined() ? bias.data() : nullptr, y.data(), s);
  CN_CUDA_CHECK(cudaGetLastError());
}

void conv2d_backward_direct(Ctx& ctx, const Tensor& x, const Tensor& w, const Tensor& gy, const Conv2dParams& p,
                            Tensor& gx, Tensor& gw, Tensor& gb) {
  const ConvShape s = conv_shape(x, w, p);
  const int P = s.ho * s.wo;
  const int64_t M = int64_t(s.n) * P, K = int64_t(s.c) * s.khw();
  cudaStream_t stream = ctx.stream;

  if (gb.defined() && s.o > 0) {
    CN_LAUNCH(conv2d_grad_bias_kernel, s.o, kThreads, 0, stream)(gy.data(), gb.data(), s.n, s.o, P);
    CN_CUDA_CHECK(cudaGetLastError());
  }
  if (gx.defined() && gx.numel() > 0) {
    // With no outputs (O == 0) the reduction is empty and the kernel writes zeros.
    const dim3 grid(blocks(int64_t(s.n) * s.h * s.w, kTile), blocks(s.c, kTile));
    CN_LAUNCH(conv2d_grad_x_kernel, grid, kThreads, 0, stream)(gy.data(), w.data(), gx.data(), s);
    CN_CUDA_CHECK(cudaGetLastError());
  }
  if (gw.defined() && gw.numel() > 0) {
    if (M == 0) {
      CN_CUDA_CHECK(cudaMemsetAsync(gw.data(), 0, gw.bytes(), stream));
      return;
    }
    int chunk = 0;
    const int splits = weight_grad_splits(s, chunk);
    const dim3 grid(blocks(K, kTile), blocks(s.o, kTile), static_cast<unsigned>(splits));
    if (splits == 1) {
      CN_LAUNCH(conv2d_grad_w_kernel, grid, kThreads, 0, stream)(x.data(), gy.data(), gw.data(), s, chunk);
      CN_CUDA_CHECK(cudaGetLastError());
      return;
    }
    const int64_t count = int64_t(s.o) * K;
    Tensor partial = ctx.alloc(Shape{splits, s.o, K});
    CN_LAUNCH(conv2d_grad_w_kernel, grid, kThreads, 0, stream)(x.data(), gy.data(), partial.data(), s, chunk);
    CN_CUDA_CHECK(cudaGetLastError());
    CN_LAUNCH(sum_splits_kernel, blocks(count, kThreads), kThreads, 0, stream)(partial.data(), gw.data(), count, splits);
    CN_CUDA_CHECK(cudaGetLastError());
  }
}

// The entries: cuDNN / cuBLAS when loaded and taking this shape (conv2d_cudnn.cc),
// otherwise the direct kernels.
void conv2d_forward(Ctx& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
                    Tensor& y) {
  if (cudnn_conv2d_forward(ctx, x, w, bias, p, y)) return;
  conv2d_forward_direct(ctx, x, w, bias, p, y);
}

void conv2d_backward(Ctx& ctx, const Tensor& x, const Tensor& w, const Tensor& gy, const Conv2dParams& p,
                     Tensor& gx, Tensor& gw, Tensor& gb) {
  if (cudnn_conv2d_backward(ctx, x, w, gy, p, gx, gw, gb)) return;
  conv2d_backward_direct(ctx, x, w, gy, p, gx, gw, gb);
}

}  // namespace cuda
}  // namespace cn
