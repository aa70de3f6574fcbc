// The CUDA backend's op entry points: one per engine op, each implemented in the
// .cu file of its op family (kernels + launch + entry, nothing else):
//   conv2d.cu       conv2d_forward, conv2d_backward (and the own kernels, *_direct)
//   conv2d_cudnn.cc cudnn_conv2d_forward, cudnn_conv2d_backward (cuDNN / cuBLAS when loaded)
//   batch_norm.cu   batch_norm_forward_train, batch_norm_forward_eval, batch_norm_backward
//   elementwise.cu  relu_*, add_forward, sigmoid_*
//   upsample.cu     upsample2x_*
//   maxpool3x3.cu   maxpool3x3_*
//   corner_pool.cu  corner_pool_*
//   optimizer.cu    copy, sum_squares, axpy, adam_update
//   decode.cu       decode (returns host data: the final detections)
//   targets.cu      corner_targets (and heatmap_peak_mask, shared with losses.cu)
//   losses.cu       corner_head_losses
// Shapes, devices and undefined outputs are checked by the engine before any of
// these runs (engine/op_checks.h): an entry only computes. Tensors are
// contiguous float32 in this backend's device memory; work is enqueued on
// ctx.stream and nothing synchronises unless a result must reach the host
// (sum_squares). Semantics are the Backend interface's (engine/backend.h) and
// the CPU backend is the reference each kernel is tested against.
#pragma once
#include <cstring>
#include <functional>

#include "../engine/backend.h"
#include "cuda_compat.cuh"

