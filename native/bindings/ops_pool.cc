// JS bindings of the spatial ops that move or select values without weights:
// nearest 2x upsampling, 3x3 max pooling (heatmap NMS) and the corner pools.
// Shapes between arguments are the engine's to check (engine/op_checks.h).
#include "ops.h"

namespace cn {

void register_pool_ops(OpRegistry& r) {
  r.add("upsample2xForward", [](OpCall& c) -> Kernel {
    Tensor x = c.tensor("x", 4);
    c.output("y", {x.size(0), x.size(1), 2 * x.size(2), 2 * x.size(3)});
    return [](Backend& be, TensorMap& in, TensorMap& out) { be.upsample2x_forward(in["x"], out["y"]); };
  });
  r.add("upsample2xBackward", [](OpCall& c) -> Kernel {
    Tensor gy = c.tensor("gradY", 4);
    if (gy.size(2) % 2 || gy.size(3) % 2)
      c.bad_arg("gradY", "must have an even height and width (the output of a 2x upsampling), got shape " +
                             shape_str(gy.shape()));
    c.output("gradX", {gy.size(0), gy.size(1), gy.size(2) / 2, gy.size(3) / 2});
    return [](Backend& be, TensorMap& in, TensorMap& out) { be.upsample2x_backward(in["gradY"], out["gradX"]); };
  });
  r.add("maxPool3x3Forward", [](OpCall& c) -> Kernel {
    Tensor x = c.tensor("x", 4);
    c.output("y", x.shape());
    return [](Backend& be, TensorMap& in, TensorMap& out) { be.maxpool3x3_forward(in["x"], out["y"]); };
  });
  r.add("maxPool3x3Backward", [](OpCall& c) -> Kernel {
    Tensor x = c.tensor("x", 4);
    Tensor gy = c.tensor("gradY", 4);
    c.output("gradX", x.shape());
    return [](Backend& be, TensorMap& in, TensorMap& out) {
      be.maxpool3x3_backward(in["x"], in["gradY"], out["gradX"]);
    };
  });
  r.add("cornerPoolForward", [](OpCall& c) -> Kernel {
    Tensor x = c.tensor("x", 4);
    CornerPoolMode mode = parse_corner_pool_mode(c, "mode");
    c.output("y", x.shape());
    return [mode](Backend& be, TensorMap& in, TensorMap& out) { be.corner_pool_forward(mode, in["x"], out["y"]); };
  });
  r.add("cornerPoolBackward", [](OpCall& c) -> Kernel {
    Tensor x = c.tensor("x", 4);
    CornerPoolMode mode = parse_corner_pool_mode(c, "mode");
    Tensor gy = c.tensor("gradY", 4);
    c.output("gradX", x.shape());
    return [mode](Backend& be, TensorMap& in, TensorMap& out) {
      be.corner_pool_backward(mode, in["x"], in["gradY"], out["gradX"]);
    };
  });
}

}  // namespace cn
