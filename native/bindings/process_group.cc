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
      throw Napi::TypeError::New(info.Env(), "ProcessGroup: made by mpiProcessGroup() or ncclProcessGroup(), not with new");
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

// The CUDA plugin (or the emulator's) behind backend `spec` ("cuda:N", "cuda-emu:N") and its
// device index. Opening the backend first gives its errors (no plugin, driver or device, an
// index out of range) before NCCL is touched.
const Plugin& nccl_plugin(Napi::Env env, const std::string& spec, const char* where, int* device) {
  AddonData& ad = AddonData::of(env);
  Backend* be;
  try {
    be = &ad.backend(spec);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string(where) + ": " + e.what());
  }
  if (be->device().type != DeviceType::CUDA)
    throw Napi::Error::New(env, std::string(where) + ": backend '" + spec + "' is not a CUDA device (NCCL joins GPUs)");
  *device = be->device().index;
  return ad.runtime().plugin(spec.rfind("cuda-emu", 0) == 0 ? "cuda_emu" : "cuda");
}

// ncclUniqueId(backend) -> Uint8Array of 128 bytes: ncclGetUniqueId through the plugin of
// `backend`. Rank 0 calls it; the launcher (MPI broadcast or the TCP rendezvous) hands the
// bytes to every rank.
Napi::Value nccl_unique_id(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString())
    throw Napi::TypeError::New(env, "ncclUniqueId: expected the backend, e.g. 'cuda:0'");
  int device = 0;
  const Plugin& pl = nccl_plugin(env, info[0].As<Napi::String>().Utf8Value(), "ncclUniqueId", &device);
  auto id = Napi::Uint8Array::New(env, CN_NCCL_UNIQUE_ID_BYTES);
  char err[1024] = {0};
  if (pl.nccl_unique_id(reinterpret_cast<char*>(id.Data()), err, sizeof(err)) != 0)
    throw Napi::Error::New(env, err);
  return id;
}

// ncclCommInitRank on a libuv worker (it waits for every rank to join), then the group to JS.
class NcclGroupWorker : public Napi::AsyncWorker {
 public:
  NcclGroupWorker(Napi::Env env, cn_plugin_nccl_process_group_fn create, int rank, int size, std::vector<char> id,
                  int device, double timeout)
      : Napi::AsyncWorker(env, "ncclProcessGroup"), deferred_(Napi::Promise::Deferred::New(env)), create_(create),
        rank_(rank), size_(size), id_(std::move(id)), device_(device), timeout_(timeout) {}
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    char err[1024] = {0};
    group_.reset(create_(rank_, size_, id_.data(), device_, timeout_, err, sizeof(err)));
    if (!group_) SetError(err);
  }
  void OnOK() override { deferred_.Resolve(wrap_process_group(Env(), group_)); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  cn_plugin_nccl_process_group_fn create_;
  int rank_, size_;
  std::vector<char> id_;
  int device_;
  double timeout_;
  std::shared_ptr<ProcessGroup> group_;
};

// ncclProcessGroup({rank, size, uniqueId, backend, timeoutSeconds}) -> Promise<ProcessGroup>
// over ncclCommInitRank on the device of `backend`; resolves once every rank has joined.
Napi::Value nccl_process_group(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject())
    throw Napi::TypeError::New(env, "ncclProcessGroup: expected {rank, size, uniqueId, backend, timeoutSeconds}");
  Napi::Object o = info[0].As<Napi::Object>();
  auto integer = [&](const char* key) {
    Napi::Value v = o.Get(key);
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0 && d < 1 << 30) || d != std::floor(d))
      throw Napi::TypeError::New(env, std::string("ncclProcessGroup: ") + key + " must be a non-negative integer");
    return static_cast<int>(d);
  };
  const int rank = integer("rank"), size = integer("size");
  if (size < 1 || rank >= size)
    throw Napi::RangeError::New(env, "ncclProcessGroup: rank " + std::to_string(rank) + " of " + std::to_string(size) +
                                         " is not valid");
  Napi::Value idv = o.Get("uniqueId");
  if (!idv.IsTypedArray() || idv.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      idv.As<Napi::Uint8Array>().ElementLength() != CN_NCCL_UNIQUE_ID_BYTES)
    throw Napi::TypeError::New(env, "ncclProcessGroup: uniqueId must be a Uint8Array of " +
                                        std::to_string(CN_NCCL_UNIQUE_ID_BYTES) + " bytes (from ncclUniqueId on rank 0)");
  auto idArray = idv.As<Napi::Uint8Array>();
  std::vector<char> id(idArray.Data(), idArray.Data() + CN_NCCL_UNIQUE_ID_BYTES);
  Napi::Value bv = o.Get("backend");
  if (!bv.IsString()) throw Napi::TypeError::New(env, "ncclProcessGroup: backend must be a string such as 'cuda:0'");
  Napi::Value tv = o.Get("timeoutSeconds");
  if (!tv.IsNumber() || !(tv.As<Napi::Number>().DoubleValue() > 0))
    throw Napi::TypeError::New(env, "ncclProcessGroup: timeoutSeconds must be a positive number");
  int device = 0;
  const Plugin& pl = nccl_plugin(env, bv.As<Napi::String>().Utf8Value(), "ncclProcessGroup", &device);
  auto* w = new NcclGroupWorker(env, pl.nccl_process_group, rank, size, std::move(id), device,
                                tv.As<Napi::Number>().DoubleValue());
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
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
  throw Napi::TypeError::New(env, where + " must be a ProcessGroup (from mpiProcessGroup() or ncclProcessGroup())");
}

void register_process_group(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = ProcessGroupWrap::define(env);
  AddonData::of(env).process_group_class()->Reset(cls, 1);
  exports.Set("ProcessGroup", cls);
  exports.Set("mpiProcessGroup", Napi::Function::New(env, mpi_process_group, "mpiProcessGroup"));
  exports.Set("mpiAbandon", Napi::Function::New(env, mpi_abandon, "mpiAbandon"));
  exports.Set("ncclUniqueId", Napi::Function::New(env, nccl_unique_id, "ncclUniqueId"));
  exports.Set("ncclProcessGroup", Napi::Function::New(env, nccl_process_group, "ncclProcessGroup"));
}

}  // namespace cn
