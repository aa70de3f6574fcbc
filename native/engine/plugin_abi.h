// The C ABI between the addon and a backend plugin (libcornernet_cuda.so, and
// libcornernet_cuda_emu.so which runs the same CUDA kernel source on the host).
// A plugin exports two symbols; the addon dlopens it from the folder that holds
// the addon itself, so the addon never links CUDA and loads on any machine.
#pragma once
#include <cstddef>

namespace cn {
class Backend;
}

extern "C" {

#define CN_PLUGIN_ABI_VERSION 3  // 2: Backend::libraries(); 3: Backend::release_cached_memory()
#define CN_PLUGIN_MAX_DEVICES 16

enum cn_probe_status {
  CN_PROBE_OK = 0,         // driver and at least one device
  CN_PROBE_NO_DRIVER = 1,  // libcuda missing or too old for the runtime
  CN_PROBE_NO_DEVICE = 2,  // driver present, no usable device
  CN_PROBE_ERROR = 3       // anything else; message says what
};

struct cn_device_info {
  char name[128];
  int cc_major;
  int cc_minor;
  unsigned long long total_memory;
  int multiprocessors;
};

struct cn_plugin_probe {
  int abi_version;
  int status;           // cn_probe_status
  int driver_version;   // e.g. 13000, 0 when unknown
  int runtime_version;  // the runtime the plugin was built with (linked statically)
  int device_count;
  char compiled_archs[128];  // e.g. "75,80,86,89,90+ptx90"
  char message[512];
  cn_device_info devices[CN_PLUGIN_MAX_DEVICES];
};

// Fills *out; never throws, never aborts.
typedef void (*cn_plugin_probe_fn)(cn_plugin_probe* out);
// A backend for device `index`, or nullptr with a message in err.
typedef cn::Backend* (*cn_plugin_create_fn)(int index, char* err, size_t err_len);

#define CN_PLUGIN_PROBE_SYMBOL "cornernet_plugin_probe"
#define CN_PLUGIN_CREATE_SYMBOL "cornernet_plugin_create"
}
