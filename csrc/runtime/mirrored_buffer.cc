#include "mirrored_buffer.h"

#include <atomic>

#if defined(__linux__)
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace mk {

namespace {
// Bumped in a forked child. The mappings are shared (MAP_SHARED of one memfd), so a child
// would otherwise write into its parent's ring: a buffer made before the fork is dropped
// and made anew (the child's munmap leaves the parent's mapping alone).
std::atomic<uint64_t> fork_generation{0};
#if defined(__linux__)
void on_fork_child() { fork_generation.fetch_add(1, std::memory_order_relaxed); }
#endif
}  // namespace

MirroredBuffer::~MirroredBuffer() { release(); }

void MirroredBuffer::release() {
#if defined(__linux__)
  if (data_) munmap(data_, 2 * static_cast<size_t>(floats_) * sizeof(float));
#endif
  data_ = nullptr;
  floats_ = 0;
}

bool MirroredBuffer::ensure(int64_t floats) {
#if defined(__linux__)
  static const bool registered = pthread_atfork(nullptr, nullptr, on_fork_child) == 0;
  if (!registered) return false;  // fork safety unknown: the caller moves rows instead
#endif
  const uint64_t generation = fork_generation.load(std::memory_order_relaxed);
  if (data_ && generation_ != generation) release();
  generation_ = generation;
  if (data_ && floats <= floats_) return true;
  if (failed_ || floats <= 0) return false;
  release();
#if defined(__linux__)
  const long page = sysconf(_SC_PAGESIZE);
  if (page <= 0) return failed_ = true, false;
  const size_t bytes = (static_cast<size_t>(floats) * sizeof(float) + page - 1) / page * page;
  const int fd = memfd_create("mk_ring", MFD_CLOEXEC);
  if (fd < 0) return failed_ = true, false;
  bool ok = ftruncate(fd, static_cast<off_t>(bytes)) == 0;
  // Reserve 2 x bytes of address space, then map the file over each half.
  void* base = ok ? mmap(nullptr, 2 * bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) : MAP_FAILED;
  ok = base != MAP_FAILED;
  char* p = static_cast<char*>(base);
  ok = ok && mmap(p, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == p;
  ok = ok && mmap(p + bytes, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == p + bytes;
  close(fd);  // the mappings keep the memory
  if (!ok) {
    if (base != MAP_FAILED) munmap(base, 2 * bytes);
    return failed_ = true, false;
  }
  data_ = reinterpret_cast<float*>(p);
  floats_ = static_cast<int64_t>(bytes / sizeof(float));
  return true;
#else
  return failed_ = true, false;
#endif
}

}  // namespace mk
