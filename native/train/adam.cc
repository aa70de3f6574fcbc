#include "adam.h"

#include <cmath>

namespace cn {

double Adam::grad_norm(Backend& be, ParameterStore& store, double grad_divisor) {
  double ss = 0.0;
  for (Entry& e : store.entries())
    if (e.kind == EntryKind::Parameter && e.grad_valid) ss += be.sum_squares(e.grad);
  return std::sqrt(ss) / grad_divisor;
}

void Adam::step(Backend& be, ParameterStore& store, float lr, double grad_divisor, double norm) {
  double scale = 1.0 / grad_divisor;
  if (cfg_.grad_clip > 0) {
    const double coef = cfg_.grad_clip / (norm + 1e-6);
    if (coef < 1.0) scale *= coef;
  }
  for (Entry& e : store.entries()) {
    if (e.kind != EntryKind::Parameter || !e.grad_valid) continue;
    AdamState& s = state_[e.name];
    if (!s.exp_avg.defined()) {
      s.exp_avg = be.zeros(e.shape);
      s.exp_avg_sq = be.zeros(e.shape);
    }
    ++s.step;
    AdamParams p;
    p.lr = lr;
    p.beta1 = cfg_.beta1;
    p.beta2 = cfg_.beta2;
    p.eps = cfg_.eps;
    p.weight_decay = cfg_.weight_decay;
    p.step = s.step;
    p.grad_scale = static_cast<float>(scale);
    be.adam_update(e.value, e.grad, s.exp_avg, s.exp_avg_sq, p);
  }
  store.mark_changed();
}

}  // namespace cn
