#include "targets.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>

#include "../engine/error.h"

namespace cn {

void draw_gaussian_max(float* map, int h, int w, int cx, int cy, int radius) {
  const float denom = gaussian_denom(radius);
  const int left = std::min(cx, radius), right = std::min(w - cx, radius + 1);
  const int top = std::min(cy, radius), bottom = std::min(h - cy, radius + 1);
  for (int dy = -top; dy < bottom; ++dy) {
    float* row = map + static_cast<int64_t>(cy + dy) * w;
    for (int dx = -left; dx < right; ++dx) {
      float& v = row[cx + dx];
      v = std::max(v, gaussian_value(dx, dy, denom));
    }
  }
}

namespace {

void check_target(const Tensor& t, const char* name, const Shape& want) {
  if (!t.defined()) return;
  if (t.shape() != want) fail("target tensor '", name, "' has shape ", shape_str(t.shape()), ", expected ", shape_str(want));
  if (!t.is_host()) fail("target tensor '", name, "' must be in host memory");
}

void zero(Tensor& t) {
  if (t.defined() && t.numel()) std::fill(t.data(), t.data() + t.numel(), 0.0f);
}

}  // namespace

void build_corner_targets_into(const std::vector<std::vector<GtBox>>& boxes, const TargetGeometry& g,
                               Tensor& tl_heatmap, Tensor& br_heatmap, Tensor& tl_offset, Tensor& br_offset,
                               Tensor& tl_mask, Tensor& br_mask, std::vector<std::vector<CornerMatch>>& match) {
  check_target_geometry(g);
  const int64_t n = static_cast<int64_t>(boxes.size()), C = g.num_classes, H = g.feat_h, W = g.feat_w;
  for (size_t i = 0; i < boxes.size(); ++i)
    for (size_t k = 0; k < boxes[i].size(); ++k) check_gt_box(boxes[i][k], i, k, g.num_classes);
  check_target(tl_heatmap, "tl_heatmap", {n, C, H, W});
  check_target(br_heatmap, "br_heatmap", {n, C, H, W});
  check_target(tl_offset, "tl_offset", {n, 2, H, W});
  check_target(br_offset, "br_offset", {n, 2, H, W});
  check_target(tl_mask, "tl_mask", {n, 1, H, W});
  check_target(br_mask, "br_mask", {n, 1, H, W});

  // Heatmaps are needed for the masks even when the caller does not want them.
  Tensor tl_heat = tl_heatmap.defined() ? tl_heatmap : Tensor::host(Shape{n, C, H, W});
  Tensor br_heat = br_heatmap.defined() ? br_heatmap : Tensor::host(Shape{n, C, H, W});
  zero(tl_heat);
  zero(br_heat);
  zero(tl_offset);
  zero(br_offset);

  const std::vector<CornerBoxPlan> plan = plan_corner_boxes(boxes, g);
  const int64_t plane = H * W;
  for (const CornerBoxPlan& p : plan) {
    const int64_t b = p.image;
    draw_gaussian_max(tl_heat.data() + (b * C + p.label) * plane, g.feat_h, g.feat_w, p.tl_x, p.tl_y, p.radius);
    draw_gaussian_max(br_heat.data() + (b * C + p.label) * plane, g.feat_h, g.feat_w, p.br_x, p.br_y, p.radius);
    // Box order: a later box on the same cell overwrites the earlier offset.
    if (tl_offset.defined()) {
      float* o = tl_offset.data() + b * 2 * plane;
      o[p.tl_y * W + p.tl_x] = p.tl_off_x;
      o[plane + p.tl_y * W + p.tl_x] = p.tl_off_y;
    }
    if (br_offset.defined()) {
      float* o = br_offset.data() + b * 2 * plane;
      o[p.br_y * W + p.br_x] = p.br_off_x;
      o[plane + p.br_y * W + p.br_x] = p.br_off_y;
    }
  }
  match = corner_matches(plan, boxes.size());
  if (tl_mask.defined()) heatmap_peak_mask(tl_heat, tl_mask);
  if (br_mask.defined()) heatmap_peak_mask(br_heat, br_mask);
}

CornerTargets build_corner_targets(const std::vector<std::vector<GtBox>>& boxes, const TargetGeometry& g) {
  const int64_t n = static_cast<int64_t>(boxes.size()), C = g.num_classes, H = g.feat_h, W = g.feat_w;
  CornerTargets t;
  if (C < 1 || H < 1 || W < 1) fail("targets: num_classes and feature size must be positive");
  t.tl_heatmap = Tensor::host(Shape{n, C, H, W});
  t.br_heatmap = Tensor::host(Shape{n, C, H, W});
  t.tl_offset = Tensor::host(Shape{n, 2, H, W});
  t.br_offset = Tensor::host(Shape{n, 2, H, W});
  t.tl_mask = Tensor::host(Shape{n, 1, H, W});
  t.br_mask = Tensor::host(Shape{n, 1, H, W});
  build_corner_targets_into(boxes, g, t.tl_heatmap, t.br_heatmap, t.tl_offset, t.br_offset, t.tl_mask, t.br_mask,
                            t.match);
  return t;
}

void heatmap_peak_mask(const Tensor& heatmap, Tensor& mask) {
  if (heatmap.dim() != 4) fail("heatmap must be [N,C,H,W], got ", shape_str(heatmap.shape()));
  const int64_t n = heatmap.size(0), C = heatmap.size(1), plane = heatmap.size(2) * heatmap.size(3);
  if (mask.shape() != Shape{n, 1, heatmap.size(2), heatmap.size(3)})
    fail("mask has shape ", shape_str(mask.shape()), ", expected [", n, ",1,", heatmap.size(2), ",", heatmap.size(3), "]");
  for (int64_t b = 0; b < n; ++b) {
    float* m = mask.data() + b * plane;
    std::fill(m, m + plane, 0.0f);
    for (int64_t c = 0; c < C; ++c) {
      const float* h = heatmap.data() + (b * C + c) * plane;
      for (int64_t i = 0; i < plane; ++i)
        if (h[i] == 1.0f) m[i] = 1.0f;
    }
  }
}

}  // namespace cn
