#include "op_call.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>

#include "addon_data.h"

namespace cn {

namespace {
constexpr double kMaxSafeInteger = 9007199254740991.0;

std::string describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsTypedArray()) {
    switch (v.As<Napi::TypedArray>().TypedArrayType()) {
      case napi_float32_array: return "a Float32Array";
      case napi_float64_array: return "a Float64Array";
      case napi_int32_array: return "an Int32Array";
      case napi_uint8_array: return "a Uint8Array";
      default: return "a typed array of another element type";
    }
  }
  if (v.IsArray()) return "an array";
  if (v.IsNumber()) return "a number";
  if (v.IsString()) return "a string";
  if (v.IsBoolean()) return "a boolean";
  if (v.IsFunction()) return "a function";
  return "an object";
}
}  // namespace

OpCall::OpCall(const Napi::CallbackInfo& info, const std::string& fn_name)
    : env_(info.Env()), fn_(fn_name) {
  if (info.Length() < 1 || !info[0].IsObject() || info[0].IsArray())
    throw Napi::TypeError::New(env_, fn_ + ": expected an object of named arguments as the first argument, got " +
                                         (info.Length() < 1 ? std::string("nothing") : describe(info[0])));
  args_ = info[0].As<Napi::Object>();
  std::string spec = "cpu";
  if (info.Length() >= 2 && !info[1].IsUndefined() && !info[1].IsNull()) {
    if (!info[1].IsString())
      throw Napi::TypeError::New(env_, fn_ + ": argument 'backend' must be a string such as 'cpu' or 'cuda:0', got " +
                                           describe(info[1]));
    spec = info[1].As<Napi::String>().Utf8Value();
  }
  try {
    backend_ = &AddonData::of(env_).backend(spec);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env_, fn_ + ": " + e.what());
  }
}

Napi::Value OpCall::get(const char* name) const { return args_.Get(name); }

void OpCall::bad_arg(const char* name, const std::string& what) const {
  throw Napi::TypeError::New(env_, fn_ + ": argument '" + name + "' " + what);
}

Tensor OpCall::optional_tensor(const char* name, int ndim) {
  Napi::Value v = get(name);
  if (v.IsUndefined() || v.IsNull()) return Tensor{};
  return tensor(name, ndim);
}

Tensor OpCall::tensor(const char* name, int ndim) {
  Napi::Value v = get(name);
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray())
    bad_arg(name, "must be a tensor {data: Float32Array, shape: number[]}, got " + describe(v));
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value data = o.Get("data"), shape_v = o.Get("shape");
  if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    bad_arg(name, ".data must be a Float32Array, got " + describe(data));
  if (!shape_v.IsArray()) bad_arg(name, ".shape must be an array of non-negative integers, got " + describe(shape_v));
  Napi::Array arr = shape_v.As<Napi::Array>();
  Shape shape;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value d = arr.Get(i);
    double x = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : NAN;
    if (!(x >= 0) || x != std::floor(x) || x > kMaxSafeInteger)
      bad_arg(name, ".shape[" + std::to_string(i) + "] must be a non-negative integer, got " +
                        (d.IsNumber() ? std::to_string(x) : describe(d)));
    shape.push_back(static_cast<int64_t>(x));
  }
  if (ndim >= 0 && static_cast<int>(shape.size()) != ndim)
    bad_arg(name, "must have " + std::to_string(ndim) + " dimensions" + (ndim == 4 ? " (NCHW)" : "") + ", got shape " +
                      shape_str(shape));
  Napi::Float32Array fa = data.As<Napi::Float32Array>();
  // Guard the product against overflow before comparing with the length.
  double prod = 1;
  for (int64_t d : shape) prod *= static_cast<double>(d);
  if (prod != static_cast<double>(fa.ElementLength()))
    bad_arg(name, "has shape " + shape_str(shape) + " (" + std::to_string(static_cast<long long>(prod)) +
                      " elements) but .data holds " + std::to_string(fa.ElementLength()) + " elements");
  read_arrays_.push_back({name, data, fa.Data(), fa.ElementLength()});
  Tensor t = Tensor::view(fa.Data(), shape);
  inputs_[name] = t;
  return t;
}

void OpCall::check_inputs_attached() const {
  for (const ReadArray& a : read_arrays_) {
    // A fresh wrapper queries the array again (node-addon-api caches data and length).
    Napi::Float32Array now(env_, a.data);
    if (now.Data() != a.ptr || now.ElementLength() != a.length)
      bad_arg(a.name, ".data was detached or resized while the arguments were read (" + std::to_string(a.length) +
                          " elements before, " + std::to_string(now.ElementLength()) + " now)");
  }
}

double OpCall::number(const char* name, double def) {
  Napi::Value v = get(name);
  if (v.IsUndefined()) return def;
  if (!v.IsNumber()) bad_arg(name, "must be a number, got " + describe(v));
  double x = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(x)) bad_arg(name, "must be a finite number, got " + std::to_string(x));
  return x;
}

