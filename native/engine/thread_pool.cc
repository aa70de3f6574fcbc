#include "thread_pool.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>

namespace cn {

namespace {
// Marks threads that are inside a parallel region, so nested calls run inline.
thread_local bool t_in_parallel_region = false;
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

ThreadPool::ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)) {
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop(int) {
  uint64_t seen = 0;
  t_in_parallel_region = true;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
    if (stop_) return;
    seen = generation_;
    while (job_ && next_task_ < job_tasks_) {
      int64_t task = next_task_++;
      const auto* job = job_;
      lock.unlock();
      std::exception_ptr err;
      try {
        (*job)(task);
      } catch (...) {
        err = std::current_exception();
      }
      lock.lock();
      if (err && !error_) error_ = err;
      if (++finished_tasks_ == job_tasks_) done_.notify_all();
    }
  }
}

void ThreadPool::run_tasks(int64_t tasks, const std::function<void(int64_t)>& fn) {
  if (tasks <= 0) return;
  if (tasks == 1 || num_threads_ == 1 || t_in_parallel_region) {
    for (int64_t t = 0; t < tasks; ++t) fn(t);
    return;
  }
  std::lock_guard<std::mutex> submit(submit_mutex_);
  std::unique_lock<std::mutex> lock(mutex_);
  job_ = &fn;
  job_tasks_ = tasks;
  next_task_ = 0;
  finished_tasks_ = 0;
  error_ = nullptr;
  ++generation_;
  wake_.notify_all();
  // The caller works too, then waits for the stragglers.
  t_in_parallel_region = true;
  while (next_task_ < job_tasks_) {
    int64_t task = next_task_++;
    lock.unlock();
    std::exception_ptr err;
    try {
      fn(task);
    } catch (...) {
      err = std::current_exception();
    }
    lock.lock();
    if (err && !error_) error_ = err;
    ++finished_tasks_;
  }
  t_in_parallel_region = false;
  done_.wait(lock, [&] { return finished_tasks_ == job_tasks_; });
  job_ = nullptr;
  std::exception_ptr err = error_;
  error_ = nullptr;
  lock.unlock();
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
