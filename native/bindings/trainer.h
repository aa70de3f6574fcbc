// The JavaScript Trainer class (lib/train/native_trainer.ts wraps it): training
// runs on a dedicated native thread that takes commands (step, snapshot, load,
// stop) from a queue and reports through a thread-safe function, so the event
// loop stays free and a run can be cancelled between steps.
#pragma once
#include <napi.h>

namespace cn {

void register_trainer(Napi::Env env, Napi::Object exports);

}  // namespace cn
