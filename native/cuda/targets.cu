// CornerNet's training targets on the GPU: kernels, launches and the entry.
// The host plans the boxes (engine/corner_training.h: checks, corner cells,
// radius, offsets, exactly as the CPU's model/targets.cc) and computes each
// radius's Gaussian values once; the device zeroes the maps and draws:
//   draw_gaussians  one block per box, its threads over the (2r+1)^2 window of
//                   both corners, merged by an integer atomicMax on the float's
//                   bits (the values are >= 0, whose bit patterns order as the
//                   floats do), so the order of boxes does not matter;
//   write_offsets   one thread per box, which writes only when no later box of
//                   its image lands on the same cell: the CPU's "later box
//                   overwrites" without an order between threads;
//   peak_mask       one thread per cell, over the classes.
// Why the Gaussian values come from the host: device expf differs from glibc's
// by up to 2 ulp, and the targets must equal the CPU's bit for bit.
#include <cstdint>
#include <map>

#include "cuda_ops.h"

namespace cn {
namespace cuda {

namespace {

// One box as the kernels read it (uploaded as raw bytes).
struct BoxDraw {
  int image, label, tl_x, tl_y, br_x, br_y, radius, table;  // table: offset of its (r+1)^2 values
  float tl_off_x, tl_off_y, br_off_x, br_off_y;
};
static_assert(sizeof(BoxDraw) == 48, "BoxDraw is uploaded as raw bytes");


unsigned blocks_for(int64_t items, int per_block) {
  return static_cast<unsigned>((items + per_block - 1) / per_block);
}

__device__ __forceinline__ void max_into(float* cell, float v) {
  // Non-negative floats (and +0) compare as their int bit patterns.
  atomicMax(reinterpret_cast<int*>(cell), __float_as_int(v));
}

__global__ void draw_gaussians(const BoxDraw* __restrict__ boxes, const float* __restrict__ tables,
                               float* __restrict__ tl_heat, float* __restrict__ br_heat, int C, int H, int W) {
  const BoxDraw b = boxes[blockIdx.x];
  const int r = b.radius, d = 2 * r + 1;
  const int64_t plane = static_cast<int64_t>(H) * W;
  float* tl = tl_heat + (static_cast<int64_t>(b.image) * C + b.label) * plane;
  float* br = br_heat + (static_cast<int64_t>(b.image) * C + b.label) * plane;
  const float* table = tables + b.table;
  for (int64_t i = threadIdx.x; i < static_cast<int64_t>(d) * d; i += blockDim.x) {
    const int dy = static_cast<int>(i / d) - r, dx = static_cast<int>(i % d) - r;
    const float v = table[(dy < 0 ? -dy : dy) * (r + 1) + (dx < 0 ? -dx : dx)];
    int y = b.tl_y + dy, x = b.tl_x + dx;
    if (y >= 0 && y < H && x >= 0 && x < W) max_into(tl + static_cast<int64_t>(y) * W + x, v);
    y = b.br_y + dy;
    x = b.br_x + dx;
    if (y >= 0 && y < H && x >= 0 && x < W) max_into(br + static_cast<int64_t>(y) * W + x, v);
  }
}

// Boxes are in image order, so the later boxes of an image follow it directly.
__global__ void write_offsets(const BoxDraw* __restrict__ boxes, int count, float* __restrict__ tl_off,
                              float* __restrict__ br_off, int H, int W) {
  const int p = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (p >= count) return;
  const BoxDraw b = boxes[p];
  bool tl_last = true, br_last = true;
  for (int q = p + 1; q < count && boxes[q].image == b.image; ++q) {
    if (boxes[q].tl_x == b.tl_x && boxes[q].tl_y == b.tl_y) tl_last = false;
    if (boxes[q].br_x == b.br_x && boxes[q].br_y == b.br_y) br_last = false;
  }
  const int64_t plane = static_cast<int64_t>(H) * W;
  if (tl_off && tl_last) {
    float* o = tl_off + static_cast<int64_t>(b.image) * 2 * plane + static_cast<int64_t>(b.tl_y) * W + b.tl_x;
    o[0] = b.tl_off_x;
    o[plane] = b.tl_off_y;
  }
  if (br_off && br_last) {
    float* o = br_off + static_cast<int64_t>(b.image) * 2 * plane + static_cast<int64_t>(b.br_y) * W + b.br_x;
    o[0] = b.br_off_x;
    o[plane] = b.br_off_y;
  }
}

__global__ void peak_mask(const float* __restrict__ heat, float* __restrict__ mask, int64_t N, int C,
                          int64_t plane) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= N * plane) return;
  const int64_t n = i / plane, cell = i % plane;
  float m = 0.0f;
  for (int c = 0; c < C; ++c)
    if (heat[(n * C + c) * plane + cell] == 1.0f) m = 1.0f;
  mask[i] = m;
}

void zero(Ctx& ctx, Tensor& t) {
  if (t.defined() && t.numel()) CN_CUDA_CHECK(cudaMemsetAsync(t.data(), 0, t.bytes(), ctx.stream));
}

}  // namespace

