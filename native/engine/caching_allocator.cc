#include "caching_allocator.h"

#include <cstdio>
#include <cstdlib>
#include <functional>

#include "error.h"

#if defined(__linux__) || defined(__APPLE__)
#include <sys/mman.h>
#include <unistd.h>
#define CN_HOST_MMAP 1
#endif

namespace cn {

namespace {
std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}
}  // namespace

bool CachingAllocator::BySize::operator()(const Block& a, const Block& b) const {
  std::less<void*> less;
  if (a.stream != b.stream) return less(a.stream, b.stream);
  if (a.size != b.size) return a.size < b.size;
  return less(a.ptr, b.ptr);
}

CachingAllocator::CachingAllocator(std::unique_ptr<MemorySource> source, CachePolicy policy)
    : source_(std::move(source)), policy_(policy), cap_(policy.cap) {}

CachingAllocator::~CachingAllocator() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cache_locked();
  source_->close();
}

size_t CachingAllocator::round_size(size_t bytes) const {
  size_t r = bytes <= policy_.small_limit ? policy_.small_round : policy_.large_round;
  return (bytes + r - 1) / r * r;
}

void CachingAllocator::cache_locked(Block b) {
  b.freed_at = next_free_seq_++;
  free_.insert(b);
  free_by_age_.emplace(b.freed_at, b);
  cached_ += b.size;
}

void CachingAllocator::uncache_locked(std::set<Block, BySize>::iterator it) {
  free_by_age_.erase(it->freed_at);
  cached_ -= it->size;
  free_.erase(it);
}

void CachingAllocator::evict_oldest_locked() {
  auto oldest = free_by_age_.begin();
  Block b = oldest->second;
  uncache_locked(free_.find(b));
  system_free_locked(b);
}

uint64_t CachingAllocator::footprint_limit_locked(size_t size) const {
  if (!policy_.bounded_footprint) return UINT64_MAX;
  // The in-use high-water mark (this request included) and its margin.
  return std::max<uint64_t>(peak_ + peak_ / 16 * policy_.footprint_margin_sixteenths, in_use_ + size);
}

void CachingAllocator::make_room_locked(size_t size) {
  const uint64_t limit = footprint_limit_locked(size);
  while (!free_by_age_.empty() && in_use_ + cached_ + size > limit) evict_oldest_locked();
}

void* CachingAllocator::resize_cached_locked(size_t size, void* stream) {
  // The smallest cached block larger than the request (shrinking it keeps the
  // most pages in use), else the largest smaller one (growing it faults the least).
  const size_t min = source_->min_resize_bytes();
  if (size < min) return nullptr;
  auto it = free_.lower_bound(Block{nullptr, size, stream, 0});
  if (it == free_.end() || it->stream != stream) {
    if (it == free_.begin()) return nullptr;
    --it;
    if (it->stream != stream || it->size < min) return nullptr;
  }
  Block c = *it;
  uncache_locked(it);
  make_room_locked(size);
  void* p = source_->resize(c.ptr, c.size, size);
  if (!p) cache_locked(c);  // the system refused (out of memory): the block stays cached as it was
  return p;
}

void* CachingAllocator::allocate(size_t bytes, void* stream, const std::string& what) {
  if (!bytes) return nullptr;
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) fail("the memory pool of ", source_->device_name(), " is closed (its backend was destroyed)");
  collect_pending_locked();

  Block b;
  auto it = free_.lower_bound(Block{nullptr, size, stream, 0});
  if (it != free_.end() && it->stream == stream && it->size <= size + size / 8 * policy_.slack_eighths) {
    b = *it;
    uncache_locked(it);
    ++reuses_;
  } else if (void* resized = in_use_ + cached_ + size > footprint_limit_locked(size) ? resize_cached_locked(size, stream)
                                                                                    : nullptr) {
    // Only at the limit: below it a new block lets the cache learn every size a
    // step needs (and later steps hit them exactly).
    b = Block{resized, size, stream, 0};
    ++resizes_;
  } else {
    make_room_locked(size);
    void* p = source_->allocate(size);
    if (!p) {
      release_cache_locked();
      p = source_->allocate(size);
    }
    if (!p) {
      fail("cannot allocate ", bytes, " bytes (", mib(size),
           " block) on ", source_->device_name(), " for a tensor of shape ", what, ": ", source_->last_error(),
           " (tensors hold ", mib(in_use_), ", the cache was emptied and retried; peak so far ", mib(peak_), ")");
    }
    ++mallocs_;
    b = Block{p, size, stream, 0};
  }
  live_.emplace(b.ptr, b);
  in_use_ += b.size;
  if (in_use_ > peak_) peak_ = in_use_;
  return b.ptr;
}

