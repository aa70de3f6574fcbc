#include "model.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>

#include "../model/cornernet.h"
#include "addon_data.h"
#include "decode.h"
#include "model_config_js.h"
#include "op_call.h"
#include "state_dict_js.h"

namespace cn {

namespace {

// JavaScript names of the head outputs, in HeadOutput order.
const char* const kJsOutputNames[kNumHeadOutputs] = {"tlHeat", "brHeat", "tlEmb", "brEmb", "tlOff", "brOff"};

const char* kind_name(EntryKind k) {
  switch (k) {
    case EntryKind::Parameter: return "parameter";
    case EntryKind::Buffer: return "buffer";
    case EntryKind::Counter: return "buffer";
  }
  return "?";
}

Napi::Array shape_to_js(Napi::Env env, const Shape& s) {
  Napi::Array a = Napi::Array::New(env, s.size());
  for (size_t i = 0; i < s.size(); ++i) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(s[i])));
  return a;
}

[[noreturn]] void type_error(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }

// ---- tensors from JavaScript ----------------------------------------------------

struct JsArray {
  Napi::TypedArray data;
  Shape shape;
};

std::string read_js_tensor(const Napi::Value& v, JsArray& out) { return cn::read_js_tensor(v, out.data, out.shape); }

// A float32 host tensor copied from JavaScript (the engine keeps no reference to JS memory).
Tensor host_copy(const Napi::Float32Array& a, const Shape& shape) {
  Tensor t = Tensor::host(shape);
  if (t.numel()) std::memcpy(t.data(), a.Data(), t.bytes());
  return t;
}

// ---- async work -------------------------------------------------------------------

class ModelWrap;

