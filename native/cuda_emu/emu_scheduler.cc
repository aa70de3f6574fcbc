// Runs emulated kernel launches (see emu.h for the model): blocks spread over a
// small pool of OS threads, each block's threads as fibers switched only at
// barriers and warp collectives.
#include <sys/mman.h>
#include <ucontext.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "emu.h"

namespace cn_emu {

thread_local uint3 tl_thread_idx{0, 0, 0};
thread_local BlockState* tl_block = nullptr;

namespace {

constexpr size_t kStackBytes = 128 * 1024;
constexpr size_t kGuardBytes = 4096;  // below each stack: an overflow faults instead of corrupting a neighbour
constexpr unsigned kMaxThreadsPerBlock = 1024;
constexpr size_t kMaxDynamicShared = 48 * 1024;  // the default limit without opting in

const char* collective_name(Collective k) {
  switch (k) {
    case Collective::Shfl: return "__shfl_sync";
    case Collective::ShflUp: return "__shfl_up_sync";
    case Collective::ShflDown: return "__shfl_down_sync";
    case Collective::ShflXor: return "__shfl_xor_sync";
    case Collective::Ballot: return "__ballot_sync";
    case Collective::Any: return "__any_sync";
    case Collective::All: return "__all_sync";
    case Collective::SyncWarp: return "__syncwarp";
  }
  return "?";
}

std::string hex(unsigned v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}

enum class Wait { Ready, Barrier, Warp, Done };

struct Fiber {
  ucontext_t ctx;
  uint3 idx;
  unsigned warp = 0, lane = 0;
  Wait wait = Wait::Ready;
  uint64_t result = 0;
};

// One rendezvous of the lanes named in `mask`, filling as they arrive.
struct Pending {
  Collective kind;
  unsigned mask;
  int width;
  unsigned arrived = 0;
  uint64_t bits[32];
  int arg[32];
};

class StackPool {
 public:
  ~StackPool() {
    for (char* s : stacks_) munmap(s, kStackBytes + kGuardBytes);
  }
  char* get(size_t i) {
    while (stacks_.size() <= i) {
      void* p = mmap(nullptr, kStackBytes + kGuardBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
      if (p == MAP_FAILED) throw KernelError("cannot map a fiber stack for the emulated thread");
      mprotect(p, kGuardBytes, PROT_NONE);
      stacks_.push_back(static_cast<char*>(p));
    }
    return stacks_[i] + kGuardBytes;
  }

 private:
  std::vector<char*> stacks_;
};

class BlockRunner;
thread_local BlockRunner* tl_runner = nullptr;

// Runs one block at a time on the OS thread that owns it.
class BlockRunner {
 public:
  void run(const char* kernel, uint3 bidx, dim3 grid, dim3 block, size_t smem,
           const std::function<void()>& body) {
    kernel_ = kernel;
    body_ = &body;
    error_ = nullptr;
    state_.block_idx = bidx;
    state_.block_dim = block;
    state_.grid_dim = grid;
    smem_.assign(smem ? smem : 1, 0xFF);  // uninitialised shared memory reads as NaN / -1
    state_.dynamic_smem = smem_.data();
    unsigned n = block.x * block.y * block.z;
    fibers_.assign(n, Fiber{});
    warps_.assign((n + 31) / 32, {});
    for (unsigned i = 0; i < n; ++i) {
      Fiber& f = fibers_[i];
      f.idx = uint3{i % block.x, (i / block.x) % block.y, i / (block.x * block.y)};
      f.warp = i / 32;
      f.lane = i % 32;
      getcontext(&f.ctx);
      f.ctx.uc_stack.ss_sp = stacks_.get(i);
      f.ctx.uc_stack.ss_size = kStackBytes;
      f.ctx.uc_link = &sched_;
      makecontext(&f.ctx, &BlockRunner::fiber_main, 0);
    }
    BlockState* saved_block = tl_block;
    BlockRunner* saved_runner = tl_runner;
    tl_block = &state_;
    tl_runner = this;
    try {
      schedule();
    } catch (...) {
      tl_block = saved_block;
      tl_runner = saved_runner;
      throw;
    }
    tl_block = saved_block;
    tl_runner = saved_runner;
  }

