#include "trainer.h"

#include <atomic>
#include <cstring>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <cstdio>
#include <thread>

#include "../train/bucketed_communicator.h"
#include "../train/trainer.h"
#include "addon_data.h"
#include "model_config_js.h"
#include "op_call.h"
#include "process_group.h"
#include "state_dict_js.h"

namespace cn {

namespace {

using Clock = std::chrono::steady_clock;

// How several replicas on CUDA devices combine their gradients: NCCL's bucketed
// all-reduce overlapped with backward when the plugin can make the
// communicators, else (no NCCL, or it failed) the host copies of
// InProcessCommunicator, said once per process on stderr. CPU replicas, and a
// single replica, keep the in-process communicator.
std::unique_ptr<Communicator> replica_communicator(AddonData& ad, const std::string& spec,
                                                   const std::vector<Backend*>& backends, size_t bucket_bytes) {
  if (backends.size() < 2 || backends[0]->device().type != DeviceType::CUDA) return nullptr;
  // Replicas sharing a device add up their gradients there: nothing to all-reduce.
  for (size_t i = 0; i < backends.size(); ++i)
    for (size_t j = i + 1; j < backends.size(); ++j)
      if (backends[i] == backends[j]) return nullptr;
  const Plugin& pl = ad.runtime().plugin(spec.rfind("cuda-emu", 0) == 0 ? "cuda_emu" : "cuda");
  char err[1024] = {0};
  ReplicaTransport* t =
      pl.loaded ? pl.nccl_replica_transport(backends.data(), static_cast<int>(backends.size()), err, sizeof(err)) : nullptr;
  if (t) return std::make_unique<BucketedCommunicator>(std::unique_ptr<ReplicaTransport>(t), bucket_bytes);
  static std::once_flag said;
  std::call_once(said, [&] {
    std::fprintf(stderr, "cornernet: %zu CUDA replicas synchronise through host copies (slower): %s\n",
                 backends.size(), err);
  });
  return nullptr;
}

// Replica r's backend. On the CPU the one CPU backend (the Trainer gives each
// replica its own threads). With CUDA and several replicas, device r (cuda:0,
// cuda:1, ...), the emulator likewise (cuda-emu, cuda-emu:1, ... with
// CORNERNET_EMU_DEVICES); with fewer devices than replicas, device r modulo
// their number: replicas then share a device and take turns on it, so a recipe
// of 2 replicas x 4 images means the same on one GPU as on two.
std::string replica_backend(AddonData& ad, const std::string& spec, int r, int replicas) {
  const bool cuda = spec == "cuda" || (spec.rfind("cuda:", 0) == 0 && replicas > 1);
  const bool emu = spec == "cuda-emu";
  if (!cuda && !emu) return spec;
  const Plugin& pl = ad.runtime().plugin(emu ? "cuda_emu" : "cuda");
  const int devices = pl.loaded && pl.probe.device_count > 0 ? pl.probe.device_count : 1;
  const int d = r % devices;
  if (emu) return d == 0 ? "cuda-emu" : "cuda-emu:" + std::to_string(d);
  return "cuda:" + std::to_string(d);
}

struct OptimizerEntry {
  std::string name;
  Tensor exp_avg, exp_avg_sq;  // host
  int64_t step = 0;
};

struct Command {
  enum Kind { Step, Snapshot, Load, Sync, Stop } kind = Step;
  TrainBatch batch;
  int64_t iter = 0;
  int request = 0;
  std::vector<HostEntry> state;
  std::vector<OptimizerEntry> optimizer;
};

// What the thread sends back; converted to JS on the main thread.
struct Message {
  enum Kind { StepDone, NonFinite, StepError, Cancelled, Reply } kind = StepDone;
  int64_t iter = 0;
  StepReport report;
  double seconds = 0, wait_seconds = 0;
  std::string text;
  int request = 0;
  bool ok = true;
  std::vector<HostEntry> state;
  std::vector<OptimizerEntry> optimizer;
  int dropped = 0;
};

[[noreturn]] void type_error(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }

double number_opt(Napi::Env env, const Napi::Object& o, const char* key, double def, const std::string& where) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return def;
  if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue()))
    type_error(env, where + "." + key + " must be a finite number");
  return v.As<Napi::Number>().DoubleValue();
}

