// CornerNet's test-time decoding on the GPU: kernels, launches and the entry
// point cuda::decode. The host decoder (native/decode) is the reference; every
// step here reproduces its float32 arithmetic and its tie rules, so the two give
// the same detections in the same order:
//
//   heat logits [N,C,H,W] --sigmoid_map--> probabilities (+ first NaN per map)
//     --corner_keys--> one 64-bit key per cell: (score if 3x3 local max else 0, ~index)
//     --radix select + bitonic sort--> the k best keys per map (topk.cc's order)
//     --place_corners--> x, y, score, emb, class of each corner      (pairing.cc)
//     --pair_keys--> one key per TL x BR pair: (score, ~pair) or 0 when rejected
//     --radix select + sort--> the best num_dets pairs per view
//     --pre_nms_list--> boxes in image pixels, mirrored view unflipped and appended
//     --soft_nms--> class-aware Gaussian soft-NMS, one block per image   (soft_nms.cc)
//     --final_list--> best max_per_img, optional clip
//
// Only the final records (8 floats each) and a few counts are downloaded.
//
// Keys: a float >= 0 orders like its bit pattern, so (score bits << 32) |
// (0xffffffff - index) orders by score, then lower index first, as the host's
// corner_before and pair order do. Keys are unique (distinct indices), so the
// k-th largest key is one exact threshold: selection is a radix select (8 passes
// of 8-bit histograms) and collecting the keys above it; their order comes from
// sorting, never from the order atomics happen to run in.
#include <climits>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cuda_ops.h"
#include "host_math.cuh"

namespace cn {
namespace cuda {

namespace {

constexpr unsigned kFullWarp = 0xffffffffu;
constexpr int kNmsThreads = 128;
constexpr int kRecord = 8;  // x1, y1, x2, y2, score, label (int bits), tl score, br score
constexpr int kNoNan = 0x7f7f7f7f;  // what a 0x7f byte fill reads as: above any index

__device__ __forceinline__ uint64_t make_key(float score, uint32_t index) {
  return (static_cast<uint64_t>(__float_as_uint(score)) << 32) | (0xffffffffu - index);
}
__device__ __forceinline__ float key_score(uint64_t key) { return __uint_as_float(static_cast<uint32_t>(key >> 32)); }
__device__ __forceinline__ uint32_t key_index(uint64_t key) { return 0xffffffffu - static_cast<uint32_t>(key); }

// std::max / std::min / std::clamp as the host writes them (NaN handling included).
__device__ __forceinline__ float host_max(float a, float b) { return a < b ? b : a; }
__device__ __forceinline__ float host_min(float a, float b) { return b < a ? b : a; }
__device__ __forceinline__ float host_clamp(float v, float lo, float hi) { return v < lo ? lo : (hi < v ? hi : v); }

// ---- what the kernels are given ---------------------------------------------
// Heat/emb/off maps of one view: [2] = top-left, bottom-right.
struct ViewMaps {
  const float* heat[2];
  const float* emb[2];
  const float* off[2];
};
struct Maps {
  ViewMaps view[2];  // [1] = the mirrored input (flip test)
};
// Per image, as pairing.cc / decode.cc compute them in float32.
struct MetaF {
  float sx, sy, left, top;  // pad / feature size, border
  float img_w;              // unflip width
  float scale;              // rescale divisor
  float clip_w, clip_h;
};
struct Dims {
  int images, views, classes, H, W;
  int64_t hw, total;  // H * W, C * H * W
  int k;              // corners per map
  int m;              // pairs kept per view (min(num_dets, k * k))
};

// ---- 1. sigmoid, NaN, local maxima -------------------------------------------
// Segment s = (image * views + view) * 2 + corner holds one [C,H,W] map.
__global__ void sigmoid_map(Maps maps, Dims d, float* __restrict__ sig, int* __restrict__ first_nan) {
  const int64_t n = static_cast<int64_t>(d.images) * d.views * 2 * d.total;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t seg = t / d.total, i = t % d.total;
    const int corner = static_cast<int>(seg % 2), view = static_cast<int>(seg / 2 % d.views);
    const int64_t image = seg / 2 / d.views;
    const float x = maps.view[view].heat[corner][image * d.total + i];
    if (x != x) atomicMin(&first_nan[seg], static_cast<int>(i));
    sig[t] = host_sigmoid(x);
  }
}

// The kernel x kernel window max of the sigmoids (padding never wins); a cell
// keeps its score when it equals that max and is positive (local_max.cc).
__global__ void corner_keys(const float* __restrict__ sig, Dims d, int kernel, int64_t n, uint64_t* __restrict__ keys) {
  const int pad = (kernel - 1) / 2;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = t % d.total, plane = t - i % d.hw;  // start of this cell's channel plane
    const int y = static_cast<int>(i % d.hw / d.W), x = static_cast<int>(i % d.W);
    const float s = sig[t];
    float m = -INFINITY;
    for (int yy = y - pad > 0 ? y - pad : 0; yy <= (y + pad < d.H - 1 ? y + pad : d.H - 1); ++yy)
      for (int xx = x - pad > 0 ? x - pad : 0; xx <= (x + pad < d.W - 1 ? x + pad : d.W - 1); ++xx)
        m = host_max(m, sig[plane + static_cast<int64_t>(yy) * d.W + xx]);
    keys[t] = make_key(m == s && s > 0.f ? s : 0.f, static_cast<uint32_t>(i));
  }
}

// ---- 2. top-m keys of every group (radix select, then sort) ------------------
// One 8-bit digit of the keys that still match the prefix found so far.
__global__ void radix_histogram(const uint64_t* __restrict__ keys, int64_t n, const uint64_t* __restrict__ prefix,
                                int shift, unsigned* __restrict__ hist) {
  __shared__ unsigned local[256];
  const int g = blockIdx.y;
  for (int b = threadIdx.x; b < 256; b += blockDim.x) local[b] = 0;
  __syncthreads();
  const uint64_t high = shift + 8 >= 64 ? 0 : ~0ull << (shift + 8);
  const uint64_t want = prefix[g] & high;
  const uint64_t* k = keys + static_cast<int64_t>(g) * n;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const uint64_t key = k[i];
    if ((key & high) == want) atomicAdd(&local[(key >> shift) & 255], 1u);
  }
  __syncthreads();
  for (int b = threadIdx.x; b < 256; b += blockDim.x)
    if (local[b]) atomicAdd(&hist[g * 256 + b], local[b]);
}

