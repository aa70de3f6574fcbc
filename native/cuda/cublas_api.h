// The part of cuBLAS's C API this backend calls, declared by hand: cuBLAS is
// optional, opened at run time (cuda_libraries.cc, dlopen of libcublas.so.13 /
// .12), and its headers are not on every machine that builds this package (the
// CUDA toolkit here ships none). Only what conv2d_cudnn.cc uses is here: SGEMM
// for 1x1 stride-1 convolutions when cuDNN is absent.
//
// Source of every declaration: the public cublas_api.h of cuBLAS 12.6.4
// (CUBLAS_VER_MAJOR 12, CUBLAS_VER_MINOR 6, CUBLAS_VER_PATCH 4; CUDA 12.6.3).
// The _v2 entry points are the exported symbols (cublas_v2.h maps cublasCreate
// etc. onto them). When a real cublas_api.h is found at build time
// (CUBLAS_INCLUDE_DIR, or the CUDA toolkit's include directory),
// library_api_check.cc asserts that everything below matches it.
//
// Note the file name equals the real header's: this one is always included as
// "cublas_api.h" from native/cuda, the real one only as <cublas_api.h> by the
// check file. Everything lives in namespace cn::cublas under cuBLAS's names.
#pragma once
#include "cuda_compat.cuh"  // cudaStream_t (real runtime, or the emulator's)

namespace cn {
namespace cublas {

// cublas_api.h (12.6.4): `struct cublasContext; typedef struct cublasContext* cublasHandle_t;`
struct cublasContext;
typedef cublasContext* cublasHandle_t;

// Fixed underlying type = what the header's plain enums get (unsigned int), so
// unnamed values stay representable; library_api_check.cc asserts it.

// cublas_api.h (12.6.4) `cublasStatus_t`: only SUCCESS is named here.
enum cublasStatus_t : unsigned int {
  CUBLAS_STATUS_SUCCESS = 0,
};

// cublas_api.h (12.6.4) `cublasOperation_t`
enum cublasOperation_t : unsigned int {
  CUBLAS_OP_N = 0,
  CUBLAS_OP_T = 1,
};

}  // namespace cublas
}  // namespace cn

// X(name, return type, (parameters)) as in cublas_api.h (12.6.4); CUBLASAPI and
// CUBLASWINAPI are empty for host code on Linux. Expanded like CN_CUDNN_FUNCTIONS
// (see cudnn_api.h).
#define CN_CUBLAS_FUNCTIONS(X)                                                                                      \
  X(cublasCreate_v2, cublasStatus_t, (cublasHandle_t * handle))                                                     \
  X(cublasDestroy_v2, cublasStatus_t, (cublasHandle_t handle))                                                      \
  X(cublasGetVersion_v2, cublasStatus_t, (cublasHandle_t handle, int* version))                                     \
  X(cublasSetStream_v2, cublasStatus_t, (cublasHandle_t handle, cudaStream_t streamId))                             \
  X(cublasGetStatusString, const char*, (cublasStatus_t status))                                                    \
  X(cublasSgemm_v2, cublasStatus_t,                                                                                 \
    (cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,                \
     const float* alpha, const float* A, int lda, const float* B, int ldb, const float* beta, float* C, int ldc))

namespace cn {
namespace cublas {
#define CN_CUBLAS_FN_TYPE(name, ret, params) using name##_fn = ret(*) params;
CN_CUBLAS_FUNCTIONS(CN_CUBLAS_FN_TYPE)
#undef CN_CUBLAS_FN_TYPE
}  // namespace cublas
}  // namespace cn