Napi::Object tensor_js(Napi::Env env, const Tensor& t) { return tensor_to_js(env, t); }

class TrainerWrap : public Napi::ObjectWrap<TrainerWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Trainer",
                       {InstanceMethod("feed", &TrainerWrap::feed), InstanceMethod("snapshot", &TrainerWrap::snapshot),
                        InstanceMethod("load", &TrainerWrap::load), InstanceMethod("cancel", &TrainerWrap::cancel),
                        InstanceMethod("close", &TrainerWrap::close), InstanceMethod("pending", &TrainerWrap::pending),
                        InstanceMethod("keys", &TrainerWrap::keys),
                        InstanceMethod("syncFromRoot", &TrainerWrap::sync_from_root),
                        InstanceMethod("requestStop", &TrainerWrap::request_stop)});
  }

  // new Trainer({model, replicas, backend, seed, adam: {...}, loss: {...}, frozenBn, group}, onEvent)
  explicit TrainerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TrainerWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction())
      type_error(env, "Trainer: expected (options object, onEvent function)");
    Napi::Object o = info[0].As<Napi::Object>();
    TrainerOptions opts;
    opts.model = parse_model_config(env, o.Get("model"), "Trainer: options.model");
    double replicas = number_opt(env, o, "replicas", 1, "Trainer: options");
    if (replicas < 1 || replicas > 64 || replicas != std::floor(replicas))
      type_error(env, "Trainer: options.replicas must be an integer in [1, 64]");
    double seed = number_opt(env, o, "seed", 0, "Trainer: options");
    if (seed < 0 || seed != std::floor(seed)) type_error(env, "Trainer: options.seed must be a non-negative integer");
    opts.seed = static_cast<uint64_t>(seed);
    Napi::Value adam = o.Get("adam");
    if (adam.IsObject()) {
      Napi::Object a = adam.As<Napi::Object>();
      opts.adam.beta1 = static_cast<float>(number_opt(env, a, "beta1", opts.adam.beta1, "Trainer: options.adam"));
      opts.adam.beta2 = static_cast<float>(number_opt(env, a, "beta2", opts.adam.beta2, "Trainer: options.adam"));
      opts.adam.eps = static_cast<float>(number_opt(env, a, "eps", opts.adam.eps, "Trainer: options.adam"));
      opts.adam.weight_decay = static_cast<float>(number_opt(env, a, "weightDecay", 0, "Trainer: options.adam"));
      Napi::Value clip = a.Get("gradClip");
      opts.adam.grad_clip = clip.IsNull() ? 0.0 : number_opt(env, a, "gradClip", opts.adam.grad_clip, "Trainer: options.adam");
    }
    Napi::Value loss = o.Get("loss");
    if (loss.IsObject()) {
      Napi::Object l = loss.As<Napi::Object>();
      opts.loss.pull = number_opt(env, l, "pullWeight", opts.loss.pull, "Trainer: options.loss");
      opts.loss.push = number_opt(env, l, "pushWeight", opts.loss.push, "Trainer: options.loss");
      opts.loss.offset_beta = number_opt(env, l, "offsetBeta", opts.loss.offset_beta, "Trainer: options.loss");
    }
    Napi::Value fb = o.Get("frozenBn");
    if (!fb.IsUndefined()) {
      if (!fb.IsBoolean()) type_error(env, "Trainer: options.frozenBn must be a boolean");
      opts.frozen_bn = fb.As<Napi::Boolean>().Value();
    }
    double bucket_bytes = number_opt(env, o, "allReduceBucketBytes", static_cast<double>(BucketedCommunicator::kDefaultBucketBytes),
                                     "Trainer: options");
    if (!(bucket_bytes >= 4) || bucket_bytes > 1e12 || bucket_bytes != std::floor(bucket_bytes))
      type_error(env, "Trainer: options.allReduceBucketBytes must be an integer of at least 4 (bytes)");
    std::string spec = "cpu";
    Napi::Value b = o.Get("backend");
    if (!b.IsUndefined()) {
      if (!b.IsString()) type_error(env, "Trainer: options.backend must be a string such as 'cpu' or 'cuda:0'");
      spec = b.As<Napi::String>().Utf8Value();
    }
    std::shared_ptr<ProcessGroup> group;
    Napi::Value gv = o.Get("group");
    if (!gv.IsUndefined() && !gv.IsNull()) group = unwrap_process_group(env, gv, "Trainer: options.group");
    try {
      AddonData& ad = AddonData::of(env);
      std::vector<Backend*> backends;
      for (int r = 0; r < static_cast<int>(replicas); ++r) backends.push_back(&ad.backend(replica_backend(ad, spec, r, static_cast<int>(replicas))));
      trainer_.reset(new Trainer(backends, opts, ad.runtime().pool(),
                                 replica_communicator(ad, spec, backends, static_cast<size_t>(bucket_bytes)), group));
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, std::string("Trainer: ") + e.what());
    }
    // The finalizer runs on the main thread once the training thread has released
    // the function (its last act) and every message is delivered: only then is it
    // safe to join, settle close() and let the object be collected.
    tsfn_ = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "cornernet-trainer", 0, 1,
                                          [this](Napi::Env e) { on_thread_finished(e); });
    Ref();  // alive until the thread has closed
    thread_ = std::thread([this] { run(); });
  }

 private:
  // ---- the training thread --------------------------------------------------------
  void run() {
    Clock::time_point idle_since = Clock::now();
    for (;;) {
      Command cmd;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return !queue_.empty(); });
        cmd = std::move(queue_.front());
        queue_.pop_front();
      }
      if (cmd.kind == Command::Stop) break;
      auto* msg = new Message();
      if (cmd.kind == Command::Step && ended_) {
        // With several ranks, a step after the one where the group decided to stop
        // (a stop request, a non-finite step) must run nowhere: it was fed before
        // this rank's loop heard of the decision.
        --pending_steps_;
        msg->kind = Message::Cancelled;
        msg->dropped = 1;
        send(msg);
        continue;
      }
      try {
        if (cmd.kind == Command::Step) {
          Clock::time_point t0 = Clock::now();
          msg->wait_seconds = std::chrono::duration<double>(t0 - idle_since).count();
          msg->iter = cmd.iter;
          msg->report = trainer_->step(cmd.batch);
          msg->seconds = std::chrono::duration<double>(Clock::now() - t0).count();
          msg->kind = msg->report.finite ? Message::StepDone : Message::NonFinite;
          if (!msg->report.finite || msg->report.stop) {
            drop_queued_steps();  // nothing after a bad step (or the last one) may run
            if (trainer_->group()) ended_ = true;
          }
        } else if (cmd.kind == Command::Snapshot) {
          msg->kind = Message::Reply;
          msg->request = cmd.request;
          msg->state = snapshot_store(trainer_->backend(0), trainer_->model(0).store());
          for (auto& [name, s] : trainer_->optimizer().state()) {
            OptimizerEntry oe;
            oe.name = name;
            oe.step = s.step;
            oe.exp_avg = Tensor::host(s.exp_avg.shape());
            oe.exp_avg_sq = Tensor::host(s.exp_avg_sq.shape());
            trainer_->backend(0).download(s.exp_avg, oe.exp_avg);
            trainer_->backend(0).download(s.exp_avg_sq, oe.exp_avg_sq);
            msg->optimizer.push_back(std::move(oe));
          }
        } else if (cmd.kind == Command::Load) {
          msg->kind = Message::Reply;
          msg->request = cmd.request;
          Backend& be = trainer_->backend(0);
          apply_state(be, trainer_->model(0).store(), cmd.state);
          auto& st = trainer_->optimizer().state();
          st.clear();
          for (auto& oe : cmd.optimizer) {
            AdamState s;
            s.step = oe.step;
            s.exp_avg = be.empty(oe.exp_avg.shape());
            s.exp_avg_sq = be.empty(oe.exp_avg_sq.shape());
            be.copy(be.upload(oe.exp_avg), s.exp_avg);
            be.copy(be.upload(oe.exp_avg_sq), s.exp_avg_sq);
            st[oe.name] = s;
          }
          trainer_->sync_replicas_from_root();
        } else if (cmd.kind == Command::Sync) {
          msg->kind = Message::Reply;
          msg->request = cmd.request;
          trainer_->broadcast_from_root();
        }
      } catch (const std::exception& e) {
        msg->kind = cmd.kind == Command::Step ? Message::StepError : Message::Reply;
        msg->ok = false;
        msg->text = e.what();
      }
      if (cmd.kind == Command::Step) idle_since = Clock::now();
      send(msg);
    }
    tsfn_.Release();
  }

  void on_thread_finished(Napi::Env env) {
    if (thread_.joinable()) thread_.join();
    // The replicas, gradients and optimizer moments go now, not when the JS object is collected.
    trainer_.reset();
    closed_ = true;
    for (auto& d : close_waiters_) d.Resolve(env.Undefined());
    close_waiters_.clear();
    for (auto& [id, r] : requests_) r.deferred.Reject(Napi::Error::New(env, "trainer: closed before this request ran").Value());
    requests_.clear();
    Unref();
  }

  void drop_queued_steps() {
    std::lock_guard<std::mutex> lock(mutex_);
    int dropped = 0;
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (it->kind == Command::Step) {
        it = queue_.erase(it);
        ++dropped;
      } else {
        ++it;
      }
    }
    pending_steps_ -= dropped;
    if (dropped) {
      auto* m = new Message();
      m->kind = Message::Cancelled;
      m->dropped = dropped;
      send(m);
    }
  }

  void send(Message* msg) {
    napi_status st = tsfn_.BlockingCall(msg, [this](Napi::Env env, Napi::Function cb, Message* m) {
      std::unique_ptr<Message> own(m);
      deliver(env, cb, *own);
    });
    if (st != napi_ok) delete msg;  // the environment is shutting down
  }

  // ---- main thread: messages to JavaScript ------------------------------------------
  void deliver(Napi::Env env, Napi::Function cb, Message& m) {
    if (m.kind == Message::Reply) {
      auto it = requests_.find(m.request);
      if (it == requests_.end()) return;
      Napi::Promise::Deferred d = it->second.deferred;
      auto result = it->second.result;
      requests_.erase(it);
      if (!m.ok) {
        d.Reject(Napi::Error::New(env, "trainer: " + m.text).Value());
        return;
      }
      if (m.state.empty()) {
        d.Resolve(result ? result->Value() : env.Undefined());
        return;
      }
      Napi::Object r = Napi::Object::New(env);
      r.Set("stateDict", host_entries_to_js(env, m.state));
      Napi::Object opt = Napi::Object::New(env);
      for (const auto& oe : m.optimizer) {
        Napi::Object e = Napi::Object::New(env);
        e.Set("expAvg", tensor_js(env, oe.exp_avg));
        e.Set("expAvgSq", tensor_js(env, oe.exp_avg_sq));
        e.Set("step", Napi::Number::New(env, static_cast<double>(oe.step)));
        opt.Set(oe.name, e);
      }
      r.Set("optimizer", opt);
      d.Resolve(r);
      return;
    }
    Napi::Object ev = Napi::Object::New(env);
    switch (m.kind) {
      case Message::StepDone:
      case Message::NonFinite: {
        --pending_steps_;
        ev.Set("type", m.kind == Message::StepDone ? "step" : "nonfinite");
        ev.Set("iter", Napi::Number::New(env, static_cast<double>(m.iter)));
        Napi::Object losses = Napi::Object::New(env);
        for (size_t l = 0; l < m.report.levels.size(); ++l) {
          const auto& v = m.report.levels[l];
          const std::string s = std::to_string(l);
          losses.Set("det_l" + s, v.det);
          losses.Set("pull_l" + s, v.pull);
          losses.Set("push_l" + s, v.push);
          losses.Set("off_l" + s, v.off);
        }
        ev.Set("losses", losses);
        ev.Set("total", m.report.total);
        ev.Set("gradNorm", m.report.grad_norm);
        ev.Set("seconds", m.seconds);
        ev.Set("waitSeconds", m.wait_seconds);
        if (m.report.sync.buckets > 0) {
          Napi::Object sync = Napi::Object::New(env);
          sync.Set("buckets", m.report.sync.buckets);
          sync.Set("duringBackward", m.report.sync.launched_during_backward);
          ev.Set("allReduce", sync);
        }
        if (!m.report.finite) ev.Set("term", m.report.problem);
        if (m.report.stop) {
          Napi::Array why = Napi::Array::New(env);
          if (m.report.stop & kStopInterrupted) why.Set(why.Length(), "interrupted");
          if (m.report.stop & kStopTimeLimit) why.Set(why.Length(), "max-minutes");
          ev.Set("stop", why);
        }
        break;
      }
      case Message::StepError:
        --pending_steps_;
        ev.Set("type", "error");
        ev.Set("iter", Napi::Number::New(env, static_cast<double>(m.iter)));
        ev.Set("message", m.text);
        break;
      case Message::Cancelled:
        ev.Set("type", "cancelled");
        ev.Set("dropped", m.dropped);
        break;
      default:
        return;
    }
    cb.Call({ev});
  }

  void push(Command&& c) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(c));
    }
    cv_.notify_one();
  }

  void check_open(Napi::Env env, const char* what) {
    if (closing_) throw Napi::Error::New(env, std::string("trainer.") + what + ": the trainer is closed");
  }

  // feed({images: {data, shape}, boxes: Float32Array[] (x1,y1,x2,y2 per box), labels: Int32Array[],
  //       lr, iter}) -> steps queued (this one included)
  Napi::Value feed(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_open(env, "feed");
    if (info.Length() < 1 || !info[0].IsObject()) type_error(env, "trainer.feed: expected a batch object");
    Napi::Object o = info[0].As<Napi::Object>();
    Napi::Value img = o.Get("images");
    if (!img.IsObject()) type_error(env, "trainer.feed: batch.images must be {data: Float32Array, shape: [N,3,H,W]}");
    Napi::Value data = img.As<Napi::Object>().Get("data"), shape_v = img.As<Napi::Object>().Get("shape");
    if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      type_error(env, "trainer.feed: batch.images.data must be a Float32Array");
    if (!shape_v.IsArray() || shape_v.As<Napi::Array>().Length() != 4)
      type_error(env, "trainer.feed: batch.images.shape must be [N, 3, H, W]");
    Shape shape;
    for (uint32_t i = 0; i < 4; ++i) {
      Napi::Value d = shape_v.As<Napi::Array>().Get(i);
      double x = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : NAN;
      if (!(x >= 1) || x != std::floor(x)) type_error(env, "trainer.feed: batch.images.shape[" + std::to_string(i) + "] must be a positive integer");
      shape.push_back(static_cast<int64_t>(x));
    }
    Napi::Float32Array fa = data.As<Napi::Float32Array>();
    if (static_cast<int64_t>(fa.ElementLength()) != shape_numel(shape))
      type_error(env, "trainer.feed: batch.images has shape " + shape_str(shape) + " but " + std::to_string(fa.ElementLength()) + " values");
    if (shape[1] != 3) type_error(env, "trainer.feed: batch.images must have 3 channels, got shape " + shape_str(shape));
    Napi::Value bv = o.Get("boxes"), lv = o.Get("labels");
    if (!bv.IsArray() || !lv.IsArray() || bv.As<Napi::Array>().Length() != shape[0] || lv.As<Napi::Array>().Length() != shape[0])
      type_error(env, "trainer.feed: batch.boxes and batch.labels must be arrays with one entry per image (" + std::to_string(shape[0]) + ")");
    Command c;
    c.kind = Command::Step;
    c.batch.images = Tensor::host(shape);
    std::memcpy(c.batch.images.data(), fa.Data(), c.batch.images.bytes());
    const int num_classes = trainer_->model(0).config().num_classes;
    for (uint32_t n = 0; n < shape[0]; ++n) {
      Napi::Value b = bv.As<Napi::Array>().Get(n), l = lv.As<Napi::Array>().Get(n);
      if (!b.IsTypedArray() || b.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
        type_error(env, "trainer.feed: batch.boxes[" + std::to_string(n) + "] must be a Float32Array of x1,y1,x2,y2 per box");
      if (!l.IsTypedArray() || l.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
        type_error(env, "trainer.feed: batch.labels[" + std::to_string(n) + "] must be an Int32Array");
      Napi::Float32Array ba = b.As<Napi::Float32Array>();
      Napi::Int32Array la = l.As<Napi::Int32Array>();
      if (ba.ElementLength() != 4 * la.ElementLength())
        type_error(env, "trainer.feed: image " + std::to_string(n) + " has " + std::to_string(ba.ElementLength() / 4.0) +
                            " boxes but " + std::to_string(la.ElementLength()) + " labels");
      std::vector<GtBox> boxes;
      for (size_t k = 0; k < la.ElementLength(); ++k) {
        GtBox g{ba[4 * k], ba[4 * k + 1], ba[4 * k + 2], ba[4 * k + 3], la[k], false};
        if (g.label < 0 || g.label >= num_classes)
          type_error(env, "trainer.feed: image " + std::to_string(n) + " box " + std::to_string(k) + " has label " +
                              std::to_string(g.label) + ", the model has " + std::to_string(num_classes) + " classes");
        boxes.push_back(g);
      }
      c.batch.boxes.push_back(std::move(boxes));
    }
    double lr = number_opt(env, o, "lr", NAN, "trainer.feed: batch");
    if (!(lr >= 0)) type_error(env, "trainer.feed: batch.lr must be a non-negative number");
    c.batch.lr = static_cast<float>(lr);
    c.iter = static_cast<int64_t>(number_opt(env, o, "iter", 0, "trainer.feed: batch"));
    ++pending_steps_;
    push(std::move(c));
    return Napi::Number::New(env, pending_steps_.load());
  }

  Napi::Value request(Napi::Env env, Command&& c, std::shared_ptr<Napi::ObjectReference> result = nullptr) {
    c.request = ++next_request_;
    auto d = Napi::Promise::Deferred::New(env);
    requests_.emplace(c.request, Request{d, std::move(result)});
    push(std::move(c));
    return d.Promise();
  }

  // snapshot() -> Promise<{stateDict, optimizer: {name: {expAvg, expAvgSq, step}}}> (after queued steps)
  Napi::Value snapshot(const Napi::CallbackInfo& info) {
    check_open(info.Env(), "snapshot");
    Command c;
    c.kind = Command::Snapshot;
    return request(info.Env(), std::move(c));
  }

  // load({stateDict, optimizer?}, {strict = true}) -> Promise<load report>
  Napi::Value load(const Napi::CallbackInfo& info) {
    try {
      return load_impl(info);
    } catch (const Napi::Error& e) {
      // An async API reports bad arguments by rejecting, not throwing.
      auto d = Napi::Promise::Deferred::New(info.Env());
      d.Reject(e.Value());
      return d.Promise();
    }
  }

  Napi::Value load_impl(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_open(env, "load");
    if (info.Length() < 1 || !info[0].IsObject()) type_error(env, "trainer.load: expected {stateDict, optimizer?}");
    Napi::Object o = info[0].As<Napi::Object>();
    Napi::Value sd = o.Get("stateDict");
    if (!sd.IsObject()) type_error(env, "trainer.load: argument 'stateDict' must be an object {name: {data, shape}}");
    bool strict = true;
    if (info.Length() > 1 && info[1].IsObject()) {
      Napi::Value s = info[1].As<Napi::Object>().Get("strict");
      if (s.IsBoolean()) strict = s.As<Napi::Boolean>().Value();
    }
    LoadReport report;
    Command c;
    c.kind = Command::Load;
    c.state = read_state_dict(env, sd.As<Napi::Object>(), trainer_->model(0).store(), strict, "trainer.load", report);
    Napi::Value opt = o.Get("optimizer");
    if (opt.IsObject()) {
      Napi::Object oo = opt.As<Napi::Object>();
      Napi::Array names = oo.GetPropertyNames();
      for (uint32_t i = 0; i < names.Length(); ++i) {
        std::string k = names.Get(i).As<Napi::String>().Utf8Value();
        Entry* e = trainer_->model(0).store().find(k);
        if (!e || e->kind != EntryKind::Parameter)
          type_error(env, "trainer.load: optimizer state for '" + k + "', which is not a parameter of the model");
        Napi::Object v = oo.Get(k).As<Napi::Object>();
        OptimizerEntry oe;
        oe.name = k;
        oe.step = static_cast<int64_t>(number_opt(env, v, "step", 0, "trainer.load: optimizer." + k));
        for (const char* part : {"expAvg", "expAvgSq"}) {
          Napi::Value t = v.Get(part);
          Napi::Value td = t.IsObject() ? t.As<Napi::Object>().Get("data") : env.Undefined();
          if (!td.IsTypedArray() || td.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
              static_cast<int64_t>(td.As<Napi::Float32Array>().ElementLength()) != shape_numel(e->shape))
            type_error(env, "trainer.load: optimizer." + k + "." + part + " must be a Float32Array of " +
                                std::to_string(shape_numel(e->shape)) + " values (shape " + shape_str(e->shape) + ")");
          Tensor h = Tensor::host(e->shape);
          std::memcpy(h.data(), td.As<Napi::Float32Array>().Data(), h.bytes());
          (std::string(part) == "expAvg" ? oe.exp_avg : oe.exp_avg_sq) = h;
        }
        c.optimizer.push_back(std::move(oe));
      }
    }
    // Resolved with the report once the thread has applied the state.
    auto rep = std::make_shared<Napi::ObjectReference>(Napi::Persistent(load_report_to_js(env, report)));
    return request(env, std::move(c), rep);
  }

  // cancel(): queued steps are dropped once the current one ends; snapshot/load/close still run.
  Napi::Value cancel(const Napi::CallbackInfo& info) {
    drop_queued_steps();
    return info.Env().Undefined();
  }

  // close() -> Promise<void>: after what is queued, the thread exits.
  Napi::Value close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto d = Napi::Promise::Deferred::New(env);
    if (closed_) {
      d.Resolve(env.Undefined());
      return d.Promise();
    }
    close_waiters_.push_back(d);
    if (!closing_) {
      closing_ = true;
      Command c;
      c.kind = Command::Stop;
      push(std::move(c));
    }
    return d.Promise();
  }

  // syncFromRoot() -> Promise<void>: rank 0's weights, BN statistics and optimizer state on
  // every rank (after queued steps); every rank of the group must call it.
  Napi::Value sync_from_root(const Napi::CallbackInfo& info) {
    check_open(info.Env(), "syncFromRoot");
    Command c;
    c.kind = Command::Sync;
    return request(info.Env(), std::move(c));
  }

  // requestStop('interrupted' | 'max-minutes'): the next step tells every rank to stop after it
  // (its event carries stop: [...reasons]); queued and later steps are then dropped on every rank.
  Napi::Value request_stop(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string why = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    if (why == "interrupted") trainer_->request_stop(kStopInterrupted);
    else if (why == "max-minutes") trainer_->request_stop(kStopTimeLimit);
    else type_error(env, "trainer.requestStop: expected 'interrupted' or 'max-minutes'");
    return env.Undefined();
  }

  Napi::Value pending(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), pending_steps_.load()); }

  // keys() -> [{name, shape, kind}] of the model (same as Model.keys()).
  Napi::Value keys(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_open(env, "keys");
    const auto& entries = trainer_->model(0).store().entries();
    Napi::Array out = Napi::Array::New(env, entries.size());
    uint32_t i = 0;
    for (const Entry& e : entries) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", e.name);
      Napi::Array s = Napi::Array::New(env, e.shape.size());
      for (size_t k = 0; k < e.shape.size(); ++k) s.Set(static_cast<uint32_t>(k), static_cast<double>(e.shape[k]));
      o.Set("shape", s);
      o.Set("kind", e.kind == EntryKind::Parameter ? "parameter" : "buffer");
      out.Set(i++, o);
    }
    return out;
  }

  std::unique_ptr<Trainer> trainer_;
  Napi::ThreadSafeFunction tsfn_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Command> queue_;
  // Main-thread state.
  struct Request {
    Napi::Promise::Deferred deferred;
    std::shared_ptr<Napi::ObjectReference> result;  // what to resolve with when the reply carries nothing
  };
  std::map<int, Request> requests_;
  std::vector<Napi::Promise::Deferred> close_waiters_;
  int next_request_ = 0;
  std::atomic<int> pending_steps_{0};  // fed but not yet reported
  bool closing_ = false, closed_ = false;
  bool ended_ = false;  // training thread: the group decided to stop; later steps are dropped
};

}  // namespace