__global__ void fill_unsigned(unsigned* __restrict__ v, int n, unsigned value) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) v[i] = value;
}

// One thread per group: the digit holding the remain-th largest key.
__global__ void radix_pick(int groups, int shift, unsigned* __restrict__ hist, uint64_t* __restrict__ prefix,
                           unsigned* __restrict__ remain) {
  const int g = blockIdx.x * blockDim.x + threadIdx.x;
  if (g >= groups) return;
  unsigned* h = hist + g * 256;
  unsigned want = remain[g], above = 0;
  int digit = 0;
  for (int b = 255; b >= 0; --b) {
    if (above + h[b] >= want) {
      digit = b;
      break;
    }
    above += h[b];
  }
  prefix[g] |= static_cast<uint64_t>(digit) << shift;
  remain[g] = want - above;
  for (int b = 0; b < 256; ++b) h[b] = 0;  // ready for the next digit
}

// Keys above the threshold, plus the threshold itself (unique) unless it is the
// rejected-pair key 0. Slots are taken by atomics; the sort fixes the order.
__global__ void radix_collect(const uint64_t* __restrict__ keys, int64_t n, const uint64_t* __restrict__ threshold,
                              int cap, uint64_t* __restrict__ out, unsigned* __restrict__ count) {
  const int g = blockIdx.y;
  const uint64_t t = threshold[g];
  const uint64_t* k = keys + static_cast<int64_t>(g) * n;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const uint64_t key = k[i];
    if (key > t || (key == t && t != 0)) out[static_cast<int64_t>(g) * cap + atomicAdd(&count[g], 1u)] = key;
  }
}

// Bitonic sort, descending, of each group's cap (a power of two) keys; one block per group.
__global__ void bitonic_sort_desc(uint64_t* __restrict__ keys, int cap) {
  uint64_t* v = keys + static_cast<int64_t>(blockIdx.x) * cap;
  for (int size = 2; size <= cap; size <<= 1)
    for (int stride = size / 2; stride > 0; stride >>= 1) {
      for (int t = threadIdx.x; t < cap / 2; t += blockDim.x) {
        const int i = 2 * stride * (t / stride) + t % stride, j = i + stride;
        const bool desc = (i & size) == 0;
        const uint64_t a = v[i], b = v[j];
        if (desc ? a < b : a > b) {
          v[i] = b;
          v[j] = a;
        }
      }
      __syncthreads();
    }
}

