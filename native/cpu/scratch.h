// Temporary buffers of an op (im2col columns, Winograd tiles, transposed
// copies). Each slot has a shelf of grow-only buffers taken from the host pool:
// an op takes one buffer per slot it uses and puts it back when it ends, so a
// layer that runs thousands of times reuses the same pages (no page faults, no
// churn in the pool's blocks between the layers' tensors), and there are only
// as many buffers per slot as ops ever ran at once. Not thread_local: a Model's
// calls run on whichever libuv worker is free, and per-thread buffers grew one
// copy per worker (hourglass104's eval forward: +0.23 GiB RSS over its first
// four calls).
#pragma once
#include <cstddef>

namespace cn {

enum class ScratchSlot : int { Conv0 = 0, Conv1, Conv2, Conv3, Count };

class OpScratch {
 public:
  OpScratch() = default;
  // 64-byte aligned room for `floats` floats in `slot`, for this object's lifetime.
  OpScratch(ScratchSlot slot, size_t floats) { take(slot, floats); }
  ~OpScratch() { give_back(); }
  OpScratch(const OpScratch&) = delete;
  OpScratch& operator=(const OpScratch&) = delete;

  float* take(ScratchSlot slot, size_t floats);
  float* data() const { return data_; }

 private:
  void give_back() noexcept;
  ScratchSlot slot_ = ScratchSlot::Conv0;
  float* data_ = nullptr;
  size_t capacity_ = 0;  // floats
};

}  // namespace cn
