// test-backend-ops: every engine op on every available backend against the CPU,
// and the kernels' speed, as one native program (in the spirit of ggml's
// test-backend-ops). It needs no Node.js, so it runs on GPU machines that have
// only a compiler, CMake and the CUDA toolkit (scripts/gpu-check.sh builds and
// runs it there); CI runs its test mode on the CUDA emulator.
//
//   test-backend-ops test  [-b BACKEND]... [-o OP] [--require-all] [--no-model]
//   test-backend-ops perf  [-b BACKEND]... [-o OP] [--no-model]
//   test-backend-ops allocator   (the caching allocator's checks: allocator_checks.cc)
//   test-backend-ops threads     (the thread pool's checks: thread_pool_checks.cc)
//
// BACKEND: cuda:N, cuda (every device), cuda-emu; default: every CUDA device, or
// the emulator when there is none. test: every case of every op (small, odd
// sizes, ties) against the CPU, then a tiny CornerNet (forward, two training
// steps) against the CPU from the same seed. perf: the bench cases (realistic
// CornerNet sizes) timed per backend, GB/s for memory-bound ops next to the
// device's own copy bandwidth, GFLOP/s for convolutions, then HourglassNet-104:
// a 1x3x511x511 forward and training steps at batch 6 (ms/img).
// Exit status: 0 when everything ran and agreed, 1 otherwise. An engine op with
// no test case is a failure, so a new op cannot go untested.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "allocator_checks.h"
#include "thread_pool_checks.h"
#include "cpu/cpu_backend.h"
#include "engine/runtime.h"
#include "model/cornernet.h"
#include "model/targets.h"
#include "train/process_group.h"
#include "train/replica_transport.h"
#include "train/trainer.h"

namespace {

using cn::Backend;
using cn::Op;
using cn::Shape;
using cn::Tensor;

// ---- inputs --------------------------------------------------------------------

struct Rng {
  std::mt19937_64 gen;
  explicit Rng(uint64_t seed) : gen(seed) {}
  float normal() { return std::normal_distribution<float>(0.f, 1.f)(gen); }
  float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(gen); }
};

Tensor normal(Rng& r, const Shape& s, float scale = 1.f) {
  Tensor t = Tensor::host(s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = r.normal() * scale;
  return t;
}

Tensor uniform(Rng& r, const Shape& s, float lo, float hi) {
  Tensor t = Tensor::host(s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = r.uniform(lo, hi);
  return t;
}

// Values 0.01 apart in random order, a few of them repeated: the max-based ops
// meet ties (their tie rules must agree exactly) but no near-ties.
Tensor distinct_with_ties(Rng& r, const Shape& s) {
  Tensor t = Tensor::host(s);
  const int64_t n = t.numel();
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), r.gen);
  for (int64_t i = 0; i < n; ++i) t.data()[i] = static_cast<float>(order[i] - n / 2) * 0.01f;
  for (int64_t i = 0; i + 7 < n; i += 7) t.data()[i + 3] = t.data()[i];
  return t;
}

Tensor scalar_tensor(double v) {
  Tensor t = Tensor::host({1});
  t.data()[0] = static_cast<float>(v);
  return t;
}

// ---- cases -----------------------------------------------------------------------

struct Case {
  Op op;
  std::string label;
  std::vector<Tensor> in;       // host; uploaded to each backend
  std::vector<Shape> out;       // outputs, allocated on the backend and overwritten
  std::vector<size_t> in_out;   // inputs the op updates in place: compared too
  std::function<void(Backend&, std::vector<Tensor>& in, std::vector<Tensor>& out)> run;
  double rtol = 1e-5, atol = 1e-6;
  double flops = 0;  // per run, for GFLOP/s
  double bytes = 0;  // read + written per run, for GB/s
};

double bytes_of(const std::vector<Tensor>& in, const std::vector<Shape>& out) {
  double b = 0;
  for (const Tensor& t : in) b += static_cast<double>(t.bytes());
  for (const Shape& s : out) b += static_cast<double>(cn::shape_numel(s)) * 4;
  return b;
}

std::string shape_label(const Shape& s) {
  std::string r;
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "x" : "") + std::to_string(s[i]);
  return r;
}

struct ConvShape {
  Shape x;
  int64_t o, k;
  int stride, pad;
  bool bias;
};

void add_conv(std::vector<Case>& cases, Rng& r, const ConvShape& c) {
  const Shape w{c.o, c.x[1], c.k, c.k};
  cn::Conv2dParams p;
  p.stride_h = p.stride_w = c.stride;
  p.pad_h = p.pad_w = c.pad;
  const Shape y{c.x[0], c.o, cn::conv_out_size(c.x[2], c.k, c.stride, c.pad),
                cn::conv_out_size(c.x[3], c.k, c.stride, c.pad)};
  const std::string label = shape_label(c.x) + " w" + shape_label(w) + " s" + std::to_string(c.stride) + " p" +
                            std::to_string(c.pad) + (c.bias ? "" : " nobias");
  const double fan_in = static_cast<double>(c.x[1] * c.k * c.k);
  const double flops = 2.0 * cn::shape_numel(y) * fan_in;
  Tensor x = normal(r, c.x), wt = normal(r, w, static_cast<float>(1 / std::sqrt(fan_in)));
  Tensor b = c.bias ? normal(r, {c.o}, 0.1f) : Tensor{};
  // Sums over C*k*k products in another order (and, on a GPU, with FMA).
  const double rtol = 1e-4, atol = 1e-4;
  Case f{Op::Conv2dForward, label, {x, wt}, {y}, {}, nullptr, rtol, atol, flops};
  f.run = [p, b](Backend& be, std::vector<Tensor>& in, std::vector<Tensor>& out) {
    Tensor bias = b.defined() ? be.upload(b) : Tensor{};
    be.conv2d_forward(in[0], in[1], bias, p, out[0]);
  };
  f.bytes = bytes_of(f.in, f.out);
  cases.push_back(f);
  Case g{Op::Conv2dBackward, label, {x, wt, normal(r, y)}, {c.x, w}, {}, nullptr, rtol, atol, 2 * flops};
  if (c.bias) g.out.push_back({c.o});
  g.run = [p](Backend& be, std::vector<Tensor>& in, std::vector<Tensor>& out) {
    Tensor gb = out.size() > 2 ? out[2] : Tensor{};
    be.conv2d_backward(in[0], in[1], in[2], p, out[0], out[1], gb);
  };
  g.bytes = bytes_of(g.in, g.out);
  cases.push_back(g);
}

