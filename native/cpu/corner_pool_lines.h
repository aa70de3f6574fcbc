// The corner pool kernels over lines of a plane, compiled once per ISA:
// corner_pool.cc includes this for the baseline (SSE2 on x86-64) and
// corner_pool_avx2.cc with AVX2 enabled. Everything here has internal linkage
// and uses no standard-library templates, so the linker can never swap an
// AVX2-compiled copy of a shared inline function into the baseline build.
//
// How the ops are computed (see corner_pool.cc for the dispatch):
//
// Forward, top/bottom: the running max is carried a whole row at a time
// (y[i] = max(x[i], y[i+-1]) element-wise across the row), a vectorised max
// over contiguous memory. Left/right: a group of L rows (L = the vector width)
// is read as LxL tiles and transposed, so that one vector holds one column of
// the group; the scan along the rows then becomes a chain of vector maxes,
// column after column, like top/bottom's row after row. Two groups are in
// flight together to cover the latency of that chain.
//
// Backward without scatter: the argmax of output i, ties going to the position
// nearest i, is the first position k met when walking from i towards the far
// edge with x[k] == y[k]. Walking the other way (from the near edge), each
// position k therefore collects the gradients of every output since the last
// such "record" position: pending += gy[k]; at a record gx[k] = pending and
// pending restarts at 0, elsewhere gx[k] = 0. So backward recomputes y (one
// pass) and then streams gy -> gx in the opposite direction (a second pass),
// vectorised like the forward. A NaN counts as a record: it wins every
// comparison after it, as in the forward.
#pragma once
#include <cstdint>
#include <limits>

