#include "decode.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../decode/decode.h"
#include "../decode/soft_nms_merge.h"
#include "addon_data.h"
#include "op_call.h"

namespace cn {

namespace {

using decode::DecodeOptions;
using decode::DecodeResult;
using decode::Detections;
using decode::HeadMaps;
using decode::ImageMeta;

Napi::Object detections_to_js(Napi::Env env, const Detections& d);

constexpr const char* kHeadArgs[6] = {"tlHeat", "brHeat", "tlEmb", "brEmb", "tlOff", "brOff"};
constexpr const char* kFlipArgs[6] = {"flipTlHeat", "flipBrHeat", "flipTlEmb", "flipBrEmb", "flipTlOff", "flipBrOff"};

template <typename T, typename A>
A typed_copy(Napi::Env env, const std::vector<T>& v) {
  A a = A::New(env, v.size());
  if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * sizeof(T));
  return a;
}

decode::SoftNmsParams read_soft_nms_params(OpCall& c) {
  decode::SoftNmsParams p;
  std::string method = c.string("softNmsMethod", "gaussian");
  if (method == "gaussian") p.method = decode::SoftNmsMethod::Gaussian;
  else if (method == "linear") p.method = decode::SoftNmsMethod::Linear;
  else if (method == "naive") p.method = decode::SoftNmsMethod::Naive;
  else c.bad_arg("softNmsMethod", "must be 'gaussian', 'linear' or 'naive', got '" + method + "'");
  double sigma = c.number("sigma", 0.5);
  if (!(sigma > 0)) c.bad_arg("sigma", "must be positive, got " + std::to_string(sigma));
  p.sigma = static_cast<float>(sigma);
  p.min_score = static_cast<float>(c.number("minScore", 1e-3));
  p.iou_threshold = static_cast<float>(c.number("iouThreshold", 0.5));
  p.offset = c.integer("iouOffset", 0, 0, 1);
  return p;
}

// Every input of decode / decodeAsync is checked here, once, before either
// decoder (the host's or a device's) runs, so both give the same error: a NaN
// anywhere, or an infinite embedding or offset, would otherwise come out as NaN
// scores or infinite boxes. Heat logits may be infinite (the sigmoid makes them
// 0 or 1). The decoders still find NaN heat themselves, for Model.detect, whose
// maps never pass through here.
void refuse_nonfinite(const std::vector<Tensor>& t, const char* const names[6]) {
  for (int i = 0; i < 6; ++i) {
    const bool heat = i < 2;
    const Shape& s = t[i].shape();
    const int64_t plane = s[2] * s[3], image = s[1] * plane, n = t[i].numel();
    const float* p = t[i].data();
    for (int64_t k = 0; k < n; ++k) {
      const float v = p[k];
      if (heat ? !std::isnan(v) : std::isfinite(v)) continue;
      const std::string where = s[0] > 1 ? "image " + std::to_string(k / image) + ", " : std::string();
      fail(names[i], " holds ", std::isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity", " (", where, "channel ",
           (k % image) / plane, ")");
    }
  }
}

// Everything the decoder needs, gathered on the JS thread.
struct DecodeJob {
  std::string fn;
  std::vector<HeadMaps> views, flipped;  // one per image
  std::vector<ImageMeta> metas;
  DecodeOptions opt;
  bool return_pre_nms = false;
  ThreadPool* pool = nullptr;
  std::vector<DecodeResult> results;
  // A device backend (decode(args, 'cuda:0')): the maps are uploaded and decoded
  // there (Backend::decode); only the detections come back. Null: the host path.
  Backend* device = nullptr;
  // The six maps (and the six flipped ones for the flip test, else empty) on the
  // host: engine-owned copies for decodeAsync, views of the JS arrays for decode.
  std::vector<Tensor> head_tensors, flip_tensors;

  static DecodeHeads upload(Backend& be, const std::vector<Tensor>& t, const char* const names[6]) {
    DecodeHeads h;
    for (int c = 0; c < 2; ++c) {
      h.heat[c] = be.upload(t[c]);
      h.emb[c] = be.upload(t[2 + c]);
      h.off[c] = be.upload(t[4 + c]);
      h.heat_name[c] = names[c];
    }
    return h;
  }

  void run() {
    results.clear();
    refuse_nonfinite(head_tensors, kHeadArgs);
    if (!flip_tensors.empty()) refuse_nonfinite(flip_tensors, kFlipArgs);
    if (device) {
      DecodeHeads v = upload(*device, head_tensors, kHeadArgs), f;
      if (!flip_tensors.empty()) f = upload(*device, flip_tensors, kFlipArgs);
      results = device->decode(v, flip_tensors.empty() ? nullptr : &f, metas, opt, return_pre_nms);
      return;
    }
    for (size_t i = 0; i < views.size(); ++i)
      results.push_back(decode::decode_image(views[i], flipped.empty() ? nullptr : &flipped[i], metas[i], opt, pool));
  }
};

// Reads the six head tensors named in `names`; returns their shapes checked
// against each other ([N,C,H,W], [N,C,H,W], [N,1,H,W] x2, [N,2,H,W] x2).
std::vector<Tensor> read_heads(OpCall& c, const char* const names[6], const Shape* like) {
  std::vector<Tensor> t;
  for (int i = 0; i < 6; ++i) t.push_back(c.tensor(names[i], 4));
  const Shape& heat = t[0].shape();
  if (like && heat != *like)
    c.bad_arg(names[0], "must have the shape of tlHeat " + shape_str(*like) + ", got " + shape_str(heat));
  if (heat[0] < 1 || heat[1] < 1 || heat[2] < 1 || heat[3] < 1)
    c.bad_arg(names[0], "must have a non-empty shape [N,C,H,W], got " + shape_str(heat));
  const int64_t channels[6] = {heat[1], heat[1], 1, 1, 2, 2};
  for (int i = 1; i < 6; ++i) {
    Shape want = {heat[0], channels[i], heat[2], heat[3]};
    if (t[i].shape() != want)
      c.bad_arg(names[i], "must have shape " + shape_str(want) + " to match " + names[0] + " " + shape_str(heat) +
                              ", got " + shape_str(t[i].shape()));
  }
  return t;
}

std::vector<HeadMaps> image_views(const std::vector<Tensor>& t, const char* const names[6]) {
  const Shape& s = t[0].shape();
  const int64_t hw = s[2] * s[3];
  std::vector<HeadMaps> v(static_cast<size_t>(s[0]));
  for (int64_t n = 0; n < s[0]; ++n) {
    HeadMaps& m = v[static_cast<size_t>(n)];
    m.classes = static_cast<int>(s[1]);
    m.height = static_cast<int>(s[2]);
    m.width = static_cast<int>(s[3]);
    m.tl = {t[0].data() + n * s[1] * hw, t[2].data() + n * hw, t[4].data() + n * 2 * hw};
    m.br = {t[1].data() + n * s[1] * hw, t[3].data() + n * hw, t[5].data() + n * 2 * hw};
    m.tl_name = names[0];
    m.br_name = names[1];
  }
  return v;
}

// A list of `n` numbers (or `n` or `n + 1` for shapes with a channel entry).
std::vector<double> numbers(OpCall& c, const Napi::Value& v, const std::string& name, size_t min_len, size_t max_len) {
  const std::string what = "must be an array of " + std::to_string(min_len) +
                           (max_len != min_len ? " or " + std::to_string(max_len) : std::string()) + " finite numbers";
  if (!v.IsArray()) c.bad_arg(name.c_str(), what);
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() < min_len || a.Length() > max_len) c.bad_arg(name.c_str(), what + ", got " + std::to_string(a.Length()));
  std::vector<double> out;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    double x = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : NAN;
    if (!std::isfinite(x)) c.bad_arg(name.c_str(), what + " (entry " + std::to_string(i) + " is not)");
    out.push_back(x);
  }
  return out;
}

