// Compiled only when CMake finds a real cudnn.h (CN_CHECK_CUDNN), cublas_api.h
// (CN_CHECK_CUBLAS) and/or nccl.h (CN_CHECK_NCCL): asserts that the hand
// declarations in cudnn_api.h / cublas_api.h / nccl_api.h match the vendor's header. A mismatch fails the
// build. Nothing here runs; the object holds no code.
//
// What is compared, for each library:
// - every function: the signature written in CN_*_FUNCTIONS, expanded outside
//   namespace cn so its type names resolve to the real header's types, must be
//   std::is_same with decltype(&::<name>) (return type and every parameter);
// - every type used in those signatures: ours is ABI-identical to the real one
//   (enums: same underlying type and every enumerator we name has the real
//   value; handles/descriptors: pointers; structs: same size and each field at
//   the same offset with the corresponding type).
#include <cstddef>
#include <type_traits>

#if defined(CN_CHECK_CUDNN)
#include <cudnn.h>
#endif
#if defined(CN_CHECK_CUBLAS)
#ifndef CUBLASAPI
#define CUBLASAPI  // what cublas_v2.h defines for host code before including cublas_api.h
#endif
#include <cublas_api.h>
#endif
#if defined(CN_CHECK_NCCL)
#include <nccl.h>
#endif

#include "cublas_api.h"
#include "cudnn_api.h"
#include "nccl_api.h"

namespace {

template <class Ours, class Real>
constexpr bool same_enum() {
  return std::is_enum<Ours>::value && std::is_enum<Real>::value &&
         std::is_same<typename std::underlying_type<Ours>::type, typename std::underlying_type<Real>::type>::value;
}

template <class Ours, class Real>
constexpr bool same_pointer() {
  return std::is_pointer<Ours>::value && std::is_pointer<Real>::value && sizeof(Ours) == sizeof(Real);
}

}  // namespace

