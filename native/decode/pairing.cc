#include "pairing.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace cn::decode {

PlacedCorners place_corners(const std::vector<Corner>& corners, const CornerMaps& maps, int H, int W,
                            const ImageMeta& meta) {
  const int64_t hw = static_cast<int64_t>(H) * W;
  // The reference multiplies float32 tensors by Python floats and subtracts the
  // border: the factors enter the arithmetic as float32.
  const float sx = static_cast<float>(meta.pad_w / W), sy = static_cast<float>(meta.pad_h / H);
  const float left = static_cast<float>(meta.border_left), top = static_cast<float>(meta.border_top);
  PlacedCorners p;
  const size_t k = corners.size();
  p.x.resize(k);
  p.y.resize(k);
  p.score.resize(k);
  p.emb.resize(k);
  p.cls.resize(k);
  for (size_t i = 0; i < k; ++i) {
    const int64_t cell = corners[i].index % hw;
    const int cy = static_cast<int>(cell / W), cx = static_cast<int>(cell % W);
    float x = static_cast<float>(cx) + maps.off[cell];
    float y = static_cast<float>(cy) + maps.off[hw + cell];
    x = x * sx - left;
    y = y * sy - top;
    p.x[i] = x > 0.f ? x : 0.f;  // NaN (a NaN offset) becomes 0 as well, like torch.where(x > 0, x, 0)
    p.y[i] = y > 0.f ? y : 0.f;
    p.score[i] = corners[i].score;
    p.emb[i] = maps.emb[cell];
    p.cls[i] = static_cast<int32_t>(corners[i].index / hw);
  }
  return p;
}

Detections pair_corners(const PlacedCorners& tl, const PlacedCorners& br, const DecodeOptions& opt) {
  const size_t kt = tl.x.size(), kb = br.x.size();
  struct Pair {
    float score;
    uint32_t tl, br;
  };
  std::vector<Pair> valid;
  for (size_t i = 0; i < kt; ++i)
    for (size_t j = 0; j < kb; ++j) {
      // Rejected pairs get score -1 in the reference and fall below its -0.1 cut;
      // they are simply not collected here.
      if (tl.cls[i] != br.cls[j]) continue;
      if (std::fabs(tl.emb[i] - br.emb[j]) > opt.distance_threshold) continue;
      if (br.x[j] <= tl.x[i] || br.y[j] <= tl.y[i]) continue;
      valid.push_back({(tl.score[i] + br.score[j]) / 2.f, static_cast<uint32_t>(i), static_cast<uint32_t>(j)});
    }
  auto before = [](const Pair& a, const Pair& b) {
    return a.score > b.score || (a.score == b.score && (a.tl < b.tl || (a.tl == b.tl && a.br < b.br)));
  };
  const size_t keep = std::min(valid.size(), static_cast<size_t>(std::max(0, opt.num_dets)));
  std::partial_sort(valid.begin(), valid.begin() + static_cast<std::ptrdiff_t>(keep), valid.end(), before);
  valid.resize(keep);

  Detections d;
  d.boxes.resize(4 * keep);
  d.scores.resize(keep);
  d.labels.resize(keep);
  d.corner_scores.resize(2 * keep);
  for (size_t n = 0; n < keep; ++n) {
    const Pair& p = valid[n];
    d.boxes[4 * n] = tl.x[p.tl];
    d.boxes[4 * n + 1] = tl.y[p.tl];
    d.boxes[4 * n + 2] = br.x[p.br];
    d.boxes[4 * n + 3] = br.y[p.br];
    d.scores[n] = p.score;
    d.labels[n] = tl.cls[p.tl];
    d.corner_scores[2 * n] = tl.score[p.tl];
    d.corner_scores[2 * n + 1] = br.score[p.br];
  }
  return d;
}

}  // namespace cn::decode
