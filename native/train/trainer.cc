#include "trainer.h"

#include <cmath>
#include <exception>
#include <thread>

#include "../cpu/cpu_backend.h"

namespace cn {

Trainer::Trainer(const std::vector<Backend*>& backends, const TrainerOptions& o, ThreadPool& pool,
                 std::unique_ptr<Communicator> comm, std::shared_ptr<ProcessGroup> group)
    : backends_(backends), opts_(o), pool_(pool), adam_(o.adam), comm_(std::move(comm)), group_(std::move(group)) {
  if (!comm_) comm_.reset(new InProcessCommunicator());
  CN_CHECK(!backends.empty(), "trainer: at least one replica is needed");
  o.model.validate();
  give_cpu_replicas_own_threads(pool);
  for (size_t r = 0; r < backends_.size(); ++r) {
    models_.emplace_back(new CornerNet(o.model));
    // The same seed everywhere: replicas start identical, as DDP's initial broadcast makes them.
    models_.back()->store().materialize(*backends_[r], o.seed);
  }
}

// CPU replicas run side by side, each with its share of the threads, rather
// than taking turns in the one pool: a small model's step is thousands of short
// parallel regions and gains little from a second thread (shapes-tiny, batch 8,
// 2 cores: 50 images/s with 2 threads in one step; two single-thread
// processes side by side, 35 each). The results do not depend on the thread
// counts (the kernels' sums have a fixed order), only the speed does.
void Trainer::give_cpu_replicas_own_threads(ThreadPool& pool) {
  const int R = static_cast<int>(backends_.size());
  if (R < 2) return;
  std::vector<CpuBackend*> cpu;
  for (Backend* b : backends_) {
    auto* c = dynamic_cast<CpuBackend*>(b);
    if (!c) return;
    cpu.push_back(c);
  }
  const int threads = pool.num_threads();
  for (int r = 0; r < R; ++r) {
    const int share = std::max(1, threads / R + (r < threads % R ? 1 : 0));
    replica_pools_.emplace_back(new ThreadPool(share));
    replica_backends_.emplace_back(new CpuBackend(*replica_pools_.back(), cpu[r]->isa()));
    backends_[r] = replica_backends_.back().get();
  }
}

void Trainer::sync_replicas_from_root() {
  std::vector<ParameterStore*> stores;
  for (auto& m : models_) stores.push_back(&m->store());
  comm_->broadcast_parameters(stores, backends_);
  // Buffers (BN running statistics) and counters too: a loaded checkpoint is one model.
  auto& e0 = models_[0]->store().entries();
  for (size_t r = 1; r < models_.size(); ++r) {
    auto& er = models_[r]->store().entries();
    for (size_t i = 0; i < e0.size(); ++i) {
      if (e0[i].kind == EntryKind::Buffer) {
        Tensor host = Tensor::host(e0[i].shape);
        backends_[0]->download(e0[i].value, host);
        backends_[r]->copy(backends_[r]->upload(host), er[i].value);
      } else if (e0[i].kind == EntryKind::Counter) {
        er[i].count = e0[i].count;
      }
    }
    models_[r]->store().mark_changed();
  }
}

void Trainer::broadcast_from_root() {
  if (multi_rank()) {
    const bool root = group_->rank() == 0;
    Backend& be = *backends_[0];
    auto& entries = models_[0]->store().entries();
    // First what is small: counters, and which parameters have Adam state (its step, -1: none).
    std::vector<int64_t> counters, adam_steps;
    auto& state = adam_.state();
    for (const Entry& e : entries) {
      if (e.kind == EntryKind::Counter) counters.push_back(e.count);
      if (e.kind != EntryKind::Parameter) continue;
      auto it = state.find(e.name);
      adam_steps.push_back(it != state.end() ? it->second.step : -1);
    }
    group_->broadcast_host(counters.data(), counters.size() * sizeof(int64_t), 0);
    group_->broadcast_host(adam_steps.data(), adam_steps.size() * sizeof(int64_t), 0);
    if (!root) state.clear();
    // Then every tensor (weights, BN statistics, Adam moments) in store order, packed into
    // broadcasts of up to 16 MB so that no rank holds a second copy of the whole state.
    std::vector<Tensor*> tensors;
    size_t p = 0, c = 0;
    for (Entry& e : entries) {
      if (e.kind == EntryKind::Counter) {
        e.count = counters[c++];
        continue;
      }
      tensors.push_back(&e.value);
      if (e.kind != EntryKind::Parameter || adam_steps[p++] < 0) continue;
      if (!root) {
        AdamState s;
        s.step = adam_steps[p - 1];
        s.exp_avg = be.empty(e.shape);
        s.exp_avg_sq = be.empty(e.shape);
        state[e.name] = s;
      }
      AdamState& s = state.at(e.name);
      tensors.push_back(&s.exp_avg);
      tensors.push_back(&s.exp_avg_sq);
    }
    constexpr int64_t kChunkFloats = int64_t(1) << 22;
    std::vector<float> buf;
    for (size_t i = 0; i < tensors.size();) {
      size_t j = i;
      int64_t total = 0;
      while (j < tensors.size() && (j == i || total + tensors[j]->numel() <= kChunkFloats)) total += tensors[j++]->numel();
      buf.resize(total);
      int64_t off = 0;
      for (size_t k = i; k < j; off += tensors[k++]->numel())
        if (root) {
          Tensor h = Tensor::view(buf.data() + off, tensors[k]->shape());
          be.download(*tensors[k], h);
        }
      group_->broadcast_host(buf.data(), buf.size() * sizeof(float), 0);
      off = 0;
      for (size_t k = i; k < j; off += tensors[k++]->numel())
        if (!root) be.copy(be.upload(Tensor::view(buf.data() + off, tensors[k]->shape())), *tensors[k]);
      i = j;
    }
  }
  sync_replicas_from_root();
}

void Trainer::all_reduce_gradients() {
  Backend& be = *backends_[0];
  // Buckets of at most 4 Mi floats: one collective for many small gradients,
  // without a second copy of the whole model's gradients.
  constexpr int64_t kBucketFloats = int64_t(1) << 22;
  int64_t filled = 0;
  std::vector<Entry*> packed;
  auto flush = [&] {
    if (packed.empty()) return;
    group_->all_reduce_sum(be, bucket_.data(), filled);
    int64_t off = 0;
    for (Entry* e : packed) {
      Tensor v = Tensor::view(bucket_.data() + off, e->shape, bucket_.device());
      be.copy(v, e->grad);
      off += shape_numel(e->shape);
    }
    packed.clear();
    filled = 0;
  };
  for (Entry& e : models_[0]->store().entries()) {
    if (e.kind != EntryKind::Parameter || !e.grad_valid) continue;
    const int64_t n = shape_numel(e.shape);
    if (n >= kBucketFloats) {
      group_->all_reduce_sum(be, e.grad.data(), n);
      continue;
    }
    if (filled + n > kBucketFloats) flush();
    if (!bucket_.defined()) bucket_ = be.empty({kBucketFloats});
    Tensor v = Tensor::view(bucket_.data() + filled, e.shape, bucket_.device());
    be.copy(e.grad, v);
    packed.push_back(&e);
    filled += n;
  }
  flush();
}

void Trainer::save_buffers() {
  saved_buffers_.resize(models_.size());
  saved_counters_.resize(models_.size());
  for (size_t r = 0; r < models_.size(); ++r) {
    auto& saved = saved_buffers_[r];
    auto& counters = saved_counters_[r];
    counters.clear();
    size_t k = 0;
    for (Entry& e : models_[r]->store().entries()) {
      if (e.kind == EntryKind::Counter) counters.push_back(e.count);
      if (e.kind != EntryKind::Buffer) continue;
      if (saved.size() <= k) saved.push_back(backends_[r]->empty(e.shape));
      backends_[r]->copy(e.value, saved[k++]);
    }
  }
}

void Trainer::restore_buffers() {
  for (size_t r = 0; r < models_.size(); ++r) {
    size_t k = 0, c = 0;
    for (Entry& e : models_[r]->store().entries()) {
      if (e.kind == EntryKind::Counter) e.count = saved_counters_[r][c++];
      if (e.kind == EntryKind::Buffer) backends_[r]->copy(saved_buffers_[r][k++], e.value);
    }
    models_[r]->store().mark_changed();
  }
}

namespace {
std::string nonfinite_term(const std::vector<CornerHeadLosses>& levels) {
  for (size_t l = 0; l < levels.size(); ++l) {
    const auto& v = levels[l];
    const char* names[] = {"det", "pull", "push", "off"};
    const double vals[] = {v.det, v.pull, v.push, v.off};
    for (int k = 0; k < 4; ++k)
      if (!std::isfinite(vals[k])) return std::string(names[k]) + " (stack " + std::to_string(l) + ")";
  }
  return "";
}
}  // namespace

StepReport Trainer::step(const TrainBatch& b) {
  const int R = replicas();
  const int64_t N = b.images.size(0);
  CN_CHECK(b.images.dim() == 4 && b.images.size(1) == 3, "training batch: images must be [N, 3, H, W], got ",
           shape_str(b.images.shape()));
  CN_CHECK(N % R == 0 && N > 0, "training batch: ", N, " images cannot be split evenly over ", R, " replicas");
  CN_CHECK(static_cast<int64_t>(b.boxes.size()) == N, "training batch: ", N, " images but ", b.boxes.size(),
           " box lists");
  const int64_t per = N / R;
  const int64_t image_floats = b.images.numel() / N;

  if (!opts_.frozen_bn) save_buffers();
  std::vector<StepLosses> losses(R);
  std::vector<std::exception_ptr> errors(R);
  auto run = [&](int r) {
    try {
      Shape s = b.images.shape();
      s[0] = per;
      Tensor slice = Tensor::view(b.images.data() + r * per * image_floats, s);
      std::vector<std::vector<GtBox>> boxes(b.boxes.begin() + r * per, b.boxes.begin() + (r + 1) * per);
      ParameterStore& store = models_[r]->store();
      store.zero_grad();
      comm_->begin_backward(r, store, *backends_[r]);
      try {
        losses[r] = forward_backward(*backends_[r], *models_[r], backends_[r]->upload(slice), boxes, opts_.loss,
                                     opts_.frozen_bn);
      } catch (...) {
        // The step fails, but this replica's share of the collectives still goes
        // out (zeros where backward stopped) so the other replicas are not left
        // waiting for it; no weight changes.
        try {
          comm_->end_backward(r, store, *backends_[r]);
        } catch (...) {
          store.set_grad_ready_hook(nullptr);
        }
        throw;
      }
      comm_->end_backward(r, store, *backends_[r]);
    } catch (...) {
      errors[r] = std::current_exception();
    }
  };
  if (R == 1) {
    run(0);
  } else {
    // A thread per backend: CPU replicas, each with its own (see above), and
    // replicas on different devices run side by side; replicas sharing a device
    // run one after another on its thread.
    std::vector<std::thread> threads;
    std::vector<bool> assigned(R, false);
    for (int r = 0; r < R; ++r) {
      if (assigned[r]) continue;
      std::vector<int> mine;
      for (int q = r; q < R; ++q)
        if (backends_[q] == backends_[r]) mine.push_back(q), assigned[q] = true;
      threads.emplace_back([&run, mine] {
        for (int q : mine) run(q);
      });
    }
    for (auto& t : threads) t.join();
  }
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);

