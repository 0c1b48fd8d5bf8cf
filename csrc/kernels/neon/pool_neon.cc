// NEON channel sums and channel scaling, 4 lanes, scalar channel tail.
#include <arm_neon.h>

#include "../pool.h"

namespace mk {

void channel_sum_neon(const float* x, int64_t pixels, int64_t channels, int64_t stride, float* sum) {
  int64_t c = 0;
  for (; c + 4 <= channels; c += 4) {
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = vdupq_n_f32(0.0f);
    int64_t p = 0;
    for (; p + 2 <= pixels; p += 2) {
      a0 = vaddq_f32(a0, vld1q_f32(x + p * stride + c));
      a1 = vaddq_f32(a1, vld1q_f32(x + (p + 1) * stride + c));
    }
    if (p < pixels) a0 = vaddq_f32(a0, vld1q_f32(x + p * stride + c));
    vst1q_f32(sum + c, vaddq_f32(vld1q_f32(sum + c), vaddq_f32(a0, a1)));
  }
  for (; c < channels; ++c) {
    float a = 0.0f;
    for (int64_t p = 0; p < pixels; ++p) a += x[p * stride + c];
    sum[c] += a;
  }
}

void channel_scale_neon(const float* x, int64_t pixels, int64_t channels, int64_t stride, const float* scale,
                        float* y) {
  for (int64_t p = 0; p < pixels; ++p) {
    const float* xp = x + p * stride;
    float* yp = y + p * stride;
    int64_t c = 0;
    for (; c + 4 <= channels; c += 4) vst1q_f32(yp + c, vmulq_f32(vld1q_f32(xp + c), vld1q_f32(scale + c)));
    for (; c < channels; ++c) yp[c] = xp[c] * scale[c];
  }
}

}  // namespace mk
