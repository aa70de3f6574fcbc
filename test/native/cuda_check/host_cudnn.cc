// libcornernet_host_cudnn.so (test-tools, never installed): the cuDNN functions
// native/cuda/cudnn_api.h declares, computing on host memory, so the CUDA
// emulator can run the backend's cuDNN path in tests: CORNERNET_EMU_CUDNN=<this
// file> makes cuda-emu load it (native/cuda/cuda_libraries.cc).
//
// Convolutions are the plain definitions (cross-correlation, NCHW, summed in
// double), y = alpha * conv + beta * y with y not read when beta is 0, as
// cuDNN documents. The library is strict where the caller could go wrong and
// answers CUDNN_STATUS_BAD_PARAM (2000) or NOT_SUPPORTED (3000) instead of
// computing: descriptors not fully set, shapes that disagree, a mode other
// than cross-correlation, dilation, a math type other than CUDNN_FMA_MATH, an
// algorithm the heuristic did not offer as usable, a workspace smaller than
// the size it asked for. Its heuristic lists, first to last: a tensor-op
// algorithm (the caller must skip it), for the weight gradient a
// non-deterministic one (the caller prefers the deterministic one after it),
// then the usable one, which needs kWorkspace bytes.
// CORNERNET_HOST_CUDNN_SKEW=<x> adds x to every convolution result, for tests
// of the check that disables a library whose results differ from the own kernels.
#include <cstdlib>
#include <cstring>

#include "../../../native/cuda/cudnn_api.h"

using namespace cn::cudnn;

#define CN_EXPORT extern "C" __attribute__((visibility("default")))

// cudnnStatus_t values of cudnn_graph.h (cuDNN 9.6.0) that this file answers.
static const cudnnStatus_t kBadParam = static_cast<cudnnStatus_t>(2000);
static const cudnnStatus_t kNotSupported = static_cast<cudnnStatus_t>(3000);
static const size_t kWorkspace = 4096;

// The opaque types of cudnn_api.h, defined here.
namespace cn {
namespace cudnn {
struct cudnnContext {
  int unused;
};
struct cudnnTensorStruct {
  bool set = false;
  int n = 0, c = 0, h = 0, w = 0;
};
struct cudnnFilterStruct {
  bool set = false;
  int k = 0, c = 0, h = 0, w = 0;
};
struct cudnnConvolutionStruct {
  bool set = false;
  int pad_h = 0, pad_w = 0, u = 1, v = 1;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};
}  // namespace cudnn
}  // namespace cn

namespace {

double skew() {
  const char* s = std::getenv("CORNERNET_HOST_CUDNN_SKEW");
  return s ? std::atof(s) : 0.0;
}

// Valid descriptors that agree with each other: x[n,c,h,w] * w[k,c,kh,kw] -> y[n,k,ho,wo].
bool consistent(const cudnnTensorStruct* x, const cudnnFilterStruct* w, const cudnnConvolutionStruct* cv,
                const cudnnTensorStruct* y) {
  if (!x || !w || !cv || !y || !x->set || !w->set || !cv->set || !y->set) return false;
  if (cv->math != CUDNN_FMA_MATH) return false;
  int ho = (x->h + 2 * cv->pad_h - w->h) / cv->u + 1, wo = (x->w + 2 * cv->pad_w - w->w) / cv->v + 1;
  return x->c == w->c && y->n == x->n && y->c == w->k && y->h == ho && y->w == wo;
}

// Calls f(n, k, i, j, c, a, b, x_index, w_index, y_index) for every product term of the convolution.
template <class F>
void each_term(const cudnnTensorStruct& x, const cudnnFilterStruct& w, const cudnnConvolutionStruct& cv,
               const cudnnTensorStruct& y, F f) {
  for (long n = 0; n < y.n; ++n)
    for (long k = 0; k < y.c; ++k)
      for (long i = 0; i < y.h; ++i)
        for (long j = 0; j < y.w; ++j)
          for (long c = 0; c < x.c; ++c)
            for (long a = 0; a < w.h; ++a)
              for (long b = 0; b < w.w; ++b) {
                long hi = i * cv.u - cv.pad_h + a, wi = j * cv.v - cv.pad_w + b;
                if (hi < 0 || hi >= x.h || wi < 0 || wi >= x.w) continue;
                f(((n * x.c + c) * x.h + hi) * x.w + wi, ((k * w.c + c) * w.h + a) * w.w + b,
                  ((n * y.c + k) * y.h + i) * y.w + j);
              }
}

// out = alpha * acc + beta * out (+ skew), out not read when beta is 0.
void blend(float* out, const double* acc, long count, const void* alpha, const void* beta, double extra) {
  float al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  for (long i = 0; i < count; ++i)
    out[i] = static_cast<float>(al * acc[i] + (be == 0.0f ? 0.0 : static_cast<double>(be) * out[i]) + extra);
}

long numel(const cudnnTensorStruct& t) { return static_cast<long>(t.n) * t.c * t.h * t.w; }
long numel(const cudnnFilterStruct& t) { return static_cast<long>(t.k) * t.c * t.h * t.w; }

template <class Perf, class Algo>
void offer(Perf* perf, int* returned, int requested, Algo tensor_op, Algo nondet, Algo usable) {
  Perf list[3];
  std::memset(list, 0, sizeof list);
  list[0].algo = tensor_op;
  list[0].mathType = CUDNN_TENSOR_OP_MATH;
  list[0].determinism = CUDNN_DETERMINISTIC;
  list[1].algo = nondet;
  list[1].mathType = CUDNN_FMA_MATH;
  list[1].determinism = CUDNN_NON_DETERMINISTIC;
  list[2].algo = usable;
  list[2].mathType = CUDNN_FMA_MATH;
  list[2].determinism = CUDNN_DETERMINISTIC;
  for (Perf& p : list) {
    p.status = CUDNN_STATUS_SUCCESS;
    p.memory = kWorkspace;
  }
  int n = requested < 3 ? requested : 3;
  for (int i = 0; i < n; ++i) perf[i] = list[i];
  *returned = n;
}

// The algorithms a caller may run (the third entry of each list above).
const unsigned kFwdUsable = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
const unsigned kDataUsable = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
const unsigned kFilterUsable = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;

}  // namespace

