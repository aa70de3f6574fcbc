#include "device_allocator.h"

namespace cn {
namespace cuda {

void* CudaMemory::allocate(size_t bytes) {
  cudaError_t e = cudaSetDevice(device_);
  void* p = nullptr;
  if (e == cudaSuccess) e = cudaMalloc(&p, bytes);
  if (e != cudaSuccess) {
    // Out of memory is not sticky: clear it so that the retry (after the pool
    // empties its cache) and later calls see a clean state.
    cudaGetLastError();
    last_error_ = cudaGetErrorString(e);
    return nullptr;
  }
  return p;
}

void CudaMemory::free(void* p, size_t) noexcept {
  cudaSetDevice(device_);
  cudaFree(p);  // a failure here means the context is already gone: nothing to give back
  cudaGetLastError();
}

void* CudaMemory::record_fence(void* stream) noexcept {
  cudaEvent_t ev = nullptr;
  if (cudaSetDevice(device_) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  if (!spare_events_.empty()) {
    ev = spare_events_.back();
    spare_events_.pop_back();
  } else if (cudaEventCreateWithFlags(&ev, cudaEventDisableTiming) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  if (cudaEventRecord(ev, static_cast<cudaStream_t>(stream)) != cudaSuccess) {
    cudaGetLastError();
    spare_events_.push_back(ev);
    return nullptr;
  }
  return ev;
}

bool CudaMemory::fence_done(void* fence) noexcept {
  cudaError_t e = cudaEventQuery(static_cast<cudaEvent_t>(fence));
  if (e == cudaSuccess) return true;
  cudaGetLastError();  // "not ready" is an answer, not an error
  // A failed event will not complete later: waiting longer would not help.
  return e != cudaErrorNotReady;
}

void CudaMemory::fence_wait(void* fence) noexcept {
  if (cudaEventSynchronize(static_cast<cudaEvent_t>(fence)) != cudaSuccess) cudaGetLastError();
}

void CudaMemory::fence_release(void* fence) noexcept { spare_events_.push_back(static_cast<cudaEvent_t>(fence)); }

void CudaMemory::stream_wait(void* stream) noexcept {
  if (cudaStreamSynchronize(static_cast<cudaStream_t>(stream)) != cudaSuccess) cudaGetLastError();
}

void CudaMemory::close() noexcept {
  for (cudaEvent_t e : spare_events_) cudaEventDestroy(e);
  spare_events_.clear();
  cudaGetLastError();
}

CachePolicy device_cache_policy() {
  CachePolicy p;
  p.small_limit = size_t{1} << 20;
  p.small_round = 512;
  p.large_round = size_t{2} << 20;
  p.slack_eighths = 2;
  return p;
}

std::shared_ptr<CachingAllocator> make_device_allocator(int device) {
  return std::make_shared<CachingAllocator>(std::make_unique<CudaMemory>(device), device_cache_policy());
}

}  // namespace cuda
}  // namespace cn
