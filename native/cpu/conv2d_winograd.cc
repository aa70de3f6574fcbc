// The drivers of the Winograd convolution: weight transform (or the cached one),
// then per image and per band of tile rows (so buffers stay bounded): input
// transform (threads split channels), 36 independent GEMMs (threads split
// them), output transform (threads split output channels). The backward pass
// runs the same bands with gradY's transform in place of the input's and the
// adjoints of the GEMMs and of the input transform.
#include "conv2d_winograd.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "../engine/error.h"
#include "gemm.h"
#include "scratch.h"
#include "winograd_f4x3.h"

namespace cn {

namespace {

const WinogradF4x3Kernels& kernels_for(Isa isa) {
  return kernels_for_isa(isa, winograd_f4x3_portable, winograd_f4x3_avx2, winograd_f4x3_avx512);
}

// U[xi, o, c] = (G g G^T)[xi / 6, xi % 6] for the kernel g of (o, c) of weight [o_count, c_count, 3, 3].
void transform_weights(ThreadPool& pool, const WinogradF4x3Kernels& k, const float* weight, int64_t o_count,
                       int64_t c_count, float* u) {
  const int64_t plane = o_count * c_count, pitch = (c_count + 15) / 16 * 16;
  pool.parallel_for(o_count, [&](int64_t o0, int64_t o1) {
    std::vector<float> taps(static_cast<size_t>(9 * pitch), 0.0f);
    for (int64_t o = o0; o < o1; ++o) {
      for (int64_t c = 0; c < c_count; ++c)
        for (int t = 0; t < 9; ++t) taps[t * pitch + c] = weight[(o * c_count + c) * 9 + t];
      k.weight_row(taps.data(), pitch, c_count, u + o * c_count, plane);
    }
  }, 1);
}

// Transformed weights kept between calls, keyed by the weight's storage, its
// version (Conv2dParams::weight_version) and the kernel build (the forward and
// both gradients use the same transform). Eval runs the same weights every call;
// a training step changes them before its next forward. So a weight is kept only
// the second time a forward meets its key: training never pays for a copy it
// cannot reuse. The
// cache holds at most kCacheBytes (a model's transformed 3x3 weights are 4x
// its weights: hourglass104's would be 3 GB, a small model's fit); when full it drops entries no
// call has used for kStaleCalls calls (weights of a model that is gone), else
// the newcomer runs uncached. A newer version of a cached weight replaces it.
class WeightCache {
 public:
  using Buffer = std::shared_ptr<const std::vector<float>>;
  struct Key {
    const float* weight;
    int64_t o, c;
    Isa isa;
    bool operator<(const Key& k) const { return std::tie(weight, o, c, isa) < std::tie(k.weight, k.o, k.c, k.isa); }
  };

  // The cached transform of (key, version) if there is one; else whether the
  // caller should compute it into a fresh buffer and add() it. Only a
  // `sighting` counts towards keeping a weight: the backward of a training step
  // meets the version its forward just met, and counting both would copy every
  // layer's transform into the cache each step, never to be used again.
  Buffer find(const Key& key, uint64_t version, bool sighting, bool& add_it) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++tick_;
    add_it = false;
    auto it = entries_.find(key);
    if (!sighting) {
      if (it == entries_.end() || it->second.version != version) return nullptr;
      it->second.last_use = tick_;
      return it->second.data;
    }
    if (it != entries_.end()) {
      if (it->second.version == version) {
        it->second.last_use = tick_;
        return it->second.data;
      }
      bytes_ -= it->second.data->size() * sizeof(float);
      entries_.erase(it);
    }
    auto seen = seen_.find(key);
    if (seen != seen_.end() && seen->second == version) {
      seen_.erase(seen);
      add_it = room_for(static_cast<size_t>(36 * key.o * key.c) * sizeof(float));
      return nullptr;
    }
    if (seen_.size() >= kMaxSeen) seen_.clear();
    seen_[key] = version;
    return nullptr;
  }

  void add(const Key& key, uint64_t version, Buffer data) {
    std::lock_guard<std::mutex> lock(mutex_);
    const size_t bytes = data->size() * sizeof(float);
    if (!room_for(bytes)) return;
    auto it = entries_.find(key);
    if (it != entries_.end()) bytes_ -= it->second.data->size() * sizeof(float);
    entries_[key] = Entry{version, tick_, std::move(data)};
    bytes_ += bytes;
  }

