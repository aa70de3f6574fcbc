// Native helpers for bench/ (not ops): measurements only the engine can make.
#pragma once
#include <napi.h>

namespace cn {
// fmaPeakGflops({isa?, allThreads?, seconds?}): measured fp32 FMA throughput.
Napi::Value fma_peak_gflops(const Napi::CallbackInfo& info);
// sgemmGflops({n, allThreads?, reps?}): best GFLOP/s of the engine's SGEMM on
// n x n x n, buffers allocated and touched once outside the timing (what the
// JS op adds on top is a fresh output tensor per call).
Napi::Value sgemm_gflops(const Napi::CallbackInfo& info);
}  // namespace cn
