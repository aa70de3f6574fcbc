// CornerNet's losses of one head level on the GPU, with their gradients:
// kernels, launches and the entry. The formulas are the CPU's (model/losses.cc,
// the reference these are tested against), element for element in double:
//   focal        Gaussian focal loss of each heatmap, normalised by the count of
//                cells exactly 1 (counted first, read by the loss kernel from
//                device memory, so nothing waits for the host);
//   smooth_l1    offsets weighted by the peak mask, normalised by the mask's sum;
//   embedding    pull/push over the objects' corner cells: one thread per object
//                adds its gradient terms in the CPU's order, and one thread per
//                (image, dimension) scatters them into the maps in object order
//                (objects may share a cell), so gradients match the CPU's bits.
// Sums are deterministic: each reduction writes one double per block (a fixed
// grid for a given size, a fixed tree in shared memory), then one block adds
// the partials in a fixed order. No float atomics. Every scalar lands in one
// small device buffer that crosses to the host once, at the end.
//
// The transcendentals are taken in double and rounded to float, which agrees
// with the CPU's glibc expf/logf (within half an ulp) far more often than the
// device's own expf/logf (2 ulp) would.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "cuda_ops.h"

namespace cn {
namespace cuda {

namespace {

constexpr int kMaxPartials = 1024;  // blocks of a partial-sum kernel

// Slots of the scalar buffer.
enum Slot { TlPos, BrPos, TlFocal, BrFocal, TlMaskSum, BrMaskSum, TlOff, BrOff, Pull, Push, kSlots };

unsigned blocks_for(int64_t items, int per_block) {
  return static_cast<unsigned>((items + per_block - 1) / per_block);
}

// Blocks of a grid-stride partial-sum kernel over n items (at least one, so an
// empty input still writes its zero partial).
unsigned partial_blocks(int64_t n) {
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(kMaxPartials, blocks_for(n, kThreads))));
}

// The block's sum of v, in a fixed tree; valid in thread 0.
__device__ double block_sum(double v) {
  __shared__ double s[kThreads];
  s[threadIdx.x] = v;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) s[threadIdx.x] += s[threadIdx.x + half];
    __syncthreads();
  }
  return s[0];
}

// out[0] = sum of the `count` partials: strided per thread, then the block tree.
__global__ void sum_partials(const double* __restrict__ partials, int count, double* __restrict__ out) {
  double v = 0;
  for (int i = threadIdx.x; i < count; i += kThreads) v += partials[i];
  v = block_sum(v);
  if (threadIdx.x == 0) out[0] = v;
}

__device__ __forceinline__ float exp_ref(float v) { return static_cast<float>(exp(static_cast<double>(v))); }
__device__ __forceinline__ float log_ref(float v) { return static_cast<float>(log(static_cast<double>(v))); }

__global__ void count_ones(const float* __restrict__ y, int64_t n, double* __restrict__ partials) {
  double c = 0;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * kThreads)
    c += y[i] == 1.0f;
  c = block_sum(c);
  if (threadIdx.x == 0) partials[blockIdx.x] = c;
}

__global__ void sum_values(const float* __restrict__ w, int64_t n, double* __restrict__ partials) {
  double s = 0;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * kThreads)
    s += w[i];
  s = block_sum(s);
  if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

