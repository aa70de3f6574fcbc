// `test-backend-ops threads`: the engine's thread pool (native/engine/thread_pool.h),
// whose threads spin between parallel regions and sleep after CORNERNET_SPIN_US.
// Each check runs with spinning off (every wait sleeps), the default spin, and a
// spin so long nothing sleeps, and with gaps between regions longer than the spin
// (wake-ups from sleep): every index of every region visited exactly once, task
// errors rethrown to the caller with the pool still usable, nested regions inline,
// and two callers at once. Then CpuBackend::run_branches: a model's branches side
// by side on 2 threads when their tensors are small, in order otherwise. One line
// per check; the count of failures is returned.
#include "thread_pool_checks.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cpu/cpu_backend.h"
#include "engine/thread_pool.h"

namespace {

int failures = 0;

void report(bool ok, const std::string& what, const std::string& detail = "") {
  std::printf("%s  threads  %s%s%s\n", ok ? "ok  " : "FAIL", what.c_str(), detail.empty() ? "" : ": ", detail.c_str());
  if (!ok) ++failures;
}

// `regions` parallel regions over n = 1..97 items (grain 1..3), every item
// incremented once; false and a reason when one was missed or run twice.
bool exact_visits(cn::ThreadPool& pool, int regions, int gap_us, std::string& why) {
  std::vector<std::atomic<int>> hits(97);
  for (int r = 0; r < regions; ++r) {
    const int64_t n = 1 + r % 97, grain = 1 + r % 3;
    for (int64_t i = 0; i < n; ++i) hits[i].store(0);
    pool.parallel_for(n, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
    }, grain);
    for (int64_t i = 0; i < n; ++i)
      if (hits[i].load() != 1) {
        why = "region " + std::to_string(r) + " item " + std::to_string(i) + " run " + std::to_string(hits[i].load()) + " times";
        return false;
      }
    if (gap_us) std::this_thread::sleep_for(std::chrono::microseconds(gap_us));
  }
  return true;
}

void check_pool(int threads, int64_t spin_us) {
  cn::ThreadPool pool(threads, spin_us);
  const std::string tag = std::to_string(threads) + " threads, spin " + std::to_string(spin_us) + " us";
  std::string why;
  report(exact_visits(pool, 20000, 0, why), tag + ": 20000 regions back to back, every item once", why);
  why.clear();
  report(exact_visits(pool, 200, 300, why), tag + ": 200 regions 300 us apart (workers asleep between), every item once", why);

  // An error in one task reaches the caller; the pool then works as before.
  bool thrown = false;
  try {
    pool.run_tasks(16, [](int64_t t) {
      if (t == 5) throw std::runtime_error("task 5 failed");
    });
  } catch (const std::runtime_error& e) {
    thrown = std::string(e.what()) == "task 5 failed";
  }
  why.clear();
  report(thrown && exact_visits(pool, 500, 0, why), tag + ": a task's error rethrown, the pool usable after", thrown ? why : "no error reached the caller");

  // A region inside a region runs inline on the thread that asked.
  std::atomic<int> inner{0}, mismatched{0};
  pool.run_tasks(8, [&](int64_t) {
    const auto me = std::this_thread::get_id();
    pool.parallel_for(100, [&](int64_t b, int64_t e) {
      if (std::this_thread::get_id() != me) mismatched.fetch_add(1);
      inner.fetch_add(static_cast<int>(e - b));
    });
  });
  report(inner.load() == 800 && mismatched.load() == 0, tag + ": nested regions run inline",
         "items " + std::to_string(inner.load()) + ", on another thread " + std::to_string(mismatched.load()));

  // Two threads submitting at once (Node workers share the one pool) take turns.
  std::string why_a, why_b;
  bool ok_a = false, ok_b = false;
  std::thread a([&] { ok_a = exact_visits(pool, 5000, 0, why_a); });
  std::thread b([&] { ok_b = exact_visits(pool, 5000, 0, why_b); });
  a.join();
  b.join();
  report(ok_a && ok_b, tag + ": two callers at once, 5000 regions each", why_a + why_b);
}

// Two branches through CpuBackend::run_branches on a pool of `threads`: whether
// they ran at once (branch 0 waits up to 300 ms for branch 1 to start), on two
// threads, and whether a region inside a branch stayed on its thread.
void check_branches(int threads, int64_t elements, bool side_by_side) {
  cn::ThreadPool pool(threads, 200);
  cn::CpuBackend be(pool, cn::default_isa());
  std::atomic<bool> started1{false}, finished0{false};
  bool overlapped = false, ran_in_order = false;
  std::thread::id ids[2];
  std::atomic<int> nested_elsewhere{0}, calls{0};
  be.run_branches(2, elements, [&](int i) {
    calls.fetch_add(1);
    ids[i] = std::this_thread::get_id();
    if (i == 1) {
      started1 = true;
      ran_in_order = finished0.load();
    } else {
      const auto t0 = std::chrono::steady_clock::now();
      while (!started1.load() && std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(300)) std::this_thread::yield();
      overlapped = started1.load();
    }
    pool.parallel_for(64, [&](int64_t, int64_t) {
      if (std::this_thread::get_id() != ids[i]) nested_elsewhere.fetch_add(1);
    });
    if (i == 0) finished0 = true;
  });
  const std::string tag = "run_branches, " + std::to_string(threads) + " threads, tensors of " + std::to_string(elements) + " floats";
  if (side_by_side)
    report(calls.load() == 2 && overlapped && ids[0] != ids[1] && nested_elsewhere.load() == 0, tag + ": side by side, each branch's regions on its own thread",
           "overlapped " + std::to_string(overlapped) + ", regions split " + std::to_string(nested_elsewhere.load()));
  else
    report(calls.load() == 2 && !overlapped && ran_in_order && ids[0] == std::this_thread::get_id() && ids[1] == ids[0],
           tag + ": in order on the calling thread", "overlapped " + std::to_string(overlapped));
}

}  // namespace

int check_thread_pool() {
  failures = 0;
  for (int threads : {2, 4})
    for (int64_t spin : {0, 200, 1000000}) check_pool(threads, spin);
  check_branches(2, 32 * 32 * 32 * 8, true);  // shapes-tiny's head at batch 8
  check_branches(2, int64_t{256} * 128 * 128, false);  // hourglass104's at 511
  check_branches(1, 1000, false);
  check_branches(4, 1000, false);  // more threads than branches: ops split as before
  std::printf("threads: %d failed\n", failures);
  return failures;
}
