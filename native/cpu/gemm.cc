// Blocking, packing and threading of the SGEMM (gemm.h). Loop order is Goto's:
// columns of C in NC blocks, depth in KC blocks (B packed once per block), rows
// in MC blocks (A packed once per block), then micro-tiles NR x MR, so a packed
// B micro-panel is reused from L1 across a whole MC block of A.
#include "gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "../engine/error.h"
#include "gemm_kernels.h"

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

namespace cn {

namespace {

const GemmKernelInfo& kernel_for(Isa isa) {
  return kernels_for_isa(isa, gemm_kernel_portable, gemm_kernel_avx2, gemm_kernel_avx512);
}

// Per-thread packing buffer that only grows; kept between calls because
// convolutions call the GEMM many times with the same block sizes.
struct PackBuffer {
  float* data = nullptr;
  size_t capacity = 0;
  ~PackBuffer() { std::free(data); }
  float* get(size_t floats) {
    if (floats > capacity) {
      std::free(data);
      size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
      data = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!data) {
        capacity = 0;
        fail("out of host memory allocating a ", bytes, "-byte GEMM packing buffer");
      }
      capacity = floats;
    }
    return data;
  }
};

thread_local PackBuffer t_pack_a, t_pack_b;

}  // namespace

// On x86 it moves 4x4 blocks through SSE registers, several times faster than
// element by element, which matters when the GEMM is only a few hundred wide
// and packing is a fair share of the work; the AVX kernels have 8x8 versions.
void gemm_pack_transposed_rows(const float* src, int64_t ld, int first, int rows, int64_t kb, int width, float* dst) {
  int i = first;
#if defined(__SSE2__)
  const int64_t k4 = kb / 4 * 4;
  for (; i + 4 <= rows; i += 4) {
    const float* s0 = src + i * ld;
    const float* s1 = s0 + ld;
    const float* s2 = s1 + ld;
    const float* s3 = s2 + ld;
    for (int64_t k = 0; k < k4; k += 4) {
      __m128 r0 = _mm_loadu_ps(s0 + k), r1 = _mm_loadu_ps(s1 + k), r2 = _mm_loadu_ps(s2 + k), r3 = _mm_loadu_ps(s3 + k);
      _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
      float* d = dst + k * width + i;
      _mm_storeu_ps(d, r0);
      _mm_storeu_ps(d + width, r1);
      _mm_storeu_ps(d + 2 * width, r2);
      _mm_storeu_ps(d + 3 * width, r3);
    }
    for (int64_t k = k4; k < kb; ++k) {
      float* d = dst + k * width + i;
      d[0] = s0[k];
      d[1] = s1[k];
      d[2] = s2[k];
      d[3] = s3[k];
    }
  }
#endif
  for (; i < rows; ++i) {
    const float* s0 = src + i * ld;
    for (int64_t k = 0; k < kb; ++k) dst[k * width + i] = s0[k];
  }
  for (; i < width; ++i)
    for (int64_t k = 0; k < kb; ++k) dst[k * width + i] = 0.0f;
}

void gemm_pack_transposed_baseline(const float* src, int64_t ld, int rows, int64_t kb, int width, float* dst) {
  gemm_pack_transposed_rows(src, ld, 0, rows, kb, width, dst);
}

