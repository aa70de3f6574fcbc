#include "nccl_communicator.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <set>
#include <thread>

#include "../engine/plugin_abi.h"
#include "cuda_backend.h"

namespace cn {
namespace cuda {

namespace {

const NcclApi& nccl_or_fail(const char* purpose) {
  std::string why;
  const NcclApi* api = process_nccl(&why);
  if (!api) fail(purpose, ": NCCL is not available: ", why);
  return *api;
}

void nccl_check(const NcclApi& api, nccl::ncclResult_t r, const char* what) {
  if (r != nccl::ncclSuccess) fail("NCCL: ", what, " failed: ", api.ncclGetErrorString(r));
}

}  // namespace

// ---- replicas of one process ---------------------------------------------------

NcclReplicaTransport::NcclReplicaTransport(const std::vector<CudaBackend*>& backends) {
  api_ = &nccl_or_fail("NCCL replicas");
  CN_CHECK(backends.size() >= 2, "NCCL replicas: needs two or more backends, got ", backends.size());
  std::vector<int> devices;
  for (CudaBackend* b : backends) devices.push_back(b->device_index());
#if !defined(CN_CUDA_EMU)  // the emulator's replicas may share its one device
  CN_CHECK(std::set<int>(devices.begin(), devices.end()).size() == devices.size(),
           "NCCL replicas: each replica needs a GPU of its own (ncclCommInitAll takes distinct devices)");
#endif
  replicas_.resize(backends.size());
  std::vector<nccl::ncclComm_t> comms(backends.size(), nullptr);
  nccl_check(*api_, api_->ncclCommInitAll(comms.data(), static_cast<int>(comms.size()), devices.data()),
             "ncclCommInitAll");
  for (size_t i = 0; i < backends.size(); ++i) {
    Replica& r = replicas_[i];
    r.device = devices[i];
    r.compute = backends[i]->compute_stream();
    r.nccl = comms[i];
  }
  // Streams and events after the communicators, so the destructor can undo a partial construction.
  try {
    for (Replica& r : replicas_) {
      CN_CUDA_CHECK(cudaSetDevice(r.device));
      CN_CUDA_CHECK(cudaStreamCreateWithFlags(&r.comm, cudaStreamNonBlocking));
      CN_CUDA_CHECK(cudaEventCreateWithFlags(&r.compute_ready, cudaEventDisableTiming));
      CN_CUDA_CHECK(cudaEventCreateWithFlags(&r.comm_done, cudaEventDisableTiming));
    }
  } catch (...) {
    release();
    throw;
  }
}

NcclReplicaTransport::~NcclReplicaTransport() { release(); }

void NcclReplicaTransport::release() {
  for (Replica& r : replicas_) {
    cudaSetDevice(r.device);
    if (r.comm) cudaStreamSynchronize(r.comm);
    if (r.nccl) api_->ncclCommDestroy(r.nccl);
    if (r.compute_ready) cudaEventDestroy(r.compute_ready);
    if (r.comm_done) cudaEventDestroy(r.comm_done);
    if (r.comm) cudaStreamDestroy(r.comm);
    r = Replica{};
  }
}

std::string NcclReplicaTransport::name() const { return "nccl " + process_nccl_version(); }

void NcclReplicaTransport::comm_after_compute(Replica& r) {
  CN_CUDA_CHECK(cudaSetDevice(r.device));
  CN_CUDA_CHECK(cudaEventRecord(r.compute_ready, r.compute));
  CN_CUDA_CHECK(cudaStreamWaitEvent(r.comm, r.compute_ready, 0));
}

void NcclReplicaTransport::compute_after_comm(Replica& r) {
  CN_CUDA_CHECK(cudaSetDevice(r.device));
  CN_CUDA_CHECK(cudaEventRecord(r.comm_done, r.comm));
  CN_CUDA_CHECK(cudaStreamWaitEvent(r.compute, r.comm_done, 0));
}

void NcclReplicaTransport::all_reduce_sum_async(int replica, const std::vector<DeviceSpan>& spans) {
  CN_CHECK(replica >= 0 && replica < replicas(), "NCCL replicas: no replica ", replica);
  Replica& r = replicas_[replica];
  comm_after_compute(r);
  // One group: NCCL fuses the bucket's tensors into one launch (no packing copy).
  nccl_check(*api_, api_->ncclGroupStart(), "ncclGroupStart");
  nccl::ncclResult_t first_error = nccl::ncclSuccess;
  for (const DeviceSpan& s : spans) {
    nccl::ncclResult_t e = api_->ncclAllReduce(s.data, s.data, static_cast<size_t>(s.count), nccl::ncclFloat32,
                                               nccl::ncclSum, r.nccl, r.comm);
    if (first_error == nccl::ncclSuccess) first_error = e;
  }
  nccl::ncclResult_t end = api_->ncclGroupEnd();  // always closes the group, even after an error
  nccl_check(*api_, first_error, "ncclAllReduce");
  nccl_check(*api_, end, "ncclGroupEnd (all-reduce)");
}

void NcclReplicaTransport::wait_all(int replica) {
  CN_CHECK(replica >= 0 && replica < replicas(), "NCCL replicas: no replica ", replica);
  compute_after_comm(replicas_[replica]);
}

void NcclReplicaTransport::broadcast_from_first(const std::vector<std::vector<DeviceSpan>>& spans) {
  CN_CHECK(static_cast<int>(spans.size()) == replicas(), "NCCL replicas: broadcast over ", spans.size(),
           " replicas, the communicator has ", replicas());
  for (Replica& r : replicas_) comm_after_compute(r);
  // One thread drives every communicator: NCCL needs them in one group.
  nccl_check(*api_, api_->ncclGroupStart(), "ncclGroupStart");
  nccl::ncclResult_t first_error = nccl::ncclSuccess;
  for (size_t i = 0; i < replicas_.size(); ++i) {
    CN_CHECK(spans[i].size() == spans[0].size(), "NCCL replicas: broadcast of ", spans[0].size(), " tensors but ",
             spans[i].size(), " on replica ", i);
    for (size_t k = 0; k < spans[i].size(); ++k) {
      nccl::ncclResult_t e = api_->ncclBroadcast(spans[i][k].data, spans[i][k].data, static_cast<size_t>(spans[0][k].count),
                                                 nccl::ncclFloat32, 0, replicas_[i].nccl, replicas_[i].comm);
      if (first_error == nccl::ncclSuccess) first_error = e;
    }
  }
  nccl::ncclResult_t end = api_->ncclGroupEnd();
  nccl_check(*api_, first_error, "ncclBroadcast");
  nccl_check(*api_, end, "ncclGroupEnd (broadcast)");
  for (Replica& r : replicas_) compute_after_comm(r);
}

// ---- ranks of several processes ------------------------------------------------

NcclProcessGroup::NcclProcessGroup(int rank, int size, const char* unique_id, int device, double timeout_s)
    : rank_(rank), size_(size), device_(device), timeout_s_(timeout_s) {
  api_ = &nccl_or_fail("NCCL process group");
  CN_CHECK(size >= 1 && rank >= 0 && rank < size, "NCCL process group: rank ", rank, " of ", size, " is not valid");
  CN_CHECK(timeout_s > 0, "NCCL process group: the timeout must be positive, got ", timeout_s);
  CN_CUDA_CHECK(cudaSetDevice(device));
  nccl::ncclUniqueId id;
  std::memcpy(id.internal, unique_id, sizeof(id.internal));
  nccl::ncclResult_t r = api_->ncclCommInitRank(&comm_, size, id, rank);
  if (r != nccl::ncclSuccess)
    fail("NCCL process group: rank ", rank, " of ", size, ": ncclCommInitRank failed: ", api_->ncclGetErrorString(r));
  cudaError_t e = cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking);
  if (e == cudaSuccess) e = cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming);
  if (e != cudaSuccess) {
    release();
    CN_CUDA_CHECK(e);
  }
}

