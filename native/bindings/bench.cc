#include "bench.h"

#include "../cpu/fma_peak.h"
#include "addon_data.h"

namespace cn {

Napi::Value fma_peak_gflops(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object args = info.Length() >= 1 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  AddonData& ad = AddonData::of(env);
  Isa isa = ad.cpu().isa();
  Napi::Value v = args.Get("isa");
  if (!v.IsUndefined()) {
    std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
    if (!parse_isa(s, &isa))
      throw Napi::TypeError::New(env, "fmaPeakGflops: argument 'isa' must be 'portable', 'avx2' or 'avx512'");
    if (static_cast<int>(isa) > static_cast<int>(detect_isa()))
      throw Napi::Error::New(env, "fmaPeakGflops: argument 'isa': this CPU does not support " + s);
  }
  Napi::Value all = args.Get("allThreads");
  if (!all.IsUndefined() && !all.IsBoolean())
    throw Napi::TypeError::New(env, "fmaPeakGflops: argument 'allThreads' must be a boolean");
  Napi::Value sec = args.Get("seconds");
  double seconds = sec.IsNumber() ? sec.As<Napi::Number>().DoubleValue() : 0.5;
  if (!(seconds > 0 && seconds <= 60))
    throw Napi::RangeError::New(env, "fmaPeakGflops: argument 'seconds' must be in (0, 60]");
  ThreadPool* pool = !all.IsUndefined() && all.As<Napi::Boolean>().Value() ? &ad.runtime().pool() : nullptr;
  return Napi::Number::New(env, measure_fma_peak_gflops(isa, pool, seconds));
}

}  // namespace cn
