// How data-parallel replicas agree on one update. After every replica's backward,
// reduce_sum leaves the sum of all replicas' gradients in replica 0 (the optimizer
// divides by the replica count and updates replica 0), then broadcast_parameters
// copies the new weights to the others: the same weights DDP's all-reduce gives.
// BN running statistics are not communicated (no SyncBN, as in the reference).
// In-process (CPU replicas, or several devices driven from one process through
// host copies) here; NCCL comes with the CUDA trainer.
#pragma once
#include <string>
#include <vector>

#include "../model/parameter_store.h"

namespace cn {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::string name() const = 0;
  // stores[r] and backends[r] belong to replica r; every store has the same entries.
  virtual void reduce_sum(const std::vector<ParameterStore*>& stores, const std::vector<Backend*>& backends) = 0;
  // Copies replica 0's parameter values (not BN statistics) to the others.
  virtual void broadcast_parameters(const std::vector<ParameterStore*>& stores,
                                    const std::vector<Backend*>& backends) = 0;
};

class InProcessCommunicator : public Communicator {
 public:
  std::string name() const override { return "in-process"; }
  void reduce_sum(const std::vector<ParameterStore*>& stores, const std::vector<Backend*>& backends) override;
  void broadcast_parameters(const std::vector<ParameterStore*>& stores,
                            const std::vector<Backend*>& backends) override;
};

}  // namespace cn
