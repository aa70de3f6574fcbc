// The JavaScript Model class (lib/model.ts wraps it): a CornerNet built from a
// config object, with the reference's state_dict names, async forward/backward.
#pragma once
#include <napi.h>

namespace cn {

// Adds `Model` to the addon's exports.
void register_model(Napi::Env env, Napi::Object exports);

}  // namespace cn
