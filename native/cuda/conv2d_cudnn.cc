// Convolutions on the optional libraries (cuda_libraries.h): cuDNN for every
// shape it has an algorithm for; without cuDNN, cuBLAS SGEMM for 1x1 stride-1
// unpadded convolutions (per image, NCHW: Y[O,HW] = W[O,C] x X[C,HW]). Host
// code only (no kernels): bias add / bias gradient go through the libraries too.
//
// Per shape and direction (forward, backward data, backward filter) the choice
// is made once and cached in Libraries::plans:
// - cuDNN: cudnnGet*Algorithm_v7's heuristic list, first entry that succeeded,
//   uses no tensor-op math (CUDNN_FMA_MATH: plain fp32, as the CPU reference;
//   TF32 would lose ~3 decimal digits) and needs at most kWorkspaceLimit;
//   deterministic algorithms are preferred, so a seed reproduces training.
// - The first time a plan runs, its result is compared with the own kernel
//   (conv2d_*_direct, conv2d.cu) on a slice: forward, the first image and first
//   kCheckChannels output channels; backward data, the first image; backward
//   filter and bias, the whole batch (a weight gradient sums over every image,
//   no slice of it is cheaper). Pass: max |lib - own| <= kRelTol * max|own| +
//   kAbsTol. A failure disables that library for this backend with a message
//   saying why, and this call returns false so the own kernels recompute it.
//   While the reference has non-finite values the comparison waits for a later
//   call (NaN placement is not comparable across algorithms).
#include <climits>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "cuda_libraries.h"
#include "cuda_ops.h"

