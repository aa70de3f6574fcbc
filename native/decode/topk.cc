#include "topk.h"

#include <algorithm>
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
}  // namespace

std::vector<Corner> top_corners(const float* logits, int C, int H, int W, int kernel, int k, ThreadPool* pool,
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
    if (nan[c]) fail(what, " holds NaN (channel ", c, ")");

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

}  // namespace cn::decode
