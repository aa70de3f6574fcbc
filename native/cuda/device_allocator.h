// The CUDA backend's caching device allocator. cudaMalloc and cudaFree are slow
// and cudaFree synchronises the whole device, so blocks a tensor gives back stay
// cached, binned by stream and size, and serve later requests of about the same
// size on the same stream: after the first steps of a training loop, a step
// allocates nothing from the driver. The same idea as PyTorch's caching
// allocator, much reduced: no block splitting or merging (every block is one
// cudaMalloc), which sizes classes make cheap enough for a model whose tensor
// shapes repeat step after step.
//
// Size classes: requests up to 1 MiB round up to a multiple of 512 B, larger
// ones to a multiple of 2 MiB. A cached block serves a request when it is on the
// same stream, at least the rounded size and at most a quarter larger (so a
// small request never pins a large block).
//
// Streams: a block belongs to the stream it was allocated for, and work on that
// stream may reuse it as soon as it is freed (stream order makes that safe). A
// block also used on another stream (an upload written on the copy stream and
// read on the compute stream) is freed with `used_on`: it stays pending until an
// event recorded on `used_on` at free time has completed.
//
// When cudaMalloc fails, the cache is released (cudaFree of every cached block)
// and the request tried once more; then the error names the request and the
// allocator's figures. Thread-safe (one mutex): tensors may be freed on any thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "../engine/backend.h"
#include "cuda_compat.cuh"

namespace cn {
namespace cuda {

class DeviceAllocator {
 public:
  static constexpr size_t kSmallLimit = size_t{1} << 20;  // requests up to this size...
  static constexpr size_t kSmallRound = 512;              // ...round to 512 B
  static constexpr size_t kLargeRound = size_t{2} << 20;  // larger ones to 2 MiB

  explicit DeviceAllocator(int device);
  ~DeviceAllocator();  // releases the cache; blocks still held by tensors are freed when they return
  DeviceAllocator(const DeviceAllocator&) = delete;
  DeviceAllocator& operator=(const DeviceAllocator&) = delete;

  // The size of the block that serves a request of `bytes`.
  static size_t round_size(size_t bytes);

  // A block of at least `bytes` (nullptr for 0) for work on `stream`. `what`
  // describes the request in the error when device memory runs out (a shape).
  void* allocate(size_t bytes, cudaStream_t stream, const std::string& what);
  // Returns `p` to the cache. With `used_on` set (another stream that used the
  // block), the block waits for the work enqueued on `used_on` so far. Never
  // throws: it runs in tensor deleters.
  void free(void* p, cudaStream_t used_on = nullptr) noexcept;
  // cudaFree of every cached block (waiting for pending ones first).
  void release_cache();
  // The owner's streams are going away: release the cache, and from now on give
  // blocks straight back to the driver when their tensors let them go.
  void close();

  MemoryStats stats() const;

 private:
  struct Block {
    void* ptr = nullptr;
    size_t size = 0;
    cudaStream_t stream = nullptr;
  };
  struct Pending {
    Block block;
    cudaEvent_t ready = nullptr;  // recorded on the other stream at free time
  };
  struct BySize {  // free blocks ordered by stream, then size: best fit is a lower_bound
    bool operator()(const Block& a, const Block& b) const;
  };

  void collect_pending_locked();
  void release_cache_locked();
  cudaEvent_t take_event_locked();
  void device_free_locked(const Block& b);

  int device_;
  mutable std::mutex mu_;
  bool closed_ = false;
  std::unordered_map<void*, Block> live_;
  std::set<Block, BySize> free_;
  std::vector<Pending> pending_;
  std::vector<cudaEvent_t> spare_events_;
  uint64_t in_use_ = 0, cached_ = 0, peak_ = 0, mallocs_ = 0, frees_ = 0;
};

}  // namespace cuda
}  // namespace cn
