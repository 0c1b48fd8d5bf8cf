// NCHW -> NHWC for a network's input: callers hand PyTorch's default (NCHW) layout
// straight to the C++ network instead of paying torch's generic strided copy
// (`contiguous(channels_last)`: ~85 us for a 3x224x224 image, bench/NOTES.md).
#pragma once
#include <cstdint>

namespace mk {

// x [batch][channels][pixels] -> y [batch][pixels][channels]; x and y must not overlap.
// Split over the thread pool in pixel ranges.
void nchw_to_nhwc(const float* x, int64_t batch, int64_t channels, int64_t pixels, float* y);

}  // namespace mk