CN_EXPORT size_t cudnnGetVersion(void) { return 0; }  // not NVIDIA's: no version

CN_EXPORT const char* cudnnGetErrorString(cudnnStatus_t s) {
  switch (static_cast<unsigned>(s)) {
    case 0: return "CUDNN_STATUS_SUCCESS";
    case 2000: return "CUDNN_STATUS_BAD_PARAM";
    case 3000: return "CUDNN_STATUS_NOT_SUPPORTED";
    default: return "CUDNN_STATUS_UNKNOWN";
  }
}

CN_EXPORT cudnnStatus_t cudnnCreate(cudnnHandle_t* handle) {
  *handle = new cudnnContext();
  return CUDNN_STATUS_SUCCESS;
}
CN_EXPORT cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) {
  delete handle;
  return CUDNN_STATUS_SUCCESS;
}
CN_EXPORT cudnnStatus_t cudnnSetStream(cudnnHandle_t, cudaStream_t) { return CUDNN_STATUS_SUCCESS; }

CN_EXPORT cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t* d) {
  *d = new cudnnTensorStruct();
  return CUDNN_STATUS_SUCCESS;
}
CN_EXPORT cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d) {
  delete d;
  return CUDNN_STATUS_SUCCESS;
}
CN_EXPORT cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t format,
                                                   cudnnDataType_t type, int n, int c, int h, int w) {
  if (format != CUDNN_TENSOR_NCHW || type != CUDNN_DATA_FLOAT || n <= 0 || c <= 0 || h <= 0 || w <= 0) return kBadParam;
  *d = {true, n, c, h, w};
  return CUDNN_STATUS_SUCCESS;
}
CN_EXPORT cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t* d) {
  *d = new cudnnFilterStruct();
  return CUDNN_STATUS_SUCCESS;
}
CN_EXPORT cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d) {
  delete d;
  return CUDNN_STATUS_SUCCESS;
}
CN_EXPORT cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t type,
                                                   cudnnTensorFormat_t format, int k, int c, int h, int w) {
  if (format != CUDNN_TENSOR_NCHW || type != CUDNN_DATA_FLOAT || k <= 0 || c <= 0 || h <= 0 || w <= 0) return kBadParam;
  *d = {true, k, c, h, w};
  return CUDNN_STATUS_SUCCESS;
}
CN_EXPORT cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t* d) {
  *d = new cudnnConvolutionStruct();
  return CUDNN_STATUS_SUCCESS;
}
CN_EXPORT cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d) {
  delete d;
  return CUDNN_STATUS_SUCCESS;
}
CN_EXPORT cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t m) {
  d->math = m;
  return CUDNN_STATUS_SUCCESS;
}
CN_EXPORT cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int pad_h, int pad_w, int u,
                                                        int v, int dilation_h, int dilation_w,
                                                        cudnnConvolutionMode_t mode, cudnnDataType_t type) {
  if (mode != CUDNN_CROSS_CORRELATION) return kNotSupported;  // the engine's conv never flips the kernel
  if (dilation_h != 1 || dilation_w != 1 || type != CUDNN_DATA_FLOAT || u <= 0 || v <= 0 || pad_h < 0 || pad_w < 0)
    return kBadParam;
  d->set = true;
  d->pad_h = pad_h;
  d->pad_w = pad_w;
  d->u = u;
  d->v = v;
  return CUDNN_STATUS_SUCCESS;
}

