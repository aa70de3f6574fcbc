#include "runtime.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstring>

namespace cn {

namespace {
std::string find_addon_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&find_addon_dir), &info) && info.dli_fname) {
    std::string p = info.dli_fname;
    auto slash = p.rfind('/');
    if (slash != std::string::npos) return p.substr(0, slash);
  }
  return ".";
}
}  // namespace

std::shared_ptr<Runtime> Runtime::acquire() {
  // The singleton: shared while any environment holds it, rebuilt after the last
  // one let go (e.g. a worker thread reloading the addon later).
  static std::mutex m;
  static std::weak_ptr<Runtime> instance;
  std::lock_guard<std::mutex> lock(m);
  auto rt = instance.lock();
  if (!rt) {
    rt = std::shared_ptr<Runtime>(new Runtime());
    instance = rt;
  }
  return rt;
}

Runtime::Runtime()
    : pool_(new ThreadPool(ThreadPool::default_threads())), addon_dir_(find_addon_dir()) {}

const Plugin& Runtime::plugin(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = plugins_.find(name);
  if (it != plugins_.end()) return it->second;
  Plugin& pl = plugins_[name];
  pl.name = name;
  pl.path = addon_dir_ + "/libcornernet_" + name + ".so";
  struct stat st;
  if (stat(pl.path.c_str(), &st) != 0) {
    pl.load_error = "not built (no " + pl.path + ")";
    return pl;
  }
  // Plugins are never unloaded: a CUDA runtime does not survive dlclose cleanly.
  void* h = dlopen(pl.path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* e = dlerror();
    pl.load_error = std::string("cannot load ") + pl.path + ": " + (e ? e : "unknown dlopen error");
    return pl;
  }
  auto probe = reinterpret_cast<cn_plugin_probe_fn>(dlsym(h, CN_PLUGIN_PROBE_SYMBOL));
  auto create = reinterpret_cast<cn_plugin_create_fn>(dlsym(h, CN_PLUGIN_CREATE_SYMBOL));
  auto nccl_id = reinterpret_cast<cn_plugin_nccl_unique_id_fn>(dlsym(h, CN_PLUGIN_NCCL_UNIQUE_ID_SYMBOL));
  auto nccl_pg = reinterpret_cast<cn_plugin_nccl_process_group_fn>(dlsym(h, CN_PLUGIN_NCCL_PROCESS_GROUP_SYMBOL));
  auto nccl_rt =
      reinterpret_cast<cn_plugin_nccl_replica_transport_fn>(dlsym(h, CN_PLUGIN_NCCL_REPLICA_TRANSPORT_SYMBOL));
  if (!probe || !create) {
    pl.load_error = pl.path + " is not a cornernet backend plugin (missing entry points)";
    return pl;
  }
  std::memset(&pl.probe, 0, sizeof(pl.probe));
  probe(&pl.probe);
  if (pl.probe.abi_version != CN_PLUGIN_ABI_VERSION) {
    pl.load_error = pl.path + " was built for plugin ABI " + std::to_string(pl.probe.abi_version) +
                    ", this addon speaks " + std::to_string(CN_PLUGIN_ABI_VERSION) +
                    "; rebuild the package (npm run build:native)";
    return pl;
  }
  if (!nccl_id || !nccl_pg || !nccl_rt) {
    pl.load_error = pl.path + " speaks plugin ABI " + std::to_string(CN_PLUGIN_ABI_VERSION) +
                    " but lacks its NCCL entry points; rebuild the package (npm run build:native)";
    return pl;
  }
  pl.create = create;
  pl.nccl_unique_id = nccl_id;
  pl.nccl_process_group = nccl_pg;
  pl.nccl_replica_transport = nccl_rt;
  pl.loaded = true;
  return pl;
}

}  // namespace cn
