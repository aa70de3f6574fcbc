// The driver of the Winograd convolution: weight transform, then per image and
// per band of tile rows (so buffers stay bounded): input transform (threads
// split channels), 36 independent GEMMs (threads split them), output transform
// (threads split output channels).
#include "conv2d_winograd.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "../engine/error.h"
#include "gemm.h"
#include "scratch.h"
#include "winograd_f4x3.h"

namespace cn {

namespace {

const WinogradF4x3Kernels& kernels_for(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return winograd_f4x3_avx512();
    case Isa::Avx2: return winograd_f4x3_avx2();
    case Isa::Portable: break;
  }
  return winograd_f4x3_portable();
}

// U[xi, o, c] = (G g G^T)[xi / 6, xi % 6] for the kernel g of (o, c).
void transform_weights(ThreadPool& pool, const WinogradF4x3Kernels& k, const WinogradConvArgs& a, float* u) {
  const int64_t plane = a.o * a.c, pitch = (a.c + 15) / 16 * 16;
  pool.parallel_for(a.o, [&](int64_t o0, int64_t o1) {
    std::vector<float> taps(static_cast<size_t>(9 * pitch), 0.0f);
    for (int64_t o = o0; o < o1; ++o) {
      for (int64_t c = 0; c < a.c; ++c)
        for (int t = 0; t < 9; ++t)
          taps[t * pitch + c] = a.flip_transpose ? a.weight[(c * a.o + o) * 9 + 8 - t] : a.weight[(o * a.c + c) * 9 + t];
      k.weight_row(taps.data(), pitch, a.c, u + o * a.c, plane);
    }
  }, 1);
}

// One padded input row in phase layout (dst[j * pitch + t] = column 4t + j - pw,
// zero outside [0, w)), read straight from x: going through a freshly copied
// padded line made to_phases' wide loads straddle the copy's narrower stores and
// stall on store forwarding (it was 8% of a training step). Groups from
// ceil((w + pw) / 4) on are all padding and are left alone: the caller keeps
// them zero (its buffer starts zeroed and only ever gets zeros there), which
// spares a scalar store per float of the wide phase pitch.
void row_to_phases(const WinogradF4x3Kernels& k, const float* xrow, int64_t w, int pw, int64_t groups, float* dst,
                   int64_t pitch) {
  groups = std::min(groups, (w + pw + 3) / 4);
  // Groups whose four columns all lie inside the row.
  const int64_t t0 = std::min<int64_t>(groups, (pw + 3) / 4);
  const int64_t last = w + pw - 4;
  const int64_t t1 = last < 0 ? t0 : std::max(t0, std::min(groups, last / 4 + 1));
  auto edge = [&](int64_t t) {
    for (int j = 0; j < 4; ++j) {
      const int64_t col = 4 * t + j - pw;
      dst[j * pitch + t] = col >= 0 && col < w ? xrow[col] : 0.0f;
    }
  };
  for (int64_t t = 0; t < t0; ++t) edge(t);
  if (t1 > t0) k.to_phases(xrow + 4 * t0 - pw, t1 - t0, dst + t0, pitch);
  for (int64_t t = t1; t < groups; ++t) edge(t);
}

// Transformed input tiles of tile rows [ty0, ty0 + rows) of image xn [c, h, w]
// (padded by ph, pw): v[xi, channel, r * wt + tile], channel stride tc.
void transform_input_band(ThreadPool& pool, const WinogradF4x3Kernels& k, const float* xn, int64_t c_count,
                          int64_t h, int64_t w, int ph, int pw, int64_t ty0, int64_t rows, int64_t wt,
                          int64_t in_pitch, float* v, int64_t tc) {
  // Each padded input row of the band is phased once into `rows_buf` (row q at
  // q * 4 * in_pitch), and each tile row reads its 6 rows (stride 4 * in_pitch,
  // as input_row wants) straight from there: tile rows overlap by 2 input rows.
  // The buffer starts zeroed and keeps its zeros where no data lands: rows
  // above or below the image (the same rows for every channel) and the
  // padding tails that row_to_phases leaves alone.
  const int64_t band_in_rows = 4 * rows + 2;
  pool.parallel_for(c_count, [&](int64_t c0, int64_t c1) {
    std::vector<float> rows_buf(static_cast<size_t>(band_in_rows * 4 * in_pitch), 0.0f);
    for (int64_t c = c0; c < c1; ++c) {
      const float* xc = xn + c * h * w;
      for (int64_t q = 0; q < band_in_rows; ++q) {
        const int64_t ih = 4 * ty0 - ph + q;
        if (ih >= 0 && ih < h) row_to_phases(k, xc + ih * w, w, pw, in_pitch, rows_buf.data() + q * 4 * in_pitch, in_pitch);
      }
      for (int64_t r = 0; r < rows; ++r)
        k.input_row(rows_buf.data() + 4 * r * 4 * in_pitch, in_pitch, wt, v + c * tc + r * wt, c_count * tc);
    }
  }, 1);
}

}  // namespace