void add_batch_norm(std::vector<Case>& cases, Rng& r, const Shape& xs) {
  const int64_t C = xs[1];
  const std::string label = shape_label(xs);
  Tensor x = normal(r, xs), gamma = uniform(r, {C}, 0.5f, 1.5f), beta = normal(r, {C}, 0.2f);
  Tensor rm = normal(r, {C}, 0.1f), rv = uniform(r, {C}, 0.5f, 2.f);
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = x.data()[i] * 1.5f + 0.3f * static_cast<float>((i / (xs[2] * xs[3])) % C);
  for (bool relu : {false, true}) {
    const std::string tag = label + (relu ? " relu" : "");
    cn::BatchNormParams bp;
    bp.relu = relu;
    Case t{Op::BatchNormForwardTrain, tag, {x, gamma, beta, rm, rv}, {xs, {C}, {C}}, {3, 4}, nullptr, 1e-4, 1e-5};
    t.run = [bp](Backend& be, std::vector<Tensor>& in, std::vector<Tensor>& out) {
      be.batch_norm_forward_train(in[0], in[1], in[2], in[3], in[4], bp, out[0], out[1], out[2]);
    };
    t.bytes = 3.0 * x.bytes();
    cases.push_back(t);
    Case e{Op::BatchNormForwardEval, tag, {x, gamma, beta, rm, rv}, {xs}, {}, nullptr, 1e-5, 1e-6};
    e.run = [bp](Backend& be, std::vector<Tensor>& in, std::vector<Tensor>& out) {
      be.batch_norm_forward_eval(in[0], in[1], in[2], in[3], in[4], bp, out[0]);
    };
    e.bytes = 2.0 * x.bytes();
    cases.push_back(e);
    for (bool training : {true, false}) {
      // Statistics as a forward would have saved them (any positive invstd will do).
      Case b{Op::BatchNormBackward, tag + (training ? " train" : " eval"),
             {x, gamma, beta, normal(r, {C}, 0.3f), uniform(r, {C}, 0.5f, 1.5f), normal(r, xs)}, {xs, {C}, {C}}, {},
             nullptr, 1e-4, 1e-5};
      const cn::BatchNormBackwardMode mode{training, relu};
      b.run = [mode](Backend& be, std::vector<Tensor>& in, std::vector<Tensor>& out) {
        be.batch_norm_backward(in[0], in[1], in[2], in[3], in[4], in[5], mode, out[0], out[1], out[2]);
      };
      b.bytes = 4.0 * x.bytes();
      cases.push_back(b);
    }
  }
}

void add_pointwise(std::vector<Case>& cases, Rng& r, const Shape& s) {
  const std::string label = shape_label(s);
  Tensor x = normal(r, s, 3.f), gy = normal(r, s);
  x.data()[0] = NAN;  // NaN must pass through relu and sigmoid alike
  Tensor relu_y = Tensor::host(s), sig_y = Tensor::host(s);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float v = x.data()[i];
    relu_y.data()[i] = (v > 0.f || v != v) ? v : 0.f;
    sig_y.data()[i] = static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(v))));
  }
  auto add = [&](Op op, std::vector<Tensor> in, double rtol,
                 std::function<void(Backend&, std::vector<Tensor>&, std::vector<Tensor>&)> run) {
    Case c{op, label, std::move(in), {s}, {}, std::move(run), rtol, rtol * 1e-2};
    c.bytes = bytes_of(c.in, c.out);
    cases.push_back(c);
  };
  add(Op::ReluForward, {x}, 0, [](Backend& be, auto& in, auto& out) { be.relu_forward(in[0], out[0]); });
  add(Op::ReluBackward, {relu_y, gy}, 0, [](Backend& be, auto& in, auto& out) { be.relu_backward(in[0], in[1], out[0]); });
  add(Op::AddForward, {x, gy}, 0, [](Backend& be, auto& in, auto& out) { be.add_forward(in[0], in[1], out[0]); });
  // expf differs between libm and the GPU's by an ulp or two.
  add(Op::SigmoidForward, {x}, 1e-6, [](Backend& be, auto& in, auto& out) { be.sigmoid_forward(in[0], out[0]); });
  add(Op::SigmoidBackward, {sig_y, gy}, 1e-6,
      [](Backend& be, auto& in, auto& out) { be.sigmoid_backward(in[0], in[1], out[0]); });
}

