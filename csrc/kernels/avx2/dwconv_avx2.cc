// AVX2+FMA depthwise row kernel: 8 channels per vector, masked tail (never reads or
// writes past the last channel: a torch tensor has no spare bytes).
#include <immintrin.h>

#include "../dwconv.h"
#include "activation_avx2.h"

namespace mk {

void dwconv_row_avx2(const DwconvParams& p, const float* x, const float* packed, float* y_row,
                     int64_t oy) {
  const int64_t C = p.channels;
  const float* bias = packed + static_cast<int64_t>(p.kernel_h) * p.kernel_w * C;
  const int64_t c_main = C & ~int64_t{7};
  const __m256i tail = tail_mask_avx2(C - c_main);
  DwconvTaps taps;
  for (int64_t ox = 0; ox < p.out_width; ++ox) {
    dwconv_valid_taps(p, oy, ox, taps);
    float* y = y_row + ox * C;
    for (int64_t c = 0; c < c_main; c += 8) {
      __m256 acc = _mm256_loadu_ps(bias + c);
      for (int t = 0; t < taps.count; ++t) {
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + taps.offset[t] + c),
                              _mm256_loadu_ps(packed + taps.tap[t] * C + c), acc);
      }
      _mm256_storeu_ps(y + c, activation_avx2(acc, p.act));
    }
    if (c_main < C) {
      __m256 acc = _mm256_maskload_ps(bias + c_main, tail);
      for (int t = 0; t < taps.count; ++t) {
        acc = _mm256_fmadd_ps(_mm256_maskload_ps(x + taps.offset[t] + c_main, tail),
                              _mm256_maskload_ps(packed + taps.tap[t] * C + c_main, tail), acc);
      }
      _mm256_maskstore_ps(y + c_main, tail, activation_avx2(acc, p.act));
    }
  }
}

}  // namespace mk
