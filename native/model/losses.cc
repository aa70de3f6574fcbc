#include "losses.h"

#include <algorithm>
#include <cmath>

#include "../engine/error.h"

namespace cn {

namespace {

// Fixed chunking keeps the summation order independent of the thread count.
constexpr int64_t kChunk = 16384;

template <typename Fn>
double chunked_sum(int64_t n, ThreadPool* pool, const Fn& fn) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> part(static_cast<size_t>(chunks), 0.0);
  auto run = [&](int64_t c) {
    const int64_t b = c * kChunk, e = std::min(n, b + kChunk);
    part[static_cast<size_t>(c)] = fn(b, e);
  };
  if (pool && chunks > 1)
    pool->run_tasks(chunks, run);
  else
    for (int64_t c = 0; c < chunks; ++c) run(c);
  double s = 0;
  for (double v : part) s += v;
  return s;
}

void check_host(const Tensor& t, const char* name) {
  if (!t.defined()) fail("'", name, "' is missing");
  if (!t.is_host()) fail("'", name, "' must be in host memory (the losses run on the CPU)");
}

void check_same_shape(const Tensor& a, const char* an, const Tensor& b, const char* bn) {
  if (a.shape() != b.shape())
    fail("'", bn, "' has shape ", shape_str(b.shape()), " but '", an, "' has shape ", shape_str(a.shape()));
}

void check_grad(const Tensor& g, const Tensor& like, const char* name) {
  if (!g.defined()) return;
  if (!g.is_host()) fail("gradient '", name, "' must be in host memory");
  if (g.shape() != like.shape())
    fail("gradient '", name, "' has shape ", shape_str(g.shape()), ", expected ", shape_str(like.shape()));
}

}  // namespace

double gaussian_focal_loss(const Tensor& logits, const Tensor& gt, Tensor& grad_logits, double grad_scale,
                           ThreadPool* pool) {
  check_host(logits, "logits");
  check_host(gt, "gt");
  check_same_shape(logits, "logits", gt, "gt");
  check_grad(grad_logits, logits, "grad_logits");
  const int64_t n = logits.numel();
  const float* x = logits.data();
  const float* y = gt.data();

  const double num_pos = chunked_sum(n, pool, [&](int64_t b, int64_t e) {
    double c = 0;
    for (int64_t i = b; i < e; ++i) c += y[i] == 1.0f;
    return c;
  });
  const double norm = std::max(1.0, num_pos) + kLossAvgEps;
  const double gscale = grad_scale / norm;
  float* g = grad_logits.defined() ? grad_logits.data() : nullptr;
  constexpr double eps = 1e-12;

  const double sum = chunked_sum(n, pool, [&](int64_t b, int64_t e) {
    double s = 0;
    for (int64_t i = b; i < e; ++i) {
      // One exponential of -|x| gives both p and 1 - p without cancellation in
      // either tail; the transcendentals run in float (inputs are float32 and
      // glibc's expf/logf are within an ulp), the products and sums in double.
      const float xf = x[i];
      const float ef = std::exp(-std::fabs(xf));
      const double e = ef, inv = 1.0 / (1.0 + e);
      const double p = xf >= 0 ? inv : e * inv;
      const double q = xf >= 0 ? e * inv : inv;
      double loss, dldp;
      if (y[i] == 1.0f) {
        const double lp = std::log(static_cast<float>(p + eps));
        loss = -lp * q * q;
        dldp = -q * q / (p + eps) + 2.0 * q * lp;
      } else {
        const double om = 1.0 - static_cast<double>(y[i]);
        const double w = (om * om) * (om * om);
        const double lq = std::log(static_cast<float>(q + eps));
        loss = -lq * p * p * w;
        dldp = w * (p * p / (q + eps) - 2.0 * p * lq);
      }
      s += loss;
      if (g) g[i] = static_cast<float>(dldp * p * q * gscale);
    }
    return s;
  });
  return sum / norm;
}

