// AVX2 stem tiles (kernels/conv3x3s2_tile.h): 12 pixels x 8 channels or 6 x 16, 12 ymm
// accumulators (of 16 registers).
#include <immintrin.h>

#include "../conv3x3s2_tile.h"
#include "activation_avx2.h"

namespace mk {

namespace {

// The mask is the count of lanes in use: whole vectors take plain loads and stores, since a
// masked store (vmaskmovps) costs ~12 cycles on Zen 2/3 against 1 (measured 3.9 ns vs 0.35
// on Zen 3), which was ~40% of the stem's time there.
struct Ops {
  using V = __m256;
  using Mask = int;  // lanes in use, 1..8
  static constexpr int kLanes = 8, kRows1 = 12, kRows2 = 6;
  static V load(const float* p, Mask m) {
    return m == 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, tail_mask_avx2(m));
  }
  static void store(float* p, V v, Mask m) {
    if (m == 8) return _mm256_storeu_ps(p, v);
    _mm256_maskstore_ps(p, tail_mask_avx2(m), v);
  }
  static V bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  template <Activation A>
  static V act(V v) { return activation_avx2(v, A); }
  static Mask all() { return 8; }
  static Mask tail(int64_t n) { return static_cast<int>(n < 8 ? n : 8); }
};

}  // namespace

bool conv3x3s2_c3_avx2(const StemRow& r) { return stem_tile::row<Ops>(r); }

}  // namespace mk
