// AVX2+FMA GEMM tile, 6 rows x 16 columns: 12 accumulators, 2 B vectors and 1 A
// broadcast per k step (15 of 16 ymm registers; FMA-bound: 12 FMAs per 8 loads).
// One instantiation per row count (1..6); columns
// beyond nr use masked loads/stores, so nothing outside X, W, R or Y is touched.
#include <immintrin.h>

#include "../gemm.h"
#include "activation_avx2.h"

namespace mk {

namespace {

template <bool Full>
inline __m256 load(const float* p, __m256i mask) {
  if constexpr (Full) return _mm256_loadu_ps(p);
  return _mm256_maskload_ps(p, mask);
}

template <bool Full, Activation A>
__attribute__((always_inline)) inline void store_row(__m256 v0, __m256 v1, const float* r, float* y, __m256i m0,
                                                     __m256i m1) {
  v0 = activation_avx2(v0, A);
  v1 = activation_avx2(v1, A);
  if (r) {
    v0 = _mm256_add_ps(v0, load<Full>(r, m0));
    v1 = _mm256_add_ps(v1, load<Full>(r + 8, m1));
  }
  if constexpr (Full) {
    _mm256_storeu_ps(y, v0);
    _mm256_storeu_ps(y + 8, v1);
  } else {
    _mm256_maskstore_ps(y, m0, v0);
    _mm256_maskstore_ps(y + 8, m1, v1);
  }
}

// Accumulators are named variables, not an array: an array made GCC keep a memory copy
// of all 12 and store them every k step (store-bound at ~40% of peak).
template <int MR, bool Full, Activation A>
void tile(const GemmParams& p, int64_t n0, int64_t nr, const float* x, const float* packed,
          const float* residual, float* y) {
  const int64_t K = p.k, N = p.n;
  const __m256i m0 = tail_mask_avx2(nr >= 8 ? 8 : nr);
  const __m256i m1 = tail_mask_avx2(nr >= 16 ? 8 : (nr > 8 ? nr - 8 : 0));
  const float* b = gemm_b_column(p, packed, n0);
  const int64_t ldb = gemm_ldb(p), lda = gemm_lda(p);
  const __m256 bias0 = load<Full>(b + K * ldb, m0), bias1 = load<Full>(b + K * ldb + 8, m1);
  __m256 c00 = bias0, c01 = bias1, c10 = bias0, c11 = bias1, c20 = bias0, c21 = bias1;
  __m256 c30 = bias0, c31 = bias1, c40 = bias0, c41 = bias1, c50 = bias0, c51 = bias1;
  gemm_for_each_run(p, 0, K, [&](int64_t k0, int64_t k1, int64_t shift) {
    const float* x0 = x + shift;
    const float* x1 = x + (MR > 1 ? lda : 0) + shift;
    const float* x2 = x + (MR > 2 ? 2 * lda : 0) + shift;
    const float* x3 = x + (MR > 3 ? 3 * lda : 0) + shift;
    const float* x4 = x + (MR > 4 ? 4 * lda : 0) + shift;
    const float* x5 = x + (MR > 5 ? 5 * lda : 0) + shift;
    for (int64_t kk = k0; kk < k1; ++kk) {
      const float* bk = b + kk * ldb;
      const __m256 b0 = load<Full>(bk, m0), b1 = load<Full>(bk + 8, m1);
      __m256 a = _mm256_broadcast_ss(x0 + kk);
      c00 = _mm256_fmadd_ps(a, b0, c00);
      c01 = _mm256_fmadd_ps(a, b1, c01);
      if constexpr (MR > 1) {
        a = _mm256_broadcast_ss(x1 + kk);
        c10 = _mm256_fmadd_ps(a, b0, c10);
        c11 = _mm256_fmadd_ps(a, b1, c11);
      }
      if constexpr (MR > 2) {
        a = _mm256_broadcast_ss(x2 + kk);
        c20 = _mm256_fmadd_ps(a, b0, c20);
        c21 = _mm256_fmadd_ps(a, b1, c21);
      }
      if constexpr (MR > 3) {
        a = _mm256_broadcast_ss(x3 + kk);
        c30 = _mm256_fmadd_ps(a, b0, c30);
        c31 = _mm256_fmadd_ps(a, b1, c31);
      }
      if constexpr (MR > 4) {
        a = _mm256_broadcast_ss(x4 + kk);
        c40 = _mm256_fmadd_ps(a, b0, c40);
        c41 = _mm256_fmadd_ps(a, b1, c41);
      }
      if constexpr (MR > 5) {
        a = _mm256_broadcast_ss(x5 + kk);
        c50 = _mm256_fmadd_ps(a, b0, c50);
        c51 = _mm256_fmadd_ps(a, b1, c51);
      }
    }
  });
  const auto r = [&](int i) { return residual ? residual + i * N + n0 : nullptr; };
  y += n0;
  store_row<Full, A>(c00, c01, r(0), y, m0, m1);
  if constexpr (MR > 1) store_row<Full, A>(c10, c11, r(1), y + N, m0, m1);
  if constexpr (MR > 2) store_row<Full, A>(c20, c21, r(2), y + 2 * N, m0, m1);
  if constexpr (MR > 3) store_row<Full, A>(c30, c31, r(3), y + 3 * N, m0, m1);
  if constexpr (MR > 4) store_row<Full, A>(c40, c41, r(4), y + 4 * N, m0, m1);
  if constexpr (MR > 5) store_row<Full, A>(c50, c51, r(5), y + 5 * N, m0, m1);
}

template <int MR, Activation A>
void tile(const GemmParams& p, int64_t n0, int64_t nr, const float* x, const float* packed,
          const float* residual, float* y) {
  if (nr == 16) {
    tile<MR, true, A>(p, n0, nr, x, packed, residual, y);
  } else {
    tile<MR, false, A>(p, n0, nr, x, packed, residual, y);
  }
}

}  // namespace

void gemm_tile_avx2(const GemmParams& p, int64_t mr, int64_t n0, int64_t nr, const float* x,
                    const float* packed, const float* residual, float* y) {
  with_activation(p.act, [&](auto act) {
    constexpr Activation A = decltype(act)::value;
    switch (mr) {
      case 6: return tile<6, A>(p, n0, nr, x, packed, residual, y);
      case 5: return tile<5, A>(p, n0, nr, x, packed, residual, y);
      case 4: return tile<4, A>(p, n0, nr, x, packed, residual, y);
      case 3: return tile<3, A>(p, n0, nr, x, packed, residual, y);
      case 2: return tile<2, A>(p, n0, nr, x, packed, residual, y);
      default: return tile<1, A>(p, n0, nr, x, packed, residual, y);
    }
  });
}

}  // namespace mk