ImageMeta read_meta(OpCall& c, const Napi::Value& v, const std::string& name) {
  if (!v.IsObject() || v.IsArray())
    c.bad_arg(name.c_str(), "must be an object {padShape: [h, w], imgShape: [h, w], border: [top, bottom, left, right]}");
  Napi::Object o = v.As<Napi::Object>();
  ImageMeta m;
  std::vector<double> pad = numbers(c, o.Get("padShape"), name + ".padShape", 2, 3);
  std::vector<double> img = numbers(c, o.Get("imgShape"), name + ".imgShape", 2, 3);
  std::vector<double> border = numbers(c, o.Get("border"), name + ".border", 4, 4);
  if (pad[0] <= 0 || pad[1] <= 0) c.bad_arg((name + ".padShape").c_str(), "must be positive");
  if (img[0] <= 0 || img[1] <= 0) c.bad_arg((name + ".imgShape").c_str(), "must be positive");
  m.pad_h = pad[0];
  m.pad_w = pad[1];
  m.img_h = img[0];
  m.img_w = img[1];
  m.border_top = border[0];
  m.border_left = border[2];
  Napi::Value sf = o.Get("scaleFactor");
  if (!sf.IsUndefined()) {
    double x = sf.IsNumber() ? sf.As<Napi::Number>().DoubleValue() : NAN;
    if (!(x > 0) || !std::isfinite(x)) c.bad_arg((name + ".scaleFactor").c_str(), "must be a positive number");
    m.scale_factor = x;
  }
  return m;
}

}  // namespace