namespace cn {
namespace cuda {

class Libraries;  // cuda_libraries.h: optional cuDNN / cuBLAS of this backend

struct Ctx {
  int device = 0;
  cudaStream_t stream = nullptr;
  // A device tensor for temporaries (partial sums, workspaces), from the
  // backend's caching allocator; stream-ordered, so it may be reused by work
  // enqueued after this op once the returned Tensor is dropped.
  std::function<Tensor(const Shape&)> alloc;
  // A device copy of a host tensor, ordered before the work enqueued after it
  // (the backend's upload: staged through pinned memory, so the host tensor
  // may go away as soon as this returns, and nothing waits).
  std::function<Tensor(const Tensor&)> upload;
  // This backend's cuDNN / cuBLAS handles and plans; null when none were set up.
  Libraries* libs = nullptr;
};

// A small host buffer (box lists, embedding pairs) as a device tensor of
// ceil(bytes / 4) floats, which kernels read through a cast.
inline Tensor upload_bytes(Ctx& ctx, const void* host, size_t bytes) {
  Tensor h = Tensor::host(Shape{static_cast<int64_t>((bytes + sizeof(float) - 1) / sizeof(float))});
  if (bytes) std::memcpy(h.data(), host, bytes);
  return ctx.upload(h);
}

void conv2d_forward(Ctx& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
                    Tensor& y);
void conv2d_backward(Ctx& ctx, const Tensor& x, const Tensor& w, const Tensor& gy, const Conv2dParams& p,
                     Tensor& gx, Tensor& gw, Tensor& gb);
// The backend's own implicit-GEMM kernels (conv2d.cu), always available and
// deterministic: what the entries above run when no library takes the call
// (cudnn_conv2d_* below), and the reference each library plan is checked
// against once per shape.
void conv2d_forward_direct(Ctx& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
                           Tensor& y);
void conv2d_backward_direct(Ctx& ctx, const Tensor& x, const Tensor& w, const Tensor& gy, const Conv2dParams& p,
                            Tensor& gx, Tensor& gw, Tensor& gb);
// The same convolution on cuDNN (any shape) or, without cuDNN, on cuBLAS (1x1,
// stride 1, no padding); false when neither takes it (not loaded, disabled,
// no algorithm for the shape), and then nothing was written.
bool cudnn_conv2d_forward(Ctx& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
                          Tensor& y);
bool cudnn_conv2d_backward(Ctx& ctx, const Tensor& x, const Tensor& w, const Tensor& gy, const Conv2dParams& p,
                           Tensor& gx, Tensor& gw, Tensor& gb);

void batch_norm_forward_train(Ctx& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                              Tensor& running_mean, Tensor& running_var, const BatchNormParams& p, Tensor& y,
                              Tensor& save_mean, Tensor& save_invstd);
void batch_norm_forward_eval(Ctx& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                             const Tensor& running_mean, const Tensor& running_var, const BatchNormParams& p,
                             Tensor& y);
void batch_norm_backward(Ctx& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& save_mean,
                         const Tensor& save_invstd, const Tensor& gy, BatchNormBackwardMode mode, Tensor& gx,
                         Tensor& ggamma, Tensor& gbeta);

void relu_forward(Ctx& ctx, const Tensor& x, Tensor& y);
void relu_backward(Ctx& ctx, const Tensor& y, const Tensor& gy, Tensor& gx);
void add_forward(Ctx& ctx, const Tensor& a, const Tensor& b, Tensor& y);
void sigmoid_forward(Ctx& ctx, const Tensor& x, Tensor& y);
void sigmoid_backward(Ctx& ctx, const Tensor& y, const Tensor& gy, Tensor& gx);

void upsample2x_forward(Ctx& ctx, const Tensor& x, Tensor& y);
void upsample2x_backward(Ctx& ctx, const Tensor& gy, Tensor& gx);

void maxpool3x3_forward(Ctx& ctx, const Tensor& x, Tensor& y);
void maxpool3x3_backward(Ctx& ctx, const Tensor& x, const Tensor& gy, Tensor& gx);

void corner_pool_forward(Ctx& ctx, CornerPoolMode mode, const Tensor& x, Tensor& y);
void corner_pool_backward(Ctx& ctx, CornerPoolMode mode, const Tensor& x, const Tensor& gy, Tensor& gx);

void copy(Ctx& ctx, const Tensor& src, Tensor& dst);
double sum_squares(Ctx& ctx, const Tensor& x);
void axpy(Ctx& ctx, float alpha, const Tensor& x, Tensor& y);
void adam_update(Ctx& ctx, Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                 const AdamParams& p);

// Backend::decode on the device: the whole test path per image (flip test
// included) from device-resident head outputs; synchronises and returns the
// detections (and the pre-NMS lists when asked) on the host. Equal to the host
// decoder (native/decode) bit for bit: same float32 steps, same tie rules.
std::vector<decode::DecodeResult> decode(Ctx& ctx, const DecodeHeads& view, const DecodeHeads* flipped,
                                         const std::vector<decode::ImageMeta>& metas, const decode::DecodeOptions& opt,
                                         bool want_pre_nms);
// CornerNet targets and losses: the semantics of engine/backend.h, the CPU's
// model/targets.cc and model/losses.cc being the reference. Targets are exact
// (the per-box cells and Gaussian values come from engine/corner_training.h on
// the host); the losses' sums are fixed-order block reductions in double, so
// results do not vary from run to run. corner_head_losses synchronises once,
// to bring its scalars to the host.
void corner_targets(Ctx& ctx, const std::vector<std::vector<GtBox>>& boxes, const TargetGeometry& g,
                    Tensor& tl_heatmap, Tensor& br_heatmap, Tensor& tl_offset, Tensor& br_offset, Tensor& tl_mask,
                    Tensor& br_mask, std::vector<std::vector<CornerMatch>>& match);
// mask[n,0,y,x] = 1 where heatmap[n,c,y,x] == 1 for some c, else 0.
void heatmap_peak_mask(Ctx& ctx, const Tensor& heatmap, Tensor& mask);
CornerHeadLosses corner_head_losses(Ctx& ctx, const CornerHeadTensors& out, const CornerTargets& targets,
                                    const CornerHeadLossWeights& w, CornerHeadTensors& grads, double grad_scale);

}  // namespace cuda
}  // namespace cn