namespace {
// Reads a JS array of non-negative integers (the bucket bindings below).
std::vector<int64_t> int_array(const Napi::Env& env, const Napi::Value& v, const char* what) {
  if (!v.IsArray()) type_error(env, std::string(what) + " must be an array of non-negative integers");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> out;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value x = a.Get(i);
    double d = x.IsNumber() ? x.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0) || d != std::floor(d) || d > 9e15)
      type_error(env, std::string(what) + "[" + std::to_string(i) + "] must be a non-negative integer");
    out.push_back(static_cast<int64_t>(d));
  }
  return out;
}

Napi::Array js_array(const Napi::Env& env, const std::vector<size_t>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a.Set(static_cast<uint32_t>(i), static_cast<double>(v[i]));
  return a;
}

// gradBuckets(numel[], isParam[], capBytes[, arrived[]]) -> entry indices per
// bucket (train/grad_buckets.h); with `arrived`, the rebuild after a first step
// whose gradients became final in that order.
Napi::Value grad_buckets(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<int64_t> numel = int_array(env, info[0], "gradBuckets: numel");
  if (!info[1].IsArray()) type_error(env, "gradBuckets: isParam must be an array of booleans");
  Napi::Array flags = info[1].As<Napi::Array>();
  std::vector<bool> is_param;
  for (uint32_t i = 0; i < flags.Length(); ++i) is_param.push_back(flags.Get(i).ToBoolean().Value());
  if (!info[2].IsNumber()) type_error(env, "gradBuckets: capBytes must be a number");
  try {
    const size_t cap = static_cast<size_t>(info[2].As<Napi::Number>().DoubleValue());
    std::vector<GradBucket> buckets;
    if (info.Length() > 3 && !info[3].IsUndefined()) {
      CN_CHECK(numel.size() == is_param.size(), "gradBuckets: ", numel.size(), " sizes but ", is_param.size(), " flags");
      std::vector<size_t> arrived;
      for (int64_t e : int_array(env, info[3], "gradBuckets: arrived")) arrived.push_back(static_cast<size_t>(e));
      buckets = pack_grad_buckets(observed_bucket_order(arrived, is_param), numel, cap);
    } else {
      buckets = assign_grad_buckets(numel, is_param, cap);
    }
    Napi::Array out = Napi::Array::New(env, buckets.size());
    for (size_t b = 0; b < buckets.size(); ++b) out.Set(static_cast<uint32_t>(b), js_array(env, buckets[b].entries));
    return out;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

// bucketSchedule(buckets, entryCount, readyOrder) -> {launches: buckets launched
// after each ready entry, remaining: buckets launched at the end of backward}.
Napi::Value bucket_schedule(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) type_error(env, "bucketSchedule: buckets must be an array of entry-index arrays");
  Napi::Array bs = info[0].As<Napi::Array>();
  std::vector<GradBucket> buckets;
  for (uint32_t b = 0; b < bs.Length(); ++b) {
    GradBucket g;
    for (int64_t e : int_array(env, bs.Get(b), "bucketSchedule: buckets[b]")) g.entries.push_back(static_cast<size_t>(e));
    buckets.push_back(g);
  }
  if (!info[1].IsNumber()) type_error(env, "bucketSchedule: entryCount must be a number");
  const size_t entries = static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue());
  std::vector<int64_t> order = int_array(env, info[2], "bucketSchedule: readyOrder");
  try {
    BucketSchedule sched(buckets, entries);
    Napi::Array launches = Napi::Array::New(env, order.size());
    for (size_t i = 0; i < order.size(); ++i)
      launches.Set(static_cast<uint32_t>(i), js_array(env, sched.mark_ready(static_cast<size_t>(order[i]))));
    Napi::Object out = Napi::Object::New(env);
    out.Set("launches", launches);
    out.Set("remaining", js_array(env, sched.launch_remaining()));
    return out;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}
}  // namespace

void register_trainer(Napi::Env env, Napi::Object exports) {
  exports.Set("Trainer", TrainerWrap::define(env));
  exports.Set("gradBuckets", Napi::Function::New(env, grad_buckets, "gradBuckets"));
  exports.Set("bucketSchedule", Napi::Function::New(env, bucket_schedule, "bucketSchedule"));
}

}  // namespace cn
