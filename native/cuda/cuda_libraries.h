// Optional NVIDIA libraries, opened at run time: cuDNN (convolutions), cuBLAS
// (SGEMM, for 1x1 convolutions when cuDNN is absent) and NCCL (gradient
// all-reduce between GPU replicas and ranks, nccl_communicator.h). Nothing links
// them: the plugin dlopens their versioned sonames and dlsyms each function it
// declares (cudnn_api.h, cublas_api.h, nccl_api.h), so it loads and runs on its
// own kernels (and host-copy replica synchronisation) where they are missing. Loading never throws and never aborts; each library ends
// with a status saying what was found, or why not.
//
// One `Libraries` object per CudaBackend holds the handles (created on the
// backend's stream) and the convolution plans chosen per shape
// (conv2d_cudnn.cc). Environment: CORNERNET_CUDNN=0 / CORNERNET_CUBLAS=0 leave
// a library unloaded. On the CUDA emulator neither is loaded (its device
// memory is host memory), except libraries computing on host memory that tests
// name with CORNERNET_EMU_CUDNN / CORNERNET_EMU_CUBLAS=<path>
// (test/native/cuda_check/host_cudnn.cc, host_cublas.cc).
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "../engine/backend.h"
#include "cublas_api.h"
#include "cudnn_api.h"
#include "nccl_api.h"

namespace cn {
namespace cuda {

// Every function of cudnn_api.h, as loaded from the library.
struct CudnnApi {
#define CN_CUDNN_SLOT(name, ret, params) cudnn::name##_fn name = nullptr;
  CN_CUDNN_FUNCTIONS(CN_CUDNN_SLOT)
#undef CN_CUDNN_SLOT
};

// Every function of cublas_api.h, as loaded from the library.
struct CublasApi {
#define CN_CUBLAS_SLOT(name, ret, params) cublas::name##_fn name = nullptr;
  CN_CUBLAS_FUNCTIONS(CN_CUBLAS_SLOT)
#undef CN_CUBLAS_SLOT
};

// Every function of nccl_api.h, as loaded from the library.
struct NcclApi {
#define CN_NCCL_SLOT(name, ret, params) nccl::name##_fn name = nullptr;
  CN_NCCL_FUNCTIONS(CN_NCCL_SLOT)
#undef CN_NCCL_SLOT
};

// What dlopen + dlsym gave for one library.
struct LoadResult {
  bool found = false;       // opened, and every declared symbol resolved
  std::string soname;       // the soname that opened
  std::string path;         // the file it resolved to (dladdr)
  std::string why_not;      // when !found: every soname tried and dlerror's reason, or the missing symbol
};

// Default sonames, newest first.
const std::vector<std::string>& cudnn_sonames();   // libcudnn.so.9, libcudnn.so.8
const std::vector<std::string>& cublas_sonames();  // libcublas.so.13, libcublas.so.12
const std::vector<std::string>& nccl_sonames();    // libnccl.so.2

// Open the first soname that loads and resolve every function into *api. The
// library stays open on success (never dlclosed); on failure *api is left
// null-filled. Exposed with a soname list for tests of the failure paths.
LoadResult load_cudnn(const std::vector<std::string>& sonames, CudnnApi* api);
LoadResult load_cublas(const std::vector<std::string>& sonames, CublasApi* api);
LoadResult load_nccl(const std::vector<std::string>& sonames, NcclApi* api);

// The process's NCCL (loaded once, on first use; CORNERNET_NCCL=0 / on the
// emulator CORNERNET_EMU_NCCL): the functions, or nullptr with *why_not saying
// why (the sonames tried, the missing symbol, the variable that turned it off).
const NcclApi* process_nccl(std::string* why_not);
// NCCL's version as text: "2.21.5"; empty when NCCL is not loaded.
std::string process_nccl_version();
// cudnnGetVersion()'s number as text: 90600 -> "9.6.0" (cuDNN 9), 8907 -> "8.9.7" (cuDNN 8).
std::string cudnn_version_text(size_t v);
// cublasGetVersion's number as text: 120604 -> "12.6.4".
std::string cublas_version_text(int v);
// ncclGetVersion's number as text (NCCL_VERSION in nccl.h): 22105 -> "2.21.5" (2.9 and later), 2804 -> "2.8.4".
std::string nccl_version_text(int v);

// A chosen algorithm (cuDNN) or path (cuBLAS) for one convolution shape and direction.
struct ConvPlan {
  bool chosen = false;      // the library was asked once
  bool usable = false;      // false: the library has no algorithm within limits; this shape stays on own kernels
  int algo = -1;            // cuDNN algorithm enum value; -1 for cuBLAS
  size_t workspace = 0;     // bytes
  bool checked = false;     // compared once with the own kernel (see conv2d_cudnn.cc)
};

// Key of a plan: N, C, H, W, O, kh, kw, stride h/w, pad h/w, direction, library.
using ConvKey = std::vector<int64_t>;

class Libraries {
 public:
  enum Which { Cudnn = 0, Cublas = 1, Nccl = 2 };

  // Loads what the process has (once per process) and creates this backend's
  // handles on `stream`. Never throws: failures end up in status().
  Libraries(int device, cudaStream_t stream);
  ~Libraries();
  Libraries(const Libraries&) = delete;
  Libraries& operator=(const Libraries&) = delete;

  // Non-null while the library is loaded, its handle created and it is not disabled.
  const CudnnApi* cudnn() const { return enabled_[Cudnn] ? cudnn_api_ : nullptr; }
  const CublasApi* cublas() const { return enabled_[Cublas] ? cublas_api_ : nullptr; }
  cudnn::cudnnHandle_t cudnn_handle() const { return cudnn_handle_; }
  cublas::cublasHandle_t cublas_handle() const { return cublas_handle_; }

  // Stop using a library for the rest of this backend's life; `why` is shown in
  // status() and printed once to stderr.
  void disable(Which which, const std::string& why);
  // An op ran on the library (counted for status()).
  void count_use(Which which) { ++uses_[which]; }

  std::vector<BackendLibrary> status() const;

  // Plans by shape; conv2d_cudnn.cc fills them. Guarded by `mutex`.
  std::mutex mutex;
  std::map<ConvKey, ConvPlan> plans;
  // A device vector of ones for cuBLAS bias GEMMs (grown on demand by conv2d_cudnn.cc).
  Tensor ones;

 private:
  std::string device_name_;
  const CudnnApi* cudnn_api_ = nullptr;
  const CublasApi* cublas_api_ = nullptr;
  cudnn::cudnnHandle_t cudnn_handle_ = nullptr;
  cublas::cublasHandle_t cublas_handle_ = nullptr;
  bool enabled_[3] = {false, false, false};
  BackendLibrary info_[3];
  int64_t uses_[3] = {0, 0, 0};
};

}  // namespace cuda
}  // namespace cn
