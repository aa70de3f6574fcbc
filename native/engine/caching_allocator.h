// The engine's one caching allocator, with one pool per device: the host pool
// serves Tensor::host (every CPU tensor), and each CUDA backend owns a device
// pool (native/cuda/device_allocator.h). Getting memory from the system is slow
// on every device: on the host each fresh page is a page fault and is zeroed by
// the kernel (a quarter of hourglass104's time went there when every big tensor
// was mapped and unmapped per op), cudaMalloc is slow and cudaFree synchronises
// the device. So blocks a tensor gives back stay cached, binned by stream and
// size, and serve later requests of about the same size: after the first step
// of a training loop (or the first eval forward), a step gets nothing new from
// the system. The same idea as PyTorch's CUDA caching allocator, reduced: no
// block splitting or merging (every block is one system allocation), which size
// classes make cheap enough for a model whose shapes repeat step after step.
//
// Written by hand: it is the engine's own job (no library allocator knows the
// engine's streams or its peak-memory rule).
//
// Size classes (CachePolicy): requests up to `small_limit` round up to a
// multiple of `small_round`, larger ones to a multiple of `large_round`. A
// cached block serves a request when it is on the same stream, at least the
// rounded size and at most `slack_eighths` eighths larger (a small request
// never pins a large block).
//
// Peak memory (CachePolicy::bounded_footprint, the host pool): the bytes the
// pool holds (in use + cached) never exceed the highest in-use figure so far,
// so caching never raises the peak: a request the cache cannot serve first
// gives the least recently freed cached blocks back to the system until the
// new block fits under that high-water mark. hourglass104's forward and
// backward free activations and allocate gradients of other sizes; without
// this rule those freed blocks would stay resident beside the new ones.
// Where the source can resize blocks (MemorySource::resize: the host's mapped
// blocks), a request no cached block fits, arriving when the pool is at that
// limit, takes a cached block of another size and resizes it instead of
// evicting blocks and mapping a new one (the smallest larger one, else the
// largest): its pages stay resident, so only net growth costs page faults.
// `cap` bounds what stays cached between uses (least recently freed go first).
//
// Streams (devices with work queues; the host has none and passes nullptr): a
// block belongs to the stream it was allocated for, and work on that stream may
// reuse it as soon as it is freed (stream order makes that safe). A block also
// used on another stream is freed with `used_on`: it stays pending until a
// fence recorded on `used_on` at free time has completed.
//
// When the system is out of memory, the cache is released and the request tried
// once more; then the error names the request and the pool's figures.
// Thread-safe (one mutex per pool): tensors may be freed on any thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace cn {

// A pool's figures, in bytes and calls (Backend::memory_stats, backendInfo().memory).
struct MemoryStats {
  uint64_t in_use = 0;         // in blocks held by live tensors (block sizes, rounded up)
  uint64_t cached = 0;         // in free blocks kept for reuse
  uint64_t peak = 0;           // highest in_use so far
  uint64_t mallocs = 0;        // blocks asked of the system (cudaMalloc, mmap / aligned_alloc)
  uint64_t frees = 0;          // blocks given back to the system
  uint64_t reuses = 0;         // requests served from the cache
  uint64_t resizes = 0;        // requests served by resizing a cached block (host: mremap, pages kept)
  uint64_t cap = 0;            // most bytes kept cached
  uint64_t pinned = 0;         // page-locked host staging buffers held (CUDA)
  uint64_t pinned_allocs = 0;  // page-locked host allocations so far (CUDA)
};

// The device-specific half of a pool: where blocks come from and go back to,
// and (devices with streams) fences on streams. Streams and fences are opaque
// handles (cudaStream_t, cudaEvent_t).
class MemorySource {
 public:
  virtual ~MemorySource() = default;
  // "cpu", "cuda:0": for error messages.
  virtual std::string device_name() const = 0;
  // `bytes` fresh bytes (64-byte aligned at least), or nullptr when the device
  // is out of memory (last_error() then says what the system answered).
  virtual void* allocate(size_t bytes) = 0;
  virtual void free(void* p, size_t bytes) noexcept = 0;
  // The block `p` of `old_bytes` made `new_bytes` long, keeping the pages it
  // has (it may move); nullptr when this source cannot resize such blocks (p
  // is then untouched). The host maps large blocks and remaps them: a
  // shrunk block keeps its head's pages, a grown one faults only its new tail.
  virtual void* resize(void* p, size_t old_bytes, size_t new_bytes) noexcept { return nullptr; }
  // Blocks smaller than this are never resized (SIZE_MAX: none are).
  virtual size_t min_resize_bytes() const { return SIZE_MAX; }
  virtual std::string last_error() const { return "out of memory"; }
  // A fence after the work enqueued on `stream` so far; nullptr when none can be recorded.
  virtual void* record_fence(void* stream) noexcept { return nullptr; }
  virtual bool fence_done(void* fence) noexcept { return true; }
  virtual void fence_wait(void* fence) noexcept {}
  virtual void fence_release(void* fence) noexcept {}
  // Waits for the work enqueued on `stream` (when no fence could be recorded).
  virtual void stream_wait(void* stream) noexcept {}
  // The pool is closing: fences and other resources of the source go now.
  virtual void close() noexcept {}
};

