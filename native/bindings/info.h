#pragma once
#include <napi.h>

namespace cn {
Napi::Value info(const Napi::CallbackInfo& info);
// backendInfo(spec): {name, device, supports: [op names]} or an Error saying why the backend is unavailable.
Napi::Value backend_info(const Napi::CallbackInfo& info);
// releaseCachedMemory(backend = 'cpu'): the pool's cached blocks back to the system; its figures after.
Napi::Value release_cached_memory(const Napi::CallbackInfo& info);
// engineOps(): every op of engine/ops.def as {name, js, family}, in list order.
Napi::Value engine_ops(const Napi::CallbackInfo& info);
// modelOps('train' | 'test'): the engine op names a training run / a forward pass needs.
Napi::Value model_ops(const Napi::CallbackInfo& info);
}