  StepReport rep;
  rep.levels.resize(losses[0].levels.size());
  for (const StepLosses& l : losses)
    for (size_t k = 0; k < l.levels.size(); ++k) {
      rep.levels[k].det += l.levels[k].det / R;
      rep.levels[k].off += l.levels[k].off / R;
      rep.levels[k].pull += l.levels[k].pull / R;
      rep.levels[k].push += l.levels[k].push / R;
    }
  std::vector<ParameterStore*> stores;
  for (auto& m : models_) stores.push_back(&m->store());
  double divisor = R;
  if (multi_rank()) {
    // One host all-reduce decides for every rank alike: the losses (averaged over
    // the ranks, so a NaN anywhere is a NaN everywhere), the stop requests, and
    // which parameters have a gradient on some rank (zeros stand in elsewhere).
    comm_->reduce_sum(stores, backends_);
    rep.sync = comm_->last_step();
    const int P = group_->size();
    divisor = static_cast<double>(R) * P;
    auto& entries = models_[0]->store().entries();
    const size_t L = rep.levels.size();
    std::vector<double> shared(4 * L + 2);
    for (size_t k = 0; k < L; ++k) {
      shared[4 * k] = rep.levels[k].det;
      shared[4 * k + 1] = rep.levels[k].off;
      shared[4 * k + 2] = rep.levels[k].pull;
      shared[4 * k + 3] = rep.levels[k].push;
    }
    const int stop = stop_request_.exchange(0);
    shared[4 * L] = (stop & kStopInterrupted) ? 1 : 0;
    shared[4 * L + 1] = (stop & kStopTimeLimit) ? 1 : 0;
    for (const Entry& e : entries)
      if (e.kind == EntryKind::Parameter) shared.push_back(e.grad_valid ? 1 : 0);
    group_->all_reduce_sum_host(shared.data(), static_cast<int64_t>(shared.size()));
    for (size_t k = 0; k < L; ++k) {
      rep.levels[k].det = shared[4 * k] / P;
      rep.levels[k].off = shared[4 * k + 1] / P;
      rep.levels[k].pull = shared[4 * k + 2] / P;
      rep.levels[k].push = shared[4 * k + 3] / P;
    }
    rep.stop = (shared[4 * L] > 0 ? kStopInterrupted : 0) | (shared[4 * L + 1] > 0 ? kStopTimeLimit : 0);
    size_t i = 4 * L + 2;
    for (Entry& e : entries) {
      if (e.kind != EntryKind::Parameter) continue;
      if (shared[i++] > 0 && !e.grad_valid) {
        e.grad = backends_[0]->zeros(e.shape);
        e.grad_valid = true;
      }
    }
  }
  for (const auto& l : rep.levels) rep.total += l.total();
  rep.problem = nonfinite_term(rep.levels);
  if (!rep.problem.empty()) {
    rep.finite = false;
    if (!opts_.frozen_bn) restore_buffers();
    return rep;
  }

  if (multi_rank()) {
    all_reduce_gradients();
  } else {
    comm_->reduce_sum(stores, backends_);
    rep.sync = comm_->last_step();
  }
  rep.grad_norm = Adam::grad_norm(*backends_[0], models_[0]->store(), divisor);
  bool norm_finite = std::isfinite(rep.grad_norm);
  if (multi_rank()) {
    // Every rank holds the same gradients, but the decision must not hinge on that.
    double bad = norm_finite ? 0 : 1;
    group_->all_reduce_sum_host(&bad, 1);
    norm_finite = bad == 0;
  }
  if (!norm_finite) {
    rep.finite = false;
    rep.problem = "gradient norm";
    if (!opts_.frozen_bn) restore_buffers();
    return rep;
  }
  adam_.step(*backends_[0], models_[0]->store(), b.lr, divisor, rep.grad_norm);
  comm_->broadcast_parameters(stores, backends_);
  // Whatever the communicator wrote the replicas' weights with.
  for (ParameterStore* s : stores) s->mark_changed();
  return rep;
}

}  // namespace cn
