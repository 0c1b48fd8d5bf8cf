// Portable depthwise row kernel: the reference every SIMD variant is tested against.
#include "../dwconv.h"

namespace mk {

void dwconv_row_scalar(const DwconvParams& p, const float* x, const float* packed, float* y_row,
                       int64_t oy) {
  const int64_t C = p.channels;
  const float* bias = packed + static_cast<int64_t>(p.kernel_h) * p.kernel_w * C;
  DwconvTaps taps;
  for (int64_t ox = 0; ox < p.out_width; ++ox) {
    dwconv_valid_taps(p, oy, ox, taps);
    float* y = y_row + ox * C;
    for (int64_t c = 0; c < C; ++c) {
      float acc = bias[c];
      for (int t = 0; t < taps.count; ++t) {
        acc += x[taps.offset[t] + c] * packed[taps.tap[t] * C + c];
      }
      y[c] = apply_activation(acc, p.act);
    }
  }
}

}  // namespace mk
