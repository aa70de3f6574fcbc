// MMDetection's HourglassNet: a stem (7x7 stride-2 ConvModule, then a strided
// residual block), `num_stacks` recursive hourglass modules, and between stacks
// ReLU(conv1x1s[s](x) + remap_convs[s](feature)) -> inters[s]. Each stack's
// out_convs output is one head level (intermediate supervision).
#pragma once
#include <memory>
#include <vector>

#include "config.h"
#include "layers.h"

namespace cn {

// up1 = ResLayer(cur) at full size; low1 = ResLayer(cur->nxt, stride 2);
// low2 = the next depth (or a ResLayer at the bottom); low3 = ResLayer(nxt->cur,
// downsample last); output = up1 + nearest-upsample(low3), no ReLU after.
class HourglassModule {
 public:
  HourglassModule(ParameterStore& s, const std::string& prefix, int depth, const std::vector<int>& channels,
                  const std::vector<int>& blocks, const BatchNormParams& bn);
  Tensor forward(const Pass& p, const Tensor& x);
  Tensor backward(const Pass& p, const Tensor& gy);
  void release();

 private:
  ResLayer up1_, low1_;
  std::unique_ptr<HourglassModule> low2_module_;  // depth > 1
  std::unique_ptr<ResLayer> low2_layer_;          // depth == 1
  ResLayer low3_;
};

class HourglassNet {
 public:
  HourglassNet(ParameterStore& s, const std::string& prefix, const CornerNetConfig& cfg);
  // One feature map per stack, feat_channel channels, 1/4 of the input size.
  std::vector<Tensor> forward(const Pass& p, const Tensor& x);
  // grads[s] may be undefined (no gradient reaches that stack's output).
  void backward(const Pass& p, const std::vector<Tensor>& grads);
  void release();

 private:
  int num_stacks_;
  ConvModule stem_conv_;
  ResLayer stem_res_;
  std::vector<std::unique_ptr<HourglassModule>> hourglass_;
  std::unique_ptr<ResLayer> inters_;  // built after the hourglass modules (key order)
  std::vector<ConvModule> conv1x1s_, out_convs_, remap_convs_;
  std::vector<Tensor> merged_;  // ReLU(conv1x1s + remap_convs) per stack gap, for its backward
};

}  // namespace cn