  void barrier() {
    current_->wait = Wait::Barrier;
    yield();
  }

  uint64_t collective(Collective kind, unsigned mask, uint64_t bits, int arg, int width) {
    Fiber& f = *current_;
    unsigned bit = 1u << f.lane;
    if (!(mask & bit)) fail(f, std::string(collective_name(kind)) + " with mask " + hex(mask) + ", which leaves out the calling lane " + std::to_string(f.lane));
    if (width < 1 || width > 32 || (width & (width - 1)))
      fail(f, std::string(collective_name(kind)) + " with width " + std::to_string(width) + " (must be a power of two up to 32)");
    auto& pend = warps_[f.warp];
    size_t at = pend.size();
    // Rendezvous are matched by mask: diverged lane groups may each be in their
    // own collective, even with overlapping masks (a lane of the other group joins
    // when it gets there). Masks that can never all meet end as a deadlock report.
    for (size_t i = 0; i < pend.size(); ++i) {
      if (pend[i].mask == mask && !(pend[i].arrived & bit)) {
        at = i;
        break;
      }
    }
    if (at == pend.size()) pend.push_back(Pending{kind, mask, width, 0, {}, {}});
    Pending& c = pend[at];
    if (c.kind != kind || c.width != width)
      fail(f, std::string(collective_name(kind)) + " (width " + std::to_string(width) + ") meets lanes " + hex(c.arrived) +
                  " in " + collective_name(c.kind) + " (width " + std::to_string(c.width) + ") with the same mask");
    c.bits[f.lane] = bits;
    c.arg[f.lane] = arg;
    c.arrived |= bit;
    if (c.arrived != mask) {
      f.wait = Wait::Warp;
      yield();
      return f.result;
    }
    complete(c, f);
    pend.erase(pend.begin() + static_cast<long>(at));
    return f.result;
  }

 private:
  static void fiber_main() {
    BlockRunner* r = tl_runner;
    try {
      (*r->body_)();
    } catch (...) {
      if (!r->error_) r->error_ = std::current_exception();
    }
    r->current_->wait = Wait::Done;
  }

  void yield() { swapcontext(&current_->ctx, &sched_); }

  [[noreturn]] void fail(const Fiber& f, const std::string& what) const {
    throw KernelError("thread (" + std::to_string(f.idx.x) + "," + std::to_string(f.idx.y) + "," + std::to_string(f.idx.z) +
                      ") [warp " + std::to_string(f.warp) + ", lane " + std::to_string(f.lane) + "] calls " + what);
  }

  // The last lane of a rendezvous hands every participant its result.
  void complete(const Pending& c, const Fiber& caller) {
    unsigned ballot = 0;
    for (unsigned l = 0; l < 32; ++l)
      if ((c.mask >> l & 1) && c.bits[l]) ballot |= 1u << l;
    for (unsigned l = 0; l < 32; ++l) {
      if (!(c.mask >> l & 1)) continue;
      Fiber& t = fibers_[caller.warp * 32 + l];
      int seg = static_cast<int>(l) / c.width * c.width;
      int src = static_cast<int>(l);
      switch (c.kind) {
        case Collective::Shfl: src = seg + (c.arg[l] & (c.width - 1)); break;
        case Collective::ShflUp: src = static_cast<int>(l) - c.arg[l] < seg ? static_cast<int>(l) : static_cast<int>(l) - c.arg[l]; break;
        case Collective::ShflDown: src = static_cast<int>(l) + c.arg[l] >= seg + c.width ? static_cast<int>(l) : static_cast<int>(l) + c.arg[l]; break;
        case Collective::ShflXor: src = (static_cast<int>(l) ^ c.arg[l]) >= seg + c.width ? static_cast<int>(l) : (static_cast<int>(l) ^ c.arg[l]); break;
        default: break;
      }
      if (src < 0 || src > 31 || !(c.mask >> src & 1))
        fail(t, std::string(collective_name(c.kind)) + " reading lane " + std::to_string(src) + ", which is not in the mask " + hex(c.mask));
      switch (c.kind) {
        case Collective::Ballot: t.result = ballot; break;
        case Collective::Any: t.result = ballot != 0; break;
        case Collective::All: t.result = ballot == c.mask; break;
        case Collective::SyncWarp: t.result = 0; break;
        default: t.result = c.bits[src]; break;
      }
      if (&t != &caller) t.wait = Wait::Ready;
    }
  }