int OpCall::integer(const char* name, int def, int min, int max) {
  Napi::Value v = get(name);
  if (v.IsUndefined()) return def;
  double x = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!(x >= min && x <= max) || x != std::floor(x))
    bad_arg(name, "must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " +
                      (v.IsNumber() ? std::to_string(x) : describe(v)));
  return static_cast<int>(x);
}

std::pair<int, int> OpCall::int_pair(const char* name, std::pair<int, int> def, int min, int max) {
  Napi::Value v = get(name);
  if (v.IsUndefined()) return def;
  if (v.IsNumber()) {
    int x = integer(name, 0, min, max);
    return {x, x};
  }
  if (!v.IsArray() || v.As<Napi::Array>().Length() != 2)
    bad_arg(name, "must be an integer or a pair [h, w], got " + describe(v));
  Napi::Array a = v.As<Napi::Array>();
  int out[2];
  for (uint32_t i = 0; i < 2; ++i) {
    Napi::Value d = a.Get(i);
    double x = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : NAN;
    if (!(x >= min && x <= max) || x != std::floor(x))
      bad_arg(name, "[" + std::to_string(i) + "] must be an integer in [" + std::to_string(min) + ", " +
                        std::to_string(max) + "]");
    out[i] = static_cast<int>(x);
  }
  return {out[0], out[1]};
}

std::string OpCall::string(const char* name, const char* def) {
  Napi::Value v = get(name);
  if (v.IsUndefined()) {
    if (!def) bad_arg(name, "is required (a string)");
    return def;
  }
  if (!v.IsString()) bad_arg(name, "must be a string, got " + describe(v));
  return v.As<Napi::String>().Utf8Value();
}

bool OpCall::boolean(const char* name, bool def) {
  Napi::Value v = get(name);
  if (v.IsUndefined()) return def;
  if (!v.IsBoolean()) bad_arg(name, "must be a boolean, got " + describe(v));
  return v.As<Napi::Boolean>().Value();
}

void OpCall::output(const std::string& name, const Shape& shape) {
  for (int64_t d : shape)
    if (d < 0) throw Napi::RangeError::New(env_, fn_ + ": output '" + name + "' would have a negative size " + shape_str(shape));
  outputs_.emplace_back(name, shape);
}

TensorMap execute_kernel(Backend& be, const TensorMap& host_inputs,
                         const std::vector<std::pair<std::string, Shape>>& outputs, const Kernel& k) {
  TensorMap din, dout, host_out;
  for (const auto& [name, t] : host_inputs) din[name] = t.defined() ? be.upload(t) : Tensor{};
  for (const auto& [name, shape] : outputs) {
    host_out[name] = Tensor::host(shape);
    dout[name] = be.device().type == DeviceType::CPU ? host_out[name] : be.empty(shape);
  }
  k(be, din, dout);
  be.synchronize();
  for (auto& [name, t] : host_out) be.download(dout[name], t);
  return host_out;
}

Tensor owned_copy(const Tensor& t) {
  Tensor h = Tensor::host(t.shape());
  if (t.numel()) std::memcpy(h.data(), t.data(), t.bytes());
  return h;
}

Napi::Float32Array to_float32_array(Napi::Env env, const Tensor& t) {
  if (t.numel() == 0) return Napi::Float32Array::New(env, 0);
  auto* keep = new Tensor(t);
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, t.data(), t.bytes(),
                                                 [](Napi::Env, void*, Tensor* k) { delete k; }, keep);
  return Napi::Float32Array::New(env, t.numel(), buf, 0);
}

Napi::Object tensor_to_js(Napi::Env env, const Tensor& t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("data", to_float32_array(env, t));
  Napi::Array shape = Napi::Array::New(env, t.shape().size());
  for (size_t i = 0; i < t.shape().size(); ++i) shape.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(t.shape()[i])));
  o.Set("shape", shape);
  return o;
}

