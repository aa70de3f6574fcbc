// NCCL, for data parallelism on GPUs (the library by dlopen: cuda_libraries.h,
// nccl_api.h). Two objects, both handed to the addon through the plugin ABI
// (engine/plugin_abi.h, entry points at the end of nccl_communicator.cc):
//
// - NcclReplicaTransport: the replicas of one process, one GPU each
//   (`--device cuda --replicas 8`), communicators from ncclCommInitAll. Each
//   replica has a communication stream; an all-reduce waits for an event of the
//   replica's compute stream, runs on the communication stream, and the compute
//   stream waits for the last one (train/bucketed_communicator.h drives it).
// - NcclProcessGroup: one rank of several processes (train/process_group.h),
//   ncclCommInitRank from a unique id that the launcher (mpirun / torchrun-style
//   rendezvous) carried to every rank. Every collective is bounded by a timeout:
//   the host polls the stream and ncclCommGetAsyncError until a deadline, then
//   aborts the communicator and throws naming the rank.
//
// On the CUDA emulator the same code runs against a host-memory NCCL that tests
// name with CORNERNET_EMU_NCCL (test/native/cuda_check/host_nccl.cc).
#pragma once
#include <string>
#include <vector>

#include "../train/process_group.h"
#include "../train/replica_transport.h"
#include "cuda_libraries.h"

namespace cn {
namespace cuda {

class CudaBackend;

class NcclReplicaTransport : public ReplicaTransport {
 public:
  // One backend per replica, each on its own device. Throws when NCCL is not
  // loaded (saying why) or a call fails.
  explicit NcclReplicaTransport(const std::vector<CudaBackend*>& backends);
  ~NcclReplicaTransport() override;
  NcclReplicaTransport(const NcclReplicaTransport&) = delete;
  NcclReplicaTransport& operator=(const NcclReplicaTransport&) = delete;

  std::string name() const override;
  int replicas() const override { return static_cast<int>(replicas_.size()); }
  void all_reduce_sum_async(int replica, const std::vector<DeviceSpan>& spans) override;
  void wait_all(int replica) override;
  void broadcast_from_first(const std::vector<std::vector<DeviceSpan>>& spans) override;

 private:
  struct Replica {
    int device = 0;
    cudaStream_t compute = nullptr;  // the backend's stream
    cudaStream_t comm = nullptr;     // ours: NCCL's kernels
    cudaEvent_t compute_ready = nullptr;
    cudaEvent_t comm_done = nullptr;
    nccl::ncclComm_t nccl = nullptr;
  };
  // The communication stream of `r` waits for the work queued on its compute stream.
  void comm_after_compute(Replica& r);
  void compute_after_comm(Replica& r);
  void release();  // communicators, streams, events (destructor, failed constructor)
  const NcclApi* api_ = nullptr;
  std::vector<Replica> replicas_;
};

class NcclProcessGroup : public ProcessGroup {
 public:
  // Blocks until every rank has called it with the same id (ncclCommInitRank).
  NcclProcessGroup(int rank, int size, const char* unique_id, int device, double timeout_s);
  ~NcclProcessGroup() override;
  NcclProcessGroup(const NcclProcessGroup&) = delete;
  NcclProcessGroup& operator=(const NcclProcessGroup&) = delete;

  std::string name() const override;
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void all_reduce_sum(Backend& backend, float* data, int64_t count) override;
  void all_reduce_sum_host(double* data, int64_t count) override;
  void broadcast_host(void* data, size_t bytes, int root) override;
  void barrier() override;

 private:
  // Waits for the work queued on stream_ with the deadline; on an NCCL error or
  // the timeout, aborts the communicator and throws naming the rank and `what`.
  void finish(const char* what);
  void check(nccl::ncclResult_t r, const char* what);
  void* host_staging(size_t bytes);  // device buffer for the host-memory collectives
  void release();                    // communicator, stream, event, staging (destructor, failed constructor)

  const NcclApi* api_ = nullptr;
  int rank_, size_, device_;
  double timeout_s_;
  nccl::ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t ready_ = nullptr;
  void* staging_ = nullptr;
  size_t staging_bytes_ = 0;
};

// ncclGetUniqueId's 128 bytes into out; throws when NCCL is not loaded.
void nccl_unique_id(char* out);

}  // namespace cuda
}  // namespace cn
