// Entry points of libcornernet_cuda_emu.so: the CUDA backend running on the
// emulated device (see emu.h). Backend name 'cuda-emu' (device 0; 'cuda-emu:N'
// for the further devices CORNERNET_EMU_DEVICES adds), reported as cuda:N, so code that branches on the device type takes the GPU paths
// (upload, download, device-resident tensors) while running on the host.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "../cuda/cuda_backend.h"
#include "../engine/plugin_abi.h"

extern "C" {

__attribute__((visibility("default"))) void cornernet_plugin_probe(cn_plugin_probe* out) {
  std::memset(out, 0, sizeof(*out));
  out->abi_version = CN_PLUGIN_ABI_VERSION;
  out->status = CN_PROBE_OK;
  out->device_count = cn_emu::device_count();
  std::snprintf(out->compiled_archs, sizeof(out->compiled_archs), "host-emulation");
  std::snprintf(out->message, sizeof(out->message),
                "CUDA kernels emulated on the host (fibers per block, 32-lane warps), for tests");
  for (int i = 0; i < out->device_count; ++i) {
    cn_device_info& d = out->devices[i];
    std::snprintf(d.name, sizeof(d.name), "cornernet CUDA emulator");
    d.multiprocessors = 1;
  }
}

__attribute__((visibility("default"))) cn::Backend* cornernet_plugin_create(int index, char* err, size_t err_len) {
  try {
    if (index < 0 || index >= cn_emu::device_count()) {
      std::snprintf(err, err_len, "the CUDA emulator has %d device(s) (CORNERNET_EMU_DEVICES), not index %d",
                    cn_emu::device_count(), index);
      return nullptr;
    }
    return new cn::cuda::CudaBackend(index, index == 0 ? "cuda-emu" : "cuda-emu:" + std::to_string(index));
  } catch (const std::exception& ex) {
    std::snprintf(err, err_len, "%s", ex.what());
  }
  return nullptr;
}

}  // extern "C"