// ---- 3. corners placed in the image, pairs ------------------------------------
struct Placed {
  float *x, *y, *score, *emb;
  int* cls;
};

__global__ void place_corners(const uint64_t* __restrict__ top, int cap, Maps maps, Dims d,
                              const MetaF* __restrict__ meta, Placed p) {
  const int64_t n = static_cast<int64_t>(d.images) * d.views * 2 * d.k;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t seg = t / d.k, j = t % d.k;
    const int corner = static_cast<int>(seg % 2), view = static_cast<int>(seg / 2 % d.views);
    const int64_t image = seg / 2 / d.views;
    const uint64_t key = top[seg * cap + j];
    const int64_t index = key_index(key), cell = index % d.hw;
    const MetaF& m = meta[image];
    const float* off = maps.view[view].off[corner] + image * 2 * d.hw;
    float x = __fadd_rn(static_cast<float>(cell % d.W), off[cell]);
    float y = __fadd_rn(static_cast<float>(cell / d.W), off[d.hw + cell]);
    x = __fsub_rn(__fmul_rn(x, m.sx), m.left);
    y = __fsub_rn(__fmul_rn(y, m.sy), m.top);
    p.x[t] = x > 0.f ? x : 0.f;  // NaN becomes 0 too
    p.y[t] = y > 0.f ? y : 0.f;
    p.score[t] = key_score(key);
    p.emb[t] = maps.view[view].emb[corner][image * d.hw + cell];
    p.cls[t] = static_cast<int>(index / d.hw);
  }
}

// Group g = image * views + view: its TL corners are segment 2g, its BR 2g + 1.
__global__ void pair_keys(Placed p, Dims d, float threshold, uint64_t* __restrict__ keys) {
  const int64_t kk = static_cast<int64_t>(d.k) * d.k, n = static_cast<int64_t>(d.images) * d.views * kk;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t g = t / kk, pair = t % kk;
    const int64_t a = 2 * g * d.k + pair / d.k, b = (2 * g + 1) * d.k + pair % d.k;
    const bool keep = p.cls[a] == p.cls[b] && !(fabsf(__fsub_rn(p.emb[a], p.emb[b])) > threshold) &&
                      !(p.x[b] <= p.x[a] || p.y[b] <= p.y[a]);
    keys[t] = keep ? make_key(__fdiv_rn(__fadd_rn(p.score[a], p.score[b]), 2.f), static_cast<uint32_t>(pair)) : 0;
  }
}

// ---- 4. candidate list per image: views concatenated, in image pixels ---------
__global__ void pre_nms_list(const uint64_t* __restrict__ pairs, int cap, const unsigned* __restrict__ pair_count,
                             Placed p, Dims d, const MetaF* __restrict__ meta, float* __restrict__ out,
                             int* __restrict__ out_count) {
  const int64_t n = static_cast<int64_t>(d.images) * d.views * d.m;
  const int list = d.views * d.m;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t g = t / d.m, j = t % d.m, image = g / d.views;
    const int view = static_cast<int>(g % d.views);
    if (j == 0 && view == 0) {
      int total = 0;
      for (int v = 0; v < d.views; ++v) total += static_cast<int>(pair_count[image * d.views + v]);
      out_count[image] = total;
    }
    if (j >= pair_count[g]) continue;
    const uint64_t key = pairs[g * cap + j];
    const uint32_t pair = key_index(key);
    const int64_t a = 2 * g * d.k + pair / d.k, b = (2 * g + 1) * d.k + pair % d.k;
    const MetaF& m = meta[image];
    float box[4] = {p.x[a], p.y[a], p.x[b], p.y[b]};
    if (view == 1) {  // decode.cc unflip_boxes, before the rescale
      const float x1 = box[0], x2 = box[2];
      box[0] = __fsub_rn(m.img_w, x2);
      box[2] = __fsub_rn(m.img_w, x1);
    }
    const int64_t at = (view == 0 ? j : static_cast<int64_t>(pair_count[image * d.views]) + j);
    float* r = out + (image * list + at) * kRecord;
    for (int c = 0; c < 4; ++c) r[c] = __fdiv_rn(box[c], m.scale);
    r[4] = key_score(key);
    r[5] = __int_as_float(p.cls[a]);
    r[6] = p.score[a];
    r[7] = p.score[b];
  }
}

