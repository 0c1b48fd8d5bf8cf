// AVX-512F GEMM tile, 6 rows x 32 columns (two 16-column B panels): 12 zmm accumulators,
// 2 B vectors and 6 A broadcasts per k step (8 loads per 12 FMAs: FMA-bound at 2 loads
// and 2 FMAs per cycle; 12 independent chains cover the 4-cycle latency of 2 FMA ports).
// Measured in L1 on Ice Lake: 6x32 124-142 GFLOP/s, 12x16 82-99 (13 loads per 12 FMAs),
// the AVX2 6x16 tile ~100-107 (bench/NOTES.md).
// One instantiation per row count (1..6); columns beyond nr are masked, so nothing outside
// X, W, R or Y is touched.
#include <immintrin.h>

#include "../gemm.h"
#include "activation_avx512.h"

namespace mk {

namespace {

inline __m512 load(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }

// A is the activation of the last K chunk (kIdentity for the others: raw partial sums).
template <Activation A>
__attribute__((always_inline)) inline void store(bool last, __m512 v, const float* r, float* y, __mmask16 m) {
  if (last) {
    v = activation_avx512(v, A);
    if (r) v = _mm512_add_ps(v, load(r, m));
  }
  _mm512_mask_storeu_ps(y, m, v);
}

#define MK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

// NV = 2: columns [n0, n0 + nr) with 16 < nr <= 32; NV = 1: nr <= 16. Accumulators are
// named variables, not an array (an array made GCC keep them in memory; see the AVX2 tile).
template <int MR, int NV, Activation A>
void tile(const GemmParams& p, int64_t n0, int64_t nr, const float* x, const float* packed,
          const float* residual, float* y) {
  const int64_t K = p.k, N = p.n;
  const __mmask16 m0 = tail_mask_avx512(nr), m1 = tail_mask_avx512(nr > 16 ? nr - 16 : 0);
  const float* b0 = gemm_b_column(p, packed, n0);
  const float* b1 = NV > 1 ? gemm_b_column(p, packed, n0 + 16) : b0;
  const int64_t ldb = gemm_ldb(p), lda = gemm_lda(p);
  const int64_t k_lo = p.k_lo, k_hi = p.k_hi < 0 ? K : p.k_hi;
  const bool first = k_lo == 0, last = k_hi == K;
  y += n0;
  const __m512 bias0 = load(b0 + K * ldb, m0), bias1 = NV > 1 ? load(b1 + K * ldb, m1) : bias0;
#define MK_DECL(i)                                                           \
  __m512 c##i##0 = bias0, c##i##1 = bias1;                                   \
  const float* x##i = x + (MR > i ? i * lda : 0);                            \
  if (MR > i && !first) {                                                    \
    c##i##0 = load(y + i * N, m0);                                           \
    if constexpr (NV > 1) c##i##1 = load(y + i * N + 16, m1);                \
  }
  MK_ROWS(MK_DECL)
#undef MK_DECL
#define MK_FMA(i)                                        \
  if constexpr (MR > i) {                                \
    const __m512 a = _mm512_set1_ps(s##i[kk]);           \
    c##i##0 = _mm512_fmadd_ps(a, bv0, c##i##0);          \
    if constexpr (NV > 1) c##i##1 = _mm512_fmadd_ps(a, bv1, c##i##1); \
  }
#define MK_SHIFT(i) [[maybe_unused]] const float* s##i = x##i + shift;
  gemm_for_each_run(p, k_lo, k_hi, [&](int64_t k0, int64_t k1, int64_t shift) {
    MK_ROWS(MK_SHIFT)
    if (nr == 16 * NV) {
      for (int64_t kk = k0; kk < k1; ++kk) {
        const __m512 bv0 = _mm512_loadu_ps(b0 + kk * ldb);
        const __m512 bv1 = NV > 1 ? _mm512_loadu_ps(b1 + kk * ldb) : bv0;
        MK_ROWS(MK_FMA)
      }
    } else {
      for (int64_t kk = k0; kk < k1; ++kk) {
        const __m512 bv0 = load(b0 + kk * ldb, m0);
        const __m512 bv1 = NV > 1 ? load(b1 + kk * ldb, m1) : bv0;
        MK_ROWS(MK_FMA)
      }
    }
  });
#undef MK_SHIFT
#undef MK_FMA
  const float* r = residual ? residual + n0 : nullptr;
#define MK_STORE(i)                                                                              \
  if constexpr (MR > i) {                                                                        \
    store<A>(last, c##i##0, r ? r + i * N : nullptr, y + i * N, m0);                             \
    if constexpr (NV > 1) store<A>(last, c##i##1, r ? r + i * N + 16 : nullptr, y + i * N + 16, m1); \
  }
  MK_ROWS(MK_STORE)
#undef MK_STORE
}

#undef MK_ROWS

template <int MR, Activation A>
void tile(const GemmParams& p, int64_t n0, int64_t nr, const float* x, const float* packed,
          const float* residual, float* y) {
  if (nr > 16) {
    tile<MR, 2, A>(p, n0, nr, x, packed, residual, y);
  } else {
    tile<MR, 1, A>(p, n0, nr, x, packed, residual, y);
  }
}

}  // namespace

void gemm_tile_avx512(const GemmParams& p, int64_t mr, int64_t n0, int64_t nr, const float* x,
                      const float* packed, const float* residual, float* y) {
  const bool last = p.k_hi < 0 || p.k_hi == p.k;
  with_activation(last ? p.act : Activation::kIdentity, [&](auto act) {
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