namespace {

// Packs op(A)[i0 : i0+mb, p0 : p0+kb] into ceil(mb/mr) panels of mr rows,
// k-major inside a panel; rows past mb are zero so edge tiles need no special case.
void pack_a(const GemmOp& op, const GemmKernelInfo& ki, int64_t i0, int64_t p0, int64_t mb, int64_t kb, float* dst) {
  const int mr = ki.mr;
  for (int64_t ir = 0; ir < mb; ir += mr) {
    int rows = static_cast<int>(std::min<int64_t>(mr, mb - ir));
    float* panel = dst + ir * kb;
    if (!op.trans_a) {
      ki.pack_transposed(op.a + (i0 + ir) * op.lda + p0, op.lda, rows, kb, mr, panel);
    } else if (rows == mr) {  // Stored [K, M]: the mr values of one k are contiguous.
      ki.copy_a_rows(op.a + p0 * op.lda + i0 + ir, op.lda, kb, panel);
    } else {
      for (int64_t k = 0; k < kb; ++k) {
        const float* src = op.a + (p0 + k) * op.lda + i0 + ir;
        float* d = panel + k * mr;
        for (int i = 0; i < mr; ++i) d[i] = i < rows ? src[i] : 0.0f;  // no libc call per k
      }
    }
  }
}

// Non-transposed B: where its row p starts at column j of this op (grouped B: within j's
// group, so a panel read from there must not straddle two groups).
const float* b_at(const GemmOp& op, int64_t p, int64_t j) {
  if (!op.b_group_offset) return op.b + p * op.ldb + j;
  const int64_t col = op.b_col0 + j;
  return op.b + op.b_group_offset[col / op.b_group_cols] + p * op.ldb + col % op.b_group_cols;
}

// Packs op(B)[p0 : p0+kb, j0 : j0+nb] into ceil(nb/nr) panels of nr columns,
// k-major inside a panel, zero-padded past nb.
void pack_b(const GemmOp& op, const GemmKernelInfo& ki, int64_t p0, int64_t j0, int64_t kb, int64_t nb, float* dst) {
  const int nr = ki.nr;
  for (int64_t jr = 0; jr < nb; jr += nr) {
    int cols = static_cast<int>(std::min<int64_t>(nr, nb - jr));
    float* panel = dst + jr * kb;
    if (op.b_group_offset && !op.trans_b) {
      const int64_t col = op.b_col0 + j0 + jr, gc = op.b_group_cols;
      if (col % gc + cols > gc) {  // the panel straddles two groups: column by column
        for (int64_t k = 0; k < kb; ++k)
          for (int j = 0; j < nr; ++j) {
            const int64_t cj = col + j;
            panel[k * nr + j] = j < cols ? op.b[op.b_group_offset[cj / gc] + (p0 + k) * op.ldb + cj % gc] : 0.0f;
          }
        continue;
      }
    }
    if (!op.trans_b) {
      const float* src = b_at(op, p0, j0 + jr);
      if (cols == nr)
        ki.copy_b_rows(src, op.ldb, kb, panel);
      else
        for (int64_t k = 0; k < kb; ++k) {
          float* d = panel + k * nr;
          std::memcpy(d, src + k * op.ldb, cols * sizeof(float));
          for (int j = cols; j < nr; ++j) d[j] = 0.0f;
        }
    } else {
      ki.pack_transposed(op.b + (j0 + jr) * op.ldb + p0, op.ldb, cols, kb, nr, panel);
    }
  }
}

// C = beta * C, for k == 0 (nothing to multiply).
void scale_c(const GemmOp& op) {
  for (int64_t i = 0; i < op.m; ++i) {
    float* c = op.c + i * op.ldc;
    if (op.beta == 0.0f)
      std::memset(c, 0, op.n * sizeof(float));
    else
      for (int64_t j = 0; j < op.n; ++j) c[j] *= op.beta;
  }
}

// Whether the micro-kernel reads B's whole-width panels where they are instead
// of packed: worth it when each panel serves few rows of A (packing it costs
// about as much as the few tiles that read it: the 36 GEMMs of a Winograd layer
// at 32x32 and below are 32-64 rows by ~128 tiles) and B's rows are close
// enough that a panel's kc rows stay within a few pages. Grouped B (a
// convolution's shifted taps) too, when no micro-panel straddles two groups.
bool reads_b_in_place(const GemmKernelInfo& ki, const GemmOp& op) {
  if (op.b_group_offset && (op.b_group_cols % ki.nr != 0 || op.b_col0 % ki.nr != 0)) return false;
  return !op.trans_b && op.ldb <= 1024 && (op.m + ki.mr - 1) / ki.mr <= 8;
}

// One thread's share: the whole blocked algorithm over op's rectangle.
void sgemm_serial(const GemmKernelInfo& ki, const GemmOp& op) {
  const int mr = ki.mr, nr = ki.nr;
  const int64_t kc = std::min(ki.kc, op.k);
  const int64_t mc = std::min<int64_t>(ki.mc, (op.m + mr - 1) / mr * mr);
  const int64_t nc = std::min<int64_t>(ki.nc, (op.n + nr - 1) / nr * nr);
  const bool in_place = reads_b_in_place(ki, op);
  float* pa = t_pack_a.get(static_cast<size_t>(mc * kc));
  float* pb = t_pack_b.get(static_cast<size_t>(nc * kc));
  alignas(64) float edge[32 * 32];  // one micro-tile when it overhangs C

  for (int64_t jc = 0; jc < op.n; jc += nc) {
    const int64_t nb = std::min(nc, op.n - jc);
    // In place, only a last partial panel is packed (zero-padded to nr columns).
    const int64_t packed_from = in_place ? nb / nr * nr : 0;
    for (int64_t pc = 0; pc < op.k; pc += kc) {
      const int64_t kb = std::min(kc, op.k - pc);
      const float beta = pc == 0 ? op.beta : 1.0f;
      if (packed_from < nb) pack_b(op, ki, pc, jc + packed_from, kb, nb - packed_from, pb + packed_from * kb);
      for (int64_t ic = 0; ic < op.m; ic += mc) {
        const int64_t mb = std::min(mc, op.m - ic);
        pack_a(op, ki, ic, pc, mb, kb, pa);
        for (int64_t jr = 0; jr < nb; jr += nr) {
          const int cols = static_cast<int>(std::min<int64_t>(nr, nb - jr));
          const bool direct = jr < packed_from;
          const float* bp = direct ? b_at(op, pc, jc + jr) : pb + jr * kb;
          const int64_t ldb = direct ? op.ldb : nr;
          for (int64_t ir = 0; ir < mb; ir += mr) {
            const int rows = static_cast<int>(std::min<int64_t>(mr, mb - ir));
            const float* ap = pa + ir * kb;
            float* c = op.c + (ic + ir) * op.ldc + jc + jr;
            if (rows == mr && cols == nr) {
              ki.kernel(kb, ap, bp, ldb, c, op.ldc, op.alpha, beta);
            } else if (ki.edge_kernel) {
              ki.edge_kernel(kb, ap, bp, ldb, c, op.ldc, op.alpha, beta, rows, cols);
            } else {
              ki.kernel(kb, ap, bp, ldb, edge, nr, 1.0f, 0.0f);
              for (int i = 0; i < rows; ++i) {
                float* ci = c + i * op.ldc;
                const float* ei = edge + i * nr;
                if (beta == 0.0f)
                  for (int j = 0; j < cols; ++j) ci[j] = op.alpha * ei[j];
                else
                  for (int j = 0; j < cols; ++j) ci[j] = op.alpha * ei[j] + beta * ci[j];
              }
            }
          }
        }
      }
    }
  }
}

// Splits [0, n) into `parts` ranges whose boundaries are multiples of `align`.
int64_t split_point(int64_t n, int parts, int part, int align) {
  int64_t units = (n + align - 1) / align;
  return std::min(n, units * part / parts * align);
}

void check(const GemmOp& op) {
  CN_CHECK(op.m >= 0 && op.n >= 0 && op.k >= 0, "sgemm: negative size m=", op.m, " n=", op.n, " k=", op.k);
  CN_CHECK(op.ldc >= std::max<int64_t>(1, op.n), "sgemm: ldc=", op.ldc, " is smaller than n=", op.n);
  CN_CHECK(op.lda >= std::max<int64_t>(1, op.trans_a ? op.m : op.k), "sgemm: lda=", op.lda, " is too small");
  CN_CHECK(!op.b_group_offset || (!op.trans_b && op.b_group_cols > 0), "sgemm: grouped B must be non-transposed, groups > 0");
  const int64_t b_row = op.b_group_offset ? op.b_group_cols : op.n;
  CN_CHECK(op.ldb >= std::max<int64_t>(1, op.trans_b ? op.k : b_row), "sgemm: ldb=", op.ldb, " is too small");
}

}  // namespace

