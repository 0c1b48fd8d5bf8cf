// AVX2 activations on 8 lanes; silu/sigmoid fall back to the scalar formula per lane.
#pragma once
#include <immintrin.h>

#include "../activation.h"

namespace mk {

// max_ps/min_ps return their second operand when either is NaN: with v second, NaN
// propagates as in torch.
inline __m256 clamp_avx2(__m256 v, __m256 lo, __m256 hi) { return _mm256_min_ps(hi, _mm256_max_ps(lo, v)); }

__attribute__((always_inline)) inline __m256 activation_avx2(__m256 v, Activation act) {
  const __m256 zero = _mm256_setzero_ps();
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 six = _mm256_set1_ps(6.0f);
  const __m256 half = _mm256_set1_ps(0.5f);
  const __m256 sixth = _mm256_set1_ps(1.0f / 6.0f);
  switch (act) {
    case Activation::kIdentity: return v;
    case Activation::kRelu: return _mm256_max_ps(zero, v);
    case Activation::kRelu6: return clamp_avx2(v, zero, six);
    case Activation::kHardsigmoid: return clamp_avx2(_mm256_fmadd_ps(v, sixth, half), zero, one);
    case Activation::kHardswish: return _mm256_mul_ps(v, clamp_avx2(_mm256_fmadd_ps(v, sixth, half), zero, one));
    case Activation::kSilu:
    case Activation::kSigmoid: {
      alignas(32) float lanes[8];
      _mm256_store_ps(lanes, v);
      for (float& l : lanes) l = apply_activation(l, act);
      return _mm256_load_ps(lanes);
    }
  }
  return v;
}

// Lane mask with the first `n` (0..8) lanes set, for maskload/maskstore tails.
inline __m256i tail_mask_avx2(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

}  // namespace mk
