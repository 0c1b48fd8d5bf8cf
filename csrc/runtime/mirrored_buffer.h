// A float buffer mapped twice, back to back: byte i and byte i + size() are the same
// memory, so a run of up to size() bytes starting anywhere in the first mapping is
// contiguous. An inverted residual's row-band window uses it as a ring: sliding the
// window to the next band moves a start offset instead of memmoving the rows the bands
// share (v2's 112x112 and 56x56 blocks moved 1-2 rows of 32-43 KB per band, 2.5-3.3% of
// those blocks; bench/NOTES.md). Linux only (memfd_create); elsewhere, or when a mapping
// fails, ensure() returns false and the caller moves the rows as before. A process forked
// after a buffer was made gets a new one on its next ensure(), not its parent's memory.
#pragma once
#include <cstdint>

namespace mk {

class MirroredBuffer {
 public:
  MirroredBuffer() = default;
  MirroredBuffer(const MirroredBuffer&) = delete;
  MirroredBuffer& operator=(const MirroredBuffer&) = delete;
  ~MirroredBuffer();

  // At least `floats` (> 0) floats, rounded up to whole pages; grown, never shrunk. False
  // if the mappings could not be made (the buffer is then empty) or floats <= 0.
  bool ensure(int64_t floats);
  float* data() const { return data_; }
  // Floats in one mapping (a multiple of the page size in bytes); data()[i] and
  // data()[i + size()] are the same float.
  int64_t size() const { return floats_; }

 private:
  void release();
  float* data_ = nullptr;
  int64_t floats_ = 0;
  bool failed_ = false;  // one failed mapping: not tried again (the fallback is as fast as before)
  uint64_t generation_ = 0;  // the fork generation the mapping was made in (a child remaps)
};

}  // namespace mk
