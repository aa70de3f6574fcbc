#include "bucketed_communicator.h"

#include "../engine/error.h"

namespace cn {

BucketedCommunicator::BucketedCommunicator(std::unique_ptr<ReplicaTransport> transport, size_t bucket_bytes)
    : transport_(std::move(transport)), bucket_bytes_(bucket_bytes) {
  CN_CHECK(transport_ && transport_->replicas() >= 2, "bucketed all-reduce: needs a transport over two or more replicas");
  schedules_.resize(transport_->replicas());
}

std::string BucketedCommunicator::name() const {
  return "bucketed all-reduce over " + transport_->name() + " (" + std::to_string(bucket_bytes_ >> 10) +
         " KiB buckets, overlapped with backward)";
}

void BucketedCommunicator::begin_backward(int replica, ParameterStore& store, Backend& be) {
  CN_CHECK(replica >= 0 && replica < transport_->replicas(), "bucketed all-reduce: replica ", replica,
           " of a transport over ", transport_->replicas());
  std::call_once(planned_, [&] {
    for (const Entry& e : store.entries()) {
      numel_.push_back(shape_numel(e.shape));
      is_param_.push_back(e.kind == EntryKind::Parameter);
    }
    buckets_ = assign_grad_buckets(numel_, is_param_, bucket_bytes_);
    for (auto& s : schedules_) s = BucketSchedule(buckets_, numel_.size());
  });
  BucketSchedule& sched = schedules_[replica];
  sched.reset();
  store.set_grad_ready_hook([this, replica, &store, &be, &sched](size_t entry) {
    for (size_t b : sched.mark_ready(entry)) launch(replica, store, be, b);
  });
}

void BucketedCommunicator::launch(int replica, ParameterStore& store, Backend& be, size_t bucket) {
  std::vector<DeviceSpan> spans;
  for (size_t i : buckets_[bucket].entries) {
    Entry& e = store.entries()[i];
    // No gradient on this replica (none reached the parameter): it contributes zeros.
    if (!e.grad_valid) e.grad = be.zeros(e.shape);
    spans.push_back(DeviceSpan{e.grad.data(), e.grad.numel()});
  }
  transport_->all_reduce_sum_async(replica, spans);
}

void BucketedCommunicator::end_backward(int replica, ParameterStore& store, Backend& be) {
  store.set_grad_ready_hook(nullptr);
  for (size_t b : schedules_[replica].launch_remaining()) launch(replica, store, be, b);
  transport_->wait_all(replica);
}

void BucketedCommunicator::reduce_sum(const std::vector<ParameterStore*>& stores, const std::vector<Backend*>&) {
  CN_CHECK(static_cast<int>(stores.size()) == transport_->replicas(), "bucketed all-reduce: ", stores.size(),
           " replicas for a transport over ", transport_->replicas());
  auto& e0 = stores[0]->entries();
  for (size_t i = 0; i < e0.size(); ++i) {
    if (e0[i].kind != EntryKind::Parameter) continue;
    for (size_t r = 1; r < stores.size(); ++r) e0[i].grad_valid = e0[i].grad_valid || stores[r]->entries()[i].grad_valid;
  }
  last_ = SyncStats{static_cast<int>(buckets_.size()), schedules_[0].launched_early()};
  // Every replica runs the same code, so replica 0's arrival order is everyone's.
  // Rebuilt here, on one thread between steps: nothing is being launched.
  if (!rebuilt_ && !numel_.empty()) {
    buckets_ = pack_grad_buckets(observed_bucket_order(schedules_[0].arrived(), is_param_), numel_, bucket_bytes_);
    for (auto& s : schedules_) s = BucketSchedule(buckets_, numel_.size());
    rebuilt_ = true;
  }
}

void BucketedCommunicator::broadcast_parameters(const std::vector<ParameterStore*>& stores,
                                                const std::vector<Backend*>&) {
  std::vector<std::vector<DeviceSpan>> spans(stores.size());
  for (size_t r = 0; r < stores.size(); ++r)
    for (Entry& e : stores[r]->entries())
      if (e.kind == EntryKind::Parameter) spans[r].push_back(DeviceSpan{e.value.data(), e.value.numel()});
  transport_->broadcast_from_first(spans);
}

SyncStats BucketedCommunicator::last_step() const { return last_; }

}  // namespace cn
