// The engine's worker threads. One pool per process, shared by every Node
// environment (main thread, workers) through a refcount: it is created when the
// first environment loads the addon and joined when the last one unloads.
//
// A training step of a small model is thousands of short parallel regions (a
// shapes-tiny step at batch 8: about 4,000), so waking sleeping threads through
// the kernel for each one cost a third of the step on a 2-core VM (measured with
// strace: 8,000 futex calls per step). Threads therefore spin for a short while
// (CORNERNET_SPIN_US, default 200 microseconds) for the next region or for the
// stragglers of the current one before they sleep on a condition variable, as
// OpenMP runtimes do (KMP_BLOCKTIME).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace cn {

class ThreadPool {
 public:
  // spin_us < 0: default_spin_us().
  explicit ThreadPool(int num_threads, int64_t spin_us = -1);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Threads doing work in parallel_for, the calling thread included.
  int num_threads() const { return num_threads_; }
  // Microseconds a waiting thread spins before it sleeps.
  int64_t spin_us() const { return spin_ns_ / 1000; }

  // Runs fn(begin, end) over [0, n) split into at most num_threads() contiguous
  // chunks of at least `grain` items. Blocks until every chunk is done. Calls from
  // inside a chunk run serially (no nested parallelism); concurrent callers from
  // different threads take turns. An exception from fn is rethrown to the caller.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t grain = 1);

  // Like parallel_for but fn(task_index) over [0, tasks): each task one unit.
  void run_tasks(int64_t tasks, const std::function<void(int64_t)>& fn);

  // Threads to use when nothing overrides it: CORNERNET_NUM_THREADS, else the CPUs
  // this process may run on (sched_getaffinity, which honours taskset and cpusets).
  static int default_threads();

  // Microseconds a thread spins before it sleeps: CORNERNET_SPIN_US, else 200.
  static int64_t default_spin_us();

 private:
  void worker_loop();
  // Claims and runs tasks of region `generation` until none is left.
  void run_claimed(uint64_t generation, const std::function<void(int64_t)>& fn, int64_t tasks);

  int num_threads_;
  int64_t spin_ns_;
  std::vector<std::thread> workers_;
  std::mutex submit_mutex_;  // one parallel region at a time
  // The current region. `claim_` holds the region's generation (high 32 bits)
  // and its next task (low 32 bits) in one word, so a thread late from an
  // earlier region can never take a task of the next one with the old function.
  std::atomic<const std::function<void(int64_t)>*> job_{nullptr};
  std::atomic<int64_t> job_tasks_{0};
  std::atomic<uint64_t> claim_{0};
  std::atomic<int64_t> finished_tasks_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
  // Sleeping: workers wait on wake_, the submitting thread on done_, both under mutex_.
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::atomic<int> sleeping_workers_{0};
  std::atomic<bool> caller_sleeping_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

}  // namespace cn
