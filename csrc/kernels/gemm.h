// Pointwise conv = GEMM microkernels (float32): Y[M,N] = act(X[M,K] . W[K,N] + b) (+ R).
//
// W is the packed pointwise weight [K + 1][N] (pack_conv with k = 1): rows 0..K-1 are
// the B matrix, row K the bias. X, Y and the optional residual R are NHWC pixels x
// channels, row-major with leading dimensions K and N.
#pragma once
#include <algorithm>
#include <cstdint>

#include "../runtime/cpu_features.h"
#include "activation.h"

namespace mk {

struct GemmParams {
  int64_t k, n;           // reduction length, output channels
  Activation act;
  // B layout: false = the canonical packed weight [K + 1][N]; true = 16-column panels
  // [ceil(N / 16)][K + 1][16] (pack_gemm_panels): each panel's rows are contiguous, so a
  // tile streams 64 bytes per k step from one page instead of one row of N floats apart
  // (at N >= 512 that stride is a page per k step: no prefetch, a TLB miss each).
  bool panels = false;
  // Reduction range of this call, for drivers that block K (AVX-512 tile only; other tiles
  // need the whole range): k_lo > 0 starts from the raw partial sums already in Y instead
  // of the bias; k_hi < k stores raw partial sums (no activation, no residual).
  int64_t k_lo = 0, k_hi = -1;  // k_hi < 0: k
  // A's layout. Row i of X starts at x + i * lda (lda 0: k, dense rows). A row's k values
  // are contiguous `seg` at a time, consecutive runs seg_stride floats apart (seg 0: one
  // run). A k x k conv reads its patches straight from an NHWC image this way: seg = k * cin
  // (one kernel row of taps), seg_stride = the image row, lda = stride * cin.
  int64_t lda = 0, seg = 0, seg_stride = 0;
  // Bytes the caller reads next from L3 (the next GEMM's first column tile, or an SE
  // block's FC1 weights), prefetched into L2 a slice per row tile across this call's
  // 64-column tiles (AVX-512 row loop, gemm_stream_hint). Hints only: nothing is read
  // through them, and a range longer than the call's prefetch slots is covered in part.
  const char* stream_after = nullptr;
  int64_t stream_after_bytes = 0;
  // Column rests of <= 8 may sum K in even / odd pairs (AVX-512, gemm_pair_tails): other
  // bits than the sequential order. Off for convs, whose pixels must give the same bits
  // whether their A rows come from the image (seg > 0) or from an im2col.
  bool k_pairs = true;
};

constexpr int64_t kGemmPanel = 16;

inline int64_t gemm_lda(const GemmParams& p) { return p.lda > 0 ? p.lda : p.k; }

// Calls f(k_begin, k_end, shift) for each run of A's columns [k_lo, k_hi) that is contiguous
// in X: column kk of row i is at x + i * lda + kk + shift.
// always_inline: where GCC calls it, the kernel's accumulators go through memory.
template <typename F>
__attribute__((always_inline)) inline void gemm_for_each_run(const GemmParams& p, int64_t k_lo, int64_t k_hi, F&& f) {
  if (p.seg <= 0) {
    f(k_lo, k_hi, int64_t{0});
    return;
  }
  for (int64_t s0 = k_lo; s0 < k_hi;) {
    const int64_t q = s0 / p.seg, s1 = std::min(k_hi, (q + 1) * p.seg);
    f(s0, s1, q * (p.seg_stride - p.seg));
    s0 = s1;
  }
}

// Row 0 of B's column j, and the distance between B's rows.
inline const float* gemm_b_column(const GemmParams& p, const float* packed, int64_t j) {
  return p.panels ? packed + (j / kGemmPanel) * (p.k + 1) * kGemmPanel + j % kGemmPanel : packed + j;
}
inline int64_t gemm_ldb(const GemmParams& p) { return p.panels ? kGemmPanel : p.n; }

// Floats in the panel layout of a [k + 1][n] packed weight (tail columns zero-filled).
inline int64_t gemm_panels_size(int64_t k, int64_t n) {
  return (n + kGemmPanel - 1) / kGemmPanel * (k + 1) * kGemmPanel;
}
void pack_gemm_panels(const float* packed, int64_t k, int64_t n, float* panels);
// Floats in B's layout (p.panels: the panel layout, else [k + 1][n]).
inline int64_t gemm_weights_size(const GemmParams& p) {
  return p.panels ? gemm_panels_size(p.k, p.n) : (p.k + 1) * p.n;
}
// out = packed with row kk (< p.k) of B times scale[kk] and the bias row copied, in B's
// layout: X . out equals (X scaled per column kk) . B up to rounding (an SE gate folded
// into the project's weights). Both layouts hold the same products, bit for bit.
void gemm_scale_rows(const GemmParams& p, const float* packed, const float* scale, float* out);

// The tile kernel's shape for an ISA: 6 rows for every ISA; one 16-column panel, or four
// for AVX-512 (two with the gemm_wide_tiles switch off). A tile's first column is a
// multiple of its width.
constexpr int64_t kGemmTileRows = 6;
int64_t gemm_tile_cols(Isa isa);

// Computes rows [0, mr) (mr <= kGemmTileRows) and columns [n0, n0 + nr) (nr <= gemm_tile_cols)
// of one tile.
// x: the tile's first row of X; y, residual: the tile's first row of Y / R (R may be null).
using GemmTileKernel = void (*)(const GemmParams& p, int64_t mr, int64_t n0, int64_t nr, const float* x,
                                const float* packed, const float* residual, float* y);

void gemm_tile_scalar(const GemmParams& p, int64_t mr, int64_t n0, int64_t nr, const float* x,
                      const float* packed, const float* residual, float* y);
#if defined(MK_HAVE_AVX2)
// 6 rows x 16 columns of accumulators (12 ymm registers), masked column tails.
void gemm_tile_avx2(const GemmParams& p, int64_t mr, int64_t n0, int64_t nr, const float* x,
                    const float* packed, const float* residual, float* y);
// Rows [0, m) of columns [n0, n0 + nr) (nr <= 16): 6x16 tiles, or 12x8 ones for nr <= 8.
void gemm_rows_avx2(const GemmParams& p, int64_t m, int64_t n0, int64_t nr, const float* x,
                    const float* packed, const float* residual, float* y);
// Rows [0, m) of columns [n0, n1), row tiles outer and column tiles inner (short K).
void gemm_rows_cols_avx2(const GemmParams& p, int64_t m, int64_t n0, int64_t n1, const float* x,
                         const float* packed, const float* residual, float* y);
// Rows [0, m) (m <= 2, A dense: p.seg == 0) of the two whole 16-column tiles [n0, n0 + 32):
// the tiles' bits, with twice the FMA chains (GEMVs: a lone 1-row tile waits on the FMA
// latency every k step).
void gemm_two_tiles_avx2(const GemmParams& p, int64_t m, int64_t n0, const float* x, const float* packed,
                         const float* residual, float* y);
// Rows [0, m) of the 24 columns [n0, n0 + 24) (n0 + 24 <= N; a whole 16-column tile and 8
// columns of the next): 4 x 24 tiles, the 6x16 and 12x8 tiles' bits.
void gemm_rows24_avx2(const GemmParams& p, int64_t m, int64_t n0, const float* x, const float* packed,
                      const float* residual, float* y);
#endif
#if defined(MK_HAVE_AVX512)
// 6 rows x 64 columns (24 zmm accumulators) or x 32 (12), masked column tails.
void gemm_tile_avx512(const GemmParams& p, int64_t mr, int64_t n0, int64_t nr, const float* x,
                      const float* packed, const float* residual, float* y);
void gemm_rows_avx512(const GemmParams& p, int64_t m, int64_t n0, int64_t nr, const float* x,
                      const float* packed, const float* residual, float* y);
#endif
#if defined(MK_HAVE_NEON)
// 6 rows x 8 columns (12 q registers); 4-column and scalar column tails.
void gemm_tile_neon(const GemmParams& p, int64_t mr, int64_t n0, int64_t nr, const float* x,
                    const float* packed, const float* residual, float* y);
#endif

}  // namespace mk