#define CN_SAME_SIGNATURE(name, ret, params)                                                                \
  static_assert(std::is_same<real_signatures::name##_fn, decltype(&::name)>::value,                        \
                #name ": the declaration in native/cuda does not match the real header's signature");

#define CN_SAME_VALUE(ns, value) static_assert(static_cast<long long>(cn::ns::value) == static_cast<long long>(::value), \
                                               #value ": value differs from the real header");

#define CN_SAME_FIELD(ns, type, field)                                                                         \
  static_assert(offsetof(cn::ns::type, field) == offsetof(::type, field), #type "." #field ": offset differs"); \
  static_assert(sizeof(cn::ns::type::field) == sizeof(::type::field), #type "." #field ": size differs");

#if defined(CN_CHECK_CUDNN)
namespace real_signatures {
#define CN_REAL_FN_TYPE(name, ret, params) using name##_fn = ret(*) params;
CN_CUDNN_FUNCTIONS(CN_REAL_FN_TYPE)
#undef CN_REAL_FN_TYPE
}  // namespace real_signatures
CN_CUDNN_FUNCTIONS(CN_SAME_SIGNATURE)

static_assert(same_pointer<cn::cudnn::cudnnHandle_t, ::cudnnHandle_t>(), "cudnnHandle_t");
static_assert(same_pointer<cn::cudnn::cudnnTensorDescriptor_t, ::cudnnTensorDescriptor_t>(), "cudnnTensorDescriptor_t");
static_assert(same_pointer<cn::cudnn::cudnnFilterDescriptor_t, ::cudnnFilterDescriptor_t>(), "cudnnFilterDescriptor_t");
static_assert(same_pointer<cn::cudnn::cudnnConvolutionDescriptor_t, ::cudnnConvolutionDescriptor_t>(),
              "cudnnConvolutionDescriptor_t");

static_assert(same_enum<cn::cudnn::cudnnStatus_t, ::cudnnStatus_t>(), "cudnnStatus_t");
static_assert(same_enum<cn::cudnn::cudnnDataType_t, ::cudnnDataType_t>(), "cudnnDataType_t");
static_assert(same_enum<cn::cudnn::cudnnMathType_t, ::cudnnMathType_t>(), "cudnnMathType_t");
static_assert(same_enum<cn::cudnn::cudnnTensorFormat_t, ::cudnnTensorFormat_t>(), "cudnnTensorFormat_t");
static_assert(same_enum<cn::cudnn::cudnnConvolutionMode_t, ::cudnnConvolutionMode_t>(), "cudnnConvolutionMode_t");
static_assert(same_enum<cn::cudnn::cudnnDeterminism_t, ::cudnnDeterminism_t>(), "cudnnDeterminism_t");
static_assert(same_enum<cn::cudnn::cudnnConvolutionFwdAlgo_t, ::cudnnConvolutionFwdAlgo_t>(), "cudnnConvolutionFwdAlgo_t");
static_assert(same_enum<cn::cudnn::cudnnConvolutionBwdDataAlgo_t, ::cudnnConvolutionBwdDataAlgo_t>(),
              "cudnnConvolutionBwdDataAlgo_t");
static_assert(same_enum<cn::cudnn::cudnnConvolutionBwdFilterAlgo_t, ::cudnnConvolutionBwdFilterAlgo_t>(),
              "cudnnConvolutionBwdFilterAlgo_t");

CN_SAME_VALUE(cudnn, CUDNN_STATUS_SUCCESS)
CN_SAME_VALUE(cudnn, CUDNN_DATA_FLOAT)
CN_SAME_VALUE(cudnn, CUDNN_DEFAULT_MATH)
CN_SAME_VALUE(cudnn, CUDNN_TENSOR_OP_MATH)
CN_SAME_VALUE(cudnn, CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)
CN_SAME_VALUE(cudnn, CUDNN_FMA_MATH)
CN_SAME_VALUE(cudnn, CUDNN_TENSOR_NCHW)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION)
CN_SAME_VALUE(cudnn, CUDNN_CROSS_CORRELATION)
CN_SAME_VALUE(cudnn, CUDNN_NON_DETERMINISTIC)
CN_SAME_VALUE(cudnn, CUDNN_DETERMINISTIC)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION_FWD_ALGO_GEMM)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION_FWD_ALGO_DIRECT)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION_FWD_ALGO_FFT)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION_FWD_ALGO_COUNT)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION_BWD_DATA_ALGO_0)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION_BWD_DATA_ALGO_1)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING)
CN_SAME_VALUE(cudnn, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT)

