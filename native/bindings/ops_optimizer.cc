// ops.sumSquares, ops.axpy, ops.adamUpdate: the optimizer arithmetic, exposed for
// tests and benchmarks. Inputs are never modified; updated values come back as
// new outputs.
#include "ops.h"

namespace cn {

namespace {
void same_shape(OpCall& c, const Tensor& ref, const char* ref_name, const Tensor& t, const char* name) {
  if (t.shape() != ref.shape())
    c.bad_arg(name, "must have the shape of '" + std::string(ref_name) + "' " + shape_str(ref.shape()) + ", got " +
                        shape_str(t.shape()));
}

}  // namespace

void register_optimizer_ops(OpRegistry& r) {
  r.add("sumSquares", [](OpCall& c) -> Kernel {
    c.tensor("x");
    c.output("y", {});
    return [](Backend& be, TensorMap& in, TensorMap& out) {
      float v = static_cast<float>(be.sum_squares(in["x"]));
      be.copy(be.upload(Tensor::view(&v, {})), out["y"]);
    };
  });

  r.add("axpy", [](OpCall& c) -> Kernel {
    Tensor x = c.tensor("x"), y = c.tensor("y");
    same_shape(c, x, "x", y, "y");
    float alpha = static_cast<float>(c.number("alpha", 1.0));
    c.output("y", y.shape());
    return [alpha](Backend& be, TensorMap& in, TensorMap& out) {
      be.copy(in["y"], out["y"]);
      be.axpy(alpha, in["x"], out["y"]);
    };
  });

  r.add("adamUpdate", [](OpCall& c) -> Kernel {
    Tensor p = c.tensor("param"), g = c.tensor("grad"), m = c.tensor("expAvg"), v = c.tensor("expAvgSq");
    same_shape(c, p, "param", g, "grad");
    same_shape(c, p, "param", m, "expAvg");
    same_shape(c, p, "param", v, "expAvgSq");
    AdamParams ap;
    ap.lr = static_cast<float>(c.number("lr", ap.lr));
    ap.beta1 = static_cast<float>(c.number("beta1", ap.beta1));
    ap.beta2 = static_cast<float>(c.number("beta2", ap.beta2));
    ap.eps = static_cast<float>(c.number("eps", ap.eps));
    ap.weight_decay = static_cast<float>(c.number("weightDecay", 0.0));
    ap.grad_scale = static_cast<float>(c.number("gradScale", 1.0));
    ap.step = c.integer("step", 1, 1, 1 << 30);
    if (!(ap.beta1 >= 0 && ap.beta1 < 1)) c.bad_arg("beta1", "must be in [0, 1)");
    if (!(ap.beta2 >= 0 && ap.beta2 < 1)) c.bad_arg("beta2", "must be in [0, 1)");
    if (!(ap.lr >= 0)) c.bad_arg("lr", "must be >= 0");
    c.output("param", p.shape());
    c.output("expAvg", p.shape());
    c.output("expAvgSq", p.shape());
    return [ap](Backend& be, TensorMap& in, TensorMap& out) {
      be.copy(in["param"], out["param"]);
      be.copy(in["expAvg"], out["expAvg"]);
      be.copy(in["expAvgSq"], out["expAvgSq"]);
      be.adam_update(out["param"], in["grad"], out["expAvg"], out["expAvgSq"], ap);
    };
  });
}

}  // namespace cn
