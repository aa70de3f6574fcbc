// Data-parallel replicas of one process on several devices, synchronised like
// PyTorch's DistributedDataParallel: each replica's gradients are summed over all
// replicas by a ReplicaTransport (NCCL) bucket by bucket WHILE backward runs.
// The parameter store's gradient-ready hook (model/parameter_store.h) reports
// each final gradient; when a bucket (grad_buckets.h: reverse registration
// order in the first step, then rebuilt once from the order replica 0's
// gradients arrived in, identical on every replica) is complete and every
// earlier one is launched, its all-reduce is enqueued on the replica's
// communication stream behind an event of its compute stream. At the end of
// backward the buckets still waiting (gradients that never came: zeros) are
// launched, and the compute stream waits for the last one; the optimizer then
// runs on replica 0's summed gradients, as with InProcessCommunicator, and the
// new weights are broadcast by the transport.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "communicator.h"
#include "grad_buckets.h"
#include "replica_transport.h"

namespace cn {

class BucketedCommunicator : public Communicator {
 public:
  // DDP's default bucket size: 25 MiB.
  static constexpr size_t kDefaultBucketBytes = size_t(25) << 20;

  BucketedCommunicator(std::unique_ptr<ReplicaTransport> transport, size_t bucket_bytes);
  std::string name() const override;

  void begin_backward(int replica, ParameterStore& store, Backend& be) override;
  void end_backward(int replica, ParameterStore& store, Backend& be) override;
  // The sums are already in every replica; this makes replica 0's gradient
  // flags say "has a gradient" wherever some replica had one (a replica without
  // one contributed zeros), as InProcessCommunicator's reduce_sum does. After
  // the first step, with every replica between steps, it rebuilds the buckets
  // in the order the gradients arrived.
  void reduce_sum(const std::vector<ParameterStore*>& stores, const std::vector<Backend*>& backends) override;
  void broadcast_parameters(const std::vector<ParameterStore*>& stores,
                            const std::vector<Backend*>& backends) override;
  SyncStats last_step() const override;

  const std::vector<GradBucket>& buckets() const { return buckets_; }

 private:
  void launch(int replica, ParameterStore& store, Backend& be, size_t bucket);

  std::unique_ptr<ReplicaTransport> transport_;
  size_t bucket_bytes_;
  std::once_flag planned_;
  std::vector<int64_t> numel_;  // per store entry
  std::vector<bool> is_param_;  // per store entry
  bool rebuilt_ = false;        // buckets follow the observed arrival order
  std::vector<GradBucket> buckets_;
  std::vector<BucketSchedule> schedules_;  // per replica, touched only by its thread during backward
  SyncStats last_;                         // of the last reduce_sum
};

}  // namespace cn
