// AVX2 channel sums and channel scaling; masked channel tails.
#include <immintrin.h>

#include "../pool.h"
#include "activation_avx2.h"

namespace mk {

void channel_sum_avx2(const float* x, int64_t pixels, int64_t channels, int64_t stride, float* sum) {
  const int64_t c_main = channels & ~int64_t{7};
  for (int64_t c = 0; c < c_main; c += 8) {
    // Two chains so the add latency overlaps.
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t p = 0;
    for (; p + 2 <= pixels; p += 2) {
      a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + p * stride + c));
      a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + (p + 1) * stride + c));
    }
    if (p < pixels) a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + p * stride + c));
    _mm256_storeu_ps(sum + c, _mm256_add_ps(_mm256_loadu_ps(sum + c), _mm256_add_ps(a0, a1)));
  }
  if (c_main < channels) {
    const __m256i m = tail_mask_avx2(channels - c_main);
    __m256 a = _mm256_setzero_ps();
    for (int64_t p = 0; p < pixels; ++p) a = _mm256_add_ps(a, _mm256_maskload_ps(x + p * stride + c_main, m));
    _mm256_maskstore_ps(sum + c_main, m, _mm256_add_ps(_mm256_maskload_ps(sum + c_main, m), a));
  }
}

void channel_scale_avx2(const float* x, int64_t pixels, int64_t channels, int64_t stride,
                        const float* scale, float* y) {
  const int64_t c_main = channels & ~int64_t{7};
  const __m256i m = tail_mask_avx2(channels - c_main);
  for (int64_t p = 0; p < pixels; ++p) {
    const float* xp = x + p * stride;
    float* yp = y + p * stride;
    for (int64_t c = 0; c < c_main; c += 8) {
      _mm256_storeu_ps(yp + c, _mm256_mul_ps(_mm256_loadu_ps(xp + c), _mm256_loadu_ps(scale + c)));
    }
    if (c_main < channels) {
      _mm256_maskstore_ps(yp + c_main, m,
                          _mm256_mul_ps(_mm256_maskload_ps(xp + c_main, m), _mm256_maskload_ps(scale + c_main, m)));
    }
  }
}

}  // namespace mk
