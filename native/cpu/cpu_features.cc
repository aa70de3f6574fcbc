#include "cpu_features.h"

#include <cstdlib>

namespace cn {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Portable: return "portable";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

bool parse_isa(const std::string& s, Isa* out) {
  if (s == "portable") *out = Isa::Portable;
  else if (s == "avx2") *out = Isa::Avx2;
  else if (s == "avx512") *out = Isa::Avx512;
  else return false;
  return true;
}

Isa detect_isa() {
#if defined(__x86_64__) || defined(__i386__)
  // __builtin_cpu_supports also checks that the OS saves the wider registers (XCR0).
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
  return Isa::Portable;
}

Isa default_isa() {
  Isa best = detect_isa();
  if (const char* env = std::getenv("CORNERNET_CPU_ISA")) {
    Isa want;
    if (parse_isa(env, &want) && static_cast<int>(want) <= static_cast<int>(best)) return want;
  }
  return best;
}

std::vector<std::string> cpu_feature_names() {
  std::vector<std::string> out;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
#define CN_FEATURE(f) \
  if (__builtin_cpu_supports(f)) out.push_back(f);
  CN_FEATURE("sse4.2")
  CN_FEATURE("avx")
  CN_FEATURE("avx2")
  CN_FEATURE("fma")
  CN_FEATURE("avx512f")
  CN_FEATURE("avx512bw")
  CN_FEATURE("avx512dq")
  CN_FEATURE("avx512vl")
#undef CN_FEATURE
#endif
  return out;
}

}  // namespace cn
