// The CPU backend: host memory, every op of the Backend interface, multithreaded
// over the process-wide pool, with SIMD kernels chosen by `isa` at construction.
// Each op's implementation lives in its own file (conv2d.cc, batch_norm.cc, ...).
#pragma once
#include "../engine/backend.h"
#include "../engine/thread_pool.h"
#include "cpu_features.h"

namespace cn {

class CpuBackend : public Backend {
 public:
  CpuBackend(ThreadPool& pool, Isa isa) : pool_(pool), isa_(isa) {}

  std::string name() const override { return "cpu"; }
  Device device() const override { return Device{}; }
  bool supports(Op) const override { return true; }
  Isa isa() const { return isa_; }
  ThreadPool& pool() const { return pool_; }

  Tensor empty(const Shape& shape) override { return Tensor::host(shape); }
  Tensor zeros(const Shape& shape) override { return Tensor::host_zeros(shape); }
  Tensor upload(const Tensor& host) override { return host; }
  void download(const Tensor& src, Tensor& dst) override {
    if (src.data() != dst.data() && src.numel()) std::memcpy(dst.data(), src.data(), src.bytes());
  }

  // Other native/cpu code calls the kernels through the public, checked methods.
 protected:
  // ---- ops: one file per family (the family column of engine/ops.def) --------
  // conv2d.cc
  void run_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
                          Tensor& y) override;
  void run_conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy, const Conv2dParams& p, Tensor& gx,
                           Tensor& gw, Tensor& gb) override;
  // batch_norm.cc
  void run_batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                                    Tensor& running_var, const BatchNormParams& p, Tensor& y, Tensor& save_mean,
                                    Tensor& save_invstd) override;
  void run_batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                   const Tensor& running_mean, const Tensor& running_var, const BatchNormParams& p,
                                   Tensor& y) override;
  void run_batch_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                               const Tensor& save_invstd, const Tensor& gy, bool training, Tensor& gx,
                               Tensor& ggamma, Tensor& gbeta) override;
  // elementwise.cc
  void run_relu_forward(const Tensor& x, Tensor& y) override;
  void run_relu_backward(const Tensor& y, const Tensor& gy, Tensor& gx) override;
  void run_add_forward(const Tensor& a, const Tensor& b, Tensor& y) override;
  void run_sigmoid_forward(const Tensor& x, Tensor& y) override;
  void run_sigmoid_backward(const Tensor& y, const Tensor& gy, Tensor& gx) override;
  // upsample.cc
  void run_upsample2x_forward(const Tensor& x, Tensor& y) override;
  void run_upsample2x_backward(const Tensor& gy, Tensor& gx) override;
  // maxpool3x3.cc
  void run_maxpool3x3_forward(const Tensor& x, Tensor& y) override;
  void run_maxpool3x3_backward(const Tensor& x, const Tensor& gy, Tensor& gx) override;
  // corner_pool.cc
  void run_corner_pool_forward(CornerPoolMode mode, const Tensor& x, Tensor& y) override;
  void run_corner_pool_backward(CornerPoolMode mode, const Tensor& x, const Tensor& gy, Tensor& gx) override;
  // optimizer.cc
  void run_copy(const Tensor& src, Tensor& dst) override;
  double run_sum_squares(const Tensor& x) override;
  void run_axpy(float alpha, const Tensor& x, Tensor& y) override;
  // decode.cc (returns host data)
  std::vector<decode::DecodeResult> run_decode(const DecodeHeads& view, const DecodeHeads* flipped,
                                               const std::vector<decode::ImageMeta>& metas,
                                               const decode::DecodeOptions& opt, bool want_pre_nms) override;
  void run_adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                       const AdamParams& p) override;
  // targets.cc (model/targets.cc on the host)
  void run_corner_targets(const std::vector<std::vector<GtBox>>& boxes, const TargetGeometry& g, Tensor& tl_heatmap,
                          Tensor& br_heatmap, Tensor& tl_offset, Tensor& br_offset, Tensor& tl_mask,
                          Tensor& br_mask, std::vector<std::vector<CornerMatch>>& match) override;
  // losses.cc (model/losses.cc on the host)
  CornerHeadLosses run_corner_head_losses(const CornerHeadTensors& out, const CornerTargets& targets,
                                          const CornerHeadLossWeights& w, CornerHeadTensors& grads,
                                          double grad_scale) override;

 private:
  ThreadPool& pool_;
  Isa isa_;
};

}  // namespace cn
