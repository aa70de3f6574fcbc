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
  libs_ = std::make_unique<Libraries>(index_, stream_);  // never throws: status says what was found
  ctx_.libs = libs_.get();
}

CudaBackend::~CudaBackend() {
  if (stream_) {
    cudaSetDevice(index_);
    cudaStreamSynchronize(stream_);
    ctx_.libs = nullptr;
    libs_.reset();  // library handles and their buffers go before the stream
    cudaStreamDestroy(stream_);
  }
}

bool CudaBackend::supports(Op op) const {
  return op == Op::CornerPoolForward || op == Op::CornerPoolBackward || op == Op::Copy;
}

std::vector<BackendLibrary> CudaBackend::libraries() const { return libs_->status(); }

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
  if (!src.numel() || src.data() == dst.data()) return;
  use_device();
  CN_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), src.bytes(), cudaMemcpyDeviceToDevice, stream_));
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

}  // namespace cuda
}  // namespace cn
