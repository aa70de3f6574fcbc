#include "cuda_libraries.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace cn {
namespace cuda {

namespace {

struct Symbol {
  const char* name;
  void* slot;  // address of a function pointer
};

void set_slot(void* slot, void* fn) {
  static_assert(sizeof(void*) == sizeof(cudnn::cudnnCreate_fn), "function and data pointers differ in size");
  std::memcpy(slot, &fn, sizeof fn);  // POSIX: dlsym's void* converts to a function pointer
}

// dlopen the first soname that opens, then dlsym every symbol. Never throws.
LoadResult open_library(const std::vector<std::string>& sonames, const std::vector<Symbol>& symbols) {
  LoadResult r;
  std::string tried;
  void* h = nullptr;
  for (const std::string& so : sonames) {
    dlerror();
    h = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h) {
      r.soname = so;
      break;
    }
    const char* e = dlerror();
    tried += (tried.empty() ? "" : "; ") + (e ? std::string(e) : so + ": not found");  // dlerror names the file
  }
  if (!h) {
    r.why_not = sonames.empty() ? std::string("no soname to try") : "not found (tried " + tried + ")";
    return r;
  }
  void* first = nullptr;
  for (const Symbol& s : symbols) {
    dlerror();
    void* p = dlsym(h, s.name);
    if (!p) {
      const char* e = dlerror();
      r.why_not = r.soname + " opened but lacks " + s.name + (e ? std::string(" (") + e + ")" : "") +
                  ": too old, or not the library this build expects";
      for (const Symbol& t : symbols) set_slot(t.slot, nullptr);
      dlclose(h);
      return r;
    }
    set_slot(s.slot, p);
    if (!first) first = p;
  }
  Dl_info info;
  if (first && dladdr(first, &info) && info.dli_fname) r.path = info.dli_fname;
  else r.path = r.soname;
  r.found = true;
  return r;
}

bool env_off(const char* name) {
  const char* v = std::getenv(name);
  return v && (std::strcmp(v, "0") == 0 || std::strcmp(v, "off") == 0 || std::strcmp(v, "false") == 0);
}

// Process-wide: a library is opened once; each backend creates its own handle.
struct Process {
  CudnnApi cudnn;
  CublasApi cublas;
  LoadResult cudnn_load, cublas_load;
  Process() {
#if defined(CN_CUDA_EMU)
    // The emulator's device memory is host memory: NVIDIA's libraries cannot
    // work on it. Tests may name a cuDNN / cuBLAS that computes on host memory
    // (test/native/cuda_check/host_cudnn.cc, host_cublas.cc) to run those paths here.
    const char* emu = " runs on a real GPU, the emulator's device memory is host memory";
    const char* host_cudnn = std::getenv("CORNERNET_EMU_CUDNN");
    if (host_cudnn && *host_cudnn) cudnn_load = load_cudnn({host_cudnn}, &cudnn);
    else cudnn_load.why_not = std::string("not loaded on the CUDA emulator: cuDNN") + emu;
    const char* host_cublas = std::getenv("CORNERNET_EMU_CUBLAS");
    if (host_cublas && *host_cublas) cublas_load = load_cublas({host_cublas}, &cublas);
    else cublas_load.why_not = std::string("not loaded on the CUDA emulator: cuBLAS") + emu;
#else
    if (env_off("CORNERNET_CUDNN")) cudnn_load.why_not = "disabled by CORNERNET_CUDNN=0";
    else cudnn_load = load_cudnn(cudnn_sonames(), &cudnn);
    if (env_off("CORNERNET_CUBLAS")) cublas_load.why_not = "disabled by CORNERNET_CUBLAS=0";
    else cublas_load = load_cublas(cublas_sonames(), &cublas);
#endif
  }
};

const Process& process() {
  static const Process p;  // thread-safe initialisation
  return p;
}

// NCCL on its own: a process that never trains on several GPUs never opens it.
struct ProcessNccl {
  NcclApi api;
  LoadResult load;
  std::string version;
  ProcessNccl() {
    if (env_off("CORNERNET_NCCL")) {
      load.why_not = "disabled by CORNERNET_NCCL=0";
      return;
    }
#if defined(CN_CUDA_EMU)
    // A host-memory stand-in (test/native/cuda_check/host_nccl.cc) runs the
    // NCCL paths on the emulator; NVIDIA's NCCL needs real devices.
    const char* host_nccl = std::getenv("CORNERNET_EMU_NCCL");
    if (host_nccl && *host_nccl) load = load_nccl({host_nccl}, &api);
    else load.why_not = "not loaded on the CUDA emulator: NCCL runs on real GPUs, the emulator's device memory is host memory";
#else
    load = load_nccl(nccl_sonames(), &api);
#endif
    int v = 0;
    if (load.found && api.ncclGetVersion(&v) == nccl::ncclSuccess) version = nccl_version_text(v);
  }
};

const ProcessNccl& process_nccl_state() {
  static const ProcessNccl p;
  return p;
}

}  // namespace

