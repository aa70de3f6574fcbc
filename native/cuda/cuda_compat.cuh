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

#include <cstdint>

namespace cn {
namespace cuda {

// The block size of the kernels that do not need another (a power of two, so
// block_sum's tree works).
constexpr int kThreads = 256;

// Blocks for a grid-stride loop over `items`: enough to fill the device several
// times over, the loops stride past the rest; at least one, so a launch over
// nothing is still a valid launch.
inline unsigned grid_for(int64_t items, int64_t max_blocks = 4096) {
  const int64_t b = (items + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > max_blocks ? max_blocks : b));
}

#if defined(__CUDACC__) || defined(CN_CUDA_EMU)  // device code: not for the plugin's host-only .cc files
// Tree sum of one double per thread over the block, in a fixed order (the same
// result on every run); every thread gets the total. `buf` holds blockDim.x
// doubles in shared memory; blockDim.x is a power of two.
__device__ __forceinline__ double block_sum(double v, double* buf) {
  buf[threadIdx.x] = v;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) buf[threadIdx.x] += buf[threadIdx.x + s];
    __syncthreads();
  }
  const double total = buf[0];
  __syncthreads();  // buf may be reused by the caller's next sum
  return total;
}
#endif

}  // namespace cuda
}  // namespace cn