namespace cn {
namespace cuda {

namespace {

using namespace cudnn;

constexpr size_t kWorkspaceLimit = size_t{1} << 30;  // 1 GiB: larger algorithms are skipped
constexpr int kCheckChannels = 8;
constexpr double kRelTol = 1e-3;
constexpr double kAbsTol = 1e-5;

enum Dir { Forward = 0, BackwardData = 1, BackwardFilter = 2, BackwardBias = 3 };
const char* dir_name(Dir d) {
  switch (d) {
    case Forward: return "forward";
    case BackwardData: return "backward (data)";
    case BackwardFilter: return "backward (filter)";
    case BackwardBias: return "backward (bias)";
  }
  return "?";
}

const char* const kFwdAlgoNames[] = {"IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT",
                                     "FFT",           "FFT_TILING",            "WINOGRAD", "WINOGRAD_NONFUSED"};
const char* const kDataAlgoNames[] = {"ALGO_0", "ALGO_1", "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
const char* const kFilterAlgoNames[] = {"ALGO_0",   "ALGO_1",           "FFT",       "ALGO_3",
                                        "WINOGRAD", "WINOGRAD_NONFUSED", "FFT_TILING"};

std::string algo_name(Libraries::Which lib, Dir d, int algo) {
  if (lib == Libraries::Cublas) return "SGEMM";
  if (d == BackwardBias) return "cudnnConvolutionBackwardBias";
  const char* const* names = d == Forward ? kFwdAlgoNames : d == BackwardData ? kDataAlgoNames : kFilterAlgoNames;
  int count = d == Forward ? 8 : d == BackwardData ? 6 : 7;
  return algo >= 0 && algo < count ? names[algo] : "algorithm " + std::to_string(algo);
}

struct Dims {
  int n, c, h, w, o, kh, kw, ho, wo;
};

Dims dims_of(const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  Dims d;
  d.n = static_cast<int>(x.shape()[0]);
  d.c = static_cast<int>(x.shape()[1]);
  d.h = static_cast<int>(x.shape()[2]);
  d.w = static_cast<int>(x.shape()[3]);
  d.o = static_cast<int>(w.shape()[0]);
  d.kh = static_cast<int>(w.shape()[2]);
  d.kw = static_cast<int>(w.shape()[3]);
  d.ho = static_cast<int>(conv_out_size(d.h, d.kh, p.stride_h, p.pad_h));
  d.wo = static_cast<int>(conv_out_size(d.w, d.kw, p.stride_w, p.pad_w));
  return d;
}

std::string shape_text(const Dims& d, const Conv2dParams& p) {
  char b[160];
  std::snprintf(b, sizeof b, "x[%d,%d,%d,%d] w[%d,%d,%d,%d] stride %dx%d pad %dx%d", d.n, d.c, d.h, d.w, d.o, d.c,
                d.kh, d.kw, p.stride_h, p.stride_w, p.pad_h, p.pad_w);
  return b;
}

ConvKey key_of(const Dims& d, const Conv2dParams& p, Dir dir, Libraries::Which lib) {
  return {d.n, d.c, d.h, d.w, d.o, d.kh, d.kw, p.stride_h, p.stride_w, p.pad_h, p.pad_w, dir, lib};
}

// Sizes the libraries take as int, and nothing empty (the own kernels handle
// zero-size edge cases).
bool fits(const Tensor& t) { return !t.defined() || (t.numel() > 0 && t.numel() <= INT_MAX); }

bool pointwise(const Dims& d, const Conv2dParams& p) {
  return d.kh == 1 && d.kw == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0;
}

// ---- comparison with the own kernel -------------------------------------------

std::vector<float> to_host(const float* p, int64_t n, cudaStream_t s) {
  std::vector<float> v(static_cast<size_t>(n));
  if (n) {
    CN_CUDA_CHECK(cudaMemcpyAsync(v.data(), p, v.size() * sizeof(float), cudaMemcpyDeviceToHost, s));
    CN_CUDA_CHECK(cudaStreamSynchronize(s));
  }
  return v;
}

struct Verdict {
  bool deferred = false;  // the reference has non-finite values: compare later
  bool ok = true;
  std::string why;
};

// lib: n values the library wrote; ref: the own kernel's on the same slice.
Verdict compare(const float* lib, const float* ref, int64_t n, const char* what, cudaStream_t s) {
  std::vector<float> a = to_host(lib, n, s), b = to_host(ref, n, s);
  Verdict v;
  double max_ref = 0;
  for (float r : b) {
    if (!std::isfinite(r)) {
      v.deferred = true;
      return v;
    }
    max_ref = std::fmax(max_ref, std::fabs(r));
  }
  double tol = kRelTol * max_ref + kAbsTol, worst = 0;
  int64_t at = -1;
  for (int64_t i = 0; i < n; ++i) {
    double e = std::isfinite(a[i]) ? std::fabs(static_cast<double>(a[i]) - b[i]) : INFINITY;
    if (e > worst || (at < 0 && e > tol)) {
      worst = e;
      at = i;
    }
  }
  if (worst > tol) {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "%s differs from the own kernel: |diff| %.3g at element %lld (library %.6g, own %.6g) > tolerance "
                  "%.3g (1e-3 * max|own| %.3g + 1e-5)",
                  what, worst, static_cast<long long>(at), a[at], b[at], tol, max_ref);
    v.ok = false;
    v.why = buf;
  }
  return v;
}

// Applies a verdict to a plan: true when the library's result stands.
bool settle(Libraries& L, Libraries::Which lib, ConvPlan& plan, const Verdict& v, const Dims& d,
            const Conv2dParams& p, Dir dir) {
  if (v.deferred) return true;
  if (v.ok) {
    plan.checked = true;
    return true;
  }
  L.disable(lib, std::string(dir_name(dir)) + " of " + shape_text(d, p) + " with " +
                     algo_name(lib, dir, plan.algo) + ": " + v.why);
  return false;
}

Tensor workspace(Ctx& ctx, size_t bytes) {
  return bytes ? ctx.alloc({static_cast<int64_t>((bytes + sizeof(float) - 1) / sizeof(float))}) : Tensor();
}

// ---- cuDNN ------------------------------------------------------------------------

// The descriptors of one convolution (x, w, y, bias [1,O,1,1], conv), destroyed with it.
struct Descriptors {
  const CudnnApi& api;
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, b = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
  const char* failed = nullptr;

