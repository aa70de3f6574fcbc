#include "cuda_backend.h"

#include <cstring>
#include <utility>

#include "cuda_ops.h"

namespace cn {
namespace cuda {

CudaBackend::CudaBackend(int device_index, std::string name)
    : index_(device_index),
      name_(std::move(name)),
      alloc_(make_device_allocator(device_index)),
      staging_(device_index) {
  use_device();
  // Non-blocking: no implicit ordering with the legacy default stream that
  // other libraries in the process may use.
  CN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  cudaError_t e = cudaStreamCreateWithFlags(&copy_stream_, cudaStreamNonBlocking);
  if (e != cudaSuccess) {
    cudaStreamDestroy(stream_);
    CN_CUDA_CHECK(e);
  }
  ctx_.device = index_;
  ctx_.stream = stream_;
  ctx_.alloc = [this](const Shape& s) { return empty(s); };
  ctx_.upload = [this](const Tensor& host) { return upload(host); };
  libs_ = std::make_unique<Libraries>(index_, stream_);  // never throws: status says what was found
  ctx_.libs = libs_.get();
}

CudaBackend::~CudaBackend() {
  cudaSetDevice(index_);
  cudaStreamSynchronize(copy_stream_);
  cudaStreamSynchronize(stream_);
  ctx_.libs = nullptr;
  libs_.reset();  // library handles and their buffers (allocator blocks) go first
  // Before the streams go: pending blocks wait on events of these streams.
  alloc_->close();
  cudaStreamDestroy(copy_stream_);
  cudaStreamDestroy(stream_);
}

bool CudaBackend::supports(Op op) const {
  switch (op) {
    case Op::Conv2dForward:
    case Op::Conv2dBackward:
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
    case Op::Decode:
    case Op::CornerTargets:
    case Op::CornerHeadLosses:
      return true;
    default:
      return false;
  }
}

std::vector<BackendLibrary> CudaBackend::libraries() const { return libs_->status(); }

void CudaBackend::use_device() const { CN_CUDA_CHECK(cudaSetDevice(index_)); }

void CudaBackend::check_here(const Tensor& t, const char* op, const char* arg) const {
  if (t.device() != device())
    fail(op, ": ", arg, " is on ", t.device().str(), ", the '", name_, "' backend works on ", device().str());
}

Tensor CudaBackend::empty(const Shape& shape) {
  size_t bytes = static_cast<size_t>(shape_numel(shape)) * sizeof(float);
  void* p = alloc_->allocate(bytes, stream_, shape_str(shape));
  std::shared_ptr<CachingAllocator> alloc = alloc_;
  // Back to the cache for the compute stream: work enqueued later on it runs
  // after every use of the block, so reuse needs no event.
  return Tensor::adopt(static_cast<float*>(p), shape, device(), [alloc](float* q) { alloc->free(q); });
}

Tensor CudaBackend::zeros(const Shape& shape) {
  Tensor t = empty(shape);
  if (t.numel()) CN_CUDA_CHECK(cudaMemsetAsync(t.data(), 0, t.bytes(), stream_));
  return t;
}

Tensor CudaBackend::upload(const Tensor& host) {
  if (!host.is_host()) fail("upload: the source tensor is on ", host.device().str(), ", not the host");
  const size_t bytes = host.bytes();
  // The block is written on the copy stream and read on the compute stream: it
  // belongs to the copy stream's pool and, once freed, waits for the compute
  // stream's work before the copy stream may write it again.
  void* p = alloc_->allocate(bytes, copy_stream_, shape_str(host.shape()));
  std::shared_ptr<CachingAllocator> alloc = alloc_;
  cudaStream_t compute = stream_;
  Tensor t = Tensor::adopt(static_cast<float*>(p), host.shape(), device(),
                           [alloc, compute](float* q) { alloc->free(q, static_cast<void*>(compute)); });
  if (!bytes) return t;
  use_device();
  // The host buffer (often a JavaScript array) may go away once this returns:
  // its bytes go to a pinned buffer first, and only that one is read later.
  PinnedStaging::Lease buf = staging_.acquire(bytes);
  if (buf) {
    std::memcpy(buf->ptr, host.data(), bytes);
    CN_CUDA_CHECK(cudaMemcpyAsync(p, buf->ptr, bytes, cudaMemcpyHostToDevice, copy_stream_));
    CN_CUDA_CHECK(cudaEventRecord(buf->done, copy_stream_));
    // Kernels enqueued from now on see the data; those already queued run on.
    CN_CUDA_CHECK(cudaStreamWaitEvent(stream_, buf->done, 0));
  } else {
    // Above the staging cap, or no pinned memory: a synchronous pageable copy.
    CN_CUDA_CHECK(cudaMemcpyAsync(p, host.data(), bytes, cudaMemcpyHostToDevice, copy_stream_));
    CN_CUDA_CHECK(cudaStreamSynchronize(copy_stream_));
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
  // On the compute stream, behind the kernels that wrote src; synchronous.
  PinnedStaging::Lease buf = staging_.acquire(src.bytes());
  if (buf) {
    CN_CUDA_CHECK(cudaMemcpyAsync(buf->ptr, src.data(), src.bytes(), cudaMemcpyDeviceToHost, stream_));
    CN_CUDA_CHECK(cudaStreamSynchronize(stream_));
    std::memcpy(host_dst.data(), buf->ptr, src.bytes());
  } else {
    CN_CUDA_CHECK(cudaMemcpyAsync(host_dst.data(), src.data(), src.bytes(), cudaMemcpyDeviceToHost, stream_));
    CN_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
}

void CudaBackend::synchronize() {
  use_device();
  CN_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

MemoryStats CudaBackend::memory_stats() const {
  MemoryStats s = alloc_->stats();
  s.pinned = staging_.bytes();
  s.pinned_allocs = staging_.host_allocs();
  return s;
}

std::vector<decode::DecodeResult> CudaBackend::run_decode(const DecodeHeads& view, const DecodeHeads* flipped,
                                                         const std::vector<decode::ImageMeta>& metas,
                                                         const decode::DecodeOptions& opt, bool want_pre_nms) {
  use_device();
  return cuda::decode(ctx_, view, flipped, metas, opt, want_pre_nms);
}
void CudaBackend::run_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
                                     Tensor& y) {
  use_device();
  cuda::conv2d_forward(ctx_, x, w, bias, p, y);
}
void CudaBackend::run_conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy, const Conv2dParams& p,
                                      Tensor& gx, Tensor& gw, Tensor& gb) {
  use_device();
  cuda::conv2d_backward(ctx_, x, w, gy, p, gx, gw, gb);
}
void CudaBackend::run_corner_pool_forward(CornerPoolMode mode, const Tensor& x, Tensor& y) {
  use_device();
  cuda::corner_pool_forward(ctx_, mode, x, y);
}
void CudaBackend::run_corner_pool_backward(CornerPoolMode mode, const Tensor& x, const Tensor& gy, Tensor& gx) {
  use_device();
  cuda::corner_pool_backward(ctx_, mode, x, gy, gx);
}
void CudaBackend::run_corner_targets(const std::vector<std::vector<GtBox>>& boxes, const TargetGeometry& g,
                                     Tensor& tl_heatmap, Tensor& br_heatmap, Tensor& tl_offset, Tensor& br_offset,
                                     Tensor& tl_mask, Tensor& br_mask, std::vector<std::vector<CornerMatch>>& match) {
  use_device();
  cuda::corner_targets(ctx_, boxes, g, tl_heatmap, br_heatmap, tl_offset, br_offset, tl_mask, br_mask, match);
}
CornerHeadLosses CudaBackend::run_corner_head_losses(const CornerHeadTensors& out, const CornerTargets& targets,
                                                     const CornerHeadLossWeights& w, CornerHeadTensors& grads,
                                                     double grad_scale) {
  use_device();
  return cuda::corner_head_losses(ctx_, out, targets, w, grads, grad_scale);
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
void CudaBackend::run_batch_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                          const Tensor& save_mean, const Tensor& save_invstd, const Tensor& gy,
                                          BatchNormBackwardMode mode, Tensor& gx, Tensor& ggamma, Tensor& gbeta) {
  use_device();
  cuda::batch_norm_backward(ctx_, x, gamma, beta, save_mean, save_invstd, gy, mode, gx, ggamma, gbeta);
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

}  // namespace cuda
}  // namespace cn
