// `test-backend-ops allocator`: the engine's caching allocator
// (native/engine/caching_allocator.h) over a counting memory source, so every
// rule is checked by what the source was asked for: reuse of freed blocks, size
// classes and slack, per-stream free lists and fences, the cap, release, the
// footprint bound (the cache never raises the peak) and many threads at once;
// then the host pool behind Tensor::host. One line per check ("ok ..." or
// "FAIL ..."); the count of failures is returned.
#include "allocator_checks.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "engine/caching_allocator.h"
#include "engine/tensor.h"

namespace {

using cn::CachePolicy;
using cn::CachingAllocator;
using cn::MemoryStats;

// Host memory that counts what it hands out and refuses to go over `limit`
// bytes held (an out-of-memory device); fences complete when told to.
struct CountingSource final : cn::MemorySource {
  struct Counters {
    std::mutex mu;
    uint64_t held = 0, max_held = 0, allocs = 0, frees = 0, limit = UINT64_MAX;
    std::set<void*> fences_open;  // recorded, not yet complete
    int fences_made = 0, stream_waits = 0;
  };
  std::shared_ptr<Counters> c = std::make_shared<Counters>();

  std::string device_name() const override { return "test:0"; }
  void* allocate(size_t bytes) override {
    std::lock_guard<std::mutex> lock(c->mu);
    if (c->held + bytes > c->limit) return nullptr;
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    c->held += bytes;
    c->max_held = std::max(c->max_held, c->held);
    ++c->allocs;
    return p;
  }
  void free(void* p, size_t bytes) noexcept override {
    std::lock_guard<std::mutex> lock(c->mu);
    std::free(p);
    c->held -= bytes;
    ++c->frees;
  }
  // Resizing (a cached block's contents need not survive), counted apart from allocations.
  bool resizable = false;
  int resized = 0;
  void* resize(void* p, size_t old_bytes, size_t new_bytes) noexcept override {
    std::lock_guard<std::mutex> lock(c->mu);
    if (c->held - old_bytes + new_bytes > c->limit) return nullptr;
    std::free(p);
    c->held = c->held - old_bytes + new_bytes;
    c->max_held = std::max(c->max_held, c->held);
    ++resized;
    return std::aligned_alloc(64, (new_bytes + 63) / 64 * 64);
  }
  size_t min_resize_bytes() const override { return resizable ? 4096 : SIZE_MAX; }
  void* record_fence(void*) noexcept override {
    std::lock_guard<std::mutex> lock(c->mu);
    void* f = reinterpret_cast<void*>(static_cast<uintptr_t>(++c->fences_made));
    c->fences_open.insert(f);
    return f;
  }
  bool fence_done(void* f) noexcept override {
    std::lock_guard<std::mutex> lock(c->mu);
    return !c->fences_open.count(f);
  }
  void fence_wait(void* f) noexcept override {
    std::lock_guard<std::mutex> lock(c->mu);
    c->fences_open.erase(f);
  }
  void stream_wait(void*) noexcept override {
    std::lock_guard<std::mutex> lock(c->mu);
    ++c->stream_waits;
  }
};

struct Checks {
  int failed = 0;
  void expect(bool ok, const std::string& what) {
    std::printf("%s  allocator: %s\n", ok ? "ok  " : "FAIL", what.c_str());
    if (!ok) ++failed;
  }
};

CachePolicy small_policy() {
  CachePolicy p;
  p.small_limit = 1024;
  p.small_round = 64;
  p.large_round = 4096;
  p.slack_eighths = 2;
  return p;
}

std::pair<std::unique_ptr<CachingAllocator>, std::shared_ptr<CountingSource::Counters>> make(CachePolicy p,
                                                                                             bool resizable = false) {
  auto src = std::make_unique<CountingSource>();
  src->resizable = resizable;
  auto counters = src->c;
  return {std::make_unique<CachingAllocator>(std::move(src), p), counters};
}

void check_reuse_and_classes(Checks& t) {
  auto [a, c] = make(small_policy());
  void* p = a->allocate(1000, nullptr, "[250]");
  t.expect(a->stats().in_use == 1024 && c->allocs == 1, "1000 B round up to the 1024 B class");
  a->free(p);
  t.expect(a->stats().cached == 1024 && a->stats().in_use == 0 && c->frees == 0, "a freed block stays cached");
  void* q = a->allocate(900, nullptr, "[225]");
  t.expect(q == p && c->allocs == 1 && a->stats().reuses == 1, "a request of the same class gets the cached block back");
  a->free(q);
  void* r = a->allocate(700, nullptr, "[175]");  // 704 B class: 1024 is more than a quarter larger
  t.expect(r != p && c->allocs == 2, "a cached block more than the slack larger does not serve a small request");
  a->free(r);
  void* big = a->allocate(5000, nullptr, "[1250]");
  t.expect(a->stats().in_use == 8192, "large requests round to the large class (4096 B here)");
  a->free(big);
  void* s1 = a->allocate(1000, reinterpret_cast<void*>(1), "[250]");
  t.expect(s1 != p && c->allocs == 4, "a block cached for one stream does not serve another stream");
  a->free(s1);
  t.expect(a->allocate(0, nullptr, "[0]") == nullptr, "zero bytes: no block");
}

void check_release_and_cap(Checks& t) {
  auto [a, c] = make(small_policy());
  std::vector<void*> ps;
  for (int i = 1; i <= 4; ++i) ps.push_back(a->allocate(4096 * i, nullptr, "x"));
  for (void* p : ps) a->free(p);
  t.expect(a->stats().cached == 4096 * 10 && c->held == 4096 * 10, "four freed blocks cached");
  a->release_cache();
  t.expect(a->stats().cached == 0 && c->held == 0 && c->frees == 4, "release_cache gives every cached block back");

  CachePolicy capped = small_policy();
  capped.cap = 3 * 4096;
  auto [b, d] = make(capped);
  void* x1 = b->allocate(4096, nullptr, "x1");
  void* x2 = b->allocate(4096, nullptr, "x2");
  void* x3 = b->allocate(8192, nullptr, "x3");
  b->free(x1);
  b->free(x2);
  b->free(x3);  // 16 KiB cached > 12 KiB cap: the least recently freed (x1) goes
  t.expect(b->stats().cached == 3 * 4096 && d->frees == 1, "over the cap the least recently freed block goes back");
  void* again = b->allocate(4096, nullptr, "x2 again");
  t.expect(again == x2, "the blocks freed later stay cached");
  b->free(again);
  b->set_cap(0);
  t.expect(b->stats().cached == 0 && d->held == 0, "set_cap(0) empties the cache");
  void* y = b->allocate(4096, nullptr, "y");
  b->free(y);
  t.expect(b->stats().cached == 0 && d->held == 0, "with cap 0 nothing is cached");
}

void check_footprint_bound(Checks& t) {
  CachePolicy p = small_policy();
  p.bounded_footprint = true;
  auto [a, c] = make(p);
  // A "forward": 8 activations of 16 KiB alive at once (peak 128 KiB).
  std::vector<void*> acts;
  for (int i = 0; i < 8; ++i) acts.push_back(a->allocate(16384, nullptr, "act"));
  for (void* q : acts) a->free(q);
  // A "backward": gradients of another size, 6 alive at once (96 KiB). Without the
  // bound the 128 KiB of cached activations would stay beside them: 224 KiB.
  std::vector<void*> grads;
  for (int i = 0; i < 6; ++i) grads.push_back(a->allocate(12288 + 4096 * 2, nullptr, "grad"));
  for (void* q : grads) a->free(q);
  t.expect(c->max_held <= 8 * 16384, "bounded footprint: the memory held never exceeds the in-use peak (" +
                                         std::to_string(c->max_held) + " <= " + std::to_string(8 * 16384) + ")");
  // The second "step" of the same shapes: served from the cache, nothing new.
  const uint64_t allocs = c->allocs;
  for (int step = 0; step < 3; ++step) {
    acts.clear();
    for (int i = 0; i < 8; ++i) acts.push_back(a->allocate(16384, nullptr, "act"));
    for (void* q : acts) a->free(q);
  }
  // A block of another class served within the slack counts in use at its own
  // size: the in-use peak may grow by the slack, and the memory held stays under it.
  t.expect(c->max_held <= a->stats().peak && a->stats().peak <= 8 * 16384 / 4 * 5,
           "over repeated steps the memory held stays under the in-use peak (" + std::to_string(c->max_held) +
               " <= " + std::to_string(a->stats().peak) + ")");
  t.expect(c->allocs - allocs <= 8, "repeated steps get their blocks from the cache (new blocks: " +
                                        std::to_string(c->allocs - allocs) + ")");
  const uint64_t allocs2 = c->allocs;
  acts.clear();
  for (int i = 0; i < 8; ++i) acts.push_back(a->allocate(16384, nullptr, "act"));
  for (void* q : acts) a->free(q);
  t.expect(c->allocs == allocs2, "a steady-state step allocates nothing");
}

void check_resize(Checks& t) {
  CachePolicy p = small_policy();
  p.bounded_footprint = true;
  auto [a, c] = make(p, true);
  auto& src = static_cast<CountingSource&>(a->source());
  void* x = a->allocate(40960, nullptr, "x");  // in-use peak 40 KiB
  a->free(x);
  void* y = a->allocate(8192, nullptr, "y");  // no class fits, and a new block would go past the peak
  t.expect(src.resized == 1 && c->allocs == 1 && a->stats().resizes == 1 && a->stats().cached == 0,
           "at the peak, a request no cached block fits shrinks a cached block instead of allocating");
  a->free(y);
  void* z = a->allocate(36864, nullptr, "z");  // grows the 8 KiB block
  t.expect(src.resized == 2 && c->allocs == 1 && c->max_held <= 40960, "growing one too, under the peak");
  void* w = a->allocate(4096, nullptr, "w");  // 36 + 4 KiB: still under the peak, a new block
  t.expect(src.resized == 2 && c->allocs == 2, "below the peak a new block is made (the cache learns the sizes)");
  a->free(w);
  void* s = a->allocate(1000, nullptr, "s");  // at the peak, but below the source's resize minimum
  t.expect(src.resized == 2 && c->allocs == 3 && c->max_held <= 40960,
           "small requests are not served by resizing: an old block goes back and a new one is made");
  a->free(s);
  a->free(z);
}

void check_streams_and_oom(Checks& t) {
  auto [a, c] = make(small_policy());
  void* s1 = reinterpret_cast<void*>(1);
  void* s2 = reinterpret_cast<void*>(2);
  void* p = a->allocate(4096, s1, "p");
  a->free(p, s2);  // used on s2 too: pending until s2's fence completes
  void* q = a->allocate(4096, s1, "q");
  t.expect(q != p && a->stats().cached == 4096, "a block used on another stream waits for its fence");
  {
    std::lock_guard<std::mutex> lock(c->mu);
    c->fences_open.clear();
  }
  void* r = a->allocate(4096, s1, "r");
  t.expect(r == p, "once the fence completed the block serves its stream again");
  a->free(q);
  a->free(r);
  a->release_cache();

  c->limit = 16384;
  void* x = a->allocate(8192, nullptr, "x");
  a->free(x);  // 8 KiB cached
  void* y = a->allocate(12288, nullptr, "y");
  t.expect(y && a->stats().cached == 0 && c->frees >= 3, "out of memory: the cache goes back and the request is retried");
  bool threw = false;
  std::string msg;
  try {
    a->allocate(8192, nullptr, "[2,1024]");
  } catch (const std::exception& e) {
    threw = true;
    msg = e.what();
  }
  t.expect(threw && msg.find("cannot allocate 8192 bytes") != std::string::npos &&
               msg.find("shape [2,1024]") != std::string::npos,
           "then an error naming the request: " + msg);
  a->free(y);
}

void check_threads(Checks& t) {
  CachePolicy p = small_policy();
  p.bounded_footprint = true;
  auto made = make(p);  // not a structured binding: the threads' lambdas capture it
  CachingAllocator* a = made.first.get();
  const auto& c = made.second;
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < 8; ++k) {
    threads.emplace_back([&, k] {
      std::vector<std::pair<float*, size_t>> held;
      for (int i = 0; i < 2000; ++i) {
        size_t floats = 16 + static_cast<size_t>((i * 7 + k * 13) % 3000);
        auto* f = static_cast<float*>(a->allocate(floats * sizeof(float), nullptr, "t"));
        for (size_t j = 0; j < floats; j += 64) f[j] = static_cast<float>(k);
        held.emplace_back(f, floats);
        if (held.size() > 4) {
          auto [g, n] = held.front();
          for (size_t j = 0; j < n; j += 64)
            if (g[j] != static_cast<float>(k)) ++bad;  // another thread wrote into a live block
          a->free(g);
          held.erase(held.begin());
        }
      }
      for (auto& h : held) a->free(h.first);
    });
  }
  for (auto& th : threads) th.join();
  MemoryStats s = a->stats();
  t.expect(bad == 0 && s.in_use == 0, "8 threads allocating and freeing at once: no block handed out twice");
  t.expect(c->held == s.cached, "the source holds exactly what is cached once every block is back");
}

