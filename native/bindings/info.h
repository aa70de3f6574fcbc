#pragma once
#include <napi.h>

namespace cn {
Napi::Value info(const Napi::CallbackInfo& info);
// backendInfo(spec): {name, device, supports: [op names]} or an Error saying why the backend is unavailable.
Napi::Value backend_info(const Napi::CallbackInfo& info);
}
