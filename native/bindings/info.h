#pragma once
#include <napi.h>

namespace cn {
Napi::Value info(const Napi::CallbackInfo& info);
}
