// NEON activations on 4 lanes. FMAX/FMIN return NaN when either input is NaN, so NaN
// propagates as in torch; silu/sigmoid fall back to the scalar formula per lane.
#pragma once
#include <arm_neon.h>

#include "../activation.h"

namespace mk {

inline float32x4_t activation_neon(float32x4_t v, Activation act) {
  const float32x4_t zero = vdupq_n_f32(0.0f);
  const float32x4_t one = vdupq_n_f32(1.0f);
  const float32x4_t six = vdupq_n_f32(6.0f);
  const float32x4_t half = vdupq_n_f32(0.5f);
  const float32x4_t sixth = vdupq_n_f32(1.0f / 6.0f);
  switch (act) {
    case Activation::kIdentity: return v;
    case Activation::kRelu: return vmaxq_f32(v, zero);
    case Activation::kRelu6: return vminq_f32(vmaxq_f32(v, zero), six);
    // vfmaq_f32(a, b, c) = a + b * c, fused: the same rounding as the x86 FMAs and std::fma.
    case Activation::kHardsigmoid: return vminq_f32(vmaxq_f32(vfmaq_f32(half, v, sixth), zero), one);
    case Activation::kHardswish: return vmulq_f32(v, vminq_f32(vmaxq_f32(vfmaq_f32(half, v, sixth), zero), one));
    case Activation::kSilu:
    case Activation::kSigmoid: {
      float lanes[4];
      vst1q_f32(lanes, v);
      for (float& l : lanes) l = apply_activation(l, act);
      return vld1q_f32(lanes);
    }
  }
  return v;
}

}  // namespace mk
