// One replica's share of a training step: forward in train mode, targets from
// the ground truth, the four losses of every head level, and backward into the
// replica's parameter gradients. Targets and losses are backend ops
// (corner_targets, corner_head_losses) on the replica's own backend: on a GPU
// only the boxes go up and the scalar losses come back; the head outputs and
// their gradients stay on the device.
#pragma once
#include <vector>

#include "../model/cornernet.h"
#include "../model/losses.h"
#include "../model/targets.h"

namespace cn {

struct StepLosses {
  std::vector<CornerHeadLosses> levels;  // one per stack (head level)
  double total() const {
    double t = 0;
    for (const auto& l : levels) t += l.total();
    return t;
  }
};

// images: [N, 3, H, W] on be's device (H, W the padded input size); boxes[n] in
// input pixels. Gradients accumulate into model.store() (call zero_grad first).
// frozen_bn: BN uses (and keeps) its running statistics.
StepLosses forward_backward(Backend& be, CornerNet& model, const Tensor& images,
                            const std::vector<std::vector<GtBox>>& boxes, const CornerHeadLossWeights& weights,
                            bool frozen_bn = false);

// The backend ops a training run needs: the model's forward in both BN modes
// (evaluation runs during training) and backward, the targets and losses, the
// optimizer, and the replica synchronisation (copy, axpy).
std::vector<Op> training_ops();

// Losses only (no gradients, nothing recorded): validation loss, NaN hunting.
StepLosses forward_losses(Backend& be, CornerNet& model, const Tensor& images,
                          const std::vector<std::vector<GtBox>>& boxes, const CornerHeadLossWeights& weights,
                          bool train_mode);

}  // namespace cn
