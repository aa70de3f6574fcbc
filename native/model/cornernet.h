// A whole CornerNet (HourglassNet backbone + CornerHead) with the reference's
// state_dict (`backbone.*`, `bbox_head.*`). Forward returns the head outputs of
// every stack; backward takes their gradients and accumulates parameter
// gradients in the store. Runs on any Backend: tensors passed in and out are on
// that backend's device.
#pragma once
#include <vector>

#include "config.h"
#include "corner_head.h"
#include "hourglass.h"

namespace cn {

class CornerNet {
 public:
  explicit CornerNet(const CornerNetConfig& cfg);

  const CornerNetConfig& config() const { return cfg_; }
  ParameterStore& store() { return store_; }

  // x: [N, 3, H, W] on the backend's device (output_shapes says which sizes
  // fit). record: keep what backward needs (train or not).
  std::vector<HeadTensors> forward(Backend& be, const Tensor& x, bool train, bool record);
  // One backward per recorded forward; grads[level][output] may be undefined
  // (that output contributes nothing). Frees everything the forward kept.
  void backward(Backend& be, const std::vector<HeadTensors>& grads);
  bool has_recorded_forward() const { return recorded_; }
  // The shapes forward produces for an input of this shape (checks the input).
  std::vector<std::array<Shape, kNumHeadOutputs>> output_shapes(const Shape& input) const;
  void release();

  // The backend ops a forward pass (inference: eval-mode BN, no backward) and
  // the decoding of its outputs (test, detect, evaluations during training) run;
  // a training run needs training_ops() (native/train/train_step.h). A backend
  // that supports all of them can run the model.
  static std::vector<Op> inference_ops();

 private:
  CornerNetConfig cfg_;
  ParameterStore store_;  // before the layers: they register their entries in it
  HourglassNet backbone_;
  CornerHead head_;
  bool recorded_ = false;
  bool recorded_train_ = false;
};

}  // namespace cn