// grad (optional) = scale / (max(1, *count) + eps) * d(element)/d(logit).
__global__ void focal(const float* __restrict__ x, const float* __restrict__ y, int64_t n,
                      const double* __restrict__ count, double scale, float* __restrict__ grad,
                      double* __restrict__ partials) {
  constexpr double eps = 1e-12;
  const double gscale = scale / (fmax(1.0, count[0]) + kLossAvgEps);
  double s = 0;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * kThreads) {
    // One exponential of -|x| gives both p and 1 - p without cancellation.
    const float xf = x[i];
    const double e = exp_ref(-fabsf(xf)), inv = 1.0 / (1.0 + e);
    const double p = xf >= 0 ? inv : e * inv;
    const double q = xf >= 0 ? e * inv : inv;
    double loss, dldp;
    if (y[i] == 1.0f) {
      const double lp = log_ref(static_cast<float>(p + eps));
      loss = -lp * q * q;
      dldp = -q * q / (p + eps) + 2.0 * q * lp;
    } else {
      const double om = 1.0 - static_cast<double>(y[i]);
      const double w = (om * om) * (om * om);
      const double lq = log_ref(static_cast<float>(q + eps));
      loss = -lq * p * p * w;
      dldp = w * (p * p / (q + eps) - 2.0 * p * lq);
    }
    s += loss;
    if (grad) grad[i] = static_cast<float>(dldp * p * q * gscale);
  }
  s = block_sum(s);
  if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

// pred, target: [N, C, plane]; mask [N, 1, plane] broadcast over C.
__global__ void smooth_l1(const float* __restrict__ pred, const float* __restrict__ target,
                          const float* __restrict__ mask, int64_t n, int64_t C, int64_t plane, double beta,
                          const double* __restrict__ mask_sum, double scale, float* __restrict__ grad,
                          double* __restrict__ partials) {
  const double gscale = scale / (fmax(1.0, mask_sum[0]) + kLossAvgEps);
  double s = 0;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * kThreads) {
    const int64_t img = i / (C * plane), cell = i % plane;
    const double wi = mask[img * plane + cell];
    const double d = static_cast<double>(pred[i]) - static_cast<double>(target[i]);
    double loss, dl;
    smooth_l1_element(d, beta, &loss, &dl);
    s += wi * loss;
    if (grad) grad[i] = static_cast<float>(wi * dl * gscale);
  }
  s = block_sum(s);
  if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

// The objects of all images, image by image: cells and the image of each, and
// each image's first object (starts[N] = total).
struct Obj {
  int image, tl_y, tl_x, br_y, br_x;
};
static_assert(sizeof(Obj) == 20, "Obj is uploaded as raw bytes");

// t, b, m: [T, M] embeddings at the corners and their means.
__global__ void emb_gather(const float* __restrict__ tl_emb, const float* __restrict__ br_emb,
                           const Obj* __restrict__ objs, int T, int M, int W, int64_t plane,
                           double* __restrict__ t, double* __restrict__ b, double* __restrict__ m) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<int64_t>(T) * M) return;
  const int o = static_cast<int>(i / M), d = static_cast<int>(i % M);
  const Obj c = objs[o];
  const int64_t base = (static_cast<int64_t>(c.image) * M + d) * plane;
  t[i] = tl_emb[base + static_cast<int64_t>(c.tl_y) * W + c.tl_x];
  b[i] = br_emb[base + static_cast<int64_t>(c.br_y) * W + c.br_x];
  m[i] = (t[i] + b[i]) / 2.0;
}

