#include "thread_pool.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace cn {

namespace {
// Marks threads that are inside a parallel region, so nested calls run inline.
thread_local bool t_in_parallel_region = false;

constexpr uint64_t kTaskBits = 0xffffffffull;
// The claim word's task index while a region is being set up: no task is that high.
constexpr uint64_t kNoTask = kTaskBits;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spins until ready() or spin_ns have passed; says whether ready() held.
template <class Ready>
bool spin_until(int64_t spin_ns, Ready ready) {
  if (ready()) return true;
  if (spin_ns <= 0) return false;
  auto start = std::chrono::steady_clock::now();
  for (int i = 1;; ++i) {
    cpu_relax();
    if (ready()) return true;
    if ((i & 63) == 0 && std::chrono::steady_clock::now() - start > std::chrono::nanoseconds(spin_ns))
      return ready();
  }
}
}  // namespace

int ThreadPool::default_threads() {
  if (const char* env = std::getenv("CORNERNET_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n >= 1) return std::min(n, 1024);
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n >= 1) return n;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc ? static_cast<int>(hc) : 1;
}

int64_t ThreadPool::default_spin_us() {
  if (const char* env = std::getenv("CORNERNET_SPIN_US")) {
    char* end = nullptr;
    long long v = std::strtoll(env, &end, 10);
    if (end != env && *end == '\0' && v >= 0) return std::min<long long>(v, 1000000);
  }
  return 200;
}

ThreadPool::ThreadPool(int num_threads, int64_t spin_us)
    : num_threads_(std::max(1, num_threads)), spin_ns_((spin_us < 0 ? default_spin_us() : spin_us) * 1000) {
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_claimed(uint64_t generation, const std::function<void(int64_t)>& fn,
                             int64_t tasks) {
  const uint64_t tag = (generation & kTaskBits) << 32;
  for (;;) {
    uint64_t c = claim_.load();
    if ((c & ~kTaskBits) != tag) return;  // a later region: not ours to run
    const int64_t task = static_cast<int64_t>(c & kTaskBits);
    if (task >= tasks) return;
    if (!claim_.compare_exchange_weak(c, c + 1)) continue;
    try {
      fn(task);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
    }
    // The caller either sees every task finished or is asleep and is woken here.
    if (finished_tasks_.fetch_add(1) + 1 == tasks && caller_sleeping_.load()) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_.notify_all();
    }
  }
}

void ThreadPool::worker_loop() {
  t_in_parallel_region = true;
  uint64_t seen = 0;
  for (;;) {
    auto fresh = [&] { return stop_.load() || generation_.load() != seen; };
    if (!spin_until(spin_ns_, fresh)) {
      std::unique_lock<std::mutex> lock(mutex_);
      sleeping_workers_.fetch_add(1);
      wake_.wait(lock, fresh);
      sleeping_workers_.fetch_sub(1);
    }
    if (stop_.load()) return;
    seen = generation_.load();
    // Read after the generation: at least this region's job. If the caller has
    // moved on, the claim word carries a later generation and nothing is run.
    const auto* fn = job_.load();
    const int64_t tasks = job_tasks_.load();
    if (fn) run_claimed(seen, *fn, tasks);
  }
}

void ThreadPool::run_tasks(int64_t tasks, const std::function<void(int64_t)>& fn) {
  if (tasks <= 0) return;
  if (tasks == 1 || num_threads_ == 1 || t_in_parallel_region) {
    for (int64_t t = 0; t < tasks; ++t) fn(t);
    return;
  }
  if (static_cast<uint64_t>(tasks) >= kNoTask) throw std::length_error("ThreadPool::run_tasks: too many tasks");
  std::lock_guard<std::mutex> submit(submit_mutex_);
  const uint64_t generation = generation_.load() + 1;
  const uint64_t tag = (generation & kTaskBits) << 32;
  // Close the claim word to the previous region before its job is replaced.
  claim_.store(tag | kNoTask);
  error_ = nullptr;
  finished_tasks_.store(0);
  job_tasks_.store(tasks);
  job_.store(&fn);
  claim_.store(tag);
  generation_.store(generation);
  if (sleeping_workers_.load() > 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_.notify_all();
  }
  // The caller works too, then waits for the stragglers.
  t_in_parallel_region = true;
  run_claimed(generation, fn, tasks);
  t_in_parallel_region = false;
  auto all_done = [&] { return finished_tasks_.load() == tasks; };
  if (!spin_until(spin_ns_, all_done)) {
    std::unique_lock<std::mutex> lock(mutex_);
    caller_sleeping_.store(true);
    done_.wait(lock, all_done);
    caller_sleeping_.store(false);
  }
  job_.store(nullptr);
  std::exception_ptr err;
  {
    std::lock_guard<std::mutex> lock(error_mutex_);
    err = error_;
    error_ = nullptr;
  }
  if (err) std::rethrow_exception(err);
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn,
                              int64_t grain) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t chunks = std::min<int64_t>(num_threads_, (n + grain - 1) / grain);
  if (chunks <= 1 || t_in_parallel_region) {
    fn(0, n);
    return;
  }
  int64_t per = (n + chunks - 1) / chunks;
  run_tasks(chunks, [&](int64_t c) {
    int64_t b = c * per, e = std::min(n, b + per);
    if (b < e) fn(b, e);
  });
}

}  // namespace cn
