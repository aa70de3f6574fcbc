// cornerTargets: CornerNet training targets from ground-truth boxes (model/targets.h).
// Boxes cross as flat tensors (boxes [K,4], labels [K], imageIndex [K], crowd [K]
// optional) so the op fits the tensor-in/tensor-out registry; lib/ops.ts takes
// per-image lists and flattens them. Runs on any backend (Backend::corner_targets).
#include <cmath>

#include "loss_args.h"
#include "ops.h"

namespace cn {

void register_targets_ops(OpRegistry& r) {
  r.add("cornerTargets", [](OpCall& c) -> Kernel {
    const int batch = c.integer("batchSize", -1, 0, 1 << 20);
    if (batch < 0) c.bad_arg("batchSize", "is required (the number of images)");
    const int num_classes = c.integer("numClasses", -1, 1, 1 << 16);
    if (num_classes < 1) c.bad_arg("numClasses", "is required (a positive integer)");
    const auto feat = c.int_pair("featureSize", {-1, -1}, 1, 1 << 16);
    if (feat.first < 0) c.bad_arg("featureSize", "is required ([h, w] of the head output)");
    const auto pad = c.int_pair("padSize", {-1, -1}, 1, 1 << 20);
    if (pad.first < 0) c.bad_arg("padSize", "is required ([h, w] of the padded network input)");
    const Tensor boxes = c.tensor("boxes", 2);
    if (boxes.size(1) != 4) c.bad_arg("boxes", "must have shape [K, 4] (x1, y1, x2, y2), got " + shape_str(boxes.shape()));
    const int64_t K = boxes.size(0);
    const Tensor labels = c.tensor("labels", 1);
    const Tensor image = c.tensor("imageIndex", 1);
    const Tensor crowd = c.optional_tensor("crowd", 1);
    if (labels.size(0) != K) c.bad_arg("labels", "must have one entry per box (" + std::to_string(K) + ")");
    if (image.size(0) != K) c.bad_arg("imageIndex", "must have one entry per box (" + std::to_string(K) + ")");
    if (crowd.defined() && crowd.size(0) != K) c.bad_arg("crowd", "must have one entry per box (" + std::to_string(K) + ")");

    std::vector<std::vector<GtBox>> per_image(static_cast<size_t>(batch));
    int64_t kept = 0;
    for (int64_t k = 0; k < K; ++k) {
      const float img = image.data()[k], lab = labels.data()[k];
      if (!(img >= 0 && img < batch) || img != std::floor(img))
        c.bad_arg("imageIndex", "[" + std::to_string(k) + "] = " + std::to_string(img) + " is not an image index in [0, " +
                                    std::to_string(batch) + ")");
      if (!(lab >= 0 && lab < num_classes) || lab != std::floor(lab))
        c.bad_arg("labels", "[" + std::to_string(k) + "] = " + std::to_string(lab) + " is not a class index in [0, " +
                                std::to_string(num_classes) + ")");
      GtBox b;
      const float* p = boxes.data() + 4 * k;
      b.x1 = p[0];
      b.y1 = p[1];
      b.x2 = p[2];
      b.y2 = p[3];
      b.label = static_cast<int>(lab);
      b.ignore = crowd.defined() && crowd.data()[k] != 0.0f;
      kept += !b.ignore;
      per_image[static_cast<size_t>(img)].push_back(b);
    }
    TargetGeometry g;
    g.num_classes = num_classes;
    g.feat_h = feat.first;
    g.feat_w = feat.second;
    g.pad_h = pad.first;
    g.pad_w = pad.second;
    const int64_t n = batch, C = num_classes, H = feat.first, W = feat.second;
    c.output("tlHeatmap", {n, C, H, W});
    c.output("brHeatmap", {n, C, H, W});
    c.output("tlOffset", {n, 2, H, W});
    c.output("brOffset", {n, 2, H, W});
    c.output("tlMask", {n, 1, H, W});
    c.output("brMask", {n, 1, H, W});
    c.output("match", {kept, 5});
    return [per_image, g](Backend& be, TensorMap&, TensorMap& out) {
      std::vector<std::vector<CornerMatch>> match;
      be.corner_targets(per_image, g, out["tlHeatmap"], out["brHeatmap"], out["tlOffset"], out["brOffset"],
                        out["tlMask"], out["brMask"], match);
      std::vector<float> m;
      for (size_t i = 0; i < match.size(); ++i)
        for (const CornerMatch& cm : match[i])
          for (int v : {static_cast<int>(i), cm.tl_y, cm.tl_x, cm.br_y, cm.br_x}) m.push_back(static_cast<float>(v));
      write_values(be, out["match"], m);
    };
  });
}

}  // namespace cn