struct CachePolicy {
  size_t small_limit = size_t{1} << 20;  // requests up to this size...
  size_t small_round = 512;              // ...round to this
  size_t large_round = size_t{2} << 20;  // larger ones to this
  unsigned slack_eighths = 2;            // a cached block serves requests down to 8/(8+slack) of its size
  uint64_t cap = UINT64_MAX;             // most bytes kept cached
  bool bounded_footprint = false;        // in_use + cached never above the in-use high-water mark...
  unsigned footprint_margin_sixteenths = 0;  // ...plus this many sixteenths of it
};

class CachingAllocator {
 public:
  CachingAllocator(std::unique_ptr<MemorySource> source, CachePolicy policy);
  ~CachingAllocator();  // releases the cache; blocks still held by tensors are freed when they return
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // The size of the block that serves a request of `bytes`.
  size_t round_size(size_t bytes) const;

  // A block of at least `bytes` (nullptr for 0) for work on `stream`. `what`
  // describes the request in the error when memory runs out (a shape).
  void* allocate(size_t bytes, void* stream, const std::string& what);
  // Returns `p` to the cache. With `used_on` set (another stream that used the
  // block), the block waits for the work enqueued on `used_on` so far. Never
  // throws: it runs in tensor deleters.
  void free(void* p, void* used_on = nullptr) noexcept;
  // Every cached block back to the system (waiting for pending ones first).
  void release_cache();
  // The most bytes kept cached from now on (trims the cache at once).
  void set_cap(uint64_t bytes);
  // The owner's streams are going away: release the cache, and from now on give
  // blocks straight back to the system when their tensors let them go.
  void close();

  MemoryStats stats() const;
  MemorySource& source() { return *source_; }

 private:
  struct Block {
    void* ptr = nullptr;
    size_t size = 0;
    void* stream = nullptr;
    uint64_t freed_at = 0;  // free() sequence number: least recently freed blocks are evicted first
  };
  struct Pending {
    Block block;
    void* fence = nullptr;  // recorded on the other stream at free time
  };
  struct BySize {  // free blocks ordered by stream, then size: best fit is a lower_bound
    bool operator()(const Block& a, const Block& b) const;
  };

  void cache_locked(Block b);
  void uncache_locked(std::set<Block, BySize>::iterator it);
  void evict_oldest_locked();
  uint64_t footprint_limit_locked(size_t size) const;
  void make_room_locked(size_t size);
  void* resize_cached_locked(size_t size, void* stream);
  void collect_pending_locked();
  void release_cache_locked();
  void trim_to_cap_locked();
  void system_free_locked(const Block& b) noexcept;

  std::unique_ptr<MemorySource> source_;
  const CachePolicy policy_;
  mutable std::mutex mu_;
  bool closed_ = false;
  uint64_t cap_;
  uint64_t next_free_seq_ = 0;
  std::unordered_map<void*, Block> live_;
  std::set<Block, BySize> free_;
  std::map<uint64_t, Block> free_by_age_;  // the same blocks, by freed_at
  std::vector<Pending> pending_;
  uint64_t in_use_ = 0, cached_ = 0, peak_ = 0, mallocs_ = 0, frees_ = 0, reuses_ = 0, resizes_ = 0;
};

// The host pool (every Tensor::host): 64 B classes up to 1 MiB, then 64 KiB
// classes, at most 1/8 slack, bounded footprint (with a margin of 1/16). Blocks
// of 64 KiB and more are mapped from the kernel (munmap gives them back at once
// when evicted, mremap resizes them), smaller ones come from aligned_alloc. Cap: CORNERNET_HOST_CACHE_MB when set (0: no
// caching), else a quarter of the machine's memory. Never destroyed (tensors
// may outlive every static object), one per shared library that uses it.
CachingAllocator& host_pool();

}  // namespace cn
