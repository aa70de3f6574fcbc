// Native helpers for bench/ (not ops): measurements only the engine can make.
#pragma once
#include <napi.h>

namespace cn {
// fmaPeakGflops({isa?, allThreads?, seconds?}): measured fp32 FMA throughput.
Napi::Value fma_peak_gflops(const Napi::CallbackInfo& info);
}  // namespace cn
