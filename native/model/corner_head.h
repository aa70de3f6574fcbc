// MMDetection's CornerHead: for every feature level (one per stack, weights not
// shared) a top-left and a bottom-right BiCornerPool, and on each pooled feature
// three prediction branches (heatmap, embedding, offset).
#pragma once
#include <array>
#include <vector>

#include "config.h"
#include "layers.h"

namespace cn {

// The head's outputs for one level, in the reference's order.
enum HeadOutput { TlHeat = 0, BrHeat, TlEmb, BrEmb, TlOff, BrOff, kNumHeadOutputs };
using HeadTensors = std::array<Tensor, kNumHeadOutputs>;
extern const char* const kHeadOutputNames[kNumHeadOutputs];  // "tl_heat", ... (reference names)

// relu(aftpool_conv(pool1(direction1_conv(x)) + pool2(direction2_conv(x))) + conv1(x)) -> conv2
class BiCornerPool {
 public:
  BiCornerPool(ParameterStore& s, const std::string& prefix, CornerPoolMode dir1, CornerPoolMode dir2, int cin,
               int feat, int cout, const BatchNormParams& bn);
  // The output is not kept (it feeds the prediction branches, which do not keep
  // it either): output_again() rebuilds it for their backward and this one's.
  Tensor forward(const Pass& p, const Tensor& x);
  Tensor output_again(const Pass& p) { return conv2_.output_again(p); }
  Tensor backward(const Pass& p, const Tensor& gy);
  void release();

 private:
  CornerPoolMode dir1_, dir2_;
  ConvModule direction1_conv_, direction2_conv_, aftpool_conv_, conv1_, conv2_;
  Tensor pooled(const Pass& p, const Tensor& a, const Tensor& b);
  Tensor merged_;
};

// Sequential(ConvModule 3x3 with bias and ReLU, no BN; ConvModule 1x1 with bias, no act).
class PredictionBranch {
 public:
  PredictionBranch(ParameterStore& s, const std::string& prefix, int cin, int feat, int cout, bool heatmap);
  // x is not kept: backward takes it again.
  Tensor forward(const Pass& p, const Tensor& x);
  Tensor backward(const Pass& p, const Tensor& x, const Tensor& gy);
  void release();

 private:
  ConvModule hidden_, out_;
};

class CornerHead {
 public:
  CornerHead(ParameterStore& s, const std::string& prefix, const CornerNetConfig& cfg);
  HeadTensors forward(const Pass& p, int level, const Tensor& x);
  // Any of grads may be undefined; returns the gradient of the level's input
  // (undefined when no gradient was given at all).
  Tensor backward(const Pass& p, int level, const HeadTensors& grads);
  void release(int level);

 private:
  std::vector<BiCornerPool> tl_pool_, br_pool_;
  int widest_ = 0;  // the most channels of any tensor in a corner
  std::vector<PredictionBranch> tl_heat_, br_heat_, tl_off_, br_off_, tl_emb_, br_emb_;
};

}  // namespace cn
