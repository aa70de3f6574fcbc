#include "fma_peak.h"

#include <algorithm>
#include <atomic>
#include <chrono>

namespace cn {

namespace {
double loop(Isa isa, int64_t iters) {
  switch (isa) {
    case Isa::Avx512: return fma_loop_avx512(iters);
    case Isa::Avx2: return fma_loop_avx2(iters);
    case Isa::Portable: break;
  }
  return fma_loop_portable(iters);
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

// The portable loop: 12 independent 4-wide multiply-adds the compiler may or
// may not fuse; it is a reference point for the portable kernels, not a peak.
double fma_loop_portable(int64_t iters) {
  typedef float v4 __attribute__((vector_size(16)));
  v4 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = v4{1.0f + i, 2.0f, 3.0f, 4.0f} * 1e-3f;
  const v4 b = {0.999f, 0.999f, 0.999f, 0.999f}, c = {1e-6f, 1e-6f, 1e-6f, 1e-6f};
  for (int64_t it = 0; it < iters; ++it) {
    for (int i = 0; i < 12; ++i) acc[i] = acc[i] * b + c;
    __asm__ volatile("" : : "g"(&acc) : "memory");
  }
  return 12.0 * 4 * 2 * iters;
}

double measure_fma_peak_gflops(Isa isa, ThreadPool* pool, double seconds) {
  // Calibrate on one thread so each run lasts about `seconds`.
  int64_t iters = 1 << 16;
  for (;;) {
    double t0 = now();
    loop(isa, iters);
    double dt = now() - t0;
    if (dt > 0.02 || iters > (int64_t(1) << 40)) {
      iters = std::max<int64_t>(1, static_cast<int64_t>(iters * seconds / std::max(dt, 1e-9)));
      break;
    }
    iters *= 4;
  }
  const int threads = pool ? pool->num_threads() : 1;
  std::atomic<double> flops{0};
  double t0 = now();
  auto work = [&](int64_t) {
    double f = loop(isa, iters);
    double cur = flops.load();
    while (!flops.compare_exchange_weak(cur, cur + f)) {
    }
  };
  if (pool && threads > 1)
    pool->run_tasks(threads, work);
  else
    work(0);
  return flops.load() / (now() - t0) / 1e9;
}

}  // namespace cn
