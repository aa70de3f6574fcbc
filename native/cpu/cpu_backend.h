// The CPU backend: host memory, every op of the Backend interface, multithreaded
// over the process-wide pool, with SIMD kernels chosen by `isa` at construction.
// Each op's implementation lives in its own file (conv2d.cc, batch_norm.cc, ...).
#pragma once
#include "../engine/backend.h"
#include "../engine/thread_pool.h"
#include "cpu_features.h"

namespace cn {

class CpuBackend : public Backend {
 public:
  CpuBackend(ThreadPool& pool, Isa isa) : pool_(pool), isa_(isa) {}

  std::string name() const override { return "cpu"; }
  Device device() const override { return Device{}; }
  bool supports(Op) const override { return true; }
  Isa isa() const { return isa_; }
  ThreadPool& pool() const { return pool_; }

  Tensor empty(const Shape& shape) override { return Tensor::host(shape); }
  Tensor zeros(const Shape& shape) override { return Tensor::host_zeros(shape); }
  Tensor upload(const Tensor& host) override { return host; }
  void download(const Tensor& src, Tensor& dst) override {
    if (src.data() != dst.data() && src.numel()) std::memcpy(dst.data(), src.data(), src.bytes());
  }
  MemoryStats memory_stats() const override { return host_pool().stats(); }
  void release_cached_memory() override { host_pool().release_cache(); }
  // Side by side, each branch's ops on one thread, when every thread gets a
  // branch and the tensors are small: a shapes-tiny step is ~4,000 parallel
  // regions of a few microseconds each, and the corner head's two corners (half
  // its convolutions, all at 32x32) ran at ~65 % of 2 threads split op by op.
  // Large tensors stay split op by op: both corners' temporaries alive at once
  // would raise the peak memory (hourglass104's head at 511: 4.2 M floats each).
  void run_branches(int n, int64_t elements, const std::function<void(int)>& fn) override;

  // Other native/cpu code calls the kernels through the public, checked methods.
 protected:
  // One file per op family (the family column of engine/ops.def): conv2d.cc,
  // batch_norm.cc, elementwise.cc, upsample.cc, maxpool3x3.cc, corner_pool.cc,
  // optimizer.cc, targets.cc, losses.cc, decode.cc.
  CN_BACKEND_RUN_OPS(, override)

 private:
  ThreadPool& pool_;
  Isa isa_;
};

}  // namespace cn
