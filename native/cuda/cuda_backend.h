// The CUDA backend: tensors in device memory of one GPU, kernels on one compute
// stream, host-to-device copies on a copy stream that the compute stream waits
// for with an event (so an input batch's copy overlaps the work queued before
// it). Device memory comes from a caching allocator (device_allocator.h), host
// transfers go through cached pinned buffers (pinned_staging.h).
// Only ops with a CUDA kernel are overridden (supports() lists them); the rest
// keep the base class's error, which tells the caller to use the 'cpu' backend.
//
// The same class is compiled by g++ against the emulated runtime
// (native/cuda_emu) to make the 'cuda-emu' backend: host memory standing in
// for device memory, device reported as cuda:0.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "../engine/backend.h"
#include "cuda_libraries.h"
#include "cuda_ops.h"
#include "device_allocator.h"
#include "pinned_staging.h"

namespace cn {
namespace cuda {

class CudaBackend : public Backend {
 public:
  // `name` is what users asked for ("cuda:0", "cuda-emu").
  CudaBackend(int device_index, std::string name);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  std::string name() const override { return name_; }
  Device device() const override { return Device{DeviceType::CUDA, index_}; }
  bool supports(Op op) const override;

  Tensor empty(const Shape& shape) override;
  Tensor zeros(const Shape& shape) override;
  Tensor upload(const Tensor& host) override;
  void download(const Tensor& src, Tensor& host_dst) override;
  void synchronize() override;
  std::vector<BackendLibrary> libraries() const override;
  MemoryStats memory_stats() const override;

 protected:
  // Each forwards to its entry in cuda_ops.h (arguments already checked by the engine).
  void run_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
                          Tensor& y) override;
  void run_conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy, const Conv2dParams& p, Tensor& gx,
                           Tensor& gw, Tensor& gb) override;
  void run_batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                                    Tensor& running_var, const BatchNormParams& p, Tensor& y, Tensor& save_mean,
                                    Tensor& save_invstd) override;
  void run_batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                   const Tensor& running_mean, const Tensor& running_var, const BatchNormParams& p,
                                   Tensor& y) override;
  void run_batch_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                               const Tensor& save_invstd, const Tensor& gy, bool training, Tensor& gx,
                               Tensor& ggamma, Tensor& gbeta) override;
  void run_relu_forward(const Tensor& x, Tensor& y) override;
  void run_relu_backward(const Tensor& y, const Tensor& gy, Tensor& gx) override;
  void run_add_forward(const Tensor& a, const Tensor& b, Tensor& y) override;
  void run_sigmoid_forward(const Tensor& x, Tensor& y) override;
  void run_sigmoid_backward(const Tensor& y, const Tensor& gy, Tensor& gx) override;
  void run_upsample2x_forward(const Tensor& x, Tensor& y) override;
  void run_upsample2x_backward(const Tensor& gy, Tensor& gx) override;
  void run_maxpool3x3_forward(const Tensor& x, Tensor& y) override;
  void run_maxpool3x3_backward(const Tensor& x, const Tensor& gy, Tensor& gx) override;
  void run_corner_pool_forward(CornerPoolMode mode, const Tensor& x, Tensor& y) override;
  void run_corner_pool_backward(CornerPoolMode mode, const Tensor& x, const Tensor& gy, Tensor& gx) override;
  void run_copy(const Tensor& src, Tensor& dst) override;
  double run_sum_squares(const Tensor& x) override;
  void run_axpy(float alpha, const Tensor& x, Tensor& y) override;
  void run_adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                       const AdamParams& p) override;
  std::vector<decode::DecodeResult> run_decode(const DecodeHeads& view, const DecodeHeads* flipped,
                                               const std::vector<decode::ImageMeta>& metas,
                                               const decode::DecodeOptions& opt, bool want_pre_nms) override;
  void run_corner_targets(const std::vector<std::vector<GtBox>>& boxes, const TargetGeometry& g, Tensor& tl_heatmap,
                          Tensor& br_heatmap, Tensor& tl_offset, Tensor& br_offset, Tensor& tl_mask,
                          Tensor& br_mask, std::vector<std::vector<CornerMatch>>& match) override;
  CornerHeadLosses run_corner_head_losses(const CornerHeadTensors& out, const CornerTargets& targets,
                                          const CornerHeadLossWeights& w, CornerHeadTensors& grads,
                                          double grad_scale) override;

 private:
  void use_device() const;
  void check_here(const Tensor& t, const char* op, const char* arg) const;  // upload/download

  int index_;
  std::string name_;
  cudaStream_t stream_ = nullptr;       // kernels, device-to-device and device-to-host copies
  cudaStream_t copy_stream_ = nullptr;  // host-to-device copies (upload)
  // Shared with the deleters of the tensors it handed out, which may outlive
  // the backend (closed then: blocks go straight back to the driver).
  std::shared_ptr<DeviceAllocator> alloc_;
  PinnedStaging staging_;
  std::unique_ptr<Libraries> libs_;  // optional cuDNN / cuBLAS, handles on stream_
  Ctx ctx_;
};

}  // namespace cuda
}  // namespace cn
