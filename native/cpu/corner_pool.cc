// CornerNet's corner pools: a running max along H (top, bottom) or W (left,
// right) of each NCHW plane.
//
// Forward, top/bottom: the running max is carried a whole row at a time
// (y[i] = max(x[i], y[i+-1]) element-wise across the row), so the inner loop is
// a vectorised max over contiguous memory. Left/right: the scan runs along each
// row, a chain of dependent maxes; eight rows are scanned side by side so the
// CPU has eight independent chains to overlap.
//
// Backward without scatter: the argmax of output i, ties going to the position
// nearest i, is the first position k met when walking from i towards the far
// edge with x[k] == y[k]. Walking the other way (from the near edge), each
// position k therefore collects the gradients of every output since the last
// such "record" position: pending += gy[k]; at a record gx[k] = pending and
// pending restarts at 0, elsewhere gx[k] = 0. So backward recomputes y (one
// pass) and then streams gy -> gx in the opposite direction (a second pass),
// both vectorisable across rows exactly like the forward. A NaN counts as a
// record: it wins every comparison after it, as in the forward.
#include <algorithm>
#include <vector>

#include "cpu_backend.h"

namespace cn {

namespace {

inline float nan_max(float running, float v) { return ((v > running) | (v != v)) ? v : running; }
inline bool is_record(float x, float y) { return (x == y) | (x != x); }

constexpr int kRowsTogether = 8;

// ---- top / bottom: along H, vectorised across columns [c0, c1) of a plane --------

// Row visited t-th when scanning from the far edge towards output row 0 (top:
// from the bottom row up) or towards row H-1 (bottom: from the top row down).
inline int64_t scan_row(bool from_bottom, int64_t H, int64_t t) { return from_bottom ? H - 1 - t : t; }

void vertical_max(const float* x, float* y, int64_t H, int64_t W, int64_t c0, int64_t c1, bool from_bottom) {
  const int64_t first = scan_row(from_bottom, H, 0);
  std::copy(x + first * W + c0, x + first * W + c1, y + first * W + c0);
  for (int64_t t = 1; t < H; ++t) {
    const int64_t r = scan_row(from_bottom, H, t), prev = scan_row(from_bottom, H, t - 1);
    const float* xr = x + r * W;
    const float* yp = y + prev * W;
    float* yr = y + r * W;
    for (int64_t j = c0; j < c1; ++j) yr[j] = nan_max(yp[j], xr[j]);
  }
}

// `y` is a scratch plane holding the forward output over the same columns.
void vertical_backward(const float* x, const float* y, const float* gy, float* gx, float* pending, int64_t H,
                       int64_t W, int64_t c0, int64_t c1, bool forward_from_bottom) {
  std::fill(pending + c0, pending + c1, 0.f);
  // The gradient walk starts at the edge the forward scan ended on.
  for (int64_t t = 0; t < H; ++t) {
    const int64_t r = scan_row(!forward_from_bottom, H, t);
    const float* xr = x + r * W;
    const float* yr = y + r * W;
    const float* gr = gy + r * W;
    float* out = gx + r * W;
    for (int64_t j = c0; j < c1; ++j) {
      const float acc = pending[j] + gr[j];
      const bool rec = is_record(xr[j], yr[j]);
      out[j] = rec ? acc : 0.f;
      pending[j] = rec ? 0.f : acc;
    }
  }
}

// ---- left / right: along W, kRowsTogether rows interleaved ------------------------

template <bool kFromRight, int R>
void horizontal_max_rows(const float* x, float* y, int64_t W) {
  float m[R];
  const int64_t j0 = kFromRight ? W - 1 : 0;
  for (int r = 0; r < R; ++r) m[r] = x[r * W + j0];
  for (int64_t t = 0; t < W; ++t) {
    const int64_t j = kFromRight ? W - 1 - t : t;
    for (int r = 0; r < R; ++r) {
      m[r] = nan_max(m[r], x[r * W + j]);
      y[r * W + j] = m[r];
    }
  }
}

template <bool kForwardFromRight, int R>
void horizontal_backward_rows(const float* x, const float* y, const float* gy, float* gx, int64_t W) {
  float pending[R] = {};
  for (int64_t t = 0; t < W; ++t) {
    const int64_t j = kForwardFromRight ? t : W - 1 - t;
    for (int r = 0; r < R; ++r) {
      const int64_t k = r * W + j;
      const float acc = pending[r] + gy[k];
      const bool rec = is_record(x[k], y[k]);
      gx[k] = rec ? acc : 0.f;
      pending[r] = rec ? 0.f : acc;
    }
  }
}

template <bool kFromRight>
void horizontal_forward(const float* x, float* y, int64_t rows, int64_t W) {
  int64_t r = 0;
  for (; r + kRowsTogether <= rows; r += kRowsTogether)
    horizontal_max_rows<kFromRight, kRowsTogether>(x + r * W, y + r * W, W);
  for (; r < rows; ++r) horizontal_max_rows<kFromRight, 1>(x + r * W, y + r * W, W);
}

template <bool kFromRight>
void horizontal_backward(const float* x, const float* gy, float* gx, int64_t rows, int64_t W,
                         std::vector<float>& scratch) {
  scratch.resize(static_cast<size_t>(kRowsTogether * W));
  float* y = scratch.data();
  int64_t r = 0;
  for (; r + kRowsTogether <= rows; r += kRowsTogether) {
    horizontal_max_rows<kFromRight, kRowsTogether>(x + r * W, y, W);
    horizontal_backward_rows<kFromRight, kRowsTogether>(x + r * W, y, gy + r * W, gx + r * W, W);
  }
  for (; r < rows; ++r) {
    horizontal_max_rows<kFromRight, 1>(x + r * W, y, W);
    horizontal_backward_rows<kFromRight, 1>(x + r * W, y, gy + r * W, gx + r * W, W);
  }
}

void check_shapes(const char* op, const Tensor& x, const Tensor& other, const char* other_name) {
  CN_CHECK(x.dim() == 4, op, ": x must be NCHW, got ", shape_str(x.shape()));
  CN_CHECK(other.shape() == x.shape(), op, ": ", other_name, " has shape ", shape_str(other.shape()),
           " but x has shape ", shape_str(x.shape()));
}

// Column blocks per plane for top/bottom: one unless there are too few planes
// to feed every thread, and never narrower than 64 floats (four cache lines).
int64_t column_blocks(int64_t planes, int64_t W, int threads) {
  int64_t cb = 1;
  while (planes * cb < 4 * threads && W / (cb * 2) >= 64) cb *= 2;
  return cb;
}

// Rows per parallel chunk for left/right: whole groups of kRowsTogether, ~32K floats.
int64_t row_grain(int64_t W) {
  int64_t g = std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, W));
  return (g + kRowsTogether - 1) / kRowsTogether * kRowsTogether;
}

}  // namespace

