// Per-environment state of the addon (N-API instance data): a reference to the
// process-wide Runtime and the backends this environment has opened. Nothing
// here is global, so the addon is safe to load in worker threads.
#pragma once
#include <napi.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "../cpu/cpu_backend.h"
#include "../engine/runtime.h"

namespace cn {

class AddonData {
 public:
  AddonData();
  Runtime& runtime() { return *runtime_; }
  CpuBackend& cpu() { return *cpu_; }
  // "cpu", "cpu:portable|avx2|avx512", "cuda", "cuda:N", "cuda-emu".
  // Throws cn::Error saying why a backend cannot be had (no plugin, no driver,
  // no device, bad index, unknown name).
  Backend& backend(const std::string& spec);

  static AddonData& of(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }
  // The JS ProcessGroup class (bindings/process_group.cc), to recognise its objects.
  Napi::FunctionReference* process_group_class() { return &process_group_class_; }

 private:
  std::shared_ptr<Runtime> runtime_;  // declared first: destroyed last
  std::unique_ptr<CpuBackend> cpu_;
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Backend>> opened_;
  Napi::FunctionReference process_group_class_;
};

}  // namespace cn
