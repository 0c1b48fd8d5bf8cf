// Float buffers aligned to 64 bytes (a cache line, one zmm vector), and the per-thread
// scratch helper every driver uses. glibc's malloc gives 16-byte alignment (mmap'ed
// blocks start 16 bytes into a page), which made every 64-byte load of a 16-channel
// block split across two cache lines: AVX-512 depthwise ran 0.76x AVX2 until buffers
// were aligned (bench/NOTES.md).
#pragma once
#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

namespace mk {

template <class T>
struct CacheAlignedAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlign{64};
  CacheAlignedAllocator() = default;
  template <class U>
  CacheAlignedAllocator(const CacheAlignedAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlign)); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, kAlign); }
  template <class U>
  bool operator==(const CacheAlignedAllocator<U>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const CacheAlignedAllocator<U>&) const noexcept { return false; }
};

using FloatBuffer = std::vector<float, CacheAlignedAllocator<float>>;

// At least n floats of buf (grown, never shrunk: buffers are reused across calls).
inline float* scratch(FloatBuffer& buf, int64_t n) {
  if (static_cast<int64_t>(buf.size()) < n) buf.resize(n);
  return buf.data();
}

}  // namespace mk
