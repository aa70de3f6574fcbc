// The CUDA backend: tensors in device memory of one GPU, work on one stream.
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
  void copy(const Tensor& src, Tensor& dst) override;

  void corner_pool_forward(CornerPoolMode mode, const Tensor& x, Tensor& y) override;
  void corner_pool_backward(CornerPoolMode mode, const Tensor& x, const Tensor& gy, Tensor& gx) override;

 private:
  void use_device() const;
  void check_here(const Tensor& t, const char* op, const char* arg) const;

  int index_;
  std::string name_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<Libraries> libs_;  // optional cuDNN / cuBLAS, handles on stream_
  Ctx ctx_;
};

}  // namespace cuda
}  // namespace cn
