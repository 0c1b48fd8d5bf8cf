#include "layout.h"

#include "../runtime/check.h"
#include "../runtime/thread_pool.h"

namespace mk {

namespace {

// One image's pixels [p0, p1). C known at compile time (3, the RGB stem) lets the compiler
// keep the channel loop unrolled and the stores contiguous.
template <int C>
void interleave(const float* x, int64_t pixels, int64_t p0, int64_t p1, float* y) {
  for (int64_t p = p0; p < p1; ++p)
    for (int c = 0; c < C; ++c) y[p * C + c] = x[c * pixels + p];
}

void interleave_any(const float* x, int64_t channels, int64_t pixels, int64_t p0, int64_t p1, float* y) {
  // Blocks of 64 pixels x 64 channels: reads and writes both stay within a few hundred lines.
  constexpr int64_t kBlock = 64;
  for (int64_t c0 = 0; c0 < channels; c0 += kBlock) {
    const int64_t c1 = c0 + kBlock < channels ? c0 + kBlock : channels;
    for (int64_t b = p0; b < p1; b += kBlock) {
      const int64_t e = b + kBlock < p1 ? b + kBlock : p1;
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t p = b; p < e; ++p) y[p * channels + c] = x[c * pixels + p];
    }
  }
}

}  // namespace

void nchw_to_nhwc(const float* x, int64_t batch, int64_t channels, int64_t pixels, float* y) {
  require(x && y, "nchw_to_nhwc: null buffer");
  require(batch >= 1 && channels >= 1 && pixels >= 1, "nchw_to_nhwc: sizes must be >= 1");
  constexpr int64_t kChunk = 4096;  // pixels per task
  const int64_t chunks = (pixels + kChunk - 1) / kChunk;
  ThreadPool::instance().parallel_for(batch * chunks, [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t n = job / chunks, p0 = (job % chunks) * kChunk;
      const int64_t p1 = p0 + kChunk < pixels ? p0 + kChunk : pixels;
      const float* xn = x + n * channels * pixels;
      float* yn = y + n * channels * pixels;
      if (channels == 3) {
        interleave<3>(xn, pixels, p0, p1, yn);
      } else if (channels == 1) {
        interleave<1>(xn, pixels, p0, p1, yn);
      } else {
        interleave_any(xn, channels, pixels, p0, p1, yn);
      }
    }
  });
}

}  // namespace mk
