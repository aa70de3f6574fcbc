#include "decode.h"

#include <algorithm>

#include "../engine/error.h"
#include "pairing.h"
#include "topk.h"

namespace cn::decode {

void Detections::append(const Detections& o) {
  boxes.insert(boxes.end(), o.boxes.begin(), o.boxes.end());
  scores.insert(scores.end(), o.scores.begin(), o.scores.end());
  labels.insert(labels.end(), o.labels.begin(), o.labels.end());
  corner_scores.insert(corner_scores.end(), o.corner_scores.begin(), o.corner_scores.end());
}

Detections decode_view(const HeadMaps& maps, const ImageMeta& meta, const DecodeOptions& opt, ThreadPool* pool) {
  const int C = maps.classes, H = maps.height, W = maps.width;
  if (static_cast<int64_t>(opt.k) > static_cast<int64_t>(C) * H * W)
    fail("k (", opt.k, ") exceeds the number of heat-map entries (", C, "x", H, "x", W, ")");
  std::vector<Corner> tl = top_corners(maps.tl.heat, C, H, W, opt.kernel, opt.k, pool, maps.tl_name);
  std::vector<Corner> br = top_corners(maps.br.heat, C, H, W, opt.kernel, opt.k, pool, maps.br_name);
  return pair_corners(place_corners(tl, maps.tl, H, W, meta), place_corners(br, maps.br, H, W, meta), opt);
}

void rescale_boxes(Detections& d, double scale_factor) {
  const float sf = static_cast<float>(scale_factor);
  for (float& v : d.boxes) v /= sf;
}

void unflip_boxes(Detections& d, double img_w) {
  const float w = static_cast<float>(img_w);
  for (size_t n = 0; n < d.size(); ++n) {
    float* b = &d.boxes[4 * n];
    const float x1 = b[0], x2 = b[2];
    b[0] = w - x2;
    b[2] = w - x1;
  }
}

namespace {
Detections select(const Detections& all, const std::vector<int64_t>& keep, const std::vector<float>& scores,
                  size_t limit) {
  const size_t n = std::min(keep.size(), limit);
  Detections d;
  d.boxes.resize(4 * n);
  d.scores.assign(scores.begin(), scores.begin() + static_cast<std::ptrdiff_t>(n));
  d.labels.resize(n);
  d.corner_scores.resize(2 * n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t s = keep[i];
    std::copy(&all.boxes[4 * s], &all.boxes[4 * s] + 4, &d.boxes[4 * i]);
    d.labels[i] = all.labels[s];
    d.corner_scores[2 * i] = all.corner_scores[2 * s];
    d.corner_scores[2 * i + 1] = all.corner_scores[2 * s + 1];
  }
  return d;
}

void clip_to_image(Detections& d, const ImageMeta& meta) {
  const float w = static_cast<float>(meta.img_w / meta.scale_factor);
  const float h = static_cast<float>(meta.img_h / meta.scale_factor);
  for (size_t n = 0; n < d.size(); ++n) {
    float* b = &d.boxes[4 * n];
    b[0] = std::clamp(b[0], 0.f, w);
    b[1] = std::clamp(b[1], 0.f, h);
    b[2] = std::clamp(b[2], 0.f, w);
    b[3] = std::clamp(b[3], 0.f, h);
  }
}
}  // namespace

DecodeResult decode_image(const HeadMaps& maps, const HeadMaps* flipped, const ImageMeta& meta,
                          const DecodeOptions& opt, ThreadPool* pool) {
  DecodeResult r;
  r.pre_nms = decode_view(maps, meta, opt, pool);
  rescale_boxes(r.pre_nms, meta.scale_factor);
  if (flipped) {
    // The mirrored input reuses the image's meta (same border), as in the
    // reference; its boxes are mirrored in the network's scale, then rescaled.
    Detections m = decode_view(*flipped, meta, opt, pool);
    unflip_boxes(m, meta.img_w);
    rescale_boxes(m, meta.scale_factor);
    r.pre_nms.append(m);
  }
  if (!opt.nms) {
    r.dets = r.pre_nms;
  } else {
    SoftNmsResult s = batched_soft_nms(r.pre_nms.boxes.data(), r.pre_nms.scores.data(), r.pre_nms.labels.data(),
                                       static_cast<int64_t>(r.pre_nms.size()), opt.soft_nms);
    const size_t limit = opt.max_per_img > 0 ? static_cast<size_t>(opt.max_per_img) : s.keep.size();
    r.dets = select(r.pre_nms, s.keep, s.scores, limit);
  }
  if (opt.clip) clip_to_image(r.dets, meta);
  return r;
}

}  // namespace cn::decode
