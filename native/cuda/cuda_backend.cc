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
  return op == Op::CornerPoolForward || op == Op::CornerPoolBackward || op == Op::Copy || op == Op::CornerTargets ||
         op == Op::CornerHeadLosses;
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

// Argument checks of the two training ops until the engine checks them once
// (engine/op_checks): devices and shapes; the boxes as the CPU checks them.
namespace {
void check_shape(const Tensor& t, const char* op, const char* name, const Shape& want) {
  if (t.defined() && t.shape() != want)
    fail(op, ": '", name, "' has shape ", shape_str(t.shape()), ", expected ", shape_str(want));
}
}  // namespace

void CudaBackend::corner_targets(const std::vector<std::vector<GtBox>>& boxes, const TargetGeometry& g,
                                 Tensor& tl_heatmap, Tensor& br_heatmap, Tensor& tl_offset, Tensor& br_offset,
                                 Tensor& tl_mask, Tensor& br_mask, std::vector<std::vector<CornerMatch>>& match) {
  check_target_geometry(g);
  for (size_t i = 0; i < boxes.size(); ++i)
    for (size_t k = 0; k < boxes[i].size(); ++k) check_gt_box(boxes[i][k], i, k, g.num_classes);
  const int64_t n = static_cast<int64_t>(boxes.size()), C = g.num_classes, H = g.feat_h, W = g.feat_w;
  const struct {
    const Tensor& t;
    const char* name;
    Shape shape;
  } outs[] = {{tl_heatmap, "tl_heatmap", {n, C, H, W}}, {br_heatmap, "br_heatmap", {n, C, H, W}},
              {tl_offset, "tl_offset", {n, 2, H, W}},   {br_offset, "br_offset", {n, 2, H, W}},
              {tl_mask, "tl_mask", {n, 1, H, W}},       {br_mask, "br_mask", {n, 1, H, W}}};
  for (const auto& o : outs) {
    check_shape(o.t, "corner_targets", o.name, o.shape);
    if (o.t.defined()) check_here(o.t, "corner_targets", o.name);
  }
  use_device();
  cuda::corner_targets(ctx_, boxes, g, tl_heatmap, br_heatmap, tl_offset, br_offset, tl_mask, br_mask, match);
}

CornerHeadLosses CudaBackend::corner_head_losses(const CornerHeadTensors& out, const CornerTargets& tg,
                                                 const CornerHeadLossWeights& w, CornerHeadTensors& grads,
                                                 double grad_scale) {
  const char* op = "corner_head_losses";
  const Tensor* ins[] = {&out.tl_heat, &out.br_heat, &out.tl_emb, &out.br_emb, &out.tl_off, &out.br_off,
                         &tg.tl_heatmap, &tg.br_heatmap, &tg.tl_offset, &tg.br_offset};
  const char* names[] = {"tl_heat", "br_heat", "tl_emb", "br_emb", "tl_off", "br_off",
                         "tl_heatmap", "br_heatmap", "tl_offset", "br_offset"};
  for (int i = 0; i < 10; ++i) {
    if (!ins[i]->defined()) fail(op, ": '", names[i], "' is missing");
    if (ins[i]->dim() != 4) fail(op, ": '", names[i], "' must be 4-D, got ", shape_str(ins[i]->shape()));
    check_here(*ins[i], op, names[i]);
  }
  const int64_t N = out.tl_heat.size(0), C = out.tl_heat.size(1), H = out.tl_heat.size(2), W = out.tl_heat.size(3);
  const int64_t M = out.tl_emb.size(1);
  const Shape heat{N, C, H, W}, emb{N, M, H, W}, off{N, 2, H, W}, mask{N, 1, H, W};
  check_shape(out.br_heat, op, "br_heat", heat);
  check_shape(tg.tl_heatmap, op, "tl_heatmap", heat);
  check_shape(tg.br_heatmap, op, "br_heatmap", heat);
  check_shape(out.tl_emb, op, "tl_emb", emb);
  check_shape(out.br_emb, op, "br_emb", emb);
  check_shape(out.tl_off, op, "tl_off", off);
  check_shape(out.br_off, op, "br_off", off);
  check_shape(tg.tl_offset, op, "tl_offset", off);
  check_shape(tg.br_offset, op, "br_offset", off);
  check_shape(tg.tl_mask, op, "tl_mask", mask);
  check_shape(tg.br_mask, op, "br_mask", mask);
  if (tg.tl_mask.defined()) check_here(tg.tl_mask, op, "tl_mask");
  if (tg.br_mask.defined()) check_here(tg.br_mask, op, "br_mask");
  const Tensor* gs[] = {&grads.tl_heat, &grads.br_heat, &grads.tl_emb, &grads.br_emb, &grads.tl_off, &grads.br_off};
  for (int i = 0; i < 6; ++i)
    if (gs[i]->defined()) {
      check_shape(*gs[i], op, names[i], ins[i]->shape());
      check_here(*gs[i], op, names[i]);
    }
  if (!(w.offset_beta > 0)) fail(op, ": smooth-L1 beta must be positive, got ", w.offset_beta);
  if (static_cast<int64_t>(tg.match.size()) != N)
    fail(op, ": the embedding match has ", tg.match.size(), " images but the embeddings have batch size ", N);
  for (size_t img = 0; img < tg.match.size(); ++img)
    for (size_t k = 0; k < tg.match[img].size(); ++k) {
      const CornerMatch& c = tg.match[img][k];
      if (c.tl_y < 0 || c.tl_y >= H || c.tl_x < 0 || c.tl_x >= W || c.br_y < 0 || c.br_y >= H || c.br_x < 0 ||
          c.br_x >= W)
        fail("embedding match ", k, " of image ", img, " (tl ", c.tl_y, ",", c.tl_x, " br ", c.br_y, ",", c.br_x,
             ") is outside the ", H, "x", W, " map");
    }
  use_device();
  return cuda::corner_head_losses(ctx_, out, tg, w, grads, grad_scale);
}

}  // namespace cuda
}  // namespace cn