// One thread per object i of an image with K objects: its pull term, its row of
// push terms (pairs (i, k)), and d(pull+push)/d e_tl, e_br ([T, M], weights
// applied) accumulated in the CPU's order: the pull part, then the pairs (j, k)
// that involve i in row-major order.
__global__ void emb_object(const Obj* __restrict__ objs, const int* __restrict__ starts, int T, int M,
                           double pull_w, double push_w, const double* __restrict__ t,
                           const double* __restrict__ b, const double* __restrict__ m, double* __restrict__ gt,
                           double* __restrict__ gb, double* __restrict__ pull_o, double* __restrict__ push_o) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i >= T) return;
  const int first = starts[objs[i].image], K = starts[objs[i].image + 1] - first, ii = i - first;
  double pull = 0;
  for (int d = 0; d < M; ++d) {
    const int64_t at = static_cast<int64_t>(i) * M + d;
    const double dt = t[at] - m[at], db = b[at] - m[at];
    pull += dt * dt + db * db;
    // d/dt [(t-m)^2 + (b-m)^2] with m = (t+b)/2 is t - b.
    gt[at] = pull_w * (t[at] - b[at]) / static_cast<double>(K);
    gb[at] = pull_w * (b[at] - t[at]) / static_cast<double>(K);
  }
  double push = 0;
  if (K > 1) {
    const double inv = 1.0 / (static_cast<double>(K) * (K - 1));
    for (int j = 0; j < K; ++j) {
      // Pairs (i, k) when j == i, else the pair (j, i).
      for (int k = (j == ii ? 0 : ii); k < (j == ii ? K : ii + 1); ++k) {
        if (j == k) continue;
        const double* mj = m + static_cast<int64_t>(first + j) * M;
        const double* mk = m + static_cast<int64_t>(first + k) * M;
        // The reference sums the per-dimension differences before |.| (a quirk for M > 1).
        double s = 0;
        for (int d = 0; d < M; ++d) s += mj[d] - mk[d];
        const double v = 1.0 - fabs(s);
        if (v <= 0) continue;  // relu passes no gradient at 0
        if (j == ii) push += v;
        const double sg = s > 0 ? 1.0 : (s < 0 ? -1.0 : 0.0);
        // d v / d mean_j = -sign(s), d v / d mean_k = +sign(s); d mean / d e = 1/2.
        const double gi = j == ii ? -sg * 0.5 * push_w * inv : sg * 0.5 * push_w * inv;
        for (int d = 0; d < M; ++d) {
          gt[static_cast<int64_t>(i) * M + d] += gi;
          gb[static_cast<int64_t>(i) * M + d] += gi;
        }
      }
    }
  }
  pull_o[i] = pull;
  push_o[i] = push;
}

// One thread per (image, dimension): adds each object's gradient into its two
// cells in object order (several objects may share a cell, as in autograd's
// gather backward). The maps were zeroed before.
__global__ void emb_scatter(const Obj* __restrict__ objs, const int* __restrict__ starts, int N, int M, int W,
                            int64_t plane, double grad_scale, const double* __restrict__ gt,
                            const double* __restrict__ gb, float* __restrict__ grad_tl, float* __restrict__ grad_br) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<int64_t>(N) * M) return;
  const int n = static_cast<int>(i / M), d = static_cast<int>(i % M);
  const int64_t base = (static_cast<int64_t>(n) * M + d) * plane;
  for (int o = starts[n]; o < starts[n + 1]; ++o) {
    const Obj c = objs[o];
    const int64_t at = static_cast<int64_t>(o) * M + d;
    if (grad_tl) grad_tl[base + static_cast<int64_t>(c.tl_y) * W + c.tl_x] += static_cast<float>(grad_scale * gt[at]);
    if (grad_br) grad_br[base + static_cast<int64_t>(c.br_y) * W + c.br_x] += static_cast<float>(grad_scale * gb[at]);
  }
}

// One thread: per image pull = sum / K, push = sum / (K (K - 1)), weighted and
// summed over the images in order.
__global__ void emb_total(const int* __restrict__ starts, int N, double pull_w, double push_w,
                          const double* __restrict__ pull_o, const double* __restrict__ push_o,
                          double* __restrict__ out) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  double pull_total = 0, push_total = 0;
  for (int n = 0; n < N; ++n) {
    const int K = starts[n + 1] - starts[n];
    if (K == 0) continue;
    double pull = 0, push = 0;
    for (int o = starts[n]; o < starts[n + 1]; ++o) {
      pull += pull_o[o];
      push += push_o[o];
    }
    pull /= static_cast<double>(K);
    if (K > 1) push *= 1.0 / (static_cast<double>(K) * (K - 1));
    pull_total += pull_w * pull;
    push_total += push_w * push;
  }
  out[0] = pull_total;
  out[1] = push_total;
}

double* doubles(Tensor& t) { return reinterpret_cast<double*>(t.data()); }
Tensor alloc_doubles(Ctx& ctx, int64_t n) { return ctx.alloc(Shape{2 * std::max<int64_t>(1, n)}); }
float* data_or_null(const Tensor& t) { return t.defined() ? t.data() : nullptr; }

