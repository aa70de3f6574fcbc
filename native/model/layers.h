// The building blocks of HourglassNet and CornerHead, each with the reference's
// state_dict names: Conv2d, BatchNorm2d, ConvModule (conv [+BN] [+ReLU]),
// BasicBlock and ResLayer. Not a general autograd: every layer instance is used
// once per forward pass, so it keeps what its own backward needs in members
// (only when the pass records) and drops it as soon as its backward has run.
//
// Gradient conventions: backward(gy) never modifies gy and returns a gradient
// tensor nobody else holds, which the caller may then add into in place.
// Parameter gradients go to the ParameterStore (accumulated across calls).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "parameter_store.h"

namespace cn {

// One forward or backward pass: the device, where gradients go, and the mode.
struct Pass {
  Backend& be;
  ParameterStore& store;
  bool train = false;   // BN normalises with batch statistics and updates running ones
  bool record = false;  // keep what backward needs
};

// acc += t (in place, with axpy), where acc is a gradient the caller owns (see conventions above);
// an undefined acc takes t, an undefined t adds nothing.
void sum_into(Backend& be, Tensor& acc, const Tensor& t);

// Runs fn(0) ... fn(n - 1), n branches of the model that share no tensor they
// write, through Backend::run_branches (side by side where the backend gains);
// in order while a gradient-ready hook is set, since bucketed all-reduces must
// see the gradients arrive in the same order on every replica.
void run_branches(const Pass& p, int n, int64_t elements, const std::function<void(int)>& fn);

class BatchNorm2d;

// Inference (eval mode, nothing recorded) may run a convolution followed by a
// batch norm as one convolution with the BN folded into its weights and bias
// (Conv2d::forward_bn); ReLUs after it run in place on its output either way.
inline bool folds_batch_norm(const Pass& p) { return !p.train && !p.record; }

enum class ConvInit {
  TorchDefault,        // nn.Conv2d.reset_parameters: U(+-1/sqrt(fan_in)) for weight and bias
  KaimingNormalFanOut  // mmcv ConvModule: N(0, 2/fan_out) weight (ReLU gain), bias 0
};

class Conv2d {
 public:
  Conv2d(ParameterStore& s, const std::string& prefix, int cin, int cout, int k, int stride, bool bias,
         ConvInit init);
  Tensor forward(const Pass& p, const Tensor& x);
  // gx is computed only when need_gx (the stem's first conv has no use for it).
  Tensor backward(const Pass& p, const Tensor& gy, bool need_gx);
  // For a forward run with record off: the caller brings the input back.
  Tensor backward(const Pass& p, const Tensor& x, const Tensor& gy, bool need_gx);
  // Inference only (folds_batch_norm): bn(conv(x)). Where the folded weights
  // take no more memory than the output (the layers of high resolution, whose
  // BN pass costs most), as one convolution with w' = w * s and
  // b' = beta + (b - mean) * s per output channel, s = gamma / sqrt(running_var
  // + eps), folded once per store version and backend and kept until the weights
  // change; elsewhere (4x4 to 32x32 levels of 384-512 channels, where a copy of
  // the weights would cost more memory than the BN pass costs time) conv and BN
  // apart.
  // relu: the ReLU after it too (in place on the output).
  Tensor forward_bn(const Pass& p, const Tensor& x, BatchNorm2d& bn, bool relu = false);
  void release() { x_ = Tensor{}; }
  Entry* bias() { return b_; }

