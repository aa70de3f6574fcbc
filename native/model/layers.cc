#include "layers.h"

#include <cmath>

namespace cn {

void sum_into(Backend& be, Tensor& acc, const Tensor& t) {
  if (!t.defined()) return;
  if (!acc.defined()) {
    acc = t;
    return;
  }
  be.axpy(1.f, t, acc);
}

void run_branches(const Pass& p, int n, int64_t elements, const std::function<void(int)>& fn) {
  if (p.store.has_grad_ready_hook()) {
    for (int i = 0; i < n; ++i) fn(i);
    return;
  }
  p.be.run_branches(n, elements, fn);
}

// ---- Conv2d -------------------------------------------------------------------

Conv2d::Conv2d(ParameterStore& s, const std::string& prefix, int cin, int cout, int k, int stride, bool bias,
               ConvInit init)
    : cout_(cout), k_(k) {
  params_.stride_h = params_.stride_w = stride;
  params_.pad_h = params_.pad_w = (k - 1) / 2;
  const double fan_in = static_cast<double>(cin) * k * k, fan_out = static_cast<double>(cout) * k * k;
  InitRule w_init, b_init;
  if (init == ConvInit::TorchDefault) {
    // kaiming_uniform_(a=sqrt(5)) reduces to a bound of 1/sqrt(fan_in); the bias uses the same bound.
    w_init = {InitRule::Uniform, static_cast<float>(1.0 / std::sqrt(fan_in))};
    b_init = w_init;
  } else {
    w_init = {InitRule::Normal, static_cast<float>(std::sqrt(2.0 / fan_out))};
    b_init = {InitRule::Zeros, 0};
  }
  w_ = &s.add(prefix + ".weight", {cout, cin, k, k}, EntryKind::Parameter, w_init);
  if (bias) b_ = &s.add(prefix + ".bias", {cout}, EntryKind::Parameter, b_init);
}

Tensor Conv2d::forward(const Pass& p, const Tensor& x) {
  Tensor y = p.be.empty({x.size(0), cout_, conv_out_size(x.size(2), k_, params_.stride_h, params_.pad_h),
                         conv_out_size(x.size(3), k_, params_.stride_w, params_.pad_w)});
  p.be.conv2d_forward(x, w_->value, b_ ? b_->value : Tensor{}, params_at(p.store.version()), y);
  x_ = p.record ? x : Tensor{};
  return y;
}

Tensor Conv2d::forward_bn(const Pass& p, const Tensor& x, BatchNorm2d& bn, bool relu) {
  CN_CHECK(folds_batch_norm(p), "internal: conv ", w_->name, ": batch norm is folded only for inference");
  const Shape out{x.size(0), cout_, conv_out_size(x.size(2), k_, params_.stride_h, params_.pad_h),
                  conv_out_size(x.size(3), k_, params_.stride_w, params_.pad_w)};
  if (shape_numel(w_->shape) > shape_numel(out)) {
    folded_ = Folded{};
    return bn.forward(p, forward(p, x), relu);
  }
  if (folded_.version != p.store.version() || folded_.be != &p.be) {
    std::vector<double> scale, shift;
    bn.eval_scale_shift(p.be, scale, shift);
    Tensor w = Tensor::host(w_->shape), b = Tensor::host({cout_});
    p.be.download(w_->value, w);
    if (b_) p.be.download(b_->value, b);
    const int64_t per_out = w.numel() / cout_;
    for (int64_t o = 0; o < cout_; ++o) {
      float* wo = w.data() + o * per_out;
      for (int64_t i = 0; i < per_out; ++i) wo[i] = static_cast<float>(wo[i] * scale[o]);
      const double conv_bias = b_ ? b.data()[o] : 0.0;
      b.data()[o] = static_cast<float>(shift[o] + conv_bias * scale[o]);
    }
    // Upload may alias host memory on the CPU: w and b are fresh, owned by the cache from here on.
    folded_.w = p.be.upload(w);
    folded_.b = p.be.upload(b);
    folded_.version = p.store.version();
    folded_.be = &p.be;
  }
  Tensor y = p.be.empty(out);
  p.be.conv2d_forward(x, folded_.w, folded_.b, params_at(folded_.version), y);
  if (relu) p.be.relu_forward(y, y);
  x_ = Tensor{};
  return y;
}

Tensor Conv2d::backward(const Pass& p, const Tensor& gy, bool need_gx) {
  CN_CHECK(x_.defined(), "internal: conv ", w_->name, " has no recorded forward");
  Tensor x = x_;
  x_ = Tensor{};
  return backward(p, x, gy, need_gx);
}

Tensor Conv2d::backward(const Pass& p, const Tensor& x, const Tensor& gy, bool need_gx) {
  Tensor gx = need_gx ? p.be.empty(x.shape()) : Tensor{};
  Tensor gw = p.store.grad_target(p.be, *w_);
  Tensor gb = b_ ? p.store.grad_target(p.be, *b_) : Tensor{};
  p.be.conv2d_backward(x, w_->value, gy, params_at(p.store.version()), gx, gw, gb);
  p.store.accumulate_grad(p.be, *w_, gw);
  if (b_) p.store.accumulate_grad(p.be, *b_, gb);
  return gx;
}

// ---- BatchNorm2d ------------------------------------------------------------------

BatchNorm2d::BatchNorm2d(ParameterStore& s, const std::string& prefix, int channels, const BatchNormParams& bn)
    : bn_(bn) {
  w_ = &s.add(prefix + ".weight", {channels}, EntryKind::Parameter, {InitRule::Ones});
  b_ = &s.add(prefix + ".bias", {channels}, EntryKind::Parameter, {InitRule::Zeros});
  mean_ = &s.add(prefix + ".running_mean", {channels}, EntryKind::Buffer, {InitRule::Zeros});
  var_ = &s.add(prefix + ".running_var", {channels}, EntryKind::Buffer, {InitRule::Ones});
  count_ = &s.add(prefix + ".num_batches_tracked", {}, EntryKind::Counter);
}

Tensor BatchNorm2d::forward(const Pass& p, const Tensor& x, bool relu) {
  Tensor y = p.be.empty(x.shape());
  bn_.relu = relu;
  if (p.train) {
    Tensor m = p.be.empty({x.size(1)}), is = p.be.empty({x.size(1)});
    p.be.batch_norm_forward_train(x, w_->value, b_->value, mean_->value, var_->value, bn_, y, m, is);
    ++count_->count;
    p.store.mark_changed();  // the running statistics moved
    save_mean_ = p.record ? m : Tensor{};
    save_invstd_ = p.record ? is : Tensor{};
  } else {
    p.be.batch_norm_forward_eval(x, w_->value, b_->value, mean_->value, var_->value, bn_, y);
    save_mean_ = save_invstd_ = Tensor{};
  }
  recorded_train_ = p.train;
  x_ = p.record ? x : Tensor{};
  return y;
}

Tensor BatchNorm2d::backward(const Pass& p, const Tensor& gy) {
  CN_CHECK(x_.defined(), "internal: batch norm ", w_->name, " has no recorded forward");
  if (!recorded_train_) {
    // Eval mode: the running statistics are constants of the forward pass.
    const int64_t c = x_.size(1);
    Tensor rm = Tensor::host({c}), rv = Tensor::host({c});
    p.be.download(mean_->value, rm);
    p.be.download(var_->value, rv);
    Tensor is = Tensor::host({c});
    for (int64_t i = 0; i < c; ++i) is.data()[i] = static_cast<float>(1.0 / std::sqrt(double(rv.data()[i]) + bn_.eps));
    save_mean_ = p.be.upload(rm);
    save_invstd_ = p.be.upload(is);
  }
  Tensor gx = p.be.empty(x_.shape());
  Tensor gw = p.store.grad_target(p.be, *w_), gb = p.store.grad_target(p.be, *b_);
  p.be.batch_norm_backward(x_, w_->value, b_->value, save_mean_, save_invstd_, gy, {recorded_train_, bn_.relu}, gx, gw,
                           gb);
  p.store.accumulate_grad(p.be, *w_, gw);
  p.store.accumulate_grad(p.be, *b_, gb);
  release();
  return gx;
}

Tensor BatchNorm2d::recompute(const Pass& p) {
  CN_CHECK(x_.defined(), "internal: batch norm ", w_->name, " has no recorded forward");
  Tensor y = p.be.empty(x_.shape());
  if (recorded_train_) {
    // Same input, same code: the batch statistics, hence y, come out bit for bit
    // as in the forward. Running statistics go to throwaway buffers.
    Tensor rm = p.be.zeros({x_.size(1)}), rv = p.be.zeros({x_.size(1)}), none;
    p.be.batch_norm_forward_train(x_, w_->value, b_->value, rm, rv, bn_, y, none, none);
  } else {
    p.be.batch_norm_forward_eval(x_, w_->value, b_->value, mean_->value, var_->value, bn_, y);
  }
  return y;
}

void BatchNorm2d::release() { x_ = save_mean_ = save_invstd_ = Tensor{}; }

void BatchNorm2d::eval_scale_shift(Backend& be, std::vector<double>& scale, std::vector<double>& shift) const {
  const int64_t c = w_->shape.at(0);
  Tensor g = Tensor::host({c}), b = Tensor::host({c}), m = Tensor::host({c}), v = Tensor::host({c});
  be.download(w_->value, g);
  be.download(b_->value, b);
  be.download(mean_->value, m);
  be.download(var_->value, v);
  scale.resize(c);
  shift.resize(c);
  for (int64_t i = 0; i < c; ++i) {
    scale[i] = g.data()[i] / std::sqrt(double(v.data()[i]) + bn_.eps);
    shift[i] = b.data()[i] - m.data()[i] * scale[i];
  }
}

// ---- ConvModule ---------------------------------------------------------------

ConvModule::ConvModule(ParameterStore& s, const std::string& prefix, const ConvModuleSpec& spec,
                       const BatchNormParams& bn)
    : conv_(s, prefix + ".conv", spec.cin, spec.cout, spec.k, spec.stride, !spec.norm, spec.init), act_(spec.act) {
  if (spec.norm) bn_.emplace_back(s, prefix + ".bn", spec.cout, bn);
}

Tensor ConvModule::forward(const Pass& p, const Tensor& x, bool keep_input) {
  Tensor y;
  if (!bn_.empty() && folds_batch_norm(p)) {
    y = conv_.forward_bn(p, x, bn_[0], act_);
  } else {
    Pass conv_pass = p;
    conv_pass.record = p.record && keep_input;
    y = conv_.forward(conv_pass, x);
    if (!bn_.empty()) {
      y = bn_[0].forward(p, y, act_);
    } else if (act_) {
      // In place: the conv backward does not need this buffer's pre-ReLU values.
      p.be.relu_forward(y, y);
      y_ = p.record ? y : Tensor{};
    }
  }
  return y;
}

Tensor ConvModule::output_again(const Pass& p) {
  CN_CHECK(!bn_.empty(), "internal: only a module with BN can rebuild its output");
  return bn_[0].recompute(p);
}

Tensor ConvModule::backward(const Pass& p, const Tensor& gy, bool need_gx, const Tensor& x) {
  Tensor g = gy;
  if (!bn_.empty()) {
    g = bn_[0].backward(p, g);  // the ReLU's mask too, recomputed from BN's input
  } else if (act_) {
    CN_CHECK(y_.defined(), "internal: a conv module without BN has no recorded output");
    Tensor gr = p.be.empty(gy.shape());
    p.be.relu_backward(y_, gy, gr);
    y_ = Tensor{};
    g = gr;
  }
  return x.defined() ? conv_.backward(p, x, g, need_gx) : conv_.backward(p, g, need_gx);
}

void ConvModule::release() {
  conv_.release();
  if (!bn_.empty()) bn_[0].release();
  y_ = Tensor{};
}

// ---- BasicBlock -------------------------------------------------------------------

BasicBlock::BasicBlock(ParameterStore& s, const std::string& prefix, int cin, int cout, int stride,
                       const BatchNormParams& bn)
    : conv1_(s, prefix + ".conv1", cin, cout, 3, stride, false, ConvInit::TorchDefault),
      bn1_(s, prefix + ".bn1", cout, bn),
      conv2_(s, prefix + ".conv2", cout, cout, 3, 1, false, ConvInit::TorchDefault),
      bn2_(s, prefix + ".bn2", cout, bn) {
  if (stride != 1 || cin != cout) {
    ds_conv_.emplace_back(s, prefix + ".downsample.0", cin, cout, 1, stride, false, ConvInit::TorchDefault);
    ds_bn_.emplace_back(s, prefix + ".downsample.1", cout, bn);
  }
}

Tensor BasicBlock::forward(const Pass& p, const Tensor& x) {
  if (folds_batch_norm(p)) return forward_folded(p, x);
  Tensor h = bn1_.forward(p, conv1_.forward(p, x), true);
  // conv2's input (bn1 + ReLU's output) is not kept: backward recomputes it
  // from bn1's input, one buffer less per block for an elementwise pass.
  Pass no_record = p;
  no_record.record = false;
  Tensor y = bn2_.forward(p, conv2_.forward(no_record, h));
  h = Tensor{};
  if (ds_conv_.empty()) {
    p.be.axpy(1.f, x, y);
  } else {
    Tensor id = ds_bn_[0].forward(p, ds_conv_[0].forward(p, x));
    p.be.axpy(1.f, id, y);
  }
  p.be.relu_forward(y, y);
  y_ = p.record ? y : Tensor{};
  return y;
}

Tensor BasicBlock::forward_folded(const Pass& p, const Tensor& x) {
  Tensor h = conv1_.forward_bn(p, x, bn1_, true);
  Tensor y = conv2_.forward_bn(p, h, bn2_);
  h = Tensor{};
  if (ds_conv_.empty()) {
    p.be.axpy(1.f, x, y);
  } else {
    p.be.axpy(1.f, ds_conv_[0].forward_bn(p, x, ds_bn_[0]), y);
  }
  p.be.relu_forward(y, y);
  y_ = Tensor{};
  return y;
}

Tensor BasicBlock::backward(const Pass& p, const Tensor& gy) {
  CN_CHECK(y_.defined(), "internal: BasicBlock has no recorded forward");
  Tensor g_sum = p.be.empty(gy.shape());  // gradient at the residual sum
  p.be.relu_backward(y_, gy, g_sum);
  y_ = Tensor{};
  Tensor g2 = bn2_.backward(p, g_sum);
  Tensor h = bn1_.recompute(p);
  Tensor gh = conv2_.backward(p, h, g2, true);
  g2 = h = Tensor{};
  Tensor gx = conv1_.backward(p, bn1_.backward(p, gh), true);  // bn1's backward applies the ReLU's mask
  gh = Tensor{};
  if (ds_conv_.empty()) {
    sum_into(p.be, gx, g_sum);
  } else {
    sum_into(p.be, gx, ds_conv_[0].backward(p, ds_bn_[0].backward(p, g_sum), true));
  }
  return gx;
}

void BasicBlock::release() {
  conv1_.release();
  bn1_.release();
  conv2_.release();
  bn2_.release();
  for (auto& c : ds_conv_) c.release();
  for (auto& b : ds_bn_) b.release();
  y_ = Tensor{};
}

// ---- ResLayer -------------------------------------------------------------------

ResLayer::ResLayer(ParameterStore& s, const std::string& prefix, int cin, int cout, int num_blocks, int stride,
                   bool downsample_first, const BatchNormParams& bn) {
  const int n = num_blocks < 1 ? 1 : num_blocks;
  blocks_.reserve(n);
  for (int i = 0; i < n; ++i) {
    const std::string name = prefix + "." + std::to_string(i);
    if (downsample_first) {
      blocks_.emplace_back(s, name, i == 0 ? cin : cout, cout, i == 0 ? stride : 1, bn);
    } else {
      const bool last = i == n - 1;
      blocks_.emplace_back(s, name, cin, last ? cout : cin, last ? stride : 1, bn);
    }
  }
}

Tensor ResLayer::forward(const Pass& p, const Tensor& x) {
  Tensor y = x;
  for (auto& b : blocks_) y = b.forward(p, y);
  return y;
}

Tensor ResLayer::backward(const Pass& p, const Tensor& gy) {
  Tensor g = gy;
  for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) g = it->backward(p, g);
  return g;
}

void ResLayer::release() {
  for (auto& b : blocks_) b.release();
}

}  // namespace cn
