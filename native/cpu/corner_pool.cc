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
#include <limits>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#include <xmmintrin.h>
#endif

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

// ---- left / right: along W ---------------------------------------------------------
//
// Portable path: kRowsTogether rows scanned side by side, one scalar chain each.

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
void horizontal_forward_portable(const float* x, float* y, int64_t rows, int64_t W) {
  int64_t r = 0;
  for (; r + kRowsTogether <= rows; r += kRowsTogether)
    horizontal_max_rows<kFromRight, kRowsTogether>(x + r * W, y + r * W, W);
  for (; r < rows; ++r) horizontal_max_rows<kFromRight, 1>(x + r * W, y + r * W, W);
}

template <bool kFromRight>
void horizontal_backward_portable(const float* x, const float* gy, float* gx, int64_t rows, int64_t W) {
  std::vector<float> scratch(static_cast<size_t>(kRowsTogether * W));
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

#if defined(__SSE2__)
// SSE path: a group of 4 rows is read as 4x4 tiles and transposed, so that one
// vector holds one column of the 4 rows; the scan along the row then becomes
// a chain of vector maxes, column after column, exactly like top/bottom's row
// after row. Two groups (8 rows) are in flight together to cover the latency
// of that chain.
constexpr int kGroups = 2;

// NaN-propagating max: maxps returns its second operand when either is NaN
// (so a new NaN enters), and OR-ing the all-ones "m is NaN" mask keeps a
// running NaN (all-ones is a NaN).
inline __m128 vmax(__m128 m, __m128 v) { return _mm_or_ps(_mm_max_ps(m, v), _mm_cmpunord_ps(m, m)); }

inline void load_tile(const float* p, int64_t W, __m128 c[4]) {
  __m128 r0 = _mm_loadu_ps(p), r1 = _mm_loadu_ps(p + W), r2 = _mm_loadu_ps(p + 2 * W), r3 = _mm_loadu_ps(p + 3 * W);
  _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
  c[0] = r0, c[1] = r1, c[2] = r2, c[3] = r3;
}

inline void store_tile(float* p, int64_t W, const __m128 c[4]) {
  __m128 r0 = c[0], r1 = c[1], r2 = c[2], r3 = c[3];
  _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
  _mm_storeu_ps(p, r0), _mm_storeu_ps(p + W, r1), _mm_storeu_ps(p + 2 * W, r2), _mm_storeu_ps(p + 3 * W, r3);
}

inline __m128 load_column(const float* p, int64_t W) { return _mm_setr_ps(p[0], p[W], p[2 * W], p[3 * W]); }

inline void store_column(float* p, int64_t W, __m128 v) {
  alignas(16) float t[4];
  _mm_store_ps(t, v);
  p[0] = t[0], p[W] = t[1], p[2 * W] = t[2], p[3 * W] = t[3];
}

// Column visit order of a scan: full tiles of 4 plus the W % 4 columns beyond
// the last one, from the right edge (left pool) or from the left edge (right).
struct Columns {
  int64_t W, full;  // full = W rounded down to a multiple of 4
  explicit Columns(int64_t w) : W(w), full(w / 4 * 4) {}
};

// Forward of G groups of 4 rows (group g starts at row 4g).
template <bool kFromRight, int G>
void groups_forward(const float* x, float* y, int64_t W) {
  const Columns cols(W);
  __m128 m[G];
  for (int g = 0; g < G; ++g) m[g] = _mm_set1_ps(-std::numeric_limits<float>::infinity());
  auto tail = [&] {
    for (int64_t t = 0; t < W - cols.full; ++t) {
      const int64_t j = kFromRight ? W - 1 - t : cols.full + t;
      for (int g = 0; g < G; ++g) {
        m[g] = vmax(m[g], load_column(x + 4 * g * W + j, W));
        store_column(y + 4 * g * W + j, W, m[g]);
      }
    }
  };
  if (kFromRight) tail();
  for (int64_t t = 0; t < cols.full; t += 4) {
    const int64_t j = kFromRight ? cols.full - 4 - t : t;
    __m128 c[G][4];
    for (int g = 0; g < G; ++g) load_tile(x + 4 * g * W + j, W, c[g]);
    for (int s = 0; s < 4; ++s) {
      const int k = kFromRight ? 3 - s : s;
      for (int g = 0; g < G; ++g) c[g][k] = m[g] = vmax(m[g], c[g][k]);
    }
    for (int g = 0; g < G; ++g) store_tile(y + 4 * g * W + j, W, c[g]);
  }
  if (!kFromRight) tail();
}

// One column of a 4-row group. (A std::vector<__m128> would drop the type's
// alignment attribute as a template argument; a struct keeps it.)
struct Column {
  __m128 v;
};

// Backward of G groups of 4 rows. `xs`, `ys`: scratch for G*W columns.
template <bool kFromRight, int G>
void groups_backward(const float* x, const float* gy, float* gx, int64_t W, Column* xs, Column* ys) {
  const Columns cols(W);
  // Pass 1, in the forward's direction: columns of x and of the running max.
  {
    __m128 m[G];
    for (int g = 0; g < G; ++g) m[g] = _mm_set1_ps(-std::numeric_limits<float>::infinity());
    auto tail = [&] {
      for (int64_t t = 0; t < W - cols.full; ++t) {
        const int64_t j = kFromRight ? W - 1 - t : cols.full + t;
        for (int g = 0; g < G; ++g) {
          const __m128 v = load_column(x + 4 * g * W + j, W);
          xs[g * W + j].v = v;
          ys[g * W + j].v = m[g] = vmax(m[g], v);
        }
      }
    };
    if (kFromRight) tail();
    for (int64_t t = 0; t < cols.full; t += 4) {
      const int64_t j = kFromRight ? cols.full - 4 - t : t;
      for (int g = 0; g < G; ++g) {
        __m128 c[4];
        load_tile(x + 4 * g * W + j, W, c);
        for (int s = 0; s < 4; ++s) {
          const int k = kFromRight ? 3 - s : s;
          xs[g * W + j + k].v = c[k];
          ys[g * W + j + k].v = m[g] = vmax(m[g], c[k]);
        }
      }
    }
    if (!kFromRight) tail();
  }
  // Pass 2, the other way: collect gradients, release them at each record.
  __m128 pending[G];
  for (int g = 0; g < G; ++g) pending[g] = _mm_setzero_ps();
  auto step = [&](int g, int64_t j, __m128 grad) {
    const __m128 acc = _mm_add_ps(pending[g], grad);
    const __m128 xv = xs[g * W + j].v;
    const __m128 rec = _mm_or_ps(_mm_cmpeq_ps(xv, ys[g * W + j].v), _mm_cmpunord_ps(xv, xv));
    pending[g] = _mm_andnot_ps(rec, acc);
    return _mm_and_ps(rec, acc);
  };
  auto tail = [&] {
    for (int64_t t = 0; t < W - cols.full; ++t) {
      const int64_t j = kFromRight ? cols.full + t : W - 1 - t;
      for (int g = 0; g < G; ++g)
        store_column(gx + 4 * g * W + j, W, step(g, j, load_column(gy + 4 * g * W + j, W)));
    }
  };
  if (!kFromRight) tail();
  for (int64_t t = 0; t < cols.full; t += 4) {
    const int64_t j = kFromRight ? t : cols.full - 4 - t;
    __m128 c[G][4];
    for (int g = 0; g < G; ++g) load_tile(gy + 4 * g * W + j, W, c[g]);
    for (int s = 0; s < 4; ++s) {
      const int k = kFromRight ? s : 3 - s;
      for (int g = 0; g < G; ++g) c[g][k] = step(g, j + k, c[g][k]);
    }
    for (int g = 0; g < G; ++g) store_tile(gx + 4 * g * W + j, W, c[g]);
  }
  if (kFromRight) tail();
}

template <bool kFromRight>
void horizontal_forward(const float* x, float* y, int64_t rows, int64_t W) {
  int64_t r = 0;
  for (; r + 4 * kGroups <= rows; r += 4 * kGroups) groups_forward<kFromRight, kGroups>(x + r * W, y + r * W, W);
  for (; r + 4 <= rows; r += 4) groups_forward<kFromRight, 1>(x + r * W, y + r * W, W);
  horizontal_forward_portable<kFromRight>(x + r * W, y + r * W, rows - r, W);
}

template <bool kFromRight>
void horizontal_backward(const float* x, const float* gy, float* gx, int64_t rows, int64_t W) {
  std::vector<Column> scratch(static_cast<size_t>(2 * kGroups * W));
  Column* xs = scratch.data();
  Column* ys = xs + kGroups * W;
  int64_t r = 0;
  for (; r + 4 * kGroups <= rows; r += 4 * kGroups)
    groups_backward<kFromRight, kGroups>(x + r * W, gy + r * W, gx + r * W, W, xs, ys);
  for (; r + 4 <= rows; r += 4) groups_backward<kFromRight, 1>(x + r * W, gy + r * W, gx + r * W, W, xs, ys);
  horizontal_backward_portable<kFromRight>(x + r * W, gy + r * W, gx + r * W, rows - r, W);
}
#else
template <bool kFromRight>
void horizontal_forward(const float* x, float* y, int64_t rows, int64_t W) {
  horizontal_forward_portable<kFromRight>(x, y, rows, W);
}
template <bool kFromRight>
void horizontal_backward(const float* x, const float* gy, float* gx, int64_t rows, int64_t W) {
  horizontal_backward_portable<kFromRight>(x, gy, gx, rows, W);
}
#endif

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
    if (from_right) horizontal_backward<true>(xp + b * W, gp + b * W, gxp + b * W, e - b, W);
    else horizontal_backward<false>(xp + b * W, gp + b * W, gxp + b * W, e - b, W);
  }, row_grain(W));
}

}  // namespace cn
