#include "../runtime/check.h"
#include "pwconv.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "../runtime/thread_pool.h"
#include "../runtime/tuning.h"

namespace mk {

namespace {

GemmTileKernel pick_kernel(Isa isa) {
#if defined(MK_HAVE_AVX512)
  if (isa == Isa::kAvx512) return gemm_tile_avx512;
#endif
#if defined(MK_HAVE_AVX2)
  if (isa == Isa::kAvx2) return gemm_tile_avx2;
#endif
#if defined(MK_HAVE_NEON)
  if (isa == Isa::kNeon) return gemm_tile_neon;
#endif
  (void)isa;
  return gemm_tile_scalar;
}

// Small m splits the column tiles over the threads too, in at most this many groups of
// equal tile counts (the last may be shorter).
constexpr int64_t kMaxColumnGroups = 4;
int64_t tiles_per_group(int64_t col_tiles, int64_t groups) { return (col_tiles + groups - 1) / groups; }

}  // namespace

int64_t gemm_tile_cols(Isa isa) {
  if (isa != Isa::kAvx512) return kGemmPanel;
  return tuning().gemm_wide_tiles ? 4 * kGemmPanel : 2 * kGemmPanel;
}

void pwconv_check(const PwconvArgs& a) {
  require(a.x && a.packed && a.y, "pwconv_bn_act: null buffer");
  require(a.m >= 1 && a.p.k >= 1 && a.p.n >= 1, "pwconv_bn_act: m, k and n must be >= 1");
  const int act = static_cast<int>(a.p.act);
  require(act >= 0 && act < kNumActivations,
          [&] { return "pwconv_bn_act: unknown activation code " + std::to_string(act); });
  require(a.p.lda >= 0 && a.p.seg >= 0 && a.p.seg_stride >= 0, "pwconv_bn_act: negative A layout");
}

void pwconv_bn_act(const PwconvArgs& a, Isa isa) {
  pwconv_check(a);
  const GemmTileKernel kernel = pick_kernel(isa);
  const int64_t kTileRows = kGemmTileRows, kTileCols = gemm_tile_cols(isa);
  const GemmParams p = a.p;
  // Row block: ~256 KiB of X at most, a multiple of the tile height, several blocks evened
  // out over the threads (one block: the columns are split below instead).
  const int64_t max_block = std::max<int64_t>(kTileRows, (65536 / p.k) / kTileRows * kTileRows);
  // Inside a pool task (a block's band) the call runs inline: split as for one thread.
  const int64_t threads = tuning().gemm_nested_serial ? ThreadPool::instance().threads_here()
                                                      : ThreadPool::instance().num_threads();
  int64_t block = even_part_size(a.m, max_block, kTileRows, 2);
  const int64_t col_tiles = (p.n + kTileCols - 1) / kTileCols;
  // One block, split over the threads by rows instead of columns, so each thread writes
  // whole pixels, as the next layer's row split reads them: when there are rows enough for
  // every thread (14x14 maps, gemm_row_split), or fewer rows (7x7) but column tiles that do
  // not share evenly (N = 160: 64 + 64 + 32 columns over 2 threads; each thread then reads
  // all of B, gemm_split_rows_cols). Jobs are row-block-major: one row block per thread.
  bool uneven = col_tiles % threads != 0 && col_tiles < 4 * threads && a.m >= threads * kTileRows;
  if (tuning().gemm_balance_cols && threads > 1 && a.m >= threads * kTileRows) {
    // The column split's balance in 16-column panels: its busiest thread against an even
    // share. N = 576 (9 tiles in 3 groups of 3) gave one of 2 threads 24 of 36 panels, and
    // N = 96 (a 64- and a 32-column tile) 4 of 6: the rows are split instead.
    const int64_t per_group = tiles_per_group(col_tiles, std::min(col_tiles, kMaxColumnGroups));
    const int64_t groups = (col_tiles + per_group - 1) / per_group;  // non-empty ones
    const int64_t panels = (p.n + kGemmPanel - 1) / kGemmPanel;
    const int64_t group_panels = std::min(panels, per_group * (kTileCols / kGemmPanel));
    const int64_t busiest = (groups + threads - 1) / threads * group_panels;
    uneven = busiest * threads * 10 > panels * 11;
  }
  const bool many_rows = a.m >= threads * 8 * kTileRows;
  // Shares are whole row tiles, except for few rows (7x7 maps), where rounding costs more
  // than a partial tile: 49 rows go 25 + 24, not 30 + 19 (gemm_exact_split).
  if (threads > 1 && block >= a.m && tuning().gemm_row_split &&
      (many_rows || (uneven && tuning().gemm_split_rows_cols))) {
    block = (a.m + threads - 1) / threads;
    if (many_rows || !tuning().gemm_exact_split) block = (block + kTileRows - 1) / kTileRows * kTileRows;
  }
  const int64_t blocks = (a.m + block - 1) / block;
  // AVX-512 reads two B panels per tile (128 bytes per k): past K ~ 256 they no longer stay
  // in L1 across the row tiles of a block. The gemm_k_chunks switch (off by default) splits
  // K into chunks of <= 256 (32 KiB of B) that each pass over every row tile, partial sums
  // kept in Y. Measured: within noise on Ice Lake (48 KiB L1); on Zen 4 (32 KiB L1), where
  // it was meant to help, 4-9% slower on K > 256 layers (the Y round trips cost more than
  // streaming B from L2, 128 bytes per 12 FMAs) and 1.8-2.5% on whole models.
  const int64_t k_chunks = isa == Isa::kAvx512 && tuning().gemm_k_chunks ? (p.k + 255) / 256 : 1;
  const int64_t k_chunk = (p.k + k_chunks - 1) / k_chunks;
  // Rows [m0, m1) of the column tile [n0, n0 + nr).
  const auto column = [&](int64_t n0, int64_t nr, int64_t m0, int64_t m1) {
    GemmParams pc = p;
    for (int64_t c = 0; c < k_chunks; ++c) {
      pc.k_lo = c * k_chunk;
      pc.k_hi = std::min(p.k, pc.k_lo + k_chunk);
#if defined(MK_HAVE_AVX512)
      if (isa == Isa::kAvx512 && tuning().gemm_row_loop) {
        gemm_rows_avx512(pc, m1 - m0, n0, nr, a.x + m0 * gemm_lda(p), a.packed,
                         a.residual ? a.residual + m0 * p.n : nullptr, a.y + m0 * p.n);
        continue;
      }
#endif
#if defined(MK_HAVE_AVX2)
      if (isa == Isa::kAvx2 && tuning().gemm_avx2_rows) {
        gemm_rows_avx2(pc, m1 - m0, n0, nr, a.x + m0 * gemm_lda(p), a.packed,
                       a.residual ? a.residual + m0 * p.n : nullptr, a.y + m0 * p.n);
        continue;
      }
#endif
      for (int64_t i = m0; i < m1; i += kTileRows) {
        const int64_t mr = std::min(kTileRows, m1 - i);
        kernel(pc, mr, n0, nr, a.x + i * gemm_lda(p), a.packed, a.residual ? a.residual + i * p.n : nullptr,
               a.y + i * p.n);
      }
    }
  };
  // AVX2, K <= 32 (expand layers): row tiles outer, column tiles inner (gemm_avx2_rows_outer).
  const bool rows_outer = isa == Isa::kAvx2 && kTileCols == kGemmPanel && p.k <= 32 && k_chunks == 1 &&
                          tuning().gemm_avx2_rows && tuning().gemm_avx2_rows_outer;
  const bool two_tiles = isa == Isa::kAvx2 && kTileCols == kGemmPanel && p.seg == 0 && k_chunks == 1 &&
                         tuning().gemm_avx2_gemv_pairs;
  // N % 16 == 8 (N = 24, 40, 72, ...): the last whole tile and the 8-column rest as one
  // 24-column tile of 4 x 24 (gemm_avx2_wide24), not a 6x16 tile and 12x8 rest tiles. The
  // pair is one unit of the column split below; GEMVs keep the tile pairs.
  const bool wide24 = isa == Isa::kAvx2 && kTileCols == kGemmPanel && p.n % kGemmPanel == 8 && p.n >= 24 &&
                      a.m > 2 && k_chunks == 1 && tuning().gemm_avx2_rows && tuning().gemm_avx2_wide24;
  const int64_t units = col_tiles - (wide24 ? 1 : 0);  // column units: tiles, the last maybe 24 wide
  const auto unit_end = [&](int64_t u) { return u == units ? p.n : u * kTileCols; };
  // Small m (7x7 maps): split columns too, so batch 1 still uses every thread.
  const int64_t col_groups = blocks >= threads * 2 ? 1 : std::min(units, kMaxColumnGroups);
  const int64_t per_group = tiles_per_group(units, col_groups);
  ThreadPool::instance().parallel_for(blocks * col_groups, [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t m0 = (job / col_groups) * block;
      const int64_t m1 = std::min(a.m, m0 + block);
      const int64_t t0 = (job % col_groups) * per_group;
      const int64_t t1 = std::min(units, t0 + per_group);
      const float* x = a.x + m0 * gemm_lda(p);
      const float* r = a.residual ? a.residual + m0 * p.n : nullptr;
      float* y = a.y + m0 * p.n;
#if defined(MK_HAVE_AVX2)
      if (rows_outer && m1 - m0 > 2) {
        gemm_rows_cols_avx2(p, m1 - m0, t0 * kTileCols, unit_end(t1), x, a.packed, r, y);
        continue;
      }
#endif
      for (int64_t t = t0; t < t1; ++t) {
#if defined(MK_HAVE_AVX2)
        if (wide24 && t == units - 1) {
          gemm_rows24_avx2(p, m1 - m0, t * kTileCols, x, a.packed, r, y);
          continue;
        }
        // GEMVs (<= 2 rows: a classifier, an SE block's FCs): two whole column tiles at once
        // (the second not the last tile where that is partial or 24 wide).
        if (two_tiles && m1 - m0 <= 2 && t + 1 < t1 && unit_end(t + 2) == (t + 2) * kTileCols) {
          gemm_two_tiles_avx2(p, m1 - m0, t * kTileCols, x, a.packed, r, y);
          ++t;
          continue;
        }
#endif
        column(t * kTileCols, std::min(kTileCols, p.n - t * kTileCols), m0, m1);
      }
    }
  });
}

}  // namespace mk
