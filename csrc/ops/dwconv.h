// Depthwise conv + bias + activation driver: validates every size, splits output rows
// over the thread pool and runs the microkernel chosen for the ISA.
#pragma once
#include <cstdint>

#include "../kernels/dwconv.h"
#include "../runtime/cpu_features.h"

namespace mk {

struct DwconvArgs {
  const float* x;       // [batch][height][width][channels]
  const float* packed;  // [kernel_h*kernel_w + 1][channels]
  float* y;             // [batch][out_height][out_width][channels]
  int64_t batch;
  DwconvParams p;
};

// Output extent of a convolution along one axis; throws when it would be < 1.
int64_t conv_out_size(int64_t in, int kernel, int stride, int pad_before, int pad_after, int dilation,
                      const char* axis);

// The row microkernel for an ISA (scalar when the ISA has none).
DwconvRowKernel dwconv_row_kernel(Isa isa);
// Output rows [oy, oy_end) of one image, y_row pointing at row oy (rows consecutive):
// AVX-512 and AVX2 take them in pairs (dwconv_rows2_*), other ISAs row by row.
void dwconv_rows(Isa isa, const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t oy,
                 int64_t oy_end);

// Throws std::invalid_argument on any inconsistent size/stride/activation.
void dwconv_check(const DwconvArgs& a);
void dwconv_bn_act(const DwconvArgs& a, Isa isa);

}  // namespace mk