// ---- 5. soft-NMS, one block per image -------------------------------------------
struct NmsParams {
  int method;  // SoftNmsMethod
  float iou_threshold, sigma, min_score, offset;
};
struct NmsWork {
  float *x1, *y1, *x2, *y2, *sc, *area;
  int *ind, *gone, *before, *holes;
};

__device__ __forceinline__ bool takes(float v, int q, float bv, int bq) { return v > bv || (v == bv && q < bq); }

// mmcv softnms_cpu as soft_nms.cc runs it, with each step's loop spread over the
// block: the best live box (first of equal maxima), the rescoring of every later
// live box, then the same compaction the host's swap-from-the-end produces: the
// j-th discarded slot below the new end takes the j-th survivor counted from the top.
__global__ void __launch_bounds__(kNmsThreads) soft_nms(const float* __restrict__ pre, const int* __restrict__ pre_count,
                                                        int list, int limit, NmsParams np, NmsWork w,
                                                        int* __restrict__ keep, float* __restrict__ kept_score,
                                                        int* __restrict__ kept) {
  __shared__ float red_v[kNmsThreads / 32];
  __shared__ int red_q[kNmsThreads / 32];
  __shared__ int warp_count[kNmsThreads / 32];
  __shared__ float best[5];
  __shared__ int s_live, s_carry;
  const int image = blockIdx.x, tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int n = pre_count[image];
  const float* r = pre + static_cast<int64_t>(image) * list * kRecord;
  const int64_t base = static_cast<int64_t>(image) * list;
  float *x1 = w.x1 + base, *y1 = w.y1 + base, *x2 = w.x2 + base, *y2 = w.y2 + base, *sc = w.sc + base,
        *area = w.area + base;
  int *ind = w.ind + base, *gone = w.gone + base, *before = w.before + base, *holes = w.holes + base;

  // batched_soft_nms: shift each class by label * (max coordinate + 1).
  float m = -INFINITY;
  for (int i = tid; i < 4 * n; i += blockDim.x) m = host_max(m, r[(i / 4) * kRecord + i % 4]);
  for (int o = 16; o > 0; o >>= 1) m = host_max(m, __shfl_down_sync(kFullWarp, m, o));
  if (lane == 0) red_v[warp] = m;
  __syncthreads();
  float mx = red_v[0];
  for (int i = 1; i < kNmsThreads / 32; ++i) mx = host_max(mx, red_v[i]);
  const float stride = __fadd_rn(mx, 1.f);
  for (int i = tid; i < n; i += blockDim.x) {
    const float* b = r + static_cast<int64_t>(i) * kRecord;
    const float o = __fmul_rn(static_cast<float>(__float_as_int(b[5])), stride);
    x1[i] = __fadd_rn(b[0], o);
    y1[i] = __fadd_rn(b[1], o);
    x2[i] = __fadd_rn(b[2], o);
    y2[i] = __fadd_rn(b[3], o);
    area[i] = __fmul_rn(__fadd_rn(__fsub_rn(x2[i], x1[i]), np.offset), __fadd_rn(__fsub_rn(y2[i], y1[i]), np.offset));
    sc[i] = b[4];
    ind[i] = i;
  }
  if (tid == 0) s_live = n;
  int nk = 0;
  __syncthreads();

  // A pick depends only on the picks before it, so the loop stops once `limit`
  // (max_per_img) boxes are chosen: the host's later picks are cut off anyway.
  for (int i = 0; i < s_live && nk < limit; ++i) {
    const int live = s_live;
    // The best of [i, live): strictly greater wins, so the first of equal maxima;
    // a NaN at i keeps its place (nothing compares above it), NaN later never wins.
    float bv = -INFINITY;
    int bq = INT_MAX;
    for (int q = i + tid; q < live; q += blockDim.x) {
      float v = sc[q];
      if (v != v) {
        if (q != i) continue;
        v = INFINITY;
      }
      if (takes(v, q, bv, bq)) {
        bv = v;
        bq = q;
      }
    }
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_down_sync(kFullWarp, bv, o);
      const int oq = __shfl_down_sync(kFullWarp, bq, o);
      if (takes(ov, oq, bv, bq)) {
        bv = ov;
        bq = oq;
      }
    }
    if (lane == 0) {
      red_v[warp] = bv;
      red_q[warp] = bq;
    }
    __syncthreads();
    if (tid == 0) {
      for (int u = 1; u < kNmsThreads / 32; ++u)
        if (takes(red_v[u], red_q[u], bv, bq)) {
          bv = red_v[u];
          bq = red_q[u];
        }
      // Swap the best into slot i.
      const float t1 = x1[bq], t2 = y1[bq], t3 = x2[bq], t4 = y2[bq], t5 = sc[bq], t6 = area[bq];
      const int t7 = ind[bq];
      x1[bq] = x1[i], y1[bq] = y1[i], x2[bq] = x2[i], y2[bq] = y2[i], sc[bq] = sc[i], area[bq] = area[i], ind[bq] = ind[i];
      x1[i] = t1, y1[i] = t2, x2[i] = t3, y2[i] = t4, sc[i] = t5, area[i] = t6, ind[i] = t7;
      best[0] = t1, best[1] = t2, best[2] = t3, best[3] = t4, best[4] = t6;
      keep[base + nk] = t7;
      kept_score[base + nk] = t5;
      s_carry = 0;
    }
    ++nk;
    __syncthreads();

    // Rescore every later live box against the best one.
    const float bx1 = best[0], by1 = best[1], bx2 = best[2], by2 = best[3], ba = best[4];
    for (int q = i + 1 + tid; q < live; q += blockDim.x) {
      const float ww = host_max(0.f, __fadd_rn(__fsub_rn(host_min(bx2, x2[q]), host_max(bx1, x1[q])), np.offset));
      const float hh = host_max(0.f, __fadd_rn(__fsub_rn(host_min(by2, y2[q]), host_max(by1, y1[q])), np.offset));
      const float inter = __fmul_rn(ww, hh);
      const float iou = __fdiv_rn(inter, __fsub_rn(__fadd_rn(ba, area[q]), inter));
      float weight = 1.f;
      if (np.method == static_cast<int>(decode::SoftNmsMethod::Naive)) {
        if (iou >= np.iou_threshold) weight = 0.f;
      } else if (np.method == static_cast<int>(decode::SoftNmsMethod::Linear)) {
        if (iou >= np.iou_threshold) weight = __fsub_rn(1.f, iou);
      } else {
        weight = host_expf(__fdiv_rn(-__fmul_rn(iou, iou), np.sigma));
      }
      sc[q] = __fmul_rn(sc[q], weight);
      gone[q] = sc[q] < np.min_score;
    }
    __syncthreads();

    // Exclusive count of discarded boxes before each slot of (i, live).
    for (int c = i + 1; c < live; c += blockDim.x) {
      const int q = c + tid;
      const bool g = q < live && gone[q];
      const unsigned bits = __ballot_sync(kFullWarp, g);
      if (lane == 0) warp_count[warp] = __popc(bits);
      __syncthreads();
      int at = s_carry;
      for (int u = 0; u < warp; ++u) at += warp_count[u];
      if (q < live) before[q] = at + __popc(bits & ((1u << lane) - 1u));
      __syncthreads();
      if (tid == 0)
        for (int u = 0; u < kNmsThreads / 32; ++u) s_carry += warp_count[u];
      __syncthreads();
    }
    const int discarded = s_carry, end = live - discarded;
    for (int q = i + 1 + tid; q < end; q += blockDim.x)
      if (gone[q]) holes[before[q]] = q;
    __syncthreads();
    for (int q = (end > i + 1 ? end : i + 1) + tid; q < live; q += blockDim.x)
      if (!gone[q]) {
        const int after = (live - 1 - q) - (discarded - before[q]);  // survivors above q
        const int to = holes[after];
        x1[to] = x1[q], y1[to] = y1[q], x2[to] = x2[q], y2[to] = y2[q], sc[to] = sc[q], area[to] = area[q];
        ind[to] = ind[q];
      }
    __syncthreads();
    if (tid == 0) s_live = end;
    __syncthreads();
  }
  if (tid == 0) kept[image] = nk;
}

