// The CUDA backend's device pool: the engine's caching allocator
// (native/engine/caching_allocator.h, the same size classes and free lists as
// the host pool) over cudaMalloc / cudaFree, with CUDA events as the fences of
// blocks used on another stream. cudaMalloc is slow and cudaFree synchronises
// the whole device, so after the first steps of a training loop a step
// allocates nothing from the driver.
//
// Size classes: requests up to 1 MiB round up to a multiple of 512 B, larger
// ones to a multiple of 2 MiB; a cached block serves requests on its stream up
// to a quarter smaller. No cap and no footprint bound: device memory is given
// back when cudaMalloc fails (then the request is retried once), on
// release_cache() (native().releaseCachedMemory()) and when the backend goes.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "../engine/caching_allocator.h"
#include "cuda_compat.cuh"

namespace cn {
namespace cuda {

// The device-specific half of the pool: one device's memory and events.
class CudaMemory final : public MemorySource {
 public:
  explicit CudaMemory(int device) : device_(device) {}
  ~CudaMemory() override { close(); }

  std::string device_name() const override { return "cuda:" + std::to_string(device_); }
  void* allocate(size_t bytes) override;
  void free(void* p, size_t bytes) noexcept override;
  std::string last_error() const override { return last_error_; }
  void* record_fence(void* stream) noexcept override;
  bool fence_done(void* fence) noexcept override;
  void fence_wait(void* fence) noexcept override;
  void fence_release(void* fence) noexcept override;
  void stream_wait(void* stream) noexcept override;
  void close() noexcept override;

 private:
  int device_;
  std::string last_error_ = "out of memory";
  std::vector<cudaEvent_t> spare_events_;  // recorded fences come back here (the pool's mutex guards them)
};

// The size classes of device memory.
CachePolicy device_cache_policy();

// A device pool for CUDA device `device`.
std::shared_ptr<CachingAllocator> make_device_allocator(int device);

}  // namespace cuda
}  // namespace cn
