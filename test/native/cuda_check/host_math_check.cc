// `cornernet_cuda_check expf <stride>`: the device decoder's host_expf
// (native/cuda/host_math.cuh, here compiled for the emulator, i.e. the same
// source and the same IEEE double steps nvcc compiles) against this machine's
// std::exp(float), over every stride-th bit pattern of a float (stride 1: all
// 2^32). Prints the first mismatches and their count; exit status 1 when any.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cuda/host_math.cuh"

int run_expf_check(const std::string& stride_arg) {
  const uint64_t stride = std::strtoull(stride_arg.c_str(), nullptr, 10);
  if (stride < 1) {
    std::fprintf(stderr, "expf: stride must be >= 1\n");
    return 2;
  }
  uint64_t checked = 0, bad = 0;
  for (uint64_t b = 0; b <= 0xffffffffull; b += stride) {
    const uint32_t bits = static_cast<uint32_t>(b);
    float x;
    std::memcpy(&x, &bits, 4);
    const float want = std::exp(x), got = cn::cuda::host_expf(x);
    ++checked;
    const bool same = std::memcmp(&want, &got, 4) == 0 || (std::isnan(want) && std::isnan(got));
    if (!same && ++bad <= 5) std::printf("mismatch: x=%a glibc=%a device=%a\n", x, want, got);
  }
  std::printf("expf: %llu inputs, %llu mismatches\n", static_cast<unsigned long long>(checked),
              static_cast<unsigned long long>(bad));
  return bad ? 1 : 0;
}