// ---- 6. the detections returned -------------------------------------------------
// With NMS: kept boxes in selection order with their rescored scores, the best
// max_per_img (<= 0: all); without: the candidate list. Optional clip.
__global__ void final_list(const float* __restrict__ pre, const int* __restrict__ pre_count, int list,
                           const int* __restrict__ keep, const float* __restrict__ kept_score,
                           const int* __restrict__ kept, bool nms, int limit, bool clip,
                           const MetaF* __restrict__ meta, int rows, float* __restrict__ out,
                           int* __restrict__ out_count) {
  const int image = blockIdx.y;
  int n = nms ? kept[image] : pre_count[image];
  if (nms && limit > 0 && n > limit) n = limit;
  if (blockIdx.x == 0 && threadIdx.x == 0) out_count[image] = n;
  const MetaF& m = meta[image];
  for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < n; j += gridDim.x * blockDim.x) {
    const int64_t base = static_cast<int64_t>(image) * list;
    const int src = nms ? keep[base + j] : j;
    const float* a = pre + (base + src) * kRecord;
    float* b = out + (static_cast<int64_t>(image) * rows + j) * kRecord;
    for (int c = 0; c < kRecord; ++c) b[c] = a[c];
    if (nms) b[4] = kept_score[base + j];
    if (clip) {
      b[0] = host_clamp(b[0], 0.f, m.clip_w);
      b[1] = host_clamp(b[1], 0.f, m.clip_h);
      b[2] = host_clamp(b[2], 0.f, m.clip_w);
      b[3] = host_clamp(b[3], 0.f, m.clip_h);
    }
  }
}

