// The training step of a whole (possibly data-parallel) model: N replicas, each
// on its own backend, each taking a slice of the batch; gradients summed through
// a Communicator, checked, clipped, applied by Adam to replica 0 and broadcast.
// With a ProcessGroup of several ranks (processes), each rank's sum is then
// summed over the ranks too, and every rank applies the same update.
// Nothing here knows about threads or JavaScript: bindings/trainer.cc runs it on
// a dedicated thread.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "adam.h"
#include "communicator.h"
#include "process_group.h"
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

// Why a rank asked the group to stop (Trainer::request_stop), as bits.
enum StopRequest : int { kStopInterrupted = 1, kStopTimeLimit = 2 };

struct StepReport {
  std::vector<CornerHeadLosses> levels;  // mean over replicas (and ranks), per head level
  double total = 0;
  double grad_norm = 0;  // of the averaged gradient, before clipping
  bool finite = true;
  std::string problem;  // when !finite: which term, e.g. "det (stack 1)"
  SyncStats sync;       // how the replicas' gradients were combined
  // StopRequest bits asked by any rank before this step: every rank sees the same
  // value, so all of them stop after the same step.
  int stop = 0;
};

class Trainer {
 public:
  // One backend per replica (the same CPU backend may serve several replicas).
  // CPU replicas each get a backend of their own over a pool with their share
  // of `pool`'s threads, and run side by side (give_cpu_replicas_own_threads).
  // `comm` combines the replicas' gradients; null: InProcessCommunicator.
  // `group`: the ranks this process trains with (none, or size 1: alone).
  Trainer(const std::vector<Backend*>& backends, const TrainerOptions& o, ThreadPool& pool,
          std::unique_ptr<Communicator> comm = nullptr, std::shared_ptr<ProcessGroup> group = nullptr);

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
  // Rank 0's weights, BN statistics, counters and optimizer state copied to every
  // rank (then to every replica): at the start of a multi-rank run and after rank 0
  // loaded a checkpoint. Every rank must call it. Alone, it does nothing.
  void broadcast_from_root();
  // Any thread: the next step tells every rank that this one wants to stop
  // (StopRequest bits); they all see it in that step's report.
  void request_stop(int why) { stop_request_.fetch_or(why); }
  ProcessGroup* group() const { return group_.get(); }

 private:
  std::vector<Backend*> backends_;
  // CPU replicas' own pools and backends (empty otherwise); before models_, so
  // they outlive the models.
  std::vector<std::unique_ptr<ThreadPool>> replica_pools_;
  std::vector<std::unique_ptr<Backend>> replica_backends_;
  std::vector<std::unique_ptr<CornerNet>> models_;
  TrainerOptions opts_;
  ThreadPool& pool_;
  Adam adam_;
  std::unique_ptr<Communicator> comm_;
  std::shared_ptr<ProcessGroup> group_;  // null or size 1: this process alone
  std::atomic<int> stop_request_{0};
  Tensor bucket_;  // replica 0's backend: gradients packed for the rank all-reduce
  bool multi_rank() const { return group_ && group_->size() > 1; }
  // Replica 0's summed gradients, summed over the ranks (in buckets).
  void all_reduce_gradients();
  // Per replica, BN statistics as they were before the step in flight: a step
  // with a non-finite loss puts them back, so it changes nothing at all.
  std::vector<std::vector<Tensor>> saved_buffers_;
  std::vector<std::vector<int64_t>> saved_counters_;
  void save_buffers();
  void restore_buffers();
  void give_cpu_replicas_own_threads(ThreadPool& pool);
};

}  // namespace cn
