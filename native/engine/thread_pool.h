// The engine's worker threads. One pool per process, shared by every Node
// environment (main thread, workers) through a refcount: it is created when the
// first environment loads the addon and joined when the last one unloads.
#pragma once
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
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Threads doing work in parallel_for, the calling thread included.
  int num_threads() const { return num_threads_; }

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

 private:
  void worker_loop(int index);

  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex submit_mutex_;  // one parallel region at a time
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t)>* job_ = nullptr;
  int64_t job_tasks_ = 0;
  int64_t next_task_ = 0;
  int64_t finished_tasks_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace cn
