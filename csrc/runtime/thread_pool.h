// A persistent thread pool. parallel_for splits [0, n) into chunks that the calling
// thread and the workers claim from an atomic ticket; it returns once every chunk ran.
// Calls from several threads at once are serialized; a parallel_for issued from inside a
// task runs inline. After fork() the child gets a fresh pool with the parent's thread count.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mk {

class ThreadPool {
 public:
  using Task = std::function<void(int64_t begin, int64_t end)>;

  static ThreadPool& instance();
  static constexpr int kMaxThreads = 1024;

  // Total threads used by parallel_for, caller included (>= 1).
  void set_num_threads(int n);
  int num_threads() const;
  // The threads a parallel_for issued here would use: 1 inside a task (it runs inline),
  // else num_threads(). Drivers size their splits with it.
  int threads_here() const;

  // Runs task(begin, end) over disjoint chunks covering [0, n). Exceptions thrown
  // by a task are rethrown in the caller (the first one wins).
  void parallel_for(int64_t n, const Task& task, int64_t grain = 1);

  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

 private:
  ThreadPool();
  void start_workers(int count);
  void stop_workers();
  void worker_loop(uint64_t seen_generation);
  // Claims and runs chunks of job `generation` until none is left or a newer job started:
  // the caller from the front, workers from the back when back_ (pool_split_ends).
  void run_chunks(uint32_t generation, bool from_back);

  std::mutex call_mutex_;  // one parallel_for at a time
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::vector<std::thread> workers_;
  bool stopping_ = false;
  uint64_t generation_ = 0;             // guarded by mutex_
  std::atomic<uint64_t> published_{0};  // generation_, readable without the mutex
  std::atomic<int> num_threads_{1};

  // The job in flight. A chunk is claimed by a compare-exchange on `ticket_` (generation
  // in bits 63-32, next chunk in 31-16, chunk count in 15-0), so a worker that wakes late,
  // after its job finished, can never take a chunk of the next one; and the caller waits only for
  // chunks that were claimed, not for every worker to check in (a worker whose vCPU is
  // slow to be scheduled used to hold each parallel_for up by 1-2 ms: bench/NOTES.md).
  std::atomic<uint64_t> ticket_{0};
  std::atomic<const Task*> task_{nullptr};
  std::atomic<int64_t> n_{0}, chunk_{1}, chunks_{0};
  bool back_ = false;  // guarded by mutex_: this job's workers claim from the back
  std::atomic<int64_t> completed_{0};
  std::exception_ptr error_;
  std::mutex error_mutex_;
};

int default_num_threads();

// The part size that splits `total` items into parts of at most `max_part` items (a
// multiple of `align`), their count rounded up to a multiple of the thread count when it
// is at least `min_parts` (tuning switch gemm_even_blocks): equal parts give each thread
// equal work, where blocks of 512, 512, 512 and 64 rows gave one thread 1.5x the other's.
int64_t even_part_size(int64_t total, int64_t max_part, int64_t align, int64_t min_parts);

}  // namespace mk
