// AVX2 stem tiles (kernels/conv3x3s2_tile.h): 12 pixels x 8 channels or 6 x 16, 12 ymm
// accumulators (of 16 registers).
#include <immintrin.h>

#include "../conv3x3s2_tile.h"
#include "activation_avx2.h"

namespace mk {

namespace {

struct Ops {
  using V = __m256;
  using Mask = __m256i;
  static constexpr int kLanes = 8, kRows1 = 12, kRows2 = 6;
  static V load(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static void store(float* p, V v, Mask m) { _mm256_maskstore_ps(p, m, v); }
  static V bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  template <Activation A>
  static V act(V v) { return activation_avx2(v, A); }
  static Mask all() { return _mm256_set1_epi32(-1); }
  static Mask tail(int64_t n) { return tail_mask_avx2(n); }
};

}  // namespace

bool conv3x3s2_c3_avx2(const StemRow& r) { return stem_tile::row<Ops>(r); }

}  // namespace mk
