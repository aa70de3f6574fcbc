// The part of the CUDA runtime API that native/cuda's host code uses, on host
// memory, so that the same backend and launch code build with g++ for the
// emulated device. Work is done when called (streams are already in order).
// Fresh "device" allocations are filled with 0xFF bytes (NaN as float) so a
// kernel that reads memory nobody wrote shows up in the results.
//
// Streams and events are distinct handles, as on a GPU, so code keyed on them
// (the caching allocator's per-stream pools) runs as it would there; since work
// is done when enqueued, every event is complete once recorded. The device's
// memory is unlimited unless CN_EMU_DEVICE_MEMORY (bytes, read at the first
// cudaMalloc) caps it, which lets tests reach cudaMalloc's out-of-memory path.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
};
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};
struct CUstream_st {
  int unused;
};
typedef CUstream_st* cudaStream_t;
#define cudaStreamNonBlocking 0x01
struct CUevent_st {
  bool recorded;
};
typedef CUevent_st* cudaEvent_t;
#define cudaEventDefault 0x00
#define cudaEventDisableTiming 0x02
#define cudaHostAllocDefault 0x00

inline const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
  }
  return "unknown error";
}
inline cudaError_t cudaGetLastError() { return cudaSuccess; }

namespace cn_emu {
// Devices the emulator reports: 1, or CORNERNET_EMU_DEVICES (up to 16) so tests
// can drive several replicas, each with a backend of its own. They all share
// the host's memory.
inline int device_count() {
  static const int n = [] {
    const char* v = std::getenv("CORNERNET_EMU_DEVICES");
    int k = v ? std::atoi(v) : 1;
    return k < 1 ? 1 : k > 16 ? 16 : k;
  }();
  return n;
}
}  // namespace cn_emu

inline cudaError_t cudaSetDevice(int d) {
  return d >= 0 && d < cn_emu::device_count() ? cudaSuccess : cudaErrorInvalidDevice;
}
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

namespace cn_emu {
// Bytes of emulated device memory in use and each block's size, for the cap.
struct DeviceMemory {
  std::mutex mu;
  std::unordered_map<void*, size_t> sizes;
  size_t used = 0;
  size_t limit = 0;  // 0: no cap
  bool limit_read = false;
};
inline DeviceMemory& device_memory() {
  static DeviceMemory m;
  return m;
}
}  // namespace cn_emu

inline cudaError_t cudaMalloc(void** p, size_t bytes) {
  *p = nullptr;
  size_t rounded = (bytes + 255) / 256 * 256;
  if (!rounded) return cudaSuccess;
  cn_emu::DeviceMemory& m = cn_emu::device_memory();
  std::lock_guard<std::mutex> lock(m.mu);
  if (!m.limit_read) {
    const char* cap = std::getenv("CN_EMU_DEVICE_MEMORY");
    m.limit = cap ? std::strtoull(cap, nullptr, 10) : 0;
    m.limit_read = true;
  }
  if (m.limit && m.used + rounded > m.limit) return cudaErrorMemoryAllocation;
  *p = std::aligned_alloc(256, rounded);
  if (!*p) return cudaErrorMemoryAllocation;
  std::memset(*p, 0xFF, rounded);
  m.sizes[*p] = rounded;
  m.used += rounded;
  return cudaSuccess;
}
template <typename T>
cudaError_t cudaMalloc(T** p, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(p), bytes);
}
inline cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  cn_emu::DeviceMemory& m = cn_emu::device_memory();
  std::lock_guard<std::mutex> lock(m.mu);
  auto it = m.sizes.find(p);
  if (it == m.sizes.end()) return cudaErrorInvalidValue;
  m.used -= it->second;
  m.sizes.erase(it);
  std::free(p);
  return cudaSuccess;
}
// Page-locked host memory is plain host memory here.
inline cudaError_t cudaHostAlloc(void** p, size_t bytes, unsigned /*flags*/) {
  *p = bytes ? std::malloc(bytes) : nullptr;
  return bytes && !*p ? cudaErrorMemoryAllocation : cudaSuccess;
}
inline cudaError_t cudaFreeHost(void* p) {
  std::free(p);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind, cudaStream_t = nullptr) {
  if (bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind k) {
  return cudaMemcpyAsync(dst, src, bytes, k);
}
inline cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t = nullptr) {
  if (bytes) std::memset(p, value, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  *s = new CUstream_st{0};
  return cudaSuccess;
}
inline cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete s;
  return cudaSuccess;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaStreamQuery(cudaStream_t) { return cudaSuccess; }

// Work is done when enqueued, so an event is complete as soon as it is recorded
// (and, as in CUDA, an event never recorded counts as complete).
inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned /*flags*/) {
  *e = new CUevent_st{false};
  return cudaSuccess;
}
inline cudaError_t cudaEventCreate(cudaEvent_t* e) { return cudaEventCreateWithFlags(e, cudaEventDefault); }
inline cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t = nullptr) {
  if (!e) return cudaErrorInvalidResourceHandle;
  e->recorded = true;
  return cudaSuccess;
}
inline cudaError_t cudaEventQuery(cudaEvent_t e) { return e ? cudaSuccess : cudaErrorInvalidResourceHandle; }
inline cudaError_t cudaEventSynchronize(cudaEvent_t e) { return e ? cudaSuccess : cudaErrorInvalidResourceHandle; }
inline cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t e, unsigned /*flags*/ = 0) {
  return e ? cudaSuccess : cudaErrorInvalidResourceHandle;
}