CN_EXPORT cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t, const cudnnTensorDescriptor_t x,
                                                               const cudnnFilterDescriptor_t w,
                                                               const cudnnConvolutionDescriptor_t cv,
                                                               const cudnnTensorDescriptor_t y, const int requested,
                                                               int* returned, cudnnConvolutionFwdAlgoPerf_t* perf) {
  if (!consistent(x, w, cv, y)) return kBadParam;
  offer(perf, returned, requested, CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD, CUDNN_CONVOLUTION_FWD_ALGO_FFT,
        CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM);
  perf[1].determinism = CUDNN_DETERMINISTIC;  // every forward algorithm is deterministic
  perf[1].status = kNotSupported;             // and FFT refuses this shape: the caller must skip it
  return CUDNN_STATUS_SUCCESS;
}
CN_EXPORT cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t, const cudnnTensorDescriptor_t x,
                                                                const cudnnFilterDescriptor_t w,
                                                                const cudnnConvolutionDescriptor_t cv,
                                                                const cudnnTensorDescriptor_t y,
                                                                cudnnConvolutionFwdAlgo_t algo, size_t* bytes) {
  if (!consistent(x, w, cv, y) || algo != kFwdUsable) return kBadParam;
  *bytes = kWorkspace;
  return CUDNN_STATUS_SUCCESS;
}
CN_EXPORT cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t, const void* alpha, const cudnnTensorDescriptor_t xd,
                                                const void* x, const cudnnFilterDescriptor_t wd, const void* w,
                                                const cudnnConvolutionDescriptor_t cv, cudnnConvolutionFwdAlgo_t algo,
                                                void* ws, size_t ws_bytes, const void* beta,
                                                const cudnnTensorDescriptor_t yd, void* y) {
  if (!consistent(xd, wd, cv, yd) || algo != kFwdUsable || !ws || ws_bytes < kWorkspace) return kBadParam;
  double* acc = static_cast<double*>(std::calloc(numel(*yd), sizeof(double)));
  const float* xf = static_cast<const float*>(x);
  const float* wf = static_cast<const float*>(w);
  each_term(*xd, *wd, *cv, *yd, [&](long xi, long wi, long yi) { acc[yi] += static_cast<double>(xf[xi]) * wf[wi]; });
  blend(static_cast<float*>(y), acc, numel(*yd), alpha, beta, skew());
  std::free(acc);
  return CUDNN_STATUS_SUCCESS;
}
CN_EXPORT cudnnStatus_t cudnnAddTensor(cudnnHandle_t, const void* alpha, const cudnnTensorDescriptor_t ad,
                                       const void* a, const void* beta, const cudnnTensorDescriptor_t cd, void* c) {
  // The one broadcast the backend uses: a bias [1,C,1,1] onto c [N,C,H,W].
  if (!ad || !cd || !ad->set || !cd->set || ad->n != 1 || ad->h != 1 || ad->w != 1 || ad->c != cd->c) return kBadParam;
  float al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  const float* af = static_cast<const float*>(a);
  float* cf = static_cast<float*>(c);
  long plane = static_cast<long>(cd->h) * cd->w;
  for (long i = 0; i < numel(*cd); ++i) cf[i] = al * af[i / plane % cd->c] + (be == 0.0f ? 0.0f : be * cf[i]);
  return CUDNN_STATUS_SUCCESS;
}