  Descriptors(const CudnnApi& a, const Dims& d, const Conv2dParams& p) : api(a) {
    step(api.cudnnCreateTensorDescriptor(&x), "cudnnCreateTensorDescriptor");
    step(api.cudnnCreateTensorDescriptor(&y), "cudnnCreateTensorDescriptor");
    step(api.cudnnCreateTensorDescriptor(&b), "cudnnCreateTensorDescriptor");
    step(api.cudnnCreateFilterDescriptor(&w), "cudnnCreateFilterDescriptor");
    step(api.cudnnCreateConvolutionDescriptor(&conv), "cudnnCreateConvolutionDescriptor");
    step(api.cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, d.n, d.c, d.h, d.w),
         "cudnnSetTensor4dDescriptor(x)");
    step(api.cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, d.n, d.o, d.ho, d.wo),
         "cudnnSetTensor4dDescriptor(y)");
    step(api.cudnnSetTensor4dDescriptor(b, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, d.o, 1, 1),
         "cudnnSetTensor4dDescriptor(bias)");
    step(api.cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, d.o, d.c, d.kh, d.kw),
         "cudnnSetFilter4dDescriptor");
    // The engine's conv is a cross-correlation (no kernel flip), as PyTorch's.
    step(api.cudnnSetConvolution2dDescriptor(conv, p.pad_h, p.pad_w, p.stride_h, p.stride_w, 1, 1,
                                             CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
         "cudnnSetConvolution2dDescriptor");
    step(api.cudnnSetConvolutionMathType(conv, CUDNN_FMA_MATH), "cudnnSetConvolutionMathType");
  }
  ~Descriptors() {
    if (x) api.cudnnDestroyTensorDescriptor(x);
    if (y) api.cudnnDestroyTensorDescriptor(y);
    if (b) api.cudnnDestroyTensorDescriptor(b);
    if (w) api.cudnnDestroyFilterDescriptor(w);
    if (conv) api.cudnnDestroyConvolutionDescriptor(conv);
  }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;

  void step(cudnnStatus_t s, const char* what) {
    if (status == CUDNN_STATUS_SUCCESS && s != CUDNN_STATUS_SUCCESS) {
      status = s;
      failed = what;
    }
  }
  bool ok() const { return status == CUDNN_STATUS_SUCCESS; }
};

// The heuristic's first usable entry: succeeded, fp32 math, within the
// workspace limit; a deterministic one if the list has any. -1 if none.
template <class Perf>
int pick(const Perf* perf, int n) {
  for (int pass = 0; pass < 2; ++pass) {
    for (int i = 0; i < n; ++i) {
      const Perf& r = perf[i];
      if (r.status != CUDNN_STATUS_SUCCESS || r.memory > kWorkspaceLimit) continue;
      if (r.mathType == CUDNN_TENSOR_OP_MATH || r.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;
      if (pass == 0 && r.determinism != CUDNN_DETERMINISTIC) continue;
      return i;
    }
  }
  return -1;
}

// Chooses (once) the algorithm of plan `dir` for this shape.
void choose(Libraries& L, const Descriptors& ds, Dir dir, ConvPlan& plan) {
  if (plan.chosen) return;
  plan.chosen = true;
  if (!ds.ok()) return;  // e.g. a shape cuDNN's descriptors refuse: the own kernel takes it
  const CudnnApi& api = *L.cudnn();
  cudnnHandle_t h = L.cudnn_handle();
  int n = 0, i = -1;
  size_t bytes = 0;
  cudnnStatus_t s;
  if (dir == Forward) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    s = api.cudnnGetConvolutionForwardAlgorithm_v7(h, ds.x, ds.w, ds.conv, ds.y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n,
                                                   perf);
    if (s != CUDNN_STATUS_SUCCESS || (i = pick(perf, n)) < 0) return;
    plan.algo = static_cast<int>(perf[i].algo);
    s = api.cudnnGetConvolutionForwardWorkspaceSize(h, ds.x, ds.w, ds.conv, ds.y, perf[i].algo, &bytes);
  } else if (dir == BackwardData) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    s = api.cudnnGetConvolutionBackwardDataAlgorithm_v7(h, ds.w, ds.y, ds.conv, ds.x,
                                                        CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf);
    if (s != CUDNN_STATUS_SUCCESS || (i = pick(perf, n)) < 0) return;
    plan.algo = static_cast<int>(perf[i].algo);
    s = api.cudnnGetConvolutionBackwardDataWorkspaceSize(h, ds.w, ds.y, ds.conv, ds.x, perf[i].algo, &bytes);
  } else if (dir == BackwardFilter) {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    s = api.cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, ds.x, ds.y, ds.conv, ds.w,
                                                          CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf);
    if (s != CUDNN_STATUS_SUCCESS || (i = pick(perf, n)) < 0) return;
    plan.algo = static_cast<int>(perf[i].algo);
    s = api.cudnnGetConvolutionBackwardFilterWorkspaceSize(h, ds.x, ds.y, ds.conv, ds.w, perf[i].algo, &bytes);
  } else {
    s = CUDNN_STATUS_SUCCESS;  // bias gradient: no algorithm, no workspace
  }
  if (s != CUDNN_STATUS_SUCCESS || bytes > kWorkspaceLimit) return;
  plan.workspace = bytes;
  plan.usable = true;
}

