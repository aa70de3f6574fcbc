#include "communicator.h"

namespace cn {

namespace {
// dst (on backend `to`) = src (on backend `from`); through the host when the devices differ.
void copy_across(Backend& from, const Tensor& src, Backend& to, Tensor& dst) {
  if (from.device() == to.device()) {
    to.copy(src, dst);
    return;
  }
  Tensor host = Tensor::host(src.shape());
  from.download(src, host);
  to.copy(to.upload(host), dst);
}
}  // namespace

void InProcessCommunicator::reduce_sum(const std::vector<ParameterStore*>& stores,
                                           const std::vector<Backend*>& backends) {
  const size_t R = stores.size();
  if (R <= 1) return;
  Backend& be0 = *backends[0];
  auto& e0 = stores[0]->entries();
  for (size_t i = 0; i < e0.size(); ++i) {
    Entry& root = e0[i];
    if (root.kind != EntryKind::Parameter) continue;
    // A replica without a gradient for this entry contributes zero.
    for (size_t r = 1; r < R; ++r) {
      Entry& er = stores[r]->entries()[i];
      if (!er.grad_valid) continue;
      if (!root.grad_valid) {
        if (!root.grad.defined()) root.grad = be0.empty(root.shape);
        copy_across(*backends[r], er.grad, be0, root.grad);
        root.grad_valid = true;
        continue;
      }
      if (backends[r]->device() == be0.device()) {
        be0.axpy(1.0f, er.grad, root.grad);
      } else {
        Tensor tmp = be0.empty(root.shape);
        copy_across(*backends[r], er.grad, be0, tmp);
        be0.axpy(1.0f, tmp, root.grad);
      }
    }
  }
}

void InProcessCommunicator::broadcast_parameters(const std::vector<ParameterStore*>& stores,
                                                 const std::vector<Backend*>& backends) {
  auto& e0 = stores[0]->entries();
  for (size_t r = 1; r < stores.size(); ++r)
    for (size_t i = 0; i < e0.size(); ++i)
      if (e0[i].kind == EntryKind::Parameter)
        copy_across(*backends[0], e0[i].value, *backends[r], stores[r]->entries()[i].value);
  for (size_t r = 1; r < stores.size(); ++r) stores[r]->mark_changed();
}

}  // namespace cn
