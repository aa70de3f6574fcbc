#include "process_group.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <mutex>
#include <regex>
#include <vector>

#include "../mpi/mpi_plugin_abi.h"
#include "addon_data.h"

namespace cn {

namespace {

// libcornernet_mpi.so, opened once per process (MPI is initialised once per process).
struct MpiPlugin {
  bool tried = false;
  std::string error;
  std::string library;  // e.g. "Open MPI v4.1.4"
  cn_mpi_create_fn create = nullptr;
  cn_mpi_abandon_fn abandon = nullptr;
};

const MpiPlugin& mpi_plugin(const std::string& dir) {
  static std::mutex m;
  static MpiPlugin pl;
  std::lock_guard<std::mutex> lock(m);
  if (pl.tried) return pl;
  pl.tried = true;
  const std::string path = dir + "/libcornernet_mpi.so";
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    pl.error = "this build of cornernet-native has no MPI support (no " + path +
               ": no MPI was found when it was built): install Open MPI (apt-get install openmpi-bin libopenmpi-dev) "
               "and rebuild (npm run build:native)";
    return pl;
  }
  // RTLD_GLOBAL: Open MPI loads its own components with dlopen, and they resolve
  // libmpi's symbols through the global scope.
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!h) {
    const char* e = dlerror();
    std::string msg = e ? e : "unknown dlopen error";
    std::smatch lib;
    if (std::regex_search(msg, lib, std::regex("(libmpi[A-Za-z0-9_.+-]*): cannot open shared object file")))
      pl.error = "cannot load " + path + ": " + lib[1].str() +
                 " not found: install Open MPI (apt-get install openmpi-bin), the MPI this package was built against";
    else
      pl.error = "cannot load " + path + ": " + msg;
    return pl;
  }
  auto version = reinterpret_cast<cn_mpi_abi_version_fn>(dlsym(h, CN_MPI_ABI_VERSION_SYMBOL));
  auto create = reinterpret_cast<cn_mpi_create_fn>(dlsym(h, CN_MPI_CREATE_SYMBOL));
  auto library = reinterpret_cast<cn_mpi_library_version_fn>(dlsym(h, CN_MPI_LIBRARY_VERSION_SYMBOL));
  auto abandon = reinterpret_cast<cn_mpi_abandon_fn>(dlsym(h, CN_MPI_ABANDON_SYMBOL));
  if (!version || !create || !library || !abandon) {
    pl.error = path + " is not a cornernet MPI plugin (missing entry points)";
    return pl;
  }
  if (version() != CN_MPI_PLUGIN_ABI_VERSION) {
    pl.error = path + " was built for MPI plugin ABI " + std::to_string(version()) + ", this addon speaks " +
               std::to_string(CN_MPI_PLUGIN_ABI_VERSION) + "; rebuild the package (npm run build:native)";
    return pl;
  }
  char lib[256] = {0};
  library(lib, sizeof(lib));
  pl.library = lib;
  pl.create = create;
  pl.abandon = abandon;
  return pl;
}

// One collective on a libuv worker; `run` fills `result` (bytes handed back to JS).
class CollectiveWorker : public Napi::AsyncWorker {
 public:
  CollectiveWorker(Napi::Env env, const char* name, std::function<void(std::vector<char>&)> run,
                   std::vector<char> data, bool doubles)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)), run_(std::move(run)),
        data_(std::move(data)), doubles_(doubles) {}
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      run_(data_);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (doubles_) {
      auto a = Napi::Float64Array::New(env, data_.size() / sizeof(double));
      std::memcpy(a.Data(), data_.data(), data_.size());
      deferred_.Resolve(a);
    } else {
      auto a = Napi::Uint8Array::New(env, data_.size());
      std::memcpy(a.Data(), data_.data(), data_.size());
      deferred_.Resolve(a);
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<void(std::vector<char>&)> run_;
  std::vector<char> data_;
  bool doubles_;
};

