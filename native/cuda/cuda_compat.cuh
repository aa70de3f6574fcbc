// Lets native/cuda's source build two ways: for a real GPU (kernels and their
// launches in .cu files by nvcc, host-only .cc files by the C++ compiler against
// the CUDA runtime), and, with CN_CUDA_EMU defined, everything by g++ against
// native/cuda_emu (the emulated device used in CI). Kernels are written once, in
// plain CUDA, without `<<<>>>`; launches and dynamic shared memory go through the
// two macros below.
//
//   CN_LAUNCH(kernel, grid, block, shared_bytes, stream)(args...);
//   CN_DYNAMIC_SHARED(float, tile);   // inside a kernel: this block's dynamic shared memory
#pragma once
#include "../engine/error.h"

#if defined(CN_CUDA_EMU)
#include "../cuda_emu/emu.h"
#else
#include <cuda_runtime.h>
#if defined(__CUDACC__)
#define CN_LAUNCH(kernel, grid, block, smem, stream) kernel<<<(grid), (block), (smem), (stream)>>>
#define CN_DYNAMIC_SHARED(T, name)                                  \
  extern __shared__ __align__(16) unsigned char cn_dynamic_smem_[]; \
  T* name = reinterpret_cast<T*>(cn_dynamic_smem_)
#endif
#endif

// Throws cn::Error naming the failed call and CUDA's reason.
#define CN_CUDA_CHECK(expr)                                                     \
  do {                                                                          \
    cudaError_t cn_err_ = (expr);                                               \
    if (cn_err_ != cudaSuccess) ::cn::fail("CUDA: ", #expr, " failed: ", cudaGetErrorString(cn_err_)); \
  } while (0)
