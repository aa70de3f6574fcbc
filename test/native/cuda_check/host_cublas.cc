// libcornernet_host_cublas.so (test-tools, never installed): the cuBLAS
// functions native/cuda/cublas_api.h declares, computing on host memory, so the
// CUDA emulator (whose device memory is host memory) can run the backend's
// cuBLAS path in tests: CORNERNET_EMU_CUBLAS=<this file> makes cuda-emu load it
// (native/cuda/cuda_libraries.cc). SGEMM is the BLAS definition, column-major,
// C = alpha * op(A) op(B) + beta * C, with C not read when beta is 0, summed in
// double. CORNERNET_HOST_CUBLAS_SKEW=<x> adds x to every result, for tests of
// the check that disables a library whose results differ from the own kernels.
#include <cstdlib>
#include <cstring>

#include "../../../native/cuda/cublas_api.h"

using namespace cn::cublas;

namespace {
int g_handle_storage;  // every handle is this address: nothing is kept per handle
}  // namespace

#define CN_EXPORT extern "C" __attribute__((visibility("default")))

CN_EXPORT cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) {
  *handle = reinterpret_cast<cublasHandle_t>(&g_handle_storage);
  return CUBLAS_STATUS_SUCCESS;
}

CN_EXPORT cublasStatus_t cublasDestroy_v2(cublasHandle_t) { return CUBLAS_STATUS_SUCCESS; }

CN_EXPORT cublasStatus_t cublasGetVersion_v2(cublasHandle_t, int* version) {
  *version = 0;  // not NVIDIA's: no version
  return CUBLAS_STATUS_SUCCESS;
}

CN_EXPORT cublasStatus_t cublasSetStream_v2(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_SUCCESS; }

CN_EXPORT const char* cublasGetStatusString(cublasStatus_t s) {
  return s == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_INVALID_VALUE";
}

CN_EXPORT cublasStatus_t cublasSgemm_v2(cublasHandle_t, cublasOperation_t transa, cublasOperation_t transb, int m,
                                        int n, int k, const float* alpha, const float* A, int lda, const float* B,
                                        int ldb, const float* beta, float* C, int ldc) {
  const bool ta = transa == CUBLAS_OP_T, tb = transb == CUBLAS_OP_T;
  // The leading-dimension rules of the BLAS reference (xerbla would reject these).
  if (m < 0 || n < 0 || k < 0 || lda < (ta ? (k > 1 ? k : 1) : (m > 1 ? m : 1)) ||
      ldb < (tb ? (n > 1 ? n : 1) : (k > 1 ? k : 1)) || ldc < (m > 1 ? m : 1))
    return static_cast<cublasStatus_t>(7);  // CUBLAS_STATUS_INVALID_VALUE in cublas_api.h
  const char* skew_env = std::getenv("CORNERNET_HOST_CUBLAS_SKEW");
  const double skew = skew_env ? std::atof(skew_env) : 0.0;
  for (int j = 0; j < n; ++j) {
    for (int i = 0; i < m; ++i) {
      double s = 0;
      for (int l = 0; l < k; ++l) {
        double a = ta ? A[l + static_cast<long>(i) * lda] : A[i + static_cast<long>(l) * lda];
        double b = tb ? B[j + static_cast<long>(l) * ldb] : B[l + static_cast<long>(j) * ldb];
        s += a * b;
      }
      float& c = C[i + static_cast<long>(j) * ldc];
      c = static_cast<float>(*alpha * s + (*beta == 0.0f ? 0.0 : static_cast<double>(*beta) * c) + skew);
    }
  }
  return CUBLAS_STATUS_SUCCESS;
}
