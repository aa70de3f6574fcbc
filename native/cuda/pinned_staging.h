// Page-locked (pinned) host buffers through which the CUDA backend uploads and
// downloads. A copy from pageable memory is staged by the driver and cannot run
// asynchronously; from pinned memory it is one DMA that overlaps kernels. The
// caller's host data is first copied into a staging buffer, so it may go away as
// soon as upload() returns while the device copy is still queued.
//
// Buffers are cached: each carries an event recorded after the device copy that
// read or wrote it, and is handed out again only once that event has completed.
// cudaHostAlloc is slow and pinned memory is taken from the OS, so the cache is
// capped (kCacheLimit): over it, idle buffers are waited for and freed, and a
// single request above the cap gets no buffer (the caller copies from pageable
// memory, synchronously). Thread-safe (one mutex).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "cuda_compat.cuh"

namespace cn {
namespace cuda {

class PinnedStaging {
 public:
  static constexpr size_t kCacheLimit = size_t{256} << 20;

  struct Buffer {
    void* ptr = nullptr;
    size_t size = 0;
    cudaEvent_t done = nullptr;  // record after the copy that uses the buffer
    bool busy = false;           // handed out and not yet given back
  };

  // A buffer handed out; gives it back when it goes out of scope (after the
  // holder has recorded `done` behind its copy, or synchronised).
  class Lease {
   public:
    Lease() = default;
    Lease(PinnedStaging* owner, Buffer* b) : owner_(owner), b_(b) {}
    Lease(Lease&& o) noexcept : owner_(o.owner_), b_(o.b_) { o.b_ = nullptr; }
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease() {
      if (b_) owner_->give_back(b_);
    }
    explicit operator bool() const { return b_ != nullptr; }
    Buffer* operator->() const { return b_; }

   private:
    PinnedStaging* owner_ = nullptr;
    Buffer* b_ = nullptr;
  };

  explicit PinnedStaging(int device) : device_(device) {}
  ~PinnedStaging();  // waits for every buffer's copy, then frees them
  PinnedStaging(const PinnedStaging&) = delete;
  PinnedStaging& operator=(const PinnedStaging&) = delete;

  // A buffer of at least `bytes` whose last copy has finished; an empty lease
  // when `bytes` is above the cap or no pinned memory could be had.
  Lease acquire(size_t bytes);

  uint64_t bytes() const;        // pinned bytes held
  uint64_t host_allocs() const;  // cudaHostAlloc calls so far

 private:
  void give_back(Buffer* b);
  // Frees idle buffers (waiting for their copies) until `need` more bytes fit under the cap.
  void evict_locked(size_t need);
  void free_buffer_locked(size_t i);

  int device_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Buffer>> buffers_;
  uint64_t total_ = 0, host_allocs_ = 0;
};

}  // namespace cuda
}  // namespace cn
