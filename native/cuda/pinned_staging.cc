#include "pinned_staging.h"

namespace cn {
namespace cuda {

namespace {
// Page multiples up to 1 MiB, then 2 MiB multiples (steady input batches reuse one size).
size_t round_pinned(size_t bytes) {
  size_t r = bytes <= (size_t{1} << 20) ? size_t{4096} : size_t{2} << 20;
  return (bytes + r - 1) / r * r;
}

bool copy_finished(cudaEvent_t e) {
  cudaError_t r = cudaEventQuery(e);
  if (r == cudaSuccess) return true;
  cudaGetLastError();  // "not ready" is an answer, not an error
  return false;
}
}  // namespace

PinnedStaging::~PinnedStaging() {
  std::lock_guard<std::mutex> lock(mu_);
  cudaSetDevice(device_);
  while (!buffers_.empty()) free_buffer_locked(buffers_.size() - 1);
}

PinnedStaging::Lease PinnedStaging::acquire(size_t bytes) {
  if (!bytes) return Lease();
  const size_t size = round_pinned(bytes);
  if (size > kCacheLimit) return Lease();
  std::lock_guard<std::mutex> lock(mu_);
  // Best fit among idle buffers whose copy is done, at most twice the size.
  Buffer* best = nullptr;
  for (auto& b : buffers_)
    if (!b->busy && b->size >= size && b->size <= 2 * size && (!best || b->size < best->size) && copy_finished(b->done))
      best = b.get();
  if (best) {
    best->busy = true;
    return Lease(this, best);
  }
  cudaSetDevice(device_);
  evict_locked(size);
  auto b = std::make_unique<Buffer>();
  cudaError_t e = cudaHostAlloc(&b->ptr, size, cudaHostAllocDefault);
  if (e != cudaSuccess) {
    // The OS may refuse to lock more pages: free every idle buffer and try once more.
    cudaGetLastError();
    evict_locked(kCacheLimit);
    e = cudaHostAlloc(&b->ptr, size, cudaHostAllocDefault);
  }
  if (e == cudaSuccess) e = cudaEventCreateWithFlags(&b->done, cudaEventDisableTiming);
  if (e != cudaSuccess) {
    cudaGetLastError();
    if (b->ptr) cudaFreeHost(b->ptr);
    return Lease();  // the caller falls back to a synchronous copy from pageable memory
  }
  ++host_allocs_;
  b->size = size;
  b->busy = true;
  total_ += size;
  buffers_.push_back(std::move(b));
  return Lease(this, buffers_.back().get());
}

void PinnedStaging::give_back(Buffer* b) {
  std::lock_guard<std::mutex> lock(mu_);
  b->busy = false;
}

void PinnedStaging::evict_locked(size_t need) {
  // Oldest first: buffers_ is in creation order.
  for (size_t i = 0; i < buffers_.size() && total_ + need > kCacheLimit;) {
    if (buffers_[i]->busy) {
      ++i;
      continue;
    }
    free_buffer_locked(i);
  }
}

void PinnedStaging::free_buffer_locked(size_t i) {
  Buffer& b = *buffers_[i];
  if (b.done) {
    cudaEventSynchronize(b.done);  // its copy must finish before the memory goes
    cudaEventDestroy(b.done);
  }
  cudaFreeHost(b.ptr);
  total_ -= b.size;
  buffers_.erase(buffers_.begin() + static_cast<std::ptrdiff_t>(i));
}

uint64_t PinnedStaging::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_;
}

uint64_t PinnedStaging::host_allocs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return host_allocs_;
}

}  // namespace cuda
}  // namespace cn
