#include "grad_buckets.h"

#include "../engine/error.h"

namespace cn {

namespace {
constexpr size_t kNoBucket = static_cast<size_t>(-1);
}

std::vector<GradBucket> pack_grad_buckets(const std::vector<size_t>& order, const std::vector<int64_t>& numel,
                                          size_t cap_bytes) {
  CN_CHECK(cap_bytes >= sizeof(float), "gradient buckets: the bucket size must be at least 4 bytes, got ", cap_bytes);
  std::vector<GradBucket> buckets;
  GradBucket cur;
  size_t cur_bytes = 0;
  for (size_t k : order) {
    CN_CHECK(k < numel.size(), "gradient buckets: entry ", k, " of ", numel.size());
    const size_t bytes = static_cast<size_t>(numel[k]) * sizeof(float);
    if (!cur.entries.empty() && cur_bytes + bytes > cap_bytes) {
      buckets.push_back(std::move(cur));
      cur = GradBucket{};
      cur_bytes = 0;
    }
    cur.entries.push_back(k);
    cur.numel += numel[k];
    cur_bytes += bytes;
  }
  if (!cur.entries.empty()) buckets.push_back(std::move(cur));
  return buckets;
}

std::vector<GradBucket> assign_grad_buckets(const std::vector<int64_t>& numel, const std::vector<bool>& is_param,
                                            size_t cap_bytes) {
  CN_CHECK(numel.size() == is_param.size(), "gradient buckets: ", numel.size(), " sizes but ", is_param.size(),
           " parameter flags");
  return pack_grad_buckets(observed_bucket_order({}, is_param), numel, cap_bytes);
}

std::vector<size_t> observed_bucket_order(const std::vector<size_t>& arrived, const std::vector<bool>& is_param) {
  std::vector<size_t> order;
  std::vector<bool> seen(is_param.size(), false);
  for (size_t k : arrived) {
    CN_CHECK(k < is_param.size() && is_param[k] && !seen[k], "gradient buckets: entry ", k,
             " is not a parameter, or arrived twice");
    seen[k] = true;
    order.push_back(k);
  }
  for (size_t k = is_param.size(); k-- > 0;)
    if (is_param[k] && !seen[k]) order.push_back(k);
  return order;
}

BucketSchedule::BucketSchedule(const std::vector<GradBucket>& buckets, size_t entry_count)
    : bucket_of_(entry_count, kNoBucket), pending_init_(buckets.size()), ready_(entry_count, false) {
  for (size_t b = 0; b < buckets.size(); ++b) {
    for (size_t e : buckets[b].entries) {
      CN_CHECK(e < entry_count && bucket_of_[e] == kNoBucket, "gradient buckets: entry ", e,
               " is out of range or in two buckets");
      bucket_of_[e] = b;
    }
    pending_init_[b] = static_cast<int>(buckets[b].entries.size());
  }
  reset();
}

void BucketSchedule::reset() {
  pending_ = pending_init_;
  ready_.assign(ready_.size(), false);
  arrived_.clear();
  next_ = 0;
  launched_early_ = 0;
}

std::vector<size_t> BucketSchedule::mark_ready(size_t entry) {
  CN_CHECK(entry < bucket_of_.size() && bucket_of_[entry] != kNoBucket, "gradient buckets: entry ", entry,
           " is not a bucketed parameter");
  // The trainer's models compute each parameter's gradient once per backward; a
  // second one would arrive after its bucket may already be on its way.
  CN_CHECK(!ready_[entry], "gradient buckets: the gradient of entry ", entry,
           " was produced twice in one backward; bucketed all-reduce needs it once per step");
  ready_[entry] = true;
  arrived_.push_back(entry);
  --pending_[bucket_of_[entry]];
  std::vector<size_t> launch;
  while (next_ < pending_.size() && pending_[next_] == 0) launch.push_back(next_++);
  launched_early_ += static_cast<int>(launch.size());
  return launch;
}

std::vector<size_t> BucketSchedule::launch_remaining() {
  std::vector<size_t> launch;
  while (next_ < pending_.size()) launch.push_back(next_++);
  return launch;
}

}  // namespace cn
