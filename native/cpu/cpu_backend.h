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

  // optimizer.cc
  void copy(const Tensor& src, Tensor& dst) override;
  double sum_squares(const Tensor& x) override;
  void axpy(float alpha, const Tensor& x, Tensor& y) override;
  void adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                   const AdamParams& p) override;

  // ---- ops (one file each) -------------------------------------------------
  // [ops: begin]
  // conv2d.cc
  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
                      Tensor& y) override;
  void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy, const Conv2dParams& p, Tensor& gx,
                       Tensor& gw, Tensor& gb) override;
  // [ops: end]

 private:
  ThreadPool& pool_;
  Isa isa_;
};

}  // namespace cn
