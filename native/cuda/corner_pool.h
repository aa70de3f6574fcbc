// Host entry points of the corner-pool kernels, on device pointers to
// contiguous [planes, H, W] float32 data, enqueued on `stream`.
#pragma once
#include <cstdint>

#include "../engine/backend.h"
#include "cuda_compat.cuh"

namespace cn {
namespace cuda {

void corner_pool_forward(CornerPoolMode mode, const float* x, float* y, int64_t planes, int H, int W,
                         cudaStream_t stream);
// gx is overwritten.
void corner_pool_backward(CornerPoolMode mode, const float* x, const float* gy, float* gx, int64_t planes,
                          int H, int W, cudaStream_t stream);

}  // namespace cuda
}  // namespace cn
