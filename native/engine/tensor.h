// Tensor: a shape, contiguous float32 storage (NCHW for images) and the device
// the storage lives on. Storage is shared (copying a Tensor is cheap) and either
// owned, with a deleter supplied by the backend that allocated it, or a view over
// memory someone else keeps alive (a JavaScript Float32Array, a memory-mapped file).
//
// Header-only on purpose: backend plugins (cuda, cuda-emu) are separate shared
// libraries and must agree with the addon on this type without linking it. Each
// of them compiles caching_allocator.cc, so each has a host pool of its own; a
// tensor's deleter gives its block back to the pool it came from.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "caching_allocator.h"
#include "error.h"


namespace cn {

enum class DeviceType : int { CPU = 0, CUDA = 1 };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const {
    return type == DeviceType::CPU ? std::string("cpu") : "cuda:" + std::to_string(index);
  }
};

using Shape = std::vector<int64_t>;

inline int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

inline std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

class Tensor {
 public:
  Tensor() = default;

  // A view: the caller guarantees `data` outlives every copy of the tensor.
  static Tensor view(float* data, Shape shape, Device dev = {}) {
    Tensor t;
    t.storage_ = std::shared_ptr<float>(data, [](float*) {});
    t.data_ = data;
    t.shape_ = std::move(shape);
    t.device_ = dev;
    return t;
  }

  // Owning: `deleter` releases the storage when the last copy goes away.
  static Tensor adopt(float* data, Shape shape, Device dev, std::function<void(float*)> deleter) {
    Tensor t;
    t.storage_ = std::shared_ptr<float>(data, std::move(deleter));
    t.data_ = data;
    t.shape_ = std::move(shape);
    t.device_ = dev;
    return t;
  }

  // Host allocation from the engine's host pool (caching_allocator.h), 64-byte
  // aligned (one cache line, one AVX-512 vector), uninitialised: a block freed
  // by an earlier tensor of about the same size comes back with its pages
  // already mapped, so steady-state steps make no page faults.
  static Tensor host(Shape shape) {
    size_t bytes = static_cast<size_t>(shape_numel(shape)) * sizeof(float);
    void* p = host_pool().allocate(bytes, nullptr, shape_str(shape));
    return adopt(static_cast<float*>(p), std::move(shape), Device{}, [](float* q) { host_pool().free(q); });
  }

  static Tensor host_zeros(Shape shape) {
    Tensor t = host(std::move(shape));
    if (t.numel()) std::memset(t.data(), 0, t.bytes());
    return t;
  }

  bool defined() const { return storage_ != nullptr || !shape_.empty(); }
  float* data() const { return data_; }
  const Shape& shape() const { return shape_; }
  int dim() const { return static_cast<int>(shape_.size()); }
  int64_t size(int i) const { return shape_.at(i < 0 ? i + dim() : i); }
  int64_t numel() const { return shape_numel(shape_); }
  size_t bytes() const { return static_cast<size_t>(numel()) * sizeof(float); }
  Device device() const { return device_; }
  bool is_host() const { return device_.type == DeviceType::CPU; }

  // Same storage, another shape of the same element count.
  Tensor reshape(Shape shape) const {
    if (shape_numel(shape) != numel())
      fail("cannot reshape a tensor of shape ", shape_str(shape_), " to ", shape_str(shape));
    Tensor t = *this;
    t.shape_ = std::move(shape);
    return t;
  }

 private:
  std::shared_ptr<float> storage_;
  float* data_ = nullptr;
  Shape shape_;
  Device device_;
};

}  // namespace cn
