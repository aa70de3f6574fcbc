#include "scratch.h"

#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "../engine/caching_allocator.h"

namespace cn {

namespace {

struct Shelf {
  std::mutex mu;
  // Buffers not in use: (data, capacity in floats), per slot.
  std::vector<std::pair<float*, size_t>> free[static_cast<int>(ScratchSlot::Count)];
};

// Never destroyed: the buffers stay in use in the host pool for the process's life.
Shelf& shelf() {
  static Shelf* s = new Shelf;
  return *s;
}

}  // namespace

float* OpScratch::take(ScratchSlot slot, size_t floats) {
  give_back();
  slot_ = slot;
  {
    Shelf& s = shelf();
    std::lock_guard<std::mutex> lock(s.mu);
    auto& list = s.free[static_cast<int>(slot)];
    if (!list.empty()) {
      std::tie(data_, capacity_) = list.back();
      list.pop_back();
    }
  }
  if (floats > capacity_) {
    host_pool().free(data_);
    data_ = nullptr;
    capacity_ = 0;
    data_ = static_cast<float*>(
        host_pool().allocate(floats * sizeof(float), nullptr, "[" + std::to_string(floats) + "] (an op's scratch)"));
    capacity_ = floats;
  }
  return data_;
}

void OpScratch::give_back() noexcept {
  if (!data_) return;
  Shelf& s = shelf();
  std::lock_guard<std::mutex> lock(s.mu);
  s.free[static_cast<int>(slot_)].emplace_back(data_, capacity_);
  data_ = nullptr;
  capacity_ = 0;
}

}  // namespace cn
