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

  // optimizer.cc
  void copy(const Tensor& src, Tensor& dst) override;
  double sum_squares(const Tensor& x) override;
  void axpy(float alpha, const Tensor& x, Tensor& y) override;
  void adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                   const AdamParams& p) override;

  // ---- ops (one file each) -------------------------------------------------
  // [ops: begin]
  // conv2d.cc
  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
                      Tensor& y) override;
  void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy, const Conv2dParams& p, Tensor& gx,
                       Tensor& gw, Tensor& gb) override;
  // batch_norm.cc
  void batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                                Tensor& running_var, const BatchNormParams& p, Tensor& y, Tensor& save_mean,
                                Tensor& save_invstd) override;
  void batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                               const Tensor& running_var, const BatchNormParams& p, Tensor& y) override;
  void batch_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& save_mean, const Tensor& save_invstd,
                           const Tensor& gy, bool training, Tensor& gx, Tensor& ggamma, Tensor& gbeta) override;
  // elementwise.cc
  void relu_forward(const Tensor& x, Tensor& y) override;
  void relu_backward(const Tensor& y, const Tensor& gy, Tensor& gx) override;
  void add_forward(const Tensor& a, const Tensor& b, Tensor& y) override;
  void sigmoid_forward(const Tensor& x, Tensor& y) override;
  void sigmoid_backward(const Tensor& y, const Tensor& gy, Tensor& gx) override;
  // upsample.cc
  void upsample2x_forward(const Tensor& x, Tensor& y) override;
  void upsample2x_backward(const Tensor& gy, Tensor& gx) override;
  // maxpool3x3.cc
  void maxpool3x3_forward(const Tensor& x, Tensor& y) override;
  void maxpool3x3_backward(const Tensor& x, const Tensor& gy, Tensor& gx) override;
  // corner_pool.cc
  void corner_pool_forward(CornerPoolMode mode, const Tensor& x, Tensor& y) override;
  void corner_pool_backward(CornerPoolMode mode, const Tensor& x, const Tensor& gy, Tensor& gx) override;
  // training_losses.cc (model/targets.cc, model/losses.cc on the host)
  void corner_targets(const std::vector<std::vector<GtBox>>& boxes, const TargetGeometry& g, Tensor& tl_heatmap,
                      Tensor& br_heatmap, Tensor& tl_offset, Tensor& br_offset, Tensor& tl_mask, Tensor& br_mask,
                      std::vector<std::vector<CornerMatch>>& match) override;
  CornerHeadLosses corner_head_losses(const CornerHeadTensors& out, const CornerTargets& targets,
                                      const CornerHeadLossWeights& w, CornerHeadTensors& grads,
                                      double grad_scale) override;
  // [ops: end]

 private:
  ThreadPool& pool_;
  Isa isa_;
};

}  // namespace cn
