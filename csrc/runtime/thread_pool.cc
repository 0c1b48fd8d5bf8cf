#include "thread_pool.h"

#include "tuning.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <vector>

namespace mk {

namespace {
thread_local bool in_pool_task = false;
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spin this long before sleeping on the condition variable. A network issues several
// parallel_fors per layer with short serial gaps (Python between chains, the SE
// excitation); a sleeping worker costs a wake-up of tens of microseconds each time, and
// on a virtual machine an idle vCPU may be descheduled. ~1 ms (what OpenMP runtimes and
// ONNX Runtime spin too) kept 2-thread MobileNet v2 at ~1.8x of 1 thread where ~0.1 ms
// gave 1.1-1.6x (bench/NOTES.md).
constexpr auto kSpin = std::chrono::microseconds(1000);

// True once `done()` holds or the spin budget is used up (then the caller sleeps).
template <typename Done>
bool spin_until(Done done) {
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return done();
  }
}

// The CPU for each of `count` workers, or none (unpinned): one each when the pool spans
// every CPU this thread may run on (the default thread count), the caller keeping the one
// it runs on now. Unpinned, a worker woken after an idle spell was at times placed on the
// caller's CPU and stayed there for milliseconds: a 2-thread layer then ran at 1-thread
// speed (17-22 of 60 probe turns on a 2-vCPU VM; pinned, none; bench/NOTES.md).
// Fewer threads than CPUs stay unpinned, free to move away from other processes' work.
std::vector<int> worker_cpus(int count) {
#if defined(__linux__)
  cpu_set_t allowed;
  if (count < 1 || !tuning().pool_pin_workers || sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return {};
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  if (static_cast<int>(cpus.size()) != count + 1) return {};
  const auto here = std::find(cpus.begin(), cpus.end(), sched_getcpu());
  cpus.erase(here != cpus.end() ? here : cpus.end() - 1);
  return cpus;
#else
  (void)count;
  return {};
#endif
}

// Restricts the calling thread to `cpu` (>= 0); a failure leaves it unpinned.
void pin_to(int cpu) {
#if defined(__linux__)
  if (cpu < 0) return;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
#else
  (void)cpu;
#endif
}
}  // namespace

int64_t even_part_size(int64_t total, int64_t max_part, int64_t align, int64_t min_parts) {
  int64_t parts = (total + max_part - 1) / max_part;
  const int64_t threads = ThreadPool::instance().num_threads();
  if (threads > 1 && parts >= min_parts && tuning().gemm_even_blocks) parts = (parts + threads - 1) / threads * threads;
  return ((total + parts - 1) / parts + align - 1) / align * align;
}

int default_num_threads() {
#if defined(__linux__)
  cpu_set_t set;  // the CPUs this process may run on (taskset, cgroups), not all of them
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

namespace {
std::atomic<ThreadPool*> g_pool{nullptr};
std::atomic<int> g_forked_threads{0};

// A forked child has none of the parent's workers: drop (leak) the parent's pool,
// whose mutexes may even be held, and let the next call build a fresh one.
void after_fork_in_child() {
  ThreadPool* old = g_pool.exchange(nullptr);
  if (old != nullptr) g_forked_threads.store(old->num_threads());
}
}  // namespace

ThreadPool& ThreadPool::instance() {
  ThreadPool* pool = g_pool.load(std::memory_order_acquire);
  if (pool != nullptr) return *pool;
  static const int registered = pthread_atfork(nullptr, nullptr, after_fork_in_child);
  (void)registered;
  auto* fresh = new ThreadPool();  // never deleted: workers must not be joined at exit
  const int inherited = g_forked_threads.load();
  if (inherited > 0) fresh->set_num_threads(inherited);
  ThreadPool* expected = nullptr;
  if (!g_pool.compare_exchange_strong(expected, fresh)) {
    delete fresh;  // another thread won the race
    return *expected;
  }
  return *fresh;
}

ThreadPool::ThreadPool() { set_num_threads(default_num_threads()); }

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::set_num_threads(int n) {
  if (n < 1 || n > kMaxThreads) {
    throw std::invalid_argument("num_threads must be in [1, " + std::to_string(kMaxThreads) + "], got " +
                                std::to_string(n));
  }
  std::lock_guard<std::mutex> call(call_mutex_);
  stop_workers();
  start_workers(n - 1);
  num_threads_.store(n);
}

int ThreadPool::num_threads() const { return num_threads_.load(); }

int ThreadPool::threads_here() const { return in_pool_task ? 1 : num_threads(); }

void ThreadPool::start_workers(int count) {
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = false;
    generation = generation_;
  }
  // A new worker must not mistake the last finished job for a new one.
  const std::vector<int> cpus = worker_cpus(count);
  for (int i = 0; i < count; ++i) {
    const int cpu = cpus.empty() ? -1 : cpus[i];
    workers_.emplace_back([this, generation, cpu] {
      pin_to(cpu);
      worker_loop(generation);
    });
  }
}

void ThreadPool::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

void ThreadPool::run_chunks(uint32_t generation, bool from_back) {
  in_pool_task = true;
  for (;;) {
    // The ticket holds the job's generation and its unclaimed chunks [front, back) in one
    // word, so the check and the claim see the same job: a worker that read the fields of
    // one job can never claim a chunk of another (with the count in a separate atomic read
    // before the claim, a late worker read the next job's count and ran a chunk twice).
    uint64_t t = ticket_.load(std::memory_order_acquire);
    if (static_cast<uint32_t>(t >> 32) != generation) break;  // a newer job: ours is done
    const int64_t front = static_cast<int64_t>((t >> 16) & 0xFFFFu), back = static_cast<int64_t>(t & 0xFFFFu);
    if (front >= back) break;
    const int64_t i = from_back ? back - 1 : front;
    if (!ticket_.compare_exchange_weak(t, from_back ? t - 1 : t + (uint64_t{1} << 16), std::memory_order_acq_rel))
      continue;
    // Chunk i of `generation` is ours: that job cannot finish (nor its fields be replaced)
    // before the chunk is counted as completed.
    const int64_t n = n_.load(std::memory_order_relaxed), chunk = chunk_.load(std::memory_order_relaxed);
    const int64_t chunks = chunks_.load(std::memory_order_relaxed);
    try {
      (*task_.load(std::memory_order_relaxed))(i * chunk, std::min(n, (i + 1) * chunk));
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
    }
    if (completed_.fetch_add(1, std::memory_order_acq_rel) + 1 == chunks) {
      { std::lock_guard<std::mutex> lock(mutex_); }  // a caller about to sleep sees the count
      done_.notify_one();
    }
  }
  in_pool_task = false;
}

void ThreadPool::worker_loop(uint64_t seen) {
  for (;;) {
    // Spin briefly before sleeping: a network issues one parallel_for per layer,
    // back to back, and a condition-variable wake-up costs tens of microseconds.
    spin_until([&] { return published_.load(std::memory_order_acquire) != seen; });
    bool from_back;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      from_back = back_;
    }
    run_chunks(static_cast<uint32_t>(seen), from_back);
  }
}

