// The part of cuDNN's C API this backend calls, declared by hand: cuDNN's
// headers are not installable on the machines that build this package, and the
// library is optional, opened at run time (cuda_libraries.cc, dlopen of
// libcudnn.so.9 / .8). Only what conv2d_cudnn.cc uses is here.
//
// Source of every declaration: the public cuDNN 9.6.0 headers (cudnn_graph.h,
// cudnn_ops.h, cudnn_cnn.h; CUDNN_MAJOR 9, CUDNN_MINOR 6, CUDNN_PATCHLEVEL 0).
// Each item names its header. The legacy convolution API used here has the same
// signatures, enum values and perf-struct layout in cuDNN 8 (cudnn_ops_infer.h,
// cudnn_cnn_infer.h, cudnn_cnn_train.h), except cudnnStatus_t's error codes
// (renumbered in 9): this code only compares a status with
// CUDNN_STATUS_SUCCESS (0 in both) and gets text from cudnnGetErrorString.
//
// When a real cudnn.h is found at build time (CUDNN_INCLUDE_DIR),
// library_api_check.cc asserts that every type, enum value, struct layout and
// function signature below matches it.
//
// Everything lives in namespace cn::cudnn under cuDNN's own names, so the check
// file can include the real header (global namespace) next to this one.
#pragma once
#include <cstddef>

#include "cuda_compat.cuh"  // cudaStream_t (real runtime, or the emulator's)

namespace cn {
namespace cudnn {

// cudnn_graph.h (9.6.0): `struct cudnnContext; typedef struct cudnnContext *cudnnHandle_t;`
struct cudnnContext;
typedef cudnnContext* cudnnHandle_t;
// cudnn_ops.h (9.6.0): `typedef struct cudnnTensorStruct *cudnnTensorDescriptor_t;`
struct cudnnTensorStruct;
typedef cudnnTensorStruct* cudnnTensorDescriptor_t;
// cudnn_ops.h (9.6.0): `typedef struct cudnnFilterStruct *cudnnFilterDescriptor_t;`
struct cudnnFilterStruct;
typedef cudnnFilterStruct* cudnnFilterDescriptor_t;
// cudnn_cnn.h (9.6.0): `typedef struct cudnnConvolutionStruct *cudnnConvolutionDescriptor_t;`
struct cudnnConvolutionStruct;
typedef cudnnConvolutionStruct* cudnnConvolutionDescriptor_t;

// The enums below have a fixed underlying type equal to what the C headers'
// plain enums get (unsigned int: no negative enumerator), so that values this
// file does not name (other status codes, other algorithms) are representable;
// library_api_check.cc asserts the underlying types are the same.

// cudnn_graph.h (9.6.0) `cudnnStatus_t`: only SUCCESS is named here.
enum cudnnStatus_t : unsigned int {
  CUDNN_STATUS_SUCCESS = 0,
};

// cudnn_graph.h (9.6.0) `cudnnDataType_t`
enum cudnnDataType_t : unsigned int {
  CUDNN_DATA_FLOAT = 0,
};

// cudnn_graph.h (9.6.0) `cudnnMathType_t`
enum cudnnMathType_t : unsigned int {
  CUDNN_DEFAULT_MATH = 0,
  CUDNN_TENSOR_OP_MATH = 1,
  CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION = 2,
  CUDNN_FMA_MATH = 3,
};

// cudnn_graph.h (9.6.0) `cudnnTensorFormat_t`
enum cudnnTensorFormat_t : unsigned int {
  CUDNN_TENSOR_NCHW = 0,
};

// cudnn_graph.h (9.6.0) `cudnnConvolutionMode_t`
enum cudnnConvolutionMode_t : unsigned int {
  CUDNN_CONVOLUTION = 0,
  CUDNN_CROSS_CORRELATION = 1,
};

// cudnn_ops.h (9.6.0) `cudnnDeterminism_t`
enum cudnnDeterminism_t : unsigned int {
  CUDNN_NON_DETERMINISTIC = 0,
  CUDNN_DETERMINISTIC = 1,
};

// cudnn_ops.h (9.6.0) `cudnnConvolutionFwdAlgo_t` (named in messages)
enum cudnnConvolutionFwdAlgo_t : unsigned int {
  CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM = 0,
  CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM = 1,
  CUDNN_CONVOLUTION_FWD_ALGO_GEMM = 2,
  CUDNN_CONVOLUTION_FWD_ALGO_DIRECT = 3,
  CUDNN_CONVOLUTION_FWD_ALGO_FFT = 4,
  CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING = 5,
  CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD = 6,
  CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED = 7,
  CUDNN_CONVOLUTION_FWD_ALGO_COUNT = 8,
};

// cudnn_ops.h (9.6.0) `cudnnConvolutionBwdFilterAlgo_t`
enum cudnnConvolutionBwdFilterAlgo_t : unsigned int {
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 = 0,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1 = 1,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT = 2,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3 = 3,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD = 4,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED = 5,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING = 6,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT = 7,
};

// cudnn_ops.h (9.6.0) `cudnnConvolutionBwdDataAlgo_t`
enum cudnnConvolutionBwdDataAlgo_t : unsigned int {
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_0 = 0,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_1 = 1,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT = 2,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING = 3,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD = 4,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED = 5,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT = 6,
};

// cudnn_cnn.h (9.6.0) `cudnnConvolutionFwdAlgoPerf_t` (struct cudnnConvolutionFwdAlgoPerfStruct)
struct cudnnConvolutionFwdAlgoPerf_t {
  cudnnConvolutionFwdAlgo_t algo;
  cudnnStatus_t status;
  float time;
  size_t memory;
  cudnnDeterminism_t determinism;
  cudnnMathType_t mathType;
  int reserved[3];
};

// cudnn_cnn.h (9.6.0) `cudnnConvolutionBwdDataAlgoPerf_t` (struct cudnnConvolutionBwdDataAlgoPerfStruct)
struct cudnnConvolutionBwdDataAlgoPerf_t {
  cudnnConvolutionBwdDataAlgo_t algo;
  cudnnStatus_t status;
  float time;
  size_t memory;
  cudnnDeterminism_t determinism;
  cudnnMathType_t mathType;
  int reserved[3];
};

// cudnn_cnn.h (9.6.0) `cudnnConvolutionBwdFilterAlgoPerf_t` (struct cudnnConvolutionBwdFilterAlgoPerfStruct)
struct cudnnConvolutionBwdFilterAlgoPerf_t {
  cudnnConvolutionBwdFilterAlgo_t algo;
  cudnnStatus_t status;
  float time;
  size_t memory;
  cudnnDeterminism_t determinism;
  cudnnMathType_t mathType;
  int reserved[3];
};

}  // namespace cudnn
}  // namespace cn

