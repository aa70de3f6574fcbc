// CornerNet training targets from ground-truth boxes on the host (the CPU
// backend's corner_targets). The types, the box checks, the radius and the
// per-box cells live in engine/corner_training.h, shared with the CUDA backend.
#pragma once
#include <cstdint>
#include <vector>

#include "../engine/corner_training.h"
#include "../engine/tensor.h"

namespace cn {

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
