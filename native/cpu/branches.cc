// CpuBackend::run_branches (cpu_backend.h): a model's independent branches
// side by side on the pool's threads. Inside a task the pool runs nested
// regions inline, so each branch's ops run whole on one thread.
#include "cpu_backend.h"

namespace cn {

namespace {
// Tensors above this many floats keep their ops split across threads (see
// cpu_backend.h): the 128/256-head model's head at 32x32, batch 8 (2.1 M) runs
// side by side, hourglass104's at 511 (4.2 M a tensor at batch 1) does not.
constexpr int64_t kBranchElements = int64_t{3} << 20;
}  // namespace

void CpuBackend::run_branches(int n, int64_t elements, const std::function<void(int)>& fn) {
  const int threads = pool_.num_threads();
  if (threads < 2 || threads > n || elements > kBranchElements) return Backend::run_branches(n, elements, fn);
  pool_.run_tasks(n, [&](int64_t i) { fn(static_cast<int>(i)); });
}

}  // namespace cn