// Runs `work` on a libuv thread and resolves with `done(env)` (or rejects).
class ModelWorker : public Napi::AsyncWorker {
 public:
  ModelWorker(Napi::Env env, ModelWrap* model, std::string what, std::function<void()> work,
              std::function<Napi::Value(Napi::Env)> done);
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      work_();
    } catch (const std::exception& e) {
      SetError(what_ + ": " + e.what());
    }
  }
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

 private:
  Napi::Promise::Deferred deferred_;
  ModelWrap* model_;
  std::string what_;
  std::function<void()> work_;
  std::function<Napi::Value(Napi::Env)> done_;
};

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Model",
                       {InstanceMethod("keys", &ModelWrap::keys), InstanceMethod("parameterCount", &ModelWrap::parameter_count),
                        InstanceMethod("backend", &ModelWrap::backend_name),
                        InstanceMethod("outputShapes", &ModelWrap::output_shapes),
                        InstanceMethod("loadStateDict", &ModelWrap::load_state_dict),
                        InstanceMethod("stateDict", &ModelWrap::state_dict), InstanceMethod("forward", &ModelWrap::forward),
                        InstanceMethod("backward", &ModelWrap::backward), InstanceMethod("gradients", &ModelWrap::gradients),
                        InstanceMethod("zeroGrad", &ModelWrap::zero_grad),
                        InstanceMethod("detect", &ModelWrap::detect), InstanceMethod("release", &ModelWrap::release),
                        InstanceMethod("released", &ModelWrap::released)});
  }

  // new Model(config, {backend = 'cpu', seed = 0})
  explicit ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {
    Napi::Env env = info.Env();
    CornerNetConfig cfg = parse_model_config(env, info[0], "Model: config");
    std::string spec = "cpu";
    if (info.Length() > 1 && info[1].IsObject()) {
      Napi::Object opts = info[1].As<Napi::Object>();
      Napi::Value b = opts.Get("backend"), s = opts.Get("seed");
      if (!b.IsUndefined()) {
        if (!b.IsString()) type_error(env, "Model: option 'backend' must be a string such as 'cpu' or 'cuda:0'");
        spec = b.As<Napi::String>().Utf8Value();
      }
      if (!s.IsUndefined()) {
        double x = s.IsNumber() ? s.As<Napi::Number>().DoubleValue() : NAN;
        if (!(x >= 0) || x != std::floor(x) || x > 9007199254740991.0)
          type_error(env, "Model: option 'seed' must be a non-negative integer");
        seed_ = static_cast<uint64_t>(x);
      }
    }
    try {
      be_ = &AddonData::of(env).backend(spec);
      net_.reset(new CornerNet(cfg));
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, std::string("Model: ") + e.what());
    }
  }

  void finish_work() {
    busy_.clear();
    if (release_when_idle_) net_.reset();
    Unref();
  }

 private:
  // After release() the weights, gradients and saved activations are gone; only backend() still answers.
  void check_live(Napi::Env env, const char* what) {
    if (!net_ || release_when_idle_)
      throw Napi::Error::New(env, std::string("model.") + what + ": the model was released (disposed); its engine memory is freed");
  }
  void check_idle(Napi::Env env, const char* what) {
    check_live(env, what);
    if (!busy_.empty())
      throw Napi::Error::New(env, std::string("model.") + what + ": the model is busy with " + busy_ +
                                      "(); await it before calling " + what + "()");
  }
  template <typename F>
  auto guarded(Napi::Env env, const char* what, F&& f) {
    try {
      return f();
    } catch (const Error& e) {
      throw Napi::Error::New(env, std::string("model.") + what + ": " + e.what());
    }
  }
  Napi::Value queue(Napi::Env env, const char* what, std::function<void()> work,
                    std::function<Napi::Value(Napi::Env)> done) {
    busy_ = what;
    Ref();
    auto* w = new ModelWorker(env, this, std::string("model.") + what, std::move(work), std::move(done));
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  }
  static Napi::Value rejected(Napi::Env env, const Napi::Error& e) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Reject(e.Value());
    return d.Promise();
  }
  void ensure_materialized() {
    if (!net_->store().materialized()) net_->store().materialize(*be_, seed_);
  }

  Napi::Value keys(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_live(env, "keys");
    const auto& entries = net_->store().entries();
    Napi::Array out = Napi::Array::New(env, entries.size());
    uint32_t i = 0;
    for (const Entry& e : entries) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", e.name);
      o.Set("shape", shape_to_js(env, e.shape));
      o.Set("kind", kind_name(e.kind));
      o.Set("dtype", e.kind == EntryKind::Counter ? "int64" : "float32");
      out.Set(i++, o);
    }
    return out;
  }

  Napi::Value parameter_count(const Napi::CallbackInfo& info) {
    check_live(info.Env(), "parameterCount");
    return Napi::Number::New(info.Env(), static_cast<double>(net_->store().parameter_count()));
  }

  Napi::Value backend_name(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), be_->name()); }

  Napi::Value output_shapes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_live(env, "outputShapes");
    if (!info[0].IsArray()) type_error(env, "model.outputShapes: argument 'inputShape' must be an array [N, 3, H, W]");
    Napi::Array a = info[0].As<Napi::Array>();
    Shape s;
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Value x = a.Get(i);
      double n = x.IsNumber() ? x.As<Napi::Number>().DoubleValue() : NAN;
      if (!(n >= 0) || n != std::floor(n) || n > 1e12)
        type_error(env, "model.outputShapes: argument 'inputShape' must hold non-negative integers");
      s.push_back(static_cast<int64_t>(n));
    }
    auto shapes = guarded(env, "outputShapes", [&] { return net_->output_shapes(s); });
    return levels_to_js(env, shapes.size(), [&](size_t l, int k) { return shape_to_js(env, shapes[l][k]); });
  }

  template <typename F>
  static Napi::Array levels_to_js(Napi::Env env, size_t levels, F&& value) {
    Napi::Array out = Napi::Array::New(env, levels);
    for (size_t l = 0; l < levels; ++l) {
      Napi::Object o = Napi::Object::New(env);
      for (int k = 0; k < kNumHeadOutputs; ++k) {
        Napi::Value v = value(l, k);
        if (!v.IsUndefined()) o.Set(kJsOutputNames[k], v);
      }
      out.Set(static_cast<uint32_t>(l), o);
    }
    return out;
  }

  // loadStateDict(dict, {strict = true}) -> {loaded, missing, unexpected, mismatched}
  Napi::Value load_state_dict(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env, "loadStateDict");
    if (!info[0].IsObject() || info[0].IsArray())
      type_error(env, "model.loadStateDict: argument 'stateDict' must be an object {name: {data, shape}}");
    bool strict = true;
    if (info.Length() > 1 && info[1].IsObject()) {
      Napi::Value s = info[1].As<Napi::Object>().Get("strict");
      if (!s.IsUndefined()) {
        if (!s.IsBoolean()) type_error(env, "model.loadStateDict: option 'strict' must be a boolean");
        strict = s.As<Napi::Boolean>().Value();
      }
    }
    LoadReport report;
    std::vector<HostEntry> entries =
        read_state_dict(env, info[0].As<Napi::Object>(), net_->store(), strict, "model.loadStateDict", report);
    guarded(env, "loadStateDict", [&] {
      apply_state(*be_, net_->store(), entries);
      ensure_materialized();  // entries the dict lacked (strict: false) keep or get their initial values
      return 0;
    });
    return load_report_to_js(env, report);
  }

  Napi::Value download_to_js(Napi::Env env, const Tensor& dev, const Shape& shape) {
    Tensor host = Tensor::host(shape);
    be_->download(dev, host);
    return tensor_to_js(env, host);
  }

  Napi::Value state_dict(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env, "stateDict");
    auto entries = guarded(env, "stateDict", [&] {
      ensure_materialized();
      return snapshot_store(*be_, net_->store());
    });
    return host_entries_to_js(env, entries);
  }

  Napi::Value gradients(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env, "gradients");
    Napi::Object out = Napi::Object::New(env);
    for (const Entry& e : net_->store().entries())
      if (e.kind == EntryKind::Parameter && e.grad_valid)
        out.Set(e.name, guarded(env, "gradients", [&] { return download_to_js(env, e.grad, e.shape); }));
    return out;
  }

  Napi::Value zero_grad(const Napi::CallbackInfo& info) {
    check_idle(info.Env(), "zeroGrad");
    net_->store().zero_grad();
    return info.Env().Undefined();
  }

  // forward(input, {train = false, grad = train}) -> Promise<levels>
  Napi::Value forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    try {
      check_idle(env, "forward");
      JsArray in;
      std::string why = read_js_tensor(info[0], in);
      if (why.empty() && in.data.TypedArrayType() != napi_float32_array) why = "must hold a Float32Array";
      if (!why.empty()) type_error(env, "model.forward: argument 'input' " + why);
      bool train = false, grad = false, grad_given = false;
      if (info.Length() > 1 && info[1].IsObject()) {
        Napi::Object o = info[1].As<Napi::Object>();
        for (const char* k : {"train", "grad"}) {
          Napi::Value v = o.Get(k);
          if (v.IsUndefined()) continue;
          if (!v.IsBoolean()) type_error(env, std::string("model.forward: option '") + k + "' must be a boolean");
          (std::string(k) == "train" ? train : grad) = v.As<Napi::Boolean>().Value();
          if (std::string(k) == "grad") grad_given = true;
        }
      }
      if (!grad_given) grad = train;
      auto shapes = guarded(env, "forward", [&] { return net_->output_shapes(in.shape); });
      last_shapes_ = shapes;
      Tensor x = host_copy(in.data.As<Napi::Float32Array>(), in.shape);
      auto result = std::make_shared<std::vector<HeadTensors>>();
      return queue(
          env, "forward",
          [this, x, train, grad, result] {
            ensure_materialized();
            std::vector<HeadTensors> dev = net_->forward(*be_, be_->upload(x), train, grad);
            for (auto& level : dev) {
              HeadTensors host;
              for (int k = 0; k < kNumHeadOutputs; ++k) {
                host[k] = Tensor::host(level[k].shape());
                be_->download(level[k], host[k]);
              }
              result->push_back(host);
            }
            be_->synchronize();
          },
          [result](Napi::Env e) -> Napi::Value {
            return levels_to_js(e, result->size(), [&](size_t l, int k) -> Napi::Value { return tensor_to_js(e, (*result)[l][k]); });
          });
    } catch (const Napi::Error& e) {
      return rejected(env, e);
    }
  }

  // detect({input, mirror?, meta, k?, ...decode options}) -> Promise<DecodedImage[]>:
  // an eval forward (and one of the mirrored input for the flip test), then
  // Backend::decode of the last stack's outputs on the model's own backend. On a
  // device the head maps stay there and only the detections reach the host; on
  // the CPU it is the host decoder on the forward's outputs, as forward + decode.
  Napi::Value detect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    try {
      check_idle(env, "detect");
      OpCall c(info, "model.detect");
      Tensor in = c.tensor("input", 4);
      Tensor mirror = c.optional_tensor("mirror", 4);
      if (mirror.defined() && mirror.shape() != in.shape())
        c.bad_arg("mirror", "must have the shape of input " + shape_str(in.shape()) + ", got " + shape_str(mirror.shape()));
      auto shapes = guarded(env, "detect", [&] { return net_->output_shapes(in.shape()); });
      const Shape& heat = shapes.back()[TlHeat];
      DecodeSpec spec = read_decode_spec(c, heat[0], heat[1] * heat[2] * heat[3]);
      // The JS arrays may change or be detached once this returns: the work reads copies.
      c.check_inputs_attached();
      Tensor x = owned_copy(in), xm = mirror.defined() ? owned_copy(mirror) : Tensor();
      auto result = std::make_shared<std::vector<decode::DecodeResult>>();
      const bool pre = spec.return_pre_nms;
      return queue(
          env, "detect",
          [this, x, xm, spec, result] {
            ensure_materialized();
            auto heads = [&](const Tensor& input, bool flipped) {
              std::vector<HeadTensors> levels = net_->forward(*be_, be_->upload(input), false, false);
              const HeadTensors& last = levels.back();
              DecodeHeads h;
              for (int k = 0; k < 2; ++k) {
                h.heat[k] = last[TlHeat + k];
                h.emb[k] = last[TlEmb + k];
                h.off[k] = last[TlOff + k];
              }
              if (flipped) h.heat_name[0] = "flipTlHeat", h.heat_name[1] = "flipBrHeat";
              return h;
            };
            DecodeHeads v = heads(x, false), f;
            if (xm.defined()) f = heads(xm, true);
            *result = be_->decode(v, xm.defined() ? &f : nullptr, spec.metas, spec.opt, spec.return_pre_nms);
          },
          [result, pre](Napi::Env e) -> Napi::Value { return decode_results_to_js(e, *result, pre); });
    } catch (const Napi::Error& e) {
      return rejected(env, e);
    }
  }

  // backward([{tlHeat?, brHeat?, ...} per level]) -> Promise<void>
  Napi::Value backward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    try {
      check_idle(env, "backward");
      if (!net_->has_recorded_forward())
        throw Napi::Error::New(env, "model.backward: no recorded forward pass; call forward(input, {train: true}) "
                                    "(or {grad: true}) first, once per backward");
      const size_t levels = last_shapes_.size();
      if (!info[0].IsArray() || info[0].As<Napi::Array>().Length() != levels)
        type_error(env, "model.backward: argument 'grads' must be an array of " + std::to_string(levels) +
                            " objects (one per stack) of head output gradients");
      Napi::Array arr = info[0].As<Napi::Array>();
      std::vector<HeadTensors> grads(levels);
      bool any = false;
      for (uint32_t l = 0; l < levels; ++l) {
        Napi::Value lv = arr.Get(l);
        const std::string where = "model.backward: grads[" + std::to_string(l) + "]";
        if (!lv.IsObject() || lv.IsArray()) type_error(env, where + " must be an object {tlHeat?, brHeat?, ...}");
        Napi::Object o = lv.As<Napi::Object>();
        Napi::Array names = o.GetPropertyNames();
        for (uint32_t i = 0; i < names.Length(); ++i) {
          std::string k = names.Get(i).As<Napi::String>().Utf8Value();
          int idx = -1;
          for (int j = 0; j < kNumHeadOutputs; ++j)
            if (k == kJsOutputNames[j]) idx = j;
          if (idx < 0) type_error(env, where + " has an unknown key '" + k + "' (expected tlHeat, brHeat, tlEmb, brEmb, tlOff, brOff)");
          Napi::Value v = o.Get(k);
          if (v.IsUndefined() || v.IsNull()) continue;
          JsArray a;
          std::string why = read_js_tensor(v, a);
          if (why.empty() && a.data.TypedArrayType() != napi_float32_array) why = "must hold a Float32Array";
          if (why.empty() && a.shape != last_shapes_[l][idx])
            why = "has shape " + shape_str(a.shape) + ", the forward output has " + shape_str(last_shapes_[l][idx]);
          if (!why.empty()) type_error(env, where + "." + k + " " + why);
          grads[l][idx] = host_copy(a.data.As<Napi::Float32Array>(), a.shape);
          any = true;
        }
      }
      if (!any) type_error(env, "model.backward: no gradient given for any head output");
      return queue(
          env, "backward",
          [this, grads] {
            std::vector<HeadTensors> dev(grads.size());
            for (size_t l = 0; l < grads.size(); ++l)
              for (int k = 0; k < kNumHeadOutputs; ++k)
                if (grads[l][k].defined()) dev[l][k] = be_->upload(grads[l][k]);
            net_->backward(*be_, dev);
            be_->synchronize();
          },
          [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
    } catch (const Napi::Error& e) {
      return rejected(env, e);
    }
  }

  // release(): frees the network (weights, gradients, activations kept for backward)
  // now, or when the async call in flight ends; every later call but backend() throws.
  Napi::Value release(const Napi::CallbackInfo& info) {
    if (!busy_.empty()) release_when_idle_ = true;
    else net_.reset();
    return info.Env().Undefined();
  }

  Napi::Value released(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), !net_ || release_when_idle_);
  }

  std::unique_ptr<CornerNet> net_;
  bool release_when_idle_ = false;
  Backend* be_ = nullptr;
  uint64_t seed_ = 0;
  std::string busy_;  // the async call in flight, empty when idle
  std::vector<std::array<Shape, kNumHeadOutputs>> last_shapes_;
};

ModelWorker::ModelWorker(Napi::Env env, ModelWrap* model, std::string what, std::function<void()> work,
                         std::function<Napi::Value(Napi::Env)> done)
    : Napi::AsyncWorker(env, what.c_str()),
      deferred_(Napi::Promise::Deferred::New(env)),
      model_(model),
      what_(std::move(what)),
      work_(std::move(work)),
      done_(std::move(done)) {}

void ModelWorker::OnOK() {
  model_->finish_work();
  deferred_.Resolve(done_(Env()));
}

void ModelWorker::OnError(const Napi::Error& e) {
  model_->finish_work();
  deferred_.Reject(e.Value());
}

}  // namespace

void register_model(Napi::Env env, Napi::Object exports) { exports.Set("Model", ModelWrap::define(env)); }

}  // namespace cn
