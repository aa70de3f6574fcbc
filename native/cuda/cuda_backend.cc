#include "cuda_backend.h"

#include <utility>

#include "cuda_ops.h"

namespace cn {
namespace cuda {

CudaBackend::CudaBackend(int device_index, std::string name) : index_(device_index), name_(std::move(name)) {
  use_device();
  // Non-blocking: no implicit ordering with the legacy default stream that
  // other libraries in the process may use.
  CN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  ctx_.device = index_;
  ctx_.stream = stream_;
  ctx_.alloc = [this](const Shape& s) { return empty(s); };
}

CudaBackend::~CudaBackend() {
  if (stream_) {
    cudaSetDevice(index_);
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
  }
}

bool CudaBackend::supports(Op op) const {
  switch (op) {
    case Op::BatchNormForwardTrain:
    case Op::BatchNormForwardEval:
    case Op::BatchNormBackward:
    case Op::ReluForward:
    case Op::ReluBackward:
    case Op::AddForward:
    case Op::SigmoidForward:
    case Op::SigmoidBackward:
    case Op::Upsample2xForward:
    case Op::Upsample2xBackward:
    case Op::MaxPool3x3Forward:
    case Op::MaxPool3x3Backward:
    case Op::CornerPoolForward:
    case Op::CornerPoolBackward:
    case Op::Copy:
    case Op::SumSquares:
    case Op::Axpy:
    case Op::AdamUpdate:
      return true;
    default:
      return false;
  }
}

void CudaBackend::use_device() const { CN_CUDA_CHECK(cudaSetDevice(index_)); }

void CudaBackend::check_here(const Tensor& t, const char* op, const char* arg) const {
  if (t.device() != device())
    fail(op, ": ", arg, " is on ", t.device().str(), ", the '", name_, "' backend works on ", device().str());
}

Tensor CudaBackend::empty(const Shape& shape) {
  use_device();
  void* p = nullptr;
  size_t bytes = static_cast<size_t>(shape_numel(shape)) * sizeof(float);
  if (bytes) {
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess)
      fail("CUDA: cannot allocate ", bytes, " bytes on ", device().str(), " for a tensor of shape ", shape_str(shape),
           ": ", cudaGetErrorString(e));
  }
  int index = index_;
  return Tensor::adopt(static_cast<float*>(p), shape, device(), [index](float* q) {
    if (!q) return;
    cudaSetDevice(index);
    cudaFree(q);  // a deleter cannot throw; a failure here means the context is already gone
  });
}

Tensor CudaBackend::zeros(const Shape& shape) {
  Tensor t = empty(shape);
  if (t.numel()) CN_CUDA_CHECK(cudaMemsetAsync(t.data(), 0, t.bytes(), stream_));
  return t;
}

Tensor CudaBackend::upload(const Tensor& host) {
  if (!host.is_host()) fail("upload: the source tensor is on ", host.device().str(), ", not the host");
  Tensor t = empty(host.shape());
  if (t.numel()) {
    CN_CUDA_CHECK(cudaMemcpyAsync(t.data(), host.data(), t.bytes(), cudaMemcpyHostToDevice, stream_));
    // The host buffer (often a JavaScript array) may go away once this returns.
    CN_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  return t;
}

void CudaBackend::download(const Tensor& src, Tensor& host_dst) {
  check_here(src, "download", "the source tensor");
  if (!host_dst.is_host()) fail("download: the destination tensor is on ", host_dst.device().str(), ", not the host");
  if (src.numel() != host_dst.numel())
    fail("download: ", shape_str(src.shape()), " does not fit a host tensor of shape ", shape_str(host_dst.shape()));
  if (!src.numel()) return;
  use_device();
  CN_CUDA_CHECK(cudaMemcpyAsync(host_dst.data(), src.data(), src.bytes(), cudaMemcpyDeviceToHost, stream_));
  CN_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::synchronize() {
  use_device();
  CN_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::run_corner_pool_forward(CornerPoolMode mode, const Tensor& x, Tensor& y) {
  use_device();
  cuda::corner_pool_forward(ctx_, mode, x, y);
}
void CudaBackend::run_corner_pool_backward(CornerPoolMode mode, const Tensor& x, const Tensor& gy, Tensor& gx) {
  use_device();
  cuda::corner_pool_backward(ctx_, mode, x, gy, gx);
}
void CudaBackend::run_copy(const Tensor& src, Tensor& dst) {
  use_device();
  cuda::copy(ctx_, src, dst);
}
double CudaBackend::run_sum_squares(const Tensor& x) {
  use_device();
  return cuda::sum_squares(ctx_, x);
}
void CudaBackend::run_axpy(float alpha, const Tensor& x, Tensor& y) {
  use_device();
  cuda::axpy(ctx_, alpha, x, y);
}
void CudaBackend::run_adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                                  const AdamParams& p) {
  use_device();
  cuda::adam_update(ctx_, param, grad, exp_avg, exp_avg_sq, p);
}

void CudaBackend::run_batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                               Tensor& running_mean, Tensor& running_var, const BatchNormParams& p,
                                               Tensor& y, Tensor& save_mean, Tensor& save_invstd) {
  use_device();
  cuda::batch_norm_forward_train(ctx_, x, gamma, beta, running_mean, running_var, p, y, save_mean, save_invstd);
}
void CudaBackend::run_batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                              const Tensor& running_mean, const Tensor& running_var,
                                              const BatchNormParams& p, Tensor& y) {
  use_device();
  cuda::batch_norm_forward_eval(ctx_, x, gamma, beta, running_mean, running_var, p, y);
}
void CudaBackend::run_batch_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                                          const Tensor& save_invstd, const Tensor& gy, bool training, Tensor& gx,
                                          Tensor& ggamma, Tensor& gbeta) {
  use_device();
  cuda::batch_norm_backward(ctx_, x, gamma, save_mean, save_invstd, gy, training, gx, ggamma, gbeta);
}

