// Switches between kernel variants that benchmarks A/B in one process (this VM's timings
// drift by up to 1.5x between processes minutes apart, so only alternating calls in one
// process compare two variants fairly). Defaults are the measured winners; nothing in the
// library's results depends on them, only its speed.
#pragma once
#include <atomic>
#include <string>

namespace mk {

struct Tuning {
  // AVX-512 GEMM: column remainders of <= 8 on 8-lane (ymm) vectors instead of masked
  // 16-lane ones.
  std::atomic<bool> gemm_ymm_tails{true};
  // AVX-512 GEMM driver: K blocked in chunks of <= 256 (B panels stay in a 32 KiB L1);
  // off: measured slower on Zen 4 and no faster on Ice Lake (ops/pwconv.cc).
  std::atomic<bool> gemm_k_chunks{false};
  // Depthwise (AVX-512, AVX2): rows of <= 16 output pixels in 8-pixel groups with the
  // padding inside them, instead of the interior groups + one-pixel edge path.
  std::atomic<bool> dw_padded_rows{true};
  std::atomic<bool> dw_edge_groups{true};
  // GEMM driver: row blocks evened out to a multiple of the thread count (ops/pwconv.cc).
  std::atomic<bool> gemm_even_blocks{true};
  // AVX-512 GEMM: 64-column tiles (24 accumulators) instead of 32-column ones.
  std::atomic<bool> gemm_wide_tiles{true};
  // Thread pool: workers claim chunks from the back of the range, the caller from the
  // front, so with 2 threads each keeps the same half of every layer's rows.
  std::atomic<bool> pool_split_ends{true};
  // GEMM driver: a single row block is split over the threads by rows, not by columns.
  std::atomic<bool> gemm_row_split{true};
  // Depthwise (AVX-512): stride-1 rows in pairs that share each input row.
  std::atomic<bool> dw_row_pairs{true};
  std::atomic<bool> dw_row_pairs_s2{true};  // ... and stride-2 rows
  std::atomic<bool> dw_row_pairs_avx2{true};  // ... on AVX2 too
  // GEMM driver: small m with column tiles that do not share evenly: rows split as well.
  std::atomic<bool> gemm_split_rows_cols{true};
  // ... into exact shares (m / threads rows), not shares rounded up to whole row tiles.
  // (small m only: 14x14 maps measured 0.99x with exact shares)
  std::atomic<bool> gemm_exact_split{true};
  // ... judged by the column split's balance in 16-column panels (any number of tiles),
  // not by the tile count alone.
  std::atomic<bool> gemm_balance_cols{true};
  // GEMM driver: called inside a pool task (it then runs inline), row blocks and column
  // groups sized for one thread instead of the pool's.
  std::atomic<bool> gemm_nested_serial{true};
  // AVX-512 GEMM row loop: each row tile of a 64-column tile prefetches a slice of the
  // next column tile's B panels into L2.
  std::atomic<bool> gemm_stream_next{true};
  // ... and the slice of the caller's next GEMM named in GemmParams::stream_after (an
  // inverted residual's expand streams its project's first column tile).
  std::atomic<bool> gemm_stream_hint{true};
  // ... an SE block's expand streams its first FC's weights instead (ops/inverted_residual.cc).
  std::atomic<bool> ir_stream_se{true};
  // ... and its gate multiplies the project's weight rows instead of the depthwise output,
  // where the weights are the smaller (ops/inverted_residual.cc).
  std::atomic<bool> ir_se_fold{true};
  // ... its channel sums taken band by band as the depthwise writes them, not over the
  // job's rows afterwards.
  std::atomic<bool> ir_se_band_sums{true};
  // Inverted-residual row bands of at least 2 output rows (the depthwise pairs rows; the
  // window may then pass its budget by one band step), and the window's rows counted within
  // the image's height (ops/inverted_residual.cc: band_rows).
  std::atomic<bool> ir_band_pairs{true};
  std::atomic<bool> ir_window_clip{true};
  // ... an image split over threads expanded once into a shared image, each part its own
  // input rows, instead of each part expanding its halo rows again.
  std::atomic<bool> ir_shared_expand{true};
  // ... and such an image kept in row bands however large its halo (not sent per-op).
  std::atomic<bool> ir_shared_halo_bands{true};
  // ... the band window a ring (runtime/mirrored_buffer.h), so sliding it to the next band
  // moves its start instead of memmoving the rows the bands share.
  std::atomic<bool> ir_ring_window{true};
  // AVX-512 GEMM: a column tile's row tiles in one kernel call.
  std::atomic<bool> gemm_row_loop{true};
  // AVX-512 row loop: column tiles of 9-16 columns in 12-row tiles (kernels/avx512).
  std::atomic<bool> gemm_tall_narrow{true};
  std::atomic<bool> gemm_tall_ymm{true};  // ... and of <= 8 columns (ymm tails)
  // ... a column tile of 33-48 columns as 32 + the rest, each over all rows.
  std::atomic<bool> gemm_split_tails{true};
  // Stem conv (3 channels, 3x3, stride 2): the unrolled microkernel (kernels/conv.h)
  // instead of the GEMM tile for interior pixels.
  std::atomic<bool> conv_stem_kernel{true};
  // Network: a stem conv computed band by band inside the block after it, depthwise +
  // pointwise pairs on large maps as one block (ops/network.cc).
  std::atomic<bool> net_fuse{true};
  // ... with the pointwise layer before a fused pair as the pair's expand.
  std::atomic<bool> net_pair_expand{true};
  // Inverted residual: blocks whose few output rows do not share evenly over the threads
  // run per-op (ops/inverted_residual.cc).
  std::atomic<bool> ir_uneven_by_op{true};
  // ... except at stride 2, which keeps its bands (ops/inverted_residual.cc).
  std::atomic<bool> ir_uneven_s2_bands{true};
  // Inverted residual: a depthwise layer after the block (InvertedResidualArgs::next_dw)
  // computed band by band inside it, not after it as an op.
  std::atomic<bool> ir_next_dw{true};
  // Global average pool (SE's squeeze too) with fewer images than threads: split by pixel
  // ranges with partial sums instead of by channel blocks (ops/squeeze_excite.cc).
  std::atomic<bool> pool_pixel_split{true};
  // Depthwise driver: the pool splits output rows in pairs, so each chunk keeps the
  // kernels' row pairs (ops/dwconv.cc).
  std::atomic<bool> dw_pair_chunks{true};
  // Depthwise rows: a row that cannot pair goes alone and the next starts a pair, instead
  // of both going alone (ops/dwconv.cc dwconv_rows).
  std::atomic<bool> dw_pair_skip_single{true};
  // AVX-512 64-column tiles' k loop with A rows and B panels from one base each plus
  // strides (kernels/avx512/gemm_avx512.cc).
  std::atomic<bool> gemm_lean_loop{true};
  // AVX-512 3x3 stride-1 row pairs of 14 or 7 pixels in 7-pixel groups (kernels/avx512/dwconv_avx512.cc).
  std::atomic<bool> dw_seven_groups{true};
  // A network's first conv reads an NCHW input directly instead of after a move to NHWC
  // (ops/network.cc, ops/conv.cc).
  std::atomic<bool> net_nchw_conv{true};
  // The GEMM's prefetch streams touch every line each 2 k steps instead of every other
  // line each 4 (kernels/avx512/gemm_avx512.cc).
  std::atomic<bool> gemm_stream_dense{true};
  // A column tile's rest of 17-48 columns as one lean tile of 2-3 masked panels (AVX-512).
  std::atomic<bool> gemm_lean_narrow{true};
  // Column rests of <= 8 in k pairs on all 16 lanes, not on ymm (AVX-512).
  std::atomic<bool> gemm_pair_tails{true};
  // Column tiles of 17-24 columns in k pairs on three 16-lane vectors (AVX-512).
  std::atomic<bool> gemm_pair24{true};
  std::atomic<bool> gemm_pair16{true};  // ... and of 9-16 columns on two, 12-row tiles
  // Thread pool: workers pinned one per CPU when the pool spans every CPU the caller may
  // use (runtime/thread_pool.cc); read when the workers start (set_num_threads).
  std::atomic<bool> pool_pin_workers{true};
  // AVX2 GEMM: a column tile's row tiles in one kernel call (kernels/avx2/gemm_avx2.cc).
  std::atomic<bool> gemm_avx2_rows{true};
  // ... column rests of <= 8 in 12-row x 8-column tiles, not in masked 6 x 16 ones.
  std::atomic<bool> gemm_avx2_tall8{true};
  // ... each row tile prefetches a slice of the next column tile's B panel into L2.
  std::atomic<bool> gemm_avx2_stream{true};
  // ... rows not a multiple of 6 in 6- and 5-row tiles where they fit (m = 49: 4 x 6 + 5 x 5),
  // not 6-row tiles and a short rest.
  std::atomic<bool> gemm_avx2_fives{true};
  // ... calls of <= 2 rows (a classifier, an SE block's FCs) two 16-column panels at a time:
  // 4 or 8 FMA chains and two weight streams instead of 2 or 4 chains and one.
  std::atomic<bool> gemm_avx2_gemv_pairs{true};
  // ... K <= 32: row tiles outer and column tiles inner (A stays in L1 across the columns).
  std::atomic<bool> gemm_avx2_rows_outer{true};
  // ... N % 16 == 8: the last 24 columns in 4 x 24 tiles, not a 16-column tile and a 12x8 rest.
  std::atomic<bool> gemm_avx2_wide24{true};
  // ... rows outer: a row tile's column tiles in one loop with the tile's code inlined, not
  // one call per tile (kernels/avx2/gemm_avx2.cc: rows_cols).
  std::atomic<bool> gemm_avx2_inline_cols{true};
  // ... K > 32: the 6x16 tile's k steps in pairs, A's rows from two bases plus row strides
  // (fewer instructions per FMA; kernels/avx2/gemm_avx2.cc: tile_body).
  std::atomic<bool> gemm_avx2_k_pairs{true};
  // Depthwise 5x5 stride-2 row pairs (AVX2): loads addressed as a few bases plus 0-2 channel strides
  // instead of one pointer advanced per load (kernels/dwconv_pairs.h).
  std::atomic<bool> dw_pair_offsets{true};
  // Depthwise 3x3 row pairs (AVX2): a pixel group's whole channel blocks in one kernel
  // call, not one call per block (kernels/dwconv_pairs.h: pair_blocks).
  std::atomic<bool> dw_pair_block_loop{true};
  // Depthwise 5x5 row pairs (AVX2): FMAs grouped by kernel row (both output rows' input
  // rows with the same K weights) instead of by input row (kernels/dwconv_pairs.h).
  std::atomic<bool> dw_pair_kernel_rows{true};
  // ... and a row's interior groups (whole blocks only) in one call, the block loop inlined
  // into the group loop, not one call per group (kernels/dwconv_pairs.h: pair_row_blocks).
  std::atomic<bool> dw_pair_row_inline{true};
  // ... and those blocks by kernel row, every address a stepped pointer plus a scaled index
  // register (kernels/dwconv_pairs.h: tight_blocks).
  std::atomic<bool> dw_pair_tight{true};
  // Depthwise on AVX2 with C % 1024 == 0, stride 1: rows through copies with 16 more channels
  // per pixel (ops/dwconv.cc: dwconv_rows_staged), so a channel block's pixels do not share
  // one L1 set.
  std::atomic<bool> dw_stage_aliased{true};
};

Tuning& tuning();
// Sets a switch by name ("gemm_ymm_tails", "gemm_k_chunks", "dw_padded_rows"); throws std::invalid_argument for an unknown name.
void set_tuning(const std::string& name, bool on);
bool get_tuning(const std::string& name);

}  // namespace mk