namespace {
Napi::Object outputs_to_js(Napi::Env env, const TensorMap& out) {
  Napi::Object o = Napi::Object::New(env);
  for (const auto& [name, t] : out) o.Set(name, tensor_to_js(env, t));
  return o;
}

class OpWorker : public Napi::AsyncWorker {
 public:
  OpWorker(Napi::Env env, std::string fn, Backend& be, TensorMap inputs,
           std::vector<std::pair<std::string, Shape>> outputs, Kernel k)
      : Napi::AsyncWorker(env, fn.c_str()),
        deferred_(Napi::Promise::Deferred::New(env)),
        fn_(std::move(fn)),
        be_(be),
        inputs_(std::move(inputs)),
        outputs_(std::move(outputs)),
        kernel_(std::move(k)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      result_ = execute_kernel(be_, inputs_, outputs_, kernel_);
    } catch (const std::exception& e) {
      SetError(fn_ + ": " + e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(outputs_to_js(Env(), result_)); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string fn_;
  Backend& be_;
  TensorMap inputs_, result_;
  std::vector<std::pair<std::string, Shape>> outputs_;
  Kernel kernel_;
};
}  // namespace

Napi::Value OpCall::run_sync(const Kernel& k) {
  check_inputs_attached();
  TensorMap out;
  try {
    out = execute_kernel(*backend_, inputs_, outputs_, k);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env_, fn_ + ": " + e.what());
  }
  return outputs_to_js(env_, out);
}

Napi::Value OpCall::run_async(const Kernel& k) {
  check_inputs_attached();
  // The worker reads engine-owned copies, never the caller's arrays: JS may
  // detach an input's ArrayBuffer (transfer it with postMessage or
  // structuredClone) while the kernel runs, which frees or moves its memory,
  // and N-API has no way to pin it. The cost is one memcpy per input on the JS
  // thread (about 1 ms for a 16 MB input at memory bandwidth), small next to
  // the kernels worth running off the event loop; the inline form still reads
  // in place, and outputs still reach JS without a copy.
  TensorMap owned;
  for (const auto& [name, t] : inputs_) owned[name] = t.defined() ? owned_copy(t) : Tensor{};
  auto* w = new OpWorker(env_, fn_, *backend_, std::move(owned), outputs_, k);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

std::vector<double> OpCall::time_kernel(const Kernel& k, int warmup, int reps) {
  Backend& be = *backend_;
  TensorMap din, dout;
  for (const auto& [name, t] : inputs_) din[name] = t.defined() ? be.upload(t) : Tensor{};
  for (const auto& [name, shape] : outputs_) dout[name] = be.empty(shape);
  std::vector<double> ms;
  // The first run is never timed: it pages in the freshly allocated outputs.
  for (int i = 0; i < std::max(1, warmup); ++i) k(be, din, dout);
  be.synchronize();
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    k(be, din, dout);
    be.synchronize();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return ms;
}

void OpRegistry::add_timer(const std::string& export_name) {
  auto parses = std::make_shared<std::map<std::string, Parse>>(parses_);
  auto timer = [parses, export_name](const Napi::CallbackInfo& info) -> Napi::Value {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[2].IsString())
      throw Napi::TypeError::New(env, export_name + ": argument 'op' must be an op name such as 'cornerPoolForward'");
    std::string op = info[2].As<Napi::String>().Utf8Value();
    auto it = parses->find(op);
    if (it == parses->end()) throw Napi::Error::New(env, export_name + ": argument 'op': no op named '" + op + "'");
    auto count = [&](size_t i, const char* name, int def) {
      if (info.Length() <= i || info[i].IsUndefined()) return def;
      double x = info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : NAN;
      if (!(x >= 0 && x <= 1e6) || x != std::floor(x))
        throw Napi::TypeError::New(env, export_name + ": argument '" + name + "' must be an integer in [0, 1000000]");
      return static_cast<int>(x);
    };
    const int reps = count(3, "reps", 10), warmup = count(4, "warmup", 1);
    OpCall call(info, "ops." + op);
    Kernel k;
    std::vector<double> ms;
    try {
      k = it->second(call);
      ms = call.time_kernel(k, warmup, reps);
    } catch (const Napi::Error&) {
      throw;  // already says which op and argument
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, "ops." + op + ": " + e.what());
    }
    Napi::Float64Array out = Napi::Float64Array::New(env, ms.size());
    for (size_t i = 0; i < ms.size(); ++i) out[i] = ms[i];
    return out;
  };
  target_.Set(export_name, Napi::Function::New(env_, timer, export_name));
}

void OpRegistry::add(const std::string& name, Parse parse) {
  parses_[name] = parse;
  auto sync = [name, parse](const Napi::CallbackInfo& info) -> Napi::Value {
    OpCall call(info, "ops." + name);
    Kernel k;
    try {
      k = parse(call);
    } catch (const cn::Error& e) {
      throw Napi::Error::New(info.Env(), "ops." + name + ": " + e.what());
    }
    return call.run_sync(k);
  };
  auto async = [name, parse](const Napi::CallbackInfo& info) -> Napi::Value {
    // Argument errors reject the promise rather than throw, as callers of an async API expect.
    Napi::Env env = info.Env();
    try {
      OpCall call(info, "ops." + name + "Async");
      Kernel k;
      try {
        k = parse(call);
      } catch (const cn::Error& e) {
        throw Napi::Error::New(env, "ops." + name + "Async: " + e.what());
      }
      return call.run_async(k);
    } catch (const Napi::Error& e) {
      auto d = Napi::Promise::Deferred::New(env);
      d.Reject(e.Value());
      return d.Promise();
    }
  };
  target_.Set(name, Napi::Function::New(env_, sync, name));
  target_.Set(name + "Async", Napi::Function::New(env_, async, name + "Async"));
}

void OpRegistry::add_function(const std::string& name,
                              std::function<Napi::Value(const Napi::CallbackInfo&)> fn) {
  target_.Set(name, Napi::Function::New(env_, std::move(fn), name));
}

CornerPoolMode parse_corner_pool_mode(OpCall& c, const char* name) {
  std::string m = c.string(name, nullptr);
  if (m == "top") return CornerPoolMode::Top;
  if (m == "bottom") return CornerPoolMode::Bottom;
  if (m == "left") return CornerPoolMode::Left;
  if (m == "right") return CornerPoolMode::Right;
  c.bad_arg(name, "must be one of 'top', 'bottom', 'left', 'right', got '" + m + "'");
}

}  // namespace cn
