// Stem microkernels: the 3x3 stride-2 conv of a 3-channel image (MobileNet's first layer),
// for output pixels whose taps are all inside the image.
//
// The generic path runs this layer as a GEMM with K = 27 in three runs of 9 floats and
// 6-pixel tiles: at N = 16 that is 6 accumulators (latency-bound) and per-tile overhead
// on 27 k steps, ~85-115 GFLOP/s. Here the input layout is fixed at compile time (pixel i
// of a row is 6 floats after pixel i - 1, tap t of a kernel row t floats after its first),
// so every broadcast is a constant offset from one of three row pointers and the whole
// K loop's FMAs unroll: on AVX-512 24 pixels x 16 channels or 12 x 32 (24 accumulators),
// on AVX2 12 x 8 or 6 x 16 (12), on NEON 24 x 4 or 12 x 8 (24).
#pragma once
#include <cstdint>

#include "activation.h"

namespace mk {

struct StemRow {
  const float* x;      // channel 0 of the input pixel under output pixel 0's tap (0, 0)
  int64_t row_stride;  // floats from one input row to the next (width * 3; NCHW: width)
  const float* packed; // [28][n]: rows (ky, kx, ci), then the bias
  int64_t n;           // output channels
  Activation act;
  float* y;            // output pixel 0, [pixels][n]
  int64_t pixels;      // consecutive output pixels of one output row
  int64_t plane = 0;   // NCHW input: floats from one channel's plane to the next; 0: NHWC
};

// Returns false (and writes nothing) when the row is too short for the kernel's tiles;
// the caller then takes the generic path.
#if defined(MK_HAVE_AVX2)
bool conv3x3s2_c3_avx2(const StemRow& r);
#endif
#if defined(MK_HAVE_AVX512)
bool conv3x3s2_c3_avx512(const StemRow& r);
#endif
#if defined(MK_HAVE_NEON)
bool conv3x3s2_c3_neon(const StemRow& r);
#endif

}  // namespace mk
