// The per-plane loops of batch normalisation (batch_norm.cc), one build per ISA
// (batch_norm_planes_<isa>.cc, like the Winograd transforms): the statistics
// are reduced in double, and at a small model's sizes (planes of 256-4,096
// floats, 32-64 channels) those reductions, as scalar chains of dependent
// double adds, were a tenth of a training step. Here each runs in vectors of
// the ISA's doubles, four independent vectors at a time. A plane's result does
// not depend on the number of threads (each plane is reduced by one thread, in
// a fixed order); it does on the ISA, in its last bits.
#pragma once
#include <cstdint>

namespace cn {

struct BatchNormPlaneKernels {
  // sum x
  double (*sum)(const float* x, int64_t n);
  // sum (x - m)^2
  double (*sq_dev)(const float* x, int64_t n, double m);
  // sum g and sum g * (x - m), into *sg and *sgx
  void (*sum_and_dot_centered)(const float* g, const float* x, int64_t n, double m, double* sg, double* sgx);
  // y = (x - m) * s + sh: the subtraction first, so a constant channel gives exactly sh
  void (*normalise)(const float* x, float* y, int64_t n, float m, float s, float sh);
  // Training: gx = k * (g - mg - (x - m) * is * mgx); inference: gx = k * g.
  void (*grad_x)(const float* g, const float* x, float* out, int64_t n, float m, float is, float k, float mg,
                 float mgx, bool training);
};

const BatchNormPlaneKernels& batch_norm_planes_portable();
const BatchNormPlaneKernels& batch_norm_planes_avx2();
const BatchNormPlaneKernels& batch_norm_planes_avx512();

}  // namespace cn
