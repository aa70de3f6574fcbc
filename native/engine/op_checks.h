// The engine's argument checks (declared in backend.h, which includes this at
// its end): run by Backend's public op methods before any backend computes, so
// every backend sees only arguments it can compute on and no backend repeats
// these rules. Messages name the op and the argument at fault. Header-only like
// the rest of the Backend interface: the plugins run these checks too and do
// not link the addon.
#pragma once
#include <initializer_list>
#include <tuple>
#include <utility>

namespace cn {
namespace check {

namespace detail {

inline void supported(const Backend& be, Op op) {
  if (!be.supports(op)) be.unsupported(op);
}

// Every defined tensor of an op lives where the backend computes.
inline void on_device(const Backend& be, Op op, std::initializer_list<std::pair<const char*, const Tensor*>> ts) {
  for (const auto& [name, t] : ts)
    if (t->defined() && t->device() != be.device())
      fail(op_name(op), ": ", name, " is on ", t->device().str(), ", the '", be.name(), "' backend works on ",
           be.device().str());
}

inline void nchw(Op op, const Tensor& x, const char* name) {
  CN_CHECK(x.dim() == 4, op_name(op), ": ", name, " must be NCHW, got ", shape_str(x.shape()));
  // Kernels index a plane's rows and columns with 32-bit integers.
  CN_CHECK(x.size(2) <= 0x7fffffff && x.size(3) <= 0x7fffffff, op_name(op), ": ", name,
           "'s height and width must fit in 32 bits, got ", shape_str(x.shape()));
}

inline void per_channel(Op op, const char* name, const Tensor& t, int64_t C) {
  CN_CHECK(!t.defined() || t.shape() == Shape({C}), op_name(op), ": ", name, " must have shape [", C, "], got ",
           shape_str(t.shape()));
}

inline void shape_is(Op op, const char* name, const Tensor& t, const Shape& want) {
  CN_CHECK(t.shape() == want, op_name(op), ": ", name, " has shape ", shape_str(t.shape()), ", expected ",
           shape_str(want));
}

inline Shape conv_output(Op op, const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  const char* n = op_name(op);
  CN_CHECK(x.dim() == 4 && w.dim() == 4, n, ": x and weight must be 4-D, got ", shape_str(x.shape()), " and ",
           shape_str(w.shape()));
  CN_CHECK(w.size(1) == x.size(1), n, ": weight has ", w.size(1), " input channels, x has ", x.size(1));
  CN_CHECK(p.stride_h > 0 && p.stride_w > 0 && p.pad_h >= 0 && p.pad_w >= 0, n, ": bad stride/padding");
  CN_CHECK(x.size(2) + 2 * p.pad_h >= w.size(2) && x.size(3) + 2 * p.pad_w >= w.size(3), n, ": kernel ", w.size(2),
           "x", w.size(3), " is larger than the padded input ", x.size(2) + 2 * p.pad_h, "x", x.size(3) + 2 * p.pad_w);
  return {x.size(0), w.size(0), conv_out_size(x.size(2), w.size(2), p.stride_h, p.pad_h),
          conv_out_size(x.size(3), w.size(3), p.stride_w, p.pad_w)};
}

}  // namespace detail

inline void conv2d_forward(const Backend& be, const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
                    const Tensor& y) {
  const Op op = Op::Conv2dForward;
  detail::supported(be, op);
  detail::on_device(be, op, {{"x", &x}, {"weight", &w}, {"bias", &bias}, {"y", &y}});
  detail::shape_is(op, "y", y, detail::conv_output(op, x, w, p));
  if (bias.defined()) detail::shape_is(op, "bias", bias, {w.size(0)});
}

inline void conv2d_backward(const Backend& be, const Tensor& x, const Tensor& w, const Tensor& gy, const Conv2dParams& p,
                     const Tensor& gx, const Tensor& gw, const Tensor& gb) {
  const Op op = Op::Conv2dBackward;
  detail::supported(be, op);
  detail::on_device(be, op, {{"x", &x}, {"weight", &w}, {"gradY", &gy}, {"gradX", &gx}, {"gradWeight", &gw}, {"gradBias", &gb}});
  detail::shape_is(op, "gradY", gy, detail::conv_output(op, x, w, p));
  if (gx.defined()) detail::shape_is(op, "gradX", gx, x.shape());
  if (gw.defined()) detail::shape_is(op, "gradWeight", gw, w.shape());
  if (gb.defined()) detail::shape_is(op, "gradBias", gb, {w.size(0)});
}

inline void batch_norm_forward_train(const Backend& be, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                              const Tensor& running_mean, const Tensor& running_var, const BatchNormParams& p,
                              const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd) {
  const Op op = Op::BatchNormForwardTrain;
  detail::supported(be, op);
  detail::on_device(be, op, {{"x", &x}, {"gamma", &gamma}, {"beta", &beta}, {"running_mean", &running_mean},
                     {"running_var", &running_var}, {"y", &y}, {"save_mean", &save_mean}, {"save_invstd", &save_invstd}});
  detail::nchw(op, x, "x");
  for (auto [name, t] : {std::pair<const char*, const Tensor*>{"gamma", &gamma}, {"beta", &beta},
                         {"running_mean", &running_mean}, {"running_var", &running_var},
                         {"save_mean", &save_mean}, {"save_invstd", &save_invstd}})
    detail::per_channel(op, name, *t, x.size(1));
  detail::shape_is(op, "y", y, x.shape());
  const int64_t M = x.size(0) * x.size(2) * x.size(3);
  CN_CHECK(M > 1, op_name(op), ": training mode needs more than one value per channel (N*H*W = ", M,
           "); the unbiased running variance is undefined");
}

inline void batch_norm_forward_eval(const Backend& be, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                             const Tensor& running_mean, const Tensor& running_var, const BatchNormParams& p,
                             const Tensor& y) {
  const Op op = Op::BatchNormForwardEval;
  detail::supported(be, op);
  detail::on_device(be, op, {{"x", &x}, {"gamma", &gamma}, {"beta", &beta}, {"running_mean", &running_mean},
                     {"running_var", &running_var}, {"y", &y}});
  detail::nchw(op, x, "x");
  for (auto [name, t] : {std::pair<const char*, const Tensor*>{"gamma", &gamma}, {"beta", &beta},
                         {"running_mean", &running_mean}, {"running_var", &running_var}})
    detail::per_channel(op, name, *t, x.size(1));
  CN_CHECK(running_mean.defined() && running_var.defined(), op_name(op), ": running_mean and running_var are required");
  detail::shape_is(op, "y", y, x.shape());
}

inline void batch_norm_backward(const Backend& be, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                         const Tensor& save_mean, const Tensor& save_invstd, const Tensor& gy, const Tensor& gx,
                         const Tensor& ggamma, const Tensor& gbeta) {
  const Op op = Op::BatchNormBackward;
  detail::supported(be, op);
  detail::on_device(be, op, {{"x", &x}, {"gamma", &gamma}, {"beta", &beta}, {"save_mean", &save_mean},
                     {"save_invstd", &save_invstd}, {"gradY", &gy}, {"gradX", &gx}, {"ggamma", &ggamma},
                     {"gbeta", &gbeta}});
  detail::nchw(op, x, "x");
  for (auto [name, t] : {std::pair<const char*, const Tensor*>{"gamma", &gamma}, {"beta", &beta}, {"save_mean", &save_mean},
                         {"save_invstd", &save_invstd}, {"ggamma", &ggamma}, {"gbeta", &gbeta}})
    detail::per_channel(op, name, *t, x.size(1));
  CN_CHECK(save_mean.defined() && save_invstd.defined(), op_name(op), ": save_mean and save_invstd are required");
  detail::shape_is(op, "gradY", gy, x.shape());
  if (gx.defined()) detail::shape_is(op, "gradX", gx, x.shape());
}

inline void same_shape(const Backend& be, Op op, const Tensor& a, const char* a_name, const Tensor& b, const char* b_name) {
  detail::supported(be, op);
  detail::on_device(be, op, {{a_name, &a}, {b_name, &b}});
  CN_CHECK(a.shape() == b.shape(), op_name(op), ": ", b_name, " has shape ", shape_str(b.shape()), " but ", a_name,
           " has ", shape_str(a.shape()));
}

inline void nchw_same_shape(const Backend& be, Op op, const Tensor& x, const Tensor& other, const char* other_name) {
  detail::nchw(op, x, "x");
  same_shape(be, op, x, "x", other, other_name);
}

inline void upsample2x(const Backend& be, Op op, const Tensor& small, const char* small_name, const Tensor& big,
                const char* big_name) {
  detail::supported(be, op);
  detail::on_device(be, op, {{small_name, &small}, {big_name, &big}});
  detail::nchw(op, small, small_name);
  detail::nchw(op, big, big_name);
  detail::shape_is(op, big_name, big, {small.size(0), small.size(1), 2 * small.size(2), 2 * small.size(3)});
}

inline void same_size(const Backend& be, Op op, const Tensor& a, const char* a_name, const Tensor& b, const char* b_name) {
  detail::supported(be, op);
  detail::on_device(be, op, {{a_name, &a}, {b_name, &b}});
  CN_CHECK(a.numel() == b.numel(), op_name(op), ": ", a_name, " has shape ", shape_str(a.shape()), " but ", b_name,
           " has shape ", shape_str(b.shape()));
}

inline void adam_update(const Backend& be, const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                 const Tensor& exp_avg_sq, const AdamParams& p) {
  const Op op = Op::AdamUpdate;
  same_size(be, op, param, "param", grad, "grad");
  same_size(be, op, param, "param", exp_avg, "exp_avg");
  same_size(be, op, param, "param", exp_avg_sq, "exp_avg_sq");
  CN_CHECK(p.step >= 1, op_name(op), ": step must be >= 1 (it counts this update), got ", p.step);
}

// Head maps [N,C,H,W] / [N,1,H,W] / [N,2,H,W] for both corners (and the mirrored
// view, same shapes), one meta per image, options in the ranges the decoder takes.
inline void decode(const Backend& be, const DecodeHeads& view, const DecodeHeads* flipped,
                   const std::vector<::cn::decode::ImageMeta>& metas, const ::cn::decode::DecodeOptions& opt) {
  const Op op = Op::Decode;
  const char* n = op_name(op);
  detail::supported(be, op);
  const Tensor& heat = view.heat[0];
  detail::nchw(op, heat, view.heat_name[0]);
  CN_CHECK(heat.numel() > 0, n, ": ", view.heat_name[0], " must be non-empty, got ", shape_str(heat.shape()));
  const int64_t N = heat.size(0), C = heat.size(1), H = heat.size(2), W = heat.size(3);
  for (const DecodeHeads* h : {&view, flipped}) {
    if (!h) continue;
    for (int c = 0; c < 2; ++c) {
      detail::on_device(be, op, {{h->heat_name[c], &h->heat[c]}, {"emb", &h->emb[c]}, {"off", &h->off[c]}});
      detail::shape_is(op, h->heat_name[c], h->heat[c], {N, C, H, W});
      detail::shape_is(op, c ? "brEmb" : "tlEmb", h->emb[c], {N, 1, H, W});
      detail::shape_is(op, c ? "brOff" : "tlOff", h->off[c], {N, 2, H, W});
    }
  }
  CN_CHECK(static_cast<int64_t>(metas.size()) == N, n, ": ", metas.size(), " image metas for ", N, " images");
  CN_CHECK(C * H * W < 0x7fffffff, n, ": ", C * H * W, " heat-map entries per image (limit 2^31 - 1)");
  CN_CHECK(opt.k >= 1 && opt.k <= C * H * W, n, ": k (", opt.k, ") must be in [1, ", C * H * W, "]");
  CN_CHECK(opt.kernel >= 1 && opt.kernel % 2 == 1, n, ": kernel must be odd and positive, got ", opt.kernel);
  CN_CHECK(opt.num_dets >= 1, n, ": num_dets must be positive, got ", opt.num_dets);
}

inline void corner_targets(const Backend& be, const std::vector<std::vector<GtBox>>& boxes, const TargetGeometry& g,
                           const Tensor& tl_heatmap, const Tensor& br_heatmap, const Tensor& tl_offset,
                           const Tensor& br_offset, const Tensor& tl_mask, const Tensor& br_mask) {
  const Op op = Op::CornerTargets;
  detail::supported(be, op);
  check_target_geometry(g);
  for (size_t i = 0; i < boxes.size(); ++i)
    for (size_t k = 0; k < boxes[i].size(); ++k) check_gt_box(boxes[i][k], i, k, g.num_classes);
  detail::on_device(be, op, {{"tl_heatmap", &tl_heatmap}, {"br_heatmap", &br_heatmap}, {"tl_offset", &tl_offset},
                             {"br_offset", &br_offset}, {"tl_mask", &tl_mask}, {"br_mask", &br_mask}});
  const int64_t n = static_cast<int64_t>(boxes.size()), C = g.num_classes, H = g.feat_h, W = g.feat_w;
  for (auto [name, t, c] : {std::tuple<const char*, const Tensor*, int64_t>{"tl_heatmap", &tl_heatmap, C},
                            {"br_heatmap", &br_heatmap, C}, {"tl_offset", &tl_offset, 2}, {"br_offset", &br_offset, 2},
                            {"tl_mask", &tl_mask, 1}, {"br_mask", &br_mask, 1}})
    if (t->defined()) detail::shape_is(op, name, *t, {n, c, H, W});
}

inline void corner_head_losses(const Backend& be, const CornerHeadTensors& out, const CornerTargets& tg,
                               const CornerHeadLossWeights& w, const CornerHeadTensors& grads) {
  const Op op = Op::CornerHeadLosses;
  const char* n = op_name(op);
  detail::supported(be, op);
  const std::pair<const char*, const Tensor*> ins[] = {
      {"tl_heat", &out.tl_heat},       {"br_heat", &out.br_heat},       {"tl_emb", &out.tl_emb},
      {"br_emb", &out.br_emb},         {"tl_off", &out.tl_off},         {"br_off", &out.br_off},
      {"tl_heatmap", &tg.tl_heatmap},  {"br_heatmap", &tg.br_heatmap},  {"tl_offset", &tg.tl_offset},
      {"br_offset", &tg.br_offset}};
  for (const auto& [name, t] : ins) {
    CN_CHECK(t->defined(), n, ": ", name, " is missing");
    detail::nchw(op, *t, name);
  }
  detail::on_device(be, op, {ins[0], ins[1], ins[2], ins[3], ins[4], ins[5], ins[6], ins[7], ins[8], ins[9],
                             {"tl_mask", &tg.tl_mask}, {"br_mask", &tg.br_mask},
                             {"grad tl_heat", &grads.tl_heat}, {"grad br_heat", &grads.br_heat},
                             {"grad tl_emb", &grads.tl_emb}, {"grad br_emb", &grads.br_emb},
                             {"grad tl_off", &grads.tl_off}, {"grad br_off", &grads.br_off}});
  const int64_t N = out.tl_heat.size(0), C = out.tl_heat.size(1), H = out.tl_heat.size(2), W = out.tl_heat.size(3);
  const int64_t M = out.tl_emb.size(1);
  const Shape heat{N, C, H, W}, emb{N, M, H, W}, off{N, 2, H, W}, mask{N, 1, H, W};
  detail::shape_is(op, "br_heat", out.br_heat, heat);
  detail::shape_is(op, "tl_heatmap", tg.tl_heatmap, heat);
  detail::shape_is(op, "br_heatmap", tg.br_heatmap, heat);
  detail::shape_is(op, "tl_emb", out.tl_emb, emb);
  detail::shape_is(op, "br_emb", out.br_emb, emb);
  detail::shape_is(op, "tl_off", out.tl_off, off);
  detail::shape_is(op, "br_off", out.br_off, off);
  detail::shape_is(op, "tl_offset", tg.tl_offset, off);
  detail::shape_is(op, "br_offset", tg.br_offset, off);
  if (tg.tl_mask.defined()) detail::shape_is(op, "tl_mask", tg.tl_mask, mask);
  if (tg.br_mask.defined()) detail::shape_is(op, "br_mask", tg.br_mask, mask);
  const Tensor* gs[] = {&grads.tl_heat, &grads.br_heat, &grads.tl_emb, &grads.br_emb, &grads.tl_off, &grads.br_off};
  for (int i = 0; i < 6; ++i)
    if (gs[i]->defined()) detail::shape_is(op, ins[i].first, *gs[i], ins[i].second->shape());
  CN_CHECK(w.offset_beta > 0, n, ": smooth-L1 beta must be positive, got ", w.offset_beta);
  CN_CHECK(static_cast<int64_t>(tg.match.size()) == N, n, ": the embedding match has ", tg.match.size(),
           " images but the embeddings have batch size ", N);
  for (size_t img = 0; img < tg.match.size(); ++img)
    for (size_t k = 0; k < tg.match[img].size(); ++k) {
      const CornerMatch& c = tg.match[img][k];
      CN_CHECK(c.tl_y >= 0 && c.tl_y < H && c.tl_x >= 0 && c.tl_x < W && c.br_y >= 0 && c.br_y < H && c.br_x >= 0 &&
                   c.br_x < W,
               "embedding match ", k, " of image ", img, " (tl ", c.tl_y, ",", c.tl_x, " br ", c.br_y, ",", c.br_x,
               ") is outside the ", H, "x", W, " map");
    }
}

}  // namespace check
}  // namespace cn
