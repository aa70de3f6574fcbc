// JS bindings of batch normalisation. The training forward returns the updated
// running statistics as new outputs: the caller's arrays are never written.
// `relu: true` makes the forwards output max(0, y) and the backward take the
// gradient at that output (BatchNormParams::relu, BatchNormBackwardMode).
#include "arg_shapes.h"
#include "ops.h"

namespace cn {

namespace {
BatchNormParams bn_params(OpCall& c, bool with_momentum) {
  BatchNormParams p;
  p.relu = c.boolean("relu", false);
  double eps = c.number("eps", p.eps);
  if (!(eps >= 0)) c.bad_arg("eps", "must be >= 0, got " + std::to_string(eps));
  p.eps = static_cast<float>(eps);
  if (with_momentum) {
    double m = c.number("momentum", p.momentum);
    if (!(m >= 0 && m <= 1)) c.bad_arg("momentum", "must be in [0, 1], got " + std::to_string(m));
    p.momentum = static_cast<float>(m);
  }
  return p;
}

// The output `dst` (allocated on the backend's device) starts as a copy of
// `src`, ready to be updated in place by the kernel.
void copy_into_output(Backend& be, const Tensor& src, Tensor& dst) {
  if (be.device().type == DeviceType::CPU) {
    be.download(src, dst);
    return;
  }
  // No device-to-device copy in the Backend interface: stage through the host
  // (C floats) and let the staged upload become the output.
  Tensor staging = Tensor::host(src.shape());
  be.download(src, staging);
  dst = be.upload(staging);
}
}  // namespace

void register_batch_norm_ops(OpRegistry& r) {
  r.add("batchNormForwardTrain", [](OpCall& c) -> Kernel {
    Tensor x = c.tensor("x", 4);
    for (const char* name : {"weight", "bias", "runningMean", "runningVar"}) per_channel_tensor(c, name, "x", x);
    if (x.size(0) * x.size(2) * x.size(3) < 2)
      c.bad_arg("x", "must hold more than one value per channel in training mode (N*H*W > 1), got shape " +
                         shape_str(x.shape()));
    BatchNormParams p = bn_params(c, true);
    const Shape ch{x.size(1)};
    c.output("y", x.shape());
    c.output("saveMean", ch);
    c.output("saveInvstd", ch);
    c.output("runningMean", ch);
    c.output("runningVar", ch);
    return [p](Backend& be, TensorMap& in, TensorMap& out) {
      copy_into_output(be, in["runningMean"], out["runningMean"]);
      copy_into_output(be, in["runningVar"], out["runningVar"]);
      be.batch_norm_forward_train(in["x"], in["weight"], in["bias"], out["runningMean"], out["runningVar"], p,
                                  out["y"], out["saveMean"], out["saveInvstd"]);
    };
  });
  r.add("batchNormForwardEval", [](OpCall& c) -> Kernel {
    Tensor x = c.tensor("x", 4);
    for (const char* name : {"weight", "bias", "runningMean", "runningVar"}) per_channel_tensor(c, name, "x", x);
    BatchNormParams p = bn_params(c, false);
    c.output("y", x.shape());
    return [p](Backend& be, TensorMap& in, TensorMap& out) {
      be.batch_norm_forward_eval(in["x"], in["weight"], in["bias"], in["runningMean"], in["runningVar"], p, out["y"]);
    };
  });
  r.add("batchNormBackward", [](OpCall& c) -> Kernel {
    Tensor x = c.tensor("x", 4);
    for (const char* name : {"weight", "saveMean", "saveInvstd"}) per_channel_tensor(c, name, "x", x);
    Tensor gy = c.tensor("gradY", 4);
    expect_same_shape(c, "gradY", gy, "x", x);
    BatchNormBackwardMode mode;
    mode.training = c.boolean("training", true);
    mode.relu = c.boolean("relu", false);
    // The forward's bias: only the ReLU's mask reads it.
    if (mode.relu) per_channel_tensor(c, "bias", "x", x);
    const Shape ch{x.size(1)};
    c.output("gradX", x.shape());
    c.output("gradWeight", ch);
    c.output("gradBias", ch);
    return [mode](Backend& be, TensorMap& in, TensorMap& out) {
      be.batch_norm_backward(in["x"], in["weight"], mode.relu ? in["bias"] : Tensor{}, in["saveMean"], in["saveInvstd"],
                             in["gradY"], mode, out["gradX"], out["gradWeight"], out["gradBias"]);
    };
  });
}

}  // namespace cn