  void schedule() {
    size_t n = fibers_.size();
    bool forward = true;  // alternated at each barrier, so a missing barrier shows whichever way it bites
    for (;;) {
      bool ran = false;
      for (size_t k = 0; k < n; ++k) {
        Fiber& f = fibers_[forward ? k : n - 1 - k];
        if (f.wait != Wait::Ready) continue;
        current_ = &f;
        tl_thread_idx = f.idx;
        swapcontext(&sched_, &f.ctx);
        ran = true;
        if (error_) std::rethrow_exception(error_);
      }
      if (ran) continue;
      size_t live = 0, at_barrier = 0;
      for (const Fiber& f : fibers_) {
        live += f.wait != Wait::Done;
        at_barrier += f.wait == Wait::Barrier;
      }
      if (!live) return;
      if (at_barrier == live) {
        for (Fiber& f : fibers_)
          if (f.wait == Wait::Barrier) f.wait = Wait::Ready;
        forward = !forward;
        continue;
      }
      throw KernelError(deadlock_report(at_barrier));
    }
  }

  std::string deadlock_report(size_t at_barrier) const {
    std::ostringstream os;
    os << "deadlock: ";
    if (at_barrier) os << at_barrier << " thread(s) wait at __syncthreads; ";
    for (size_t w = 0; w < warps_.size(); ++w) {
      for (const Pending& p : warps_[w]) {
        unsigned missing = p.mask & ~p.arrived, exited = 0, elsewhere = 0;
        for (unsigned l = 0; l < 32; ++l) {
          if (!(missing >> l & 1)) continue;
          size_t i = w * 32 + l;
          if (i >= fibers_.size() || fibers_[i].wait == Wait::Done) exited |= 1u << l;
          else elsewhere |= 1u << l;
        }
        os << "warp " << w << ": lanes " << hex(p.arrived) << " wait in " << collective_name(p.kind) << " with mask "
           << hex(p.mask);
        if (exited) os << " for lanes " << hex(exited) << " that have exited or do not exist";
        if (elsewhere) os << " for lanes " << hex(elsewhere) << " that wait elsewhere";
        os << "; ";
      }
    }
    std::string s = os.str();
    return s.substr(0, s.size() - 2);
  }

  const char* kernel_ = nullptr;
  const std::function<void()>* body_ = nullptr;
  std::exception_ptr error_;
  BlockState state_{};
  std::vector<unsigned char> smem_;
  std::vector<Fiber> fibers_;
  std::vector<std::vector<Pending>> warps_;
  Fiber* current_ = nullptr;
  ucontext_t sched_;
  StackPool stacks_;
};

struct GridJob {
  const char* kernel;
  dim3 grid, block;
  size_t smem;
  const std::function<void()>* body;
  uint64_t total;
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex m;
  std::condition_variable cv;
  uint64_t done = 0;
  std::exception_ptr error;
};

void work_on(GridJob& j) {
  thread_local BlockRunner runner;
  for (;;) {
    uint64_t b = j.next.fetch_add(1);
    if (b >= j.total) return;
    if (!j.failed.load()) {
      uint3 bidx{static_cast<unsigned>(b % j.grid.x), static_cast<unsigned>(b / j.grid.x % j.grid.y),
                 static_cast<unsigned>(b / (static_cast<uint64_t>(j.grid.x) * j.grid.y))};
      try {
        runner.run(j.kernel, bidx, j.grid, j.block, j.smem, *j.body);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(j.m);
        if (!j.error)
          j.error = std::make_exception_ptr(KernelError(std::string("kernel ") + j.kernel + ", block (" + std::to_string(bidx.x) +
                                                        "," + std::to_string(bidx.y) + "," + std::to_string(bidx.z) + "): " + e.what()));
        j.failed = true;
      }
    }
    std::lock_guard<std::mutex> lock(j.m);
    if (++j.done == j.total) j.cv.notify_all();
  }
}

// Helper threads that join the caller in running a grid's blocks. They are never
// joined: they sleep when idle and end with the process.
class Pool {
 public:
  static Pool& get() {
    static Pool* p = new Pool();
    return *p;
  }
  void run(const std::shared_ptr<GridJob>& job) {
    if (helpers_ && job->total > 1) {
      std::lock_guard<std::mutex> lock(m_);
      jobs_.push_back(job);
      cv_.notify_all();
    }
    work_on(*job);
    {
      std::unique_lock<std::mutex> lock(job->m);
      job->cv.wait(lock, [&] { return job->done == job->total; });
    }
    std::lock_guard<std::mutex> lock(m_);
    for (auto it = jobs_.begin(); it != jobs_.end(); ++it)
      if (*it == job) {
        jobs_.erase(it);
        break;
      }
  }

