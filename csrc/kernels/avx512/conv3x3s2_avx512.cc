// AVX-512 stem tile (kernels/conv.h): R output pixels x C 16-channel vectors, R * C = 24
// accumulators. Per tap: C weight loads and R broadcasts, each a constant offset from
// the tap's pointer, for R * C FMAs.
#include <immintrin.h>

#include "../conv.h"
#include "activation_avx512.h"

namespace mk {

namespace {

constexpr int kTaps = 9;    // one kernel row: 3 pixels x 3 channels, contiguous in NHWC
constexpr int kPixel = 6;   // stride 2 x 3 channels: the next output pixel's taps

template <int R, int C, Activation A>
__attribute__((always_inline)) inline void tile(const StemRow& r, const float* x, int64_t n0, __mmask16 last,
                                                float* y) {
  const int64_t n = r.n;
  const float* w = r.packed + n0;
  __m512 acc[R][C];
#pragma GCC unroll 2
  for (int c = 0; c < C; ++c) {
    const __m512 bias = _mm512_maskz_loadu_ps(c + 1 == C ? last : 0xFFFF, w + 27 * n + 16 * c);
#pragma GCC unroll 24
    for (int i = 0; i < R; ++i) acc[i][c] = bias;
  }
  // The tap loops stay loops: fully unrolled (648 FMAs in one block) GCC hoisted the
  // broadcasts of later taps and spilled the accumulators.
#pragma GCC unroll 1
  for (int ky = 0; ky < 3; ++ky) {
    const float* row = x + ky * r.row_stride;
#pragma GCC unroll 1
    for (int t = 0; t < kTaps; ++t) {
      __m512 b[C];
#pragma GCC unroll 2
      for (int c = 0; c < C; ++c)
        b[c] = _mm512_maskz_loadu_ps(c + 1 == C ? last : 0xFFFF, w + (ky * kTaps + t) * n + 16 * c);
#pragma GCC unroll 24
      for (int i = 0; i < R; ++i) {
        const __m512 a = _mm512_set1_ps(row[i * kPixel + t]);
#pragma GCC unroll 2
        for (int c = 0; c < C; ++c) acc[i][c] = _mm512_fmadd_ps(a, b[c], acc[i][c]);
      }
    }
  }
#pragma GCC unroll 24
  for (int i = 0; i < R; ++i) {
#pragma GCC unroll 2
    for (int c = 0; c < C; ++c)
      _mm512_mask_storeu_ps(y + i * n + 16 * c, c + 1 == C ? last : 0xFFFF, activation_avx512(acc[i][c], A));
  }
}

// Pixels in tiles of R; a last partial tile is moved back to end at the last pixel (it
// recomputes a few pixels with the same result) so every tile is whole.
template <int R, int C, Activation A>
void columns(const StemRow& r, int64_t n0, __mmask16 last) {
  for (int64_t p = 0; p < r.pixels; p += R) {
    const int64_t q = p + R <= r.pixels ? p : r.pixels - R;
    tile<R, C, A>(r, r.x + q * kPixel, n0, last, r.y + q * r.n + n0);
  }
}

}  // namespace

bool conv3x3s2_c3_avx512(const StemRow& r) {
  // 12 pixels for the 32-channel tiles, 24 for 16-channel ones.
  const int64_t tail = r.n % 32;
  if (r.pixels < (tail > 0 && tail <= 16 ? 24 : 12)) return false;
  with_activation(r.act, [&](auto act) {
    constexpr Activation A = decltype(act)::value;
    int64_t n0 = 0;
    for (; r.n - n0 > 16; n0 += 32) columns<12, 2, A>(r, n0, tail_mask_avx512(r.n - n0 - 16));
    if (n0 < r.n) columns<24, 1, A>(r, n0, tail_mask_avx512(r.n - n0));
  });
  return true;
}

}  // namespace mk