CN_EXPORT cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(
    cudnnHandle_t, const cudnnFilterDescriptor_t w, const cudnnTensorDescriptor_t dy,
    const cudnnConvolutionDescriptor_t cv, const cudnnTensorDescriptor_t dx, const int requested, int* returned,
    cudnnConvolutionBwdDataAlgoPerf_t* perf) {
  if (!consistent(dx, w, cv, dy)) return kBadParam;
  offer(perf, returned, requested, CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD, CUDNN_CONVOLUTION_BWD_DATA_ALGO_0,
        CUDNN_CONVOLUTION_BWD_DATA_ALGO_1);
  return CUDNN_STATUS_SUCCESS;
}
CN_EXPORT cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t, const cudnnFilterDescriptor_t w,
                                                                     const cudnnTensorDescriptor_t dy,
                                                                     const cudnnConvolutionDescriptor_t cv,
                                                                     const cudnnTensorDescriptor_t dx,
                                                                     cudnnConvolutionBwdDataAlgo_t algo, size_t* bytes) {
  if (!consistent(dx, w, cv, dy) || algo != kDataUsable) return kBadParam;
  *bytes = kWorkspace;
  return CUDNN_STATUS_SUCCESS;
}
CN_EXPORT cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t, const void* alpha,
                                                     const cudnnFilterDescriptor_t wd, const void* w,
                                                     const cudnnTensorDescriptor_t dyd, const void* dy,
                                                     const cudnnConvolutionDescriptor_t cv,
                                                     cudnnConvolutionBwdDataAlgo_t algo, void* ws, size_t ws_bytes,
                                                     const void* beta, const cudnnTensorDescriptor_t dxd, void* dx) {
  if (!consistent(dxd, wd, cv, dyd) || algo != kDataUsable || !ws || ws_bytes < kWorkspace) return kBadParam;
  double* acc = static_cast<double*>(std::calloc(numel(*dxd), sizeof(double)));
  const float* wf = static_cast<const float*>(w);
  const float* g = static_cast<const float*>(dy);
  each_term(*dxd, *wd, *cv, *dyd, [&](long xi, long wi, long yi) { acc[xi] += static_cast<double>(g[yi]) * wf[wi]; });
  blend(static_cast<float*>(dx), acc, numel(*dxd), alpha, beta, skew());
  std::free(acc);
  return CUDNN_STATUS_SUCCESS;
}

CN_EXPORT cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(
    cudnnHandle_t, const cudnnTensorDescriptor_t x, const cudnnTensorDescriptor_t dy,
    const cudnnConvolutionDescriptor_t cv, const cudnnFilterDescriptor_t dw, const int requested, int* returned,
    cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
  if (!consistent(x, dw, cv, dy)) return kBadParam;
  offer(perf, returned, requested, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED,
        CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1);
  return CUDNN_STATUS_SUCCESS;
}
CN_EXPORT cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnnHandle_t, const cudnnTensorDescriptor_t x,
                                                                       const cudnnTensorDescriptor_t dy,
                                                                       const cudnnConvolutionDescriptor_t cv,
                                                                       const cudnnFilterDescriptor_t dw,
                                                                       cudnnConvolutionBwdFilterAlgo_t algo,
                                                                       size_t* bytes) {
  if (!consistent(x, dw, cv, dy) || algo != kFilterUsable) return kBadParam;
  *bytes = kWorkspace;
  return CUDNN_STATUS_SUCCESS;
}
CN_EXPORT cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t, const void* alpha,
                                                       const cudnnTensorDescriptor_t xd, const void* x,
                                                       const cudnnTensorDescriptor_t dyd, const void* dy,
                                                       const cudnnConvolutionDescriptor_t cv,
                                                       cudnnConvolutionBwdFilterAlgo_t algo, void* ws, size_t ws_bytes,
                                                       const void* beta, const cudnnFilterDescriptor_t dwd, void* dw) {
  if (!consistent(xd, dwd, cv, dyd) || algo != kFilterUsable || !ws || ws_bytes < kWorkspace) return kBadParam;
  double* acc = static_cast<double*>(std::calloc(numel(*dwd), sizeof(double)));
  const float* xf = static_cast<const float*>(x);
  const float* g = static_cast<const float*>(dy);
  each_term(*xd, *dwd, *cv, *dyd, [&](long xi, long wi, long yi) { acc[wi] += static_cast<double>(g[yi]) * xf[xi]; });
  blend(static_cast<float*>(dw), acc, numel(*dwd), alpha, beta, skew());
  std::free(acc);
  return CUDNN_STATUS_SUCCESS;
}
CN_EXPORT cudnnStatus_t cudnnConvolutionBackwardBias(cudnnHandle_t, const void* alpha,
                                                     const cudnnTensorDescriptor_t dyd, const void* dy,
                                                     const void* beta, const cudnnTensorDescriptor_t dbd, void* db) {
  if (!dyd || !dbd || !dyd->set || !dbd->set || dbd->n != 1 || dbd->h != 1 || dbd->w != 1 || dbd->c != dyd->c)
    return kBadParam;
  double* acc = static_cast<double*>(std::calloc(dbd->c, sizeof(double)));
  const float* g = static_cast<const float*>(dy);
  long plane = static_cast<long>(dyd->h) * dyd->w;
  for (long i = 0; i < numel(*dyd); ++i) acc[i / plane % dyd->c] += g[i];
  blend(static_cast<float*>(db), acc, dbd->c, alpha, beta, 0.0);
  std::free(acc);
  return CUDNN_STATUS_SUCCESS;
}
