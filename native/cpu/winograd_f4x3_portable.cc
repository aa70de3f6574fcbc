// Winograd F(4x4, 3x3) tile transforms built with this file's ISA flags.
#define CN_WINO_LANES 4
#include "winograd_f4x3_impl.inc"

namespace cn {
const WinogradF4x3Kernels& winograd_f4x3_portable() {
  static const WinogradF4x3Kernels k{input_row,         output_row, gradient_row, weight_row,
                                     input_adjoint_row, to_phases,  from_phases,  from_adjoint_phases};
  return k;
}
}  // namespace cn
