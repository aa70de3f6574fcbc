// The addon's entry point: registers the binding files and nothing else.
// Context-aware: all state hangs off per-environment instance data (AddonData).
#include <napi.h>

#include "bindings/addon_data.h"
#include "bindings/bench.h"
#include "bindings/decode.h"
#include "bindings/info.h"
#include "bindings/model.h"
#include "bindings/ops.h"
#include "bindings/process_group.h"
#include "bindings/trainer.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  try {
    env.SetInstanceData(new cn::AddonData());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("cornernet-native: engine failed to start: ") + e.what());
  }
  exports.Set("info", Napi::Function::New(env, cn::info, "info"));
  exports.Set("backendInfo", Napi::Function::New(env, cn::backend_info, "backendInfo"));
  exports.Set("releaseCachedMemory", Napi::Function::New(env, cn::release_cached_memory, "releaseCachedMemory"));
  exports.Set("engineOps", Napi::Function::New(env, cn::engine_ops, "engineOps"));
  exports.Set("modelOps", Napi::Function::New(env, cn::model_ops, "modelOps"));
  exports.Set("fmaPeakGflops", Napi::Function::New(env, cn::fma_peak_gflops, "fmaPeakGflops"));
  exports.Set("sgemmGflops", Napi::Function::New(env, cn::sgemm_gflops, "sgemmGflops"));
  Napi::Object ops = Napi::Object::New(env);
  cn::OpRegistry reg(env, ops);
  cn::register_ops(reg);
  exports.Set("ops", ops);
  cn::register_model(env, exports);
  cn::register_process_group(env, exports);
  cn::register_trainer(env, exports);
  cn::register_decode(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(cornernet, Init)