void check_host_pool(Checks& t) {
  cn::CachingAllocator& pool = cn::host_pool();
  pool.release_cache();
  const MemoryStats s0 = pool.stats();
  {
    cn::Tensor a = cn::Tensor::host({3, 1000, 1000});  // 12 MB: a mapped block
    a.data()[0] = 1.f;
  }
  const MemoryStats s1 = pool.stats();
  t.expect(s1.mallocs == s0.mallocs + 1 && s1.cached >= 12000000, "host pool: a freed tensor's block stays cached");
  {
    cn::Tensor b = cn::Tensor::host({3, 1000, 1000});
    b.data()[0] = 2.f;
  }
  const MemoryStats s2 = pool.stats();
  t.expect(s2.mallocs == s1.mallocs && s2.reuses == s1.reuses + 1, "host pool: the same shape again reuses it");
  pool.release_cache();
  t.expect(pool.stats().cached == 0 && pool.stats().frees > s2.frees, "host pool: release_cache gives it back");
}

}  // namespace

int check_caching_allocator() {
  Checks t;
  check_reuse_and_classes(t);
  check_release_and_cap(t);
  check_footprint_bound(t);
  check_resize(t);
  check_streams_and_oom(t);
  check_threads(t);
  check_host_pool(t);
  std::printf("allocator: %d failed\n", t.failed);
  return t.failed;
}