namespace cn {
namespace {

inline float nan_max(float running, float v) { return ((v > running) | (v != v)) ? v : running; }
inline bool is_record(float x, float y) { return (x == y) | (x != x); }

// ---- top / bottom: along H, vectorised across columns [c0, c1) of a plane --------

// Row visited t-th when scanning from the far edge towards output row 0 (top:
// from the bottom row up) or towards row H-1 (bottom: from the top row down).
inline int64_t scan_row(bool from_bottom, int64_t H, int64_t t) { return from_bottom ? H - 1 - t : t; }

inline void vertical_max(const float* x, float* y, int64_t H, int64_t W, int64_t c0, int64_t c1, bool from_bottom) {
  const int64_t first = scan_row(from_bottom, H, 0);
  for (int64_t j = c0; j < c1; ++j) y[first * W + j] = x[first * W + j];
  for (int64_t t = 1; t < H; ++t) {
    const int64_t r = scan_row(from_bottom, H, t), prev = scan_row(from_bottom, H, t - 1);
    const float* xr = x + r * W;
    const float* yp = y + prev * W;
    float* yr = y + r * W;
    for (int64_t j = c0; j < c1; ++j) yr[j] = nan_max(yp[j], xr[j]);
  }
}

// `y` is a scratch plane that vertical_max filled over the same columns;
// `pending` a scratch row.
inline void vertical_backward(const float* x, const float* y, const float* gy, float* gx, float* pending, int64_t H,
                              int64_t W, int64_t c0, int64_t c1, bool forward_from_bottom) {
  for (int64_t j = c0; j < c1; ++j) pending[j] = 0.f;
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

// ---- left / right, scalar: R rows side by side, one chain each -----------------------

template <bool kFromRight, int R>
void horizontal_max_rows(const float* x, float* y, int64_t W) {
  float m[R];
  for (int r = 0; r < R; ++r) m[r] = -std::numeric_limits<float>::infinity();
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
  float pending[R];
  for (int r = 0; r < R; ++r) pending[r] = 0.f;
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

// `y`: scratch for 8 rows.
template <bool kFromRight>
void horizontal_scalar(const float* x, const float* gy, float* y, float* gx, int64_t rows, int64_t W) {
  int64_t r = 0;
  for (; r + 8 <= rows; r += 8) {
    horizontal_max_rows<kFromRight, 8>(x + r * W, gx ? y : y + r * W, W);
    if (gx) horizontal_backward_rows<kFromRight, 8>(x + r * W, y, gy + r * W, gx + r * W, W);
  }
  for (; r < rows; ++r) {
    horizontal_max_rows<kFromRight, 1>(x + r * W, gx ? y : y + r * W, W);
    if (gx) horizontal_backward_rows<kFromRight, 1>(x + r * W, y, gy + r * W, gx + r * W, W);
  }
}

// ---- left / right, vectorised: groups of T::L rows as transposed LxL tiles ---------------
//
// T provides: V (vector type), L (lanes), load/store (unaligned), set1, zero,
// max_nan (a NaN on either side stays), add, record(x, y) (all-ones where
// x == y or x is NaN), keep(mask, v) (v where mask), drop(mask, v) (v where
// not mask), transpose(V[L]), and column gathers for the W % L tail.

constexpr int kGroups = 2;

template <class T, bool kFromRight, int G>
void groups_forward(const float* x, float* y, int64_t W) {
  using V = typename T::V;
  constexpr int L = T::L;
  const int64_t full = W / L * L;
  V m[G];
  for (int g = 0; g < G; ++g) m[g] = T::set1(-std::numeric_limits<float>::infinity());
  auto tail = [&] {
    for (int64_t t = 0; t < W - full; ++t) {
      const int64_t j = kFromRight ? W - 1 - t : full + t;
      for (int g = 0; g < G; ++g) {
        m[g] = T::max_nan(m[g], T::load_column(x + L * g * W + j, W));
        T::store_column(y + L * g * W + j, W, m[g]);
      }
    }
  };
  if (kFromRight) tail();
  for (int64_t t = 0; t < full; t += L) {
    const int64_t j = kFromRight ? full - L - t : t;
    V c[G][L];
    for (int g = 0; g < G; ++g) {
      for (int k = 0; k < L; ++k) c[g][k] = T::load(x + (L * g + k) * W + j);
      T::transpose(c[g]);
    }
    for (int s = 0; s < L; ++s) {
      const int k = kFromRight ? L - 1 - s : s;
      for (int g = 0; g < G; ++g) c[g][k] = m[g] = T::max_nan(m[g], c[g][k]);
    }
    for (int g = 0; g < G; ++g) {
      T::transpose(c[g]);
      for (int k = 0; k < L; ++k) T::store(y + (L * g + k) * W + j, c[g][k]);
    }
  }
  if (!kFromRight) tail();
}

// `xs`, `ys`: scratch for G*W column vectors each (G*W*L floats).
template <class T, bool kFromRight, int G>
void groups_backward(const float* x, const float* gy, float* gx, int64_t W, float* xs, float* ys) {
  using V = typename T::V;
  constexpr int L = T::L;
  const int64_t full = W / L * L;
  auto col = [&](float* base, int g, int64_t j) { return base + (g * W + j) * L; };
  // Pass 1, in the forward's direction: columns of x and of the running max.
  {
    V m[G];
    for (int g = 0; g < G; ++g) m[g] = T::set1(-std::numeric_limits<float>::infinity());
    auto tail = [&] {
      for (int64_t t = 0; t < W - full; ++t) {
        const int64_t j = kFromRight ? W - 1 - t : full + t;
        for (int g = 0; g < G; ++g) {
          const V v = T::load_column(x + L * g * W + j, W);
          T::store(col(xs, g, j), v);
          T::store(col(ys, g, j), m[g] = T::max_nan(m[g], v));
        }
      }
    };
    if (kFromRight) tail();
    for (int64_t t = 0; t < full; t += L) {
      const int64_t j = kFromRight ? full - L - t : t;
      for (int g = 0; g < G; ++g) {
        V c[L];
        for (int k = 0; k < L; ++k) c[k] = T::load(x + (L * g + k) * W + j);
        T::transpose(c);
        for (int s = 0; s < L; ++s) {
          const int k = kFromRight ? L - 1 - s : s;
          T::store(col(xs, g, j + k), c[k]);
          T::store(col(ys, g, j + k), m[g] = T::max_nan(m[g], c[k]));
        }
      }
    }
    if (!kFromRight) tail();
  }
  // Pass 2, the other way: collect gradients, release them at each record.
  V pending[G];
  for (int g = 0; g < G; ++g) pending[g] = T::zero();
  auto step = [&](int g, int64_t j, V grad) {
    const V acc = T::add(pending[g], grad);
    const V rec = T::record(T::load(col(xs, g, j)), T::load(col(ys, g, j)));
    pending[g] = T::drop(rec, acc);
    return T::keep(rec, acc);
  };
  auto tail = [&] {
    for (int64_t t = 0; t < W - full; ++t) {
      const int64_t j = kFromRight ? full + t : W - 1 - t;
      for (int g = 0; g < G; ++g) T::store_column(gx + L * g * W + j, W, step(g, j, T::load_column(gy + L * g * W + j, W)));
    }
  };
  if (!kFromRight) tail();
  for (int64_t t = 0; t < full; t += L) {
    const int64_t j = kFromRight ? t : full - L - t;
    V c[G][L];
    for (int g = 0; g < G; ++g) {
      for (int k = 0; k < L; ++k) c[g][k] = T::load(gy + (L * g + k) * W + j);
      T::transpose(c[g]);
    }
    for (int s = 0; s < L; ++s) {
      const int k = kFromRight ? s : L - 1 - s;
      for (int g = 0; g < G; ++g) c[g][k] = step(g, j + k, c[g][k]);
    }
    for (int g = 0; g < G; ++g) {
      T::transpose(c[g]);
      for (int k = 0; k < L; ++k) T::store(gx + (L * g + k) * W + j, c[g][k]);
    }
  }
  if (kFromRight) tail();
}

// Floats of scratch horizontal_lines needs for a backward over rows of width W.
template <class T>
int64_t horizontal_scratch_floats(int64_t W) {
  return 2 * kGroups * T::L * W;
}

// Forward (gx == nullptr: y gets the pooled rows) or backward (y unused,
// gx gets the gradient) of `rows` consecutive rows of width W.
template <class T, bool kFromRight>
void horizontal_lines(const float* x, const float* gy, float* y, float* gx, float* scratch, int64_t rows, int64_t W) {
  constexpr int L = T::L;
  float* xs = scratch;
  float* ys = scratch + kGroups * L * W;
  int64_t r = 0;
  for (; r + L * kGroups <= rows; r += L * kGroups) {
    if (gx) groups_backward<T, kFromRight, kGroups>(x + r * W, gy + r * W, gx + r * W, W, xs, ys);
    else groups_forward<T, kFromRight, kGroups>(x + r * W, y + r * W, W);
  }
  for (; r + L <= rows; r += L) {
    if (gx) groups_backward<T, kFromRight, 1>(x + r * W, gy + r * W, gx + r * W, W, xs, ys);
    else groups_forward<T, kFromRight, 1>(x + r * W, y + r * W, W);
  }
  // Fewer than L rows left: the scalar path, its 8-row scratch inside ours.
  if (gx) horizontal_scalar<kFromRight>(x + r * W, gy + r * W, xs, gx + r * W, rows - r, W);
  else horizontal_scalar<kFromRight>(x + r * W, nullptr, y + r * W, nullptr, rows - r, W);
}

}  // namespace
}  // namespace cn