EmbeddingLoss associative_embedding_loss(const Tensor& tl_emb, const Tensor& br_emb,
                                         const std::vector<std::vector<CornerMatch>>& match, double pull_weight,
                                         double push_weight, Tensor& grad_tl, Tensor& grad_br,
                                         double grad_scale) {
  check_host(tl_emb, "tl_emb");
  check_host(br_emb, "br_emb");
  if (tl_emb.dim() != 4) fail("'tl_emb' must be [N,M,H,W], got ", shape_str(tl_emb.shape()));
  check_same_shape(tl_emb, "tl_emb", br_emb, "br_emb");
  check_grad(grad_tl, tl_emb, "grad_tl_emb");
  check_grad(grad_br, br_emb, "grad_br_emb");
  const int64_t N = tl_emb.size(0), M = tl_emb.size(1), H = tl_emb.size(2), W = tl_emb.size(3);
  if (static_cast<int64_t>(match.size()) != N)
    fail("the embedding match has ", match.size(), " images but the embeddings have batch size ", N);
  const int64_t plane = H * W;
  if (grad_tl.defined()) std::fill(grad_tl.data(), grad_tl.data() + grad_tl.numel(), 0.0f);
  if (grad_br.defined()) std::fill(grad_br.data(), grad_br.data() + grad_br.numel(), 0.0f);

  EmbeddingLoss total;
  std::vector<double> t, b, m, gt, gb;
  for (int64_t img = 0; img < N; ++img) {
    const auto& objs = match[static_cast<size_t>(img)];
    const int64_t K = static_cast<int64_t>(objs.size());
    if (K == 0) continue;
    total.br_emb_has_grad = true;
    for (int64_t k = 0; k < K; ++k) {
      const CornerMatch& c = objs[static_cast<size_t>(k)];
      if (c.tl_y < 0 || c.tl_y >= H || c.tl_x < 0 || c.tl_x >= W || c.br_y < 0 || c.br_y >= H || c.br_x < 0 ||
          c.br_x >= W)
        fail("embedding match ", k, " of image ", img, " (tl ", c.tl_y, ",", c.tl_x, " br ", c.br_y, ",", c.br_x,
             ") is outside the ", H, "x", W, " map");
    }
    t.assign(static_cast<size_t>(K * M), 0);
    b.assign(static_cast<size_t>(K * M), 0);
    m.assign(static_cast<size_t>(K * M), 0);
    gt.assign(static_cast<size_t>(K * M), 0);  // d(pull+push)/d e_tl per object, weights applied
    gb.assign(static_cast<size_t>(K * M), 0);
    const float* te = tl_emb.data() + img * M * plane;
    const float* be = br_emb.data() + img * M * plane;
    for (int64_t k = 0; k < K; ++k) {
      const CornerMatch& c = objs[static_cast<size_t>(k)];
      for (int64_t d = 0; d < M; ++d) {
        t[k * M + d] = te[d * plane + c.tl_y * W + c.tl_x];
        b[k * M + d] = be[d * plane + c.br_y * W + c.br_x];
        m[k * M + d] = (t[k * M + d] + b[k * M + d]) / 2.0;
      }
    }
    double pull = 0;
    for (int64_t i = 0; i < K * M; ++i) {
      const double dt = t[i] - m[i], db = b[i] - m[i];
      pull += dt * dt + db * db;
      // d/dt [(t-m)^2 + (b-m)^2] with m = (t+b)/2 is t - b.
      gt[i] += pull_weight * (t[i] - b[i]) / static_cast<double>(K);
      gb[i] += pull_weight * (b[i] - t[i]) / static_cast<double>(K);
    }
    pull /= static_cast<double>(K);

    double push = 0;
    if (K > 1) {
      const double inv = 1.0 / static_cast<double>(K * (K - 1));
      for (int64_t j = 0; j < K; ++j)
        for (int64_t k = 0; k < K; ++k) {
          if (j == k) continue;
          // The reference sums the per-dimension differences before |.| (a quirk for M > 1).
          double s = 0;
          for (int64_t d = 0; d < M; ++d) s += m[j * M + d] - m[k * M + d];
          const double v = 1.0 - std::abs(s);
          if (v <= 0) continue;  // relu passes no gradient at 0
          push += v;
          const double sg = s > 0 ? 1.0 : (s < 0 ? -1.0 : 0.0);
          // d v / d mean_j = -sign(s), d v / d mean_k = +sign(s); d mean / d e = 1/2.
          const double gj = -sg * 0.5 * push_weight * inv, gk = sg * 0.5 * push_weight * inv;
          for (int64_t d = 0; d < M; ++d) {
            gt[j * M + d] += gj;
            gb[j * M + d] += gj;
            gt[k * M + d] += gk;
            gb[k * M + d] += gk;
          }
        }
      push *= inv;
    }
    total.pull += pull_weight * pull;
    total.push += push_weight * push;

    // Several objects may share a cell: their gradients add up, as autograd's gather backward does.
    float* gtl = grad_tl.defined() ? grad_tl.data() + img * M * plane : nullptr;
    float* gbr = grad_br.defined() ? grad_br.data() + img * M * plane : nullptr;
    for (int64_t k = 0; k < K; ++k) {
      const CornerMatch& c = objs[static_cast<size_t>(k)];
      for (int64_t d = 0; d < M; ++d) {
        if (gtl) gtl[d * plane + c.tl_y * W + c.tl_x] += static_cast<float>(grad_scale * gt[k * M + d]);
        if (gbr) gbr[d * plane + c.br_y * W + c.br_x] += static_cast<float>(grad_scale * gb[k * M + d]);
      }
    }
  }
  return total;
}

