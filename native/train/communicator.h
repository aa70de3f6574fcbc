// How data-parallel replicas agree on one update. After every replica's backward,
// reduce_sum leaves the sum of all replicas' gradients in replica 0 (the optimizer
// divides by the replica count and updates replica 0), then broadcast_parameters
// copies the new weights to the others: the same weights DDP's all-reduce gives.
// BN running statistics are not communicated (no SyncBN, as in the reference).
// InProcessCommunicator (CPU replicas, or several devices driven from one process
// through host copies) does it all in reduce_sum after every backward;
// BucketedCommunicator (bucketed_communicator.h: NCCL between GPUs) starts the
// sums during backward, through begin_backward / end_backward.
#pragma once
#include <string>
#include <vector>

#include "../model/parameter_store.h"

namespace cn {

// How the last step's gradients were synchronised (StepReport).
struct SyncStats {
  int buckets = 0;                   // all-reduce buckets per replica (0: not bucketed)
  int launched_during_backward = 0;  // of those, started before replica 0's backward ended
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::string name() const = 0;
  // On replica `replica`'s thread, around its forward + backward (after zero_grad).
  virtual void begin_backward(int /*replica*/, ParameterStore& /*store*/, Backend& /*be*/) {}
  virtual void end_backward(int /*replica*/, ParameterStore& /*store*/, Backend& /*be*/) {}
  // stores[r] and backends[r] belong to replica r; every store has the same entries.
  virtual void reduce_sum(const std::vector<ParameterStore*>& stores, const std::vector<Backend*>& backends) = 0;
  // Copies replica 0's parameter values (not BN statistics) to the others.
  virtual void broadcast_parameters(const std::vector<ParameterStore*>& stores,
                                    const std::vector<Backend*>& backends) = 0;
  virtual SyncStats last_step() const { return {}; }
};

class InProcessCommunicator : public Communicator {
 public:
  std::string name() const override { return "in-process"; }
  void reduce_sum(const std::vector<ParameterStore*>& stores, const std::vector<Backend*>& backends) override;
  void broadcast_parameters(const std::vector<ParameterStore*>& stores,
                            const std::vector<Backend*>& backends) override;
};

}  // namespace cn