// A failed cuDNN call while running: stop using cuDNN on this backend.
bool cudnn_failed(Libraries& L, cudnnStatus_t s, const char* call, const Dims& d, const Conv2dParams& p) {
  L.disable(Libraries::Cudnn, std::string(call) + " failed for " + shape_text(d, p) + ": " +
                                  L.cudnn()->cudnnGetErrorString(s));
  return false;
}

bool cudnn_forward(Ctx& ctx, Libraries& L, const Dims& d, const Tensor& x, const Tensor& w, const Tensor& bias,
                   const Conv2dParams& p, Tensor& y) {
  const CudnnApi& api = *L.cudnn();
  Descriptors ds(api, d, p);
  ConvPlan& plan = L.plans[key_of(d, p, Forward, Libraries::Cudnn)];
  choose(L, ds, Forward, plan);
  if (!plan.usable || !ds.ok()) return false;
  const float one = 1.0f, zero = 0.0f;
  {
    Tensor ws = workspace(ctx, plan.workspace);
    cudnnStatus_t s = api.cudnnConvolutionForward(L.cudnn_handle(), &one, ds.x, x.data(), ds.w, w.data(), ds.conv,
                                                  static_cast<cudnnConvolutionFwdAlgo_t>(plan.algo), ws.data(),
                                                  plan.workspace, &zero, ds.y, y.data());
    if (s != CUDNN_STATUS_SUCCESS) return cudnn_failed(L, s, "cudnnConvolutionForward", d, p);
  }
  if (bias.defined()) {
    cudnnStatus_t s = api.cudnnAddTensor(L.cudnn_handle(), &one, ds.b, bias.data(), &one, ds.y, y.data());
    if (s != CUDNN_STATUS_SUCCESS) return cudnn_failed(L, s, "cudnnAddTensor", d, p);
  }
  return true;
}