void gemm_pack_transposed(Isa isa, const float* src, int64_t ld, int rows, int64_t kb, int width, float* dst) {
  kernel_for(isa).pack_transposed(src, ld, rows, kb, width, dst);
}

void sgemm(Isa isa, ThreadPool* pool, const GemmOp& op) {
  check(op);
  if (op.m == 0 || op.n == 0) return;
  if (op.k == 0 || op.alpha == 0.0f) {
    scale_c(op);
    return;
  }
  const GemmKernelInfo& ki = kernel_for(isa);
  int threads = pool ? pool->num_threads() : 1;
  // Below ~1 MFLOP per thread the wake-up costs more than it saves.
  double flops = 2.0 * op.m * op.n * op.k;
  threads = static_cast<int>(std::min<double>(threads, std::max(1.0, flops / 1e6)));
  if (threads <= 1) {
    sgemm_serial(ki, op);
    return;
  }
  // Each thread takes a rectangle of C. Pick the grid tm x tn that minimises how
  // much of A and B each thread packs (A rows / tm + B columns / tn), given that
  // a piece of C must be at least a micro-tile wide.
  int tm = 1, tn = threads;
  double best = -1;
  for (int f = 1; f <= threads; ++f) {
    if (threads % f) continue;
    int fm = f, fn = threads / f;
    if ((op.m + ki.mr - 1) / ki.mr < fm || (op.n + ki.nr - 1) / ki.nr < fn) continue;
    double cost = static_cast<double>(op.m) / fm + static_cast<double>(op.n) / fn;
    if (best < 0 || cost < best) best = cost, tm = fm, tn = fn;
  }
  if (best < 0) {  // too small to split in 2-D: split the longer side only
    tn = static_cast<int>(std::min<int64_t>(threads, (op.n + ki.nr - 1) / ki.nr));
    tm = 1;
    if ((op.m + ki.mr - 1) / ki.mr > (op.n + ki.nr - 1) / ki.nr) {
      tm = static_cast<int>(std::min<int64_t>(threads, (op.m + ki.mr - 1) / ki.mr));
      tn = 1;
    }
  }
  pool->run_tasks(static_cast<int64_t>(tm) * tn, [&](int64_t t) {
    int im = static_cast<int>(t / tn), in = static_cast<int>(t % tn);
    int64_t i0 = split_point(op.m, tm, im, ki.mr), i1 = split_point(op.m, tm, im + 1, ki.mr);
    int64_t j0 = split_point(op.n, tn, in, ki.nr), j1 = split_point(op.n, tn, in + 1, ki.nr);
    if (i0 >= i1 || j0 >= j1) return;
    GemmOp sub = op;
    sub.m = i1 - i0;
    sub.n = j1 - j0;
    sub.a = op.trans_a ? op.a + i0 : op.a + i0 * op.lda;
    if (op.b_group_offset)
      sub.b_col0 = op.b_col0 + j0;
    else
      sub.b = op.trans_b ? op.b + j0 * op.ldb : op.b + j0;
    sub.c = op.c + i0 * op.ldc + j0;
    sgemm_serial(ki, sub);
  });
}

}  // namespace cn
