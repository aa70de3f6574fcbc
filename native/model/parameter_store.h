// Every named tensor of a model, in the reference's state_dict order: trainable
// parameters, BN running statistics, and BN's num_batches_tracked counters. The
// store knows each entry's shape and initialisation rule from construction, but
// allocates device memory only when asked (materialize / load), so a model can be
// built, listed and counted without holding its weights.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <string>

#include "../engine/backend.h"

namespace cn {

enum class EntryKind { Parameter, Buffer, Counter };

// How a tensor starts out (the reference's init_weights, see native/model/README.md).
struct InitRule {
  enum Kind { Zeros, Ones, Constant, Uniform, Normal } kind = Zeros;
  float a = 0;  // Constant: the value; Uniform: bound (U(-a, a)); Normal: std (mean 0)
};

struct Entry {
  size_t index = 0;  // position in the store
  std::string name;
  Shape shape;
  EntryKind kind = EntryKind::Parameter;
  InitRule init;
  Tensor value;             // on the model's device; undefined until materialised (not for counters)
  int64_t count = 0;        // Counter entries (num_batches_tracked)
  Tensor grad;              // Parameter entries, allocated at the first backward
  bool grad_valid = false;  // false: grad holds nothing (never computed, or zero_grad since)
};

class ParameterStore {
 public:
  ParameterStore();
  // Entries are returned by reference and stay valid (deque: no relocation).
  Entry& add(const std::string& name, Shape shape, EntryKind kind, InitRule init = {});
  std::deque<Entry>& entries() { return entries_; }
  const std::deque<Entry>& entries() const { return entries_; }
  Entry* find(const std::string& name);

  int64_t parameter_count() const;  // elements of trainable parameters
  bool materialized() const { return materialized_; }
  // Allocates and initialises every entry not yet holding a value. Each entry
  // draws from its own stream derived from (seed, position), so its initial
  // value does not depend on which other entries were loaded from elsewhere.
  void materialize(Backend& be, uint64_t seed);
  void zero_grad();

  // Stores a freshly computed gradient: copied over the entry's gradient after a
  // zero_grad, added to it otherwise (gradients accumulate across backward calls).
  // Then tells the gradient-ready hook, if one is set.
  void accumulate_grad(Backend& be, Entry& e, const Tensor& g);
  // Called with an entry's index each time accumulate_grad has queued its
  // gradient's last write. The model's layers compute each parameter's gradient
  // once per backward, so during a training step this says "entry i's gradient
  // is final": the bucketed all-reduce (train/bucketed_communicator.h) starts a
  // bucket's reduction from it while backward goes on. Empty: no hook.
  void set_grad_ready_hook(std::function<void(size_t)> hook) { grad_ready_ = std::move(hook); }
  bool has_grad_ready_hook() const { return static_cast<bool>(grad_ready_); }
  // Where a backward op may write the gradient of `e` directly: the entry's own
  // buffer when it holds nothing yet (saves a copy), else a scratch tensor that
  // the caller then passes to accumulate_grad.
  Tensor grad_target(Backend& be, Entry& e);

  // Names the contents of every value in the store: a new number, unique in the
  // process, each time values change. Caches derived from the values (eval-time
  // batch-norm folding, layers.h) stay valid while it stays the same. Whatever
  // writes entry values calls mark_changed(): materialize, loading a state dict,
  // the optimizer step, the replica broadcast and buffer restores (native/train),
  // and a training-mode BN forward (running statistics).
  uint64_t version() const { return version_; }
  void mark_changed();

 private:
  std::deque<Entry> entries_;
  bool materialized_ = false;
  uint64_t version_;
  std::function<void(size_t)> grad_ready_;
};

}  // namespace cn