bool cudnn_backward(Ctx& ctx, Libraries& L, const Dims& d, const Tensor& x, const Tensor& w, const Tensor& gy,
                    const Conv2dParams& p, Tensor& gx, Tensor& gw, Tensor& gb) {
  const CudnnApi& api = *L.cudnn();
  Descriptors ds(api, d, p);
  if (!ds.ok()) return false;
  ConvPlan* data = gx.defined() ? &L.plans[key_of(d, p, BackwardData, Libraries::Cudnn)] : nullptr;
  ConvPlan* filter = gw.defined() ? &L.plans[key_of(d, p, BackwardFilter, Libraries::Cudnn)] : nullptr;
  if (data) choose(L, ds, BackwardData, *data);
  if (filter) choose(L, ds, BackwardFilter, *filter);
  if ((data && !data->usable) || (filter && !filter->usable)) return false;  // all or nothing: own kernel
  const float one = 1.0f, zero = 0.0f;
  cudnnHandle_t h = L.cudnn_handle();
  if (data) {
    Tensor ws = workspace(ctx, data->workspace);
    cudnnStatus_t s = api.cudnnConvolutionBackwardData(h, &one, ds.w, w.data(), ds.y, gy.data(), ds.conv,
                                                       static_cast<cudnnConvolutionBwdDataAlgo_t>(data->algo),
                                                       ws.data(), data->workspace, &zero, ds.x, gx.data());
    if (s != CUDNN_STATUS_SUCCESS) return cudnn_failed(L, s, "cudnnConvolutionBackwardData", d, p);
  }
  if (filter) {
    Tensor ws = workspace(ctx, filter->workspace);
    cudnnStatus_t s = api.cudnnConvolutionBackwardFilter(h, &one, ds.x, x.data(), ds.y, gy.data(), ds.conv,
                                                         static_cast<cudnnConvolutionBwdFilterAlgo_t>(filter->algo),
                                                         ws.data(), filter->workspace, &zero, ds.w, gw.data());
    if (s != CUDNN_STATUS_SUCCESS) return cudnn_failed(L, s, "cudnnConvolutionBackwardFilter", d, p);
  }
  if (gb.defined()) {
    cudnnStatus_t s = api.cudnnConvolutionBackwardBias(h, &one, ds.y, gy.data(), &zero, ds.b, gb.data());
    if (s != CUDNN_STATUS_SUCCESS) return cudnn_failed(L, s, "cudnnConvolutionBackwardBias", d, p);
  }
  return true;
}

// ---- cuBLAS (1x1, stride 1, no padding) ----------------------------------------
// Row-major [R][K] matrices are column-major K x R ones to cuBLAS, so each
// product below is written for the transposes (derivations beside each call).

const float* ones(Ctx& ctx, Libraries& L, int64_t n) {
  if (L.ones.numel() < n) {
    Tensor h = Tensor::host({n});
    for (int64_t i = 0; i < n; ++i) h.data()[i] = 1.0f;
    L.ones = ctx.upload(h);  // ordered before the GEMMs enqueued next; `h` may go at once
  }
  return L.ones.data();
}

bool cublas_failed(Libraries& L, cublas::cublasStatus_t s, const Dims& d, const Conv2dParams& p) {
  L.disable(Libraries::Cublas,
            "cublasSgemm failed for " + shape_text(d, p) + ": " + L.cublas()->cublasGetStatusString(s));
  return false;
}

bool cublas_forward(Ctx& ctx, Libraries& L, const Dims& d, const Tensor& x, const Tensor& w, const Tensor& bias,
                    const Conv2dParams& p, Tensor& y) {
  using namespace cublas;
  const CublasApi& api = *L.cublas();
  cublasHandle_t h = L.cublas_handle();
  const int hw = d.h * d.w;
  const float one = 1.0f, zero = 0.0f;
  const float* e = bias.defined() ? ones(ctx, L, hw) : nullptr;
  for (int n = 0; n < d.n; ++n) {
    const float* xn = x.data() + static_cast<int64_t>(n) * d.c * hw;
    float* yn = y.data() + static_cast<int64_t>(n) * d.o * hw;
    cublasStatus_t s = CUBLAS_STATUS_SUCCESS;
    // Bias: Yc(hw,o) = ones(hw) * bias(o), Yc the HW x O column-major view of y[n].
    if (e) s = api.cublasSgemm_v2(h, CUBLAS_OP_N, CUBLAS_OP_N, hw, d.o, 1, &one, e, hw, bias.data(), 1, &zero, yn, hw);
    // Yc(hw,o) += sum_c Xc(hw,c) Wc(c,o): Xc = x[n] as HW x C (ld HW), Wc = w as C x O (ld C).
    if (s == CUBLAS_STATUS_SUCCESS)
      s = api.cublasSgemm_v2(h, CUBLAS_OP_N, CUBLAS_OP_N, hw, d.o, d.c, &one, xn, hw, w.data(), d.c, e ? &one : &zero,
                             yn, hw);
    if (s != CUBLAS_STATUS_SUCCESS) return cublas_failed(L, s, d, p);
  }
  return true;
}

