#include "parameter_store.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <random>

namespace cn {

namespace {
// Process-wide, so that two stores (or one store before and after a change)
// never share a version.
std::atomic<uint64_t> g_next_version{1};
}  // namespace

ParameterStore::ParameterStore() : version_(g_next_version++) {}

void ParameterStore::mark_changed() { version_ = g_next_version++; }

Entry& ParameterStore::add(const std::string& name, Shape shape, EntryKind kind, InitRule init) {
  Entry& e = entries_.emplace_back();
  e.index = entries_.size() - 1;
  e.name = name;
  e.shape = std::move(shape);
  e.kind = kind;
  e.init = init;
  return e;
}

Entry* ParameterStore::find(const std::string& name) {
  for (Entry& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

int64_t ParameterStore::parameter_count() const {
  int64_t n = 0;
  for (const Entry& e : entries_)
    if (e.kind == EntryKind::Parameter) n += shape_numel(e.shape);
  return n;
}

namespace {
uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// mt19937_64's sequence is fixed by the C++ standard, and the conversions below
// are written out (std::*_distribution differ between standard libraries), so a
// seed gives the same weights everywhere.
void fill(const InitRule& r, uint64_t seed, float* p, int64_t n) {
  switch (r.kind) {
    case InitRule::Zeros: std::fill(p, p + n, 0.f); return;
    case InitRule::Ones: std::fill(p, p + n, 1.f); return;
    case InitRule::Constant: std::fill(p, p + n, r.a); return;
    default: break;
  }
  std::mt19937_64 gen(seed);
  auto unit = [&gen] { return static_cast<double>(gen() >> 11) * 0x1.0p-53; };  // [0, 1)
  if (r.kind == InitRule::Uniform) {
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>((2 * unit() - 1) * r.a);
    return;
  }
  const double two_pi = 6.283185307179586;
  for (int64_t i = 0; i < n; i += 2) {  // Box-Muller: two normals per pair of uniforms
    double u1 = 1.0 - unit(), u2 = unit();  // u1 in (0, 1]: log is finite
    double rad = std::sqrt(-2.0 * std::log(u1));
    p[i] = static_cast<float>(rad * std::cos(two_pi * u2) * r.a);
    if (i + 1 < n) p[i + 1] = static_cast<float>(rad * std::sin(two_pi * u2) * r.a);
  }
}
}  // namespace

void ParameterStore::materialize(Backend& be, uint64_t seed) {
  uint64_t index = 0;
  for (Entry& e : entries_) {
    ++index;
    if (e.kind == EntryKind::Counter || e.value.defined()) continue;
    Tensor host = Tensor::host(e.shape);
    fill(e.init, splitmix64(seed ^ splitmix64(index)), host.data(), host.numel());
    e.value = be.upload(host);
  }
  materialized_ = true;
  mark_changed();
}

void ParameterStore::zero_grad() {
  for (Entry& e : entries_) e.grad_valid = false;
}

Tensor ParameterStore::grad_target(Backend& be, Entry& e) {
  if (e.grad_valid) return be.empty(e.shape);
  if (!e.grad.defined()) e.grad = be.empty(e.shape);
  return e.grad;
}

void ParameterStore::accumulate_grad(Backend& be, Entry& e, const Tensor& g) {
  if (g.data() != e.grad.data()) be.axpy(1.f, g, e.grad);
  e.grad_valid = true;
  if (grad_ready_) grad_ready_(e.index);
}

}  // namespace cn
