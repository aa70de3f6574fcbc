// Grow-only scratch memory of the calling thread, for the big temporary buffers
// of an op (im2col columns, Winograd tiles). Keeping it between calls avoids
// fresh pages (and their page faults) on every call of a layer that runs
// thousands of times; each thread keeps at most its largest request per slot.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdlib>

#include "../engine/error.h"

namespace cn {

enum class ScratchSlot : int { Conv0 = 0, Conv1, Conv2, Count };

// 64-byte aligned room for `floats` floats in `slot`; valid until the same
// thread asks for that slot again.
inline float* thread_scratch(ScratchSlot slot, size_t floats) {
  struct Buffer {
    float* data = nullptr;
    size_t capacity = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffers[static_cast<int>(ScratchSlot::Count)];
  Buffer& b = buffers[static_cast<int>(slot)];
  if (floats > b.capacity || !b.data) {
    std::free(b.data);
    b.data = nullptr;
    b.capacity = 0;
    size_t bytes = (std::max<size_t>(floats, 1) * sizeof(float) + 63) / 64 * 64;
    b.data = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!b.data) fail("out of host memory allocating ", bytes, " bytes of scratch");
    b.capacity = floats;
  }
  return b.data;
}

}  // namespace cn
