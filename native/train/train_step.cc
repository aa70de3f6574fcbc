#include "train_step.h"

namespace cn {

namespace {
CornerHeadTensors head(const HeadTensors& o) {
  return CornerHeadTensors{o[TlHeat], o[BrHeat], o[TlEmb], o[BrEmb], o[TlOff], o[BrOff]};
}

CornerHeadTensors empty_like(Backend& be, const CornerHeadTensors& o) {
  return CornerHeadTensors{be.empty(o.tl_heat.shape()), be.empty(o.br_heat.shape()), be.empty(o.tl_emb.shape()),
                           be.empty(o.br_emb.shape()),  be.empty(o.tl_off.shape()),  be.empty(o.br_off.shape())};
}

// The targets on be's device; the embedding pairs on the host.
CornerTargets targets_for(Backend& be, const CornerNet& model, const Tensor& images, const HeadTensors& level0,
                          const std::vector<std::vector<GtBox>>& boxes) {
  CN_CHECK(static_cast<int64_t>(boxes.size()) == images.size(0), "training batch: ", images.size(0),
           " images but ", boxes.size(), " box lists");
  TargetGeometry g;
  g.num_classes = model.config().num_classes;
  g.feat_h = static_cast<int>(level0[TlHeat].size(2));
  g.feat_w = static_cast<int>(level0[TlHeat].size(3));
  g.pad_h = static_cast<int>(images.size(2));
  g.pad_w = static_cast<int>(images.size(3));
  const int64_t n = static_cast<int64_t>(boxes.size()), C = g.num_classes, H = g.feat_h, W = g.feat_w;
  CornerTargets t;
  if (C < 1 || H < 1 || W < 1) fail("targets: num_classes and feature size must be positive");
  t.tl_heatmap = be.empty(Shape{n, C, H, W});
  t.br_heatmap = be.empty(Shape{n, C, H, W});
  t.tl_offset = be.empty(Shape{n, 2, H, W});
  t.br_offset = be.empty(Shape{n, 2, H, W});
  t.tl_mask = be.empty(Shape{n, 1, H, W});
  t.br_mask = be.empty(Shape{n, 1, H, W});
  be.corner_targets(boxes, g, t.tl_heatmap, t.br_heatmap, t.tl_offset, t.br_offset, t.tl_mask, t.br_mask, t.match);
  return t;
}
}  // namespace

StepLosses forward_backward(Backend& be, CornerNet& model, const Tensor& images,
                            const std::vector<std::vector<GtBox>>& boxes, const CornerHeadLossWeights& weights,
                            bool frozen_bn) {
  std::vector<HeadTensors> outs = model.forward(be, images, /*train=*/!frozen_bn, /*record=*/true);
  CornerTargets targets = targets_for(be, model, images, outs[0], boxes);
  StepLosses losses;
  std::vector<HeadTensors> grads(outs.size());
  for (size_t l = 0; l < outs.size(); ++l) {
    const CornerHeadTensors o = head(outs[l]);
    CornerHeadTensors g = empty_like(be, o);
    losses.levels.push_back(be.corner_head_losses(o, targets, weights, g, 1.0));
    grads[l] = HeadTensors{};
    grads[l][TlHeat] = g.tl_heat;
    grads[l][BrHeat] = g.br_heat;
    grads[l][TlEmb] = g.tl_emb;
    grads[l][BrEmb] = g.br_emb;
    grads[l][TlOff] = g.tl_off;
    grads[l][BrOff] = g.br_off;
    // No object in the batch: the reference gives br_emb no gradient at all (not
    // zeros), so its parameters must not reach Adam this step.
    if (!losses.levels.back().br_emb_has_grad) grads[l][BrEmb] = Tensor{};
    outs[l] = HeadTensors{};  // the outputs are no longer needed: free before backward
  }
  model.backward(be, grads);
  return losses;
}

StepLosses forward_losses(Backend& be, CornerNet& model, const Tensor& images,
                          const std::vector<std::vector<GtBox>>& boxes, const CornerHeadLossWeights& weights,
                          bool train_mode) {
  std::vector<HeadTensors> outs = model.forward(be, images, train_mode, /*record=*/false);
  CornerTargets targets = targets_for(be, model, images, outs[0], boxes);
  StepLosses losses;
  for (const HeadTensors& o : outs) {
    CornerHeadTensors none;  // every gradient undefined: skipped
    losses.levels.push_back(be.corner_head_losses(head(o), targets, weights, none, 1.0));
  }
  return losses;
}

std::vector<Op> training_ops() {
  std::vector<Op> ops = CornerNet::inference_ops();
  for (Op op : {Op::Conv2dBackward, Op::BatchNormForwardTrain, Op::BatchNormBackward, Op::ReluBackward,
                Op::Upsample2xBackward, Op::CornerPoolBackward, Op::SumSquares, Op::AdamUpdate, Op::Copy,
                Op::CornerTargets, Op::CornerHeadLosses})
    ops.push_back(op);
  return ops;
}

}  // namespace cn
