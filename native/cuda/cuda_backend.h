// The CUDA backend: tensors in device memory of one GPU, kernels on one compute
// stream, host-to-device copies on a copy stream that the compute stream waits
// for with an event (so an input batch's copy overlaps the work queued before
// it). Device memory comes from a caching allocator (device_allocator.h), host
// transfers go through cached pinned buffers (pinned_staging.h).
// Only ops with a CUDA kernel are overridden (supports() lists them); the rest
// keep the base class's error, which tells the caller to use the 'cpu' backend.
//
// The same class is compiled by g++ against the emulated runtime
// (native/cuda_emu) to make the 'cuda-emu' backend: host memory standing in
// for device memory, device reported as cuda:0.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "../engine/backend.h"
#include "cuda_libraries.h"
#include "cuda_ops.h"
#include "device_allocator.h"
#include "pinned_staging.h"

namespace cn {
namespace cuda {

class CudaBackend : public Backend {
 public:
  // `name` is what users asked for ("cuda:0", "cuda-emu").
  CudaBackend(int device_index, std::string name);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  std::string name() const override { return name_; }
  Device device() const override { return Device{DeviceType::CUDA, index_}; }
  bool supports(Op op) const override;

  Tensor empty(const Shape& shape) override;
  Tensor zeros(const Shape& shape) override;
  Tensor upload(const Tensor& host) override;
  void download(const Tensor& src, Tensor& host_dst) override;
  void synchronize() override;
  std::vector<BackendLibrary> libraries() const override;
  MemoryStats memory_stats() const override;
  void release_cached_memory() override { alloc_->release_cache(); }

  // For the NCCL communicators (nccl_communicator.cc): the device index and the
  // stream every op of this backend runs on.
  int device_index() const { return index_; }
  cudaStream_t compute_stream() const { return stream_; }

 protected:
  // Each calls its op's entry in cuda_ops.h (arguments already checked by the engine).
  CN_BACKEND_RUN_OPS(, override)

 private:
  void use_device() const;
  void check_here(const Tensor& t, const char* op, const char* arg) const;  // upload/download

  int index_;
  std::string name_;
  cudaStream_t stream_ = nullptr;       // kernels, device-to-device and device-to-host copies
  cudaStream_t copy_stream_ = nullptr;  // host-to-device copies (upload)
  // Shared with the deleters of the tensors it handed out, which may outlive
  // the backend (closed then: blocks go straight back to the driver).
  std::shared_ptr<CachingAllocator> alloc_;  // the device pool (device_allocator.h)
  PinnedStaging staging_;
  std::unique_ptr<Libraries> libs_;  // optional cuDNN / cuBLAS, handles on stream_
  Ctx ctx_;
};

}  // namespace cuda
}  // namespace cn
