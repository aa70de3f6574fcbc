// The C ABI between the addon and a backend plugin (libcornernet_cuda.so, and
// libcornernet_cuda_emu.so which runs the same CUDA kernel source on the host).
// A plugin exports the probe and create symbols, and the three NCCL symbols
// below; the addon dlopens it from the folder that holds the addon itself, so
// the addon never links CUDA (nor NCCL) and loads on any machine.
#pragma once
#include <cstddef>

namespace cn {
class Backend;
class ProcessGroup;      // train/process_group.h
class ReplicaTransport;  // train/replica_transport.h
}

extern "C" {

#define CN_PLUGIN_ABI_VERSION 6  // 2: Backend::libraries(); 3: the NCCL entry points; 4: Conv2dParams::weight_version; 5: Backend::release_cached_memory(); 6: Backend::run_branches()
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

// ---- NCCL (native/cuda/nccl_communicator.cc); each fails with a message in err
// when NCCL is not loaded (the loader's reason) or a call fails.
#define CN_NCCL_UNIQUE_ID_BYTES 128
// ncclGetUniqueId on this process: rank 0 makes it, the launcher hands it to
// every rank. Returns 0 and fills out[128], or -1.
typedef int (*cn_plugin_nccl_unique_id_fn)(char* out, char* err, size_t err_len);
// A ProcessGroup over ncclCommInitRank for rank `rank` of `size` on CUDA
// device `device`, every collective bounded by `timeout_s` seconds; nullptr on
// failure. Blocks until every rank has joined (NCCL's own initialisation).
typedef cn::ProcessGroup* (*cn_plugin_nccl_process_group_fn)(int rank, int size, const char* unique_id, int device,
                                                             double timeout_s, char* err, size_t err_len);
// A ReplicaTransport over ncclCommInitAll for the replicas of one process, one
// backend (made by this plugin) each; nullptr on failure.
typedef cn::ReplicaTransport* (*cn_plugin_nccl_replica_transport_fn)(cn::Backend* const* backends, int count,
                                                                     char* err, size_t err_len);
#define CN_PLUGIN_NCCL_UNIQUE_ID_SYMBOL "cornernet_plugin_nccl_unique_id"
#define CN_PLUGIN_NCCL_PROCESS_GROUP_SYMBOL "cornernet_plugin_nccl_process_group"
#define CN_PLUGIN_NCCL_REPLICA_TRANSPORT_SYMBOL "cornernet_plugin_nccl_replica_transport"
}
