// From the top-k corners of each type to scored candidate boxes (decode_heatmap's
// second half): corners are placed in the original image, every top-left is
// paired with every bottom-right, and pairs are rejected (score -1) when their
// classes differ, their embeddings are further apart than the threshold, or the
// box is empty or inverted. The best num_dets pairs with score > -0.1 remain.
#pragma once
#include <vector>

#include "decode_types.h"
#include "local_max.h"

namespace cn::decode {

// k corners of one type, in original-image pixels (before scale_factor).
struct PlacedCorners {
  std::vector<float> x, y, score, emb;
  std::vector<int32_t> cls;
};

// Adds the gathered offset, scales feature cells to the padded input
// (pad / feature size), subtracts the border and clamps negatives to 0.
PlacedCorners place_corners(const std::vector<Corner>& corners, const CornerMaps& maps, int H, int W,
                            const ImageMeta& meta);

// Sorted by descending score (ties: lower pair index tl * k + br first).
Detections pair_corners(const PlacedCorners& tl, const PlacedCorners& br, const DecodeOptions& opt);

}  // namespace cn::decode
