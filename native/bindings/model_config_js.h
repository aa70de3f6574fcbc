// A CornerNet architecture config from JavaScript ({numStacks, downsampleTimes,
// stageChannels, ...}: camelCase of the reference's keyword arguments), checked
// key by key. lib/configs validates presets first; this guards the engine.
#pragma once
#include <napi.h>

#include <string>

#include "../model/config.h"

namespace cn {

// Throws a JS TypeError/RangeError prefixed with `where` naming the bad key.
CornerNetConfig parse_model_config(Napi::Env env, const Napi::Value& v, const std::string& where);

}  // namespace cn
