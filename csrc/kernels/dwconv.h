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
