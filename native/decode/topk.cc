#include "topk.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "../engine/error.h"

namespace cn::decode {

namespace {
// Keeps the k best of `v` (any order inside); the rest is dropped.
void keep_best(std::vector<Corner>& v, size_t k) {
  if (v.size() <= k) return;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end(), corner_before);
  v.resize(k);
}

// How many of p[0..16) are above t or NaN; written so the compiler vectorises it.
int count_above(const float* __restrict p, float t) {
  int c = 0;
  for (int j = 0; j < 16; ++j) c += !(p[j] <= t);
  return c;
}

struct Logit {
  float v;
  int64_t i;
};

// At least the m largest logits of x[begin, end) (any order, at most 2m), and
// every logit left out is <= the smallest one returned. False at a NaN.
bool largest_logits(const float* x, int64_t begin, int64_t end, size_t m, std::vector<Logit>& out) {
  out.clear();
  out.reserve(2 * m);
  float floor_v = -std::numeric_limits<float>::infinity();
  // Keep appending what beats the floor; when 2m have piled up, cut back to the
  // m largest and raise the floor to the smallest of them.
  auto offer = [&](int64_t j) {
    const float v = x[j];
    if (v <= floor_v) return true;
    if (std::isnan(v)) return false;
    out.push_back({v, j});
    if (out.size() >= 2 * m) {
      std::nth_element(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(m - 1), out.end(),
                       [](const Logit& a, const Logit& b) { return a.v > b.v; });
      out.resize(m);
      floor_v = out[m - 1].v;
    }
    return true;
  };
  // Most values fall below the floor: test blocks of 16 at once, elements only when needed.
  constexpr int64_t kBlock = 16;
  int64_t i = begin;
  for (; i + kBlock <= end; i += kBlock)
    if (count_above(x + i, floor_v))
      for (int64_t j = i; j < i + kBlock; ++j)
        if (!(x[j] <= floor_v) && !offer(j)) return false;
  for (; i < end; ++i)
    if (!offer(i)) return false;
  return true;
}

[[noreturn]] void nan_error(const std::string& what, int64_t index, int64_t hw) {
  fail(what, " holds NaN (channel ", index / hw, ")");
}

// Every position: sigmoid, local-maximum test, then the k best. The fallback
// when the shortcut below cannot prove its answer.
std::vector<Corner> exhaustive(const float* logits, int C, int H, int W, int kernel, int k, ThreadPool* pool,
                               const std::string& what) {
  const int64_t hw = static_cast<int64_t>(H) * W;
  std::vector<std::vector<Corner>> per_channel(C);
  std::unique_ptr<bool[]> nan(new bool[C]());
  auto channel = [&](int64_t c) {
    std::vector<float> sig(hw), rowmax(hw);
    if (!sigmoid_local_max(logits + c * hw, H, W, kernel, c * hw, sig.data(), rowmax.data(), per_channel[c])) {
      nan[c] = true;
      per_channel[c].clear();
      return;
    }
    keep_best(per_channel[c], static_cast<size_t>(k));
  };
  if (pool && C > 1)
    pool->run_tasks(C, channel);
  else
    for (int64_t c = 0; c < C; ++c) channel(c);
  for (int c = 0; c < C; ++c)
    if (nan[c]) nan_error(what, c * hw, hw);

  std::vector<Corner> all;
  for (auto& v : per_channel) all.insert(all.end(), v.begin(), v.end());
  keep_best(all, static_cast<size_t>(k));
  std::sort(all.begin(), all.end(), corner_before);
  if (static_cast<int>(all.size()) < k) {
    // Every positive survivor is already in `all`; the remaining picks are zeros.
    std::vector<int64_t> taken;
    for (const Corner& c : all) taken.push_back(c.index);
    std::sort(taken.begin(), taken.end());
    const int64_t total = static_cast<int64_t>(C) * hw;
    for (int64_t i = 0; i < total && static_cast<int>(all.size()) < k; ++i)
      if (!std::binary_search(taken.begin(), taken.end(), i)) all.push_back({0.f, i});
  }
  return all;
}

// The shortcut: the sigmoid is monotone, so only the largest logits can rank in
// the top k. Test the local-maximum rule on the m largest only; the answer is
// proven when k of them survive and the k-th beats the sigmoid of every logit
// left out (strictly, so equal scores elsewhere cannot change the order).
// Returns false when it cannot prove it with this m.
bool top_of_largest(const float* logits, int C, int H, int W, int kernel, int k, int64_t m, ThreadPool* pool,
                    const std::string& what, std::vector<Corner>& kept) {
  const int64_t hw = static_cast<int64_t>(H) * W;
  const int64_t total = static_cast<int64_t>(C) * hw;
  const int chunks = pool ? std::max(1, std::min<int>(pool->num_threads(), static_cast<int>(total / m))) : 1;
  std::vector<std::vector<Logit>> part(chunks);
  std::unique_ptr<int64_t[]> nan_at(new int64_t[chunks]);
  auto scan = [&](int64_t t) {
    const int64_t b = total * t / chunks, e = total * (t + 1) / chunks;
    nan_at[t] = -1;
    if (!largest_logits(logits, b, e, static_cast<size_t>(m), part[t]))
      for (int64_t i = b; i < e; ++i)
        if (std::isnan(logits[i])) {
          nan_at[t] = i;
          break;
        }
  };
  if (chunks > 1)
    pool->run_tasks(chunks, scan);
  else
    scan(0);
  for (int t = 0; t < chunks; ++t)
    if (nan_at[t] >= 0) nan_error(what, nan_at[t], hw);

  std::vector<Logit> cand;
  for (auto& p : part) cand.insert(cand.end(), p.begin(), p.end());
  if (static_cast<int64_t>(cand.size()) > m) {
    std::nth_element(cand.begin(), cand.begin() + m, cand.end(), [](const Logit& a, const Logit& b) { return a.v > b.v; });
    cand.resize(static_cast<size_t>(m));
  }
  if (cand.empty()) return false;  // every logit is -inf
  float boundary = cand[0].v;      // the smallest logit taken; everything left out is <= it
  for (const Logit& l : cand) boundary = std::min(boundary, l.v);

  kept.clear();
  for (const Logit& l : cand) {
    const float s = sigmoid(l.v);
    const int64_t c = l.i / hw;
    if (s > 0.f && is_local_max(logits + c * hw, H, W, kernel, l.i - c * hw)) kept.push_back({s, l.i});
  }
  if (static_cast<int>(kept.size()) < k) return false;
  keep_best(kept, static_cast<size_t>(k));
  std::sort(kept.begin(), kept.end(), corner_before);
  return kept.back().score > sigmoid(boundary);
}
}  // namespace

std::vector<Corner> top_corners(const float* logits, int C, int H, int W, int kernel, int k, ThreadPool* pool,
                                const std::string& what) {
  const int64_t total = static_cast<int64_t>(C) * H * W;
  // Real heat maps put whole blobs of high logits around each peak, so the first
  // m may hold too few local maxima: grow it while testing candidates one by one
  // stays cheaper than ranking every position.
  std::vector<Corner> kept;
  for (int64_t m = std::max<int64_t>(1024, 20 * static_cast<int64_t>(k)); m <= total / 8; m *= 4)
    if (top_of_largest(logits, C, H, W, kernel, k, m, pool, what, kept)) return kept;
  return exhaustive(logits, C, H, W, kernel, k, pool, what);
}

}  // namespace cn::decode
