// The data the decoder works on: one image's head maps, its test-time meta, the
// options of the reference's test_cfg, and the detections it produces.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "soft_nms.h"

namespace cn::decode {

// One corner type (top-left or bottom-right) of one image.
struct CornerMaps {
  const float* heat = nullptr;  // [C, H, W] logits (sigmoid is applied here)
  const float* emb = nullptr;   // [1, H, W] associative embedding
  const float* off = nullptr;   // [2, H, W] sub-cell offsets, channel 0 = x, 1 = y
};

struct HeadMaps {
  CornerMaps tl, br;
  int classes = 0, height = 0, width = 0;
  // How errors name the heat maps (the caller's argument names).
  const char* tl_name = "tlHeat";
  const char* br_name = "brHeat";
};

// Test-time image meta (MMDetection's img_meta): the network input was the image
// centred in a padded canvas; `border_top/left` is where the image starts in it.
struct ImageMeta {
  double pad_h = 0, pad_w = 0;  // padded network input size (pad_shape)
  double img_h = 0, img_w = 0;  // image size before padding (img_shape)
  double border_top = 0, border_left = 0;
  double scale_factor = 1.0;  // boxes are divided by it (1.0 in CornerNet's test config)
};

struct DecodeOptions {
  int k = 100;                       // corner_topk
  int kernel = 3;                    // local_maximum_kernel (odd)
  float distance_threshold = 0.5f;  // embedding distance above which a pair is rejected
  int num_dets = 1000;               // pairs kept before NMS
  bool nms = true;                   // false: return the pre-NMS list
  SoftNmsParams soft_nms;            // gaussian, sigma 0.5, min score 1e-3
  int max_per_img = 100;             // <= 0: keep all
  bool clip = false;                 // clip final boxes to [0, img_w] x [0, img_h] (the reference does not)
};

// Boxes (x1, y1, x2, y2) in original-image pixels, descending score.
struct Detections {
  std::vector<float> boxes;   // 4 per detection
  std::vector<float> scores;
  std::vector<int32_t> labels;
  // Top-left and bottom-right corner scores of each box (2 per detection); soft-NMS
  // with merging weights by them. Mirrored views keep their own TL/BR order, as the
  // original CornerNet does.
  std::vector<float> corner_scores;
  size_t size() const { return scores.size(); }
  void append(const Detections& o);
};

struct DecodeResult {
  Detections dets;
  Detections pre_nms;  // the list soft-NMS ran on (both views concatenated with flip test)
};

}  // namespace cn::decode
