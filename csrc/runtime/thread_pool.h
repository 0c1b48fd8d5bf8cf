// A persistent thread pool. parallel_for splits [0, n) into chunks that the calling
// thread and the workers take from an atomic counter. Calls from several threads at
// once are serialized; a parallel_for issued from inside a task runs inline. After fork()
// the child gets a fresh pool with the parent's thread count.
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
  void run_chunks();

  std::mutex call_mutex_;  // one parallel_for at a time
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::vector<std::thread> workers_;
  bool stopping_ = false;
  uint64_t generation_ = 0;
  int active_ = 0;
  std::atomic<uint64_t> published_{0};  // generation_, readable without the mutex
  std::atomic<int> remaining_{0};       // active_, readable without the mutex
  std::atomic<int> num_threads_{1};

  // The job in flight.
  const Task* task_ = nullptr;
  int64_t n_ = 0;
  int64_t chunk_ = 1;
  std::atomic<int64_t> next_{0};
  std::exception_ptr error_;
  std::mutex error_mutex_;
};

int default_num_threads();

}  // namespace mk