bool winograd_f4x3_suits(int64_t kh, int64_t kw, int sh, int sw, int ph, int pw, int64_t in_channels,
                         int64_t out_channels, int64_t out_h, int64_t out_w) {
  return kh == 3 && kw == 3 && sh == 1 && sw == 1 && ph >= 0 && ph <= 2 && pw >= 0 && pw <= 2 &&
         in_channels >= 16 && out_channels >= 16 && ((out_h + 3) / 4) * ((out_w + 3) / 4) >= 16;
}

void winograd_f4x3_conv(ThreadPool& pool, Isa isa, const WinogradConvArgs& a) {
  const WinogradF4x3Kernels& k = kernels_for(isa);
  const int64_t ho = a.h + 2 * a.ph - 2, wo = a.w + 2 * a.pw - 2;
  CN_CHECK(ho > 0 && wo > 0, "conv2d: Winograd path called with an empty output");
  const int64_t ht = (ho + 3) / 4, wt = (wo + 3) / 4;
  // Phase-layout rows (winograd_f4x3.h): whole vectors of tiles plus the one
  // extra tile the input transform peeks at.
  const int64_t out_pitch = (wt + 15) / 16 * 16, in_pitch = out_pitch + 1;
  // Tile rows per band: about 16 MB for each of the transformed input and output.
  const int64_t budget = int64_t(1) << 22;  // floats
  const int64_t band_rows = std::min(ht, std::max<int64_t>(1, budget / (36 * std::max(a.c, a.o) * wt)));
  const int64_t tc = band_rows * wt;  // tiles per band (the stride of the buffers)

  float* u = thread_scratch(ScratchSlot::Conv0, static_cast<size_t>(36 * a.o * a.c));
  float* v = thread_scratch(ScratchSlot::Conv1, static_cast<size_t>(36 * a.c * tc));
  float* m = thread_scratch(ScratchSlot::Conv2, static_cast<size_t>(36 * a.o * tc));
  transform_weights(pool, k, a, u);

  for (int64_t n = 0; n < a.n; ++n) {
    const float* xn = a.x + n * a.c * a.h * a.w;
    float* yn = a.y + n * a.o * ho * wo;
    for (int64_t ty0 = 0; ty0 < ht; ty0 += band_rows) {
      const int64_t rows = std::min(band_rows, ht - ty0), tiles = rows * wt;

      transform_input_band(pool, k, xn, a.c, a.h, a.w, a.ph, a.pw, ty0, rows, wt, in_pitch, v, tc);

      pool.run_tasks(36, [&](int64_t xi) {
        GemmOp op;
        op.m = a.o;
        op.n = tiles;
        op.k = a.c;
        op.a = u + xi * a.o * a.c;
        op.lda = a.c;
        op.b = v + xi * a.c * tc;
        op.ldb = tc;
        op.c = m + xi * a.o * tc;
        op.ldc = tc;
        sgemm(isa, nullptr, op);
      });

      pool.parallel_for(a.o, [&](int64_t o0, int64_t o1) {
        std::vector<float> out(static_cast<size_t>(16 * out_pitch)), line(static_cast<size_t>(4 * wt));
        for (int64_t o = o0; o < o1; ++o) {
          const float b = a.bias ? a.bias[o] : 0.0f;
          for (int64_t r = 0; r < rows; ++r) {
            k.output_row(m + o * tc + r * wt, a.o * tc, wt, b, out.data(), out_pitch);
            const int64_t oh0 = 4 * (ty0 + r);
            for (int i = 0; i < 4 && oh0 + i < ho; ++i) {
              k.from_phases(out.data() + 4 * i * out_pitch, out_pitch, wt, line.data());
              std::memcpy(yn + (o * ho + oh0 + i) * wo, line.data(), wo * sizeof(float));
            }
          }
        }
      }, 1);
    }
  }
}

}  // namespace cn