void ThreadPool::parallel_for(int64_t n, const Task& task, int64_t grain) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int threads = num_threads();
  if (in_pool_task || threads == 1 || n <= grain) {
    task(0, n);
    return;
  }
  std::lock_guard<std::mutex> call(call_mutex_);
  const int workers = static_cast<int>(workers_.size());
  // About four chunks per thread balances uneven rows without much counter traffic.
  int64_t chunk = std::max<int64_t>(grain, n / (static_cast<int64_t>(workers + 1) * 4));
  chunk = std::max<int64_t>(chunk, (n + 0xFFFE) / 0xFFFF);  // chunk counts fit the ticket's 16 bits
  const int64_t chunks = (n + chunk - 1) / chunk;
  uint32_t generation;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation = static_cast<uint32_t>(++generation_);
    task_.store(&task, std::memory_order_relaxed);
    n_.store(n, std::memory_order_relaxed);
    chunk_.store(chunk, std::memory_order_relaxed);
    chunks_.store(chunks, std::memory_order_relaxed);
    back_ = tuning().pool_split_ends;
    completed_.store(0, std::memory_order_relaxed);
    error_ = nullptr;
    ticket_.store(static_cast<uint64_t>(generation) << 32 | static_cast<uint64_t>(chunks), std::memory_order_release);
    published_.store(generation_, std::memory_order_release);
  }
  wake_.notify_all();
  run_chunks(generation, false);
  // Wait for the chunks the workers claimed; a worker that has not woken yet holds none.
  const auto all_done = [&] { return completed_.load(std::memory_order_acquire) == chunks; };
  if (!spin_until(all_done)) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, all_done);
  }
  if (error_) std::rethrow_exception(error_);
}

}  // namespace mk