void add_pools(std::vector<Case>& cases, Rng& r, const Shape& s) {
  const std::string label = shape_label(s);
  Tensor x = distinct_with_ties(r, s), gy = normal(r, s);
  const Shape up{s[0], s[1], 2 * s[2], 2 * s[3]};
  auto push = [&](Case c) {
    c.bytes = bytes_of(c.in, c.out);
    cases.push_back(c);
  };
  // Selections and copies are exact; backward sums a few gradients in another order.
  push({Op::Upsample2xForward, label, {x}, {up}, {}, [](Backend& be, auto& in, auto& out) { be.upsample2x_forward(in[0], out[0]); }, 0, 0});
  push({Op::Upsample2xBackward, label, {normal(r, up)}, {s}, {}, [](Backend& be, auto& in, auto& out) { be.upsample2x_backward(in[0], out[0]); }, 1e-6, 1e-6});
  push({Op::MaxPool3x3Forward, label, {x}, {s}, {}, [](Backend& be, auto& in, auto& out) { be.maxpool3x3_forward(in[0], out[0]); }, 0, 0});
  push({Op::MaxPool3x3Backward, label, {x, gy}, {s}, {}, [](Backend& be, auto& in, auto& out) { be.maxpool3x3_backward(in[0], in[1], out[0]); }, 1e-6, 1e-6});
  for (auto mode : {cn::CornerPoolMode::Top, cn::CornerPoolMode::Bottom, cn::CornerPoolMode::Left, cn::CornerPoolMode::Right}) {
    const std::string l = label + " " + cn::corner_pool_mode_name(mode);
    push({Op::CornerPoolForward, l, {x}, {s}, {}, [mode](Backend& be, auto& in, auto& out) { be.corner_pool_forward(mode, in[0], out[0]); }, 0, 0});
    push({Op::CornerPoolBackward, l, {x, gy}, {s}, {}, [mode](Backend& be, auto& in, auto& out) { be.corner_pool_backward(mode, in[0], in[1], out[0]); }, 1e-5, 1e-6});
  }
}

void add_optimizer(std::vector<Case>& cases, Rng& r, const Shape& s) {
  const std::string label = shape_label(s);
  Tensor x = normal(r, s), y = normal(r, s);
  auto push = [&](Case c) {
    c.bytes = bytes_of(c.in, c.out);
    cases.push_back(c);
  };
  push({Op::Copy, label, {x}, {s}, {}, [](Backend& be, auto& in, auto& out) { be.copy(in[0], out[0]); }, 0, 0});
  push({Op::SumSquares, label, {x}, {{1}}, {}, [](Backend& be, auto& in, auto& out) {
          be.copy(be.upload(scalar_tensor(be.sum_squares(in[0]))), out[0]);
        }, 1e-6, 0});
  push({Op::Axpy, label, {x, y}, {}, {1}, [](Backend& be, auto& in, auto&) { be.axpy(-0.75f, in[0], in[1]); }, 1e-6, 1e-7});
  cn::AdamParams ap;
  ap.lr = 1e-3f;
  ap.weight_decay = 1e-4f;
  ap.grad_scale = 0.5f;
  ap.step = 7;
  push({Op::AdamUpdate, label, {x, y, normal(r, s, 0.1f), uniform(r, s, 0.f, 0.01f)}, {}, {0, 2, 3},
        [ap](Backend& be, auto& in, auto&) { be.adam_update(in[0], in[1], in[2], in[3], ap); }, 1e-5, 1e-7});
}

// decode: heads of shape s = [N,C,H,W] with logits and embeddings on coarse grids
// (ties in scores, plateaus, equal embeddings) plus a mirrored view; the host
// detections are packed into one tensor (per image: count, then 8 floats per
// detection, zero padded) and compared exactly: every backend must give the CPU's.
void add_decode(std::vector<Case>& cases, Rng& r, const Shape& s) {
  const int64_t N = s[0], H = s[2], W = s[3];
  auto grid = [&](const Shape& sh, float lo, float hi, float step) {
    Tensor t = uniform(r, sh, lo, hi);
    for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = std::round(t.data()[i] / step) * step;
    return t;
  };
  std::vector<Tensor> in;
  for (int view = 0; view < 2; ++view) {
    in.push_back(grid(s, -6.f, 3.f, 0.5f));
    in.push_back(grid(s, -6.f, 3.f, 0.5f));
    in.push_back(grid({N, 1, H, W}, 0.f, 2.f, 0.25f));
    in.push_back(grid({N, 1, H, W}, 0.f, 2.f, 0.25f));
    in.push_back(uniform(r, {N, 2, H, W}, 0.f, 1.f));
    in.push_back(uniform(r, {N, 2, H, W}, 0.f, 1.f));
  }
  constexpr int64_t kRows = 100;  // max_per_img
  cn::decode::ImageMeta m;
  m.pad_h = 4.0 * H;
  m.pad_w = 4.0 * W;
  m.img_h = m.pad_h - 3;
  m.img_w = m.pad_w - 5;
  m.border_top = 1;
  m.border_left = 2;
  cn::decode::DecodeOptions opt;
  opt.k = static_cast<int>(std::min<int64_t>(20, s[1] * H * W));
  opt.num_dets = 200;
  opt.distance_threshold = 0.75f;
  opt.max_per_img = static_cast<int>(kRows);
  Case c{Op::Decode, shape_label(s) + " flip", in, {{N * (1 + kRows * 8)}}, {},
         [m, opt, N](Backend& be, std::vector<Tensor>& t, std::vector<Tensor>& out) {
           cn::DecodeHeads v, f;
           for (int k = 0; k < 2; ++k) {
             v.heat[k] = t[k], v.emb[k] = t[2 + k], v.off[k] = t[4 + k];
             f.heat[k] = t[6 + k], f.emb[k] = t[8 + k], f.off[k] = t[10 + k];
             f.heat_name[k] = k ? "flipBrHeat" : "flipTlHeat";
           }
           const auto res = be.decode(v, &f, std::vector<cn::decode::ImageMeta>(N, m), opt, false);
           Tensor packed = Tensor::host_zeros({N * (1 + kRows * 8)});
           for (int64_t i = 0; i < N; ++i) {
             const cn::decode::Detections& d = res[i].dets;
             float* p = packed.data() + i * (1 + kRows * 8);
             p[0] = static_cast<float>(d.size());
             for (size_t j = 0; j < d.size(); ++j) {
               float* q = p + 1 + 8 * j;
               for (int e = 0; e < 4; ++e) q[e] = d.boxes[4 * j + e];
               q[4] = d.scores[j];
               q[5] = static_cast<float>(d.labels[j]);
               q[6] = d.corner_scores[2 * j];
               q[7] = d.corner_scores[2 * j + 1];
             }
           }
           Tensor dev = be.upload(packed);
           be.copy(dev, out[0]);
         },
         0, 0};
  c.bytes = bytes_of(c.in, {});
  cases.push_back(c);
}

