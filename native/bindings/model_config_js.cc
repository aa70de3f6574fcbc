#include "model_config_js.h"

#include <cmath>
#include <functional>
#include <map>

namespace cn {

namespace {
[[noreturn]] void type_error(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }

int config_int(Napi::Env env, const Napi::Value& v, const std::string& key) {
  double x = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(x) || x != std::floor(x) || std::fabs(x) > 1e9) type_error(env, key + " must be an integer");
  return static_cast<int>(x);
}

std::vector<int> config_int_list(Napi::Env env, const Napi::Value& v, const std::string& key) {
  if (!v.IsArray()) type_error(env, key + " must be an array of integers");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int> out;
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(config_int(env, a.Get(i), key + "[" + std::to_string(i) + "]"));
  return out;
}

float config_float(Napi::Env env, const Napi::Value& v, const std::string& key) {
  if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue())) type_error(env, key + " must be a number");
  return v.As<Napi::Number>().FloatValue();
}
}  // namespace

CornerNetConfig parse_model_config(Napi::Env env, const Napi::Value& v, const std::string& where) {
  if (!v.IsObject() || v.IsArray()) type_error(env, where + " must be a model config object");
  Napi::Object o = v.As<Napi::Object>();
  CornerNetConfig c;
  const std::string p = where + ".";
  std::map<std::string, std::function<void(const Napi::Value&)>> fields = {
      {"numStacks", [&](const Napi::Value& x) { c.num_stacks = config_int(env, x, p + "numStacks"); }},
      {"downsampleTimes", [&](const Napi::Value& x) { c.downsample_times = config_int(env, x, p + "downsampleTimes"); }},
      {"stageChannels", [&](const Napi::Value& x) { c.stage_channels = config_int_list(env, x, p + "stageChannels"); }},
      {"stageBlocks", [&](const Napi::Value& x) { c.stage_blocks = config_int_list(env, x, p + "stageBlocks"); }},
      {"featChannel", [&](const Napi::Value& x) { c.feat_channel = config_int(env, x, p + "featChannel"); }},
      {"numClasses", [&](const Napi::Value& x) { c.num_classes = config_int(env, x, p + "numClasses"); }},
      {"cornerEmbChannels", [&](const Napi::Value& x) { c.corner_emb_channels = config_int(env, x, p + "cornerEmbChannels"); }},
      {"poolFeatChannels", [&](const Napi::Value& x) { c.pool_feat_channels = config_int(env, x, p + "poolFeatChannels"); }},
      {"headFeatChannels", [&](const Napi::Value& x) { c.head_feat_channels = config_int(env, x, p + "headFeatChannels"); }},
      {"bnEps", [&](const Napi::Value& x) { c.bn_eps = config_float(env, x, p + "bnEps"); }},
      {"bnMomentum", [&](const Napi::Value& x) { c.bn_momentum = config_float(env, x, p + "bnMomentum"); }},
  };
  Napi::Array names = o.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); ++i) {
    std::string k = names.Get(i).As<Napi::String>().Utf8Value();
    auto it = fields.find(k);
    if (it == fields.end()) type_error(env, where + ": unknown key '" + k + "'");
    Napi::Value x = o.Get(k);
    if (!x.IsUndefined()) it->second(x);
  }
  try {
    c.validate();
  } catch (const std::exception& e) {
    throw Napi::RangeError::New(env, where + ": " + e.what());
  }
  return c;
}

}  // namespace cn
