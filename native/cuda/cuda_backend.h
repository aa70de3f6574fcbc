// The CUDA backend: tensors in device memory of one GPU, work on one stream.
// Only ops with a CUDA kernel are overridden (supports() lists them); the rest
// keep the base class's error, which tells the caller to use the 'cpu' backend.
//
// The same class is compiled by g++ against the emulated runtime
// (native/cuda_emu) to make the 'cuda-emu' backend: host memory standing in
// for device memory, device reported as cuda:0.
#pragma once
#include <string>

#include "../engine/backend.h"
#include "cuda_ops.h"

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

 private:
  void use_device() const;
  void check_here(const Tensor& t, const char* op, const char* arg) const;  // upload/download

  int index_;
  std::string name_;
  cudaStream_t stream_ = nullptr;
  Ctx ctx_;
};

}  // namespace cuda
}  // namespace cn
