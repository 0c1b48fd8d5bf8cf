// AVX-512 activations on 16 lanes; silu/sigmoid fall back to the scalar formula per lane.
#pragma once
#include <immintrin.h>

#include "../activation.h"

namespace mk {

// max_ps/min_ps return their second operand when either is NaN: with v second, NaN
// propagates as in torch.
inline __m512 clamp_avx512(__m512 v, __m512 lo, __m512 hi) { return _mm512_min_ps(hi, _mm512_max_ps(lo, v)); }

__attribute__((always_inline)) inline __m512 activation_avx512(__m512 v, Activation act) {
  const __m512 zero = _mm512_setzero_ps();
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 six = _mm512_set1_ps(6.0f);
  const __m512 half = _mm512_set1_ps(0.5f);
  const __m512 sixth = _mm512_set1_ps(1.0f / 6.0f);
  switch (act) {
    case Activation::kIdentity: return v;
    case Activation::kRelu: return _mm512_max_ps(zero, v);
    case Activation::kRelu6: return clamp_avx512(v, zero, six);
    case Activation::kHardsigmoid: return clamp_avx512(_mm512_fmadd_ps(v, sixth, half), zero, one);
    case Activation::kHardswish: return _mm512_mul_ps(v, clamp_avx512(_mm512_fmadd_ps(v, sixth, half), zero, one));
    case Activation::kSilu:
    case Activation::kSigmoid: {
      alignas(64) float lanes[16];
      _mm512_store_ps(lanes, v);
      for (float& l : lanes) l = apply_activation(l, act);
      return _mm512_load_ps(lanes);
    }
  }
  return v;
}

// The first `n` (0..16) lanes: masked loads of the other lanes touch no memory.
inline __mmask16 tail_mask_avx512(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

}  // namespace mk
