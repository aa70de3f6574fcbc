#include "trainer.h"

#include <cmath>
#include <exception>
#include <thread>

namespace cn {

Trainer::Trainer(const std::vector<Backend*>& backends, const TrainerOptions& o, ThreadPool& pool,
                 std::unique_ptr<Communicator> comm)
    : backends_(backends), opts_(o), pool_(pool), adam_(o.adam), comm_(std::move(comm)) {
  if (!comm_) comm_.reset(new InProcessCommunicator());
  CN_CHECK(!backends.empty(), "trainer: at least one replica is needed");
  o.model.validate();
  for (size_t r = 0; r < backends.size(); ++r) {
    models_.emplace_back(new CornerNet(o.model));
    // The same seed everywhere: replicas start identical, as DDP's initial broadcast makes them.
    models_.back()->store().materialize(*backends[r], o.seed);
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
  }
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
    // A thread per replica; on the CPU they share the pool and take turns in it.
    std::vector<std::thread> threads;
    for (int r = 0; r < R; ++r) threads.emplace_back(run, r);
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
  for (const auto& l : rep.levels) rep.total += l.total();
  rep.problem = nonfinite_term(rep.levels);
  if (!rep.problem.empty()) {
    rep.finite = false;
    if (!opts_.frozen_bn) restore_buffers();
    return rep;
  }

  std::vector<ParameterStore*> stores;
  for (auto& m : models_) stores.push_back(&m->store());
  comm_->reduce_sum(stores, backends_);
  rep.sync = comm_->last_step();
  rep.grad_norm = Adam::grad_norm(*backends_[0], models_[0]->store(), R);
  if (!std::isfinite(rep.grad_norm)) {
    rep.finite = false;
    rep.problem = "gradient norm";
    if (!opts_.frozen_bn) restore_buffers();
    return rep;
  }
  adam_.step(*backends_[0], models_[0]->store(), b.lr, R, rep.grad_norm);
  comm_->broadcast_parameters(stores, backends_);
  return rep;
}

}  // namespace cn