DecodeSpec read_decode_spec(OpCall& c, int64_t images, int64_t entries) {
  const size_t n = static_cast<size_t>(images);
  DecodeSpec spec;
  Napi::Value meta = c.value("meta");
  if (meta.IsArray()) {
    Napi::Array a = meta.As<Napi::Array>();
    if (a.Length() != n)
      c.bad_arg("meta", "must hold one entry per image (" + std::to_string(n) + "), got " + std::to_string(a.Length()));
    for (uint32_t i = 0; i < n; ++i) spec.metas.push_back(read_meta(c, a.Get(i), "meta[" + std::to_string(i) + "]"));
  } else {
    ImageMeta m = read_meta(c, meta, "meta");
    spec.metas.assign(n, m);
  }

  DecodeOptions& o = spec.opt;
  o.k = c.integer("k", 100, 1, 1 << 20);
  if (o.k > entries)
    c.bad_arg("k", "(" + std::to_string(o.k) + ") exceeds the heat-map entries per image (" + std::to_string(entries) + ")");
  o.kernel = c.integer("kernel", 3, 1, 255);
  if (o.kernel % 2 == 0) c.bad_arg("kernel", "must be odd (max pooling keeps the map size only then), got " + std::to_string(o.kernel));
  o.distance_threshold = static_cast<float>(c.number("distanceThreshold", 0.5));
  o.num_dets = c.integer("numDets", 1000, 1, 1 << 30);
  o.max_per_img = c.integer("maxPerImg", 100, 0, 1 << 30);
  o.nms = c.boolean("nms", true);
  o.clip = c.boolean("clip", false);
  o.soft_nms = read_soft_nms_params(c);
  spec.return_pre_nms = c.boolean("returnPreNms", false);
  return spec;
}

Napi::Array decode_results_to_js(Napi::Env env, const std::vector<DecodeResult>& results, bool pre_nms) {
  Napi::Array a = Napi::Array::New(env, results.size());
  for (size_t i = 0; i < results.size(); ++i) {
    Napi::Object o = detections_to_js(env, results[i].dets);
    if (pre_nms) o.Set("preNms", detections_to_js(env, results[i].pre_nms));
    a.Set(static_cast<uint32_t>(i), o);
  }
  return a;
}

namespace {

// `owned`: the job reads engine-owned copies of the maps (decodeAsync: JS may
// detach the arrays while the worker runs; the copy costs one memcpy of the
// maps on the JS thread, small next to decoding them). Otherwise it reads the
// JS arrays in place, which only the inline call may do.
std::unique_ptr<DecodeJob> parse(const Napi::CallbackInfo& info, const std::string& fn, bool owned) {
  OpCall c(info, fn);
  Napi::Object args = info[0].As<Napi::Object>();
  auto job = std::make_unique<DecodeJob>();
  job->fn = fn;

  std::vector<Tensor> heads = read_heads(c, kHeadArgs, nullptr), flip;
  int given = 0;
  for (const char* n : kFlipArgs) {
    Napi::Value v = args.Get(n);
    given += !(v.IsUndefined() || v.IsNull());
  }
  if (given > 0) {
    for (const char* n : kFlipArgs) {
      Napi::Value v = args.Get(n);
      if (v.IsUndefined() || v.IsNull())
        c.bad_arg(n, "is required: the flip test needs all six flipped head outputs");
    }
    flip = read_heads(c, kFlipArgs, &heads[0].shape());
  }

  const Shape& s = heads[0].shape();
  DecodeSpec spec = read_decode_spec(c, s[0], s[1] * s[2] * s[3]);
  c.check_inputs_attached();
  if (owned) {
    for (Tensor& t : heads) t = owned_copy(t);
    for (Tensor& t : flip) t = owned_copy(t);
  }
  job->views = image_views(heads, kHeadArgs);
  if (!flip.empty()) job->flipped = image_views(flip, kFlipArgs);
  // The views point into these tensors: the job holds them for its lifetime.
  job->head_tensors = std::move(heads);
  job->flip_tensors = std::move(flip);
  if (c.backend().device().type != DeviceType::CPU) job->device = &c.backend();
  job->metas = std::move(spec.metas);
  job->opt = spec.opt;
  job->return_pre_nms = spec.return_pre_nms;
  job->pool = &AddonData::of(info.Env()).runtime().pool();
  return job;
}

Napi::Object detections_to_js(Napi::Env env, const Detections& d) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("boxes", typed_copy<float, Napi::Float32Array>(env, d.boxes));
  o.Set("scores", typed_copy<float, Napi::Float32Array>(env, d.scores));
  o.Set("labels", typed_copy<int32_t, Napi::Int32Array>(env, d.labels));
  o.Set("cornerScores", typed_copy<float, Napi::Float32Array>(env, d.corner_scores));
  return o;
}