const NcclApi* process_nccl(std::string* why_not) {
  const ProcessNccl& p = process_nccl_state();
  if (!p.load.found && why_not) *why_not = p.load.why_not;
  return p.load.found ? &p.api : nullptr;
}

std::string process_nccl_version() { return process_nccl_state().version; }


const std::vector<std::string>& cudnn_sonames() {
  static const std::vector<std::string> v{"libcudnn.so.9", "libcudnn.so.8"};
  return v;
}

const std::vector<std::string>& cublas_sonames() {
  static const std::vector<std::string> v{"libcublas.so.13", "libcublas.so.12"};
  return v;
}

const std::vector<std::string>& nccl_sonames() {
  static const std::vector<std::string> v{"libnccl.so.2"};
  return v;
}

LoadResult load_cudnn(const std::vector<std::string>& sonames, CudnnApi* api) {
  std::vector<Symbol> syms;
#define CN_CUDNN_SYMBOL(name, ret, params) syms.push_back({#name, &api->name});
  CN_CUDNN_FUNCTIONS(CN_CUDNN_SYMBOL)
#undef CN_CUDNN_SYMBOL
  return open_library(sonames, syms);
}

LoadResult load_cublas(const std::vector<std::string>& sonames, CublasApi* api) {
  std::vector<Symbol> syms;
#define CN_CUBLAS_SYMBOL(name, ret, params) syms.push_back({#name, &api->name});
  CN_CUBLAS_FUNCTIONS(CN_CUBLAS_SYMBOL)
#undef CN_CUBLAS_SYMBOL
  return open_library(sonames, syms);
}

LoadResult load_nccl(const std::vector<std::string>& sonames, NcclApi* api) {
  std::vector<Symbol> syms;
#define CN_NCCL_SYMBOL(name, ret, params) syms.push_back({#name, &api->name});
  CN_NCCL_FUNCTIONS(CN_NCCL_SYMBOL)
#undef CN_NCCL_SYMBOL
  return open_library(sonames, syms);
}

std::string cudnn_version_text(size_t v) {
  // cuDNN 9: major*10000 + minor*100 + patch; cuDNN 8: major*1000 + minor*100 + patch.
  size_t major = v >= 90000 ? v / 10000 : v / 1000;
  size_t minor = v >= 90000 ? v % 10000 / 100 : v % 1000 / 100;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(v % 100);
}

std::string cublas_version_text(int v) {
  return std::to_string(v / 10000) + "." + std::to_string(v % 10000 / 100) + "." + std::to_string(v % 100);
}

std::string nccl_version_text(int v) {
  // nccl.h NCCL_VERSION(X,Y,Z): X*1000 + Y*100 + Z up to 2.8, X*10000 + Y*100 + Z from 2.9 on.
  int major = v >= 10000 ? v / 10000 : v / 1000;
  int minor = v >= 10000 ? v % 10000 / 100 : v % 1000 / 100;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(v % 100);
}

