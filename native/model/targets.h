// CornerNet training targets from ground-truth boxes, built the way the reference
// (MMDetection's CornerHead.get_targets) builds them, quirks included: corner cells
// are truncated, not rounded; the feature/input ratio is not exactly 1/4 (128/511);
// the Gaussian radius is the CornerNet formula with min_overlap 0.3; bumps of the
// same class are merged by element-wise max; a later box that lands on the same
// corner cell overwrites the offset of an earlier one.
#pragma once
#include <cstdint>
#include <vector>

#include "../engine/tensor.h"

namespace cn {

struct GtBox {
  // Corners in padded-input pixels (the network input, e.g. 511x511).
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  int label = 0;
  // Crowd annotations: the reference leaves them out of the targets entirely.
  bool ignore = false;
};

// The two integer feature cells one box is tied to (embedding pairs).
struct CornerMatch {
  int tl_y = 0, tl_x = 0, br_y = 0, br_x = 0;
};

struct TargetGeometry {
  int num_classes = 0;
  int feat_h = 0, feat_w = 0;  // head output size
  int pad_h = 0, pad_w = 0;    // padded network input size
};

struct CornerTargets {
  Tensor tl_heatmap, br_heatmap;  // [N, C, H, W]
  Tensor tl_offset, br_offset;    // [N, 2, H, W]; channel 0 = x, 1 = y
  Tensor tl_mask, br_mask;        // [N, 1, H, W]; 1 where any class heatmap is exactly 1
  std::vector<std::vector<CornerMatch>> match;  // per image, one per non-ignored box, in box order
};

// The CornerNet radius (fixed roots), in cells; `height`/`width` are the box size in cells.
double gaussian_radius(double height, double width, double min_overlap);

// Draws one Gaussian of integer `radius` centred on (cx, cy) into a [h, w] map by
// element-wise max, cropped at the borders (diameter 2r+1, sigma = diameter / 6).
void draw_gaussian_max(float* map, int h, int w, int cx, int cy, int radius);

// Validates every box (finite, non-negative, x2 >= x1, y2 >= y1, label in range) and
// throws an Error naming the image and box index of the first bad one.
CornerTargets build_corner_targets(const std::vector<std::vector<GtBox>>& boxes, const TargetGeometry& g);

// Writes the targets into caller-allocated tensors (any may be undefined to skip it);
// `match` receives the embedding pairs. Same semantics as build_corner_targets.
void build_corner_targets_into(const std::vector<std::vector<GtBox>>& boxes, const TargetGeometry& g,
                               Tensor& tl_heatmap, Tensor& br_heatmap, Tensor& tl_offset, Tensor& br_offset,
                               Tensor& tl_mask, Tensor& br_mask, std::vector<std::vector<CornerMatch>>& match);

// The class-agnostic offset mask of one heatmap: mask[n,0,y,x] = 1 if heat[n,c,y,x] == 1 for some c.
void heatmap_peak_mask(const Tensor& heatmap, Tensor& mask);

}  // namespace cn