// Every function used: X(name, return type, (parameters)), parameters spelled as
// in the cited header (CUDNNWINAPI is empty on Linux). The list is expanded in
// namespace cn::cudnn into `<name>_fn` pointer types (below), into the loader's
// symbol table (cuda_libraries.h), and, in library_api_check.cc, outside it
// against the real header's types to compare with decltype(&::<name>).
#define CN_CUDNN_FUNCTIONS(X)                                                                                          \
  /* cudnn_graph.h (9.6.0) */                                                                                          \
  X(cudnnGetVersion, size_t, (void))                                                                                   \
  X(cudnnGetErrorString, const char*, (cudnnStatus_t status))                                                          \
  X(cudnnCreate, cudnnStatus_t, (cudnnHandle_t * handle))                                                              \
  X(cudnnDestroy, cudnnStatus_t, (cudnnHandle_t handle))                                                               \
  X(cudnnSetStream, cudnnStatus_t, (cudnnHandle_t handle, cudaStream_t streamId))                                      \
  /* cudnn_ops.h (9.6.0) */                                                                                            \
  X(cudnnCreateTensorDescriptor, cudnnStatus_t, (cudnnTensorDescriptor_t * tensorDesc))                                \
  X(cudnnSetTensor4dDescriptor, cudnnStatus_t,                                                                         \
    (cudnnTensorDescriptor_t tensorDesc, cudnnTensorFormat_t format, cudnnDataType_t dataType, int n, int c, int h,    \
     int w))                                                                                                           \
  X(cudnnDestroyTensorDescriptor, cudnnStatus_t, (cudnnTensorDescriptor_t tensorDesc))                                 \
  X(cudnnAddTensor, cudnnStatus_t,                                                                                     \
    (cudnnHandle_t handle, const void* alpha, const cudnnTensorDescriptor_t aDesc, const void* A, const void* beta,    \
     const cudnnTensorDescriptor_t cDesc, void* C))                                                                    \
  X(cudnnCreateFilterDescriptor, cudnnStatus_t, (cudnnFilterDescriptor_t * filterDesc))                                \
  X(cudnnSetFilter4dDescriptor, cudnnStatus_t,                                                                         \
    (cudnnFilterDescriptor_t filterDesc, cudnnDataType_t dataType, cudnnTensorFormat_t format, int k, int c, int h,    \
     int w))                                                                                                           \
  X(cudnnDestroyFilterDescriptor, cudnnStatus_t, (cudnnFilterDescriptor_t filterDesc))                                 \
  /* cudnn_cnn.h (9.6.0) */                                                                                            \
  X(cudnnCreateConvolutionDescriptor, cudnnStatus_t, (cudnnConvolutionDescriptor_t * convDesc))                        \
  X(cudnnDestroyConvolutionDescriptor, cudnnStatus_t, (cudnnConvolutionDescriptor_t convDesc))                         \
  X(cudnnSetConvolutionMathType, cudnnStatus_t, (cudnnConvolutionDescriptor_t convDesc, cudnnMathType_t mathType))     \
  X(cudnnSetConvolution2dDescriptor, cudnnStatus_t,                                                                    \
    (cudnnConvolutionDescriptor_t convDesc, int pad_h, int pad_w, int u, int v, int dilation_h, int dilation_w,        \
     cudnnConvolutionMode_t mode, cudnnDataType_t computeType))                                                        \
  X(cudnnGetConvolutionForwardAlgorithm_v7, cudnnStatus_t,                                                             \
    (cudnnHandle_t handle, const cudnnTensorDescriptor_t srcDesc, const cudnnFilterDescriptor_t filterDesc,            \
     const cudnnConvolutionDescriptor_t convDesc, const cudnnTensorDescriptor_t destDesc,                              \
     const int requestedAlgoCount, int* returnedAlgoCount, cudnnConvolutionFwdAlgoPerf_t* perfResults))                \
  X(cudnnGetConvolutionForwardWorkspaceSize, cudnnStatus_t,                                                            \
    (cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc, const cudnnFilterDescriptor_t wDesc,                   \
     const cudnnConvolutionDescriptor_t convDesc, const cudnnTensorDescriptor_t yDesc, cudnnConvolutionFwdAlgo_t algo, \
     size_t* sizeInBytes))                                                                                             \
  X(cudnnConvolutionForward, cudnnStatus_t,                                                                            \
    (cudnnHandle_t handle, const void* alpha, const cudnnTensorDescriptor_t xDesc, const void* x,                      \
     const cudnnFilterDescriptor_t wDesc, const void* w, const cudnnConvolutionDescriptor_t convDesc,                  \
     cudnnConvolutionFwdAlgo_t algo, void* workSpace, size_t workSpaceSizeInBytes, const void* beta,                   \
     const cudnnTensorDescriptor_t yDesc, void* y))                                                                    \
  X(cudnnGetConvolutionBackwardDataAlgorithm_v7, cudnnStatus_t,                                                        \
    (cudnnHandle_t handle, const cudnnFilterDescriptor_t filterDesc, const cudnnTensorDescriptor_t diffDesc,           \
     const cudnnConvolutionDescriptor_t convDesc, const cudnnTensorDescriptor_t gradDesc,                              \
     const int requestedAlgoCount, int* returnedAlgoCount, cudnnConvolutionBwdDataAlgoPerf_t* perfResults))            \
  X(cudnnGetConvolutionBackwardDataWorkspaceSize, cudnnStatus_t,                                                       \
    (cudnnHandle_t handle, const cudnnFilterDescriptor_t wDesc, const cudnnTensorDescriptor_t dyDesc,                  \
     const cudnnConvolutionDescriptor_t convDesc, const cudnnTensorDescriptor_t dxDesc,                                \
     cudnnConvolutionBwdDataAlgo_t algo, size_t* sizeInBytes))                                                         \
  X(cudnnConvolutionBackwardData, cudnnStatus_t,                                                                       \
    (cudnnHandle_t handle, const void* alpha, const cudnnFilterDescriptor_t wDesc, const void* w,                      \
     const cudnnTensorDescriptor_t dyDesc, const void* dy, const cudnnConvolutionDescriptor_t convDesc,                \
     cudnnConvolutionBwdDataAlgo_t algo, void* workSpace, size_t workSpaceSizeInBytes, const void* beta,               \
     const cudnnTensorDescriptor_t dxDesc, void* dx))                                                                  \
  X(cudnnGetConvolutionBackwardFilterAlgorithm_v7, cudnnStatus_t,                                                      \
    (cudnnHandle_t handle, const cudnnTensorDescriptor_t srcDesc, const cudnnTensorDescriptor_t diffDesc,              \
     const cudnnConvolutionDescriptor_t convDesc, const cudnnFilterDescriptor_t gradDesc,                              \
     const int requestedAlgoCount, int* returnedAlgoCount, cudnnConvolutionBwdFilterAlgoPerf_t* perfResults))          \
  X(cudnnGetConvolutionBackwardFilterWorkspaceSize, cudnnStatus_t,                                                     \
    (cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc, const cudnnTensorDescriptor_t dyDesc,                  \
     const cudnnConvolutionDescriptor_t convDesc, const cudnnFilterDescriptor_t gradDesc,                              \
     cudnnConvolutionBwdFilterAlgo_t algo, size_t* sizeInBytes))                                                       \
  X(cudnnConvolutionBackwardFilter, cudnnStatus_t,                                                                     \
    (cudnnHandle_t handle, const void* alpha, const cudnnTensorDescriptor_t xDesc, const void* x,                      \
     const cudnnTensorDescriptor_t dyDesc, const void* dy, const cudnnConvolutionDescriptor_t convDesc,                \
     cudnnConvolutionBwdFilterAlgo_t algo, void* workSpace, size_t workSpaceSizeInBytes, const void* beta,             \
     const cudnnFilterDescriptor_t dwDesc, void* dw))                                                                  \
  X(cudnnConvolutionBackwardBias, cudnnStatus_t,                                                                       \
    (cudnnHandle_t handle, const void* alpha, const cudnnTensorDescriptor_t dyDesc, const void* dy, const void* beta,  \
     const cudnnTensorDescriptor_t dbDesc, void* db))

namespace cn {
namespace cudnn {
#define CN_CUDNN_FN_TYPE(name, ret, params) using name##_fn = ret(*) params;
CN_CUDNN_FUNCTIONS(CN_CUDNN_FN_TYPE)
#undef CN_CUDNN_FN_TYPE
}  // namespace cudnn
}  // namespace cn