// ---- launches ---------------------------------------------------------------------
int pow2_at_least(int64_t n) {
  int p = 1;
  while (p < n) p <<= 1;
  return p;
}

// Device scratch that lives until the entry returns (the stream is synchronised
// before that, so nothing is released while kernels still use it).
class Scratch {
 public:
  explicit Scratch(Ctx& ctx) : ctx_(ctx) {}
  template <typename T>
  T* get(int64_t count) {
    const int64_t floats = (count * static_cast<int64_t>(sizeof(T)) + 3) / 4;
    hold_.push_back(ctx_.alloc(Shape{floats < 1 ? 1 : floats}));
    return reinterpret_cast<T*>(hold_.back().data());
  }

 private:
  Ctx& ctx_;
  std::vector<Tensor> hold_;
};

// The m largest keys of each of `groups` rows of n keys, sorted descending into
// out [groups, cap] (cap = pow2 >= m, zero-padded); count = how many were taken
// (m, or fewer when zero keys (rejected pairs) would be needed).
void select_top(Ctx& ctx, Scratch& s, const uint64_t* keys, int groups, int64_t n, int m, int cap, uint64_t* out,
                unsigned* count) {
  cudaStream_t st = ctx.stream;
  uint64_t* prefix = s.get<uint64_t>(groups);
  unsigned* remain = s.get<unsigned>(groups);
  unsigned* hist = s.get<unsigned>(static_cast<int64_t>(groups) * 256);
  CN_CUDA_CHECK(cudaMemsetAsync(prefix, 0, sizeof(uint64_t) * groups, st));
  CN_CUDA_CHECK(cudaMemsetAsync(hist, 0, sizeof(unsigned) * 256 * groups, st));
  CN_CUDA_CHECK(cudaMemsetAsync(count, 0, sizeof(unsigned) * groups, st));
  CN_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(uint64_t) * cap * groups, st));
  CN_LAUNCH(fill_unsigned, static_cast<unsigned>((groups + 63) / 64), 64, 0, st)(remain, groups, static_cast<unsigned>(m));
  const dim3 grid(grid_for(n, 64), static_cast<unsigned>(groups));
  const unsigned pick_grid = static_cast<unsigned>((groups + 63) / 64);
  for (int shift = 56; shift >= 0; shift -= 8) {
    CN_LAUNCH(radix_histogram, grid, kThreads, 0, st)(keys, n, prefix, shift, hist);
    CN_LAUNCH(radix_pick, pick_grid, 64, 0, st)(groups, shift, hist, prefix, remain);
  }
  CN_LAUNCH(radix_collect, grid, kThreads, 0, st)(keys, n, prefix, cap, out, count);
  CN_LAUNCH(bitonic_sort_desc, static_cast<unsigned>(groups), kThreads, 0, st)(out, cap);
  CN_CUDA_CHECK(cudaGetLastError());
}

decode::Detections to_detections(const float* rec, int n) {
  decode::Detections d;
  d.boxes.resize(4 * static_cast<size_t>(n));
  d.scores.resize(static_cast<size_t>(n));
  d.labels.resize(static_cast<size_t>(n));
  d.corner_scores.resize(2 * static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const float* r = rec + static_cast<int64_t>(i) * kRecord;
    for (int c = 0; c < 4; ++c) d.boxes[4 * i + c] = r[c];
    d.scores[i] = r[4];
    std::memcpy(&d.labels[i], &r[5], sizeof(int32_t));
    d.corner_scores[2 * i] = r[6];
    d.corner_scores[2 * i + 1] = r[7];
  }
  return d;
}

