#include "device_allocator.h"

#include <cstdio>
#include <functional>

namespace cn {
namespace cuda {

namespace {
std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}
}  // namespace

bool DeviceAllocator::BySize::operator()(const Block& a, const Block& b) const {
  std::less<cudaStream_t> stream_less;
  std::less<void*> ptr_less;
  if (a.stream != b.stream) return stream_less(a.stream, b.stream);
  if (a.size != b.size) return a.size < b.size;
  return ptr_less(a.ptr, b.ptr);
}

DeviceAllocator::DeviceAllocator(int device) : device_(device) {}

DeviceAllocator::~DeviceAllocator() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cache_locked();
  for (cudaEvent_t e : spare_events_) cudaEventDestroy(e);
}

size_t DeviceAllocator::round_size(size_t bytes) {
  size_t r = bytes <= kSmallLimit ? kSmallRound : kLargeRound;
  return (bytes + r - 1) / r * r;
}

void* DeviceAllocator::allocate(size_t bytes, cudaStream_t stream, const std::string& what) {
  if (!bytes) return nullptr;
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) fail("CUDA: the allocator of cuda:", device_, " is closed (its backend was destroyed)");
  collect_pending_locked();

  Block b;
  auto it = free_.lower_bound(Block{nullptr, size, stream});
  if (it != free_.end() && it->stream == stream && it->size <= size + size / 4) {
    b = *it;
    free_.erase(it);
    cached_ -= b.size;
  } else {
    CN_CUDA_CHECK(cudaSetDevice(device_));
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, size);
    if (e != cudaSuccess) {
      // Out of memory is not sticky; clear it, give the cache back to the
      // driver, and try once more.
      cudaGetLastError();
      release_cache_locked();
      e = cudaMalloc(&p, size);
    }
    if (e != cudaSuccess) {
      cudaGetLastError();
      fail("CUDA: cannot allocate ", bytes, " bytes (", mib(size), " block) on cuda:", device_, " for a tensor of shape ",
           what, ": ", cudaGetErrorString(e), " (tensors hold ", mib(in_use_),
           ", the cache was emptied and retried; peak so far ", mib(peak_), ")");
    }
    ++mallocs_;
    b = Block{p, size, stream};
  }
  live_.emplace(b.ptr, b);
  in_use_ += b.size;
  if (in_use_ > peak_) peak_ = in_use_;
  return b.ptr;
}

void DeviceAllocator::free(void* p, cudaStream_t used_on) noexcept {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(p);
  if (it == live_.end()) return;  // not ours: nothing sensible to do in a deleter
  Block b = it->second;
  live_.erase(it);
  in_use_ -= b.size;
  if (closed_) {
    device_free_locked(b);
    return;
  }
  if (used_on && used_on != b.stream) {
    cudaEvent_t ev = nullptr;
    try {
      ev = take_event_locked();
    } catch (...) {
      ev = nullptr;
    }
    if (ev && cudaSetDevice(device_) == cudaSuccess && cudaEventRecord(ev, used_on) == cudaSuccess) {
      pending_.push_back(Pending{b, ev});
      cached_ += b.size;
      return;
    }
    // No event: wait for the other stream here rather than risk reuse while it reads.
    if (ev) spare_events_.push_back(ev);
    cudaGetLastError();
    cudaStreamSynchronize(used_on);
  }
  free_.insert(b);
  cached_ += b.size;
}

void DeviceAllocator::collect_pending_locked() {
  size_t kept = 0;
  for (Pending& pe : pending_) {
    cudaError_t e = cudaEventQuery(pe.ready);
    if (e == cudaErrorNotReady) {
      cudaGetLastError();  // "not ready" is an answer, not an error
      pending_[kept++] = pe;
      continue;
    }
    // Complete (or the event failed, in which case waiting longer would not help).
    if (e != cudaSuccess) cudaGetLastError();
    spare_events_.push_back(pe.ready);
    free_.insert(pe.block);
  }
  pending_.resize(kept);
}

cudaEvent_t DeviceAllocator::take_event_locked() {
  if (!spare_events_.empty()) {
    cudaEvent_t e = spare_events_.back();
    spare_events_.pop_back();
    return e;
  }
  cudaEvent_t e = nullptr;
  CN_CUDA_CHECK(cudaSetDevice(device_));
  CN_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return e;
}

void DeviceAllocator::device_free_locked(const Block& b) {
  cudaSetDevice(device_);
  cudaFree(b.ptr);  // a failure here means the context is already gone: nothing to give back
  ++frees_;
}

void DeviceAllocator::release_cache_locked() {
  for (Pending& pe : pending_) {
    cudaEventSynchronize(pe.ready);
    spare_events_.push_back(pe.ready);
    free_.insert(pe.block);
  }
  pending_.clear();
  for (const Block& b : free_) device_free_locked(b);
  free_.clear();
  cached_ = 0;
  cudaGetLastError();
}

void DeviceAllocator::release_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cache_locked();
}

void DeviceAllocator::close() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cache_locked();
  for (cudaEvent_t e : spare_events_) cudaEventDestroy(e);
  spare_events_.clear();
  closed_ = true;
}

MemoryStats DeviceAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  MemoryStats s;
  s.in_use = in_use_;
  s.cached = cached_;
  s.peak = peak_;
  s.mallocs = mallocs_;
  s.frees = frees_;
  return s;
}

}  // namespace cuda
}  // namespace cn
