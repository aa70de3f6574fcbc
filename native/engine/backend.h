// The one interface every compute backend implements (ggml/llama.cpp style:
// backends side by side, chosen at run time). The CPU backend lives in the addon;
// the CUDA backend and its CPU emulation ("cuda-emu", the same kernel source run
// on the host for CI) are plugins loaded with dlopen, so this header stays
// header-only and free of CUDA types.
//
// Conventions for every op: tensors are contiguous float32, NCHW where 4-D, all on
// the backend's device. Outputs are allocated by the caller with the documented
// shape and are overwritten (never accumulated into). An output passed undefined
// (Tensor{}) is not computed, which lets backward skip gradients nobody needs.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "error.h"
#include "tensor.h"

namespace cn {

enum class Op : int {
  Conv2dForward,
  Conv2dBackward,
  BatchNormForwardTrain,
  BatchNormForwardEval,
  BatchNormBackward,
  ReluForward,
  ReluBackward,
  AddForward,
  SigmoidForward,
  SigmoidBackward,
  Upsample2xForward,
  Upsample2xBackward,
  MaxPool3x3Forward,
  MaxPool3x3Backward,
  CornerPoolForward,
  CornerPoolBackward,
  Copy,
  SumSquares,
  Axpy,
  AdamUpdate,
  Count
};

inline const char* op_name(Op op) {
  static const char* names[] = {
      "conv2d_forward",        "conv2d_backward",       "batch_norm_forward_train",
      "batch_norm_forward_eval", "batch_norm_backward", "relu_forward",
      "relu_backward",         "add_forward",           "sigmoid_forward",
      "sigmoid_backward",      "upsample2x_forward",    "upsample2x_backward",
      "maxpool3x3_forward",    "maxpool3x3_backward",   "corner_pool_forward",
      "corner_pool_backward",  "copy",                  "sum_squares",           "axpy",
      "adam_update"};
  static_assert(sizeof(names) / sizeof(names[0]) == static_cast<size_t>(Op::Count),
                "op_name table out of date");
  return names[static_cast<int>(op)];
}

// CornerNet's four corner pools. The name is the direction the running max
// travels *towards*: Top = max over rows k >= i (scan from the bottom row upward),
// Left = max over columns k >= j (scan from the right), Bottom and Right the reverse.
enum class CornerPoolMode : int { Top = 0, Bottom = 1, Left = 2, Right = 3 };

inline const char* corner_pool_mode_name(CornerPoolMode m) {
  switch (m) {
    case CornerPoolMode::Top: return "top";
    case CornerPoolMode::Bottom: return "bottom";
    case CornerPoolMode::Left: return "left";
    case CornerPoolMode::Right: return "right";
  }
  return "?";
}

struct Conv2dParams {
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
};

inline int64_t conv_out_size(int64_t in, int64_t k, int stride, int pad) {
  return (in + 2 * pad - k) / stride + 1;
}

// torch.optim.Adam (what the reference trains with), one step for one tensor.
struct AdamParams {
  float lr = 5e-4f;
  float beta1 = 0.9f, beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;  // L2 added to the gradient, as torch.optim.Adam does
  int64_t step = 1;           // 1-based step count after this update (bias correction)
  float grad_scale = 1.0f;    // multiplies the gradient first: gradient clipping and replica averaging fold in here
};

struct BatchNormParams {
  float eps = 1e-5f;
  float momentum = 0.1f;  // new_running = (1 - momentum) * old + momentum * batch
};

// An optional vendor library a backend may run ops on (cuDNN, cuBLAS), as
// reported by `cornernet info`.
struct BackendLibrary {
  std::string name;      // "cuDNN", "cuBLAS"
  bool found = false;    // loaded, with every function this build calls
  bool enabled = false;  // found, initialised and not disabled: ops may run on it
  std::string version;   // "9.6.0"; empty when unknown
  std::string path;      // the file it was loaded from
  std::string message;   // what it is used for, or why it is not used
  int64_t uses = 0;      // ops that ran on it so far
};

class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu", "cuda:0", "cuda-emu"
  virtual std::string name() const = 0;
  virtual Device device() const = 0;
  virtual bool supports(Op op) const = 0;

  // ---- memory -------------------------------------------------------------
  virtual Tensor empty(const Shape& shape) = 0;
  virtual Tensor zeros(const Shape& shape) = 0;
  // A tensor on this device holding `host`'s values (may alias it on the CPU).
  virtual Tensor upload(const Tensor& host) = 0;
  // Copy a tensor of this device into an existing host tensor of the same size.
  virtual void download(const Tensor& src, Tensor& host_dst) = 0;
  virtual void synchronize() {}
  // Optional libraries this backend found and uses (none on the CPU).
  virtual std::vector<BackendLibrary> libraries() const { return {}; }

