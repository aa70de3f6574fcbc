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
#include <functional>
#include <string>
#include <vector>

#include "../decode/decode_types.h"
#include "corner_training.h"
#include "error.h"
#include "tensor.h"

namespace cn {

enum class Op : int {
#define CN_OP(Enum, snake, js, family) Enum,
#include "ops.def"
#undef CN_OP
  Count
};

struct OpInfo {
  const char* name;    // engine name, e.g. "corner_pool_forward"
  const char* js;      // binding name, e.g. "cornerPoolForward"
  const char* family;  // file of the op in each backend, e.g. "corner_pool"
};

inline const OpInfo& op_info(Op op) {
  static const OpInfo table[] = {
#define CN_OP(Enum, snake, js, family) {#snake, #js, #family},
#include "ops.def"
#undef CN_OP
  };
  return table[static_cast<int>(op)];
}

inline const char* op_name(Op op) { return op_info(op).name; }

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
  // Names the weight tensor's contents (ParameterStore::version): while the
  // weight's storage and this number stay the same, so do its values. 0: not
  // known. A hint, not part of the arithmetic: a backend may keep forms of the
  // weight derived from it between calls (the CPU keeps Winograd-transformed
  // weights) keyed by it, or ignore it.
  uint64_t weight_version = 0;
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
  // The forward's output is max(0, y), in the same pass (the conv-BN-ReLU of the
  // reference's ConvModule and BasicBlock). NaN passes through, as in relu_forward.
  bool relu = false;
};

