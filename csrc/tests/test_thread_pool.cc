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
