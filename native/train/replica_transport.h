// What carries gradients between the replicas of one process for the bucketed
// all-reduce (bucketed_communicator.h): NCCL over the GPUs of this machine
// (native/cuda/nccl_communicator.cc, handed out by the CUDA plugin through
// engine/plugin_abi.h). Header-only: an object made in the plugin is used by
// the addon through this vtable.
//
// Every call is made for the replicas' device memory and is asynchronous with
// respect to the host: it is ordered after the work already queued on the
// replica's backend (its compute stream) and returns without waiting. NCCL
// matches collectives across replicas by their order, so every replica calls
// all_reduce_sum_async for the same buckets in the same order.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cn {

struct DeviceSpan {
  float* data = nullptr;  // device memory of the replica's backend
  int64_t count = 0;      // floats
};

class ReplicaTransport {
 public:
  virtual ~ReplicaTransport() = default;
  // What carries the bytes and its version, e.g. "nccl 2.21.5".
  virtual std::string name() const = 0;
  virtual int replicas() const = 0;
  // Called from replica `replica`'s thread: each span replaced by its sum over
  // all replicas (in place), after the work queued so far on the replica's
  // compute stream, on a communication stream (so backward goes on meanwhile).
  virtual void all_reduce_sum_async(int replica, const std::vector<DeviceSpan>& spans) = 0;
  // Called from replica `replica`'s thread: the replica's later work waits for
  // every reduction it enqueued (an event, not a host synchronisation).
  virtual void wait_all(int replica) = 0;
  // Called from one thread for all replicas: spans[r][k] = spans[0][k] for
  // every r (equal counts), after the work queued on each replica's compute
  // stream; later work on each waits for it.
  virtual void broadcast_from_first(const std::vector<std::vector<DeviceSpan>>& spans) = 0;
};

}  // namespace cn