void CpuBackend::corner_pool_forward(CornerPoolMode mode, const Tensor& x, Tensor& y) {
  check_shapes("corner_pool_forward", x, y, "y");
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  if (planes == 0 || H == 0 || W == 0) return;
  const float* xp = x.data();
  float* yp = y.data();
  if (mode == CornerPoolMode::Top || mode == CornerPoolMode::Bottom) {
    const bool from_bottom = mode == CornerPoolMode::Top;
    const int64_t cb = column_blocks(planes, W, pool_.num_threads());
    const int64_t bw = (W + cb - 1) / cb;
    pool_.parallel_for(planes * cb, [&](int64_t b, int64_t e) {
      for (int64_t u = b; u < e; ++u) {
        const int64_t p = u / cb, c0 = (u % cb) * bw, c1 = std::min(W, c0 + bw);
        vertical_max(xp + p * H * W, yp + p * H * W, H, W, c0, c1, from_bottom);
      }
    });
    return;
  }
  const bool from_right = mode == CornerPoolMode::Left;
  pool_.parallel_for(planes * H, [&](int64_t b, int64_t e) {
    if (from_right) horizontal_forward<true>(xp + b * W, yp + b * W, e - b, W);
    else horizontal_forward<false>(xp + b * W, yp + b * W, e - b, W);
  }, row_grain(W));
}

void CpuBackend::corner_pool_backward(CornerPoolMode mode, const Tensor& x, const Tensor& gy, Tensor& gx) {
  check_shapes("corner_pool_backward", x, gy, "gy");
  check_shapes("corner_pool_backward", x, gx, "gx");
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  if (planes == 0 || H == 0 || W == 0) return;
  const float* xp = x.data();
  const float* gp = gy.data();
  float* gxp = gx.data();
  if (mode == CornerPoolMode::Top || mode == CornerPoolMode::Bottom) {
    const bool from_bottom = mode == CornerPoolMode::Top;
    const int64_t cb = column_blocks(planes, W, pool_.num_threads());
    const int64_t bw = (W + cb - 1) / cb;
    pool_.parallel_for(planes * cb, [&](int64_t b, int64_t e) {
      // The recomputed forward plane stays in L2 between the two passes.
      std::vector<float> y(static_cast<size_t>(H * W)), pending(static_cast<size_t>(W));
      for (int64_t u = b; u < e; ++u) {
        const int64_t p = u / cb, c0 = (u % cb) * bw, c1 = std::min(W, c0 + bw);
        const int64_t off = p * H * W;
        vertical_max(xp + off, y.data(), H, W, c0, c1, from_bottom);
        vertical_backward(xp + off, y.data(), gp + off, gxp + off, pending.data(), H, W, c0, c1, from_bottom);
      }
    });
    return;
  }
  const bool from_right = mode == CornerPoolMode::Left;
  pool_.parallel_for(planes * H, [&](int64_t b, int64_t e) {
    std::vector<float> scratch;
    if (from_right) horizontal_backward<true>(xp + b * W, gp + b * W, gxp + b * W, e - b, W, scratch);
    else horizontal_backward<false>(xp + b * W, gp + b * W, gxp + b * W, e - b, W, scratch);
  }, row_grain(W));
}

}  // namespace cn