// Random boxes for a batch of n images on a head output of h x w cells (input
// 4h x 4w): image 1 has none; the others have up to six, one reaching the far
// border and one sharing the first box's top-left cell (its offset overwrites).
std::vector<std::vector<cn::GtBox>> random_boxes(Rng& r, int n, int classes, int h, int w) {
  const float ph = 4.f * h, pw = 4.f * w;
  std::vector<std::vector<cn::GtBox>> boxes(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    if (i == 1) continue;
    const int k = 1 + static_cast<int>(r.uniform(0.f, 4.f));
    for (int j = 0; j < k; ++j) {
      cn::GtBox b;
      b.x1 = r.uniform(0.f, pw * 0.8f);
      b.y1 = r.uniform(0.f, ph * 0.8f);
      b.x2 = std::min(pw, b.x1 + r.uniform(1.f, pw * 0.6f));
      b.y2 = std::min(ph, b.y1 + r.uniform(1.f, ph * 0.6f));
      b.label = static_cast<int>(r.uniform(0.f, static_cast<float>(classes))) % classes;
      boxes[i].push_back(b);
    }
    cn::GtBox border = boxes[i][0], shared = boxes[i][0];
    border.x2 = pw;
    border.y2 = ph;
    shared.x1 += 0.01f;
    shared.y1 += 0.01f;
    boxes[i].push_back(border);
    boxes[i].push_back(shared);
  }
  return boxes;
}

// Writes host values into a device output (scalars, embedding pairs).
void put(Backend& be, const std::vector<float>& v, Tensor& out) {
  Tensor h = Tensor::host(out.shape());
  std::copy(v.begin(), v.end(), h.data());
  be.copy(be.upload(h), out);
}

// corner_targets (exact, embedding pairs included) and corner_head_losses (the
// four terms and the brEmbHasGrad flag as one output, and the six gradients).
void add_training(std::vector<Case>& cases, Rng& r, int n, int classes, int h, int w, int m) {
  const std::string label = shape_label({n, classes, h, w}) + " M" + std::to_string(m);
  const auto boxes = random_boxes(r, n, classes, h, w);
  cn::TargetGeometry g;
  g.num_classes = classes;
  g.feat_h = h;
  g.feat_w = w;
  g.pad_h = 4 * h;
  g.pad_w = 4 * w;
  const cn::CornerTargets t = cn::build_corner_targets(boxes, g);
  int64_t pairs = 0;
  for (const auto& im : t.match) pairs += static_cast<int64_t>(im.size());
  const Shape heat{n, classes, h, w}, off{n, 2, h, w}, mask{n, 1, h, w}, emb{n, m, h, w};
  Case tc{Op::CornerTargets, label, {}, {heat, heat, off, off, mask, mask, {std::max<int64_t>(pairs, 1), 5}}, {},
          [boxes, g](Backend& be, auto&, auto& out) {
            std::vector<std::vector<cn::CornerMatch>> match;
            be.corner_targets(boxes, g, out[0], out[1], out[2], out[3], out[4], out[5], match);
            std::vector<float> rows(static_cast<size_t>(out[6].numel()), -1.f);
            size_t k = 0;
            for (size_t i = 0; i < match.size(); ++i)
              for (const cn::CornerMatch& c : match[i])
                for (int v : {static_cast<int>(i), c.tl_y, c.tl_x, c.br_y, c.br_x}) rows[k++] = static_cast<float>(v);
            put(be, rows, out[6]);
          },
          0, 0};
  tc.bytes = bytes_of(tc.in, tc.out);
  cases.push_back(tc);

  cn::CornerHeadLossWeights lw;
  lw.pull = 0.13;
  lw.push = 0.27;
  lw.offset_beta = 0.7;
  Case lc{Op::CornerHeadLosses, label,
          {normal(r, heat, 3.f), normal(r, heat, 3.f), normal(r, emb), normal(r, emb), uniform(r, off, -1.f, 2.f),
           uniform(r, off, -1.f, 2.f), t.tl_heatmap, t.br_heatmap, t.tl_offset, t.br_offset},
          {heat, heat, emb, emb, off, off, {5}}, {},
          [match = t.match, lw](Backend& be, auto& in, auto& out) {
            cn::CornerTargets tg;
            tg.tl_heatmap = in[6];
            tg.br_heatmap = in[7];
            tg.tl_offset = in[8];
            tg.br_offset = in[9];
            tg.match = match;
            cn::CornerHeadTensors o{in[0], in[1], in[2], in[3], in[4], in[5]};
            cn::CornerHeadTensors gr{out[0], out[1], out[2], out[3], out[4], out[5]};
            const cn::CornerHeadLosses l = be.corner_head_losses(o, tg, lw, gr, 1.0);
            put(be, {static_cast<float>(l.det), static_cast<float>(l.off), static_cast<float>(l.pull),
                     static_cast<float>(l.push), l.br_emb_has_grad ? 1.f : 0.f}, out[6]);
          },
          // Sums in double in another order; exp/log rounded from double on the device.
          1e-5, 1e-7};
  lc.bytes = bytes_of(lc.in, lc.out);
  cases.push_back(lc);
}