  // ---- ops ----------------------------------------------------------------
  // y[N,O,Ho,Wo] = conv(x[N,C,H,W], w[O,C,kh,kw]) + bias[O] (bias may be undefined)
  virtual void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias,
                              const Conv2dParams& p, Tensor& y) { unsupported(Op::Conv2dForward); }
  // Gradients of sum(y * gy); any of gx, gw, gb may be undefined.
  virtual void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy,
                               const Conv2dParams& p, Tensor& gx, Tensor& gw, Tensor& gb) {
    unsupported(Op::Conv2dBackward);
  }

  // Training mode: normalise with the batch statistics (biased variance), update
  // running_mean/running_var in place (unbiased variance), and save the batch mean
  // and 1/sqrt(var + eps) per channel for the backward pass.
  virtual void batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                        Tensor& running_mean, Tensor& running_var,
                                        const BatchNormParams& p, Tensor& y, Tensor& save_mean,
                                        Tensor& save_invstd) {
    unsupported(Op::BatchNormForwardTrain);
  }
  virtual void batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                       const Tensor& running_mean, const Tensor& running_var,
                                       const BatchNormParams& p, Tensor& y) {
    unsupported(Op::BatchNormForwardEval);
  }
  // training == true: save_mean/save_invstd are the batch statistics from the
  // forward pass and gx includes their dependence on x. training == false: they
  // are the running statistics (mean, 1/sqrt(var + eps)), treated as constants.
  virtual void batch_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                                   const Tensor& save_invstd, const Tensor& gy, bool training,
                                   Tensor& gx, Tensor& ggamma, Tensor& gbeta) {
    unsupported(Op::BatchNormBackward);
  }

  virtual void relu_forward(const Tensor& x, Tensor& y) { unsupported(Op::ReluForward); }
  // gx = gy where y > 0, else 0 (y is the forward output).
  virtual void relu_backward(const Tensor& y, const Tensor& gy, Tensor& gx) {
    unsupported(Op::ReluBackward);
  }
  virtual void add_forward(const Tensor& a, const Tensor& b, Tensor& y) {
    unsupported(Op::AddForward);
  }
  virtual void sigmoid_forward(const Tensor& x, Tensor& y) { unsupported(Op::SigmoidForward); }
  // gx = gy * y * (1 - y) (y is the forward output).
  virtual void sigmoid_backward(const Tensor& y, const Tensor& gy, Tensor& gx) {
    unsupported(Op::SigmoidBackward);
  }
  // Nearest-neighbour 2x: y[N,C,2H,2W]; backward sums each 2x2 block of gy.
  virtual void upsample2x_forward(const Tensor& x, Tensor& y) { unsupported(Op::Upsample2xForward); }
  virtual void upsample2x_backward(const Tensor& gy, Tensor& gx) {
    unsupported(Op::Upsample2xBackward);
  }
  // 3x3, stride 1, padding 1 (padding never wins): the heatmap NMS of CornerNet.
  // Backward sends each output's gradient to the first maximum of its window in
  // row-major order, as PyTorch's max_pool2d does.
  virtual void maxpool3x3_forward(const Tensor& x, Tensor& y) { unsupported(Op::MaxPool3x3Forward); }
  virtual void maxpool3x3_backward(const Tensor& x, const Tensor& gy, Tensor& gx) {
    unsupported(Op::MaxPool3x3Backward);
  }
  // Backward sends each output's gradient to the argmax of its window; on ties the
  // position nearest the output wins (the reference's cummax rule).
  virtual void corner_pool_forward(CornerPoolMode mode, const Tensor& x, Tensor& y) {
    unsupported(Op::CornerPoolForward);
  }
  virtual void corner_pool_backward(CornerPoolMode mode, const Tensor& x, const Tensor& gy,
                                    Tensor& gx) {
    unsupported(Op::CornerPoolBackward);
  }

  // dst = src, both on this device, same element count.
  virtual void copy(const Tensor& src, Tensor& dst) { unsupported(Op::Copy); }

  // ---- optimizer ------------------------------------------------------------
  // Sum of squares of all elements, accumulated in double (gradient-norm clipping).
  virtual double sum_squares(const Tensor& x) { unsupported(Op::SumSquares); }
  // y += alpha * x (gradient accumulation, replica all-reduce on one device).
  virtual void axpy(float alpha, const Tensor& x, Tensor& y) { unsupported(Op::Axpy); }
  // In place: param, exp_avg, exp_avg_sq updated from grad (grad itself untouched).
  virtual void adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                           const AdamParams& p) {
    unsupported(Op::AdamUpdate);
  }

 protected:
  [[noreturn]] void unsupported(Op op) const {
    fail("op ", op_name(op), " has no kernel on the '", name(),
         "' backend in this version; run it on the 'cpu' backend");
  }
};

}  // namespace cn
