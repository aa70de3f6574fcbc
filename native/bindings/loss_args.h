// Argument helpers shared by the target and loss bindings: both exchange the
// embedding pairs as a [K, 5] float tensor of (image, tl_y, tl_x, br_y, br_x)
// rows, in box order. cornerTargets and cornerHeadLosses run on any backend; the
// single losses (gaussianFocalLoss, ...) on the host only.
#pragma once
#include <algorithm>
#include <vector>

#include "../cpu/cpu_backend.h"
#include "../model/targets.h"
#include "op_call.h"

namespace cn {

inline void require_cpu_backend(OpCall& c) {
  if (c.backend().device().type != DeviceType::CPU)
    c.bad_arg("backend", "must be a CPU backend: targets and losses run on the host (got '" + c.backend().name() + "')");
}

// Writes host-computed values (scalars, embedding pairs) into an output of the
// backend's device.
inline void write_values(Backend& be, Tensor& out, const std::vector<float>& v) {
  if (static_cast<int64_t>(v.size()) != out.numel()) fail("write_values: ", v.size(), " values for ", shape_str(out.shape()));
  if (out.is_host()) {
    std::copy(v.begin(), v.end(), out.data());
    return;
  }
  Tensor h = Tensor::host(out.shape());
  std::copy(v.begin(), v.end(), h.data());
  Tensor d = be.upload(h);
  be.copy(d, out);
}

inline ThreadPool* cpu_pool(Backend& be) {
  auto* cpu = dynamic_cast<CpuBackend*>(&be);
  return cpu ? &cpu->pool() : nullptr;
}

// Checks a match tensor at parse time (rows, integer values, image index below `batch`).
inline void check_match_tensor(OpCall& c, const char* name, const Tensor& m, int64_t batch) {
  if (m.dim() != 2 || m.size(1) != 5)
    c.bad_arg(name, "must have shape [K, 5] (image, tl_y, tl_x, br_y, br_x), got " + shape_str(m.shape()));
  for (int64_t i = 0; i < m.numel(); ++i) {
    const float v = m.data()[i];
    if (!(v >= 0) || v != static_cast<float>(static_cast<int64_t>(v)))
      c.bad_arg(name, "row " + std::to_string(i / 5) + " holds " + std::to_string(v) +
                          "; every entry must be a non-negative integer");
    if (i % 5 == 0 && v >= static_cast<float>(batch))
      c.bad_arg(name, "row " + std::to_string(i / 5) + " names image " + std::to_string(static_cast<int64_t>(v)) +
                          " but the batch has " + std::to_string(batch) + " images");
  }
}

inline std::vector<std::vector<CornerMatch>> match_from_tensor(const Tensor& m, int64_t batch) {
  std::vector<std::vector<CornerMatch>> out(static_cast<size_t>(batch));
  for (int64_t r = 0; r < m.size(0); ++r) {
    const float* row = m.data() + r * 5;
    out[static_cast<size_t>(row[0])].push_back(CornerMatch{static_cast<int>(row[1]), static_cast<int>(row[2]),
                                                           static_cast<int>(row[3]), static_cast<int>(row[4])});
  }
  return out;
}

}  // namespace cn