// Small odd sizes for `test`, CornerNet's sizes for `perf`.
std::vector<Case> make_cases(bool perf) {
  Rng r(20240611);
  std::vector<Case> cases;
  if (!perf) {
    for (const ConvShape& c : std::vector<ConvShape>{{{2, 5, 9, 11}, 7, 3, 1, 1, true},
                                                     {{2, 5, 9, 11}, 6, 3, 2, 1, false},
                                                     {{1, 3, 19, 17}, 8, 7, 2, 3, true},
                                                     {{2, 9, 5, 7}, 10, 1, 1, 0, true},
                                                     {{2, 9, 6, 7}, 10, 1, 2, 0, false}})
      add_conv(cases, r, c);
    for (const Shape& s : std::vector<Shape>{{3, 4, 5, 7}, {1, 3, 17, 33}}) add_batch_norm(cases, r, s);
    for (const Shape& s : std::vector<Shape>{{3, 7, 9, 13}, {1, 1, 1, 1}}) add_pointwise(cases, r, s);
    for (const Shape& s : std::vector<Shape>{{2, 3, 7, 6}, {1, 2, 5, 37}, {1, 1, 1, 1}}) add_pools(cases, r, s);
    for (const Shape& s : std::vector<Shape>{{7, 1031}, {1}}) add_optimizer(cases, r, s);
    for (const Shape& s : std::vector<Shape>{{2, 3, 9, 11}, {1, 1, 1, 3}}) add_decode(cases, r, s);
    add_training(cases, r, 3, 3, 13, 17, 1);
    add_training(cases, r, 2, 2, 9, 7, 2);
  } else {
    for (const ConvShape& c : std::vector<ConvShape>{{{1, 3, 511, 511}, 128, 7, 2, 3, true},
                                                     {{1, 256, 128, 128}, 256, 3, 1, 1, false},
                                                     {{1, 256, 64, 64}, 384, 3, 2, 1, false},
                                                     {{1, 256, 128, 128}, 256, 1, 1, 0, true}})
      add_conv(cases, r, c);
    add_batch_norm(cases, r, {6, 256, 128, 128});
    add_pointwise(cases, r, {6, 256, 128, 128});
    add_pools(cases, r, {6, 256, 128, 128});
    add_optimizer(cases, r, {1 << 24});
    add_decode(cases, r, {1, 80, 128, 128});
    add_training(cases, r, 6, 80, 128, 128, 1);
  }
  return cases;
}

// ---- running a case ------------------------------------------------------------------

struct Result {
  std::vector<Tensor> host;  // outputs, then in-place inputs, on the host
};

Result run_case(Backend& be, const Case& c, std::vector<Tensor>& in, std::vector<Tensor>& out) {
  c.run(be, in, out);
  be.synchronize();
  Result r;
  auto fetch = [&](const Tensor& t) {
    Tensor h = Tensor::host(t.shape());
    be.download(t, h);
    r.host.push_back(h);
  };
  for (const Tensor& t : out) fetch(t);
  for (size_t i : c.in_out) fetch(in[i]);
  return r;
}

Result run_fresh(Backend& be, const Case& c) {
  std::vector<Tensor> in, out;
  for (const Tensor& t : c.in) {
    // Inputs updated in place get their own copy on every backend.
    Tensor h = Tensor::host(t.shape());
    if (t.numel()) std::memcpy(h.data(), t.data(), t.bytes());
    in.push_back(be.upload(h));
  }
  for (const Shape& s : c.out) out.push_back(be.empty(s));
  return run_case(be, c, in, out);
}

// numpy.allclose; NaN equals NaN. Returns the worst violation, or "" when close.
std::string compare(const Tensor& got, const Tensor& want, double rtol, double atol) {
  double worst = 0;
  int64_t at = -1;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double g = got.data()[i], w = want.data()[i];
    if (std::isnan(g) && std::isnan(w)) continue;
    const double excess = std::isnan(g) || std::isnan(w) ? INFINITY : std::fabs(g - w) - (atol + rtol * std::fabs(w));
    if (excess > worst || (excess > 0 && at < 0)) {
      worst = excess;
      at = i;
    }
  }
  if (at < 0) return "";
  char buf[200];
  std::snprintf(buf, sizeof buf, "element %lld: got %.9g, cpu %.9g (rtol %g, atol %g)", static_cast<long long>(at),
                got.data()[at], want.data()[at], rtol, atol);
  return buf;
}

// ---- backends -----------------------------------------------------------------------

struct Backends {
  std::shared_ptr<cn::Runtime> rt = cn::Runtime::acquire();
  std::unique_ptr<cn::CpuBackend> cpu;
  std::vector<std::unique_ptr<Backend>> others;

  Backends() : cpu(new cn::CpuBackend(rt->pool(), cn::default_isa())) {}

  // "cuda:N", "cuda" (every device) or "cuda-emu"; false with a message when unavailable.
  bool add(const std::string& spec, std::string* why) {
    const bool emu = spec == "cuda-emu";
    const cn::Plugin& pl = rt->plugin(emu ? "cuda_emu" : "cuda");
    if (!pl.loaded) return *why = pl.load_error, false;
    if (pl.probe.status != CN_PROBE_OK) return *why = pl.probe.message, false;
    std::vector<int> devices;
    if (emu || spec.rfind("cuda:", 0) == 0) devices.push_back(emu ? 0 : std::atoi(spec.c_str() + 5));
    else
      for (int i = 0; i < pl.probe.device_count; ++i) devices.push_back(i);
    for (int d : devices) {
      char err[512] = {0};
      Backend* b = pl.create(d, err, sizeof err);
      if (!b) return *why = err, false;
      others.emplace_back(b);
    }
    return true;
  }
};

// ---- modes ------------------------------------------------------------------------------