template <typename T>
std::vector<T> fetch(const T* dev, int64_t count, cudaStream_t st) {
  std::vector<T> v(static_cast<size_t>(count));
  if (count) CN_CUDA_CHECK(cudaMemcpyAsync(v.data(), dev, sizeof(T) * count, cudaMemcpyDeviceToHost, st));
  CN_CUDA_CHECK(cudaStreamSynchronize(st));
  return v;
}

}  // namespace

std::vector<decode::DecodeResult> decode(Ctx& ctx, const DecodeHeads& view, const DecodeHeads* flipped,
                                         const std::vector<decode::ImageMeta>& metas, const decode::DecodeOptions& opt,
                                         bool want_pre_nms) {
  cudaStream_t st = ctx.stream;
  const Shape& hs = view.heat[0].shape();
  Dims d;
  d.images = static_cast<int>(hs[0]);
  d.views = flipped ? 2 : 1;
  d.classes = static_cast<int>(hs[1]);
  d.H = static_cast<int>(hs[2]);
  d.W = static_cast<int>(hs[3]);
  d.hw = static_cast<int64_t>(d.H) * d.W;
  d.total = d.classes * d.hw;
  d.k = opt.k;
  // Shapes, k, kernel and metas were checked by the engine (check::decode).
  if (opt.k > 65535) fail("k (", opt.k, ") above 65535 is not supported on a CUDA device (k * k pairs are indexed in 32 bits)");
  const int64_t kk = static_cast<int64_t>(opt.k) * opt.k;
  d.m = static_cast<int>(opt.num_dets < 1 ? 0 : (opt.num_dets < kk ? opt.num_dets : kk));
  std::vector<decode::DecodeResult> results(static_cast<size_t>(d.images));
  if (d.m == 0) return results;

  Maps maps{};
  for (int v = 0; v < d.views; ++v) {
    const DecodeHeads& h = v == 0 ? view : *flipped;
    for (int c = 0; c < 2; ++c) {
      maps.view[v].heat[c] = h.heat[c].data();
      maps.view[v].emb[c] = h.emb[c].data();
      maps.view[v].off[c] = h.off[c].data();
    }
  }
  std::vector<MetaF> mf(metas.size());
  for (size_t i = 0; i < metas.size(); ++i) {
    const decode::ImageMeta& m = metas[i];
    // The same double -> float conversions as pairing.cc and decode.cc.
    mf[i] = MetaF{static_cast<float>(m.pad_w / d.W), static_cast<float>(m.pad_h / d.H), static_cast<float>(m.border_left),
                  static_cast<float>(m.border_top),  static_cast<float>(m.img_w),       static_cast<float>(m.scale_factor),
                  static_cast<float>(m.img_w / m.scale_factor), static_cast<float>(m.img_h / m.scale_factor)};
  }

  Scratch s(ctx);
  MetaF* meta = s.get<MetaF>(d.images);
  CN_CUDA_CHECK(cudaMemcpyAsync(meta, mf.data(), sizeof(MetaF) * mf.size(), cudaMemcpyHostToDevice, st));

  // 1. probabilities and corner keys of every map.
  const int segs = d.images * d.views * 2;
  const int64_t cells = segs * d.total;
  float* sig = s.get<float>(cells);
  int* first_nan = s.get<int>(segs);
  uint64_t* keys = s.get<uint64_t>(cells);
  CN_CUDA_CHECK(cudaMemsetAsync(first_nan, 0x7f, sizeof(int) * segs, st));
  CN_LAUNCH(sigmoid_map, grid_for(cells), kThreads, 0, st)(maps, d, sig, first_nan);
  CN_LAUNCH(corner_keys, grid_for(cells), kThreads, 0, st)(sig, d, opt.kernel, cells, keys);
  CN_CUDA_CHECK(cudaGetLastError());
  // decode.cc reports the first map holding a NaN, in the order it decodes them.
  std::vector<int> nan_at = fetch(first_nan, segs, st);
  for (int i = 0; i < segs; ++i)
    if (nan_at[i] != kNoNan) {
      const DecodeHeads& h = (i / 2 % d.views) == 0 ? view : *flipped;
      fail(h.heat_name[i % 2], " holds NaN (channel ", nan_at[i] / d.hw, ")");
    }

  // 2. the k best corners of every map.
  const int kcap = pow2_at_least(d.k);
  uint64_t* top = s.get<uint64_t>(static_cast<int64_t>(segs) * kcap);
  unsigned* top_count = s.get<unsigned>(segs);
  select_top(ctx, s, keys, segs, d.total, d.k, kcap, top, top_count);

  // 3. placed corners and the best pairs of every view.
  const int64_t corners = static_cast<int64_t>(segs) * d.k;
  Placed p{s.get<float>(corners), s.get<float>(corners), s.get<float>(corners), s.get<float>(corners), s.get<int>(corners)};
  CN_LAUNCH(place_corners, grid_for(corners), kThreads, 0, st)(top, kcap, maps, d, meta, p);
  const int groups = d.images * d.views;
  uint64_t* pkeys = s.get<uint64_t>(groups * kk);
  CN_LAUNCH(pair_keys, grid_for(groups * kk), kThreads, 0, st)(p, d, opt.distance_threshold, pkeys);
  const int mcap = pow2_at_least(d.m);
  uint64_t* pairs = s.get<uint64_t>(static_cast<int64_t>(groups) * mcap);
  unsigned* pair_count = s.get<unsigned>(groups);
  select_top(ctx, s, pkeys, groups, kk, d.m, mcap, pairs, pair_count);

  // 4. candidate lists.
  const int list = d.views * d.m;
  float* pre = s.get<float>(static_cast<int64_t>(d.images) * list * kRecord);
  int* pre_count = s.get<int>(d.images);
  CN_LAUNCH(pre_nms_list, grid_for(static_cast<int64_t>(groups) * d.m), kThreads, 0, st)(pairs, mcap, pair_count, p, d,
                                                                                         meta, pre, pre_count);
  // 5. soft-NMS.
  const int64_t slots = static_cast<int64_t>(d.images) * list;
  int* keep = s.get<int>(slots);
  float* kept_score = s.get<float>(slots);
  int* kept = s.get<int>(d.images);
  if (opt.nms) {
    NmsWork w{s.get<float>(slots), s.get<float>(slots), s.get<float>(slots), s.get<float>(slots), s.get<float>(slots),
              s.get<float>(slots), s.get<int>(slots),   s.get<int>(slots),   s.get<int>(slots),   s.get<int>(slots)};
    NmsParams np{static_cast<int>(opt.soft_nms.method), opt.soft_nms.iou_threshold, opt.soft_nms.sigma,
                 opt.soft_nms.min_score, static_cast<float>(opt.soft_nms.offset)};
    const int limit = opt.max_per_img > 0 ? opt.max_per_img : INT_MAX;
    CN_LAUNCH(soft_nms, static_cast<unsigned>(d.images), kNmsThreads, 0, st)(pre, pre_count, list, limit, np, w, keep,
                                                                            kept_score, kept);
  }
  // 6. final lists.
  const int rows = opt.nms && opt.max_per_img > 0 && opt.max_per_img < list ? opt.max_per_img : list;
  float* out = s.get<float>(static_cast<int64_t>(d.images) * rows * kRecord);
  int* out_count = s.get<int>(d.images);
  CN_LAUNCH(final_list, dim3(grid_for(rows, 64), static_cast<unsigned>(d.images)), kThreads, 0, st)(
      pre, pre_count, list, keep, kept_score, kept, opt.nms, opt.max_per_img, opt.clip, meta, rows, out, out_count);
  CN_CUDA_CHECK(cudaGetLastError());

  // Only the records that exist cross to the host.
  std::vector<int> n_out = fetch(out_count, d.images, st);
  std::vector<int> n_pre = want_pre_nms ? fetch(pre_count, d.images, st) : std::vector<int>();
  for (int i = 0; i < d.images; ++i) {
    std::vector<float> rec = fetch(out + static_cast<int64_t>(i) * rows * kRecord, static_cast<int64_t>(n_out[i]) * kRecord, st);
    results[i].dets = to_detections(rec.data(), n_out[i]);
    if (want_pre_nms) {
      std::vector<float> pr = fetch(pre + static_cast<int64_t>(i) * list * kRecord, static_cast<int64_t>(n_pre[i]) * kRecord, st);
      results[i].pre_nms = to_detections(pr.data(), n_pre[i]);
    }
  }
  return results;
}

}  // namespace cuda
}  // namespace cn
