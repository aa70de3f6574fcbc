// The CornerNet losses with their gradients (model/losses.h): each loss alone, and
// cornerHeadLosses for one head level (det/off/pull/push and the gradient of their
// sum w.r.t. all six head outputs). The single losses run on the host only;
// cornerHeadLosses on any backend (Backend::corner_head_losses).
#include "loss_args.h"
#include "../model/losses.h"
#include "ops.h"

namespace cn {

namespace {

void same_shape(OpCall& c, const char* name, const Tensor& t, const char* ref_name, const Tensor& ref) {
  if (t.shape() != ref.shape())
    c.bad_arg(name, "must have the shape of '" + std::string(ref_name) + "' " + shape_str(ref.shape()) + ", got " +
                        shape_str(t.shape()));
}

void set_scalar(TensorMap& out, const char* name, double v) { out[name].data()[0] = static_cast<float>(v); }

void set_scalar(Backend& be, TensorMap& out, const char* name, double v) {
  write_values(be, out[name], {static_cast<float>(v)});
}

}  // namespace

void register_losses_ops(OpRegistry& r) {
  r.add("gaussianFocalLoss", [](OpCall& c) -> Kernel {
    require_cpu_backend(c);
    const Tensor logits = c.tensor("logits");
    const Tensor gt = c.tensor("gt");
    same_shape(c, "gt", gt, "logits", logits);
    c.output("loss", {});
    c.output("gradLogits", logits.shape());
    return [](Backend& be, TensorMap& in, TensorMap& out) {
      set_scalar(out, "loss", gaussian_focal_loss(in["logits"], in["gt"], out["gradLogits"], 1.0, cpu_pool(be)));
    };
  });

  r.add("associativeEmbeddingLoss", [](OpCall& c) -> Kernel {
    require_cpu_backend(c);
    const Tensor tl = c.tensor("tlEmb", 4);
    const Tensor br = c.tensor("brEmb", 4);
    same_shape(c, "brEmb", br, "tlEmb", tl);
    const Tensor m = c.tensor("match", 2);
    check_match_tensor(c, "match", m, tl.size(0));
    const double pull_w = c.number("pullWeight", 0.1), push_w = c.number("pushWeight", 0.1);
    auto match = match_from_tensor(m, tl.size(0));
    c.output("pull", {});
    c.output("push", {});
    c.output("gradTlEmb", tl.shape());
    c.output("gradBrEmb", br.shape());
    return [match, pull_w, push_w](Backend&, TensorMap& in, TensorMap& out) {
      EmbeddingLoss l = associative_embedding_loss(in["tlEmb"], in["brEmb"], match, pull_w, push_w, out["gradTlEmb"],
                                                   out["gradBrEmb"], 1.0);
      set_scalar(out, "pull", l.pull);
      set_scalar(out, "push", l.push);
    };
  });

  r.add("maskedSmoothL1Loss", [](OpCall& c) -> Kernel {
    require_cpu_backend(c);
    const Tensor pred = c.tensor("pred", 4);
    const Tensor target = c.tensor("target", 4);
    same_shape(c, "target", target, "pred", pred);
    const Tensor mask = c.tensor("mask", 4);
    if (mask.shape() != Shape{pred.size(0), 1, pred.size(2), pred.size(3)})
      c.bad_arg("mask", "must have shape [N, 1, H, W] matching 'pred' " + shape_str(pred.shape()) + ", got " +
                            shape_str(mask.shape()));
    const double beta = c.number("beta", 1.0);
    if (!(beta > 0)) c.bad_arg("beta", "must be positive");
    c.output("loss", {});
    c.output("gradPred", pred.shape());
    return [beta](Backend& be, TensorMap& in, TensorMap& out) {
      set_scalar(out, "loss",
                 masked_smooth_l1_loss(in["pred"], in["target"], in["mask"], beta, out["gradPred"], 1.0, cpu_pool(be)));
    };
  });

  r.add("cornerHeadLosses", [](OpCall& c) -> Kernel {
    const Tensor tl_heat = c.tensor("tlHeat", 4);
    const int64_t N = tl_heat.size(0), H = tl_heat.size(2), W = tl_heat.size(3);
    const Tensor br_heat = c.tensor("brHeat", 4);
    same_shape(c, "brHeat", br_heat, "tlHeat", tl_heat);
    same_shape(c, "tlHeatmap", c.tensor("tlHeatmap", 4), "tlHeat", tl_heat);
    same_shape(c, "brHeatmap", c.tensor("brHeatmap", 4), "tlHeat", tl_heat);
    const Tensor tl_emb = c.tensor("tlEmb", 4);
    if (tl_emb.size(0) != N || tl_emb.size(2) != H || tl_emb.size(3) != W)
      c.bad_arg("tlEmb", "must be [N, M, H, W] with N, H, W of 'tlHeat' " + shape_str(tl_heat.shape()) + ", got " +
                             shape_str(tl_emb.shape()));
    same_shape(c, "brEmb", c.tensor("brEmb", 4), "tlEmb", tl_emb);
    const Shape off_shape{N, 2, H, W};
    for (const char* name : {"tlOff", "brOff", "tlOffset", "brOffset"}) {
      const Tensor t = c.tensor(name, 4);
      if (t.shape() != off_shape)
        c.bad_arg(name, "must have shape " + shape_str(off_shape) + ", got " + shape_str(t.shape()));
    }
    const Tensor m = c.tensor("match", 2);
    check_match_tensor(c, "match", m, N);
    CornerHeadLossWeights w;
    w.pull = c.number("pullWeight", 0.1);
    w.push = c.number("pushWeight", 0.1);
    w.offset_beta = c.number("offsetBeta", 1.0);
    if (!(w.offset_beta > 0)) c.bad_arg("offsetBeta", "must be positive");
    auto match = match_from_tensor(m, N);
    for (const char* name : {"det", "off", "pull", "push", "brEmbHasGrad"}) c.output(name, {});
    c.output("gradTlHeat", tl_heat.shape());
    c.output("gradBrHeat", tl_heat.shape());
    c.output("gradTlEmb", tl_emb.shape());
    c.output("gradBrEmb", tl_emb.shape());
    c.output("gradTlOff", off_shape);
    c.output("gradBrOff", off_shape);
    return [match, w](Backend& be, TensorMap& in, TensorMap& out) {
      CornerHeadTensors o{in["tlHeat"], in["brHeat"], in["tlEmb"], in["brEmb"], in["tlOff"], in["brOff"]};
      CornerHeadTensors g{out["gradTlHeat"], out["gradBrHeat"], out["gradTlEmb"],
                          out["gradBrEmb"],  out["gradTlOff"],  out["gradBrOff"]};
      CornerTargets t;
      t.tl_heatmap = in["tlHeatmap"];
      t.br_heatmap = in["brHeatmap"];
      t.tl_offset = in["tlOffset"];
      t.br_offset = in["brOffset"];
      t.match = match;
      const CornerHeadLosses l = be.corner_head_losses(o, t, w, g, 1.0);
      set_scalar(be, out, "det", l.det);
      set_scalar(be, out, "off", l.off);
      set_scalar(be, out, "pull", l.pull);
      set_scalar(be, out, "push", l.push);
      set_scalar(be, out, "brEmbHasGrad", l.br_emb_has_grad ? 1.0 : 0.0);
    };
  });
}

}  // namespace cn
