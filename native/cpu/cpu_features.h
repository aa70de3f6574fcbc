// Which SIMD instruction sets this CPU (and OS) offers, and which one the CPU
// backend's kernels use. Kernels are compiled once per ISA (files named *_avx2.cc,
// *_avx512.cc get the matching compiler flags) and picked at run time.
#pragma once
#include <string>
#include <vector>

namespace cn {

enum class Isa : int { Portable = 0, Avx2 = 1, Avx512 = 2 };

const char* isa_name(Isa isa);
// "portable" | "avx2" | "avx512"; false for anything else.
bool parse_isa(const std::string& s, Isa* out);
// The best ISA this machine runs (AVX2 means AVX2+FMA; AVX-512 means F+BW+DQ+VL).
Isa detect_isa();
// The ISA to use by default: CORNERNET_CPU_ISA when set (capped at detect_isa()),
// else detect_isa().
Isa default_isa();
// Named features seen, for `cornernet info`.
std::vector<std::string> cpu_feature_names();

// The build of a kernel set for `isa`: each set is compiled once per ISA
// (gemm_<isa>.cc, winograd_f4x3_<isa>.cc, ...) and reached through one accessor each.
template <typename Kernels>
const Kernels& kernels_for_isa(Isa isa, const Kernels& (*portable)(), const Kernels& (*avx2)(),
                               const Kernels& (*avx512)()) {
  switch (isa) {
    case Isa::Avx512: return avx512();
    case Isa::Avx2: return avx2();
    case Isa::Portable: break;
  }
  return portable();
}

}  // namespace cn
