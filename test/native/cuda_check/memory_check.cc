// `cornernet_cuda_check memory <plugin.so> <device>`: walks a backend's caching
// allocator (native/cuda/device_allocator.h) through reuse, per-stream pools,
// size classes and running out of memory, and prints each step's
// Backend::memory_stats() as one JSON array for test/native/cuda_memory.test.ts.
// Meant for the emulator with CN_EMU_DEVICE_MEMORY=8388608 (an 8 MiB device):
// step "oom-retry" only needs the cache emptied, step "oom" cannot fit at all.
#include <cstdio>
#include <string>
#include <vector>

#include "json_text.h"
#include "plugin_op.h"

namespace {

struct Recorder {
  cn::Backend& be;
  std::vector<std::string> steps;

  void step(const char* name, const std::string& extra = "") {
    cn::MemoryStats s = be.memory_stats();
    char buf[320];
    std::snprintf(buf, sizeof(buf),
                  "{\"step\":\"%s\",\"inUse\":%llu,\"cached\":%llu,\"peak\":%llu,\"mallocs\":%llu,\"frees\":%llu,"
                  "\"pinned\":%llu,\"pinnedAllocs\":%llu",
                  name, static_cast<unsigned long long>(s.in_use), static_cast<unsigned long long>(s.cached),
                  static_cast<unsigned long long>(s.peak), static_cast<unsigned long long>(s.mallocs),
                  static_cast<unsigned long long>(s.frees), static_cast<unsigned long long>(s.pinned),
                  static_cast<unsigned long long>(s.pinned_allocs));
    steps.push_back(std::string(buf) + extra + "}");
  }
};

cn::Tensor host_ramp(int64_t n, float start) {
  cn::Tensor t = cn::Tensor::host({n});
  for (int64_t i = 0; i < n; ++i) t.data()[i] = start + static_cast<float>(i);
  return t;
}

// Uploads `host`, downloads it again and says whether every value came back.
bool round_trip(cn::Backend& be, const cn::Tensor& host, cn::Tensor* keep = nullptr) {
  cn::Tensor d = be.upload(host);
  cn::Tensor back = cn::Tensor::host(host.shape());
  be.download(d, back);
  if (keep) *keep = d;
  for (int64_t i = 0; i < host.numel(); ++i)
    if (back.data()[i] != host.data()[i]) return false;
  return true;
}

}  // namespace

int run_memory(const std::string& plugin_path, int device) {
  try {
    std::unique_ptr<cn::Backend> be = open_backend(plugin_path, device);
    Recorder r{*be, {}};
    const int64_t mib = 1 << 18;  // floats in 1 MiB
    r.step("start");

    float* first = nullptr;
    {
      cn::Tensor a = be->empty({4 * mib});
      first = a.data();
      r.step("alloc-4MiB");
    }
    r.step("freed-4MiB");
    {
      cn::Tensor a = be->empty({4 * mib});
      r.step("realloc-4MiB", std::string(",\"sameBlock\":") + (a.data() == first ? "true" : "false"));
    }
    {
      // 6 MiB: the cached 4 MiB block is too small, and 4 + 6 MiB exceed the
      // device: cudaMalloc fails once, the cache goes back, the retry succeeds.
      cn::Tensor c = be->empty({6 * mib});
      r.step("oom-retry");
      try {
        cn::Tensor d = be->empty({2, 4 * mib});
        r.step("oom", ",\"error\":null");
      } catch (const std::exception& e) {
        r.step("oom", ",\"error\":" + json_str(e.what()));
      }
    }
    r.step("freed-6MiB");

    // Uploads: a block of the copy stream's pool, reused by the next upload of
    // that size once the compute stream is done with it; a pinned staging
    // buffer reused likewise. The data must survive the reuse.
    bool ok1 = round_trip(*be, host_ramp(1000, 1.0f));
    r.step("upload-1", std::string(",\"dataOk\":") + (ok1 ? "true" : "false"));
    bool ok2 = round_trip(*be, host_ramp(1000, -500.0f));
    r.step("upload-2", std::string(",\"dataOk\":") + (ok2 ? "true" : "false"));
    {
      // Same size on the compute stream: the copy stream's cached block is not
      // this stream's, so a new block.
      cn::Tensor w = be->empty({1000});
      r.step("empty-same-size-compute-stream");
    }
    {
      cn::Tensor s = be->empty({100});  // 400 B -> the 512 B class
      r.step("alloc-400B");
    }
    {
      cn::Tensor s = be->empty({128});  // 512 B: same class, same block
      r.step("alloc-512B");
    }
    {
      cn::Tensor s = be->empty({129});  // 516 B -> 1 KiB class: a new block
      r.step("alloc-516B");
    }
    std::printf("[");
    for (size_t i = 0; i < r.steps.size(); ++i) std::printf("%s%s\n", i ? "," : "", r.steps[i].c_str());
    std::printf("]\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 3;
  }
}
