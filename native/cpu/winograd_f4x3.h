// Winograd F(4x4, 3x3) tile transforms (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016): a 6x6 input tile d and a 3x3 kernel g
// give the 4x4 outputs Y = A^T [(G g G^T) . (B^T d B)] A, 36 multiplies instead
// of 144. The element-wise products over channels become 36 GEMMs. The
// gradients are its adjoints, from the same M = A dY A^T of each output tile:
// the input's is B (U^T M) B^T, overlap-added (tiles overlap by 2), and the
// weight's dU = sum over tiles of M . (B^T d B), 36 GEMMs over the tiles, then
// dg = G^T dU G.
//
// This header holds the per-tile arithmetic only, with internal linkage: it is
// compiled once per ISA (winograd_f4x3_<isa>.cc) so the loops over tiles get
// that ISA's vectors, and copies built with different flags must never merge.
#pragma once
#include <cstdint>

namespace cn {

// The per-ISA entry points, used by conv2d_winograd.cc.
// Tiles cross these functions in "phase" layout: value (row i, column 4t + j)
// of a row of tiles sits at p[(4 * i + j) * pitch + t], so each loop over tiles
// reads and writes contiguous memory and runs one tile per vector lane.
struct WinogradF4x3Kernels {
  // One row of tiles of one channel: `in` holds the 6 padded input rows (phases
  // j = 0..3, tile index 0..tiles, one more than `tiles` since a tile's columns
  // 4 and 5 are columns 0 and 1 of the next). Writes the 36 transformed values
  // of tile t to v[xi * xi_stride + t], xi = 6 * row + column.
  void (*input_row)(const float* in, int64_t pitch, int64_t tiles, float* v, int64_t xi_stride);
  // The inverse: reads m[xi * xi_stride + t] and writes the 4 x 4 outputs of
  // tile t, plus `bias`, to out (4 rows x 4 phases, `pitch` apart).
  void (*output_row)(const float* m, int64_t xi_stride, int64_t tiles, float bias, float* out, int64_t pitch);
  // The weight gradient's transform of output gradients: `in` holds the 4 rows of
  // a row of tiles in phase layout (4 * row + phase, `pitch` apart); writes
  // (A dY A^T)[xi / 6, xi % 6] of tile t to m[xi * xi_stride + t].
  void (*gradient_row)(const float* in, int64_t pitch, int64_t tiles, float* m, int64_t xi_stride);
  // Kernels: g[(3 * r + s) * pitch + c] is tap (r, s) of kernel c (pitch rounded
  // up to whole vectors); writes (G g G^T)[xi / 6, xi % 6] to u[xi * xi_stride + c].
  void (*weight_row)(const float* g, int64_t pitch, int64_t count, float* u, int64_t xi_stride);
  // The adjoint of input_row, for the input gradient: the 6 x 6 values B X B^T
  // of tile t (X: its 36 values m[xi * xi_stride + t]) added into rows 0..5 of
  // acc (6 * pitch apart), planes j = 0..5 (pitch apart) at index t; planes 4
  // and 5 hold the columns that belong to tile t + 1's phases 0 and 1.
  void (*input_adjoint_row)(const float* m, int64_t xi_stride, int64_t tiles, float* acc, int64_t pitch);
  // Between plain rows and phase layout: dst[j * pitch + t] = src[4t + j] (and back).
  void (*to_phases)(const float* src, int64_t groups, float* dst, int64_t pitch);
  void (*from_phases)(const float* src, int64_t pitch, int64_t groups, float* dst);
  // A row of input_adjoint_row's six planes back to plain columns (planes 4, 5 folded into the next group).
  void (*from_adjoint_phases)(const float* src, int64_t pitch, int64_t groups, float* dst);
};

const WinogradF4x3Kernels& winograd_f4x3_portable();
const WinogradF4x3Kernels& winograd_f4x3_avx2();
const WinogradF4x3Kernels& winograd_f4x3_avx512();

}  // namespace cn
