// The per-ISA builds of the corner pool line kernels (corner_pool_lines.h),
// as plain function pointers: the dispatcher in corner_pool.cc (baseline
// flags) owns threads and scratch memory, the ISA files only compute.
#pragma once
#include <cstdint>

namespace cn {

struct CornerPoolLineKernels {
  // Top/bottom over columns [c0, c1) of one H x W plane. Backward: `y` is
  // scratch for the recomputed forward plane, `pending` scratch for one row.
  void (*vertical_forward)(const float* x, float* y, int64_t H, int64_t W, int64_t c0, int64_t c1, bool from_bottom);
  void (*vertical_backward)(const float* x, float* y, const float* gy, float* gx, float* pending, int64_t H, int64_t W,
                            int64_t c0, int64_t c1, bool from_bottom);
  // Left/right over `rows` rows of width W: forward when gx is null (writes
  // y), else backward (writes gx). `scratch`: scratch_floats(W) floats.
  void (*horizontal)(bool from_right, const float* x, const float* gy, float* y, float* gx, float* scratch,
                     int64_t rows, int64_t W);
  int64_t (*scratch_floats)(int64_t W);
};

// The baseline build (SSE2 on x86-64, scalar elsewhere).
const CornerPoolLineKernels& corner_pool_kernels_baseline();
// The AVX2 build, or nullptr when this binary has none (non-x86 targets).
const CornerPoolLineKernels* corner_pool_kernels_avx2();

}  // namespace cn
