// AVX-512F GEMM tiles, 6 rows x 64 columns (tile64, below) or 6 rows x 32 columns (two
// 16-column B panels): 12 zmm accumulators,
// 2 B vectors and 6 A broadcasts per k step (8 loads per 12 FMAs: FMA-bound at 2 loads
// and 2 FMAs per cycle; 12 independent chains cover the 4-cycle latency of 2 FMA ports).
// Measured in L1 on Ice Lake: 6x32 124-142 GFLOP/s, 12x16 82-99 (13 loads per 12 FMAs),
// the AVX2 6x16 tile ~100-107 (bench/NOTES.md).
// One instantiation per row count (1..6) and column shape (32, 16 + 8, 16, 8 lanes);
// columns beyond nr are masked, so nothing outside X, W, R or Y is touched.
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "../gemm.h"
#include "../../runtime/tuning.h"
#include "../avx2/activation_avx2.h"
#include "activation_avx512.h"

namespace mk {

namespace {

// Vector types by lane count: a column remainder of <= 8 runs on ymm registers (AVX-512VL
// masks), which cost half a zmm FMA on CPUs that split zmm into two 256-bit halves (Zen 4)
// and no more than a zmm on the others: N = 24 layers (two masked zmm, 24 of 32 lanes
// used) ran at 71-73 GFLOP/s against ~110 for N = 32 (bench/NOTES.md).
template <int W>
struct Lanes;
template <>
struct Lanes<16> {
  using V = __m512;
  static V load(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
  static V loadu(const float* p) { return _mm512_loadu_ps(p); }
  static V bcast(__m512 a) { return a; }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static void store(float* p, __mmask16 m, V v) { _mm512_mask_storeu_ps(p, m, v); }
  template <Activation A>
  static V act(V v) { return activation_avx512(v, A); }
};
template <>
struct Lanes<8> {
  using V = __m256;
  static V load(const float* p, __mmask16 m) { return _mm256_maskz_loadu_ps(static_cast<__mmask8>(m), p); }
  static V loadu(const float* p) { return _mm256_loadu_ps(p); }
  static V bcast(__m512 a) { return _mm512_castps512_ps256(a); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static void store(float* p, __mmask16 m, V v) { _mm256_mask_storeu_ps(p, static_cast<__mmask8>(m), v); }
  template <Activation A>
  static V act(V v) { return activation_avx2(v, A); }
};

// A is the activation of the last K chunk (kIdentity for the others: raw partial sums).
template <class L, Activation A>
__attribute__((always_inline)) inline void store(bool last, typename L::V v, const float* r, float* y, __mmask16 m) {
  if (last) {
    v = L::template act<A>(v);
    if (r) v = L::add(v, L::load(r, m));
  }
  L::store(y, m, v);
}

#define MK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define MK_ROWS12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

// Byte offsets of A's rows 0-5 from row 0 (lda floats apart), from a stride register and
// its multiples that x86 addressing covers (1, 2 and 4 with the stride; 3 and 5 their own):
// a tile keeps 6 rows in 4 registers this way where 6 row pointers spilled.
struct RowOffsets {
  int64_t off[6];
  explicit RowOffsets(int64_t lda) {
    const int64_t s = lda * static_cast<int64_t>(sizeof(float));
    for (int i = 0; i < 6; ++i) off[i] = i * s;
  }
};

// Columns [n0, n0 + nr): vector 0 has W0 lanes (16, or 8 when nr <= 8), vector 1 has W1
// lanes (16 or 8; 0 when nr <= 16). Accumulators are named variables, not an array (an
// array made GCC keep them in memory; see the AVX2 tile).
template <int MR, int W0, int W1, Activation A>
void tile(const GemmParams& p, int64_t n0, int64_t nr, const float* x, const float* packed,
          const float* residual, float* y) {
  using L0 = Lanes<W0>;
  using L1 = Lanes<W1 == 0 ? W0 : W1>;
  using V0 = typename L0::V;
  using V1 = typename L1::V;
  constexpr bool kTwo = W1 > 0;
  const int64_t K = p.k, N = p.n;
  const __mmask16 m0 = tail_mask_avx512(nr), m1 = tail_mask_avx512(nr > 16 ? nr - 16 : 0);
  const float* b0 = gemm_b_column(p, packed, n0);
  const float* b1 = kTwo ? gemm_b_column(p, packed, n0 + 16) : b0;
  const int64_t ldb = gemm_ldb(p), lda = gemm_lda(p);
  const int64_t k_lo = p.k_lo, k_hi = p.k_hi < 0 ? K : p.k_hi;
  const bool first = k_lo == 0, last = k_hi == K;
  y += n0;
  const V0 bias0 = L0::load(b0 + K * ldb, m0);
  const V1 bias1 = L1::load(b1 + K * ldb, kTwo ? m1 : 0);
#define MK_DECL(i)                                                           \
  V0 c##i##0 = bias0;                                                        \
  V1 c##i##1 = bias1;                                                        \
  const float* x##i = x + (MR > i ? i * lda : 0);                            \
  if (MR > i && !first) {                                                    \
    c##i##0 = L0::load(y + i * N, m0);                                       \
    if constexpr (kTwo) c##i##1 = L1::load(y + i * N + 16, m1);              \
  }
  MK_ROWS(MK_DECL)
#undef MK_DECL
#define MK_FMA(i)                                                              \
  if constexpr (MR > i) {                                                      \
    const __m512 a = _mm512_set1_ps(s##i[kk]);                                 \
    c##i##0 = L0::fma(L0::bcast(a), bv0, c##i##0);                             \
    if constexpr (kTwo) c##i##1 = L1::fma(L1::bcast(a), bv1, c##i##1);         \
  }
#define MK_SHIFT(i) [[maybe_unused]] const float* s##i = x##i + shift;
  gemm_for_each_run(p, k_lo, k_hi, [&](int64_t k0, int64_t k1, int64_t shift) {
    MK_ROWS(MK_SHIFT)
    if (nr == W0 + W1) {
      for (int64_t kk = k0; kk < k1; ++kk) {
        const V0 bv0 = L0::loadu(b0 + kk * ldb);
        const V1 bv1 = kTwo ? L1::loadu(b1 + kk * ldb) : V1{};
        MK_ROWS(MK_FMA)
      }
    } else {
      for (int64_t kk = k0; kk < k1; ++kk) {
        const V0 bv0 = L0::load(b0 + kk * ldb, m0);
        const V1 bv1 = kTwo ? L1::load(b1 + kk * ldb, m1) : V1{};
        MK_ROWS(MK_FMA)
      }
    }
  });
#undef MK_SHIFT
#undef MK_FMA
  const float* r = residual ? residual + n0 : nullptr;
#define MK_STORE(i)                                                                                         \
  if constexpr (MR > i) {                                                                                   \
    store<L0, A>(last, c##i##0, r ? r + i * N : nullptr, y + i * N, m0);                                    \
    if constexpr (kTwo) store<L1, A>(last, c##i##1, r ? r + i * N + 16 : nullptr, y + i * N + 16, m1);      \
  }
  MK_ROWS(MK_STORE)
#undef MK_STORE
}

// 12 rows x one B vector of W lanes (16, or 8 for column tails of <= 8 on ymm): 12 FMA
// chains where the 6-row tile has 6 (two 512-bit FMA ports x 4 cycles of latency need
// 8), and one prologue and epilogue per 12 rows. The A rows are addressed from two bases
// (rows 0 and 6) plus byte strides of 1-5 rows, which GCC keeps as 5 index registers (12
// row pointers do not fit the 15 usable ones; session 14's 12-row tiles spilled them and
// ran 0.85-0.91x). Two vectors (12 x 32, 24 accumulators) measured 0.87-1.01x: not used.
template <int W, Activation A>
void tile12(const GemmParams& p, int64_t n0, int64_t nr, const float* x, const float* packed,
            const float* residual, float* y) {
  using L = Lanes<W>;
  using V = typename L::V;
  const int64_t K = p.k, N = p.n;
  const __mmask16 m0 = tail_mask_avx512(nr);
  const float* b0 = gemm_b_column(p, packed, n0);
  const int64_t ldb = gemm_ldb(p), lda = gemm_lda(p);
  const int64_t k_lo = p.k_lo, k_hi = p.k_hi < 0 ? K : p.k_hi;
  const bool first = k_lo == 0, last = k_hi == K;
  y += n0;
  const V bias = L::load(b0 + K * ldb, m0);
#define MK_DECL(i) V c##i = first ? bias : L::load(y + i * N, m0);
  MK_ROWS12(MK_DECL)
#undef MK_DECL
  const RowOffsets row_off(lda);
  gemm_for_each_run(p, k_lo, k_hi, [&](int64_t k0, int64_t k1, int64_t shift) {
    const char* a = reinterpret_cast<const char*>(x + k0 + shift);
    const char* a6 = a + 6 * row_off.off[1];
    const float* bp = b0 + k0 * ldb;
    // Row i's k value: base a (rows 0-5) or a6 (rows 6-11) plus 0-5 rows.
    const int64_t* off = row_off.off;
    for (int64_t kk = k0; kk < k1; ++kk, a += sizeof(float), a6 += sizeof(float), bp += ldb) {
      const V bv = L::load(bp, m0);
#define MK_FMA(i) \
  c##i = L::fma(L::bcast(_mm512_set1_ps(*reinterpret_cast<const float*>((i < 6 ? a : a6) + off[i % 6]))), bv, c##i);
      MK_ROWS12(MK_FMA)
#undef MK_FMA
    }
  });
  const float* r = residual ? residual + n0 : nullptr;
#define MK_STORE(i) store<L, A>(last, c##i, r ? r + i * N : nullptr, y + i * N, m0);
  MK_ROWS12(MK_STORE)
#undef MK_STORE
}

// What a tile of up to four 16-column panels needs besides its rows: the same for every
// row tile of a column tile, so rows() computes it once (per-tile setup was a third of a
// K = 16 tile's time). Panels past the tile's columns alias panel 0 (never read).
struct Tile64Setup {
  const float *b0, *b1, *b2, *b3;  // the 16-column B panels' row 0
  int64_t ldb, lda, n, k_lo, k_hi;
  bool first, last;
  __mmask16 mlast;  // the last panel's columns (a narrower tile's tail)
  Tile64Setup(const GemmParams& p, const float* packed, int64_t n0, int64_t nr = 64)
      : b0(gemm_b_column(p, packed, n0)),
        b1(nr > 16 ? gemm_b_column(p, packed, n0 + 16) : b0),
        b2(nr > 32 ? gemm_b_column(p, packed, n0 + 32) : b0),
        b3(nr > 48 ? gemm_b_column(p, packed, n0 + 48) : b0),
        ldb(gemm_ldb(p)),
        lda(gemm_lda(p)),
        n(p.n),
        k_lo(p.k_lo),
        k_hi(p.k_hi < 0 ? p.k : p.k_hi),
        first(p.k_lo == 0),
        last(p.k_hi < 0 || p.k_hi == p.k),
        mlast(tail_mask_avx512(nr - (nr - 1) / 16 * 16)) {}
};

// The body of a tile of NV 16-column panels (64 columns for NV = 4; fewer for a column
// tile's rest, the last panel's columns masked on store); x, residual and y point at the
// tile's first row and column.
// Dense: the prefetch streams (below) touch every line, one each 2 k steps
// (gemm_stream_dense), instead of every other line each 4.
// Lean (panels only): the A rows and B panels addressed as tile12's rows, from one base
// each plus stride registers, so the k loop's pointers fit the registers (with six row
// pointers and four panel pointers GCC spilled three of them, reloaded every k step).
// Streams false: no prefetch stream, and no per-step checks for one (their branches can
// issue to port 0, an FMA port: 2-5% at K <= 96).
template <int MR, Activation A, bool Dense = false, bool Lean = false, bool Streams = true, int NV = 4>
__attribute__((always_inline)) inline void tile64(const GemmParams& p, const Tile64Setup& t, const float* x,
                                                  const float* residual, float* y, const char* pf = nullptr,
                                                  const char* pf_end = nullptr, const char* pf2 = nullptr,
                                                  const char* pf2_end = nullptr) {
  using L = Lanes<16>;
  using V = __m512;
  constexpr __mmask16 kAll = 0xFFFF;
  // Store masks of panels 0-3: all columns but in the last one of a narrower tile (a
  // 64-column tile is always whole).
  const __mmask16 s0 = NV == 1 ? t.mlast : kAll, s1 = NV == 2 ? t.mlast : kAll;
  const __mmask16 s2 = NV == 3 ? t.mlast : kAll, s3 = kAll;
  const int64_t K = p.k, N = t.n, ldb = t.ldb, lda = t.lda;
  const float *b0 = t.b0, *b1 = t.b1, *b2 = t.b2, *b3 = t.b3;
  const bool first = t.first, last = t.last;
  // Row i of Y and R at byte offset yo[i] (tile12's scheme for A: 6 addresses from a base
  // and few stride registers, where GCC otherwise kept 24 row-panel addresses on the stack).
  const RowOffsets row_y(N);
  const int64_t* yo = row_y.off;
  char* const yb = reinterpret_cast<char*>(y);
  const char* const rb = reinterpret_cast<const char*>(residual);
  // Panels are zero-padded to 16 columns, so B and bias loads need no mask.
  const V bias0 = L::loadu(b0 + K * ldb), bias1 = NV > 1 ? L::loadu(b1 + K * ldb) : bias0;
  const V bias2 = NV > 2 ? L::loadu(b2 + K * ldb) : bias0, bias3 = NV > 3 ? L::loadu(b3 + K * ldb) : bias0;
#define MK_DECL(i)                                                                     \
  V c##i##0 = bias0, c##i##1 = bias1, c##i##2 = bias2, c##i##3 = bias3;                \
  const float* x##i = x + (MR > i ? i * lda : 0);                                      \
  if (MR > i && !first) {                                                              \
    const float* yi = reinterpret_cast<const float*>(yb + yo[i]);                      \
    c##i##0 = L::load(yi, s0);                                                         \
    if constexpr (NV > 1) c##i##1 = L::load(yi + 16, s1);                              \
    if constexpr (NV > 2) c##i##2 = L::load(yi + 32, s2);                              \
    if constexpr (NV > 3) c##i##3 = L::load(yi + 48, s3);                              \
  }
  MK_ROWS(MK_DECL)
#undef MK_DECL
// Row i's FMAs with A value a_expr, one per panel.
#define MK_FMA_ROW(i, a_expr)                                        \
  if constexpr (MR > i) {                                            \
    const V a = _mm512_set1_ps(a_expr);                              \
    c##i##0 = _mm512_fmadd_ps(a, bv0, c##i##0);                      \
    if constexpr (NV > 1) c##i##1 = _mm512_fmadd_ps(a, bv1, c##i##1); \
    if constexpr (NV > 2) c##i##2 = _mm512_fmadd_ps(a, bv2, c##i##2); \
    if constexpr (NV > 3) c##i##3 = _mm512_fmadd_ps(a, bv3, c##i##3); \
  }
#define MK_FMA(i) MK_FMA_ROW(i, s##i[kk])
#define MK_SHIFT(i) [[maybe_unused]] const float* s##i = x##i + shift;
#define MK_FMA_LEAN(i) MK_FMA_ROW(i, *reinterpret_cast<const float*>(ak + off[i]))
  gemm_for_each_run(p, t.k_lo, t.k_hi, [&](int64_t k0, int64_t k1, int64_t shift) {
    MK_ROWS(MK_SHIFT)
    // Lean: row i's k value at ak + off[i], panel j's k row at bk + j * ps (bytes).
    const char* ak = reinterpret_cast<const char*>(x + k0 + shift);
    const char* bk = reinterpret_cast<const char*>(b0 + k0 * kGemmPanel);
    const RowOffsets row_off(lda);
    [[maybe_unused]] const int64_t* off = row_off.off;
    const int64_t ps = (b1 - b0) * static_cast<int64_t>(sizeof(float)), ps3 = 3 * ps;
    for (int64_t kk = k0; kk < k1; ++kk) {
      if constexpr (Lean) {
        const V bv0 = _mm512_loadu_ps(bk), bv1 = NV > 1 ? _mm512_loadu_ps(bk + ps) : bv0;
        const V bv2 = NV > 2 ? _mm512_loadu_ps(bk + 2 * ps) : bv0, bv3 = NV > 3 ? _mm512_loadu_ps(bk + ps3) : bv0;
        MK_ROWS(MK_FMA_LEAN)
        ak += sizeof(float);
        bk += kGemmPanel * sizeof(float);
      } else {
        static_assert(Lean || NV == 4, "narrower tiles run the lean loop (panels) only");
        const V bv0 = L::loadu(b0 + kk * ldb), bv1 = L::loadu(b1 + kk * ldb);
        const V bv2 = L::loadu(b2 + kk * ldb), bv3 = L::loadu(b3 + kk * ldb);
        MK_ROWS(MK_FMA)
      }
      // A slice of the next column tile's B into L2 (gemm_stream_next), 32 bytes per k
      // step: every other line each 4 k steps, leaving the lines between to the L2's
      // adjacent-line prefetch, or (Dense) every line each 2 k steps, which does not rely
      // on it. Software prefetches hold an L1 fill buffer until L3 answers, so a stream
      // front-loaded into fewer k steps starves the loads. pf2: the same for the caller's
      // next GEMM, on the other k steps.
      constexpr int64_t kMask = Dense ? 1 : 3, kLine = Dense ? 64 : 128;
      if constexpr (Streams) {
        if ((kk & kMask) == 0 && pf < pf_end) {
          _mm_prefetch(pf, _MM_HINT_T1);
          pf += kLine;
        }
        if ((kk & kMask) == (Dense ? 1 : 2) && pf2 < pf2_end) {
          _mm_prefetch(pf2, _MM_HINT_T1);
          pf2 += kLine;
        }
      }
    }
  });
#undef MK_SHIFT
#undef MK_FMA
#undef MK_FMA_LEAN
#undef MK_FMA_ROW
#define MK_STORE(i)                                                                           \
  if constexpr (MR > i) {                                                                     \
    const float* ri = rb ? reinterpret_cast<const float*>(rb + yo[i]) : nullptr;             \
    float* yi = reinterpret_cast<float*>(yb + yo[i]);                                         \
    store<L, A>(last, c##i##0, ri, yi, s0);                                                   \
    if constexpr (NV > 1) store<L, A>(last, c##i##1, ri ? ri + 16 : nullptr, yi + 16, s1);    \
    if constexpr (NV > 2) store<L, A>(last, c##i##2, ri ? ri + 32 : nullptr, yi + 32, s2);    \
    if constexpr (NV > 3) store<L, A>(last, c##i##3, ri ? ri + 48 : nullptr, yi + 48, s3);    \
  }
  MK_ROWS(MK_STORE)
#undef MK_STORE
}

// A full 64-column tile (four 16-column B vectors): 24 zmm accumulators, 4 B loads and 6
// broadcasts per 24 FMAs, against 8 loads per 12 FMAs for 32 columns; the epilogue and the
// A rows are shared by twice the columns. For CPUs with two 512-bit FMA ports (Intel),
// where the 32-column tile's loads and per-tile overhead showed (bench/NOTES.md).
template <int MR, Activation A>
void tile64(const GemmParams& p, int64_t n0, const float* x, const float* packed, const float* residual,
            float* y) {
  tile64<MR, A>(p, Tile64Setup(p, packed, n0), x, residual ? residual + n0 : nullptr, y + n0);
}


template <int MR, Activation A>
void tile(const GemmParams& p, int64_t n0, int64_t nr, const float* x, const float* packed,
          const float* residual, float* y) {
  if (nr > 32) {  // a 64-column tile (gemm_wide_tiles)
    if (nr == 64) return tile64<MR, A>(p, n0, x, packed, residual, y);
    tile<MR, A>(p, n0, 32, x, packed, residual, y);
    return tile<MR, A>(p, n0 + 32, nr - 32, x, packed, residual, y);
  }
  const bool ymm = tuning().gemm_ymm_tails;
  if (nr > 24 || (nr > 16 && !ymm)) return tile<MR, 16, 16, A>(p, n0, nr, x, packed, residual, y);
  if (nr > 16) return tile<MR, 16, 8, A>(p, n0, nr, x, packed, residual, y);
  if (nr > 8 || !ymm) return tile<MR, 16, 0, A>(p, n0, nr, x, packed, residual, y);
  tile<MR, 8, 0, A>(p, n0, nr, x, packed, residual, y);
}

// One tile of mr (1..6) rows.
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

// A prefetch stream's share of `bytes` per row tile of a column tile with `tiles` of them,
// rounded up to 256 bytes (the last slice may end up to 256 bytes past its range:
// prefetches never fault).
inline int64_t row_tile_slice(int64_t bytes, int64_t tiles) { return (bytes / tiles + 255) / 256 * 256; }

// Column tiles of <= 24 columns in k pairs (gemm_pair_tails, gemm_pair16, gemm_pair24),
// either B layout, whole K (no chunks), dense A rows: lane 2j of a row's pair vector sums
// A[r][k] * B[k][j] over even k, lane 2j + 1 over odd k; the lane pairs are added at the
// end. Per k pair and row: one vbroadcastsd of A[r][k], A[r][k + 1] feeding NV FMAs on all
// 16 lanes; per k pair: B's rows k and k + 1 interleaved by NV vpermt2ps.
// - NV = 1 (<= 8 columns, N = 72's, 40's, 1000's rests), 12-row tiles: 12 FMAs where the
//   ymm tile spent 24 on 8 lanes each.
// - NV = 2 (9-16 columns, N = 16 layers), 12-row tiles: 12 broadcasts + 2 loads per 24
//   FMAs, where tile12 needs a broadcast per FMA (13 loads per 12 FMAs: load-bound, 163
//   GFLOP/s at K = 256 in L1).
// - NV = 3 (17-24 columns, N = 24 layers), 8-row tiles: 24 FMAs + 3 permutes for 8 x 24 x 2
//   MACs, where the 16 + 8-column tile spent 24 FMAs on 6 x 24 x 2 (75% of the lanes).
// Every row runs the same operations in the same order whatever MR and B's layout (a
// network's fused run and the per-op drivers split rows and lay out B differently, and
// must give the same bits).
template <int NV>
struct PairSetup {
  static constexpr int kRows = NV == 3 ? 8 : 12;
  const float *b0, *b1;  // B's row 0 at our columns 0 and 16 (NV = 3)
  int64_t k, n, lda, ldb;
  __mmask16 last;              // the last vector's columns: 16.. (NV = 3) or 0..
  __m512 bias0, bias1, bias2;  // in the even lanes
  RowOffsets ao, yo;
  PairSetup(const GemmParams& p, const float* packed, int64_t n0, int64_t nr)
      : b0(gemm_b_column(p, packed, n0)),
        b1(NV == 3 ? gemm_b_column(p, packed, n0 + 16) : b0),
        k(p.k),
        n(p.n),
        lda(gemm_lda(p)),
        ldb(gemm_ldb(p)),
        last(tail_mask_avx512(NV == 3 ? nr - 16 : nr)),
        bias0(spread(low(b0 + p.k * ldb, true), evens())),
        bias1(NV > 1 ? spread(low(b0 + p.k * ldb, true), upper_evens()) : bias0),
        bias2(NV == 3 ? spread(high(b1 + p.k * ldb, true), evens()) : bias0),
        ao(gemm_lda(p)),
        yo(p.n) {}
  // B's columns 0-15 (0-7 for NV = 1) and 16-23 of the row at q: through the mask when
  // `masked` (the canonical layout with fewer columns left), else whole (a panel's zero
  // padding, or the columns exist in [K + 1][N]: no mask register to rebuild each k step).
  __m512 low(const float* q, bool masked) const {
    if (NV == 1) return high(q, masked);
    return NV == 2 && masked ? _mm512_maskz_loadu_ps(last, q) : _mm512_loadu_ps(q);
  }
  __m512 high(const float* q, bool masked) const {
    return _mm512_castps256_ps512(masked ? _mm256_maskz_loadu_ps(static_cast<__mmask8>(last), q)
                                         : _mm256_loadu_ps(q));
  }
  // Lane 2j <- lane idx[2j] of v, the odd lanes zero.
  static __m512 spread(__m512 v, __m512i idx) { return _mm512_maskz_permutexvar_ps(0x5555, idx, v); }
  // Lane 2j <- lane j, or lane 8 + j.
  static __m512i evens() { return _mm512_set_epi32(0, 7, 0, 6, 0, 5, 0, 4, 0, 3, 0, 2, 0, 1, 0, 0); }
  static __m512i upper_evens() { return _mm512_set_epi32(0, 15, 0, 14, 0, 13, 0, 12, 0, 11, 0, 10, 0, 9, 0, 8); }
};

// A[r][k], A[r][k + 1] in every lane pair: a vbroadcastsd of 8 bytes that may be only
// 4-aligned (memcpy: no misaligned double dereference).
__attribute__((always_inline)) inline __m512 pair_bcast(const char* p) {
  double d;
  std::memcpy(&d, p, sizeof(d));
  return _mm512_castpd_ps(_mm512_set1_pd(d));
}

// MR (1 or kRows) rows; x, residual and y point at row 0 (y and residual at our column 0).
// Masked: B's last vector read through the mask (see low, high).
template <int NV, int MR, Activation A, bool Masked>
__attribute__((always_inline)) inline void pair_tile(const PairSetup<NV>& t, const float* x, const float* residual,
                                                     float* y) {
  using S = PairSetup<NV>;
  const int64_t K = t.k, kp = K / 2 * 2, ldb = t.ldb;
  const int64_t *ao = t.ao.off, *yo = t.yo.off;
  const char* a = reinterpret_cast<const char*>(x);
  const char* a6 = MR > 6 ? a + 6 * ao[1] : a;
  // Lane 2j <- B[k][j] (first operand), lane 2j + 1 <- B[k + 1][j], for j in 0-7 or 8-15.
  const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
  constexpr bool kMaskLow = Masked && NV < 3, kMaskHigh = Masked && NV == 3;
#define MK_DECL(r)                               \
  [[maybe_unused]] __m512 c##r##0 = t.bias0;     \
  [[maybe_unused]] __m512 c##r##1 = t.bias1;     \
  [[maybe_unused]] __m512 c##r##2 = t.bias2;
  MK_ROWS12(MK_DECL)
#undef MK_DECL
#define MK_AROW(r) ((r < 6 ? a : a6) + ao[r % 6])
#define MK_FMAS(r, av)                                                 \
  if constexpr (MR > r) {                                              \
    const __m512 a_ = av;                                              \
    c##r##0 = _mm512_fmadd_ps(a_, bv0, c##r##0);                       \
    if constexpr (NV > 1) c##r##1 = _mm512_fmadd_ps(a_, bv1, c##r##1); \
    if constexpr (NV > 2) c##r##2 = _mm512_fmadd_ps(a_, bv2, c##r##2); \
  }
  const float *bk0 = t.b0, *bk1 = t.b1;
  int64_t k = 0;
  for (; k < kp; k += 2, bk0 += 2 * ldb, bk1 += 2 * ldb) {
    const __m512 l0 = t.low(bk0, kMaskLow), l0n = t.low(bk0 + ldb, kMaskLow);
    const __m512 bv0 = _mm512_permutex2var_ps(l0, lo, l0n);
    [[maybe_unused]] const __m512 bv1 = NV > 1 ? _mm512_permutex2var_ps(l0, hi, l0n) : bv0;
    [[maybe_unused]] const __m512 bv2 =
        NV > 2 ? _mm512_permutex2var_ps(t.high(bk1, kMaskHigh), lo, t.high(bk1 + ldb, kMaskHigh)) : bv0;
#define MK_FMA(r) MK_FMAS(r, pair_bcast(MK_AROW(r) + k * 4))
    MK_ROWS12(MK_FMA)
#undef MK_FMA
  }
  if (k < K) {  // odd K: the last k in the even lanes only
    const __m512 l0 = t.low(bk0, kMaskLow);
    const __m512 bv0 = S::spread(l0, S::evens());
    [[maybe_unused]] const __m512 bv1 = NV > 1 ? S::spread(l0, S::upper_evens()) : bv0;
    [[maybe_unused]] const __m512 bv2 = NV > 2 ? S::spread(t.high(bk1, kMaskHigh), S::evens()) : bv0;
#define MK_FMA(r) MK_FMAS(r, _mm512_set1_ps(*reinterpret_cast<const float*>(MK_AROW(r) + k * 4)))
    MK_ROWS12(MK_FMA)
#undef MK_FMA
  }
#undef MK_FMAS
#undef MK_AROW
  // Even lanes (even k) plus odd lanes (odd k): columns 0-15 from c0 and c1, the <= 8
  // columns 16-23 (NV = 3) or 0-7 (NV = 1) from one vector.
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
  const __mmask16 m16 = NV == 2 ? t.last : static_cast<__mmask16>(0xFFFF);
  const __mmask8 m8 = static_cast<__mmask8>(t.last);
  char* yb = reinterpret_cast<char*>(y);
  char* yb6 = MR > 6 ? yb + 6 * yo[1] : yb;
  const char* rb = reinterpret_cast<const char*>(residual);
  const char* rb6 = rb && MR > 6 ? rb + 6 * yo[1] : rb;
  const auto store8 = [&](__m512 c, const float* rr, float* yr) {
    __m256 w = activation_avx2(
        _mm512_castps512_ps256(_mm512_add_ps(_mm512_permutexvar_ps(even, c), _mm512_permutexvar_ps(odd, c))), A);
    if (rr) w = _mm256_add_ps(w, _mm256_maskz_loadu_ps(m8, rr));
    _mm256_mask_storeu_ps(yr, m8, w);
  };
#define MK_STORE(r)                                                                                           \
  if constexpr (MR > r) {                                                                                     \
    float* yr = reinterpret_cast<float*>((r < 6 ? yb : yb6) + yo[r % 6]);                                     \
    const float* rr = rb ? reinterpret_cast<const float*>((r < 6 ? rb : rb6) + yo[r % 6]) : nullptr;          \
    if constexpr (NV == 1) {                                                                                  \
      store8(c##r##0, rr, yr);                                                                                \
    } else {                                                                                                  \
      __m512 v = activation_avx512(_mm512_add_ps(_mm512_permutex2var_ps(c##r##0, even, c##r##1),              \
                                                 _mm512_permutex2var_ps(c##r##0, odd, c##r##1)),              \
                                   A);                                                                        \
      if (rr) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m16, rr));                                           \
      _mm512_mask_storeu_ps(yr, m16, v);                                                                      \
      if constexpr (NV == 3) store8(c##r##2, rr ? rr + 16 : nullptr, yr + 16);                                \
    }                                                                                                         \
  }
  MK_ROWS12(MK_STORE)
#undef MK_STORE
}

// Rows [0, m) of a column tile of <= 8 (NV = 1), 9-16 (NV = 2) or 17-24 (NV = 3) columns
// in k pairs: tiles of kRows rows, then single rows.
template <Activation A, int NV>
__attribute__((noinline)) void pair_rows(const GemmParams& p, int64_t m, int64_t n0, int64_t nr, const float* x,
                                         const float* packed, const float* residual, float* y) {
  const PairSetup<NV> t(p, packed, n0, nr);
  constexpr int kRows = PairSetup<NV>::kRows;
  const float* r = residual ? residual + n0 : nullptr;
  y += n0;
  const auto run = [&](auto masked) {
    constexpr bool kMasked = decltype(masked)::value;
    int64_t i = 0;
    for (; i + kRows <= m; i += kRows)
      pair_tile<NV, kRows, A, kMasked>(t, x + i * t.lda, r ? r + i * t.n : nullptr, y + i * t.n);
    for (; i < m; ++i) pair_tile<NV, 1, A, kMasked>(t, x + i * t.lda, r ? r + i * t.n : nullptr, y + i * t.n);
  };
  if (p.panels || nr == 8 * NV) run(std::false_type{});
  else run(std::true_type{});
}

// The prefetch streams of a column tile's row tiles: a slice of each per row tile.
struct RowTileStreams {
  const char* next;
  int64_t slice;
  const char* after;
  int64_t after_slice;
};

// The 6-row tiles [0, m / 6 * 6) of one column tile, one tile variant per function: inlined
// beside its other variants, a tile's 24 row-panel addresses and starting values went to
// the stack (~150 instructions per row tile outside the k loop at K = 16-32). Returns the
// rows done. x: A's row 0; r and y: row 0 of R and Y at the tile's first column (r may be null).
template <Activation A, bool Dense, bool Lean, bool Streams, int NV>
__attribute__((noinline)) int64_t row_tiles(const GemmParams& p, const Tile64Setup& t, int64_t m, const float* x,
                                            const float* r, float* y, const RowTileStreams& st) {
  const int64_t lda = t.lda, N = t.n;
  int64_t i = 0;
  for (int64_t tile_i = 0; i + 6 <= m; i += 6, ++tile_i) {
    const float* ri = r ? r + i * N : nullptr;
    if constexpr (Streams) {
      const char* pf = st.next ? st.next + tile_i * st.slice : nullptr;
      const char* pf2 = st.after ? st.after + tile_i * st.after_slice : nullptr;
      tile64<6, A, Dense, Lean, true, NV>(p, t, x + i * lda, ri, y + i * N, pf, pf ? pf + st.slice : nullptr, pf2,
                                          pf2 ? pf2 + st.after_slice : nullptr);
    } else {
      tile64<6, A, Dense, Lean, false, NV>(p, t, x + i * lda, ri, y + i * N);
    }
  }
  return i;
}

// The 6-row tiles of a column tile of NV 16-column panels (nr == 64 for NV = 4, nr in
// (16 * (NV - 1), 16 * NV] for NV = 2, 3, which run the lean loop only, i.e. panels): the
// setup computed once. Returns the rows done.
template <Activation A, int NV>
int64_t panel_rows(const GemmParams& p, int64_t m, int64_t n0, int64_t nr, const float* x, const float* packed,
                   const float* residual, float* y) {
  const int64_t N = p.n;
  const Tile64Setup t(p, packed, n0, nr);
  const float* r = residual ? residual + n0 : nullptr;
  // The next column tile's B panels, a slice per row tile (gemm_stream_next): a
  // network's weights come from L3 (~28 GB/s on one core), and a column tile's first
  // row tile otherwise waits for them (v2's 320 -> 1280 conv: 307 us in sequence, 252
  // with its weights in L2).
  const char* next = nullptr;
  int64_t slice = 0;
  if (tuning().gemm_stream_next && p.panels && n0 + 64 < N && m >= 6) {
    const int64_t panels = std::min<int64_t>(4, (N - n0 - 64 + kGemmPanel - 1) / kGemmPanel);
    next = reinterpret_cast<const char*>(gemm_b_column(p, packed, n0 + 64));
    slice = row_tile_slice(panels * (p.k + 1) * kGemmPanel * static_cast<int64_t>(sizeof(float)), m / 6);
  }
  // The caller's next GEMM (p.stream_after): this column tile's share, split over its
  // row tiles the same way.
  const char* after = nullptr;
  int64_t after_slice = 0;
  if (tuning().gemm_stream_hint && p.stream_after && m >= 6) {
    const int64_t col_tiles = (N + 63) / 64, share = (p.stream_after_bytes + col_tiles - 1) / col_tiles;
    after = p.stream_after + (n0 / 64) * share;
    after_slice = row_tile_slice(share, m / 6);
  }
  const bool dense = tuning().gemm_stream_dense;
  const bool lean = dense && tuning().gemm_lean_loop && t.ldb == kGemmPanel;
  const RowTileStreams st{next, slice, after, after_slice};
  y += n0;
  if ((NV < 4 || lean) && !next && !after) return row_tiles<A, true, true, false, NV>(p, t, m, x, r, y, st);
  if (NV < 4 || lean) return row_tiles<A, true, true, true, NV>(p, t, m, x, r, y, st);
  if constexpr (NV == 4) {
    if (dense) return row_tiles<A, true, false, true, 4>(p, t, m, x, r, y, st);
    return row_tiles<A, false, false, true, 4>(p, t, m, x, r, y, st);
  }
  return 0;
}

// The columns at the end of a column tile of nr that sum K in k pairs: none, all (nr <= 24:
// gemm_pair_tails, gemm_pair16, gemm_pair24) or the <= 8 after 32 or 48 sequential ones
// (gemm_pair_tails). Decided here alone, from nr and K's layout, so both B layouts and any
// row split give the same bits: a network (panels) and its per-op drivers ([K + 1][N])
// must agree, and their tiles split a column tile differently (lean narrow tiles exist
// for panels only).
inline int64_t pair_columns(const GemmParams& p, int64_t nr) {
  if (!p.k_pairs || p.seg > 0 || p.k_lo != 0 || (p.k_hi >= 0 && p.k_hi != p.k)) return 0;
  const Tuning& t = tuning();
  if (nr <= 8) return t.gemm_pair_tails ? nr : 0;
  if (nr <= 16) return t.gemm_pair16 ? nr : 0;
  if (nr <= 24) return t.gemm_pair24 ? nr : 0;
  const int64_t rest = nr % 16;
  return nr > 32 && nr < 64 && rest >= 1 && rest <= 8 && t.gemm_pair_tails ? rest : 0;
}

// Rows [0, m) of columns [n0, n0 + nr) in sequential k order (no k pairs): the row tiles
// of one column tile in one call, the activation and column shape dispatched once and a
// 64-column tile's setup computed once. A tile's fixed cost was ~100 cycles, a third of a
// K = 16 tile's time; this cut K <= 32 GEMMs' time by 3-12% (bench/NOTES.md).
template <Activation A>
void sequential_rows(const GemmParams& p, int64_t m, int64_t n0, int64_t nr, const float* x, const float* packed,
                     const float* residual, float* y) {
  const int64_t lda = gemm_lda(p), N = p.n;
  // A column tile's rest of 17-48 columns (or 17-56, of which the last <= 8 go on ymm
  // tiles) as one tile of 2-3 panels over all rows, the last panel masked
  // (gemm_lean_narrow): its setup computed once, as a 64-column tile's, and the lean loop.
  // The 6x32 tile otherwise paid ~150 cycles of setup per row tile, more than its FMAs
  // at K = 16.
  if (nr > 16 && nr < 64 && p.panels && tuning().gemm_lean_narrow && tuning().gemm_stream_dense &&
      tuning().gemm_lean_loop) {
    const int64_t rest = nr % 16, wide = rest > 0 && rest <= 8 && tuning().gemm_ymm_tails ? nr - rest : nr;
    if (wide > 16 && wide <= 48) {
      const int64_t i = wide > 32 ? panel_rows<A, 3>(p, m, n0, wide, x, packed, residual, y)
                                  : panel_rows<A, 2>(p, m, n0, wide, x, packed, residual, y);
      if (i < m)
        tile_rows<A>(p, m - i, n0, wide, x + i * lda, packed, residual ? residual + i * N : nullptr, y + i * N);
      if (wide < nr) sequential_rows<A>(p, m, n0 + wide, nr - wide, x, packed, residual, y);
      return;
    }
  }
  // A 64-column tile's tail of 33-48 columns as 32 columns and a narrow rest, each over
  // all rows, so the rest runs in 12-row tiles (gemm_split_tails).
  if (nr > 32 && nr <= 48 && tuning().gemm_split_tails) {
    sequential_rows<A>(p, m, n0, 32, x, packed, residual, y);
    return sequential_rows<A>(p, m, n0 + 32, nr - 32, x, packed, residual, y);
  }
  int64_t i = 0;
  if (nr == 64) {
    i = panel_rows<A, 4>(p, m, n0, nr, x, packed, residual, y);
  } else {
    // Column tiles of <= 16 columns: 12-row tiles first (gemm_tall_narrow, gemm_tall_ymm).
    const bool ymm = nr <= 8 && tuning().gemm_ymm_tails;
    if (nr <= 16 && (ymm ? tuning().gemm_tall_ymm : tuning().gemm_tall_narrow)) {
      for (; i + 12 <= m; i += 12) {
        const float* ri = residual ? residual + i * N : nullptr;
        if (ymm) tile12<8, A>(p, n0, nr, x + i * lda, packed, ri, y + i * N);
        else tile12<16, A>(p, n0, nr, x + i * lda, packed, ri, y + i * N);
      }
    }
    for (; i + 6 <= m; i += 6) tile<6, A>(p, n0, nr, x + i * lda, packed, residual ? residual + i * N : nullptr, y + i * N);
  }
  if (i < m) tile_rows<A>(p, m - i, n0, nr, x + i * lda, packed, residual ? residual + i * N : nullptr, y + i * N);
}

// Rows [0, m) of columns [n0, n0 + nr): the sequential columns, then those in k pairs.
template <Activation A>
void rows(const GemmParams& p, int64_t m, int64_t n0, int64_t nr, const float* x, const float* packed,
          const float* residual, float* y) {
  const int64_t pairs = pair_columns(p, nr);
  if (pairs < nr) sequential_rows<A>(p, m, n0, nr - pairs, x, packed, residual, y);
  if (pairs == 0) return;
  n0 += nr - pairs;
  if (pairs <= 8) return pair_rows<A, 1>(p, m, n0, pairs, x, packed, residual, y);
  if (pairs <= 16) return pair_rows<A, 2>(p, m, n0, pairs, x, packed, residual, y);
  pair_rows<A, 3>(p, m, n0, pairs, x, packed, residual, y);
}

#undef MK_ROWS12
#undef MK_ROWS

}  // namespace

void gemm_rows_avx512(const GemmParams& p, int64_t m, int64_t n0, int64_t nr, const float* x,
                      const float* packed, const float* residual, float* y) {
  const bool last = p.k_hi < 0 || p.k_hi == p.k;
  with_activation(last ? p.act : Activation::kIdentity, [&](auto act) {
    rows<decltype(act)::value>(p, m, n0, nr, x, packed, residual, y);
  });
}

void gemm_tile_avx512(const GemmParams& p, int64_t mr, int64_t n0, int64_t nr, const float* x,
                      const float* packed, const float* residual, float* y) {
  const bool last = p.k_hi < 0 || p.k_hi == p.k;
  with_activation(last ? p.act : Activation::kIdentity, [&](auto act) {
    tile_rows<decltype(act)::value>(p, mr, n0, nr, x, packed, residual, y);
  });
}

}  // namespace mk