// What batch_norm_backward differentiates.
struct BatchNormBackwardMode {
  // true: save_mean/save_invstd are the batch statistics from the forward pass and
  // gx includes their dependence on x. false: they are the running statistics
  // (mean, 1/sqrt(var + eps)), treated as constants.
  bool training = true;
  // The forward had relu set: gy is the gradient at the ReLU's output. The ReLU's
  // mask is recomputed from x, the statistics, gamma and beta, with the forward's
  // own arithmetic, so neither y nor a mask is kept between the passes.
  bool relu = false;
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

// Head outputs of one view for Backend::decode; [0] = top-left, [1] = bottom-right.
struct DecodeHeads {
  Tensor heat[2];  // [N,C,H,W] logits
  Tensor emb[2];   // [N,1,H,W]
  Tensor off[2];   // [N,2,H,W] (x, y)
  const char* heat_name[2] = {"tlHeat", "brHeat"};  // how errors name the heat maps
};

class Backend;

// The engine's argument checks, one per op (op_checks.cc): tensors on the
// backend's device, shapes consistent, parameters in range, and the backend able
// to run the op. Backend's public methods call them before any kernel runs, so
// backends implement only the computation.
namespace check {
inline void conv2d_forward(const Backend& be, const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
                    const Tensor& y);
inline void conv2d_backward(const Backend& be, const Tensor& x, const Tensor& w, const Tensor& gy, const Conv2dParams& p,
                     const Tensor& gx, const Tensor& gw, const Tensor& gb);
inline void batch_norm_forward_train(const Backend& be, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                              const Tensor& running_mean, const Tensor& running_var, const BatchNormParams& p,
                              const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd);
inline void batch_norm_forward_eval(const Backend& be, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                             const Tensor& running_mean, const Tensor& running_var, const BatchNormParams& p,
                             const Tensor& y);
inline void batch_norm_backward(const Backend& be, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                         const Tensor& save_mean, const Tensor& save_invstd, const Tensor& gy, const Tensor& gx,
                         const Tensor& ggamma, const Tensor& gbeta);
// Unary ops whose output (or gradient) has the input's shape: relu, sigmoid, maxpool3x3, corner pools.
inline void same_shape(const Backend& be, Op op, const Tensor& a, const char* a_name, const Tensor& b, const char* b_name);
inline void nchw_same_shape(const Backend& be, Op op, const Tensor& x, const Tensor& other, const char* other_name);
inline void upsample2x(const Backend& be, Op op, const Tensor& small, const char* small_name, const Tensor& big,
                const char* big_name);
inline void same_size(const Backend& be, Op op, const Tensor& a, const char* a_name, const Tensor& b, const char* b_name);
inline void adam_update(const Backend& be, const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                 const Tensor& exp_avg_sq, const AdamParams& p);
inline void decode(const Backend& be, const DecodeHeads& view, const DecodeHeads* flipped,
                   const std::vector<::cn::decode::ImageMeta>& metas, const ::cn::decode::DecodeOptions& opt);
inline void corner_targets(const Backend& be, const std::vector<std::vector<GtBox>>& boxes, const TargetGeometry& g,
                           const Tensor& tl_heatmap, const Tensor& br_heatmap, const Tensor& tl_offset,
                           const Tensor& br_offset, const Tensor& tl_mask, const Tensor& br_mask);
inline void corner_head_losses(const Backend& be, const CornerHeadTensors& out, const CornerTargets& targets,
                               const CornerHeadLossWeights& w, const CornerHeadTensors& grads);
}  // namespace check

// What a backend implements, one declaration per op: the computation alone, on
// arguments the engine has checked. Backend declares them pure virtual
// (CN_BACKEND_RUN_OPS(virtual, = 0)), each backend overrides every one
// (CN_BACKEND_RUN_OPS(, override)) and defines them in its op-family files, so
// a new op's signature is written here once.
#define CN_BACKEND_RUN_OPS(PREFIX, SUFFIX) \
  PREFIX void run_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p, Tensor& y) SUFFIX; \
  PREFIX void run_conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy, const Conv2dParams& p, Tensor& gx, Tensor& gw, Tensor& gb) SUFFIX; \
  PREFIX void run_batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean, Tensor& running_var, const BatchNormParams& p, Tensor& y, Tensor& save_mean, Tensor& save_invstd) SUFFIX; \
  PREFIX void run_batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean, const Tensor& running_var, const BatchNormParams& p, Tensor& y) SUFFIX; \
  PREFIX void run_batch_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& save_mean, const Tensor& save_invstd, const Tensor& gy, BatchNormBackwardMode mode, Tensor& gx, Tensor& ggamma, Tensor& gbeta) SUFFIX; \
  PREFIX void run_relu_forward(const Tensor& x, Tensor& y) SUFFIX; \
  PREFIX void run_relu_backward(const Tensor& y, const Tensor& gy, Tensor& gx) SUFFIX; \
  PREFIX void run_add_forward(const Tensor& a, const Tensor& b, Tensor& y) SUFFIX; \
  PREFIX void run_sigmoid_forward(const Tensor& x, Tensor& y) SUFFIX; \
  PREFIX void run_sigmoid_backward(const Tensor& y, const Tensor& gy, Tensor& gx) SUFFIX; \
  PREFIX void run_upsample2x_forward(const Tensor& x, Tensor& y) SUFFIX; \
  PREFIX void run_upsample2x_backward(const Tensor& gy, Tensor& gx) SUFFIX; \
  PREFIX void run_maxpool3x3_forward(const Tensor& x, Tensor& y) SUFFIX; \
  PREFIX void run_maxpool3x3_backward(const Tensor& x, const Tensor& gy, Tensor& gx) SUFFIX; \
  PREFIX void run_corner_pool_forward(CornerPoolMode mode, const Tensor& x, Tensor& y) SUFFIX; \
  PREFIX void run_corner_pool_backward(CornerPoolMode mode, const Tensor& x, const Tensor& gy, Tensor& gx) SUFFIX; \
  PREFIX void run_copy(const Tensor& src, Tensor& dst) SUFFIX; \
  PREFIX double run_sum_squares(const Tensor& x) SUFFIX; \
  PREFIX void run_axpy(float alpha, const Tensor& x, Tensor& y) SUFFIX; \
  PREFIX void run_adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, const AdamParams& p) SUFFIX; \
  PREFIX std::vector<decode::DecodeResult> run_decode(const DecodeHeads& view, const DecodeHeads* flipped, const std::vector<decode::ImageMeta>& metas, const decode::DecodeOptions& opt, bool want_pre_nms) SUFFIX; \
  PREFIX void run_corner_targets(const std::vector<std::vector<GtBox>>& boxes, const TargetGeometry& g, Tensor& tl_heatmap, Tensor& br_heatmap, Tensor& tl_offset, Tensor& br_offset, Tensor& tl_mask, Tensor& br_mask, std::vector<std::vector<CornerMatch>>& match) SUFFIX; \
  PREFIX CornerHeadLosses run_corner_head_losses(const CornerHeadTensors& out, const CornerTargets& targets, const CornerHeadLossWeights& w, CornerHeadTensors& grads, double grad_scale) SUFFIX;

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
  // The figures of the pool this backend's tensors come from (MemoryStats,
  // caching_allocator.h): the host pool on the CPU, the device pool on CUDA.
  virtual MemoryStats memory_stats() const = 0;
  // Gives the pool's cached blocks back to the system (in-use blocks stay).
  virtual void release_cached_memory() = 0;

  // ---- scheduling ---------------------------------------------------------
  // Runs fn(0) ... fn(n - 1): n branches of a model that write no tensor in
  // common (the corner head's two corners), whose largest tensors hold about
  // `elements` floats. A backend may run them side by side when that beats
  // splitting each of their ops (the CPU, for small tensors: see CpuBackend);
  // by default, and whenever it does not gain, in order. Each op computes the
  // same values either way, so results do not depend on the choice.
  virtual void run_branches(int n, int64_t elements, const std::function<void(int)>& fn) {
    (void)elements;
    for (int i = 0; i < n; ++i) fn(i);
  }

  // ---- ops ----------------------------------------------------------------
  // Each checks its arguments (check::, above) and runs the backend's run_<op>.

  // y[N,O,Ho,Wo] = conv(x[N,C,H,W], w[O,C,kh,kw]) + bias[O] (bias may be undefined)
  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p, Tensor& y) {
    check::conv2d_forward(*this, x, w, bias, p, y);
    run_conv2d_forward(x, w, bias, p, y);
  }
  // Gradients of sum(y * gy); any of gx, gw, gb may be undefined.
  void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy, const Conv2dParams& p, Tensor& gx,
                       Tensor& gw, Tensor& gb) {
    check::conv2d_backward(*this, x, w, gy, p, gx, gw, gb);
    if (gx.defined() || gw.defined() || gb.defined()) run_conv2d_backward(x, w, gy, p, gx, gw, gb);
  }

  // Training mode: normalise with the batch statistics (biased variance), update
  // running_mean/running_var in place (unbiased variance), and save the batch mean
  // and invstd = 1/sqrt(var + eps) per channel for the backward pass. Every
  // backend computes y = (x - mean) * scale + beta with scale = gamma * invstd
  // rounded to float first (the saved invstd; in eval mode invstd of the running
  // variance), each operation rounded on its own (no FMA): the backward's ReLU
  // mask (BatchNormBackwardMode::relu) then comes out exactly as the forward's.
  void batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                                Tensor& running_var, const BatchNormParams& p, Tensor& y, Tensor& save_mean,
                                Tensor& save_invstd) {
    check::batch_norm_forward_train(*this, x, gamma, beta, running_mean, running_var, p, y, save_mean, save_invstd);
    run_batch_norm_forward_train(x, gamma, beta, running_mean, running_var, p, y, save_mean, save_invstd);
  }
  void batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                               const Tensor& running_var, const BatchNormParams& p, Tensor& y) {
    check::batch_norm_forward_eval(*this, x, gamma, beta, running_mean, running_var, p, y);
    run_batch_norm_forward_eval(x, gamma, beta, running_mean, running_var, p, y);
  }
  // Gradients of sum(gy * y) (BatchNormBackwardMode says which statistics and
  // whether y had the ReLU); beta (may be undefined: 0) is read only for the mask.
  void batch_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& save_mean,
                           const Tensor& save_invstd, const Tensor& gy, BatchNormBackwardMode mode, Tensor& gx,
                           Tensor& ggamma, Tensor& gbeta) {
    check::batch_norm_backward(*this, x, gamma, beta, save_mean, save_invstd, gy, gx, ggamma, gbeta);
    if (gx.defined() || ggamma.defined() || gbeta.defined())
      run_batch_norm_backward(x, gamma, beta, save_mean, save_invstd, gy, mode, gx, ggamma, gbeta);
  }

  void relu_forward(const Tensor& x, Tensor& y) {
    check::same_shape(*this, Op::ReluForward, x, "x", y, "y");
    run_relu_forward(x, y);
  }
  // gx = gy where y > 0, else 0 (y is the forward output). gx may be gy (in place).
  void relu_backward(const Tensor& y, const Tensor& gy, Tensor& gx) {
    check::same_shape(*this, Op::ReluBackward, y, "y", gy, "gradY");
    check::same_shape(*this, Op::ReluBackward, y, "y", gx, "gradX");
    run_relu_backward(y, gy, gx);
  }
  void add_forward(const Tensor& a, const Tensor& b, Tensor& y) {
    check::same_shape(*this, Op::AddForward, a, "a", b, "b");
    check::same_shape(*this, Op::AddForward, a, "a", y, "y");
    run_add_forward(a, b, y);
  }
  void sigmoid_forward(const Tensor& x, Tensor& y) {
    check::same_shape(*this, Op::SigmoidForward, x, "x", y, "y");
    run_sigmoid_forward(x, y);
  }
  // gx = gy * y * (1 - y) (y is the forward output).
  void sigmoid_backward(const Tensor& y, const Tensor& gy, Tensor& gx) {
    check::same_shape(*this, Op::SigmoidBackward, y, "y", gy, "gradY");
    check::same_shape(*this, Op::SigmoidBackward, y, "y", gx, "gradX");
    run_sigmoid_backward(y, gy, gx);
  }
  // Nearest-neighbour 2x: y[N,C,2H,2W]; backward sums each 2x2 block of gy.
  void upsample2x_forward(const Tensor& x, Tensor& y) {
    check::upsample2x(*this, Op::Upsample2xForward, x, "x", y, "y");
    run_upsample2x_forward(x, y);
  }
  void upsample2x_backward(const Tensor& gy, Tensor& gx) {
    check::upsample2x(*this, Op::Upsample2xBackward, gx, "gradX", gy, "gradY");
    run_upsample2x_backward(gy, gx);
  }
  // 3x3, stride 1, padding 1 (padding never wins): the heatmap NMS of CornerNet.
  // Backward sends each output's gradient to the first maximum of its window in
  // row-major order, as PyTorch's max_pool2d does.
  void maxpool3x3_forward(const Tensor& x, Tensor& y) {
    check::nchw_same_shape(*this, Op::MaxPool3x3Forward, x, y, "y");
    run_maxpool3x3_forward(x, y);
  }
  void maxpool3x3_backward(const Tensor& x, const Tensor& gy, Tensor& gx) {
    check::nchw_same_shape(*this, Op::MaxPool3x3Backward, x, gy, "gradY");
    check::nchw_same_shape(*this, Op::MaxPool3x3Backward, x, gx, "gradX");
    run_maxpool3x3_backward(x, gy, gx);
  }
  // Backward sends each output's gradient to the argmax of its window; on ties the
  // position nearest the output wins (the reference's cummax rule).
  void corner_pool_forward(CornerPoolMode mode, const Tensor& x, Tensor& y) {
    check::nchw_same_shape(*this, Op::CornerPoolForward, x, y, "y");
    run_corner_pool_forward(mode, x, y);
  }
  void corner_pool_backward(CornerPoolMode mode, const Tensor& x, const Tensor& gy, Tensor& gx) {
    check::nchw_same_shape(*this, Op::CornerPoolBackward, x, gy, "gradY");
    check::nchw_same_shape(*this, Op::CornerPoolBackward, x, gx, "gradX");
    run_corner_pool_backward(mode, x, gy, gx);
  }

  // dst = src, both on this device, same element count.
  void copy(const Tensor& src, Tensor& dst) {
    check::same_size(*this, Op::Copy, src, "src", dst, "dst");
    if (src.numel() && src.data() != dst.data()) run_copy(src, dst);
  }

  // ---- optimizer ------------------------------------------------------------
  // Sum of squares of all elements, accumulated in double (gradient-norm clipping).
  double sum_squares(const Tensor& x) {
    check::same_size(*this, Op::SumSquares, x, "x", x, "x");
    return x.numel() ? run_sum_squares(x) : 0.0;
  }
  // y += alpha * x (gradient accumulation, replica all-reduce on one device).
  void axpy(float alpha, const Tensor& x, Tensor& y) {
    check::same_size(*this, Op::Axpy, x, "x", y, "y");
    if (x.numel()) run_axpy(alpha, x, y);
  }
  // In place: param, exp_avg, exp_avg_sq updated from grad (grad itself untouched).
  void adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, const AdamParams& p) {
    check::adam_update(*this, param, grad, exp_avg, exp_avg_sq, p);
    if (param.numel()) run_adam_update(param, grad, exp_avg, exp_avg_sq, p);
  }

  // ---- decoding ---------------------------------------------------------------
  // CornerNet's test path for every image of the batch (native/decode/decode.h
  // decode_image): sigmoid, local maxima, top-k corners, pairing, rescale, the
  // mirrored view (`flipped`, may be null) merged, class-aware soft-NMS, best
  // max_per_img. Unlike the other ops it returns HOST data: the detections are
  // small and data-dependent in size, so they are what crosses to the host.
  // pre_nms is filled only when `want_pre_nms`.
  std::vector<decode::DecodeResult> decode(const DecodeHeads& view, const DecodeHeads* flipped,
                                           const std::vector<decode::ImageMeta>& metas,
                                           const decode::DecodeOptions& opt, bool want_pre_nms) {
    check::decode(*this, view, flipped, metas, opt);
    return run_decode(view, flipped, metas, opt, want_pre_nms);
  }
  // ---- training targets and losses (CornerNet) -------------------------------
  // The targets of a batch of boxes (host list, boxes[n] for image n) on this
  // device: heatmaps [N,C,H,W] (a Gaussian per box and corner, merged by max),
  // offsets [N,2,H,W] (later boxes overwrite earlier ones on the same cell),
  // masks [N,1,H,W] (1 where a class heatmap is exactly 1); any may be undefined.
  // `match` (host) receives each image's embedding pairs in box order.
  void corner_targets(const std::vector<std::vector<GtBox>>& boxes, const TargetGeometry& g, Tensor& tl_heatmap,
                      Tensor& br_heatmap, Tensor& tl_offset, Tensor& br_offset, Tensor& tl_mask, Tensor& br_mask,
                      std::vector<std::vector<CornerMatch>>& match) {
    check::corner_targets(*this, boxes, g, tl_heatmap, br_heatmap, tl_offset, br_offset, tl_mask, br_mask);
    run_corner_targets(boxes, g, tl_heatmap, br_heatmap, tl_offset, br_offset, tl_mask, br_mask, match);
  }
  // One head level's four loss terms (Gaussian focal, smooth-L1 offsets on the
  // peak masks, associative-embedding pull/push; model/losses.h defines them),
  // returned to the host; `grads` receives grad_scale * d(total)/d(output) for
  // every defined member, on this device. targets' tensors are on this device
  // (undefined masks are derived from the heatmaps), targets.match on the host.
  CornerHeadLosses corner_head_losses(const CornerHeadTensors& out, const CornerTargets& targets,
                                      const CornerHeadLossWeights& w, CornerHeadTensors& grads, double grad_scale) {
    check::corner_head_losses(*this, out, targets, w, grads);
    return run_corner_head_losses(out, targets, w, grads, grad_scale);
  }

  // Throws the error every op gives on a backend without its kernel.
  [[noreturn]] void unsupported(Op op) const {
    fail("op ", op_name(op), " has no kernel on the '", name(), "' backend in this version; run it on the 'cpu' backend");
  }

 protected:
  CN_BACKEND_RUN_OPS(virtual, = 0)
};

}  // namespace cn

#include "op_checks.h"
