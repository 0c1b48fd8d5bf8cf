// AVX2+FMA GEMM tile, 6 rows x 16 columns: 12 accumulators, 2 B vectors and 1 A
// broadcast per k step (15 of 16 ymm registers; FMA-bound: 12 FMAs per 8 loads).
// One instantiation per row count (1..6); columns
// beyond nr use masked loads/stores, so nothing outside X, W, R or Y is touched.
#include <immintrin.h>

#include "../gemm.h"
#include "activation_avx2.h"

namespace mk {

namespace {

template <int MR>
void tile(const GemmParams& p, int64_t n0, int64_t nr, const float* x, const float* packed,
          const float* residual, float* y) {
  const int64_t K = p.k, N = p.n;
  const __m256i m0 = tail_mask_avx2(nr >= 8 ? 8 : nr);
  const __m256i m1 = tail_mask_avx2(nr >= 16 ? 8 : (nr > 8 ? nr - 8 : 0));
  const bool full = nr == 16;
  const float* b = packed + n0;
  __m256 acc[MR][2];
  const __m256 bias0 = full ? _mm256_loadu_ps(b + K * N) : _mm256_maskload_ps(b + K * N, m0);
  const __m256 bias1 = full ? _mm256_loadu_ps(b + K * N + 8) : _mm256_maskload_ps(b + K * N + 8, m1);
  for (int i = 0; i < MR; ++i) {
    acc[i][0] = bias0;
    acc[i][1] = bias1;
  }
  for (int64_t kk = 0; kk < K; ++kk) {
    const float* bk = b + kk * N;
    const __m256 b0 = full ? _mm256_loadu_ps(bk) : _mm256_maskload_ps(bk, m0);
    const __m256 b1 = full ? _mm256_loadu_ps(bk + 8) : _mm256_maskload_ps(bk + 8, m1);
    for (int i = 0; i < MR; ++i) {
      const __m256 a = _mm256_broadcast_ss(x + i * K + kk);
      acc[i][0] = _mm256_fmadd_ps(a, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(a, b1, acc[i][1]);
    }
  }
  for (int i = 0; i < MR; ++i) {
    float* yi = y + i * N + n0;
    __m256 v0 = activation_avx2(acc[i][0], p.act);
    __m256 v1 = activation_avx2(acc[i][1], p.act);
    if (full) {
      if (residual) {
        v0 = _mm256_add_ps(v0, _mm256_loadu_ps(residual + i * N + n0));
        v1 = _mm256_add_ps(v1, _mm256_loadu_ps(residual + i * N + n0 + 8));
      }
      _mm256_storeu_ps(yi, v0);
      _mm256_storeu_ps(yi + 8, v1);
    } else {
      if (residual) {
        v0 = _mm256_add_ps(v0, _mm256_maskload_ps(residual + i * N + n0, m0));
        v1 = _mm256_add_ps(v1, _mm256_maskload_ps(residual + i * N + n0 + 8, m1));
      }
      _mm256_maskstore_ps(yi, m0, v0);
      _mm256_maskstore_ps(yi + 8, m1, v1);
    }
  }
}

}  // namespace

void gemm_tile_avx2(const GemmParams& p, int64_t mr, int64_t n0, int64_t nr, const float* x,
                    const float* packed, const float* residual, float* y) {
  switch (mr) {
    case 6: return tile<6>(p, n0, nr, x, packed, residual, y);
    case 5: return tile<5>(p, n0, nr, x, packed, residual, y);
    case 4: return tile<4>(p, n0, nr, x, packed, residual, y);
    case 3: return tile<3>(p, n0, nr, x, packed, residual, y);
    case 2: return tile<2>(p, n0, nr, x, packed, residual, y);
    default: return tile<1>(p, n0, nr, x, packed, residual, y);
  }
}

}  // namespace mk
