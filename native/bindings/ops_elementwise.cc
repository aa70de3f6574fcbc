// JS bindings of the element-wise ops (relu, add, sigmoid) and of `copy`, the
// baseline benchmarks time memory-bound kernels against. Shapes between
// arguments are the engine's to check (engine/op_checks.h).
#include "ops.h"

namespace cn {

void register_elementwise_ops(OpRegistry& r) {
  r.add("reluForward", [](OpCall& c) -> Kernel {
    Tensor x = c.tensor("x");
    c.output("y", x.shape());
    return [](Backend& be, TensorMap& in, TensorMap& out) { be.relu_forward(in["x"], out["y"]); };
  });
  r.add("reluBackward", [](OpCall& c) -> Kernel {
    Tensor y = c.tensor("y");
    Tensor gy = c.tensor("gradY");
    c.output("gradX", y.shape());
    return [](Backend& be, TensorMap& in, TensorMap& out) { be.relu_backward(in["y"], in["gradY"], out["gradX"]); };
  });
  r.add("addForward", [](OpCall& c) -> Kernel {
    Tensor a = c.tensor("a");
    Tensor b = c.tensor("b");
    c.output("y", a.shape());
    return [](Backend& be, TensorMap& in, TensorMap& out) { be.add_forward(in["a"], in["b"], out["y"]); };
  });
  r.add("sigmoidForward", [](OpCall& c) -> Kernel {
    Tensor x = c.tensor("x");
    c.output("y", x.shape());
    return [](Backend& be, TensorMap& in, TensorMap& out) { be.sigmoid_forward(in["x"], out["y"]); };
  });
  r.add("sigmoidBackward", [](OpCall& c) -> Kernel {
    Tensor y = c.tensor("y");
    Tensor gy = c.tensor("gradY");
    c.output("gradX", y.shape());
    return [](Backend& be, TensorMap& in, TensorMap& out) { be.sigmoid_backward(in["y"], in["gradY"], out["gradX"]); };
  });
  // The backend's copy of x's bytes into the output (a multithreaded memcpy on
  // the CPU), through the same call path as every op (argument parsing, output
  // allocation, return to JS): the bandwidth baseline kernels are timed against.
  r.add("copy", [](OpCall& c) -> Kernel {
    Tensor x = c.tensor("x");
    c.output("y", x.shape());
    return [](Backend& be, TensorMap& in, TensorMap& out) { be.copy(in["x"], out["y"]); };
  });
}

}  // namespace cn