void zero(Ctx& ctx, Tensor& t) {
  if (t.defined() && t.numel()) CN_CUDA_CHECK(cudaMemsetAsync(t.data(), 0, t.bytes(), ctx.stream));
}

// One focal loss: count of ones into acc[pos_slot], sum into acc[sum_slot].
void focal_loss(Ctx& ctx, const Tensor& logits, const Tensor& gt, double scale, Tensor& grad, double* partials,
                double* acc, int pos_slot, int sum_slot) {
  const int64_t n = logits.numel();
  const unsigned nb = partial_blocks(n);
  CN_LAUNCH(count_ones, nb, kThreads, 0, ctx.stream)(gt.data(), n, partials);
  CN_LAUNCH(sum_partials, 1, kThreads, 0, ctx.stream)(partials, static_cast<int>(nb), acc + pos_slot);
  CN_LAUNCH(focal, nb, kThreads, 0, ctx.stream)(logits.data(), gt.data(), n, acc + pos_slot, scale,
                                                data_or_null(grad), partials);
  CN_LAUNCH(sum_partials, 1, kThreads, 0, ctx.stream)(partials, static_cast<int>(nb), acc + sum_slot);
  CN_CUDA_CHECK(cudaGetLastError());
}

void offset_loss(Ctx& ctx, const Tensor& pred, const Tensor& target, const Tensor& mask, double beta, double scale,
                 Tensor& grad, double* partials, double* acc, int wsum_slot, int sum_slot) {
  const int64_t mn = mask.numel(), n = pred.numel();
  const unsigned mb = partial_blocks(mn), nb = partial_blocks(n);
  CN_LAUNCH(sum_values, mb, kThreads, 0, ctx.stream)(mask.data(), mn, partials);
  CN_LAUNCH(sum_partials, 1, kThreads, 0, ctx.stream)(partials, static_cast<int>(mb), acc + wsum_slot);
  CN_LAUNCH(smooth_l1, nb, kThreads, 0, ctx.stream)(pred.data(), target.data(), mask.data(), n, pred.size(1),
                                                    pred.size(2) * pred.size(3), beta, acc + wsum_slot, scale,
                                                    data_or_null(grad), partials);
  CN_LAUNCH(sum_partials, 1, kThreads, 0, ctx.stream)(partials, static_cast<int>(nb), acc + sum_slot);
  CN_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

CornerHeadLosses corner_head_losses(Ctx& ctx, const CornerHeadTensors& out, const CornerTargets& tg,
                                    const CornerHeadLossWeights& w, CornerHeadTensors& grads, double grad_scale) {
  const int64_t N = out.tl_heat.size(0), H = out.tl_heat.size(2), W = out.tl_heat.size(3), plane = H * W;
  const int M = static_cast<int>(out.tl_emb.size(1));

  Tensor acc_t = alloc_doubles(ctx, kSlots);
  Tensor partials_t = alloc_doubles(ctx, kMaxPartials);
  double* acc = doubles(acc_t);
  double* partials = doubles(partials_t);
  CN_CUDA_CHECK(cudaMemsetAsync(acc, 0, kSlots * sizeof(double), ctx.stream));

  // det = (focal(tl) + focal(br)) / 2: each heatmap's gradient carries the 1/2.
  focal_loss(ctx, out.tl_heat, tg.tl_heatmap, 0.5 * grad_scale, grads.tl_heat, partials, acc, TlPos, TlFocal);
  focal_loss(ctx, out.br_heat, tg.br_heatmap, 0.5 * grad_scale, grads.br_heat, partials, acc, BrPos, BrFocal);

  auto mask_of = [&](const Tensor& given, const Tensor& heat) {
    if (given.defined()) return given;
    Tensor m = ctx.alloc(Shape{N, 1, H, W});
    heatmap_peak_mask(ctx, heat, m);
    return m;
  };
  const Tensor tl_mask = mask_of(tg.tl_mask, tg.tl_heatmap);
  const Tensor br_mask = mask_of(tg.br_mask, tg.br_heatmap);
  offset_loss(ctx, out.tl_off, tg.tl_offset, tl_mask, w.offset_beta, 0.5 * grad_scale, grads.tl_off, partials, acc,
              TlMaskSum, TlOff);
  offset_loss(ctx, out.br_off, tg.br_offset, br_mask, w.offset_beta, 0.5 * grad_scale, grads.br_off, partials, acc,
              BrMaskSum, BrOff);

  // Embeddings: the pairs come from the host (tiny); the gradient maps are zero
  // except at the objects' cells.
  zero(ctx, grads.tl_emb);
  zero(ctx, grads.br_emb);
  std::vector<Obj> objs;
  std::vector<int> starts;
  for (size_t n = 0; n < tg.match.size(); ++n) {
    starts.push_back(static_cast<int>(objs.size()));
    for (const CornerMatch& c : tg.match[n]) objs.push_back(Obj{static_cast<int>(n), c.tl_y, c.tl_x, c.br_y, c.br_x});
  }
  starts.push_back(static_cast<int>(objs.size()));
  const int T = static_cast<int>(objs.size());
  if (T > 0) {
    const Tensor d_objs = upload_bytes(ctx, objs.data(), objs.size() * sizeof(Obj));
    const Tensor d_starts = upload_bytes(ctx, starts.data(), starts.size() * sizeof(int));
    const Obj* o = reinterpret_cast<const Obj*>(d_objs.data());
    const int* st = reinterpret_cast<const int*>(d_starts.data());
    const int64_t TM = static_cast<int64_t>(T) * M;
    Tensor work = alloc_doubles(ctx, 5 * TM + 2 * static_cast<int64_t>(T));
    double* t = doubles(work);
    double* b = t + TM;
    double* m = b + TM;
    double* gt = m + TM;
    double* gb = gt + TM;
    double* pull_o = gb + TM;
    double* push_o = pull_o + T;
    CN_LAUNCH(emb_gather, blocks_for(TM, kThreads), kThreads, 0, ctx.stream)(
        out.tl_emb.data(), out.br_emb.data(), o, T, M, static_cast<int>(W), plane, t, b, m);
    CN_LAUNCH(emb_object, blocks_for(T, kThreads), kThreads, 0, ctx.stream)(o, st, T, M, w.pull, w.push, t, b, m,
                                                                            gt, gb, pull_o, push_o);
    if (grads.tl_emb.defined() || grads.br_emb.defined())
      CN_LAUNCH(emb_scatter, blocks_for(N * M, kThreads), kThreads, 0, ctx.stream)(
          o, st, static_cast<int>(N), M, static_cast<int>(W), plane, grad_scale, gt, gb, data_or_null(grads.tl_emb),
          data_or_null(grads.br_emb));
    CN_LAUNCH(emb_total, 1, 1, 0, ctx.stream)(st, static_cast<int>(N), w.pull, w.push, pull_o, push_o, acc + Pull);
    CN_CUDA_CHECK(cudaGetLastError());
  }

  double s[kSlots];
  CN_CUDA_CHECK(cudaMemcpyAsync(s, acc, sizeof s, cudaMemcpyDeviceToHost, ctx.stream));
  CN_CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
  const double tl_det = s[TlFocal] / (std::max(1.0, s[TlPos]) + kLossAvgEps);
  const double br_det = s[BrFocal] / (std::max(1.0, s[BrPos]) + kLossAvgEps);
  const double tl_off = s[TlOff] / (std::max(1.0, s[TlMaskSum]) + kLossAvgEps);
  const double br_off = s[BrOff] / (std::max(1.0, s[BrMaskSum]) + kLossAvgEps);
  CornerHeadLosses r;
  r.det = (tl_det + br_det) / 2.0;
  r.off = (tl_off + br_off) / 2.0;
  r.pull = s[Pull];
  r.push = s[Push];
  r.br_emb_has_grad = T > 0;
  return r;
}

}  // namespace cuda
}  // namespace cn
