// Entry points of libcornernet_cuda.so (see engine/plugin_abi.h). The probe must
// work on any machine: no driver, an old driver, no GPU. The CUDA runtime is
// linked statically and opens libcuda.so.1 itself, reporting what it found.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "../engine/plugin_abi.h"
#include "cuda_backend.h"

#ifndef CN_CUDA_ARCHS
#define CN_CUDA_ARCHS "unknown"
#endif

namespace {

void copy_str(char* dst, size_t cap, const std::string& s) {
  std::snprintf(dst, cap, "%s", s.c_str());
}

// CMake's list ("75-real,80-real,90-real,90-virtual") as "75,80,90+ptx90".
std::string archs_for_humans(const std::string& cmake_list) {
  std::string real, ptx;
  size_t start = 0;
  while (start <= cmake_list.size()) {
    size_t comma = cmake_list.find(',', start);
    std::string a = cmake_list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? cmake_list.size() + 1 : comma + 1;
    if (a.empty()) continue;
    size_t dash = a.find('-');
    std::string num = a.substr(0, dash), kind = dash == std::string::npos ? "" : a.substr(dash + 1);
    if (kind != "virtual") real += (real.empty() ? "" : ",") + num;
    if (kind != "real") ptx += "+ptx" + num;
  }
  return real + ptx;
}

std::string error_text(cudaError_t e) {
  return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
}

std::string version_text(int v) {
  return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) void cornernet_plugin_probe(cn_plugin_probe* out) {
  std::memset(out, 0, sizeof(*out));
  out->abi_version = CN_PLUGIN_ABI_VERSION;
  out->runtime_version = CUDART_VERSION;
  copy_str(out->compiled_archs, sizeof(out->compiled_archs), archs_for_humans(CN_CUDA_ARCHS));
  try {
    // 0 with success when libcuda.so.1 cannot be found at all.
    int driver = 0;
    cudaDriverGetVersion(&driver);
    out->driver_version = driver;
    if (driver == 0) {
      out->status = CN_PROBE_NO_DRIVER;
      copy_str(out->message, sizeof(out->message), "libcuda.so.1 was not found: no NVIDIA driver is installed");
      return;
    }
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e == cudaErrorInsufficientDriver) {
      out->status = CN_PROBE_NO_DRIVER;
      copy_str(out->message, sizeof(out->message),
               "the NVIDIA driver supports CUDA " + version_text(driver) + ", this build needs " +
                   version_text(CUDART_VERSION) + " or newer");
      return;
    }
    if (e == cudaErrorNoDevice || (e == cudaSuccess && count == 0)) {
      out->status = CN_PROBE_NO_DEVICE;
      copy_str(out->message, sizeof(out->message),
               e == cudaSuccess ? std::string("the driver reports 0 devices") : error_text(e));
      return;
    }
    if (e != cudaSuccess) {
      out->status = CN_PROBE_ERROR;
      copy_str(out->message, sizeof(out->message), "cudaGetDeviceCount: " + error_text(e));
      return;
    }
    out->device_count = count < CN_PLUGIN_MAX_DEVICES ? count : CN_PLUGIN_MAX_DEVICES;
    for (int i = 0; i < out->device_count; ++i) {
      cudaDeviceProp p;
      e = cudaGetDeviceProperties(&p, i);
      if (e != cudaSuccess) {
        out->status = CN_PROBE_ERROR;
        copy_str(out->message, sizeof(out->message), "cudaGetDeviceProperties(" + std::to_string(i) + "): " + error_text(e));
        return;
      }
      cn_device_info& d = out->devices[i];
      copy_str(d.name, sizeof(d.name), p.name);
      d.cc_major = p.major;
      d.cc_minor = p.minor;
      d.total_memory = p.totalGlobalMem;
      d.multiprocessors = p.multiProcessorCount;
    }
    out->status = CN_PROBE_OK;
    copy_str(out->message, sizeof(out->message),
             std::to_string(count) + " device(s), driver " + version_text(driver));
  } catch (const std::exception& ex) {
    out->status = CN_PROBE_ERROR;
    copy_str(out->message, sizeof(out->message), ex.what());
  } catch (...) {
    out->status = CN_PROBE_ERROR;
    copy_str(out->message, sizeof(out->message), "unknown error while probing CUDA");
  }
}

__attribute__((visibility("default"))) cn::Backend* cornernet_plugin_create(int index, char* err, size_t err_len) {
  try {
    return new cn::cuda::CudaBackend(index, "cuda:" + std::to_string(index));
  } catch (const std::exception& ex) {
    copy_str(err, err_len, ex.what());
  } catch (...) {
    copy_str(err, err_len, "unknown error creating the CUDA backend");
  }
  return nullptr;
}

}  // extern "C"
