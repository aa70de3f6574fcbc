// Adam with gradient-norm clipping over a model's ParameterStore, matching
// torch.optim.Adam + torch.nn.utils.clip_grad_norm_ as the reference recipe uses
// them: parameters without a gradient this step are skipped (their step count
// does not advance), the clip coefficient max_norm / (norm + 1e-6) is applied
// only when below 1, and the arithmetic runs on the backend (Backend::adam_update).
#pragma once
#include <map>
#include <string>

#include "../model/parameter_store.h"

namespace cn {

struct AdamConfig {
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.0f;
  double grad_clip = 35.0;  // total L2 norm; <= 0 disables clipping
};

struct AdamState {
  Tensor exp_avg, exp_avg_sq;  // on the model's device
  int64_t step = 0;
};

class Adam {
 public:
  explicit Adam(const AdamConfig& c) : cfg_(c) {}
  const AdamConfig& config() const { return cfg_; }

  // Gradients in `store` are first divided by `grad_divisor` (replicas summed by
  // the communicator), then clipped. `norm` is grad_norm(be, store, grad_divisor),
  // which the caller has computed to check it is finite before updating anything.
  void step(Backend& be, ParameterStore& store, float lr, double grad_divisor, double norm);

  // Total L2 norm of every valid gradient, divided by grad_divisor.
  static double grad_norm(Backend& be, ParameterStore& store, double grad_divisor = 1.0);

  std::map<std::string, AdamState>& state() { return state_; }

 private:
  AdamConfig cfg_;
  std::map<std::string, AdamState> state_;  // by parameter name
};

}  // namespace cn