NcclProcessGroup::~NcclProcessGroup() { release(); }

void NcclProcessGroup::release() {
  cudaSetDevice(device_);
  if (stream_) cudaStreamSynchronize(stream_);
  if (comm_) api_->ncclCommDestroy(comm_);
  comm_ = nullptr;
  if (staging_) cudaFree(staging_);
  staging_ = nullptr;
  if (ready_) cudaEventDestroy(ready_);
  ready_ = nullptr;
  if (stream_) cudaStreamDestroy(stream_);
  stream_ = nullptr;
}

std::string NcclProcessGroup::name() const { return "nccl " + process_nccl_version(); }

void NcclProcessGroup::check(nccl::ncclResult_t r, const char* what) {
  if (r == nccl::ncclSuccess) return;
  std::string text = api_->ncclGetErrorString(r);
  api_->ncclCommAbort(comm_);
  comm_ = nullptr;
  fail("NCCL: rank ", rank_, " of ", size_, ": ", what, " failed: ", text);
}

void NcclProcessGroup::finish(const char* what) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s_));
  for (;;) {
    // The communicator's error first: a collective whose peer died may never complete.
    nccl::ncclResult_t async = nccl::ncclSuccess;
    api_->ncclCommGetAsyncError(comm_, &async);
    if (async != nccl::ncclSuccess && async != nccl::ncclInProgress) {
      std::string text = api_->ncclGetErrorString(async);
      api_->ncclCommAbort(comm_);
      comm_ = nullptr;
      fail("NCCL: rank ", rank_, " of ", size_, ": ", what, " failed: ", text,
           " (a peer rank stopped or its connection broke); the communicator was aborted");
    }
    cudaError_t q = cudaStreamQuery(stream_);
    if (q == cudaSuccess) return;
    if (q != cudaErrorNotReady) {
      api_->ncclCommAbort(comm_);
      comm_ = nullptr;
      fail("NCCL: rank ", rank_, " of ", size_, ": ", what, ": CUDA error ", cudaGetErrorString(q));
    }
    if (Clock::now() > deadline) {
      api_->ncclCommAbort(comm_);
      comm_ = nullptr;
      fail("NCCL: rank ", rank_, " of ", size_, ": ", what, " did not complete within ", timeout_s_,
           " s: another rank stopped or stalls (NCCL does not say which); the communicator was aborted");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void NcclProcessGroup::all_reduce_sum(Backend& backend, float* data, int64_t count) {
  CN_CHECK(comm_, "NCCL: rank ", rank_, " of ", size_, ": the communicator was aborted by an earlier failure");
  auto* cb = dynamic_cast<CudaBackend*>(&backend);
  CN_CHECK(cb && cb->device_index() == device_, "NCCL process group: rank ", rank_, " runs on cuda:", device_,
           ", the tensors are on ", backend.name());
  CN_CUDA_CHECK(cudaSetDevice(device_));
  CN_CUDA_CHECK(cudaEventRecord(ready_, cb->compute_stream()));
  CN_CUDA_CHECK(cudaStreamWaitEvent(stream_, ready_, 0));
  check(api_->ncclAllReduce(data, data, static_cast<size_t>(count), nccl::ncclFloat32, nccl::ncclSum, comm_, stream_),
        "ncclAllReduce");
  finish("all-reduce of the gradients");
}

void* NcclProcessGroup::host_staging(size_t bytes) {
  if (bytes > staging_bytes_) {
    if (staging_) cudaFree(staging_);
    staging_ = nullptr;
    staging_bytes_ = 0;
    CN_CUDA_CHECK(cudaMalloc(&staging_, bytes));
    staging_bytes_ = bytes;
  }
  return staging_;
}

void NcclProcessGroup::all_reduce_sum_host(double* data, int64_t count) {
  CN_CHECK(comm_, "NCCL: rank ", rank_, " of ", size_, ": the communicator was aborted by an earlier failure");
  CN_CUDA_CHECK(cudaSetDevice(device_));
  const size_t bytes = static_cast<size_t>(count) * sizeof(double);
  void* dev = host_staging(bytes);
  CN_CUDA_CHECK(cudaMemcpyAsync(dev, data, bytes, cudaMemcpyHostToDevice, stream_));
  check(api_->ncclAllReduce(dev, dev, static_cast<size_t>(count), nccl::ncclFloat64, nccl::ncclSum, comm_, stream_),
        "ncclAllReduce (host values)");
  CN_CUDA_CHECK(cudaMemcpyAsync(data, dev, bytes, cudaMemcpyDeviceToHost, stream_));
  finish("all-reduce of host values");
}

void NcclProcessGroup::broadcast_host(void* data, size_t bytes, int root) {
  CN_CHECK(comm_, "NCCL: rank ", rank_, " of ", size_, ": the communicator was aborted by an earlier failure");
  CN_CHECK(root >= 0 && root < size_, "NCCL process group: broadcast root ", root, " of ", size_);
  CN_CUDA_CHECK(cudaSetDevice(device_));
  void* dev = host_staging(bytes);
  CN_CUDA_CHECK(cudaMemcpyAsync(dev, data, bytes, cudaMemcpyHostToDevice, stream_));
  check(api_->ncclBroadcast(dev, dev, bytes, nccl::ncclUint8, root, comm_, stream_), "ncclBroadcast (host bytes)");
  CN_CUDA_CHECK(cudaMemcpyAsync(data, dev, bytes, cudaMemcpyDeviceToHost, stream_));
  finish("broadcast");
}

void NcclProcessGroup::barrier() {
  double one = 1;
  all_reduce_sum_host(&one, 1);
}

void nccl_unique_id(char* out) {
  const NcclApi& api = nccl_or_fail("NCCL unique id");
  nccl::ncclUniqueId id;
  nccl_check(api, api.ncclGetUniqueId(&id), "ncclGetUniqueId");
  std::memcpy(out, id.internal, sizeof(id.internal));
}

}  // namespace cuda
}  // namespace cn

