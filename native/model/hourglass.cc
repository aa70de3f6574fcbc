#include "hourglass.h"

namespace cn {

namespace {
std::vector<int> tail(const std::vector<int>& v) { return std::vector<int>(v.begin() + 1, v.end()); }
}  // namespace

HourglassModule::HourglassModule(ParameterStore& s, const std::string& prefix, int depth,
                                 const std::vector<int>& channels, const std::vector<int>& blocks,
                                 const BatchNormParams& bn)
    : up1_(s, prefix + "up1", channels[0], channels[0], blocks[0], 1, true, bn),
      low1_(s, prefix + "low1", channels[0], channels[1], blocks[0], 2, true, bn),
      low2_module_(depth > 1 ? new HourglassModule(s, prefix + "low2.", depth - 1, tail(channels), tail(blocks), bn)
                             : nullptr),
      low2_layer_(depth > 1 ? nullptr : new ResLayer(s, prefix + "low2", channels[1], channels[1], blocks[1], 1, true, bn)),
      low3_(s, prefix + "low3", channels[1], channels[0], blocks[0], 1, false, bn) {}

Tensor HourglassModule::forward(const Pass& p, const Tensor& x) {
  Tensor up1 = up1_.forward(p, x);
  Tensor low = low1_.forward(p, x);
  low = low2_module_ ? low2_module_->forward(p, low) : low2_layer_->forward(p, low);
  low = low3_.forward(p, low);
  Tensor y = p.be.empty(up1.shape());
  p.be.upsample2x_forward(low, y);
  // Into the upsampled buffer: up1's output is held by its last block's backward.
  p.be.axpy(1.f, up1, y);
  return y;
}

Tensor HourglassModule::backward(const Pass& p, const Tensor& gy) {
  const Shape& s = gy.shape();
  Tensor g_low = p.be.empty({s[0], s[1], s[2] / 2, s[3] / 2});
  p.be.upsample2x_backward(gy, g_low);
  g_low = low3_.backward(p, g_low);
  g_low = low2_module_ ? low2_module_->backward(p, g_low) : low2_layer_->backward(p, g_low);
  g_low = low1_.backward(p, g_low);
  Tensor gx = up1_.backward(p, gy);
  sum_into(p.be, gx, g_low);
  return gx;
}

void HourglassModule::release() {
  up1_.release();
  low1_.release();
  if (low2_module_) low2_module_->release();
  if (low2_layer_) low2_layer_->release();
  low3_.release();
}

HourglassNet::HourglassNet(ParameterStore& s, const std::string& prefix, const CornerNetConfig& cfg)
    : num_stacks_(cfg.num_stacks),
      stem_conv_(s, prefix + "stem.0", {3, cfg.stage_channels[0] / 2, 7, 2}, {cfg.bn_eps, cfg.bn_momentum}),
      stem_res_(s, prefix + "stem.1", cfg.stage_channels[0] / 2, cfg.stage_channels[0], 1, 2, true,
                {cfg.bn_eps, cfg.bn_momentum}) {
  // Built in the reference's registration order, which the state_dict follows:
  // stem, hourglass_modules, inters, conv1x1s, out_convs, remap_convs.
  const BatchNormParams bn{cfg.bn_eps, cfg.bn_momentum};
  for (int i = 0; i < num_stacks_; ++i)
    hourglass_.emplace_back(new HourglassModule(s, prefix + "hourglass_modules." + std::to_string(i) + ".",
                                                cfg.downsample_times, cfg.stage_channels, cfg.stage_blocks, bn));
  inters_.reset(new ResLayer(s, prefix + "inters", cfg.stage_channels[0], cfg.stage_channels[0], num_stacks_ - 1, 1,
                             true, bn));
  const int cur = cfg.stage_channels[0], feat = cfg.feat_channel;
  conv1x1s_.reserve(num_stacks_);
  out_convs_.reserve(num_stacks_);
  remap_convs_.reserve(num_stacks_);
  for (int i = 0; i + 1 < num_stacks_; ++i)
    conv1x1s_.emplace_back(s, prefix + "conv1x1s." + std::to_string(i), ConvModuleSpec{cur, cur, 1, 1, true, false}, bn);
  for (int i = 0; i < num_stacks_; ++i)
    out_convs_.emplace_back(s, prefix + "out_convs." + std::to_string(i), ConvModuleSpec{cur, feat, 3}, bn);
  for (int i = 0; i + 1 < num_stacks_; ++i)
    remap_convs_.emplace_back(s, prefix + "remap_convs." + std::to_string(i), ConvModuleSpec{feat, cur, 1, 1, true, false},
                              bn);
  merged_.resize(num_stacks_);
}

std::vector<Tensor> HourglassNet::forward(const Pass& p, const Tensor& x) {
  Tensor inter = stem_res_.forward(p, stem_conv_.forward(p, x));
  std::vector<Tensor> feats;
  for (int s = 0; s < num_stacks_; ++s) {
    Tensor f = out_convs_[s].forward(p, hourglass_[s]->forward(p, inter));
    feats.push_back(f);
    if (s + 1 < num_stacks_) {
      Tensor m = conv1x1s_[s].forward(p, inter);
      p.be.axpy(1.f, remap_convs_[s].forward(p, f), m);
      p.be.relu_forward(m, m);
      merged_[s] = p.record ? m : Tensor{};
      inter = inters_->block(s).forward(p, m);
    }
  }
  return feats;
}

void HourglassNet::backward(const Pass& p, const std::vector<Tensor>& grads) {
  Tensor g_inter;  // gradient reaching the input of stack s + 1
  for (int s = num_stacks_ - 1; s >= 0; --s) {
    Tensor g_feat = grads[s];
    Tensor g_from_gap;  // this stack's input, through conv1x1s[s]
    if (s + 1 < num_stacks_) {
      if (g_inter.defined()) {
        // In place: the block's input gradient is ours (see layers.h).
        Tensor gm_pre = inters_->block(s).backward(p, g_inter);
        g_inter = Tensor{};
        p.be.relu_backward(merged_[s], gm_pre, gm_pre);
        merged_[s] = Tensor{};
        g_from_gap = conv1x1s_[s].backward(p, gm_pre);
        Tensor g_remap = remap_convs_[s].backward(p, gm_pre);
        // g_feat may be the caller's tensor: add into the fresh one.
        sum_into(p.be, g_remap, g_feat);
        g_feat = g_remap;
      } else {
        inters_->block(s).release();
        conv1x1s_[s].release();
        remap_convs_[s].release();
        merged_[s] = Tensor{};
      }
    }
    if (g_feat.defined()) {
      Tensor gh = out_convs_[s].backward(p, g_feat);
      g_feat = Tensor{};
      g_inter = hourglass_[s]->backward(p, gh);
    } else {
      out_convs_[s].release();
      hourglass_[s]->release();
    }
    sum_into(p.be, g_inter, g_from_gap);
  }
  if (g_inter.defined()) {
    stem_conv_.backward(p, stem_res_.backward(p, g_inter), false);
  } else {
    stem_res_.release();
    stem_conv_.release();
  }
}

void HourglassNet::release() {
  stem_conv_.release();
  stem_res_.release();
  for (auto& h : hourglass_) h->release();
  inters_->release();
  for (auto& c : conv1x1s_) c.release();
  for (auto& c : out_convs_) c.release();
  for (auto& c : remap_convs_) c.release();
  for (auto& m : merged_) m = Tensor{};
}

}  // namespace cn
