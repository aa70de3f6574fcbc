// The training step of a whole (possibly data-parallel) model: N replicas, each
// on its own backend, each taking a slice of the batch; gradients summed through
// a Communicator, checked, clipped, applied by Adam to replica 0 and broadcast.
// Nothing here knows about threads or JavaScript: bindings/trainer.cc runs it on
// a dedicated thread.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "adam.h"
#include "communicator.h"
#include "train_step.h"

namespace cn {

struct TrainerOptions {
  CornerNetConfig model;
  AdamConfig adam;
  CornerHeadLossWeights loss;
  uint64_t seed = 0;  // parameter initialisation
  // BN in eval mode during training (running statistics, no updates): for
  // fine-tuning with tiny batches, and for comparing replica layouts exactly.
  bool frozen_bn = false;
};

struct TrainBatch {
  Tensor images;  // host, [N, 3, H, W], N divisible by the replica count
  std::vector<std::vector<GtBox>> boxes;
  float lr = 0;
};

struct StepReport {
  std::vector<CornerHeadLosses> levels;  // mean over replicas, per head level
  double total = 0;
  double grad_norm = 0;  // of the averaged gradient, before clipping
  bool finite = true;
  std::string problem;  // when !finite: which term, e.g. "det (stack 1)"
  SyncStats sync;       // how the replicas' gradients were combined
};

class Trainer {
 public:
  // One backend per replica (the same CPU backend may serve several replicas).
  // `comm` combines the replicas' gradients; null: InProcessCommunicator.
  Trainer(const std::vector<Backend*>& backends, const TrainerOptions& o, ThreadPool& pool,
          std::unique_ptr<Communicator> comm = nullptr);

  // Forward, losses, backward on every replica, then (if every loss and the
  // gradient norm are finite) the update. A non-finite step changes no weight.
  StepReport step(const TrainBatch& batch);

  int replicas() const { return static_cast<int>(models_.size()); }
  CornerNet& model(int r = 0) { return *models_.at(r); }
  Backend& backend(int r = 0) { return *backends_.at(r); }
  Adam& optimizer() { return adam_; }
  const Communicator& communicator() const { return *comm_; }
  // After replica 0's weights were replaced (checkpoint load): copy them, and its
  // BN statistics, to every replica.
  void sync_replicas_from_root();

 private:
  std::vector<Backend*> backends_;
  std::vector<std::unique_ptr<CornerNet>> models_;
  TrainerOptions opts_;
  ThreadPool& pool_;
  Adam adam_;
  std::unique_ptr<Communicator> comm_;
  // Per replica, BN statistics as they were before the step in flight: a step
  // with a non-finite loss puts them back, so it changes nothing at all.
  std::vector<std::vector<Tensor>> saved_buffers_;
  std::vector<std::vector<int64_t>> saved_counters_;
  void save_buffers();
  void restore_buffers();
};

}  // namespace cn