bool cublas_backward(Ctx& ctx, Libraries& L, const Dims& d, const Tensor& x, const Tensor& w, const Tensor& gy,
                     const Conv2dParams& p, Tensor& gx, Tensor& gw, Tensor& gb) {
  using namespace cublas;
  const CublasApi& api = *L.cublas();
  cublasHandle_t h = L.cublas_handle();
  const int hw = d.h * d.w;
  const float one = 1.0f, zero = 0.0f;
  const float* e = gb.defined() ? ones(ctx, L, hw) : nullptr;
  for (int n = 0; n < d.n; ++n) {
    const float* xn = x.data() + static_cast<int64_t>(n) * d.c * hw;
    const float* gyn = gy.data() + static_cast<int64_t>(n) * d.o * hw;
    const float* acc = n == 0 ? &zero : &one;  // weight and bias gradients sum over images
    cublasStatus_t s = CUBLAS_STATUS_SUCCESS;
    // gXc(hw,c) = sum_o gYc(hw,o) W[o][c]: gYc = gy[n] as HW x O (ld HW), W[o][c] = Wc(c,o) transposed.
    if (gx.defined())
      s = api.cublasSgemm_v2(h, CUBLAS_OP_N, CUBLAS_OP_T, hw, d.c, d.o, &one, gyn, hw, w.data(), d.c, &zero,
                             gx.data() + static_cast<int64_t>(n) * d.c * hw, hw);
    // gWc(c,o) = gw[o][c] = sum_hw Xc(hw,c) gYc(hw,o): Xc transposed (C x HW) times gYc.
    if (s == CUBLAS_STATUS_SUCCESS && gw.defined())
      s = api.cublasSgemm_v2(h, CUBLAS_OP_T, CUBLAS_OP_N, d.c, d.o, hw, &one, xn, hw, gyn, hw, acc, gw.data(), d.c);
    // gb as a 1 x O matrix (ld 1) = ones^T (1 x HW) gYc.
    if (s == CUBLAS_STATUS_SUCCESS && e)
      s = api.cublasSgemm_v2(h, CUBLAS_OP_T, CUBLAS_OP_N, 1, d.o, hw, &one, e, hw, gyn, hw, acc, gb.data(), 1);
    if (s != CUBLAS_STATUS_SUCCESS) return cublas_failed(L, s, d, p);
  }
  return true;
}

// ---- checks against the own kernel, once per plan ------------------------------

bool check_forward(Ctx& ctx, Libraries& L, Libraries::Which lib, ConvPlan& plan, const Dims& d, const Tensor& x,
                   const Tensor& w, const Tensor& bias, const Conv2dParams& p, const Tensor& y) {
  if (plan.checked) return true;
  const int oc = d.o < kCheckChannels ? d.o : kCheckChannels;
  // First image, first oc output channels: prefixes of x, w, bias and y[0].
  Tensor x0 = Tensor::view(x.data(), {1, d.c, d.h, d.w}, x.device());
  Tensor w0 = Tensor::view(w.data(), {oc, d.c, d.kh, d.kw}, w.device());
  Tensor b0 = bias.defined() ? Tensor::view(bias.data(), {oc}, bias.device()) : Tensor();
  Tensor ref = ctx.alloc({1, oc, d.ho, d.wo});
  conv2d_forward_direct(ctx, x0, w0, b0, p, ref);
  const std::string what = "y[0, :" + std::to_string(oc) + "]";
  Verdict v = compare(y.data(), ref.data(), ref.numel(), what.c_str(), ctx.stream);
  return settle(L, lib, plan, v, d, p, Forward);
}

