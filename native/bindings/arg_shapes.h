// Shape requirements between an op's arguments, checked on the JS thread so a
// mismatch is reported against the argument that carries it, e.g.
// "ops.batchNormForwardTrain: argument 'weight' must have shape [3] (one per
// channel of x), got [4]".
#pragma once
#include <string>

#include "op_call.h"

namespace cn {

inline void expect_shape(OpCall& c, const char* name, const Tensor& t, const Shape& want, const std::string& why) {
  if (t.shape() != want)
    c.bad_arg(name, "must have shape " + shape_str(want) + " (" + why + "), got " + shape_str(t.shape()));
}

// `t` must have the shape of the argument `ref_name`.
inline void expect_same_shape(OpCall& c, const char* name, const Tensor& t, const char* ref_name, const Tensor& ref) {
  expect_shape(c, name, t, ref.shape(), std::string("the shape of ") + ref_name);
}

// A [C] tensor, one value per channel of the NCHW argument `x_name`.
inline Tensor per_channel_tensor(OpCall& c, const char* name, const char* x_name, const Tensor& x) {
  Tensor t = c.tensor(name);
  expect_shape(c, name, t, Shape{x.size(1)}, std::string("one per channel of ") + x_name);
  return t;
}

}  // namespace cn
