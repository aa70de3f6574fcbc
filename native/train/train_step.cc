#include "train_step.h"

namespace cn {

namespace {
Tensor to_host(Backend& be, const Tensor& t) {
  if (be.device().type == DeviceType::CPU) return t;
  Tensor h = Tensor::host(t.shape());
  be.download(t, h);
  return h;
}

CornerHeadTensors host_outputs(Backend& be, const HeadTensors& o) {
  CornerHeadTensors h;
  h.tl_heat = to_host(be, o[TlHeat]);
  h.br_heat = to_host(be, o[BrHeat]);
  h.tl_emb = to_host(be, o[TlEmb]);
  h.br_emb = to_host(be, o[BrEmb]);
  h.tl_off = to_host(be, o[TlOff]);
  h.br_off = to_host(be, o[BrOff]);
  return h;
}

CornerHeadTensors host_like(const CornerHeadTensors& o) {
  CornerHeadTensors g;
  g.tl_heat = Tensor::host(o.tl_heat.shape());
  g.br_heat = Tensor::host(o.br_heat.shape());
  g.tl_emb = Tensor::host(o.tl_emb.shape());
  g.br_emb = Tensor::host(o.br_emb.shape());
  g.tl_off = Tensor::host(o.tl_off.shape());
  g.br_off = Tensor::host(o.br_off.shape());
  return g;
}

HeadTensors to_device(Backend& be, const CornerHeadTensors& g) {
  HeadTensors d;
  d[TlHeat] = be.upload(g.tl_heat);
  d[BrHeat] = be.upload(g.br_heat);
  d[TlEmb] = be.upload(g.tl_emb);
  d[BrEmb] = be.upload(g.br_emb);
  d[TlOff] = be.upload(g.tl_off);
  d[BrOff] = be.upload(g.br_off);
  return d;
}

CornerTargets targets_for(const CornerNet& model, const Tensor& images, const HeadTensors& level0,
                          const std::vector<std::vector<GtBox>>& boxes) {
  CN_CHECK(static_cast<int64_t>(boxes.size()) == images.size(0), "training batch: ", images.size(0),
           " images but ", boxes.size(), " box lists");
  TargetGeometry g;
  g.num_classes = model.config().num_classes;
  g.feat_h = static_cast<int>(level0[TlHeat].size(2));
  g.feat_w = static_cast<int>(level0[TlHeat].size(3));
  g.pad_h = static_cast<int>(images.size(2));
  g.pad_w = static_cast<int>(images.size(3));
  return build_corner_targets(boxes, g);
}
}  // namespace

StepLosses forward_backward(Backend& be, CornerNet& model, const Tensor& images,
                            const std::vector<std::vector<GtBox>>& boxes, const CornerHeadLossWeights& weights,
                            ThreadPool& pool, bool frozen_bn) {
  std::vector<HeadTensors> outs = model.forward(be, images, /*train=*/!frozen_bn, /*record=*/true);
  CornerTargets targets = targets_for(model, images, outs[0], boxes);
  StepLosses losses;
  std::vector<HeadTensors> grads(outs.size());
  for (size_t l = 0; l < outs.size(); ++l) {
    CornerHeadTensors h = host_outputs(be, outs[l]);
    CornerHeadTensors g = host_like(h);
    losses.levels.push_back(corner_head_losses(h, targets, weights, g, 1.0, &pool));
    grads[l] = to_device(be, g);
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
                          bool train_mode, ThreadPool& pool) {
  std::vector<HeadTensors> outs = model.forward(be, images, train_mode, /*record=*/false);
  CornerTargets targets = targets_for(model, images, outs[0], boxes);
  StepLosses losses;
  for (const HeadTensors& o : outs) {
    CornerHeadTensors h = host_outputs(be, o);
    CornerHeadTensors none;  // every gradient undefined: skipped
    losses.levels.push_back(corner_head_losses(h, targets, weights, none, 1.0, &pool));
  }
  return losses;
}

std::vector<Op> training_ops() {
  std::vector<Op> ops = CornerNet::inference_ops();
  for (Op op : {Op::Conv2dBackward, Op::BatchNormForwardTrain, Op::BatchNormBackward, Op::ReluBackward,
                Op::Upsample2xBackward, Op::CornerPoolBackward, Op::SumSquares, Op::AdamUpdate, Op::Copy})
    ops.push_back(op);
  return ops;
}

}  // namespace cn