Napi::Array results_to_js(Napi::Env env, const DecodeJob& job) {
  return decode_results_to_js(env, job.results, job.return_pre_nms);
}

class DecodeWorker : public Napi::AsyncWorker {
 public:
  DecodeWorker(Napi::Env env, std::unique_ptr<DecodeJob> job)
      : Napi::AsyncWorker(env, "decodeAsync"), deferred_(Napi::Promise::Deferred::New(env)), job_(std::move(job)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      job_->run();
    } catch (const std::exception& e) {
      SetError(job_->fn + ": " + e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(results_to_js(Env(), *job_)); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::unique_ptr<DecodeJob> job_;
};

Napi::Value decode_sync(const Napi::CallbackInfo& info) {
  std::unique_ptr<DecodeJob> job = parse(info, "decode", false);
  try {
    job->run();
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), "decode: " + std::string(e.what()));
  }
  return results_to_js(info.Env(), *job);
}

Napi::Value decode_async(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    auto* w = new DecodeWorker(env, parse(info, "decodeAsync", true));
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  } catch (const Napi::Error& e) {
    // Argument errors reject, as callers of an async API expect.
    auto d = Napi::Promise::Deferred::New(env);
    d.Reject(e.Value());
    return d.Promise();
  }
}

// An optional Int32Array of one class per box; empty when absent.
std::vector<int32_t> read_labels(OpCall& c, const Napi::Value& lv, int64_t n) {
  std::vector<int32_t> labels;
  if (lv.IsUndefined() || lv.IsNull()) return labels;
  if (!lv.IsTypedArray() || lv.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    c.bad_arg("labels", "must be an Int32Array");
  Napi::Int32Array la = lv.As<Napi::Int32Array>();
  if (static_cast<int64_t>(la.ElementLength()) != n)
    c.bad_arg("labels", "must hold one label per box (" + std::to_string(n) + "), got " + std::to_string(la.ElementLength()));
  labels.assign(la.Data(), la.Data() + n);
  return labels;
}

// A NaN or infinite box or score would come out of soft-NMS as NaN scores.
void refuse_nonfinite(OpCall& c, const char* name, const Tensor& t, int64_t row) {
  for (int64_t k = 0; k < t.numel(); ++k)
    if (!std::isfinite(t.data()[k]))
      c.bad_arg(name, "holds a non-finite value (" + std::string(std::isnan(t.data()[k]) ? "NaN" : "Infinity") +
                          ") at entry " + std::to_string(k / row) + (row > 1 ? ", column " + std::to_string(k % row) : std::string()));
}

// Boxes [n,4] and scores [n], checked against each other.
std::pair<Tensor, Tensor> read_boxes_scores(OpCall& c) {
  Tensor boxes = c.tensor("boxes", 2);
  Tensor scores = c.tensor("scores", 1);
  if (boxes.size(1) != 4) c.bad_arg("boxes", "must have shape [n, 4], got " + shape_str(boxes.shape()));
  if (scores.size(0) != boxes.size(0))
    c.bad_arg("scores", "must hold one score per box (" + std::to_string(boxes.size(0)) + "), got " + std::to_string(scores.size(0)));
  refuse_nonfinite(c, "boxes", boxes, 4);
  refuse_nonfinite(c, "scores", scores, 1);
  return {boxes, scores};
}

// softNms({boxes [n,4], scores [n], labels?: Int32Array, ...}): mmcv's soft-NMS on
// its own (class-aware when labels are given), for merging detections of
// several decodes (multi-scale tests) and for checking the kernel.
Napi::Value soft_nms_sync(const Napi::CallbackInfo& info) {
  OpCall c(info, "softNms");
  auto [boxes, scores] = read_boxes_scores(c);
  const int64_t n = boxes.size(0);
  std::vector<int32_t> labels = read_labels(c, info[0].As<Napi::Object>().Get("labels"), n);
  decode::SoftNmsParams p = read_soft_nms_params(c);
  c.check_inputs_attached();
  decode::SoftNmsResult r = labels.empty() ? decode::soft_nms(boxes.data(), scores.data(), n, p)
                                           : decode::batched_soft_nms(boxes.data(), scores.data(), labels.data(), n, p);
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  Napi::Int32Array keep = Napi::Int32Array::New(env, r.keep.size());
  for (size_t i = 0; i < r.keep.size(); ++i) keep[i] = static_cast<int32_t>(r.keep[i]);
  o.Set("keep", keep);
  o.Set("scores", typed_copy<float, Napi::Float32Array>(env, r.scores));
  return o;
}

// softNmsMerge({boxes [n,4], scores [n], cornerScores [n,2], labels?, ...}): the
// original CornerNet's per-class soft-NMS with box merging (multi-scale test).
Napi::Value soft_nms_merge_sync(const Napi::CallbackInfo& info) {
  OpCall c(info, "softNmsMerge");
  auto [boxes, scores] = read_boxes_scores(c);
  const int64_t n = boxes.size(0);
  Tensor corner = c.tensor("cornerScores", 2);
  if (corner.shape() != Shape{n, 2})
    c.bad_arg("cornerScores", "must have shape [" + std::to_string(n) + ", 2], got " + shape_str(corner.shape()));
  refuse_nonfinite(c, "cornerScores", corner, 2);
  std::vector<int32_t> labels = read_labels(c, info[0].As<Napi::Object>().Get("labels"), n);
  if (labels.empty()) labels.assign(static_cast<size_t>(n), 0);
  decode::SoftNmsParams base = read_soft_nms_params(c);
  decode::SoftNmsMergeParams p;
  p.method = base.method;
  p.sigma = base.sigma;
  p.min_score = base.min_score;
  p.iou_threshold = base.iou_threshold;
  p.offset = c.integer("iouOffset", 1, 0, 1);
  const double we = c.number("weightExp", 10);
  if (!(we >= 0)) c.bad_arg("weightExp", "must be non-negative, got " + std::to_string(we));
  p.weight_exp = static_cast<float>(we);
  c.check_inputs_attached();
  decode::SoftNmsMergeResult r = decode::soft_nms_merge(boxes.data(), scores.data(), corner.data(), labels.data(), n, p);
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  Napi::Int32Array keep = Napi::Int32Array::New(env, r.keep.size());
  for (size_t i = 0; i < r.keep.size(); ++i) keep[i] = static_cast<int32_t>(r.keep[i]);
  o.Set("keep", keep);
  o.Set("boxes", typed_copy<float, Napi::Float32Array>(env, r.boxes));
  o.Set("scores", typed_copy<float, Napi::Float32Array>(env, r.scores));
  o.Set("labels", typed_copy<int32_t, Napi::Int32Array>(env, r.labels));
  return o;
}

}  // namespace

void register_decode(Napi::Env env, Napi::Object exports) {
  exports.Set("decode", Napi::Function::New(env, decode_sync, "decode"));
  exports.Set("decodeAsync", Napi::Function::New(env, decode_async, "decodeAsync"));
  // The engine op `decode` (engine/ops.def) is bound as ops.decode / ops.decodeAsync
  // too: the same functions, (args, backend?) like every op binding.
  Napi::Value ops = exports.Get("ops");
  if (ops.IsObject()) {
    ops.As<Napi::Object>().Set("decode", exports.Get("decode"));
    ops.As<Napi::Object>().Set("decodeAsync", exports.Get("decodeAsync"));
  }
  exports.Set("softNms", Napi::Function::New(env, soft_nms_sync, "softNms"));
  exports.Set("softNmsMerge", Napi::Function::New(env, soft_nms_merge_sync, "softNmsMerge"));
}

}  // namespace cn