bool check_backward(Ctx& ctx, Libraries& L, Libraries::Which lib, const Dims& d, const Tensor& x, const Tensor& w,
                    const Tensor& gy, const Conv2dParams& p, const Tensor& gx, const Tensor& gw, const Tensor& gb) {
  if (gx.defined()) {
    ConvPlan& plan = L.plans[key_of(d, p, BackwardData, lib)];
    if (!plan.checked) {
      // First image: gx[0] depends on gy[0] and all of w only.
      Tensor x0 = Tensor::view(x.data(), {1, d.c, d.h, d.w}, x.device());
      Tensor gy0 = Tensor::view(gy.data(), {1, d.o, d.ho, d.wo}, gy.device());
      Tensor ref = ctx.alloc({1, d.c, d.h, d.w}), none_w, none_b;
      conv2d_backward_direct(ctx, x0, w, gy0, p, ref, none_w, none_b);
      if (!settle(L, lib, plan, compare(gx.data(), ref.data(), ref.numel(), "gradX[0]", ctx.stream), d, p,
                  BackwardData))
        return false;
    }
  }
  if (gw.defined() || gb.defined()) {
    // Whole batch: every image adds to the weight and bias gradients.
    ConvPlan& plan = L.plans[key_of(d, p, gw.defined() ? BackwardFilter : BackwardBias, lib)];
    if (!plan.checked) {
      Tensor none_x, ref_w = gw.defined() ? ctx.alloc(gw.shape()) : Tensor(),
                     ref_b = gb.defined() ? ctx.alloc(gb.shape()) : Tensor();
      conv2d_backward_direct(ctx, x, w, gy, p, none_x, ref_w, ref_b);
      Verdict v;
      if (gw.defined()) v = compare(gw.data(), ref_w.data(), ref_w.numel(), "gradW", ctx.stream);
      if (v.ok && !v.deferred && gb.defined()) v = compare(gb.data(), ref_b.data(), ref_b.numel(), "gradB", ctx.stream);
      if (!settle(L, lib, plan, v, d, p, gw.defined() ? BackwardFilter : BackwardBias)) return false;
    }
  }
  return true;
}

}  // namespace

bool cudnn_conv2d_forward(Ctx& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
                          Tensor& y) {
  Libraries* L = ctx.libs;
  if (!L || !fits(x) || !fits(w) || !fits(y)) return false;
  std::lock_guard<std::mutex> lock(L->mutex);
  const Dims d = dims_of(x, w, p);
  if (L->cudnn() && cudnn_forward(ctx, *L, d, x, w, bias, p, y)) {
    if (check_forward(ctx, *L, Libraries::Cudnn, L->plans[key_of(d, p, Forward, Libraries::Cudnn)], d, x, w, bias, p,
                      y)) {
      L->count_use(Libraries::Cudnn);
      return true;
    }
  }
  if (L->cublas() && pointwise(d, p) && cublas_forward(ctx, *L, d, x, w, bias, p, y)) {
    ConvPlan& plan = L->plans[key_of(d, p, Forward, Libraries::Cublas)];
    plan.chosen = plan.usable = true;
    if (check_forward(ctx, *L, Libraries::Cublas, plan, d, x, w, bias, p, y)) {
      L->count_use(Libraries::Cublas);
      return true;
    }
  }
  return false;
}

bool cudnn_conv2d_backward(Ctx& ctx, const Tensor& x, const Tensor& w, const Tensor& gy, const Conv2dParams& p,
                           Tensor& gx, Tensor& gw, Tensor& gb) {
  Libraries* L = ctx.libs;
  if (!L || !fits(x) || !fits(w) || !fits(gy) || (!gx.defined() && !gw.defined() && !gb.defined())) return false;
  std::lock_guard<std::mutex> lock(L->mutex);
  const Dims d = dims_of(x, w, p);
  if (L->cudnn() && cudnn_backward(ctx, *L, d, x, w, gy, p, gx, gw, gb) &&
      check_backward(ctx, *L, Libraries::Cudnn, d, x, w, gy, p, gx, gw, gb)) {
    L->count_use(Libraries::Cudnn);
    return true;
  }
  if (L->cublas() && pointwise(d, p) && cublas_backward(ctx, *L, d, x, w, gy, p, gx, gw, gb) &&
      check_backward(ctx, *L, Libraries::Cublas, d, x, w, gy, p, gx, gw, gb)) {
    L->count_use(Libraries::Cublas);
    return true;
  }
  return false;
}

}  // namespace cuda
}  // namespace cn