#define CN_SAME_PERF_STRUCT(type)                                            \
  static_assert(sizeof(cn::cudnn::type) == sizeof(::type), #type ": size differs"); \
  CN_SAME_FIELD(cudnn, type, algo)                                           \
  CN_SAME_FIELD(cudnn, type, status)                                         \
  CN_SAME_FIELD(cudnn, type, time)                                           \
  CN_SAME_FIELD(cudnn, type, memory)                                         \
  CN_SAME_FIELD(cudnn, type, determinism)                                    \
  CN_SAME_FIELD(cudnn, type, mathType)                                       \
  CN_SAME_FIELD(cudnn, type, reserved)
CN_SAME_PERF_STRUCT(cudnnConvolutionFwdAlgoPerf_t)
CN_SAME_PERF_STRUCT(cudnnConvolutionBwdDataAlgoPerf_t)
CN_SAME_PERF_STRUCT(cudnnConvolutionBwdFilterAlgoPerf_t)
// Field types, not only sizes: the real struct's enum fields are the real enums.
static_assert(std::is_same<decltype(::cudnnConvolutionFwdAlgoPerf_t::algo), ::cudnnConvolutionFwdAlgo_t>::value &&
                  std::is_same<decltype(::cudnnConvolutionBwdDataAlgoPerf_t::algo), ::cudnnConvolutionBwdDataAlgo_t>::value &&
                  std::is_same<decltype(::cudnnConvolutionBwdFilterAlgoPerf_t::algo), ::cudnnConvolutionBwdFilterAlgo_t>::value &&
                  std::is_same<decltype(::cudnnConvolutionFwdAlgoPerf_t::status), ::cudnnStatus_t>::value &&
                  std::is_same<decltype(::cudnnConvolutionFwdAlgoPerf_t::time), float>::value &&
                  std::is_same<decltype(::cudnnConvolutionFwdAlgoPerf_t::memory), size_t>::value &&
                  std::is_same<decltype(::cudnnConvolutionFwdAlgoPerf_t::determinism), ::cudnnDeterminism_t>::value &&
                  std::is_same<decltype(::cudnnConvolutionFwdAlgoPerf_t::mathType), ::cudnnMathType_t>::value &&
                  std::is_same<decltype(::cudnnConvolutionFwdAlgoPerf_t::reserved), int[3]>::value,
              "cudnn*AlgoPerf_t: field types differ");
#endif  // CN_CHECK_CUDNN

#if defined(CN_CHECK_CUBLAS)
namespace real_signatures {
#define CN_REAL_FN_TYPE(name, ret, params) using name##_fn = ret(*) params;
CN_CUBLAS_FUNCTIONS(CN_REAL_FN_TYPE)
#undef CN_REAL_FN_TYPE
}  // namespace real_signatures
CN_CUBLAS_FUNCTIONS(CN_SAME_SIGNATURE)

static_assert(same_pointer<cn::cublas::cublasHandle_t, ::cublasHandle_t>(), "cublasHandle_t");
static_assert(same_enum<cn::cublas::cublasStatus_t, ::cublasStatus_t>(), "cublasStatus_t");
static_assert(same_enum<cn::cublas::cublasOperation_t, ::cublasOperation_t>(), "cublasOperation_t");
CN_SAME_VALUE(cublas, CUBLAS_STATUS_SUCCESS)
CN_SAME_VALUE(cublas, CUBLAS_OP_N)
CN_SAME_VALUE(cublas, CUBLAS_OP_T)
#endif  // CN_CHECK_CUBLAS

#if defined(CN_CHECK_NCCL)
namespace real_signatures {
#define CN_REAL_FN_TYPE(name, ret, params) using name##_fn = ret(*) params;
CN_NCCL_FUNCTIONS(CN_REAL_FN_TYPE)
#undef CN_REAL_FN_TYPE
}  // namespace real_signatures
CN_NCCL_FUNCTIONS(CN_SAME_SIGNATURE)

static_assert(same_pointer<cn::nccl::ncclComm_t, ::ncclComm_t>(), "ncclComm_t");
static_assert(sizeof(cn::nccl::ncclUniqueId) == sizeof(::ncclUniqueId) && NCCL_UNIQUE_ID_BYTES == cn::nccl::kUniqueIdBytes,
              "ncclUniqueId: size differs");
static_assert(std::is_same<decltype(::ncclUniqueId::internal), char[cn::nccl::kUniqueIdBytes]>::value,
              "ncclUniqueId.internal: type differs");
static_assert(same_enum<cn::nccl::ncclResult_t, ::ncclResult_t>(), "ncclResult_t");
static_assert(same_enum<cn::nccl::ncclRedOp_t, ::ncclRedOp_t>(), "ncclRedOp_t");
static_assert(same_enum<cn::nccl::ncclDataType_t, ::ncclDataType_t>(), "ncclDataType_t");
CN_SAME_VALUE(nccl, ncclSuccess)
CN_SAME_VALUE(nccl, ncclUnhandledCudaError)
CN_SAME_VALUE(nccl, ncclSystemError)
CN_SAME_VALUE(nccl, ncclInternalError)
CN_SAME_VALUE(nccl, ncclInvalidArgument)
CN_SAME_VALUE(nccl, ncclInvalidUsage)
CN_SAME_VALUE(nccl, ncclRemoteError)
CN_SAME_VALUE(nccl, ncclInProgress)
CN_SAME_VALUE(nccl, ncclSum)
CN_SAME_VALUE(nccl, ncclUint8)
CN_SAME_VALUE(nccl, ncclFloat32)
CN_SAME_VALUE(nccl, ncclFloat64)
#endif  // CN_CHECK_NCCL