double masked_smooth_l1_loss(const Tensor& pred, const Tensor& target, const Tensor& mask, double beta,
                             Tensor& grad_pred, double grad_scale, ThreadPool* pool) {
  check_host(pred, "pred");
  check_host(target, "target");
  check_host(mask, "mask");
  if (pred.dim() != 4) fail("'pred' must be [N,C,H,W], got ", shape_str(pred.shape()));
  check_same_shape(pred, "pred", target, "target");
  const int64_t N = pred.size(0), C = pred.size(1), H = pred.size(2), W = pred.size(3);
  if (mask.shape() != Shape{N, 1, H, W})
    fail("'mask' has shape ", shape_str(mask.shape()), ", expected [", N, ",1,", H, ",", W, "]");
  check_grad(grad_pred, pred, "grad_pred");
  if (!(beta > 0)) fail("smooth-L1 beta must be positive, got ", beta);
  const int64_t plane = H * W, n = pred.numel();
  const float* p = pred.data();
  const float* t = target.data();
  const float* w = mask.data();

  const double wsum = chunked_sum(mask.numel(), pool, [&](int64_t b, int64_t e) {
    double s = 0;
    for (int64_t i = b; i < e; ++i) s += w[i];
    return s;
  });
  const double norm = std::max(1.0, wsum) + kLossAvgEps;
  const double gscale = grad_scale / norm;
  float* g = grad_pred.defined() ? grad_pred.data() : nullptr;
  const double sum = chunked_sum(n, pool, [&](int64_t b, int64_t e) {
    double s = 0;
    for (int64_t i = b; i < e; ++i) {
      const int64_t img = i / (C * plane), cell = i % plane;
      const double wi = w[img * plane + cell];
      const double d = static_cast<double>(p[i]) - static_cast<double>(t[i]);
      double loss, dl;
      smooth_l1_element(d, beta, &loss, &dl);
      s += wi * loss;
      if (g) g[i] = static_cast<float>(wi * dl * gscale);
    }
    return s;
  });
  return sum / norm;
}

CornerHeadLosses corner_head_losses(const CornerHeadTensors& out, const CornerTargets& tg,
                                    const CornerHeadLossWeights& w, CornerHeadTensors& grads, double grad_scale,
                                    ThreadPool* pool) {
  check_host(out.tl_heat, "tl_heat");
  check_host(tg.tl_heatmap, "tl_heatmap target");
  check_host(tg.br_heatmap, "br_heatmap target");
  if (out.tl_heat.dim() != 4) fail("'tl_heat' must be [N,C,H,W], got ", shape_str(out.tl_heat.shape()));
  const int64_t N = out.tl_heat.size(0), H = out.tl_heat.size(2), W = out.tl_heat.size(3);
  auto mask_of = [&](const Tensor& given, const Tensor& heat) {
    if (given.defined()) return given;
    Tensor m = Tensor::host(Shape{N, 1, H, W});
    heatmap_peak_mask(heat, m);
    return m;
  };
  const Tensor tl_mask = mask_of(tg.tl_mask, tg.tl_heatmap);
  const Tensor br_mask = mask_of(tg.br_mask, tg.br_heatmap);

  CornerHeadLosses r;
  const double tl_det = gaussian_focal_loss(out.tl_heat, tg.tl_heatmap, grads.tl_heat, 0.5 * grad_scale, pool);
  const double br_det = gaussian_focal_loss(out.br_heat, tg.br_heatmap, grads.br_heat, 0.5 * grad_scale, pool);
  r.det = (tl_det + br_det) / 2.0;
  const EmbeddingLoss ae =
      associative_embedding_loss(out.tl_emb, out.br_emb, tg.match, w.pull, w.push, grads.tl_emb, grads.br_emb,
                                 grad_scale);
  r.pull = ae.pull;
  r.push = ae.push;
  r.br_emb_has_grad = ae.br_emb_has_grad;
  const double tl_off =
      masked_smooth_l1_loss(out.tl_off, tg.tl_offset, tl_mask, w.offset_beta, grads.tl_off, 0.5 * grad_scale, pool);
  const double br_off =
      masked_smooth_l1_loss(out.br_off, tg.br_offset, br_mask, w.offset_beta, grads.br_off, 0.5 * grad_scale, pool);
  r.off = (tl_off + br_off) / 2.0;
  return r;
}

}  // namespace cn
