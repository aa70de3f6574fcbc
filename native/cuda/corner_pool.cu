// Launches of the corner-pool kernels. Compiled by nvcc for the GPU plugin and
// by g++ (through native/cuda_emu/corner_pool.cc) for the emulated device.
#include "corner_pool.h"

#include "kernels/corner_pool.cuh"

namespace cn {
namespace cuda {

namespace {
constexpr int kThreadsPerBlock = 256;
constexpr int kRowsPerBlock = kThreadsPerBlock / 32;

unsigned blocks_for(int64_t items, int per_block) {
  return static_cast<unsigned>((items + per_block - 1) / per_block);
}
}  // namespace

void corner_pool_forward(CornerPoolMode mode, const float* x, float* y, int64_t planes, int H, int W,
                         cudaStream_t stream) {
  if (planes == 0 || H == 0 || W == 0) return;
  const int64_t columns = planes * W, rows = planes * H;
  const unsigned col_grid = blocks_for(columns, kThreadsPerBlock), row_grid = blocks_for(rows, kRowsPerBlock);
  switch (mode) {
    case CornerPoolMode::Top:
      CN_LAUNCH(corner_pool_cols_forward<true>, col_grid, kThreadsPerBlock, 0, stream)(x, y, columns, H, W);
      break;
    case CornerPoolMode::Bottom:
      CN_LAUNCH(corner_pool_cols_forward<false>, col_grid, kThreadsPerBlock, 0, stream)(x, y, columns, H, W);
      break;
    case CornerPoolMode::Left:
      CN_LAUNCH(corner_pool_rows_forward<true>, row_grid, kThreadsPerBlock, 0, stream)(x, y, rows, W);
      break;
    case CornerPoolMode::Right:
      CN_LAUNCH(corner_pool_rows_forward<false>, row_grid, kThreadsPerBlock, 0, stream)(x, y, rows, W);
      break;
  }
  CN_CUDA_CHECK(cudaGetLastError());
}

void corner_pool_backward(CornerPoolMode mode, const float* x, const float* gy, float* gx, int64_t planes,
                          int H, int W, cudaStream_t stream) {
  if (planes == 0 || H == 0 || W == 0) return;
  const int64_t columns = planes * W, rows = planes * H;
  const unsigned col_grid = blocks_for(columns, kThreadsPerBlock), row_grid = blocks_for(rows, kRowsPerBlock);
  switch (mode) {
    case CornerPoolMode::Top:
      CN_LAUNCH(corner_pool_cols_backward<true>, col_grid, kThreadsPerBlock, 0, stream)(x, gy, gx, columns, H, W);
      break;
    case CornerPoolMode::Bottom:
      CN_LAUNCH(corner_pool_cols_backward<false>, col_grid, kThreadsPerBlock, 0, stream)(x, gy, gx, columns, H, W);
      break;
    case CornerPoolMode::Left:
    case CornerPoolMode::Right: {
      CN_CUDA_CHECK(cudaMemsetAsync(gx, 0, static_cast<size_t>(rows) * W * sizeof(float), stream));
      if (mode == CornerPoolMode::Left)
        CN_LAUNCH(corner_pool_rows_backward<true>, row_grid, kThreadsPerBlock, 0, stream)(x, gy, gx, rows, W);
      else
        CN_LAUNCH(corner_pool_rows_backward<false>, row_grid, kThreadsPerBlock, 0, stream)(x, gy, gx, rows, W);
      break;
    }
  }
  CN_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace cn
