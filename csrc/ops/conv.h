// Dense k x k conv (groups = 1) + bias + activation, e.g. the 3 -> 16/32 stem: an NHWC
// im2col of one row band into per-thread scratch, then the pointwise GEMM tile over it.
// Packed weights [k*k*Cin + 1][Cout] (rows in (ky, kx, ci) order) are exactly the GEMM's B.
#pragma once
#include <cstdint>

#include "../kernels/activation.h"
#include "../runtime/cpu_features.h"

namespace mk {

struct ConvArgs {
  const float* x;       // [batch][height][width][in_channels]
  const float* packed;  // [kernel*kernel*in_channels + 1][out_channels]
  float* y;             // [batch][out_height][out_width][out_channels]
  int64_t batch, height, width, in_channels, out_channels, out_height, out_width;
  int kernel, stride, pad_top, pad_left, pad_bottom, pad_right;
  Activation act;
  // x is [batch][in_channels][height][width] instead (a network's NCHW input read by its
  // stem directly, without moving it to NHWC first).
  bool x_nchw = false;
};

void conv_bn_act(const ConvArgs& a, Isa isa);

// The checks conv_bn_act makes on sizes and weights (not on x and y).
void conv_check(const ConvArgs& a);
// Output rows [oy0, oy1) of image n into y_rows (row oy0's first pixel; rows of
// out_width * out_channels floats, consecutive), on the calling thread. a.y is not used.
// For drivers that consume a conv's output a band at a time (inverted_residual's stem).
void conv_rows(const ConvArgs& a, Isa isa, int64_t n, int64_t oy0, int64_t oy1, float* y_rows);

}  // namespace mk
