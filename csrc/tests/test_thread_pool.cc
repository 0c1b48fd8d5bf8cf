#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <stdexcept>
#include <vector>

#include "../runtime/thread_pool.h"
#include "../runtime/tuning.h"
#include "harness.h"

TEST_CASE("thread pool: every index runs exactly once, for any thread count") {
  auto& pool = mk::ThreadPool::instance();
  const int saved = pool.num_threads();
  const bool saved_ends = mk::get_tuning("pool_split_ends");
  for (bool ends : {false, true}) {  // workers claim from the front or from the back
    mk::set_tuning("pool_split_ends", ends);
    for (int threads : {1, 2, 3, 5}) {
      pool.set_num_threads(threads);
      for (int64_t n : {0, 1, 7, 100, 1001}) {
        std::vector<std::atomic<int>> hits(n);
        pool.parallel_for(n, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) hits[i]++;
        });
        for (int64_t i = 0; i < n; ++i)
          CHECK_MSG(hits[i] == 1, "ends=%d threads=%d n=%lld i=%lld", int(ends), threads, (long long)n, (long long)i);
      }
    }
  }
  mk::set_tuning("pool_split_ends", saved_ends);
  pool.set_num_threads(saved);
}

TEST_CASE("thread pool: a task's exception reaches the caller") {
  auto& pool = mk::ThreadPool::instance();
  bool threw = false;
  try {
    pool.parallel_for(100, [](int64_t b, int64_t) {
      if (b == 0) throw std::runtime_error("boom");
    });
  } catch (const std::runtime_error&) {
    threw = true;
  }
  CHECK(threw);
  int64_t sum = 0;
  pool.parallel_for(10, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) __atomic_add_fetch(&sum, i, __ATOMIC_RELAXED);
  });
  CHECK(sum == 45);
}

TEST_CASE("thread pool: back-to-back jobs with late workers run every index once") {
  // Workers claim chunks by generation: one that wakes after its job finished must not run
  // a chunk of the next job twice, or of a job that already returned. Many tiny jobs in a
  // row (workers still catching up on old ones), some after a pause long enough for the
  // workers to fall asleep.
  auto& pool = mk::ThreadPool::instance();
  const int saved = pool.num_threads();
  const bool saved_ends = mk::get_tuning("pool_split_ends");
  struct Run {
    int threads;
    bool ends;  // workers claim from the back
  };
  for (const Run run : {Run{2, false}, Run{2, true}, Run{3, true}}) {
    const int threads = run.threads;
    pool.set_num_threads(threads);
    mk::set_tuning("pool_split_ends", run.ends);
    int bad = 0;
    for (int job = 0; job < 20000; ++job) {
      const int64_t n = 1 + job % 9;
      std::vector<std::atomic<int>> hits(n);
      pool.parallel_for(n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[i]++;
      });
      for (int64_t i = 0; i < n; ++i) bad += hits[i] != 1;
      if (job % 5000 == 4999) std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
    CHECK_MSG(bad == 0, "threads=%d ends=%d: %d indices not run exactly once", threads, int(run.ends), bad);
  }
  mk::set_tuning("pool_split_ends", saved_ends);
  pool.set_num_threads(saved);
}

#if defined(__linux__)
#include <sched.h>

#include <mutex>

namespace {
// The CPUs the calling thread may run on.
std::vector<int> thread_cpus() {
  cpu_set_t set;
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}
}  // namespace

TEST_CASE("thread pool: workers pinned one per CPU when the pool spans every CPU (pool_pin_workers)") {
  auto& pool = mk::ThreadPool::instance();
  const int saved = pool.num_threads();
  const bool saved_pin = mk::get_tuning("pool_pin_workers");
  const std::vector<int> all = thread_cpus();
  const int n = static_cast<int>(all.size());
  for (bool pin : {false, true}) {
    mk::set_tuning("pool_pin_workers", pin);
    pool.set_num_threads(1);
    pool.set_num_threads(n);  // the workers start again, reading the switch
    // One chunk per thread: each waits in its chunk until every thread has one, so no
    // thread runs two, and records its CPUs.
    std::mutex m;
    std::vector<std::vector<int>> seen;
    std::atomic<int> arrived{0};
    pool.parallel_for(n, [&](int64_t, int64_t) {
      {
        std::lock_guard<std::mutex> lock(m);
        seen.push_back(thread_cpus());
      }
      arrived++;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (arrived.load() < n && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    });
    CHECK_MSG(static_cast<int>(seen.size()) == n, "pin=%d: %d threads ran, expected %d", int(pin), int(seen.size()), n);
    // The caller keeps every CPU; each worker has one CPU of its own when pinned, else all.
    int whole = 0;
    std::vector<int> singles;
    for (const auto& cpus : seen) {
      if (cpus == all) whole++;
      else if (cpus.size() == 1) singles.push_back(cpus[0]);
    }
    std::sort(singles.begin(), singles.end());
    const bool distinct = std::adjacent_find(singles.begin(), singles.end()) == singles.end();
    if (pin && n > 1) {
      CHECK_MSG(whole == 1 && static_cast<int>(singles.size()) == n - 1 && distinct,
                "pinned: %d threads with every CPU, %d with one (distinct: %d), n = %d", whole, int(singles.size()),
                int(distinct), n);
    } else {
      CHECK_MSG(whole == n, "unpinned: %d of %d threads with every CPU", whole, n);
    }
  }
  mk::set_tuning("pool_pin_workers", saved_pin);
  pool.set_num_threads(saved);
}
#endif
