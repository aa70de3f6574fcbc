// conv2dForward / conv2dBackward, and the CPU SGEMM under them (`gemm`, exposed
// for tests and benchmarks).
#include <string>

#include "../cpu/cpu_backend.h"
#include "../cpu/gemm.h"
#include "ops.h"

namespace cn {

namespace {

constexpr int kMaxStride = 1 << 20;
constexpr int kMaxPad = 1 << 20;

struct ConvArgs {
  Tensor x, weight;
  Conv2dParams p;
  int64_t ho = 0, wo = 0;
};

// Reads and checks what forward and backward share; errors name the argument.
ConvArgs parse_conv(OpCall& c) {
  ConvArgs a;
  a.x = c.tensor("x", 4);
  a.weight = c.tensor("weight", 4);
  auto stride = c.int_pair("stride", {1, 1}, 1, kMaxStride);
  auto pad = c.int_pair("padding", {0, 0}, 0, kMaxPad);
  a.p.stride_h = stride.first;
  a.p.stride_w = stride.second;
  a.p.pad_h = pad.first;
  a.p.pad_w = pad.second;
  const Shape& xs = a.x.shape();
  const Shape& ws = a.weight.shape();
  if (ws[1] != xs[1])
    c.bad_arg("weight", "has " + std::to_string(ws[1]) + " input channels (shape " + shape_str(ws) +
                            ") but x has " + std::to_string(xs[1]) + " channels (shape " + shape_str(xs) + ")");
  if (ws[2] < 1 || ws[3] < 1)
    c.bad_arg("weight", "must have a kernel of at least 1x1, got shape " + shape_str(ws));
  const int64_t hp = xs[2] + 2 * static_cast<int64_t>(a.p.pad_h), wp = xs[3] + 2 * static_cast<int64_t>(a.p.pad_w);
  if (ws[2] > hp || ws[3] > wp)
    c.bad_arg("weight", "has a " + std::to_string(ws[2]) + "x" + std::to_string(ws[3]) +
                            " kernel, larger than the padded input " + std::to_string(hp) + "x" + std::to_string(wp) +
                            " (x " + shape_str(xs) + ", padding [" + std::to_string(a.p.pad_h) + ", " +
                            std::to_string(a.p.pad_w) + "])");
  a.ho = conv_out_size(xs[2], ws[2], a.p.stride_h, a.p.pad_h);
  a.wo = conv_out_size(xs[3], ws[3], a.p.stride_w, a.p.pad_w);
  return a;
}

// The GEMM is the CPU backend's own routine, not a Backend op.
void require_cpu_backend(OpCall& c) {
  if (!dynamic_cast<CpuBackend*>(&c.backend())) c.bad_arg("backend", "must be a CPU backend ('cpu', 'cpu:portable', 'cpu:avx2', 'cpu:avx512') for gemm, got '" +
                                     c.backend().name() + "'");
}

}  // namespace

void register_conv_ops(OpRegistry& r) {
  r.add("conv2dForward", [](OpCall& c) -> Kernel {
    ConvArgs a = parse_conv(c);
    Tensor bias = c.optional_tensor("bias", 1);
    const int64_t o = a.weight.size(0);
    if (bias.defined() && bias.size(0) != o)
      c.bad_arg("bias", "must have one value per output channel (" + std::to_string(o) + "), got shape " +
                            shape_str(bias.shape()));
    c.output("y", {a.x.size(0), o, a.ho, a.wo});
    const Conv2dParams p = a.p;
    const bool has_bias = bias.defined();
    return [p, has_bias](Backend& be, TensorMap& in, TensorMap& out) {
      be.conv2d_forward(in["x"], in["weight"], has_bias ? in["bias"] : Tensor{}, p, out["y"]);
    };
  });

  r.add("conv2dBackward", [](OpCall& c) -> Kernel {
    ConvArgs a = parse_conv(c);
    Tensor gy = c.tensor("gradY", 4);
    const Shape want{a.x.size(0), a.weight.size(0), a.ho, a.wo};
    if (gy.shape() != want)
      c.bad_arg("gradY", "must have the output's shape " + shape_str(want) + " (x " + shape_str(a.x.shape()) +
                             ", weight " + shape_str(a.weight.shape()) + "), got " + shape_str(gy.shape()));
    c.output("gradX", a.x.shape());
    c.output("gradWeight", a.weight.shape());
    c.output("gradBias", {a.weight.size(0)});
    const Conv2dParams p = a.p;
    return [p](Backend& be, TensorMap& in, TensorMap& out) {
      be.conv2d_backward(in["x"], in["weight"], in["gradY"], p, out["gradX"], out["gradWeight"], out["gradBias"]);
    };
  });

  r.add("gemm", [](OpCall& c) -> Kernel {
    require_cpu_backend(c);
    Tensor a = c.tensor("a", 2), b = c.tensor("b", 2);
    const bool ta = c.boolean("transA", false), tb = c.boolean("transB", false);
    const int64_t m = ta ? a.size(1) : a.size(0), k = ta ? a.size(0) : a.size(1);
    const int64_t kb = tb ? b.size(1) : b.size(0), n = tb ? b.size(0) : b.size(1);
    if (kb != k)
      c.bad_arg("b", "has shape " + shape_str(b.shape()) + (tb ? " (transposed)" : "") + ", giving an inner size of " +
                         std::to_string(kb) + ", but a " + shape_str(a.shape()) + (ta ? " (transposed)" : "") +
                         " has " + std::to_string(k));
    c.output("c", {m, n});
    return [ta, tb, m, n, k](Backend& be, TensorMap& in, TensorMap& out) {
      auto& cpu = static_cast<CpuBackend&>(be);
      GemmOp op;
      op.trans_a = ta;
      op.trans_b = tb;
      op.m = m;
      op.n = n;
      op.k = k;
      op.a = in["a"].data();
      op.lda = std::max<int64_t>(1, in["a"].size(1));
      op.b = in["b"].data();
      op.ldb = std::max<int64_t>(1, in["b"].size(1));
      op.c = out["c"].data();
      op.ldc = std::max<int64_t>(1, n);
      sgemm(cpu.isa(), &cpu.pool(), op);
    };
  });
}

}  // namespace cn
