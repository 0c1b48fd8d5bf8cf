// NEON depthwise row kernel: per output pixel, the taps inside the image (so padding
// costs no branch in the channel loop), 16 channels per step in 4 independent
// accumulators, then 4-channel vectors, then a scalar tail (NEON has no masked loads,
// and nothing may be read past the last channel).
#include <arm_neon.h>

#include "../dwconv.h"
#include "activation_neon.h"

namespace mk {

void dwconv_row_neon(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t oy) {
  const int64_t C = p.channels;
  const float* bias = packed + static_cast<int64_t>(p.kernel_h) * p.kernel_w * C;
  DwconvTaps taps;
  for (int64_t ox = 0; ox < p.out_width; ++ox) {
    dwconv_valid_taps(p, oy, ox, taps);
    float* y = y_row + ox * C;
    int64_t c = 0;
    for (; c + 16 <= C; c += 16) {
      float32x4_t a0 = vld1q_f32(bias + c), a1 = vld1q_f32(bias + c + 4);
      float32x4_t a2 = vld1q_f32(bias + c + 8), a3 = vld1q_f32(bias + c + 12);
      for (int t = 0; t < taps.count; ++t) {
        const float* xp = x + taps.offset[t] + c;
        const float* wp = packed + taps.tap[t] * C + c;
        a0 = vfmaq_f32(a0, vld1q_f32(xp), vld1q_f32(wp));
        a1 = vfmaq_f32(a1, vld1q_f32(xp + 4), vld1q_f32(wp + 4));
        a2 = vfmaq_f32(a2, vld1q_f32(xp + 8), vld1q_f32(wp + 8));
        a3 = vfmaq_f32(a3, vld1q_f32(xp + 12), vld1q_f32(wp + 12));
      }
      vst1q_f32(y + c, activation_neon(a0, p.act));
      vst1q_f32(y + c + 4, activation_neon(a1, p.act));
      vst1q_f32(y + c + 8, activation_neon(a2, p.act));
      vst1q_f32(y + c + 12, activation_neon(a3, p.act));
    }
    for (; c + 4 <= C; c += 4) {
      float32x4_t a = vld1q_f32(bias + c);
      for (int t = 0; t < taps.count; ++t) {
        a = vfmaq_f32(a, vld1q_f32(x + taps.offset[t] + c), vld1q_f32(packed + taps.tap[t] * C + c));
      }
      vst1q_f32(y + c, activation_neon(a, p.act));
    }
    for (; c < C; ++c) {
      float acc = bias[c];
      for (int t = 0; t < taps.count; ++t) acc = std::fma(x[taps.offset[t] + c], packed[taps.tap[t] * C + c], acc);
      y[c] = apply_activation(acc, p.act);
    }
  }
}

}  // namespace mk