 private:
  Entry* w_;
  Entry* b_ = nullptr;
  int cout_, k_;
  Conv2dParams params_;
  Tensor x_;
  Conv2dParams params_at(uint64_t weight_version) const {
    Conv2dParams p = params_;
    p.weight_version = weight_version;
    return p;
  }
  // forward_bn's folded weights and bias, and what they were folded from.
  struct Folded {
    Tensor w, b;
    uint64_t version = 0;
    const Backend* be = nullptr;
  } folded_;
};

class BatchNorm2d {
 public:
  BatchNorm2d(ParameterStore& s, const std::string& prefix, int channels, const BatchNormParams& bn);
  // relu: the output is max(0, BN(x)), in BN's own pass; the backward then takes
  // the gradient at the ReLU's output and recomputes its mask from x, so the
  // output need not be kept for it.
  Tensor forward(const Pass& p, const Tensor& x, bool relu = false);
  Tensor backward(const Pass& p, const Tensor& gy);
  // The output of the recorded forward again (ReLU included), from the kept
  // input and the same statistics (nothing is updated): lets a caller drop that
  // output until backward.
  Tensor recompute(const Pass& p);
  void release();
  // The eval-mode transform as y = x * scale + shift per channel, in double,
  // from the current weights and running statistics (for Conv2d::forward_bn).
  void eval_scale_shift(Backend& be, std::vector<double>& scale, std::vector<double>& shift) const;

 private:
  Entry *w_, *b_, *mean_, *var_, *count_;
  BatchNormParams bn_;  // relu: the recorded forward's
  Tensor x_, save_mean_, save_invstd_;
  bool recorded_train_ = false;
};

// mmcv's ConvModule: conv (bias only without BN) -> BN -> ReLU, keys `conv.*`, `bn.*`.
struct ConvModuleSpec {
  int cin, cout, k, stride = 1;
  bool norm = true, act = true;
  ConvInit init = ConvInit::TorchDefault;
};

class ConvModule {
 public:
  ConvModule(ParameterStore& s, const std::string& prefix, const ConvModuleSpec& spec, const BatchNormParams& bn);
  // A recording pass may leave out the input (the caller brings it back to
  // backward): a caller that holds it saves a buffer. With BN the ReLU runs in
  // BN's pass and its backward needs only BN's input, so the output is never
  // kept; without BN the ReLU's output is.
  Tensor forward(const Pass& p, const Tensor& x, bool keep_input = true);
  // x: the input the forward did not keep (undefined otherwise).
  Tensor backward(const Pass& p, const Tensor& gy, bool need_gx = true, const Tensor& x = Tensor{});
  // The output again, from BN's kept input (modules with BN only).
  Tensor output_again(const Pass& p);
  void release();
  Conv2d& conv() { return conv_; }

 private:
  Conv2d conv_;
  std::vector<BatchNorm2d> bn_;  // zero or one
  bool act_;
  Tensor y_;  // ReLU output, for its backward (modules without BN)
};

// ResNet's BasicBlock: conv1 3x3 (stride) -> bn1 -> ReLU -> conv2 3x3 -> bn2,
// plus the identity or `downsample` (1x1 conv stride + BN), then ReLU.
class BasicBlock {
 public:
  BasicBlock(ParameterStore& s, const std::string& prefix, int cin, int cout, int stride, const BatchNormParams& bn);
  Tensor forward(const Pass& p, const Tensor& x);
  Tensor backward(const Pass& p, const Tensor& gy);
  void release();

 private:
  Tensor forward_folded(const Pass& p, const Tensor& x);  // inference: each conv-BN pair through forward_bn

  Conv2d conv1_;
  BatchNorm2d bn1_;
  Conv2d conv2_;
  BatchNorm2d bn2_;
  std::vector<Conv2d> ds_conv_;  // zero or one each
  std::vector<BatchNorm2d> ds_bn_;
  Tensor y_;  // block output; the first ReLU's output is recomputed from bn1's input
};

// mmdet's ResLayer of BasicBlocks, keys `0..n-1`. downsample_first: block 0 maps
// cin->cout with the stride, the rest cout->cout; otherwise (the hourglass's low3)
// blocks 0..n-2 are cin->cin and the last maps cin->cout. Like the reference,
// num_blocks 0 still builds one block (this shows in HourglassNet's `inters`).
class ResLayer {
 public:
  ResLayer(ParameterStore& s, const std::string& prefix, int cin, int cout, int num_blocks, int stride,
           bool downsample_first, const BatchNormParams& bn);
  Tensor forward(const Pass& p, const Tensor& x);
  Tensor backward(const Pass& p, const Tensor& gy);
  void release();
  BasicBlock& block(size_t i) { return blocks_.at(i); }

 private:
  std::vector<BasicBlock> blocks_;
};

}  // namespace cn
