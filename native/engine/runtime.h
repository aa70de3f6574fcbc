// The only process-wide state of the engine: the worker thread pool and the
// loaded backend plugins (whose CUDA context is per process by nature). It is
// refcounted: each Node environment that loads the addon holds a reference, and
// the last one to unload releases it.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "plugin_abi.h"
#include "thread_pool.h"

namespace cn {

struct Plugin {
  std::string name;  // "cuda", "cuda_emu"
  std::string path;  // where it was looked for
  bool loaded = false;
  std::string load_error;  // why it is not loaded (file missing, dlopen message)
  cn_plugin_probe probe{};
  cn_plugin_create_fn create = nullptr;
  // NCCL entry points (plugin_abi.h), resolved with create.
  cn_plugin_nccl_unique_id_fn nccl_unique_id = nullptr;
  cn_plugin_nccl_process_group_fn nccl_process_group = nullptr;
  cn_plugin_nccl_replica_transport_fn nccl_replica_transport = nullptr;
};

class Runtime {
 public:
  static std::shared_ptr<Runtime> acquire();

  ThreadPool& pool() { return *pool_; }
  // Folder holding the addon (.node) and its plugins.
  const std::string& addon_dir() const { return addon_dir_; }
  // Loads the plugin on first use; the result (loaded or why not) is kept.
  const Plugin& plugin(const std::string& name);

 private:
  Runtime();
  std::unique_ptr<ThreadPool> pool_;
  std::string addon_dir_;
  std::mutex mutex_;
  std::map<std::string, Plugin> plugins_;
};

}  // namespace cn