void CachingAllocator::free(void* p, void* used_on) noexcept {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(p);
  if (it == live_.end()) return;  // not ours: nothing sensible to do in a deleter
  Block b = it->second;
  live_.erase(it);
  in_use_ -= b.size;
  if (closed_ || cap_ == 0) {
    system_free_locked(b);
    return;
  }
  if (used_on && used_on != b.stream) {
    if (void* fence = source_->record_fence(used_on)) {
      pending_.push_back(Pending{b, fence});
      cached_ += b.size;
      return;
    }
    // No fence: wait for the other stream here rather than risk reuse while it reads.
    source_->stream_wait(used_on);
  }
  cache_locked(b);
  trim_to_cap_locked();
}

void CachingAllocator::trim_to_cap_locked() {
  while (cached_ > cap_ && !free_by_age_.empty()) evict_oldest_locked();
}

void CachingAllocator::collect_pending_locked() {
  if (pending_.empty()) return;
  size_t kept = 0;
  std::vector<Block> done;
  for (Pending& pe : pending_) {
    if (!source_->fence_done(pe.fence)) {
      pending_[kept++] = pe;
      continue;
    }
    source_->fence_release(pe.fence);
    cached_ -= pe.block.size;  // cache_locked counts it again
    done.push_back(pe.block);
  }
  pending_.resize(kept);
  for (const Block& b : done) cache_locked(b);
}

void CachingAllocator::system_free_locked(const Block& b) noexcept {
  source_->free(b.ptr, b.size);
  ++frees_;
}

void CachingAllocator::release_cache_locked() {
  for (Pending& pe : pending_) {
    source_->fence_wait(pe.fence);
    source_->fence_release(pe.fence);
    system_free_locked(pe.block);
    cached_ -= pe.block.size;
  }
  pending_.clear();
  for (const Block& b : free_) system_free_locked(b);
  free_.clear();
  free_by_age_.clear();
  cached_ = 0;
}

void CachingAllocator::release_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cache_locked();
}

void CachingAllocator::set_cap(uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  cap_ = bytes;
  trim_to_cap_locked();
}

void CachingAllocator::close() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cache_locked();
  source_->close();
  closed_ = true;
}

MemoryStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  MemoryStats s;
  s.in_use = in_use_;
  s.cached = cached_;
  s.peak = peak_;
  s.mallocs = mallocs_;
  s.frees = frees_;
  s.reuses = reuses_;
  s.resizes = resizes_;
  s.cap = cap_;
  return s;
}

// ---- the host pool --------------------------------------------------------------

namespace {

// Host blocks: mapped from the kernel from 64 KiB on (given back at once when
// evicted, resized with their pages kept, and never raising glibc's mmap
// threshold the way large malloc'd blocks do), aligned_alloc below, where
// glibc's heap reuses freed memory anyway. 64-byte aligned either way (one
// cache line, one AVX-512 vector).
class HostMemory final : public MemorySource {
 public:
  static constexpr size_t kMapBytes = size_t{64} << 10;

  std::string device_name() const override { return "cpu"; }
  void* allocate(size_t bytes) override {
#ifdef CN_HOST_MMAP
    if (bytes >= kMapBytes) {
      void* m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      return m == MAP_FAILED ? nullptr : m;
    }
#endif
    return std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  }
  void free(void* p, size_t bytes) noexcept override {
#ifdef CN_HOST_MMAP
    if (bytes >= kMapBytes) {
      munmap(p, bytes);
      return;
    }
#endif
    std::free(p);
  }
  void* resize(void* p, size_t old_bytes, size_t new_bytes) noexcept override {
#if defined(__linux__)
    if (old_bytes >= kMapBytes && new_bytes >= kMapBytes) {
      void* m = mremap(p, old_bytes, new_bytes, MREMAP_MAYMOVE);
      return m == MAP_FAILED ? nullptr : m;
    }
#endif
    return nullptr;
  }
#if defined(__linux__)
  size_t min_resize_bytes() const override { return kMapBytes; }
#endif
  std::string last_error() const override { return "out of host memory"; }
};

uint64_t host_cache_cap() {
  if (const char* v = std::getenv("CORNERNET_HOST_CACHE_MB")) {
    char* end = nullptr;
    unsigned long long mb = std::strtoull(v, &end, 10);
    if (end != v && *end == '\0') return static_cast<uint64_t>(mb) << 20;
    std::fprintf(stderr, "cornernet: ignoring CORNERNET_HOST_CACHE_MB='%s' (not a whole number of MiB)\n", v);
  }
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) / 4;
#endif
  return uint64_t{4} << 30;
}

}  // namespace

CachingAllocator& host_pool() {
  static CachingAllocator* pool = [] {
    CachePolicy p;
    p.small_limit = size_t{1} << 20;
    p.small_round = 64;
    p.large_round = size_t{64} << 10;
    p.slack_eighths = 1;
    p.cap = host_cache_cap();
    p.bounded_footprint = true;
    // 1/16 above the in-use peak lets the cache keep the blocks of sizes a
    // step needs at different times (an eval forward frees each activation
    // soon after making it, so its in-use peak is far below the sum of its sizes).
    p.footprint_margin_sixteenths = 1;
    return new CachingAllocator(std::make_unique<HostMemory>(), p);
  }();
  return *pool;
}

}  // namespace cn