void heatmap_peak_mask(Ctx& ctx, const Tensor& heat, Tensor& mask) {
  const int64_t N = heat.size(0), plane = heat.size(2) * heat.size(3);
  if (N * plane == 0) return;
  CN_LAUNCH(peak_mask, blocks_for(N * plane, kThreads), kThreads, 0, ctx.stream)(
      heat.data(), mask.data(), N, static_cast<int>(heat.size(1)), plane);
  CN_CUDA_CHECK(cudaGetLastError());
}

void corner_targets(Ctx& ctx, const std::vector<std::vector<GtBox>>& boxes, const TargetGeometry& g,
                    Tensor& tl_heatmap, Tensor& br_heatmap, Tensor& tl_offset, Tensor& br_offset, Tensor& tl_mask,
                    Tensor& br_mask, std::vector<std::vector<CornerMatch>>& match) {
  const int64_t n = static_cast<int64_t>(boxes.size()), C = g.num_classes, H = g.feat_h, W = g.feat_w;
  const std::vector<CornerBoxPlan> plan = plan_corner_boxes(boxes, g);
  match = corner_matches(plan, boxes.size());

  // Heatmaps are needed for the masks even when the caller does not want them.
  Tensor tl_heat = tl_heatmap.defined() ? tl_heatmap : ctx.alloc(Shape{n, C, H, W});
  Tensor br_heat = br_heatmap.defined() ? br_heatmap : ctx.alloc(Shape{n, C, H, W});
  zero(ctx, tl_heat);
  zero(ctx, br_heat);
  zero(ctx, tl_offset);
  zero(ctx, br_offset);

  if (!plan.empty()) {
    // One table per distinct radius: g(|dx|, |dy|) for 0 <= |dx|, |dy| <= r.
    std::map<int, int> table_at;
    std::vector<float> tables;
    std::vector<BoxDraw> draws;
    draws.reserve(plan.size());
    for (const CornerBoxPlan& p : plan) {
      auto it = table_at.find(p.radius);
      if (it == table_at.end()) {
        it = table_at.emplace(p.radius, static_cast<int>(tables.size())).first;
        const float denom = gaussian_denom(p.radius);
        for (int dy = 0; dy <= p.radius; ++dy)
          for (int dx = 0; dx <= p.radius; ++dx) tables.push_back(gaussian_value(dx, dy, denom));
      }
      draws.push_back(BoxDraw{p.image, p.label, p.tl_x, p.tl_y, p.br_x, p.br_y, p.radius, it->second,
                              p.tl_off_x, p.tl_off_y, p.br_off_x, p.br_off_y});
    }
    const Tensor d_draws = upload_bytes(ctx, draws.data(), draws.size() * sizeof(BoxDraw));
    const Tensor d_tables = upload_bytes(ctx, tables.data(), tables.size() * sizeof(float));
    const BoxDraw* bd = reinterpret_cast<const BoxDraw*>(d_draws.data());
    const int count = static_cast<int>(draws.size());
    CN_LAUNCH(draw_gaussians, static_cast<unsigned>(count), kThreads, 0, ctx.stream)(
        bd, d_tables.data(), tl_heat.data(), br_heat.data(), static_cast<int>(C), static_cast<int>(H),
        static_cast<int>(W));
    CN_CUDA_CHECK(cudaGetLastError());
    if (tl_offset.defined() || br_offset.defined()) {
      CN_LAUNCH(write_offsets, blocks_for(count, kThreads), kThreads, 0, ctx.stream)(
          bd, count, tl_offset.defined() ? tl_offset.data() : nullptr,
          br_offset.defined() ? br_offset.data() : nullptr, static_cast<int>(H), static_cast<int>(W));
      CN_CUDA_CHECK(cudaGetLastError());
    }
  }
  if (tl_mask.defined()) heatmap_peak_mask(ctx, tl_heat, tl_mask);
  if (br_mask.defined()) heatmap_peak_mask(ctx, br_heat, br_mask);
}

}  // namespace cuda
}  // namespace cn
