// AVX2+FMA GEMM tile, 6 rows x 16 columns: 12 accumulators, 2 B vectors and 1 A
// broadcast per k step (15 of 16 ymm registers; FMA-bound: 12 FMAs per 8 loads).
// One instantiation per row count (1..6); columns
// beyond nr use masked loads/stores, so nothing outside X, W, R or Y is touched.
#include <immintrin.h>

#include <algorithm>
#include <type_traits>

#include "../gemm.h"
#include "activation_avx2.h"
#include "../../runtime/tuning.h"

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
// Stream: lines [pf, pf_end) are prefetched into L2 one every 2 k steps (the next column
// tile's B panel, a slice per row tile; see rows()).
// tile_body is the tile's code, inlined where a loop over tiles gains from it (rows_cols);
// tile() is the same code as a function of its own.
template <int MR, bool Full, Activation A, bool Stream = false, bool Pairs = true>
__attribute__((always_inline)) inline void tile_body(const GemmParams& p, int64_t n0, int64_t nr, const float* x,
                                                     const float* packed, const float* residual, float* y,
                                                     const char* pf = nullptr, const char* pf_end = nullptr) {
  const int64_t K = p.k, N = p.n;
  const __m256i m0 = tail_mask_avx2(nr >= 8 ? 8 : nr);
  const __m256i m1 = tail_mask_avx2(nr >= 16 ? 8 : (nr > 8 ? nr - 8 : 0));
  const float* b = gemm_b_column(p, packed, n0);
  const int64_t ldb = gemm_ldb(p), lda = gemm_lda(p);
  const __m256 bias0 = load<Full>(b + K * ldb, m0), bias1 = load<Full>(b + K * ldb + 8, m1);
  __m256 c00 = bias0, c01 = bias1, c10 = bias0, c11 = bias1, c20 = bias0, c21 = bias1;
  __m256 c30 = bias0, c31 = bias1, c40 = bias0, c41 = bias1, c50 = bias0, c51 = bias1;
  if constexpr (Pairs) {
    // k steps in pairs, A's rows 0-2 and 3-5 each from one base plus 0, 1 or 2 row strides:
    // ~23 instructions per 12 FMAs instead of 27 (two row addresses rebuilt with lea, three
    // pointer bumps and the branch every step). The loop is FMA-bound on a core of its own
    // either way; where another hardware thread shares the core's front end, the instruction
    // count sets the rate (bench/NOTES.md, session 30). For K <= 32 it measured slower
    // (tile() takes it only above; rows_cols() never).
    // always_inline: out of line, the k loop keeps the accumulators in memory
    gemm_for_each_run(p, 0, K, [&](int64_t k0, int64_t k1, int64_t shift) __attribute__((always_inline)) {
      const float* r0 = x + shift + k0;
      const float* r3 = MR > 3 ? r0 + 3 * lda : r0;
      const float* bk = b + k0 * ldb;
      int64_t pairs = (k1 - k0) / 2;
      // Step d (0 or 1) of a pair: k = k0 + 2 * pair + d.
#define MK_K_STEP(d)                                                                   \
  {                                                                                    \
    const __m256 b0 = load<Full>(bk + (d) * ldb, m0), b1 = load<Full>(bk + (d) * ldb + 8, m1); \
    __m256 a = _mm256_broadcast_ss(r0 + (d));                                          \
    c00 = _mm256_fmadd_ps(a, b0, c00);                                                 \
    c01 = _mm256_fmadd_ps(a, b1, c01);                                                 \
    if constexpr (MR > 1) {                                                            \
      a = _mm256_broadcast_ss(r0 + lda + (d));                                         \
      c10 = _mm256_fmadd_ps(a, b0, c10);                                               \
      c11 = _mm256_fmadd_ps(a, b1, c11);                                               \
    }                                                                                  \
    if constexpr (MR > 2) {                                                            \
      a = _mm256_broadcast_ss(r0 + 2 * lda + (d));                                     \
      c20 = _mm256_fmadd_ps(a, b0, c20);                                               \
      c21 = _mm256_fmadd_ps(a, b1, c21);                                               \
    }                                                                                  \
    if constexpr (MR > 3) {                                                            \
      a = _mm256_broadcast_ss(r3 + (d));                                               \
      c30 = _mm256_fmadd_ps(a, b0, c30);                                               \
      c31 = _mm256_fmadd_ps(a, b1, c31);                                               \
    }                                                                                  \
    if constexpr (MR > 4) {                                                            \
      a = _mm256_broadcast_ss(r3 + lda + (d));                                         \
      c40 = _mm256_fmadd_ps(a, b0, c40);                                               \
      c41 = _mm256_fmadd_ps(a, b1, c41);                                               \
    }                                                                                  \
    if constexpr (MR > 5) {                                                            \
      a = _mm256_broadcast_ss(r3 + 2 * lda + (d));                                     \
      c50 = _mm256_fmadd_ps(a, b0, c50);                                               \
      c51 = _mm256_fmadd_ps(a, b1, c51);                                               \
    }                                                                                  \
  }
      if constexpr (Stream) {
        // the stream's lines first, one per pair, so that neither loop tests the stream
        const int64_t lines = pf < pf_end ? (pf_end - pf + 63) / 64 : 0;
        for (int64_t n = std::min(pairs, lines); n > 0; --n, --pairs, r0 += 2, r3 += 2, bk += 2 * ldb) {
          _mm_prefetch(pf, _MM_HINT_T1);
          pf += 64;
          MK_K_STEP(0)
          MK_K_STEP(1)
        }
      }
      for (; pairs > 0; --pairs, r0 += 2, r3 += 2, bk += 2 * ldb) {
        MK_K_STEP(0)
        MK_K_STEP(1)
      }
      if ((k1 - k0) % 2) MK_K_STEP(0)
#undef MK_K_STEP
    });
  } else gemm_for_each_run(p, 0, K, [&](int64_t k0, int64_t k1, int64_t shift) __attribute__((always_inline)) {
    const float* x0 = x + shift;
    const float* x1 = x + (MR > 1 ? lda : 0) + shift;
    const float* x2 = x + (MR > 2 ? 2 * lda : 0) + shift;
    const float* x3 = x + (MR > 3 ? 3 * lda : 0) + shift;
    const float* x4 = x + (MR > 4 ? 4 * lda : 0) + shift;
    const float* x5 = x + (MR > 5 ? 5 * lda : 0) + shift;
    for (int64_t kk = k0; kk < k1; ++kk) {
      if constexpr (Stream) {
        if ((kk & 1) == 0 && pf < pf_end) {
          _mm_prefetch(pf, _MM_HINT_T1);
          pf += 64;
        }
      }
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

template <int MR, bool Full, Activation A, bool Stream, bool Pairs>
__attribute__((noinline)) void tile_of(const GemmParams& p, int64_t n0, int64_t nr, const float* x,
                                       const float* packed, const float* residual, float* y, const char* pf,
                                       const char* pf_end) {
  tile_body<MR, Full, A, Stream, Pairs>(p, n0, nr, x, packed, residual, y, pf, pf_end);
}

template <int MR, bool Full, Activation A, bool Stream = false>
void tile(const GemmParams& p, int64_t n0, int64_t nr, const float* x, const float* packed,
          const float* residual, float* y, const char* pf = nullptr, const char* pf_end = nullptr) {
  if (p.k > 32 && tuning().gemm_avx2_k_pairs)
    tile_of<MR, Full, A, Stream, true>(p, n0, nr, x, packed, residual, y, pf, pf_end);
  else tile_of<MR, Full, A, Stream, false>(p, n0, nr, x, packed, residual, y, pf, pf_end);
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

// Up to 12 rows x 8 columns (column rests of <= 8: N = 24, 40, 72, 88, 120, 184, 200's):
// one B vector and MR broadcasts per MR FMAs, where the 16-column tile spends 12 FMAs on 6 x
// 8 useful lanes. At MR = 12, 13 loads per 12 FMAs (FMA-bound with 3 load ports, 92% with 2);
// 12 chains cover the FMA latency. The same FMAs in the same k order as the 16-column tile's
// lanes: the same bits whichever tile computes a column. A's rows are addressed from two
// bases (rows 0 and 6) plus multiples of a byte stride, so 12 rows fit the registers.
#define MK_ROWS12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
template <int MR, bool Full, Activation A>
void tile8(const GemmParams& p, int64_t n0, int64_t nr, const float* x, const float* packed,
           const float* residual, float* y) {
  const int64_t K = p.k, N = p.n;
  const __m256i m0 = tail_mask_avx2(nr);
  const float* b = gemm_b_column(p, packed, n0);
  const int64_t ldb = gemm_ldb(p), lda = gemm_lda(p);
  const int64_t s = lda * static_cast<int64_t>(sizeof(float));
  const int64_t off[6] = {0, s, 2 * s, 3 * s, 4 * s, 5 * s};
  const __m256 bias = load<Full>(b + K * ldb, m0);
#define MK_DECL(i) [[maybe_unused]] __m256 c##i = bias;
  MK_ROWS12(MK_DECL)
#undef MK_DECL
  gemm_for_each_run(p, 0, K, [&](int64_t k0, int64_t k1, int64_t shift) {
    const char* a = reinterpret_cast<const char*>(x + k0 + shift);
    const char* a6 = MR > 6 ? a + 6 * s : a;  // rows 6-11 (never formed past X's rows)
    const float* bp = b + k0 * ldb;
    for (int64_t kk = k0; kk < k1; ++kk, a += sizeof(float), a6 += sizeof(float), bp += ldb) {
      const __m256 bv = load<Full>(bp, m0);
#define MK_FMA(i)                                                                                     \
  if constexpr (MR > i)                                                                               \
    c##i = _mm256_fmadd_ps(_mm256_broadcast_ss(reinterpret_cast<const float*>((i < 6 ? a : a6) + off[i % 6])), \
                           bv, c##i);
      MK_ROWS12(MK_FMA)
#undef MK_FMA
    }
  });
  y += n0;
  const float* r = residual ? residual + n0 : nullptr;
#define MK_STORE(i)                                                       \
  if constexpr (MR > i) {                                                 \
    __m256 v = activation_avx2(c##i, A);                                  \
    if (r) v = _mm256_add_ps(v, load<Full>(r + i * N, m0));               \
    if constexpr (Full) _mm256_storeu_ps(y + i * N, v);                   \
    else _mm256_maskstore_ps(y + i * N, m0, v);                           \
  }
  MK_ROWS12(MK_STORE)
#undef MK_STORE
}
#undef MK_ROWS12

template <bool Full, Activation A>
void tile8_rows(const GemmParams& p, int64_t mr, int64_t n0, int64_t nr, const float* x, const float* packed,
                const float* residual, float* y) {
  switch (mr) {
#define MK_CASE(n) \
  case n: return tile8<n, Full, A>(p, n0, nr, x, packed, residual, y);
    MK_CASE(12) MK_CASE(11) MK_CASE(10) MK_CASE(9) MK_CASE(8) MK_CASE(7)
    MK_CASE(6) MK_CASE(5) MK_CASE(4) MK_CASE(3) MK_CASE(2) MK_CASE(1)
#undef MK_CASE
  }
}

template <Activation A>
void tile_rows(const GemmParams& p, int64_t mr, int64_t n0, int64_t nr, const float* x, const float* packed,
               const float* residual, float* y) {
  switch (mr) {
    case 6: return tile<6, A>(p, n0, nr, x, packed, residual, y);
    case 5: return tile<5, A>(p, n0, nr, x, packed, residual, y);
    case 4: return tile<4, A>(p, n0, nr, x, packed, residual, y);
    case 3: return tile<3, A>(p, n0, nr, x, packed, residual, y);
    case 2: return tile<2, A>(p, n0, nr, x, packed, residual, y);
    default: return tile<1, A>(p, n0, nr, x, packed, residual, y);
  }
}

// Row tiles of 6, and of 5 where m is not a multiple of 6 and 5-row tiles can take the
// rest (gemm_avx2_fives; m = 49: 4 x 6 + 5 x 5 rows instead of 8 x 6 + 1); the last
// m - 6 * sixes - 5 * fives (< 5) rows in one short tile. A tile of r < 5 rows has 2r FMA
// chains: at the FMA latency (4 cycles, 2 per cycle) it runs at r / 4 of the rate, so the
// 1-row rest of m = 49 cost 4 cycles per k step for 2 FMAs. Each row sums its k in the
// same order in any tile: the split changes no bits.
struct RowTiles {
  int64_t sixes, fives;
};
inline RowTiles row_tiles_of(int64_t m) {
  const int64_t tiles = (m + 5) / 6;
  const int64_t fives = m % 6 != 0 && m >= 5 * tiles && tuning().gemm_avx2_fives ? 6 * tiles - m : 0;
  return {fives ? tiles - fives : m / 6, fives};
}

// Rows [0, m) of columns [n0, n0 + nr): the row tiles of one column tile in one call, the
// activation and column shape dispatched once (per-tile dispatch and setup were ~30-50
// cycles against 96 cycles of FMAs at K = 16).
template <Activation A>
void rows(const GemmParams& p, int64_t m, int64_t n0, int64_t nr, const float* x, const float* packed,
          const float* residual, float* y) {
  const int64_t lda = gemm_lda(p), N = p.n;
  const auto at = [&](int64_t i, const float*& xi, const float*& ri, float*& yi) {
    xi = x + i * lda;
    ri = residual ? residual + i * N : nullptr;
    yi = y + i * N;
  };
  const float *xi, *ri;
  float* yi;
  int64_t i = 0;
  if (nr <= 8 && tuning().gemm_avx2_tall8) {
    for (; i + 12 <= m; i += 12) {
      at(i, xi, ri, yi);
      if (nr == 8) tile8<12, true, A>(p, n0, nr, xi, packed, ri, yi);
      else tile8<12, false, A>(p, n0, nr, xi, packed, ri, yi);
    }
    if (i < m) {
      at(i, xi, ri, yi);
      if (nr == 8) tile8_rows<true, A>(p, m - i, n0, nr, xi, packed, ri, yi);
      else tile8_rows<false, A>(p, m - i, n0, nr, xi, packed, ri, yi);
    }
    return;
  }
  const RowTiles split = row_tiles_of(m);
  const int64_t sixes = split.sixes, fives = split.fives;
  // The next column tile's B panel, a slice per row tile, prefetched into L2 while this
  // one computes (gemm_avx2_stream): a network's weights come from L3 or DRAM, and a
  // column tile's first row tile otherwise waits for its panel line by line.
  const char* next = nullptr;
  int64_t slice = 0;
  if (nr == 16 && p.panels && n0 + 16 < N && m >= 6 && tuning().gemm_avx2_stream) {
    next = reinterpret_cast<const char*>(gemm_b_column(p, packed, n0 + 16));
    slice = ((p.k + 1) * kGemmPanel * static_cast<int64_t>(sizeof(float)) / (sixes + fives) + 63) / 64 * 64;
  }
  // Row tiles [t0, t1) of MR rows each, tile t streaming slice t of the next panel.
  const auto row_tiles = [&](auto mr_tag, int64_t t0, int64_t t1) {
    constexpr int MR = decltype(mr_tag)::value;
    for (int64_t t = t0; t < t1; ++t, i += MR) {
      at(i, xi, ri, yi);
      if (next) tile<MR, true, A, true>(p, n0, nr, xi, packed, ri, yi, next + t * slice, next + (t + 1) * slice);
      else if (nr == 16) tile<MR, true, A>(p, n0, nr, xi, packed, ri, yi);
      else tile<MR, false, A>(p, n0, nr, xi, packed, ri, yi);
    }
  };
  row_tiles(std::integral_constant<int, 6>{}, 0, sixes);
  row_tiles(std::integral_constant<int, 5>{}, sixes, sixes + fives);
  if (i < m) {
    at(i, xi, ri, yi);
    tile_rows<A>(p, m - i, n0, nr, xi, packed, ri, yi);
  }
}

// Rows [0, MR) (MR <= 2) of two whole 16-column tiles [n0, n0 + 32), dense A: each column
// sums its k from the bias in order, as tile() does (same bits), with 2 * 2 * MR chains. A
// GEMV's lone 1-row tile has 2 chains: 4 cycles (the FMA latency) per k step for 64 bytes
// of B, under the bandwidth even of DRAM. Two tiles, not four: four (8 chains, four weight
// streams) measured no faster in the driver, and slower from L2 alone (bench/NOTES.md,
// session 26).
template <int MR, Activation A>
void two_tiles(const GemmParams& p, int64_t n0, const float* x, const float* packed, const float* residual,
               float* y) {
  static_assert(MR == 1 || MR == 2, "MR is 1 or 2");
  const int64_t K = p.k, N = p.n, ldb = gemm_ldb(p), lda = gemm_lda(p);
  const __m256i all = _mm256_set1_epi32(-1);
  const float* b = gemm_b_column(p, packed, n0);
  const float* d = gemm_b_column(p, packed, n0 + 16);
  const __m256 bias0 = _mm256_loadu_ps(b + K * ldb), bias1 = _mm256_loadu_ps(b + K * ldb + 8);
  const __m256 bias2 = _mm256_loadu_ps(d + K * ldb), bias3 = _mm256_loadu_ps(d + K * ldb + 8);
  __m256 c00 = bias0, c01 = bias1, c02 = bias2, c03 = bias3;
  __m256 c10 = bias0, c11 = bias1, c12 = bias2, c13 = bias3;
  const float* x1 = x + (MR > 1 ? lda : 0);
  for (int64_t kk = 0; kk < K; ++kk) {
    const float* bk = b + kk * ldb;
    const float* dk = d + kk * ldb;
    const __m256 b0 = _mm256_loadu_ps(bk), b1 = _mm256_loadu_ps(bk + 8);
    const __m256 b2 = _mm256_loadu_ps(dk), b3 = _mm256_loadu_ps(dk + 8);
    __m256 a = _mm256_broadcast_ss(x + kk);
    c00 = _mm256_fmadd_ps(a, b0, c00);
    c01 = _mm256_fmadd_ps(a, b1, c01);
    c02 = _mm256_fmadd_ps(a, b2, c02);
    c03 = _mm256_fmadd_ps(a, b3, c03);
    if constexpr (MR > 1) {
      a = _mm256_broadcast_ss(x1 + kk);
      c10 = _mm256_fmadd_ps(a, b0, c10);
      c11 = _mm256_fmadd_ps(a, b1, c11);
      c12 = _mm256_fmadd_ps(a, b2, c12);
      c13 = _mm256_fmadd_ps(a, b3, c13);
    }
  }
  const float* r = residual ? residual + n0 : nullptr;
  y += n0;
  store_row<true, A>(c00, c01, r, y, all, all);
  store_row<true, A>(c02, c03, r ? r + 16 : nullptr, y + 16, all, all);
  if constexpr (MR > 1) {
    store_row<true, A>(c10, c11, r ? r + N : nullptr, y + N, all, all);
    store_row<true, A>(c12, c13, r ? r + N + 16 : nullptr, y + N + 16, all, all);
  }
}

// Up to 4 rows x 24 columns: a whole 16-column tile and an 8-column rest together (the
// last 24 columns where N % 16 == 8: N = 24, 40, 72, 120, 184, 200). 12 accumulators, 3 B
// vectors and 1 A broadcast per k step (all 16 ymm registers): 7 loads per 12 FMAs, where
// the 12x8 rest tile needs 13 and re-reads A once more. Each column sums its k from the bias
// in order, as tile() and tile8() do: the same bits.
template <int MR, Activation A>
void tile24(const GemmParams& p, int64_t n0, const float* x, const float* packed, const float* residual,
            float* y) {
  static_assert(MR >= 1 && MR <= 4, "MR is 1 to 4");
  const int64_t K = p.k, N = p.n, ldb = gemm_ldb(p), lda = gemm_lda(p);
  const float* b = gemm_b_column(p, packed, n0);
  const float* d = gemm_b_column(p, packed, n0 + 16);
  const __m256 bias0 = _mm256_loadu_ps(b + K * ldb), bias1 = _mm256_loadu_ps(b + K * ldb + 8);
  const __m256 bias2 = _mm256_loadu_ps(d + K * ldb);
  __m256 c00 = bias0, c01 = bias1, c02 = bias2, c10 = bias0, c11 = bias1, c12 = bias2;
  __m256 c20 = bias0, c21 = bias1, c22 = bias2, c30 = bias0, c31 = bias1, c32 = bias2;
  gemm_for_each_run(p, 0, K, [&](int64_t k0, int64_t k1, int64_t shift) {
    const float* x0 = x + shift;
    const float* x1 = x + (MR > 1 ? lda : 0) + shift;
    const float* x2 = x + (MR > 2 ? 2 * lda : 0) + shift;
    const float* x3 = x + (MR > 3 ? 3 * lda : 0) + shift;
    for (int64_t kk = k0; kk < k1; ++kk) {
      const __m256 b0 = _mm256_loadu_ps(b + kk * ldb), b1 = _mm256_loadu_ps(b + kk * ldb + 8);
      const __m256 b2 = _mm256_loadu_ps(d + kk * ldb);
      __m256 a = _mm256_broadcast_ss(x0 + kk);
      c00 = _mm256_fmadd_ps(a, b0, c00);
      c01 = _mm256_fmadd_ps(a, b1, c01);
      c02 = _mm256_fmadd_ps(a, b2, c02);
      if constexpr (MR > 1) {
        a = _mm256_broadcast_ss(x1 + kk);
        c10 = _mm256_fmadd_ps(a, b0, c10);
        c11 = _mm256_fmadd_ps(a, b1, c11);
        c12 = _mm256_fmadd_ps(a, b2, c12);
      }
      if constexpr (MR > 2) {
        a = _mm256_broadcast_ss(x2 + kk);
        c20 = _mm256_fmadd_ps(a, b0, c20);
        c21 = _mm256_fmadd_ps(a, b1, c21);
        c22 = _mm256_fmadd_ps(a, b2, c22);
      }
      if constexpr (MR > 3) {
        a = _mm256_broadcast_ss(x3 + kk);
        c30 = _mm256_fmadd_ps(a, b0, c30);
        c31 = _mm256_fmadd_ps(a, b1, c31);
        c32 = _mm256_fmadd_ps(a, b2, c32);
      }
    }
  });
  const __m256i all = _mm256_set1_epi32(-1);
  const auto row = [&](int i, __m256 v0, __m256 v1, __m256 v2) {
    const float* r = residual ? residual + i * N + n0 : nullptr;
    float* yi = y + i * N + n0;
    store_row<true, A>(v0, v1, r, yi, all, all);
    v2 = activation_avx2(v2, A);
    if (r) v2 = _mm256_add_ps(v2, _mm256_loadu_ps(r + 16));
    _mm256_storeu_ps(yi + 16, v2);
  };
  row(0, c00, c01, c02);
  if constexpr (MR > 1) row(1, c10, c11, c12);
  if constexpr (MR > 2) row(2, c20, c21, c22);
  if constexpr (MR > 3) row(3, c30, c31, c32);
}

// Rows [0, m) of columns [n0, n0 + 24) in 4-row tiles and one shorter rest.
template <Activation A>
void rows24(const GemmParams& p, int64_t m, int64_t n0, const float* x, const float* packed,
            const float* residual, float* y) {
  const int64_t lda = gemm_lda(p), N = p.n;
  int64_t i = 0;
  for (; i + 4 <= m; i += 4) tile24<4, A>(p, n0, x + i * lda, packed, residual ? residual + i * N : nullptr, y + i * N);
  const float* xi = x + i * lda;
  const float* ri = residual ? residual + i * N : nullptr;
  float* yi = y + i * N;
  switch (m - i) {
    case 3: return tile24<3, A>(p, n0, xi, packed, ri, yi);
    case 2: return tile24<2, A>(p, n0, xi, packed, ri, yi);
    case 1: return tile24<1, A>(p, n0, xi, packed, ri, yi);
    default: return;
  }
}

// Rows [0, m) of columns [n0, n1) with row tiles outer and whole 16-column tiles inner: for
// a short K (B of every column in L1), a row tile's A rows stay in L1 across the column
// tiles instead of coming from L2 once per column tile. A rest of < 16 columns then goes
// through rows() (12 x 8 tiles for <= 8), or with the last whole tile through rows24().
// Same tiles and row split as rows(): same bits.
template <Activation A>
void rows_cols(const GemmParams& p, int64_t m, int64_t n0, int64_t n1, const float* x, const float* packed,
               const float* residual, float* y) {
  const int64_t lda = gemm_lda(p), N = p.n;
  // A rest of 8 columns goes with the last whole tile as one 24-column tile (gemm_avx2_wide24).
  const bool wide24 = (n1 - n0) % 16 == 8 && n1 - n0 >= 24 && tuning().gemm_avx2_wide24;
  const int64_t whole = n0 + (n1 - n0) / 16 * 16 - (wide24 ? 16 : 0);
  const RowTiles split = row_tiles_of(m);
  const bool inline_cols = tuning().gemm_avx2_inline_cols;
  int64_t i = 0;
  const auto row_tiles = [&](auto mr_tag, int64_t count) {
    constexpr int MR = decltype(mr_tag)::value;
    for (int64_t t = 0; t < count; ++t, i += MR) {
      const float* xi = x + i * lda;
      const float* ri = residual ? residual + i * N : nullptr;
      float* yi = y + i * N;
      if (inline_cols) {
        for (int64_t n = n0; n < whole; n += 16) tile_body<MR, true, A, false, false>(p, n, 16, xi, packed, ri, yi);
      } else {
        for (int64_t n = n0; n < whole; n += 16) tile<MR, true, A>(p, n, 16, xi, packed, ri, yi);
      }
    }
  };
  row_tiles(std::integral_constant<int, 6>{}, split.sixes);
  row_tiles(std::integral_constant<int, 5>{}, split.fives);
  if (i < m) {
    for (int64_t n = n0; n < whole; n += 16) {
      tile_rows<A>(p, m - i, n, 16, x + i * lda, packed, residual ? residual + i * N : nullptr, y + i * N);
    }
  }
  if (wide24) rows24<A>(p, m, whole, x, packed, residual, y);
  else if (whole < n1) rows<A>(p, m, whole, n1 - whole, x, packed, residual, y);
}

}  // namespace

void gemm_two_tiles_avx2(const GemmParams& p, int64_t m, int64_t n0, const float* x, const float* packed,
                         const float* residual, float* y) {
  with_activation(p.act, [&](auto act) {
    constexpr Activation A = decltype(act)::value;
    if (m == 1) return two_tiles<1, A>(p, n0, x, packed, residual, y);
    two_tiles<2, A>(p, n0, x, packed, residual, y);
  });
}

void gemm_rows24_avx2(const GemmParams& p, int64_t m, int64_t n0, const float* x, const float* packed,
                      const float* residual, float* y) {
  with_activation(p.act, [&](auto act) { rows24<decltype(act)::value>(p, m, n0, x, packed, residual, y); });
}

void gemm_rows_cols_avx2(const GemmParams& p, int64_t m, int64_t n0, int64_t n1, const float* x,
                         const float* packed, const float* residual, float* y) {
  with_activation(p.act, [&](auto act) { rows_cols<decltype(act)::value>(p, m, n0, n1, x, packed, residual, y); });
}

void gemm_rows_avx2(const GemmParams& p, int64_t m, int64_t n0, int64_t nr, const float* x, const float* packed,
                    const float* residual, float* y) {
  with_activation(p.act, [&](auto act) { rows<decltype(act)::value>(p, m, n0, nr, x, packed, residual, y); });
}

void gemm_tile_avx2(const GemmParams& p, int64_t mr, int64_t n0, int64_t nr, const float* x,
                    const float* packed, const float* residual, float* y) {
  with_activation(p.act, [&](auto act) { tile_rows<decltype(act)::value>(p, mr, n0, nr, x, packed, residual, y); });
}

}  // namespace mk