// ---- plugin entry points (engine/plugin_abi.h), in the GPU and emulator plugins --

namespace {
void copy_error(char* err, size_t err_len, const char* text) {
  if (err && err_len) std::snprintf(err, err_len, "%s", text);
}
}  // namespace

extern "C" {

__attribute__((visibility("default"))) int cornernet_plugin_nccl_unique_id(char* out, char* err, size_t err_len) {
  static_assert(CN_NCCL_UNIQUE_ID_BYTES == cn::nccl::kUniqueIdBytes, "plugin ABI: unique id size");
  try {
    cn::cuda::nccl_unique_id(out);
    return 0;
  } catch (const std::exception& e) {
    copy_error(err, err_len, e.what());
  } catch (...) {
    copy_error(err, err_len, "unknown error making an NCCL unique id");
  }
  return -1;
}

__attribute__((visibility("default"))) cn::ProcessGroup* cornernet_plugin_nccl_process_group(
    int rank, int size, const char* unique_id, int device, double timeout_s, char* err, size_t err_len) {
  try {
    return new cn::cuda::NcclProcessGroup(rank, size, unique_id, device, timeout_s);
  } catch (const std::exception& e) {
    copy_error(err, err_len, e.what());
  } catch (...) {
    copy_error(err, err_len, "unknown error creating the NCCL process group");
  }
  return nullptr;
}

__attribute__((visibility("default"))) cn::ReplicaTransport* cornernet_plugin_nccl_replica_transport(
    cn::Backend* const* backends, int count, char* err, size_t err_len) {
  try {
    std::vector<cn::cuda::CudaBackend*> cuda;
    for (int i = 0; i < count; ++i) {
      auto* b = dynamic_cast<cn::cuda::CudaBackend*>(backends[i]);
      if (!b) cn::fail("NCCL replicas: replica ", i, " is on ", backends[i]->name(), ", not a CUDA device");
      cuda.push_back(b);
    }
    return new cn::cuda::NcclReplicaTransport(cuda);
  } catch (const std::exception& e) {
    copy_error(err, err_len, e.what());
  } catch (...) {
    copy_error(err, err_len, "unknown error creating the NCCL communicators");
  }
  return nullptr;
}

}  // extern "C"
