// Depthwise conv + bias + activation microkernels (NHWC, float32).
//
// Packed weights: [kh*kw + 1][C] row-major: rows 0..kh*kw-1 are the taps in
// (ky, kx) order, the last row is the (BatchNorm-folded) bias.
#pragma once
#include <cstdint>

#include "activation.h"

namespace mk {

struct DwconvParams {
  int64_t height, width, channels;  // input image (one batch element)
  int64_t out_height, out_width;
  int kernel_h, kernel_w;
  int stride_h, stride_w;
  int pad_top, pad_left;
  int dilation_h, dilation_w;
  Activation act;
};

// Computes output row `oy` (all out_width pixels, all channels) of one image.
// `x` points at the image [height][width][channels], `y_row` at the output row
// [out_width][channels]. Reads only in-bounds input; writes every element of the row.
using DwconvRowKernel = void (*)(const DwconvParams& p, const float* x, const float* packed,
                                 float* y_row, int64_t oy);

void dwconv_row_scalar(const DwconvParams& p, const float* x, const float* packed, float* y_row,
                       int64_t oy);
#if defined(MK_HAVE_AVX2)
void dwconv_row_avx2(const DwconvParams& p, const float* x, const float* packed, float* y_row,
                     int64_t oy);
#endif
#if defined(MK_HAVE_AVX512)
void dwconv_row_avx512(const DwconvParams& p, const float* x, const float* packed, float* y_row,
                       int64_t oy);
#endif
#if defined(MK_HAVE_NEON)
void dwconv_row_neon(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t oy);
#endif

// Whether the SIMD row kernels (`lanes` floats per vector) run a row as padded 8-pixel
// groups (padding inside the groups, 8 independent FMA chains) instead of interior groups
// + one-pixel edges: narrow rows (<= 16 output pixels: 7x7 with a 5x5 kernel is 4 of 7
// columns edges), 3x3 or 5x5, dilation 1. Not where a group's input columns, C * 4 bytes
// apart, share L1 sets (C % 512 == 0: 0.84x for AVX2 at 7x7x1024, 0.84-0.88x for 3x3
// stride 2), nor 3x3 stride 2 beyond 8 pixels (two overlapping groups: 0.82-0.85x at
// 28 -> 14). Measured per shape in bench/NOTES.md; tuning switch dw_padded_rows.
inline bool dwconv_padded_rows(const DwconvParams& p, bool enabled, int lanes) {
  const int k = p.kernel_w;
  if (!enabled || p.kernel_h != k || (k != 3 && k != 5) || p.dilation_h != 1 || p.dilation_w != 1 ||
      p.out_width > 16 || p.stride_h != p.stride_w) {
    return false;
  }
  const bool aliased = p.channels % 512 == 0;
  if (p.stride_w == 1) return !(aliased && lanes == 8);
  return p.stride_w == 2 && (k == 5 || (p.out_width <= 8 && !aliased));
}

// Taps of one output pixel that land inside the image: the kernel loops over
// these only, so padding costs no branch in the channel loop.
struct DwconvTaps {
  static constexpr int kMaxTaps = 64;
  int count = 0;
  int tap[kMaxTaps];        // index into the packed weight rows
  int64_t offset[kMaxTaps];  // element offset of the input pixel from x
};

inline void dwconv_valid_taps(const DwconvParams& p, int64_t oy, int64_t ox, DwconvTaps& t) {
  t.count = 0;
  const int64_t iy0 = oy * p.stride_h - p.pad_top;
  const int64_t ix0 = ox * p.stride_w - p.pad_left;
  for (int ky = 0; ky < p.kernel_h; ++ky) {
    const int64_t iy = iy0 + static_cast<int64_t>(ky) * p.dilation_h;
    if (iy < 0 || iy >= p.height) continue;
    for (int kx = 0; kx < p.kernel_w; ++kx) {
      const int64_t ix = ix0 + static_cast<int64_t>(kx) * p.dilation_w;
      if (ix < 0 || ix >= p.width) continue;
      t.tap[t.count] = ky * p.kernel_w + kx;
      t.offset[t.count] = (iy * p.width + ix) * p.channels;
      ++t.count;
    }
  }
}

}  // namespace mk
