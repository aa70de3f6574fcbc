#include "corner_head.h"

#include <algorithm>
#include <cmath>

namespace cn {

const char* const kHeadOutputNames[kNumHeadOutputs] = {"tl_heat", "br_heat", "tl_emb", "br_emb", "tl_off", "br_off"};

namespace {
// bias_init_with_prob(0.1): the heatmap starts at sigmoid = 0.1 everywhere.
const float kHeatmapBias = static_cast<float>(-std::log((1 - 0.1) / 0.1));

ConvModuleSpec head_conv(int cin, int cout, int k, bool act = true) {
  return ConvModuleSpec{cin, cout, k, 1, true, act, ConvInit::KaimingNormalFanOut};
}
}  // namespace

BiCornerPool::BiCornerPool(ParameterStore& s, const std::string& prefix, CornerPoolMode dir1, CornerPoolMode dir2,
                           int cin, int feat, int cout, const BatchNormParams& bn)
    : dir1_(dir1),
      dir2_(dir2),
      direction1_conv_(s, prefix + ".direction1_conv", head_conv(cin, feat, 3), bn),
      direction2_conv_(s, prefix + ".direction2_conv", head_conv(cin, feat, 3), bn),
      aftpool_conv_(s, prefix + ".aftpool_conv", head_conv(feat, cout, 3, false), bn),
      conv1_(s, prefix + ".conv1", head_conv(cin, cout, 1, false), bn),
      conv2_(s, prefix + ".conv2", head_conv(cout, cout, 3), bn) {}

// The pools' inputs and their sum (aftpool_conv's input) are not kept: backward
// rebuilds them from the direction convs' BN inputs, two elementwise passes and
// two scans for three buffers of every corner and level.
Tensor BiCornerPool::pooled(const Pass& p, const Tensor& a, const Tensor& b) {
  Tensor pooled = p.be.empty(a.shape()), pooled2 = p.be.empty(b.shape());
  p.be.corner_pool_forward(dir1_, a, pooled);
  p.be.corner_pool_forward(dir2_, b, pooled2);
  p.be.axpy(1.f, pooled2, pooled);
  return pooled;
}

Tensor BiCornerPool::forward(const Pass& p, const Tensor& x) {
  Tensor a = direction1_conv_.forward(p, x), b = direction2_conv_.forward(p, x);
  Tensor pool = pooled(p, a, b);
  a = b = Tensor{};
  Tensor m = aftpool_conv_.forward(p, pool, false);
  pool = Tensor{};
  p.be.axpy(1.f, conv1_.forward(p, x), m);
  p.be.relu_forward(m, m);
  merged_ = p.record ? m : Tensor{};
  return conv2_.forward(p, m);
}

Tensor BiCornerPool::backward(const Pass& p, const Tensor& gy) {
  // In place: conv2's input gradient is this layer's own.
  Tensor gm_pre = conv2_.backward(p, gy, true);
  p.be.relu_backward(merged_, gm_pre, gm_pre);
  merged_ = Tensor{};
  Tensor gx = conv1_.backward(p, gm_pre);
  Tensor a = direction1_conv_.output_again(p), b = direction2_conv_.output_again(p);
  // both pools' output gradient (their sum's)
  Tensor g_pooled = aftpool_conv_.backward(p, gm_pre, true, pooled(p, a, b));
  gm_pre = Tensor{};
  Tensor ga = p.be.empty(a.shape());
  p.be.corner_pool_backward(dir1_, a, g_pooled, ga);
  sum_into(p.be, gx, direction1_conv_.backward(p, ga, true));
  a = ga = Tensor{};
  Tensor gb = p.be.empty(b.shape());
  p.be.corner_pool_backward(dir2_, b, g_pooled, gb);
  g_pooled = Tensor{};
  sum_into(p.be, gx, direction2_conv_.backward(p, gb, true));
  return gx;
}

void BiCornerPool::release() {
  direction1_conv_.release();
  direction2_conv_.release();
  aftpool_conv_.release();
  conv1_.release();
  conv2_.release();
  merged_ = Tensor{};
}

PredictionBranch::PredictionBranch(ParameterStore& s, const std::string& prefix, int cin, int feat, int cout,
                                   bool heatmap)
    : hidden_(s, prefix + ".0", ConvModuleSpec{cin, feat, 3, 1, false, true, ConvInit::KaimingNormalFanOut}, {}),
      // CornerHead.init_weights resets the last conv to PyTorch's default.
      out_(s, prefix + ".1", ConvModuleSpec{feat, cout, 1, 1, false, false, ConvInit::TorchDefault}, {}) {
  if (heatmap) out_.conv().bias()->init = {InitRule::Constant, kHeatmapBias};
}

Tensor PredictionBranch::forward(const Pass& p, const Tensor& x) {
  return out_.forward(p, hidden_.forward(p, x, false));
}

Tensor PredictionBranch::backward(const Pass& p, const Tensor& x, const Tensor& gy) {
  return hidden_.backward(p, out_.backward(p, gy), true, x);
}

void PredictionBranch::release() {
  hidden_.release();
  out_.release();
}

CornerHead::CornerHead(ParameterStore& s, const std::string& prefix, const CornerNetConfig& cfg) {
  const BatchNormParams bn{cfg.bn_eps, cfg.bn_momentum};
  const int levels = cfg.num_stacks, in = cfg.feat_channel, hid = cfg.head_feat_channels;
  widest_ = std::max({in, hid, cfg.pool_feat_channels});
  auto name = [&prefix](const char* what, int l) { return prefix + what + "." + std::to_string(l); };
  for (auto* v : {&tl_pool_, &br_pool_}) v->reserve(levels);
  for (auto* v : {&tl_heat_, &br_heat_, &tl_off_, &br_off_, &tl_emb_, &br_emb_}) v->reserve(levels);
  // Registration order of the reference (state_dict order): every level of a
  // sub-module before the next sub-module; embeddings last.
  for (int l = 0; l < levels; ++l)
    tl_pool_.emplace_back(s, name("tl_pool", l), CornerPoolMode::Top, CornerPoolMode::Left, in,
                          cfg.pool_feat_channels, in, bn);
  for (int l = 0; l < levels; ++l)
    br_pool_.emplace_back(s, name("br_pool", l), CornerPoolMode::Bottom, CornerPoolMode::Right, in,
                          cfg.pool_feat_channels, in, bn);
  for (int l = 0; l < levels; ++l) tl_heat_.emplace_back(s, name("tl_heat", l), in, hid, cfg.num_classes, true);
  for (int l = 0; l < levels; ++l) br_heat_.emplace_back(s, name("br_heat", l), in, hid, cfg.num_classes, true);
  for (int l = 0; l < levels; ++l) tl_off_.emplace_back(s, name("tl_off", l), in, hid, 2, false);
  for (int l = 0; l < levels; ++l) br_off_.emplace_back(s, name("br_off", l), in, hid, 2, false);
  for (int l = 0; l < levels; ++l) tl_emb_.emplace_back(s, name("tl_emb", l), in, hid, cfg.corner_emb_channels, false);
  for (int l = 0; l < levels; ++l) br_emb_.emplace_back(s, name("br_emb", l), in, hid, cfg.corner_emb_channels, false);
}

HeadTensors CornerHead::forward(const Pass& p, int l, const Tensor& x) {
  HeadTensors out;
  run_branches(p, 2, x.numel() / x.shape()[1] * widest_, [&](int corner) {
    const bool tl = corner == 0;
    Tensor f = (tl ? tl_pool_ : br_pool_)[l].forward(p, x);
    out[tl ? TlHeat : BrHeat] = (tl ? tl_heat_ : br_heat_)[l].forward(p, f);
    out[tl ? TlEmb : BrEmb] = (tl ? tl_emb_ : br_emb_)[l].forward(p, f);
    out[tl ? TlOff : BrOff] = (tl ? tl_off_ : br_off_)[l].forward(p, f);
  });
  return out;
}

namespace {
// One corner: its three branches, then its pool; the gradient reaching the
// level's input (undefined when no branch has a gradient).
Tensor corner_backward(const Pass& p, BiCornerPool& pool, PredictionBranch& heat, PredictionBranch& emb,
                       PredictionBranch& off, const Tensor& g_heat, const Tensor& g_emb, const Tensor& g_off) {
  std::pair<PredictionBranch*, const Tensor*> parts[] = {{&heat, &g_heat}, {&emb, &g_emb}, {&off, &g_off}};
  if (!g_heat.defined() && !g_emb.defined() && !g_off.defined()) {
    for (auto& part : parts) part.first->release();
    pool.release();
    return Tensor{};
  }
  Tensor feat = pool.output_again(p);
  Tensor g;
  for (auto& [branch, grad] : parts) {
    if (grad->defined())
      sum_into(p.be, g, branch->backward(p, feat, *grad));
    else
      branch->release();
  }
  feat = Tensor{};
  return pool.backward(p, g);
}
}  // namespace

Tensor CornerHead::backward(const Pass& p, int l, const HeadTensors& g) {
  Tensor gx[2];
  int64_t positions = 0;  // N x H x W of the level
  for (const Tensor& t : g)
    if (t.defined()) positions = t.numel() / t.shape()[1];
  run_branches(p, 2, positions * widest_, [&](int corner) {
    gx[corner] = corner == 0
                     ? corner_backward(p, tl_pool_[l], tl_heat_[l], tl_emb_[l], tl_off_[l], g[TlHeat], g[TlEmb], g[TlOff])
                     : corner_backward(p, br_pool_[l], br_heat_[l], br_emb_[l], br_off_[l], g[BrHeat], g[BrEmb], g[BrOff]);
  });
  // In this order, whichever ran first: the same sum as one corner after the other.
  Tensor sum;
  sum_into(p.be, sum, gx[0]);
  sum_into(p.be, sum, gx[1]);
  return sum;
}

void CornerHead::release(int l) {
  for (auto* v : {&tl_pool_, &br_pool_}) (*v)[l].release();
  for (auto* v : {&tl_heat_, &br_heat_, &tl_off_, &br_off_, &tl_emb_, &br_emb_}) (*v)[l].release();
}

}  // namespace cn
