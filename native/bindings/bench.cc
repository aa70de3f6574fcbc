#include "bench.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "../cpu/fma_peak.h"
#include "../cpu/gemm.h"
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

Napi::Value sgemm_gflops(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object args = info.Length() >= 1 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  AddonData& ad = AddonData::of(env);
  Napi::Value nv = args.Get("n"), rv = args.Get("reps"), all = args.Get("allThreads");
  double nd = nv.IsNumber() ? nv.As<Napi::Number>().DoubleValue() : 1024;
  double rd = rv.IsNumber() ? rv.As<Napi::Number>().DoubleValue() : 10;
  if (!(nd >= 1 && nd <= 8192 && nd == static_cast<int64_t>(nd)))
    throw Napi::RangeError::New(env, "sgemmGflops: argument 'n' must be an integer in [1, 8192]");
  if (!(rd >= 1 && rd <= 1000 && rd == static_cast<int64_t>(rd)))
    throw Napi::RangeError::New(env, "sgemmGflops: argument 'reps' must be an integer in [1, 1000]");
  if (!all.IsUndefined() && !all.IsBoolean())
    throw Napi::TypeError::New(env, "sgemmGflops: argument 'allThreads' must be a boolean");
  const int64_t n = static_cast<int64_t>(nd);
  const int reps = static_cast<int>(rd);
  ThreadPool* pool = !all.IsUndefined() && all.As<Napi::Boolean>().Value() ? &ad.runtime().pool() : nullptr;
  std::vector<float> a(n * n), b(n * n), c(n * n, 0.0f);
  for (int64_t i = 0; i < n * n; ++i) {
    a[i] = static_cast<float>((i * 7919) % 1000) * 1e-3f - 0.5f;
    b[i] = static_cast<float>((i * 104729) % 1000) * 1e-3f - 0.5f;
  }
  GemmOp op;
  op.m = op.n = op.k = n;
  op.a = a.data();
  op.lda = n;
  op.b = b.data();
  op.ldb = n;
  op.c = c.data();
  op.ldc = n;
  const Isa isa = ad.cpu().isa();
  sgemm(isa, pool, op);  // warm-up: packing buffers, pages, caches
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    sgemm(isa, pool, op);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * n * n * n / s / 1e9);
  }
  return Napi::Number::New(env, best);
}

}  // namespace cn
