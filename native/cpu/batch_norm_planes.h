// The per-plane loops of batch normalisation (batch_norm.cc), one build per ISA
// (batch_norm_planes_<isa>.cc, like the Winograd transforms): the statistics
// are reduced in double, and at a small model's sizes (planes of 256-4,096
// floats, 32-64 channels) those reductions, as scalar chains of dependent
// double adds, were a tenth of a training step. Here each runs in vectors of
// the ISA's doubles, four independent vectors at a time. A plane's result does
// not depend on the number of threads (each plane is reduced by one thread, in
// a fixed order); it does on the ISA, in its last bits.
//
// The elementwise formulas round each operation on its own (the files build
// with -ffp-contract=off): y = (x - m) * s + sh is then the same float on every
// ISA, on CUDA (batch_norm.cu) and in the backward's recomputed ReLU mask, which
// must agree with the forward's output bit for bit.
#pragma once
#include <cstdint>

namespace cn {

// One plane's affine map y = (x - m) * s + sh: the subtraction first, so a
// constant channel gives exactly sh. s = gamma * invstd, sh = beta.
struct PlaneAffine {
  float m, s, sh;
};

struct BatchNormPlaneKernels {
  // sum x
  double (*sum)(const float* x, int64_t n);
  // sum (x - m)^2
  double (*sq_dev)(const float* x, int64_t n, double m);
  // sum g and sum g * (x - a.m), into *sg and *sgx; with relu, g counts only
  // where the forward's output was positive (a's map of x > 0).
  void (*sum_and_dot_centered)(const float* g, const float* x, int64_t n, PlaneAffine a, bool relu, double* sg,
                               double* sgx);
  // y = a's map of x; with relu, max(0, that) (NaN passes through).
  void (*normalise)(const float* x, float* y, int64_t n, PlaneAffine a, bool relu);
  // Training: gx = a.s * (g - mg - (x - a.m) * is * mgx); inference: gx = a.s * g;
  // with relu, g masked as in sum_and_dot_centered.
  void (*grad_x)(const float* g, const float* x, float* out, int64_t n, PlaneAffine a, float is, float mg, float mgx,
                 bool training, bool relu);
};

const BatchNormPlaneKernels& batch_norm_planes_portable();
const BatchNormPlaneKernels& batch_norm_planes_avx2();
const BatchNormPlaneKernels& batch_norm_planes_avx512();

}  // namespace cn
