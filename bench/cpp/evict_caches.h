// Cache eviction for the C++ benchmarks' cold modes (MK_COLD).
#pragma once
#include <cstddef>

#include "runtime/scratch.h"

// Reads 64 MiB, more than any cache level here holds, so the next call's data (weights,
// input) comes from DRAM; returns the sum so the reads are not optimized away.
inline float evict_caches() {
  static const mk::FloatBuffer buf((64 << 20) / 4, 1.0f);
  float s = 0;
  for (std::size_t i = 0; i < buf.size(); i += 16) s += buf[i];
  return s;
}
