// CornerNet's corner pools on the GPU: kernels, launches and the two entry points.
// Every output is a running max along one axis of the plane, so each kernel is
// a scan:
//   top / bottom (along H): one thread per column walks the rows; neighbouring
//     threads read neighbouring columns, so every row step is one coalesced load;
//   left / right (along W): one warp per row scans 32 columns at a time with
//     shuffles, carrying the running max from chunk to chunk.
// `kReverse` scans from the far end (top: from the last row; left: from the last
// column). Backward sends each output's gradient to the argmax of its window.
#include <cstdint>

#include "cuda_ops.h"

constexpr unsigned kCnFullWarp = 0xffffffffu;

// Whether `v`, met later in the scan, replaces the running max `m`. NaN wins and
// stays (as torch.cummax); on ties the later element wins, i.e. the position
// nearest to the outputs still ahead (the mmcv cummax rule). As an operator on
// (value, position) pairs this is a max over a total order, hence associative.
__device__ __forceinline__ bool cn_takes_over(float v, float m) {
  return v != v || (m == m && v >= m);
}

template <bool kReverse>
__global__ void corner_pool_cols_forward(const float* __restrict__ x, float* __restrict__ y,
                                         int64_t columns, int H, int W) {
  int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= columns) return;
  int64_t base = (t / W) * H * W + t % W;
  float m = -INFINITY;
  for (int s = 0; s < H; ++s) {
    int64_t at = base + static_cast<int64_t>(kReverse ? H - 1 - s : s) * W;
    float v = x[at];
    if (cn_takes_over(v, m)) m = v;
    y[at] = m;
  }
}

// The argmax only moves forward along the scan, so the gradient collected for the
// current argmax is written once when it is overtaken: every gx element is
// written exactly once, no zeroing, no atomics.
template <bool kReverse>
__global__ void corner_pool_cols_backward(const float* __restrict__ x, const float* __restrict__ gy,
                                          float* __restrict__ gx, int64_t columns, int H, int W) {
  int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= columns) return;
  int64_t base = (t / W) * H * W + t % W;
  float m = -INFINITY, acc = 0.f;
  int64_t arg = -1;
  for (int s = 0; s < H; ++s) {
    int64_t at = base + static_cast<int64_t>(kReverse ? H - 1 - s : s) * W;
    float v = x[at];
    if (cn_takes_over(v, m)) {
      if (arg >= 0) gx[arg] = acc;
      m = v;
      arg = at;
      acc = 0.f;
    } else {
      gx[at] = 0.f;
    }
    acc += gy[at];
  }
  gx[arg] = acc;
}

// One warp per row; blockDim.x is a multiple of 32 so a warp never straddles rows.
template <bool kReverse>
__global__ void corner_pool_rows_forward(const float* __restrict__ x, float* __restrict__ y,
                                         int64_t rows, int W) {
  int64_t row = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  int lane = threadIdx.x % 32;
  if (row >= rows) return;  // the whole warp leaves together
  const float* xr = x + row * W;
  float* yr = y + row * W;
  float carry = -INFINITY;
  for (int c0 = 0; c0 < W; c0 += 32) {
    int s = c0 + lane;  // position in scan order; lanes past the end sit at the tail
    int col = kReverse ? W - 1 - s : s;
    float v = s < W ? xr[col] : -INFINITY;
    for (int d = 1; d < 32; d <<= 1) {
      float earlier = __shfl_up_sync(kCnFullWarp, v, d);
      if (lane >= d && !cn_takes_over(v, earlier)) v = earlier;
    }
    if (!cn_takes_over(v, carry)) v = carry;
    if (s < W) yr[col] = v;
    carry = __shfl_sync(kCnFullWarp, v, 31);
  }
}

// The same scan on (value, position) pairs finds each output's argmax; several
// outputs of a chunk may share one, hence atomicAdd into gx (zeroed by the caller).
template <bool kReverse>
__global__ void corner_pool_rows_backward(const float* __restrict__ x, const float* __restrict__ gy,
                                          float* __restrict__ gx, int64_t rows, int W) {
  int64_t row = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const float* xr = x + row * W;
  const float* gyr = gy + row * W;
  float* gxr = gx + row * W;
  float carry = -INFINITY;
  int carry_at = -1;
  for (int c0 = 0; c0 < W; c0 += 32) {
    int s = c0 + lane;
    int col = kReverse ? W - 1 - s : s;
    float v = s < W ? xr[col] : -INFINITY;
    int at = s;
    for (int d = 1; d < 32; d <<= 1) {
      float earlier = __shfl_up_sync(kCnFullWarp, v, d);
      int earlier_at = __shfl_up_sync(kCnFullWarp, at, d);
      if (lane >= d && !cn_takes_over(v, earlier)) {
        v = earlier;
        at = earlier_at;
      }
    }
    if (carry_at >= 0 && !cn_takes_over(v, carry)) {
      v = carry;
      at = carry_at;
    }
    if (s < W) atomicAdd(&gxr[kReverse ? W - 1 - at : at], gyr[col]);
    carry = __shfl_sync(kCnFullWarp, v, 31);
    carry_at = __shfl_sync(kCnFullWarp, at, 31);
  }
}

namespace cn {
namespace cuda {

namespace {
constexpr int kThreadsPerBlock = 256;
constexpr int kRowsPerBlock = kThreadsPerBlock / 32;

unsigned blocks_for(int64_t items, int per_block) {
  return static_cast<unsigned>((items + per_block - 1) / per_block);
}
}  // namespace

void corner_pool_forward(Ctx& ctx, CornerPoolMode mode, const Tensor& xt, Tensor& yt) {
  const float* x = xt.data();
  float* y = yt.data();
  const int64_t planes = xt.size(0) * xt.size(1);
  const int H = static_cast<int>(xt.size(2)), W = static_cast<int>(xt.size(3));
  cudaStream_t stream = ctx.stream;
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

void corner_pool_backward(Ctx& ctx, CornerPoolMode mode, const Tensor& xt, const Tensor& gyt, Tensor& gxt) {
  const float* x = xt.data();
  const float* gy = gyt.data();
  float* gx = gxt.data();
  const int64_t planes = xt.size(0) * xt.size(1);
  const int H = static_cast<int>(xt.size(2)), W = static_cast<int>(xt.size(3));
  cudaStream_t stream = ctx.stream;
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
