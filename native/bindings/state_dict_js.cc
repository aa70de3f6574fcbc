#include "state_dict_js.h"

#include <cmath>
#include <cstring>
#include <set>

#include "op_call.h"

namespace cn {

std::vector<HostEntry> snapshot_store(Backend& be, const ParameterStore& store) {
  std::vector<HostEntry> out;
  for (const Entry& e : store.entries()) {
    HostEntry h;
    h.name = e.name;
    h.kind = e.kind;
    if (e.kind == EntryKind::Counter) {
      h.count = e.count;
    } else {
      CN_CHECK(e.value.defined(), "state dict: entry ", e.name, " holds no value yet");
      h.value = Tensor::host(e.shape);
      be.download(e.value, h.value);
    }
    out.push_back(std::move(h));
  }
  be.synchronize();
  return out;
}

Napi::Object host_entries_to_js(Napi::Env env, const std::vector<HostEntry>& entries) {
  Napi::Object out = Napi::Object::New(env);
  for (const HostEntry& h : entries) {
    if (h.kind == EntryKind::Counter) {
      Napi::BigInt64Array a = Napi::BigInt64Array::New(env, 1);
      a[0] = h.count;
      Napi::Object o = Napi::Object::New(env);
      o.Set("data", a);
      o.Set("shape", Napi::Array::New(env, 0));
      out.Set(h.name, o);
    } else {
      out.Set(h.name, tensor_to_js(env, h.value));
    }
  }
  return out;
}

// "" when v is a {data, shape} whose shape agrees with its length.
std::string read_js_tensor(const Napi::Value& v, Napi::TypedArray& data, Shape& shape) {
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray()) return "is not a {data, shape} object";
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value d = o.Get("data"), s = o.Get("shape");
  if (!d.IsTypedArray()) return "has no typed array in .data";
  if (!s.IsArray()) return "has no .shape array";
  data = d.As<Napi::TypedArray>();
  shape.clear();
  Napi::Array a = s.As<Napi::Array>();
  double prod = 1;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value x = a.Get(i);
    double n = x.IsNumber() ? x.As<Napi::Number>().DoubleValue() : NAN;
    if (!(n >= 0) || n != std::floor(n) || n > 9007199254740991.0)
      return ".shape[" + std::to_string(i) + "] is not a non-negative integer";
    shape.push_back(static_cast<int64_t>(n));
    prod *= n;
  }
  if (prod != static_cast<double>(data.ElementLength()))
    return "has shape " + shape_str(shape) + " but .data holds " + std::to_string(data.ElementLength()) + " elements";
  return "";
}

Napi::Object load_report_to_js(Napi::Env env, const LoadReport& r) {
  auto arr = [env](const std::vector<std::string>& v) {
    Napi::Array a = Napi::Array::New(env, v.size());
    for (size_t i = 0; i < v.size(); ++i) a.Set(static_cast<uint32_t>(i), v[i]);
    return a;
  };
  Napi::Object o = Napi::Object::New(env);
  o.Set("loaded", Napi::Number::New(env, static_cast<double>(r.loaded)));
  o.Set("missing", arr(r.missing));
  o.Set("unexpected", arr(r.unexpected));
  o.Set("mismatched", arr(r.mismatched));
  return o;
}

std::vector<HostEntry> read_state_dict(Napi::Env env, const Napi::Object& dict, const ParameterStore& store,
                                       bool strict, const std::string& fn, LoadReport& report) {
  std::set<std::string> known;
  for (const Entry& e : store.entries()) known.insert(e.name);
  Napi::Array names = dict.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); ++i) {
    std::string k = names.Get(i).As<Napi::String>().Utf8Value();
    if (!known.count(k)) report.unexpected.push_back(k);
  }
  std::vector<HostEntry> good;
  for (const Entry& e : store.entries()) {
    Napi::Value v = dict.Get(e.name);
    if (v.IsUndefined()) {
      report.missing.push_back(e.name);
      continue;
    }
    Napi::TypedArray data;
    Shape shape;
    std::string why = read_js_tensor(v, data, shape);
    const bool counter = e.kind == EntryKind::Counter;
    const napi_typedarray_type want = counter ? napi_bigint64_array : napi_float32_array;
    if (why.empty() && data.TypedArrayType() != want)
      why = std::string("must hold a ") + (counter ? "BigInt64Array" : "Float32Array");
    if (why.empty() && shape != e.shape) why = "has shape " + shape_str(shape) + ", the model expects " + shape_str(e.shape);
    if (!why.empty()) {
      report.mismatched.push_back(e.name + " " + why);
      continue;
    }
    HostEntry h;
    h.name = e.name;
    h.kind = e.kind;
    if (counter) {
      h.count = data.As<Napi::BigInt64Array>()[0];
    } else {
      h.value = Tensor::host(e.shape);
      if (h.value.numel()) std::memcpy(h.value.data(), data.As<Napi::Float32Array>().Data(), h.value.bytes());
    }
    good.push_back(std::move(h));
  }
  if (strict && !report.clean()) {
    std::string msg = fn + ": the state dict does not match the model (nothing was loaded; pass {strict: false} to "
                           "load the matching entries):";
    // The first few of each kind: a wrong architecture misses every key (over a
    // thousand lines for HourglassNet-104); the error's `report` holds them all.
    auto list = [&msg](const char* title, const std::vector<std::string>& v) {
      if (v.empty()) return;
      constexpr size_t kShown = 8;
      msg += std::string("\n  ") + title + " (" + std::to_string(v.size()) + "):";
      for (size_t i = 0; i < v.size() && i < kShown; ++i) msg += "\n    " + v[i];
      if (v.size() > kShown) msg += "\n    ... " + std::to_string(v.size() - kShown) + " more (see the error's report)";
    };
    list("missing", report.missing);
    list("unexpected", report.unexpected);
    list("wrong type or shape", report.mismatched);
    Napi::Error err = Napi::Error::New(env, msg);
    err.Set("report", load_report_to_js(env, report));
    throw err;
  }
  report.loaded = good.size();
  return good;
}

void apply_state(Backend& be, ParameterStore& store, const std::vector<HostEntry>& entries) {
  // Before the first write, so that a load stopped half-way still invalidates what was derived from the old values.
  store.mark_changed();
  for (const HostEntry& h : entries) {
    Entry* e = store.find(h.name);
    CN_CHECK(e != nullptr, "state dict: the model has no entry ", h.name);
    if (h.kind == EntryKind::Counter) {
      e->count = h.count;
    } else if (e->value.defined()) {
      be.copy(be.upload(h.value), e->value);
    } else {
      Tensor t = be.empty(e->shape);
      be.copy(be.upload(h.value), t);
      e->value = t;
    }
  }
  be.synchronize();
}

}  // namespace cn
