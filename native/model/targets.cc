#include "targets.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>

#include "../engine/error.h"

namespace cn {

double gaussian_radius(double height, double width, double min_overlap) {
  // Three placements of a corner pair that keep IoU >= min_overlap with the box
  // (one corner in and one out, both in, both out); the radius is the smallest
  // root. These are the corrected roots (divided by 2a), as the reference uses.
  const double b1 = height + width;
  const double c1 = width * height * (1 - min_overlap) / (1 + min_overlap);
  const double r1 = (b1 - std::sqrt(b1 * b1 - 4 * c1)) / 2;

  const double b2 = 2 * (height + width);
  const double c2 = (1 - min_overlap) * width * height;
  const double r2 = (b2 - std::sqrt(b2 * b2 - 4 * 4 * c2)) / (2 * 4);

  const double a3 = 4 * min_overlap;
  const double b3 = -2 * min_overlap * (height + width);
  const double c3 = (min_overlap - 1) * width * height;
  const double r3 = (b3 + std::sqrt(b3 * b3 - 4 * a3 * c3)) / (2 * a3);
  return std::min(r1, std::min(r2, r3));
}

void draw_gaussian_max(float* map, int h, int w, int cx, int cy, int radius) {
  const int diameter = 2 * radius + 1;
  const double sigma = diameter / 6.0;
  // The reference builds the kernel in float32 (the heatmap's dtype) with the
  // Python-double 2*sigma^2 rounded to float, and zeroes entries below
  // float32-eps times the peak (the peak is exp(0) = 1).
  const float denom = static_cast<float>(2 * sigma * sigma);
  const int left = std::min(cx, radius), right = std::min(w - cx, radius + 1);
  const int top = std::min(cy, radius), bottom = std::min(h - cy, radius + 1);
  for (int dy = -top; dy < bottom; ++dy) {
    float* row = map + static_cast<int64_t>(cy + dy) * w;
    for (int dx = -left; dx < right; ++dx) {
      const float fx = static_cast<float>(dx), fy = static_cast<float>(dy);
      float g = std::exp(-(fx * fx + fy * fy) / denom);
      if (g < FLT_EPSILON) g = 0.0f;
      float& v = row[cx + dx];
      v = std::max(v, g);
    }
  }
}

namespace {

void check_box(const GtBox& b, size_t img, size_t k, int num_classes) {
  const float c[4] = {b.x1, b.y1, b.x2, b.y2};
  static const char* names[4] = {"x1", "y1", "x2", "y2"};
  for (int i = 0; i < 4; ++i) {
    if (!std::isfinite(c[i])) fail("box ", k, " of image ", img, ": ", names[i], " is not a finite number");
    // Negative corners would give negative cells, which the reference turns into
    // Python's from-the-end indexing; the data pipeline clips boxes, so we ask for that.
    if (c[i] < 0)
      fail("box ", k, " of image ", img, ": ", names[i], " = ", c[i],
           " is negative; clip boxes to the padded input first");
  }
  if (b.x2 < b.x1 || b.y2 < b.y1)
    fail("box ", k, " of image ", img, ": (x1,y1,x2,y2) = (", b.x1, ",", b.y1, ",", b.x2, ",", b.y2,
         ") has x2 < x1 or y2 < y1");
  if (b.label < 0 || b.label >= num_classes)
    fail("box ", k, " of image ", img, ": label ", b.label, " is outside [0, ", num_classes, ")");
}

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
  if (g.num_classes < 1) fail("targets: num_classes must be >= 1, got ", g.num_classes);
  if (g.feat_h < 1 || g.feat_w < 1) fail("targets: feature size must be positive, got ", g.feat_h, "x", g.feat_w);
  if (g.pad_h < 1 || g.pad_w < 1) fail("targets: padded input size must be positive, got ", g.pad_h, "x", g.pad_w);
  const int64_t n = static_cast<int64_t>(boxes.size()), C = g.num_classes, H = g.feat_h, W = g.feat_w;
  for (size_t i = 0; i < boxes.size(); ++i)
    for (size_t k = 0; k < boxes[i].size(); ++k) check_box(boxes[i][k], i, k, g.num_classes);
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
  match.assign(boxes.size(), {});

  // The reference computes in float32: ratio (a Python float) meets float32 box
  // coordinates, so the product, the box size and the offsets are float32.
  const float ratio_w = static_cast<float>(static_cast<double>(W) / g.pad_w);
  const float ratio_h = static_cast<float>(static_cast<double>(H) / g.pad_h);
  const int64_t plane = H * W;

  for (int64_t b = 0; b < n; ++b) {
    for (const GtBox& box : boxes[b]) {
      if (box.ignore) continue;
      const float sl = box.x1 * ratio_w, sr = box.x2 * ratio_w;
      const float st = box.y1 * ratio_h, sb = box.y2 * ratio_h;
      // int(min(scaled, size - 1)): truncation, and the last cell takes everything beyond it.
      const int li = static_cast<int>(std::min(sl, static_cast<float>(W - 1)));
      const int ri = static_cast<int>(std::min(sr, static_cast<float>(W - 1)));
      const int ti = static_cast<int>(std::min(st, static_cast<float>(H - 1)));
      const int bi = static_cast<int>(std::min(sb, static_cast<float>(H - 1)));

      const float box_w = std::ceil(sr - sl), box_h = std::ceil(sb - st);
      const int radius = std::max(0, static_cast<int>(gaussian_radius(box_h, box_w, 0.3)));
      draw_gaussian_max(tl_heat.data() + (b * C + box.label) * plane, g.feat_h, g.feat_w, li, ti, radius);
      draw_gaussian_max(br_heat.data() + (b * C + box.label) * plane, g.feat_h, g.feat_w, ri, bi, radius);

      if (tl_offset.defined()) {
        float* o = tl_offset.data() + b * 2 * plane;
        o[ti * W + li] = sl - static_cast<float>(li);
        o[plane + ti * W + li] = st - static_cast<float>(ti);
      }
      if (br_offset.defined()) {
        float* o = br_offset.data() + b * 2 * plane;
        o[bi * W + ri] = sr - static_cast<float>(ri);
        o[plane + bi * W + ri] = sb - static_cast<float>(bi);
      }
      match[b].push_back(CornerMatch{ti, li, bi, ri});
    }
  }
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