Libraries::Libraries(int device, cudaStream_t stream) : device_name_("cuda:" + std::to_string(device)) {
  info_[Cudnn].name = "cuDNN";
  info_[Cublas].name = "cuBLAS";
  info_[Nccl].name = "NCCL";
#if defined(CN_CUDA_EMU)
  device_name_ = device == 0 ? "cuda-emu" : "cuda-emu:" + std::to_string(device);
#endif
  const Process& p = process();
  // cuDNN: version, handle on this backend's stream, fp32 math only (see conv2d_cudnn.cc).
  BackendLibrary& dn = info_[Cudnn];
  dn.found = p.cudnn_load.found;
  dn.path = p.cudnn_load.path;
  if (!dn.found) {
    dn.message = p.cudnn_load.why_not + "; convolutions use the own kernels";
  } else {
    dn.version = cudnn_version_text(p.cudnn.cudnnGetVersion());
    cudnn::cudnnStatus_t s = p.cudnn.cudnnCreate(&cudnn_handle_);
    if (s == cudnn::CUDNN_STATUS_SUCCESS) s = p.cudnn.cudnnSetStream(cudnn_handle_, stream);
    if (s != cudnn::CUDNN_STATUS_SUCCESS) {
      dn.message = std::string("found, but cudnnCreate/cudnnSetStream failed: ") + p.cudnn.cudnnGetErrorString(s) +
                   "; convolutions use the own kernels";
      if (cudnn_handle_) p.cudnn.cudnnDestroy(cudnn_handle_);
      cudnn_handle_ = nullptr;
    } else {
      cudnn_api_ = &p.cudnn;
      enabled_[Cudnn] = true;
      dn.message = "used for convolutions (algorithm per shape, checked once against the own kernel)";
    }
  }
  // cuBLAS: only needed when cuDNN is not in use (1x1 convolutions as GEMMs).
  BackendLibrary& bl = info_[Cublas];
  bl.found = p.cublas_load.found;
  bl.path = p.cublas_load.path;
  if (!bl.found) {
    bl.message = p.cublas_load.why_not + "; convolutions use the own kernels";
  } else {
    cublas::cublasStatus_t s = p.cublas.cublasCreate_v2(&cublas_handle_);
    if (s == cublas::CUBLAS_STATUS_SUCCESS) {
      int v = 0;
      if (p.cublas.cublasGetVersion_v2(cublas_handle_, &v) == cublas::CUBLAS_STATUS_SUCCESS) bl.version = cublas_version_text(v);
      s = p.cublas.cublasSetStream_v2(cublas_handle_, stream);
    }
    if (s != cublas::CUBLAS_STATUS_SUCCESS) {
      bl.message = std::string("found, but cublasCreate/cublasSetStream failed: ") + p.cublas.cublasGetStatusString(s);
      if (cublas_handle_) p.cublas.cublasDestroy_v2(cublas_handle_);
      cublas_handle_ = nullptr;
    } else {
      cublas_api_ = &p.cublas;
      enabled_[Cublas] = true;
      bl.message = enabled_[Cudnn] ? "loaded; not needed while cuDNN runs the convolutions"
                                   : "used for 1x1 stride-1 convolutions (GEMMs), checked once per shape against the own kernel";
    }
  }
  // NCCL: no handle per backend; communicators are made per trainer (nccl_communicator.cc).
  BackendLibrary& nc = info_[Nccl];
  std::string nccl_why;
  nc.found = process_nccl(&nccl_why) != nullptr;
  enabled_[Nccl] = nc.found;
  if (nc.found) {
    nc.version = process_nccl_version();
    nc.path = process_nccl_state().load.path;
    nc.message = "used for the gradient all-reduce of several GPU replicas or ranks (bucketed, overlapped with backward)";
  } else {
    nc.message = nccl_why + "; several GPU replicas synchronise through host copies";
  }
}

Libraries::~Libraries() {
  ones = Tensor();
  if (cudnn_handle_ && cudnn_api_) cudnn_api_->cudnnDestroy(cudnn_handle_);
  if (cublas_handle_ && cublas_api_) cublas_api_->cublasDestroy_v2(cublas_handle_);
}

void Libraries::disable(Which which, const std::string& why) {
  if (!enabled_[which]) return;
  enabled_[which] = false;
  BackendLibrary& b = info_[which];
  b.message = "disabled: " + why + "; the own kernels run instead";
  std::fprintf(stderr, "cornernet: %s: %s %s\n", device_name_.c_str(), b.name.c_str(), b.message.c_str());
  if (which == Cudnn && enabled_[Cublas])
    info_[Cublas].message = "used for 1x1 stride-1 convolutions (GEMMs) since cuDNN was disabled";
}

std::vector<BackendLibrary> Libraries::status() const {
  std::vector<BackendLibrary> v(info_, info_ + 3);
  for (int i = 0; i < 3; ++i) {
    v[i].enabled = enabled_[i];
    v[i].uses = uses_[i];
  }
  return v;
}

}  // namespace cuda
}  // namespace cn
