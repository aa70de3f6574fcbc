// `info()`: what this build and machine offer, for `cornernet info` and for
// choosing a device.
#include <napi.h>

#include "../model/cornernet.h"
#include "../train/train_step.h"
#include "addon_data.h"
#include "info.h"
#include "process_group.h"

namespace cn {

namespace {
const char* probe_status_name(int s) {
  switch (s) {
    case CN_PROBE_OK: return "ok";
    case CN_PROBE_NO_DRIVER: return "no-driver";
    case CN_PROBE_NO_DEVICE: return "no-device";
    default: return "error";
  }
}

Napi::Object plugin_info(Napi::Env env, const Plugin& pl) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("path", pl.path);
  o.Set("loaded", pl.loaded);
  if (!pl.loaded) {
    o.Set("status", pl.load_error.rfind("not built", 0) == 0 ? "not-built" : "load-failed");
    o.Set("message", pl.load_error);
    o.Set("devices", Napi::Array::New(env));
    return o;
  }
  const cn_plugin_probe& p = pl.probe;
  o.Set("status", probe_status_name(p.status));
  o.Set("message", std::string(p.message));
  o.Set("driverVersion", p.driver_version);
  o.Set("runtimeVersion", p.runtime_version);
  o.Set("archs", std::string(p.compiled_archs));
  Napi::Array devs = Napi::Array::New(env);
  for (int i = 0; i < p.device_count && i < CN_PLUGIN_MAX_DEVICES; ++i) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("index", i);
    d.Set("name", std::string(p.devices[i].name));
    d.Set("computeCapability", std::to_string(p.devices[i].cc_major) + "." + std::to_string(p.devices[i].cc_minor));
    d.Set("totalMemory", static_cast<double>(p.devices[i].total_memory));
    d.Set("multiprocessors", p.devices[i].multiprocessors);
    devs.Set(static_cast<uint32_t>(i), d);
  }
  o.Set("devices", devs);
  return o;
}
}  // namespace

Napi::Value info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AddonData& ad = AddonData::of(env);
  Napi::Object o = Napi::Object::New(env);
  o.Set("addonDir", ad.runtime().addon_dir());
  o.Set("threads", ad.runtime().pool().num_threads());
  o.Set("spinMicroseconds", static_cast<double>(ad.runtime().pool().spin_us()));
  o.Set("isa", isa_name(ad.cpu().isa()));
  o.Set("bestIsa", isa_name(detect_isa()));
  Napi::Array feats = Napi::Array::New(env);
  auto names = cpu_feature_names();
  for (size_t i = 0; i < names.size(); ++i) feats.Set(static_cast<uint32_t>(i), names[i]);
  o.Set("cpuFeatures", feats);
#ifdef CORNERNET_WITH_CUDA
  o.Set("cudaBuilt", true);
#else
  o.Set("cudaBuilt", false);
#endif
  o.Set("cuda", plugin_info(env, ad.runtime().plugin("cuda")));
  o.Set("cudaEmu", plugin_info(env, ad.runtime().plugin("cuda_emu")));
  o.Set("mpi", mpi_info(env));
  return o;
}

namespace {
// A pool's figures for JS (BackendMemory in lib/native.ts); the pinned staging
// figures only for CUDA backends, which have them.
Napi::Object memory_figures(Napi::Env env, const MemoryStats& s, bool pinned) {
  Napi::Object m = Napi::Object::New(env);
  m.Set("inUse", static_cast<double>(s.in_use));
  m.Set("cached", static_cast<double>(s.cached));
  m.Set("peak", static_cast<double>(s.peak));
  m.Set("mallocs", static_cast<double>(s.mallocs));
  m.Set("frees", static_cast<double>(s.frees));
  m.Set("reuses", static_cast<double>(s.reuses));
  m.Set("resizes", static_cast<double>(s.resizes));
  m.Set("cap", static_cast<double>(s.cap));
  if (pinned) {
    m.Set("pinned", static_cast<double>(s.pinned));
    m.Set("pinnedAllocs", static_cast<double>(s.pinned_allocs));
  }
  return m;
}
}  // namespace

Napi::Value backend_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString())
    throw Napi::TypeError::New(env, "backendInfo: argument 'backend' must be a string such as 'cpu' or 'cuda:0'");
  Backend* be;
  try {
    be = &AddonData::of(env).backend(info[0].As<Napi::String>().Utf8Value());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("backendInfo: ") + e.what());
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", be->name());
  o.Set("device", be->device().str());
  Napi::Array ops = Napi::Array::New(env);
  uint32_t k = 0;
  for (int i = 0; i < static_cast<int>(Op::Count); ++i)
    if (be->supports(static_cast<Op>(i))) ops.Set(k++, op_name(static_cast<Op>(i)));
  o.Set("supports", ops);
  o.Set("memory", memory_figures(env, be->memory_stats(), be->device().type == DeviceType::CUDA));
  // Optional vendor libraries (cuDNN, cuBLAS on CUDA backends): found, version, used, or why not.
  Napi::Array libs = Napi::Array::New(env);
  uint32_t j = 0;
  for (const BackendLibrary& l : be->libraries()) {
    Napi::Object lo = Napi::Object::New(env);
    lo.Set("name", l.name);
    lo.Set("found", l.found);
    lo.Set("enabled", l.enabled);
    lo.Set("version", l.version);
    lo.Set("path", l.path);
    lo.Set("message", l.message);
    lo.Set("uses", static_cast<double>(l.uses));
    libs.Set(j++, lo);
  }
  o.Set("libraries", libs);
  return o;
}

Napi::Value release_cached_memory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() >= 1 && !info[0].IsString() && !info[0].IsUndefined())
    throw Napi::TypeError::New(env, "releaseCachedMemory: argument 'backend' must be a string such as 'cpu' or 'cuda:0'");
  const std::string name = info.Length() >= 1 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "cpu";
  try {
    Backend& be = AddonData::of(env).backend(name);
    be.release_cached_memory();
    return memory_figures(env, be.memory_stats(), be.device().type == DeviceType::CUDA);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("releaseCachedMemory: ") + e.what());
  }
}

Napi::Value engine_ops(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array ops = Napi::Array::New(env);
  for (int i = 0; i < static_cast<int>(Op::Count); ++i) {
    const OpInfo& oi = op_info(static_cast<Op>(i));
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", oi.name);
    o.Set("js", oi.js);
    o.Set("family", oi.family);
    ops.Set(static_cast<uint32_t>(i), o);
  }
  return ops;
}

Napi::Value model_ops(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string what = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  if (what != "train" && what != "test")
    throw Napi::TypeError::New(env, "modelOps: argument 'purpose' must be 'train' or 'test'");
  std::vector<Op> ops = what == "train" ? training_ops() : CornerNet::inference_ops();
  Napi::Array a = Napi::Array::New(env, ops.size());
  for (size_t i = 0; i < ops.size(); ++i) a.Set(static_cast<uint32_t>(i), op_name(ops[i]));
  return a;
}

}  // namespace cn
