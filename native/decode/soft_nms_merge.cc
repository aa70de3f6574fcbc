#include "soft_nms_merge.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

namespace cn::decode {

namespace {
struct Row {
  float x1, y1, x2, y2, score, tl, br;
  int64_t index;
};

// One class: rows are reordered in place like the Cython array; returns the
// number kept (rows [0, live)) with merged coordinates written into them.
int64_t merge_class(std::vector<Row>& rows, const SoftNmsMergeParams& p) {
  const float off = static_cast<float>(p.offset);
  int64_t live = static_cast<int64_t>(rows.size());
  for (int64_t i = 0; i < live; ++i) {
    int64_t best = i;
    for (int64_t q = i + 1; q < live; ++q)
      if (rows[best].score < rows[q].score) best = q;
    std::swap(rows[i], rows[best]);
    const Row t = rows[i];
    float mx1 = t.x1 * t.tl, my1 = t.y1 * t.tl, mx2 = t.x2 * t.br, my2 = t.y2 * t.br;
    float mts = t.tl, mbs = t.br;
    const float tarea = (t.x2 - t.x1 + off) * (t.y2 - t.y1 + off);
    for (int64_t q = i + 1; q < live; ++q) {
      Row& b = rows[q];
      const float iw = std::min(t.x2, b.x2) - std::max(t.x1, b.x1) + off;
      if (!(iw > 0)) continue;
      const float ih = std::min(t.y2, b.y2) - std::max(t.y1, b.y1) + off;
      if (!(ih > 0)) continue;
      const float area = (b.x2 - b.x1 + off) * (b.y2 - b.y1 + off);
      const float iou = iw * ih / (tarea + area - iw * ih);
      float weight = 1.f;
      switch (p.method) {
        case SoftNmsMethod::Linear:
          if (iou > p.iou_threshold) weight = 1.f - iou;
          break;
        case SoftNmsMethod::Naive:
          if (iou > p.iou_threshold) weight = 0.f;
          break;
        case SoftNmsMethod::Gaussian:
          weight = static_cast<float>(std::exp(-(static_cast<double>(iou) * iou) / p.sigma));
          break;
      }
      const float mw = static_cast<float>(std::pow(1.0 - weight, static_cast<double>(p.weight_exp)));
      mx1 += b.x1 * b.tl * mw;
      my1 += b.y1 * b.tl * mw;
      mx2 += b.x2 * b.br * mw;
      my2 += b.y2 * b.br * mw;
      mts += b.tl * mw;
      mbs += b.br * mw;
      b.score *= weight;
      if (b.score < p.min_score) {
        rows[q] = rows[live - 1];
        --live;
        --q;
      }
    }
    rows[i].x1 = mx1 / mts;
    rows[i].y1 = my1 / mts;
    rows[i].x2 = mx2 / mbs;
    rows[i].y2 = my2 / mbs;
  }
  return live;
}
}  // namespace

SoftNmsMergeResult soft_nms_merge(const float* boxes, const float* scores, const float* corner_scores,
                                  const int32_t* labels, int64_t n, const SoftNmsMergeParams& p) {
  std::map<int32_t, std::vector<Row>> by_class;
  for (int64_t i = 0; i < n; ++i)
    by_class[labels[i]].push_back({boxes[4 * i], boxes[4 * i + 1], boxes[4 * i + 2], boxes[4 * i + 3], scores[i],
                                   corner_scores[2 * i], corner_scores[2 * i + 1], i});
  struct Kept {
    Row row;
    int32_t label;
  };
  std::vector<Kept> kept;
  for (auto& [label, rows] : by_class) {
    const int64_t live = merge_class(rows, p);
    for (int64_t i = 0; i < live; ++i) kept.push_back({rows[i], label});
  }
  std::stable_sort(kept.begin(), kept.end(), [](const Kept& a, const Kept& b) { return a.row.score > b.row.score; });
  SoftNmsMergeResult r;
  for (const Kept& k : kept) {
    r.keep.push_back(k.row.index);
    r.boxes.insert(r.boxes.end(), {k.row.x1, k.row.y1, k.row.x2, k.row.y2});
    r.scores.push_back(k.row.score);
    r.labels.push_back(k.label);
  }
  return r;
}

}  // namespace cn::decode
