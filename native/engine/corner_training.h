// The types of the CornerNet training ops (corner_targets, corner_head_losses)
// and the host-side part every backend shares: box validation, the Gaussian
// radius, the per-box corner cells and offsets, and the Gaussian kernel values.
// Header-only so the CUDA plugins (which do not link the addon's model code)
// compute exactly the same per-box numbers as the CPU's model/targets.cc.
//
// The targets follow the reference (MMDetection's CornerHead.get_targets),
// quirks included: corner cells are truncated, not rounded; the feature/input
// ratio is not exactly 1/4 (128/511); the Gaussian radius is the CornerNet
// formula with min_overlap 0.3; bumps of the same class are merged by
// element-wise max; a later box that lands on the same corner cell overwrites
// the offset of an earlier one.
#pragma once
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <vector>

#include "error.h"
#include "tensor.h"

// Element arithmetic shared by the CPU code and the CUDA kernels.
#if defined(__CUDACC__)
#define CN_HOST_DEVICE __host__ __device__
#else
#define CN_HOST_DEVICE
#endif

namespace cn {

// Smooth-L1 of one difference d = pred - target: the loss and its derivative in d.
CN_HOST_DEVICE inline void smooth_l1_element(double d, double beta, double* loss, double* dloss) {
  const double ad = d < 0 ? -d : d;
  if (ad < beta) {
    *loss = 0.5 * ad * ad / beta;
    *dloss = d / beta;
  } else {
    *loss = ad - 0.5 * beta;
    *dloss = d > 0 ? 1.0 : -1.0;
  }
}

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

// The reductions' epsilon of the losses (torch.finfo(torch.float32).eps).
constexpr double kLossAvgEps = 1.1920928955078125e-07;

// One head level's outputs (raw logits for the heatmaps) or their gradients.
struct CornerHeadTensors {
  Tensor tl_heat, br_heat;  // [N, num_classes, H, W]
  Tensor tl_emb, br_emb;    // [N, M, H, W]
  Tensor tl_off, br_off;    // [N, 2, H, W]
};

struct CornerHeadLossWeights {
  double pull = 0.1, push = 0.1;  // the reference config's values (the class default is 0.25)
  double offset_beta = 1.0;
};

// The four terms one level contributes (the reference logs them as lists over
// levels and the total sums every entry).
struct CornerHeadLosses {
  double det = 0, off = 0, pull = 0, push = 0;
  // False when no image has an object. The reference then builds both embedding
  // terms from tl_emb alone (tl_emb.sum() * 0), so br_emb's branch gets no
  // gradient at all (None, not zeros): Adam skips those parameters for the step.
  bool br_emb_has_grad = false;
  double total() const { return det + off + pull + push; }
};

// The CornerNet radius (fixed roots), in cells; `height`/`width` are the box size in cells.
inline double gaussian_radius(double height, double width, double min_overlap) {
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

// The Gaussian of integer `radius` (diameter 2r+1, sigma = diameter / 6) at
// offset (dx, dy) from its centre. The reference builds the kernel in float32
// (the heatmap's dtype) with the Python-double 2*sigma^2 rounded to float, and
// zeroes entries below float32-eps times the peak (the peak is exp(0) = 1).
inline float gaussian_denom(int radius) {
  const double sigma = (2 * radius + 1) / 6.0;
  return static_cast<float>(2 * sigma * sigma);
}
inline float gaussian_value(int dx, int dy, float denom) {
  const float fx = static_cast<float>(dx), fy = static_cast<float>(dy);
  const float g = std::exp(-(fx * fx + fy * fy) / denom);
  return g < FLT_EPSILON ? 0.0f : g;
}

// Validates one box (finite, non-negative, x2 >= x1, y2 >= y1, label in range);
// throws an Error naming the image and box index.
inline void check_gt_box(const GtBox& b, size_t img, size_t k, int num_classes) {
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

inline void check_target_geometry(const TargetGeometry& g) {
  if (g.num_classes < 1) fail("targets: num_classes must be >= 1, got ", g.num_classes);
  if (g.feat_h < 1 || g.feat_w < 1) fail("targets: feature size must be positive, got ", g.feat_h, "x", g.feat_w);
  if (g.pad_h < 1 || g.pad_w < 1) fail("targets: padded input size must be positive, got ", g.pad_h, "x", g.pad_w);
}

// What one non-ignored box contributes to the targets: its two corner cells, the
// radius of both Gaussians, and the offsets written at the two cells.
struct CornerBoxPlan {
  int image = 0, label = 0;
  int tl_x = 0, tl_y = 0, br_x = 0, br_y = 0;  // cells
  int radius = 0;
  float tl_off_x = 0, tl_off_y = 0, br_off_x = 0, br_off_y = 0;
};

// Every non-ignored box of the batch, image by image in box order (the order in
// which later offsets overwrite earlier ones). Call check_target_geometry and
// check_gt_box first.
inline std::vector<CornerBoxPlan> plan_corner_boxes(const std::vector<std::vector<GtBox>>& boxes,
                                                    const TargetGeometry& g) {
  // The reference computes in float32: ratio (a Python float) meets float32 box
  // coordinates, so the product, the box size and the offsets are float32.
  const int H = g.feat_h, W = g.feat_w;
  const float ratio_w = static_cast<float>(static_cast<double>(W) / g.pad_w);
  const float ratio_h = static_cast<float>(static_cast<double>(H) / g.pad_h);
  std::vector<CornerBoxPlan> plan;
  for (size_t b = 0; b < boxes.size(); ++b) {
    for (const GtBox& box : boxes[b]) {
      if (box.ignore) continue;
      const float sl = box.x1 * ratio_w, sr = box.x2 * ratio_w;
      const float st = box.y1 * ratio_h, sb = box.y2 * ratio_h;
      CornerBoxPlan p;
      p.image = static_cast<int>(b);
      p.label = box.label;
      // int(min(scaled, size - 1)): truncation, and the last cell takes everything beyond it.
      p.tl_x = static_cast<int>(std::min(sl, static_cast<float>(W - 1)));
      p.br_x = static_cast<int>(std::min(sr, static_cast<float>(W - 1)));
      p.tl_y = static_cast<int>(std::min(st, static_cast<float>(H - 1)));
      p.br_y = static_cast<int>(std::min(sb, static_cast<float>(H - 1)));
      const float box_w = std::ceil(sr - sl), box_h = std::ceil(sb - st);
      p.radius = std::max(0, static_cast<int>(gaussian_radius(box_h, box_w, 0.3)));
      p.tl_off_x = sl - static_cast<float>(p.tl_x);
      p.tl_off_y = st - static_cast<float>(p.tl_y);
      p.br_off_x = sr - static_cast<float>(p.br_x);
      p.br_off_y = sb - static_cast<float>(p.br_y);
      plan.push_back(p);
    }
  }
  return plan;
}

// The embedding pairs of a plan, per image of a batch of `batch` images.
inline std::vector<std::vector<CornerMatch>> corner_matches(const std::vector<CornerBoxPlan>& plan, size_t batch) {
  std::vector<std::vector<CornerMatch>> match(batch);
  for (const CornerBoxPlan& p : plan)
    match[static_cast<size_t>(p.image)].push_back(CornerMatch{p.tl_y, p.tl_x, p.br_y, p.br_x});
  return match;
}

}  // namespace cn
