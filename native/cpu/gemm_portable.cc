// Portable GEMM micro-kernel: a 4 x 16 tile held in GCC/Clang generic vectors of
// four floats, which the compiler maps onto whatever the baseline ISA offers
// (SSE2 on x86-64, NEON on arm64). The fallback for CPUs without AVX2 and for
// other architectures; plain scalar loops left the tile in memory.
#include "gemm_kernels.h"

#include <cstring>

#include "gemm_copy_rows.inc"

namespace cn {

namespace {
constexpr int kMr = 4, kNr = 16;
typedef float v4 __attribute__((vector_size(16)));

inline v4 load4(const float* p) {
  v4 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void store4(float* p, v4 v) { std::memcpy(p, &v, sizeof(v)); }

void kernel_4x16(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, float alpha,
                 float beta) {
  v4 acc[kMr][4] = {};
  for (int64_t k = 0; k < kc; ++k) {
    const v4 b0 = load4(b), b1 = load4(b + 4), b2 = load4(b + 8), b3 = load4(b + 12);
    for (int i = 0; i < kMr; ++i) {
      const v4 ai = {a[i], a[i], a[i], a[i]};
      acc[i][0] += ai * b0;
      acc[i][1] += ai * b1;
      acc[i][2] += ai * b2;
      acc[i][3] += ai * b3;
    }
    a += kMr;
    b += ldb;
  }
  const v4 va = {alpha, alpha, alpha, alpha}, vb = {beta, beta, beta, beta};
  for (int i = 0; i < kMr; ++i)
    for (int q = 0; q < 4; ++q) {
      float* ci = c + i * ldc + 4 * q;
      store4(ci, beta == 0.0f ? va * acc[i][q] : va * acc[i][q] + vb * load4(ci));
    }
}
}  // namespace

const GemmKernelInfo& gemm_kernel_portable() {
  static const GemmKernelInfo info{kMr, kNr, 256, 128, 1024, kernel_4x16, gemm_pack_transposed_baseline,
                                        copy_rows<kMr>, copy_rows<kNr>};
  return info;
}

}  // namespace cn