 private:
  static constexpr size_t kCacheBytes = size_t{64} << 20;
  static constexpr uint64_t kStaleCalls = 4096;
  static constexpr size_t kMaxSeen = 4096;
  struct Entry {
    uint64_t version, last_use;
    Buffer data;
  };

  // Drops stale entries until `bytes` more fit; false if they still do not.
  bool room_for(size_t bytes) {
    if (bytes > kCacheBytes) return false;
    for (auto it = entries_.begin(); bytes_ + bytes > kCacheBytes && it != entries_.end();) {
      if (tick_ - it->second.last_use > kStaleCalls) {
        bytes_ -= it->second.data->size() * sizeof(float);
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
    return bytes_ + bytes <= kCacheBytes;
  }

  std::mutex mutex_;
  std::map<Key, Entry> entries_;
  std::map<Key, uint64_t> seen_;  // keys met once, with the version met
  size_t bytes_ = 0;
  uint64_t tick_ = 0;
};

WeightCache& weight_cache() {
  static WeightCache cache;
  return cache;
}

// The transformed weights U of a layer: the cached ones (held in `hold` for the
// whole call: the cache may drop them meanwhile) or a fresh transform into
// `scratch`. A forward is a sighting of the weight (WeightCache::find).
const float* transformed_weights(ThreadPool& pool, const WinogradF4x3Kernels& k, Isa isa, const float* weight,
                                 uint64_t version, bool sighting, int64_t o_count, int64_t c_count,
                                 WeightCache::Buffer& hold, OpScratch& scratch) {
  const size_t floats = static_cast<size_t>(36 * o_count * c_count);
  if (version) {
    const WeightCache::Key key{weight, o_count, c_count, isa};
    bool add_it = false;
    hold = weight_cache().find(key, version, sighting, add_it);
    if (!hold && add_it) {
      auto fresh = std::make_shared<std::vector<float>>(floats);
      transform_weights(pool, k, weight, o_count, c_count, fresh->data());
      hold = fresh;
      weight_cache().add(key, version, hold);
    }
    if (hold) return hold->data();
  }
  float* u = scratch.take(ScratchSlot::Conv0, floats);
  transform_weights(pool, k, weight, o_count, c_count, u);
  return u;
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

// Transformed input tiles of tile rows [ty0, ty0 + rows) of `images` images
// [c, h, w] from x0 on (padded by ph, pw): v[xi, channel, image * rows * wt +
// r * wt + tile], channel stride tc. Threads split (image, channel) pairs.
void transform_input_band(ThreadPool& pool, const WinogradF4x3Kernels& k, const float* x0, int64_t images,
                          int64_t c_count, int64_t h, int64_t w, int ph, int pw, int64_t ty0, int64_t rows,
                          int64_t wt, int64_t in_pitch, float* v, int64_t tc) {
  // Each padded input row of the band is phased once into `rows_buf` (row q at
  // q * 4 * in_pitch), and each tile row reads its 6 rows (stride 4 * in_pitch,
  // as input_row wants) straight from there: tile rows overlap by 2 input rows.
  // The buffer starts zeroed and keeps its zeros where no data lands: rows
  // above or below the image (the same rows for every channel) and the
  // padding tails that row_to_phases leaves alone.
  const int64_t band_in_rows = 4 * rows + 2;
  pool.parallel_for(images * c_count, [&](int64_t i0, int64_t i1) {
    std::vector<float> rows_buf(static_cast<size_t>(band_in_rows * 4 * in_pitch), 0.0f);
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t img = i / c_count, c = i % c_count;
      const float* xc = x0 + i * h * w;  // image img, channel c
      float* vc = v + c * tc + img * rows * wt;
      for (int64_t q = 0; q < band_in_rows; ++q) {
        const int64_t ih = 4 * ty0 - ph + q;
        if (ih >= 0 && ih < h) row_to_phases(k, xc + ih * w, w, pw, in_pitch, rows_buf.data() + q * 4 * in_pitch, in_pitch);
      }
      for (int64_t r = 0; r < rows; ++r)
        k.input_row(rows_buf.data() + 4 * r * 4 * in_pitch, in_pitch, wt, vc + r * wt, c_count * tc);
    }
  }, 1);
}

// One of the 36 products with the transformed weights U[xi] (stored [o, c]) on
// a band's tiles (rows tc apart): out (o x tiles) = U[xi] * b (c x tiles) in the
// forward, out (c x tiles) = U[xi]^T * b (o x tiles) for the input gradient.
void multiply_by_weights(Isa isa, const float* u_xi, bool transpose, int64_t o, int64_t c, const float* b, float* out,
                         int64_t tiles, int64_t tc) {
  GemmOp op;
  op.trans_a = transpose;
  op.m = transpose ? c : o;
  op.k = transpose ? o : c;
  op.n = tiles;
  op.a = u_xi;
  op.lda = c;
  op.b = b;
  op.ldb = tc;
  op.c = out;
  op.ldc = tc;
  sgemm(isa, nullptr, op);
}

}  // namespace

bool winograd_f4x3_suits(int64_t kh, int64_t kw, int sh, int sw, int ph, int pw, int64_t in_channels,
                         int64_t out_channels, int64_t batch, int64_t out_h, int64_t out_w) {
  return kh == 3 && kw == 3 && sh == 1 && sw == 1 && ph >= 0 && ph <= 2 && pw >= 0 && pw <= 2 &&
         in_channels >= 16 && out_channels >= 16 && batch * ((out_h + 3) / 4) * ((out_w + 3) / 4) >= 16;
}

namespace {

// Tile rows per band: about 16 MB for each of the transformed input and output.
// Images of fewer than kBandTiles tiles (the inner hourglass levels, small
// models) share a band, their tiles side by side, so that the 36 GEMMs are
// about kBandTiles wide instead of each image running 36 narrow ones; no wider,
// as the transformed output would then leave the cache before its transform.
struct TileGrid {
  int64_t ho, wo, ht, wt;       // output size, tile rows and columns
  int64_t out_pitch, in_pitch;  // phase-layout rows: whole vectors of tiles (plus the one extra tile the input transform peeks at)
  int64_t rows, images, tc;     // tile rows and images per band; tc = tiles per band (the buffers' stride)
};
TileGrid plan_tiles(const WinogradLayer& a, const char* what) {
  TileGrid t;
  t.ho = a.h + 2 * a.ph - 2;
  t.wo = a.w + 2 * a.pw - 2;
  CN_CHECK(t.ho > 0 && t.wo > 0, "conv2d: Winograd ", what, " called with an empty output");
  t.ht = (t.ho + 3) / 4;
  t.wt = (t.wo + 3) / 4;
  t.out_pitch = (t.wt + 15) / 16 * 16;
  t.in_pitch = t.out_pitch + 1;
  const int64_t budget = int64_t(1) << 22;  // floats
  constexpr int64_t kBandTiles = 128;
  const int64_t widest = 36 * std::max(a.c, a.o);
  t.rows = std::min(t.ht, std::max<int64_t>(1, budget / (widest * t.wt)));
  t.images = t.rows < t.ht ? 1
                           : std::max<int64_t>(1, std::min({a.n, (kBandTiles + t.ht * t.wt - 1) / (t.ht * t.wt),
                                                            budget / (widest * t.ht * t.wt)}));
  t.tc = t.images * t.rows * t.wt;
  return t;
}

}  // namespace

void winograd_f4x3_conv(ThreadPool& pool, Isa isa, const WinogradConvArgs& a) {
  const WinogradF4x3Kernels& k = kernels_for(isa);
  const TileGrid grid = plan_tiles(a, "convolution");
  const int64_t ho = grid.ho, wo = grid.wo, ht = grid.ht, wt = grid.wt, out_pitch = grid.out_pitch, in_pitch = grid.in_pitch;
  const int64_t band_rows = grid.rows, band_images = grid.images, tc = grid.tc;

  OpScratch v_buf(ScratchSlot::Conv1, static_cast<size_t>(36 * a.c * tc)), m_buf(ScratchSlot::Conv2, static_cast<size_t>(36 * a.o * tc)), u_buf;
  float *v = v_buf.data(), *m = m_buf.data();
  WeightCache::Buffer cached;
  const float* u = transformed_weights(pool, k, isa, a.weight, a.weight_version, true, a.o, a.c, cached, u_buf);

  for (int64_t n = 0; n < a.n; n += band_images) {
    const int64_t images = std::min(band_images, a.n - n);
    const float* xn = a.x + n * a.c * a.h * a.w;
    for (int64_t ty0 = 0; ty0 < ht; ty0 += band_rows) {
      const int64_t rows = std::min(band_rows, ht - ty0), tiles = images * rows * wt;

      transform_input_band(pool, k, xn, images, a.c, a.h, a.w, a.ph, a.pw, ty0, rows, wt, in_pitch, v, tc);

      pool.run_tasks(36, [&](int64_t xi) {
        multiply_by_weights(isa, u + xi * a.o * a.c, false, a.o, a.c, v + xi * a.c * tc, m + xi * a.o * tc, tiles, tc);
      });

      pool.parallel_for(images * a.o, [&](int64_t i0, int64_t i1) {
        std::vector<float> out(static_cast<size_t>(16 * out_pitch)), line(static_cast<size_t>(4 * wt));
        for (int64_t i = i0; i < i1; ++i) {
          const int64_t img = i / a.o, o = i % a.o;
          const float b = a.bias ? a.bias[o] : 0.0f;
          float* yo = a.y + ((n + img) * a.o + o) * ho * wo;
          for (int64_t r = 0; r < rows; ++r) {
            k.output_row(m + o * tc + (img * rows + r) * wt, a.o * tc, wt, b, out.data(), out_pitch);
            const int64_t oh0 = 4 * (ty0 + r);
            for (int q = 0; q < 4 && oh0 + q < ho; ++q) {
              // Straight into y when the row is whole tiles; else through a line (a short copy per row
              // cost 2 % of a small model's step when done for every row).
              float* yrow = yo + (oh0 + q) * wo;
              k.from_phases(out.data() + 4 * q * out_pitch, out_pitch, wt, wo == 4 * wt ? yrow : line.data());
              if (wo != 4 * wt) std::memcpy(yrow, line.data(), wo * sizeof(float));
            }
          }
        }
      }, 1);
    }
  }
}

void winograd_f4x3_backward(ThreadPool& pool, Isa isa, const WinogradBackwardArgs& a) {
  const WinogradF4x3Kernels& k = kernels_for(isa);
  const TileGrid grid = plan_tiles(a, "backward");
  const int64_t ho = grid.ho, wo = grid.wo, ht = grid.ht, wt = grid.wt, out_pitch = grid.out_pitch, in_pitch = grid.in_pitch;
  const int64_t tc = grid.tc;

  // v holds x's transformed tiles for the weight gradient, then (tile by tile
  // of the 36) U^T M for the input gradient.
  OpScratch v_buf(ScratchSlot::Conv1, static_cast<size_t>(36 * a.c * tc)), m_buf(ScratchSlot::Conv2, static_cast<size_t>(36 * a.o * tc)),
      du_buf, u_buf;
  float *v = v_buf.data(), *m = m_buf.data();
  float* du = a.gw ? du_buf.take(ScratchSlot::Conv3, static_cast<size_t>(36 * a.o * a.c)) : nullptr;
  WeightCache::Buffer cached;
  const float* u = a.gx ? transformed_weights(pool, k, isa, a.weight, a.weight_version, false, a.o, a.c, cached, u_buf) : nullptr;
  bool first = true;
  for (int64_t n = 0; n < a.n; n += grid.images) {
    const int64_t images = std::min(grid.images, a.n - n);
    for (int64_t ty0 = 0; ty0 < ht; ty0 += grid.rows) {
      const int64_t rows = std::min(grid.rows, ht - ty0), tiles = images * rows * wt;
      if (a.gw) transform_input_band(pool, k, a.x + n * a.c * a.h * a.w, images, a.c, a.h, a.w, a.ph, a.pw, ty0, rows, wt, in_pitch, v, tc);
      // m[xi, o, tile] = (A dY A^T)[xi] of the gradient's 4x4 tiles (zero past the output's edge).
      pool.parallel_for(images * a.o, [&](int64_t i0, int64_t i1) {
        std::vector<float> buf(static_cast<size_t>(16 * out_pitch), 0.0f);
        for (int64_t i = i0; i < i1; ++i) {
          const int64_t img = i / a.o, o = i % a.o;
          const float* gyo = a.gy + ((n + img) * a.o + o) * ho * wo;
          for (int64_t r = 0; r < rows; ++r) {
            for (int q = 0; q < 4; ++q) {
              const int64_t oh = 4 * (ty0 + r) + q;
              float* dst = buf.data() + 4 * q * out_pitch;
              if (oh < ho)
                row_to_phases(k, gyo + oh * wo, wo, 0, wt, dst, out_pitch);
              else
                std::memset(dst, 0, static_cast<size_t>(4 * out_pitch) * sizeof(float));
            }
            k.gradient_row(buf.data(), out_pitch, wt, m + o * tc + (img * rows + r) * wt, a.o * tc);
          }
        }
      }, 1);
      pool.run_tasks(36, [&](int64_t xi) {
        if (a.gw) {  // dU[xi] (o x c) += m[xi] (o x tiles) * v[xi]^T (tiles x c), summed over the bands in order.
          GemmOp op;
          op.trans_b = true;
          op.m = a.o;
          op.n = a.c;
          op.k = tiles;
          op.a = m + xi * a.o * tc;
          op.lda = tc;
          op.b = v + xi * a.c * tc;
          op.ldb = tc;
          op.beta = first ? 0.0f : 1.0f;
          op.c = du + xi * a.o * a.c;
          op.ldc = a.c;
          sgemm(isa, nullptr, op);
        }
        if (a.gx)  // v[xi] (c x tiles) = U[xi]^T (c x o) * m[xi] (o x tiles)
          multiply_by_weights(isa, u + xi * a.o * a.c, true, a.o, a.c, m + xi * a.o * tc, v + xi * a.c * tc, tiles, tc);
      });
      first = false;
      if (a.gx) {
        // gx: B (U^T M) B^T of every tile, overlap-added over the band's padded input rows
        // [4 ty0, 4 (ty0 + rows) + 2), then the rows inside the image stored; the first two
        // rows of a band after the first are the previous band's last two: added to.
        const int64_t acc_rows = 4 * rows + 2, groups = (a.w + a.pw + 3) / 4;
        pool.parallel_for(images * a.c, [&](int64_t i0, int64_t i1) {
          std::vector<float> acc(static_cast<size_t>(acc_rows * 6 * in_pitch)), line(static_cast<size_t>(4 * groups));
          for (int64_t i = i0; i < i1; ++i) {
            const int64_t img = i / a.c, c = i % a.c;
            std::fill(acc.begin(), acc.end(), 0.0f);
            for (int64_t r = 0; r < rows; ++r)
              k.input_adjoint_row(v + c * tc + (img * rows + r) * wt, a.c * tc, wt, acc.data() + 4 * r * 6 * in_pitch, in_pitch);
            float* gxc = a.gx + ((n + img) * a.c + c) * a.h * a.w;
            for (int64_t q = 0; q < acc_rows; ++q) {
              const int64_t ih = 4 * ty0 - a.ph + q;
              if (ih < 0 || ih >= a.h) continue;
              k.from_adjoint_phases(acc.data() + q * 6 * in_pitch, in_pitch, groups, line.data());
              float* dst = gxc + ih * a.w;
              const float* src = line.data() + a.pw;
              if (q < 2 && ty0 > 0)
                for (int64_t x = 0; x < a.w; ++x) dst[x] += src[x];
              else
                std::memcpy(dst, src, static_cast<size_t>(a.w) * sizeof(float));
            }
          }
        }, 1);
      }
    }
  }
  if (!a.gw) return;
  // gw[o, c] = G^T dU[o, c] G (3x3 from 6x6).
  static constexpr double kG[6][3] = {{0.25, 0, 0},           {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                      {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
  const int64_t plane = a.o * a.c;
  pool.parallel_for(plane, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      double e[6][3] = {};  // dU G
      for (int i = 0; i < 6; ++i)
        for (int l = 0; l < 6; ++l) {
          const double d = du[(6 * i + l) * plane + p];
          for (int s = 0; s < 3; ++s) e[i][s] += d * kG[l][s];
        }
      float* g = a.gw + p * 9;
      for (int r = 0; r < 3; ++r)
        for (int s = 0; s < 3; ++s) {
          double acc = 0;
          for (int i = 0; i < 6; ++i) acc += kG[i][r] * e[i][s];
          g[3 * r + s] = static_cast<float>(acc);
        }
    }
  }, 64);
}

}  // namespace cn
