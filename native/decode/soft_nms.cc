#include "soft_nms.h"

#include <algorithm>
#include <cmath>

namespace cn::decode {

SoftNmsResult soft_nms(const float* boxes, const float* scores, int64_t n, const SoftNmsParams& p) {
  SoftNmsResult r;
  if (n <= 0) return r;
  std::vector<float> x1(n), y1(n), x2(n), y2(n), sc(scores, scores + n), area(n);
  std::vector<int64_t> ind(n);
  const float off = static_cast<float>(p.offset);
  for (int64_t i = 0; i < n; ++i) {
    x1[i] = boxes[4 * i];
    y1[i] = boxes[4 * i + 1];
    x2[i] = boxes[4 * i + 2];
    y2[i] = boxes[4 * i + 3];
    area[i] = (x2[i] - x1[i] + off) * (y2[i] - y1[i] + off);
    ind[i] = i;
  }
  // Live boxes occupy [0, live); discarded ones are swapped in from the end, so
  // the scan order after a discard matters for near-equal scores and is kept as is.
  int64_t live = n;
  auto move = [&](int64_t to, int64_t from) {
    x1[to] = x1[from];
    y1[to] = y1[from];
    x2[to] = x2[from];
    y2[to] = y2[from];
    sc[to] = sc[from];
    area[to] = area[from];
    ind[to] = ind[from];
  };
  for (int64_t i = 0; i < live; ++i) {
    int64_t best = i;
    float best_score = sc[i];
    for (int64_t q = i + 1; q < live; ++q)
      if (best_score < sc[q]) {  // strict: the first of equal maxima wins
        best_score = sc[q];
        best = q;
      }
    const float bx1 = x1[best], by1 = y1[best], bx2 = x2[best], by2 = y2[best], bs = sc[best], ba = area[best];
    const int64_t bi = ind[best];
    move(best, i);
    x1[i] = bx1;
    y1[i] = by1;
    x2[i] = bx2;
    y2[i] = by2;
    sc[i] = bs;
    area[i] = ba;
    ind[i] = bi;
    r.keep.push_back(bi);
    r.scores.push_back(bs);

    for (int64_t q = i + 1; q < live; ++q) {
      const float w = std::max(0.f, std::min(bx2, x2[q]) - std::max(bx1, x1[q]) + off);
      const float h = std::max(0.f, std::min(by2, y2[q]) - std::max(by1, y1[q]) + off);
      const float inter = w * h;
      const float iou = inter / (ba + area[q] - inter);
      float weight = 1.f;
      switch (p.method) {
        case SoftNmsMethod::Naive:
          if (iou >= p.iou_threshold) weight = 0.f;
          break;
        case SoftNmsMethod::Linear:
          if (iou >= p.iou_threshold) weight = 1.f - iou;
          break;
        case SoftNmsMethod::Gaussian:
          weight = std::exp(-(iou * iou) / p.sigma);
          break;
      }
      sc[q] *= weight;
      if (sc[q] < p.min_score) {
        move(q, live - 1);
        --live;
        --q;  // the box swapped in is examined next
      }
    }
  }
  return r;
}

SoftNmsResult batched_soft_nms(const float* boxes, const float* scores, const int32_t* labels, int64_t n,
                               const SoftNmsParams& p) {
  if (n <= 0) return {};
  float max_coord = boxes[0];
  for (int64_t i = 1; i < 4 * n; ++i) max_coord = std::max(max_coord, boxes[i]);
  const float stride = max_coord + 1.f;
  std::vector<float> shifted(4 * n);
  for (int64_t i = 0; i < n; ++i) {
    const float o = static_cast<float>(labels[i]) * stride;
    for (int c = 0; c < 4; ++c) shifted[4 * i + c] = boxes[4 * i + c] + o;
  }
  return soft_nms(shifted.data(), scores, n, p);
}

}  // namespace cn::decode
