#include "cuda_backend.h"

#include <initializer_list>
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

void CudaBackend::copy(const Tensor& src, Tensor& dst) {
  check_here(src, "copy", "src");
  check_here(dst, "copy", "dst");
  if (src.numel() != dst.numel()) fail("copy: ", shape_str(src.shape()), " does not fit ", shape_str(dst.shape()));
  use_device();
  cuda::copy(ctx_, src, dst);
}

void CudaBackend::synchronize() {
  use_device();
  CN_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::corner_pool_forward(CornerPoolMode mode, const Tensor& x, Tensor& y) {
  check_here(x, "corner_pool_forward", "x");
  check_here(y, "corner_pool_forward", "y");
  use_device();
  cuda::corner_pool_forward(ctx_, mode, x, y);
}

void CudaBackend::corner_pool_backward(CornerPoolMode mode, const Tensor& x, const Tensor& gy, Tensor& gx) {
  if (!gx.defined()) return;
  check_here(x, "corner_pool_backward", "x");
  check_here(gy, "corner_pool_backward", "gradY");
  check_here(gx, "corner_pool_backward", "gradX");
  use_device();
  cuda::corner_pool_backward(ctx_, mode, x, gy, gx);
}

// ---- ops: the device check, then the entry of cuda_ops.h (shapes are the
// bindings' and, once the engine checks them, op_checks' business) ----------
namespace {
// Each defined tensor must live on this backend's device.
void check_all(const CudaBackend& be, const char* op, std::initializer_list<std::pair<const char*, const Tensor*>> ts) {
  for (const auto& [name, t] : ts)
    if (t->defined() && t->device() != be.device())
      fail(op, ": ", name, " is on ", t->device().str(), ", the '", be.name(), "' backend works on ", be.device().str());
}
}  // namespace

void CudaBackend::batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                           Tensor& running_mean, Tensor& running_var, const BatchNormParams& p,
                                           Tensor& y, Tensor& save_mean, Tensor& save_invstd) {
  check_all(*this, "batch_norm_forward_train",
            {{"x", &x}, {"gamma", &gamma}, {"beta", &beta}, {"running_mean", &running_mean},
             {"running_var", &running_var}, {"y", &y}, {"save_mean", &save_mean}, {"save_invstd", &save_invstd}});
  use_device();
  cuda::batch_norm_forward_train(ctx_, x, gamma, beta, running_mean, running_var, p, y, save_mean, save_invstd);
}

void CudaBackend::batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                          const Tensor& running_mean, const Tensor& running_var,
                                          const BatchNormParams& p, Tensor& y) {
  check_all(*this, "batch_norm_forward_eval",
            {{"x", &x}, {"gamma", &gamma}, {"beta", &beta}, {"running_mean", &running_mean},
             {"running_var", &running_var}, {"y", &y}});
  use_device();
  cuda::batch_norm_forward_eval(ctx_, x, gamma, beta, running_mean, running_var, p, y);
}

void CudaBackend::batch_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                                      const Tensor& save_invstd, const Tensor& gy, bool training, Tensor& gx,
                                      Tensor& ggamma, Tensor& gbeta) {
  check_all(*this, "batch_norm_backward",
            {{"x", &x}, {"gamma", &gamma}, {"save_mean", &save_mean}, {"save_invstd", &save_invstd}, {"gy", &gy},
             {"gx", &gx}, {"ggamma", &ggamma}, {"gbeta", &gbeta}});
  use_device();
  cuda::batch_norm_backward(ctx_, x, gamma, save_mean, save_invstd, gy, training, gx, ggamma, gbeta);
}

void CudaBackend::relu_forward(const Tensor& x, Tensor& y) {
  check_all(*this, "relu_forward", {{"x", &x}, {"y", &y}});
  use_device();
  cuda::relu_forward(ctx_, x, y);
}

void CudaBackend::relu_backward(const Tensor& y, const Tensor& gy, Tensor& gx) {
  check_all(*this, "relu_backward", {{"y", &y}, {"gy", &gy}, {"gx", &gx}});
  use_device();
  cuda::relu_backward(ctx_, y, gy, gx);
}

void CudaBackend::add_forward(const Tensor& a, const Tensor& b, Tensor& y) {
  check_all(*this, "add_forward", {{"a", &a}, {"b", &b}, {"y", &y}});
  use_device();
  cuda::add_forward(ctx_, a, b, y);
}

void CudaBackend::sigmoid_forward(const Tensor& x, Tensor& y) {
  check_all(*this, "sigmoid_forward", {{"x", &x}, {"y", &y}});
  use_device();
  cuda::sigmoid_forward(ctx_, x, y);
}

void CudaBackend::sigmoid_backward(const Tensor& y, const Tensor& gy, Tensor& gx) {
  check_all(*this, "sigmoid_backward", {{"y", &y}, {"gy", &gy}, {"gx", &gx}});
  use_device();
  cuda::sigmoid_backward(ctx_, y, gy, gx);
}

void CudaBackend::upsample2x_forward(const Tensor& x, Tensor& y) {
  check_all(*this, "upsample2x_forward", {{"x", &x}, {"y", &y}});
  use_device();
  cuda::upsample2x_forward(ctx_, x, y);
}

void CudaBackend::upsample2x_backward(const Tensor& gy, Tensor& gx) {
  check_all(*this, "upsample2x_backward", {{"gy", &gy}, {"gx", &gx}});
  use_device();
  cuda::upsample2x_backward(ctx_, gy, gx);
}

void CudaBackend::maxpool3x3_forward(const Tensor& x, Tensor& y) {
  check_all(*this, "maxpool3x3_forward", {{"x", &x}, {"y", &y}});
  use_device();
  cuda::maxpool3x3_forward(ctx_, x, y);
}

void CudaBackend::maxpool3x3_backward(const Tensor& x, const Tensor& gy, Tensor& gx) {
  check_all(*this, "maxpool3x3_backward", {{"x", &x}, {"gy", &gy}, {"gx", &gx}});
  use_device();
  cuda::maxpool3x3_backward(ctx_, x, gy, gx);
}

double CudaBackend::sum_squares(const Tensor& x) {
  check_all(*this, "sum_squares", {{"x", &x}});
  use_device();
  return cuda::sum_squares(ctx_, x);
}

void CudaBackend::axpy(float alpha, const Tensor& x, Tensor& y) {
  check_all(*this, "axpy", {{"x", &x}, {"y", &y}});
  use_device();
  cuda::axpy(ctx_, alpha, x, y);
}

void CudaBackend::adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                              const AdamParams& p) {
  check_all(*this, "adam_update", {{"param", &param}, {"grad", &grad}, {"exp_avg", &exp_avg}, {"exp_avg_sq", &exp_avg_sq}});
  use_device();
  cuda::adam_update(ctx_, param, grad, exp_avg, exp_avg_sq, p);
}

}  // namespace cuda
}  // namespace cn
