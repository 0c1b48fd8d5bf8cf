// AVX-512 stem tiles (kernels/conv3x3s2_tile.h): 24 pixels x 16 channels or 12 x 32, 24
// zmm accumulators.
#include <immintrin.h>

#include "../conv3x3s2_tile.h"
#include "activation_avx512.h"

namespace mk {

namespace {

struct Ops {
  using V = __m512;
  using Mask = __mmask16;
  static constexpr int kLanes = 16, kRows1 = 24, kRows2 = 12;
  static V load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, V v, Mask m) { _mm512_mask_storeu_ps(p, m, v); }
  static V bcast(const float* p) { return _mm512_set1_ps(*p); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  template <Activation A>
  static V act(V v) { return activation_avx512(v, A); }
  static Mask all() { return 0xFFFF; }
  static Mask tail(int64_t n) { return tail_mask_avx512(n); }
};

}  // namespace

bool conv3x3s2_c3_avx512(const StemRow& r) { return stem_tile::row<Ops>(r); }

}  // namespace mk