void CudaBackend::run_relu_forward(const Tensor& x, Tensor& y) {
  use_device();
  cuda::relu_forward(ctx_, x, y);
}
void CudaBackend::run_relu_backward(const Tensor& y, const Tensor& gy, Tensor& gx) {
  use_device();
  cuda::relu_backward(ctx_, y, gy, gx);
}
void CudaBackend::run_add_forward(const Tensor& a, const Tensor& b, Tensor& y) {
  use_device();
  cuda::add_forward(ctx_, a, b, y);
}
void CudaBackend::run_sigmoid_forward(const Tensor& x, Tensor& y) {
  use_device();
  cuda::sigmoid_forward(ctx_, x, y);
}
void CudaBackend::run_sigmoid_backward(const Tensor& y, const Tensor& gy, Tensor& gx) {
  use_device();
  cuda::sigmoid_backward(ctx_, y, gy, gx);
}

void CudaBackend::run_upsample2x_forward(const Tensor& x, Tensor& y) {
  use_device();
  cuda::upsample2x_forward(ctx_, x, y);
}
void CudaBackend::run_upsample2x_backward(const Tensor& gy, Tensor& gx) {
  use_device();
  cuda::upsample2x_backward(ctx_, gy, gx);
}

void CudaBackend::run_maxpool3x3_forward(const Tensor& x, Tensor& y) {
  use_device();
  cuda::maxpool3x3_forward(ctx_, x, y);
}
void CudaBackend::run_maxpool3x3_backward(const Tensor& x, const Tensor& gy, Tensor& gx) {
  use_device();
  cuda::maxpool3x3_backward(ctx_, x, gy, gx);
}

// Ops whose kernels are not merged yet: supports() is false for them, so the
// engine's check refuses them before these are reached.
void CudaBackend::run_conv2d_forward(const Tensor&, const Tensor&, const Tensor&, const Conv2dParams&, Tensor&) {
  unsupported(Op::Conv2dForward);
}
void CudaBackend::run_conv2d_backward(const Tensor&, const Tensor&, const Tensor&, const Conv2dParams&, Tensor&,
                                      Tensor&, Tensor&) {
  unsupported(Op::Conv2dBackward);
}

}  // namespace cuda
}  // namespace cn
