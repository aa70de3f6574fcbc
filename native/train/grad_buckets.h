// Gradient buckets for the all-reduce of data-parallel replicas, as PyTorch's
// DistributedDataParallel forms them: first the parameters in reverse
// registration order (backward produces the last layers' gradients first),
// packed greedily into buckets of at most `cap_bytes` (a parameter larger than
// the cap gets a bucket of its own). Registration order is only a guess at
// backward's order (CornerNet's head registers its branches in another order
// than backward reaches them), so after the first step the buckets are rebuilt
// from the order the gradients actually arrived in, as DDP does. A bucket's
// all-reduce can start as soon as every gradient in it is final, while
// backward still runs on the earlier layers.
//
// Collectives of one communicator match across replicas by their order, so a
// bucket is launched only when it is complete AND every earlier bucket has been
// launched: the launch order is 0, 1, 2, ... on every replica whatever order
// the gradients arrive in. Buckets whose gradients never arrived (a parameter no
// gradient reached on this replica) are launched at the end of backward.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace cn {

struct GradBucket {
  std::vector<size_t> entries;  // store entry indices, in the order they were packed
  int64_t numel = 0;            // floats in the bucket
};

// numel[i]: elements of entry i; is_param[i]: entry i is a trainable parameter
// (only those are packed). Deterministic: depends on sizes, order and cap only.
std::vector<GradBucket> assign_grad_buckets(const std::vector<int64_t>& numel, const std::vector<bool>& is_param,
                                            size_t cap_bytes);
// The same packing over the entries in `order` (each a parameter, once).
std::vector<GradBucket> pack_grad_buckets(const std::vector<size_t>& order, const std::vector<int64_t>& numel,
                                          size_t cap_bytes);
// The order of the rebuild: the parameters in the order their gradients became
// final in a step (`arrived`), then those that got none, in reverse registration order.
std::vector<size_t> observed_bucket_order(const std::vector<size_t>& arrived, const std::vector<bool>& is_param);

// One replica's progress through one backward pass.
class BucketSchedule {
 public:
  BucketSchedule() = default;
  BucketSchedule(const std::vector<GradBucket>& buckets, size_t entry_count);

  // A new backward: no gradient final, no bucket launched.
  void reset();
  // Entry `entry`'s gradient is final. Returns the buckets to launch now, in
  // order (possibly none; possibly several when this completed the next bucket
  // in line and later ones were already complete). Throws if the entry was
  // already reported in this pass or belongs to no bucket.
  std::vector<size_t> mark_ready(size_t entry);
  // The buckets not launched yet, in order (end of backward); marks them launched.
  std::vector<size_t> launch_remaining();
  // Buckets launched by mark_ready in this pass (that is, before the end of backward).
  int launched_early() const { return launched_early_; }
  // The entries reported by mark_ready in this pass, in order.
  const std::vector<size_t>& arrived() const { return arrived_; }

 private:
  std::vector<size_t> bucket_of_;  // per entry; npos when not in a bucket
  std::vector<int> pending_init_;  // per bucket: entries it holds
  std::vector<int> pending_;       // per bucket: entries not yet final
  std::vector<bool> ready_;        // per entry, this pass
  std::vector<size_t> arrived_;    // this pass
  size_t next_ = 0;                // first bucket not launched
  int launched_early_ = 0;
};

}  // namespace cn