class ProcessGroupWrap : public Napi::ObjectWrap<ProcessGroupWrap> {
 public:
  static Napi::FunctionReference* constructor(Napi::Env env) {
    return AddonData::of(env).process_group_class();
  }
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "ProcessGroup",
                       {InstanceAccessor("rank", &ProcessGroupWrap::rank, nullptr),
                        InstanceAccessor("size", &ProcessGroupWrap::size, nullptr),
                        InstanceAccessor("name", &ProcessGroupWrap::name, nullptr),
                        InstanceMethod("allReduceSumHost", &ProcessGroupWrap::all_reduce_sum_host),
                        InstanceMethod("broadcastHost", &ProcessGroupWrap::broadcast_host),
                        InstanceMethod("barrier", &ProcessGroupWrap::barrier)});
  }
  explicit ProcessGroupWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProcessGroupWrap>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      throw Napi::TypeError::New(info.Env(), "ProcessGroup: made by mpiProcessGroup(), not with new");
    group_ = *info[0].As<Napi::External<std::shared_ptr<ProcessGroup>>>().Data();
  }
  std::shared_ptr<ProcessGroup> group() const { return group_; }

 private:
  Napi::Value rank(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), group_->rank()); }
  Napi::Value size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), group_->size()); }
  Napi::Value name(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), group_->name()); }

  // allReduceSumHost(Float64Array) -> Promise<Float64Array> (the sums; the argument is not changed)
  Napi::Value all_reduce_sum_host(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
      throw Napi::TypeError::New(env, "processGroup.allReduceSumHost: expected a Float64Array");
    auto a = info[0].As<Napi::Float64Array>();
    std::vector<char> data(a.ElementLength() * sizeof(double));
    std::memcpy(data.data(), a.Data(), data.size());
    auto g = group_;
    auto* w = new CollectiveWorker(env, "allReduceSumHost", [g](std::vector<char>& d) {
      g->all_reduce_sum_host(reinterpret_cast<double*>(d.data()), static_cast<int64_t>(d.size() / sizeof(double)));
    }, std::move(data), true);
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  }

  // broadcastHost(Uint8Array, root) -> Promise<Uint8Array>: root's bytes on every rank (same length everywhere)
  Napi::Value broadcast_host(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
        !info[1].IsNumber())
      throw Napi::TypeError::New(env, "processGroup.broadcastHost: expected (Uint8Array, root rank)");
    auto a = info[0].As<Napi::Uint8Array>();
    double root = info[1].As<Napi::Number>().DoubleValue();
    if (!(root >= 0 && root < group_->size()) || root != std::floor(root))
      throw Napi::RangeError::New(env, "processGroup.broadcastHost: root must be a rank in [0, " +
                                           std::to_string(group_->size() - 1) + "]");
    std::vector<char> data(a.ElementLength());
    std::memcpy(data.data(), a.Data(), data.size());
    auto g = group_;
    int r = static_cast<int>(root);
    auto* w = new CollectiveWorker(env, "broadcastHost", [g, r](std::vector<char>& d) {
      g->broadcast_host(d.data(), d.size(), r);
    }, std::move(data), false);
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  }

  Napi::Value barrier(const Napi::CallbackInfo& info) {
    auto g = group_;
    auto* w = new CollectiveWorker(info.Env(), "barrier", [g](std::vector<char>&) { g->barrier(); }, {}, false);
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  }

  std::shared_ptr<ProcessGroup> group_;
};

// mpiProcessGroup({timeoutSeconds}) -> ProcessGroup over MPI_COMM_WORLD (the process must be an mpirun rank).
Napi::Value mpi_process_group(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double timeout = 1800;
  if (info.Length() > 0 && info[0].IsObject()) {
    Napi::Value t = info[0].As<Napi::Object>().Get("timeoutSeconds");
    if (!t.IsUndefined()) {
      if (!t.IsNumber() || !(t.As<Napi::Number>().DoubleValue() > 0))
        throw Napi::TypeError::New(env, "mpiProcessGroup: timeoutSeconds must be a positive number");
      timeout = t.As<Napi::Number>().DoubleValue();
    }
  }
  const MpiPlugin& pl = mpi_plugin(AddonData::of(env).runtime().addon_dir());
  if (!pl.create) throw Napi::Error::New(env, "mpiProcessGroup: " + pl.error);
  char err[1024] = {0};
  ProcessGroup* g = pl.create(timeout, err, sizeof(err));
  if (!g) throw Napi::Error::New(env, std::string("mpiProcessGroup: ") + err);
  return wrap_process_group(env, std::shared_ptr<ProcessGroup>(g));
}

// mpiAbandon(): this rank fails alone; MPI is not finalised at exit (see the plugin ABI).
Napi::Value mpi_abandon(const Napi::CallbackInfo& info) {
  const MpiPlugin& pl = mpi_plugin(AddonData::of(info.Env()).runtime().addon_dir());
  if (pl.abandon) pl.abandon();
  return info.Env().Undefined();
}

}  // namespace

Napi::Object wrap_process_group(Napi::Env env, std::shared_ptr<ProcessGroup> group) {
  return ProcessGroupWrap::constructor(env)->New({Napi::External<std::shared_ptr<ProcessGroup>>::New(env, &group)});
}

Napi::Object mpi_info(Napi::Env env) {
  const MpiPlugin& pl = mpi_plugin(AddonData::of(env).runtime().addon_dir());
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", pl.create != nullptr);
  o.Set("library", pl.library);
  o.Set("message", pl.error);
  return o;
}

std::shared_ptr<ProcessGroup> unwrap_process_group(Napi::Env env, Napi::Value v, const std::string& where) {
  if (v.IsObject() && v.As<Napi::Object>().InstanceOf(ProcessGroupWrap::constructor(env)->Value()))
    return ProcessGroupWrap::Unwrap(v.As<Napi::Object>())->group();
  throw Napi::TypeError::New(env, where + " must be a ProcessGroup (from mpiProcessGroup())");
}

void register_process_group(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = ProcessGroupWrap::define(env);
  AddonData::of(env).process_group_class()->Reset(cls, 1);
  exports.Set("ProcessGroup", cls);
  exports.Set("mpiProcessGroup", Napi::Function::New(env, mpi_process_group, "mpiProcessGroup"));
  exports.Set("mpiAbandon", Napi::Function::New(env, mpi_abandon, "mpiAbandon"));
}

}  // namespace cn