 private:
  Pool() {
    unsigned hw = std::thread::hardware_concurrency();
    unsigned want = hw ? hw : 2;
    if (const char* e = std::getenv("CORNERNET_EMU_THREADS")) want = static_cast<unsigned>(std::atoi(e));
    if (want < 1) want = 1;
    if (want > 8) want = 8;
    helpers_ = want - 1;
    for (unsigned i = 0; i < helpers_; ++i) std::thread([this] { loop(); }).detach();
  }
  void loop() {
    for (;;) {
      std::shared_ptr<GridJob> job;
      {
        std::unique_lock<std::mutex> lock(m_);
        cv_.wait(lock, [&] { return !jobs_.empty(); });
        job = jobs_.front();
        if (job->next.load() >= job->total) {
          jobs_.pop_front();
          continue;
        }
      }
      work_on(*job);
    }
  }
  unsigned helpers_ = 0;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<GridJob>> jobs_;
};

}  // namespace

void syncthreads() {
  if (!tl_runner) throw KernelError("__syncthreads() called outside a kernel");
  tl_runner->barrier();
}

uint64_t warp_collective(Collective kind, unsigned mask, uint64_t bits, int arg, int width) {
  if (!tl_runner) throw KernelError(std::string(collective_name(kind)) + " called outside a kernel");
  return tl_runner->collective(kind, mask, bits, arg, width);
}

void run_grid(const char* kernel, dim3 grid, dim3 block, size_t smem, const std::function<void()>& body) {
  uint64_t threads = static_cast<uint64_t>(block.x) * block.y * block.z;
  std::string where = std::string("launch of ") + kernel + ": ";
  if (!threads || threads > kMaxThreadsPerBlock || block.z > 64)
    throw KernelError(where + "invalid configuration argument (block " + std::to_string(block.x) + "x" + std::to_string(block.y) +
                      "x" + std::to_string(block.z) + ", at most 1024 threads)");
  if (!grid.x || !grid.y || !grid.z || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535)
    throw KernelError(where + "invalid configuration argument (grid " + std::to_string(grid.x) + "x" + std::to_string(grid.y) +
                      "x" + std::to_string(grid.z) + ")");
  if (smem > kMaxDynamicShared)
    throw KernelError(where + std::to_string(smem) + " bytes of dynamic shared memory (at most 49152 without opting in)");
  if (tl_runner) throw KernelError(where + "launched from inside a kernel (not emulated)");
  auto job = std::make_shared<GridJob>();
  job->kernel = kernel;
  job->grid = grid;
  job->block = block;
  job->smem = smem;
  job->body = &body;
  job->total = static_cast<uint64_t>(grid.x) * grid.y * grid.z;
  Pool::get().run(job);
  if (job->error) std::rethrow_exception(job->error);
}

}  // namespace cn_emu