int test_ops(Backends& bs, const std::string& only, bool require_all) {
  std::vector<Case> cases = make_cases(false);
  int failed = 0;
  // A missing case fails the run: every op of the engine list must be tested.
  for (int i = 0; i < static_cast<int>(Op::Count); ++i) {
    const Op op = static_cast<Op>(i);
    if (std::none_of(cases.begin(), cases.end(), [op](const Case& c) { return c.op == op; })) {
      std::printf("FAIL  %-26s has no test case\n", cn::op_name(op));
      ++failed;
    }
  }
  int passed = 0, skipped = 0;
  for (const Case& c : cases) {
    if (!only.empty() && only != cn::op_name(c.op)) continue;
    const Result want = run_fresh(*bs.cpu, c);
    for (auto& be : bs.others) {
      if (!be->supports(c.op)) {
        std::printf("%s  %-26s %-32s %s: no kernel\n", require_all ? "FAIL" : "skip", cn::op_name(c.op),
                    c.label.c_str(), be->name().c_str());
        require_all ? ++failed : ++skipped;
        continue;
      }
      std::string problem;
      try {
        const Result got = run_fresh(*be, c);
        for (size_t k = 0; k < want.host.size() && problem.empty(); ++k)
          problem = compare(got.host[k], want.host[k], c.rtol, c.atol);
      } catch (const std::exception& e) {
        problem = std::string("threw: ") + e.what();
      }
      std::printf("%s  %-26s %-32s %s%s%s\n", problem.empty() ? "ok  " : "FAIL", cn::op_name(c.op), c.label.c_str(),
                  be->name().c_str(), problem.empty() ? "" : ": ", problem.c_str());
      problem.empty() ? ++passed : ++failed;
    }
  }
  std::printf("ops: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
  return failed;
}

cn::CornerNetConfig tiny_config() {
  cn::CornerNetConfig c;
  c.num_stacks = 2;
  c.downsample_times = 2;
  c.stage_channels = {8, 8, 12};
  c.stage_blocks = {1, 1, 1};
  c.feat_channel = 8;
  c.num_classes = 3;
  c.pool_feat_channels = 8;
  c.head_feat_channels = 8;
  return c;
}

cn::TrainBatch make_batch(Rng& r, int n, int size, int classes) {
  cn::TrainBatch b;
  b.images = normal(r, {n, 3, size, size});
  b.lr = 1e-3f;
  for (int i = 0; i < n; ++i) {
    std::vector<cn::GtBox> boxes;
    for (int k = 0; k < 3; ++k) {
      cn::GtBox g;
      g.x1 = r.uniform(0, size * 0.5f);
      g.y1 = r.uniform(0, size * 0.5f);
      g.x2 = g.x1 + r.uniform(size * 0.1f, size * 0.45f);
      g.y2 = g.y1 + r.uniform(size * 0.1f, size * 0.45f);
      g.label = k % classes;
      boxes.push_back(g);
    }
    b.boxes.push_back(boxes);
  }
  return b;
}

std::vector<Tensor> weights(cn::Trainer& t) {
  std::vector<Tensor> w;
  for (cn::Entry& e : t.model().store().entries()) {
    if (!e.value.defined()) continue;
    Tensor h = Tensor::host(e.value.shape());
    t.backend().download(e.value, h);
    w.push_back(h);
  }
  return w;
}

// A tiny CornerNet trained two steps from the same seed on the CPU and on each
// backend: the whole device path (forward in both BN modes, losses, backward,
// clipping, Adam) must give the CPU's weights.
int test_model(Backends& bs, bool require_all) {
  cn::TrainerOptions o;
  o.model = tiny_config();
  o.seed = 7;
  int failed = 0;
  auto train = [&](Backend& be) {
    cn::Trainer t({&be}, o, bs.rt->pool());
    Rng r(99);
    double loss = 0;
    for (int s = 0; s < 2; ++s) loss = t.step(make_batch(r, 2, 32, o.model.num_classes)).total;
    return std::make_pair(weights(t), loss);
  };
  const auto want = train(*bs.cpu);
  for (auto& be : bs.others) {
    std::string problem;
    const std::vector<Op> needed = cn::training_ops();
    if (!std::all_of(needed.begin(), needed.end(), [&](Op op) { return be->supports(op); })) {
      std::printf("%s  %-26s %-32s %s: not every training op has a kernel\n", require_all ? "FAIL" : "skip", "model",
                  "tiny CornerNet, 2 steps", be->name().c_str());
      if (require_all) ++failed;
      continue;
    }
    try {
      const auto got = train(*be);
      if (std::fabs(got.second - want.second) > 1e-4 * std::fabs(want.second)) problem = "loss differs";
      // Two Adam steps move weights by ~lr: agreement to 1e-4 means the same update.
      for (size_t k = 0; k < want.first.size() && problem.empty(); ++k)
        problem = compare(got.first[k], want.first[k], 1e-3, 1e-4);
    } catch (const std::exception& e) {
      problem = std::string("threw: ") + e.what();
    }
    std::printf("%s  %-26s %-32s %s%s%s\n", problem.empty() ? "ok  " : "FAIL", "model", "tiny CornerNet, 2 steps",
                be->name().c_str(), problem.empty() ? "" : ": ", problem.c_str());
    if (!problem.empty()) ++failed;
  }
  return failed;
}

double time_ms(Backend& be, const std::function<void()>& f, double budget_ms = 300) {
  f();  // warm-up: allocation, algorithm choice, first-touch
  be.synchronize();
  std::vector<double> ms;
  double total = 0;
  while (ms.size() < 3 || (total < budget_ms && ms.size() < 50)) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    be.synchronize();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    total += ms.back();
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void perf_ops(Backends& bs, const std::string& only) {
  std::vector<Case> cases = make_cases(true);
  for (auto& be : bs.others) {
    // The device's own copy bandwidth: what memory-bound kernels are measured against.
    Tensor a = be->empty({1 << 26}), b = be->empty({1 << 26});
    const double copy_gbs = 2.0 * a.bytes() / time_ms(*be, [&] { be->copy(a, b); }) / 1e6;
    std::printf("\n%s: device copy %.0f GB/s (256 MiB buffers)\n", be->name().c_str(), copy_gbs);
    std::printf("%-26s %-34s %10s %10s %8s %10s\n", "op", "case", "ms", "GB/s", "of copy", "GFLOP/s");
    for (const Case& c : cases) {
      if ((!only.empty() && only != cn::op_name(c.op)) || !be->supports(c.op)) continue;
      std::vector<Tensor> in, out;
      for (const Tensor& t : c.in) in.push_back(be->upload(t));
      for (const Shape& s : c.out) out.push_back(be->empty(s));
      const double ms = time_ms(*be, [&] { c.run(*be, in, out); });
      const double gbs = c.bytes / ms / 1e6;
      std::printf("%-26s %-34s %10.3f %10.1f %7.0f%% ", cn::op_name(c.op), c.label.c_str(), ms, gbs, 100 * gbs / copy_gbs);
      if (c.flops > 0) std::printf("%10.0f", c.flops / ms / 1e6);
      std::printf("\n");
    }
  }
}

void perf_model(Backends& bs) {
  cn::CornerNetConfig hg104;  // the defaults are HourglassNet-104 with 80 classes
  const std::vector<Op> needed = cn::training_ops();
  for (auto& be : bs.others) {
    if (!std::all_of(needed.begin(), needed.end(), [&](Op op) { return be->supports(op); })) {
      std::printf("\n%s: hourglass104 skipped: not every training op has a kernel\n", be->name().c_str());
      continue;
    }
    {
      cn::CornerNet model(hg104);
      model.store().materialize(*be, 1);
      Rng r(5);
      Tensor x = be->upload(normal(r, {1, 3, 511, 511}));
      const double ms = time_ms(*be, [&] { model.forward(*be, x, /*train=*/false, /*record=*/false); }, 2000);
      std::printf("\n%s: hourglass104 forward, 1x3x511x511: %.1f ms/img\n", be->name().c_str(), ms);
    }
    cn::TrainerOptions o;
    o.model = hg104;
    cn::Trainer t({be.get()}, o, bs.rt->pool());
    Rng r(6);
    const int batch = 6;  // the reference recipe's images per GPU
    cn::TrainBatch b = make_batch(r, batch, 511, hg104.num_classes);
    const double ms = time_ms(*be, [&] { t.step(b); }, 5000);
    std::printf("%s: hourglass104 training step, batch %d at 511: %.1f ms (%.1f ms/img)\n", be->name().c_str(), batch,
                ms, ms / batch);
  }
}

// NCCL on the GPUs present, one rank each (native/cuda/nccl_communicator.cc):
// the replicas' transport (ncclCommInitAll: a thread per replica enqueues a
// 2-tensor all-reduce, then the broadcast from replica 0) and the process group
// of several processes (ncclCommInitRank from one unique id; ranks as threads
// here): device and host all-reduce, host broadcast. Values are small integers
// and quarters, so every sum is exact. Skipped, saying why, without NCCL or
// with fewer than 2 GPUs. Returns the number of failures.
int test_nccl(Backends& bs) {
  std::vector<Backend*> gpus;
  for (auto& b : bs.others)
    if (b->name().rfind("cuda:", 0) == 0) gpus.push_back(b.get());
  if (gpus.size() < 2) {
    std::printf("skip  %-26s %-32s needs 2 or more GPUs, %zu present\n", "nccl", "all-reduce", gpus.size());
    return 0;
  }
  const cn::Plugin& pl = bs.rt->plugin("cuda");
  const int n = static_cast<int>(gpus.size());
  char err[1024] = {0};
  std::unique_ptr<cn::ReplicaTransport> t(pl.nccl_replica_transport(gpus.data(), n, err, sizeof err));
  if (!t) {
    std::printf("skip  %-26s %-32s %s\n", "nccl", "all-reduce", err);
    return 0;
  }
  const int64_t sizes[2] = {(int64_t(1) << 20) + 3, 1000};
  auto value = [](int r, int64_t i) { return static_cast<float>(r + 1) + static_cast<float>(i % 7) * 0.25f; };
  std::vector<std::vector<cn::Tensor>> dev(n);
  for (int r = 0; r < n; ++r)
    for (int64_t size : sizes) {
      cn::Tensor h = cn::Tensor::host(cn::Shape{size});
      for (int64_t i = 0; i < size; ++i) h.data()[i] = value(r, i);
      dev[r].push_back(gpus[r]->upload(h));
    }
  std::string problem;
  auto expect = [&](const char* what, int r, const cn::Tensor& d, const std::function<float(int64_t)>& want) {
    cn::Tensor h = cn::Tensor::host(d.shape());
    gpus[r]->download(d, h);
    for (int64_t i = 0; i < h.numel() && problem.empty(); ++i)
      if (h.data()[i] != want(i))
        problem = std::string(what) + " on " + gpus[r]->name() + " element " + std::to_string(i) + ": " +
                  std::to_string(h.data()[i]) + ", want " + std::to_string(want(i));
  };
  try {
    std::vector<std::thread> threads;
    std::vector<std::string> errors(n);
    for (int r = 0; r < n; ++r)
      threads.emplace_back([&, r] {
        try {
          t->all_reduce_sum_async(r, {{dev[r][0].data(), dev[r][0].numel()}, {dev[r][1].data(), dev[r][1].numel()}});
          t->wait_all(r);
          gpus[r]->synchronize();
        } catch (const std::exception& e) {
          errors[r] = e.what();
        }
      });
    for (auto& th : threads) th.join();
    for (const std::string& e : errors)
      if (!e.empty() && problem.empty()) problem = e;
    float ranks_sum = 0;  // sum over r of (r + 1)
    for (int r = 0; r < n; ++r) ranks_sum += static_cast<float>(r + 1);
    for (int r = 0; r < n; ++r)
      for (int k = 0; k < 2; ++k)
        expect("replica all-reduce", r, dev[r][k],
               [&](int64_t i) { return ranks_sum + static_cast<float>(n) * static_cast<float>(i % 7) * 0.25f; });
    // Broadcast: replica 0's (summed) tensors over everyone's, after each replica's own write of -1.
    std::vector<std::vector<cn::DeviceSpan>> spans(n);
    for (int r = 0; r < n; ++r) {
      if (r > 0) {
        cn::Tensor h = cn::Tensor::host(dev[r][1].shape());
        std::fill(h.data(), h.data() + h.numel(), -1.f);
        gpus[r]->copy(gpus[r]->upload(h), dev[r][1]);
      }
      for (auto& d : dev[r]) spans[r].push_back({d.data(), d.numel()});
    }
    t->broadcast_from_first(spans);
    for (int r = 1; r < n; ++r)
      expect("replica broadcast", r, dev[r][1],
             [&](int64_t i) { return ranks_sum + static_cast<float>(n) * static_cast<float>(i % 7) * 0.25f; });
    t.reset();

    // Process group: ranks as threads of this process, one GPU each.
    char id[CN_NCCL_UNIQUE_ID_BYTES];
    if (pl.nccl_unique_id(id, err, sizeof err) != 0) throw std::runtime_error(err);
    threads.clear();
    std::vector<std::vector<double>> host(n);
    std::vector<std::string> bytes(n);
    for (int r = 0; r < n; ++r)
      threads.emplace_back([&, r] {
        try {
          char e[1024] = {0};
          std::unique_ptr<cn::ProcessGroup> pg(pl.nccl_process_group(r, n, id, r, 60.0, e, sizeof e));
          if (!pg) throw std::runtime_error(e);
          pg->all_reduce_sum(*gpus[r], dev[r][1].data(), dev[r][1].numel());
          double v[2] = {static_cast<double>(r), 0.25};
          pg->all_reduce_sum_host(v, 2);
          host[r].assign(v, v + 2);
          char b[4] = {'-', '-', '-', 0};
          if (r == n - 1) std::memcpy(b, "top", 3);
          pg->broadcast_host(b, 3, n - 1);
          bytes[r] = b;
          pg->barrier();
        } catch (const std::exception& ex) {
          errors[r] = ex.what();
        }
      });
    for (auto& th : threads) th.join();
    for (const std::string& e : errors)
      if (!e.empty() && problem.empty()) problem = e;
    const double rank_sum = n * (n - 1) / 2.0;
    for (int r = 0; r < n && problem.empty(); ++r) {
      expect("process-group all-reduce", r, dev[r][1],
             [&](int64_t i) { return static_cast<float>(n) * (ranks_sum + static_cast<float>(n) * static_cast<float>(i % 7) * 0.25f); });
      if (host[r] != std::vector<double>{rank_sum, 0.25 * n}) problem = "process-group host all-reduce on rank " + std::to_string(r);
      if (bytes[r] != "top") problem = "process-group broadcast on rank " + std::to_string(r) + ": " + bytes[r];
    }
  } catch (const std::exception& e) {
    if (problem.empty()) problem = e.what();
  }
  std::printf("%s  %-26s %-32s %s%s\n", problem.empty() ? "ok  " : "FAIL", "nccl",
              (std::to_string(n) + " GPUs, replicas + ranks").c_str(), problem.empty() ? "" : ": ", problem.c_str());
  return problem.empty() ? 0 : 1;
}

int usage() {
  std::fprintf(stderr,
               "usage: test-backend-ops test|perf [-b cuda|cuda:N|cuda-emu]... [-o OP] [--require-all] [--no-model]\n"
               "       test-backend-ops allocator\n"
               "       test-backend-ops threads\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string mode = argv[1];
  if (mode == "allocator") return argc == 2 ? (check_caching_allocator() ? 1 : 0) : usage();
  if (mode == "threads") return argc == 2 ? (check_thread_pool() ? 1 : 0) : usage();
  if (mode != "test" && mode != "perf") return usage();
  std::vector<std::string> specs;
  std::string only;
  bool require_all = false, model = true;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-b" && i + 1 < argc) specs.push_back(argv[++i]);
    else if (a == "-o" && i + 1 < argc) only = argv[++i];
    else if (a == "--require-all") require_all = true;
    else if (a == "--no-model") model = false;
    else return usage();
  }
  try {
    Backends bs;
    std::string why;
    if (specs.empty()) {
      // Every GPU; the emulator only where there is none (and only for `test`: it is not fast).
      if (!bs.add("cuda", &why)) {
        std::printf("no CUDA device (%s)\n", why.c_str());
        if (mode == "test" && !bs.add("cuda-emu", &why)) std::printf("no CUDA emulator (%s)\n", why.c_str());
      }
    } else {
      for (const std::string& s : specs)
        if (!bs.add(s, &why)) {
          std::printf("FAIL  backend %s unavailable: %s\n", s.c_str(), why.c_str());
          return 1;
        }
    }
    if (bs.others.empty()) {
      std::printf("no backend to compare with the CPU\n");
      return 1;
    }
    std::printf("cpu (%s, %d threads) against:", cn::isa_name(cn::default_isa()), bs.rt->pool().num_threads());
    for (auto& b : bs.others) std::printf(" %s", b->name().c_str());
    std::printf("\n");
    int failed = 0;
    if (mode == "test") {
      failed = test_ops(bs, only, require_all);
      if (model && only.empty()) failed += test_model(bs, require_all);
      if (only.empty()) failed += test_nccl(bs);
    } else {
      perf_ops(bs, only);
      if (model && only.empty()) perf_model(bs);
    }
    // Optional libraries (cuDNN, cuBLAS): found, used how often, or why not. A
    // library that failed its check against the own kernels says so here.
    for (auto& b : bs.others)
      for (const cn::BackendLibrary& l : b->libraries())
        std::printf("%s: %s%s%s%s%s: %s, %lld op(s) on it: %s\n", b->name().c_str(), l.name.c_str(),
                    l.version.empty() ? "" : " ", l.version.c_str(),
                    l.path.empty() ? "" : " at ", l.path.c_str(),
                    !l.found ? "not available" : l.enabled ? "enabled" : "disabled",
                    static_cast<long long>(l.uses), l.message.c_str());
    if (mode == "test") std::printf("%s\n", failed ? "FAILED" : "all agree with the cpu");
    return failed ? 1 : 0;
  } catch (const std::exception& e) {
    std::printf("FAIL  %s\n", e.what());
    return 1;
  }
}
