#include "tuning.h"

#include <stdexcept>

namespace mk {

Tuning& tuning() {
  static Tuning t;
  return t;
}

namespace {
struct Switch {
  const char* name;
  std::atomic<bool> Tuning::*member;
};
const Switch kSwitches[] = {
    {"gemm_ymm_tails", &Tuning::gemm_ymm_tails},
    {"gemm_k_chunks", &Tuning::gemm_k_chunks},
    {"dw_padded_rows", &Tuning::dw_padded_rows},
    {"dw_edge_groups", &Tuning::dw_edge_groups},
    {"gemm_even_blocks", &Tuning::gemm_even_blocks},
    {"gemm_wide_tiles", &Tuning::gemm_wide_tiles},
    {"pool_split_ends", &Tuning::pool_split_ends},
    {"gemm_row_split", &Tuning::gemm_row_split},
    {"dw_row_pairs", &Tuning::dw_row_pairs},
    {"dw_row_pairs_s2", &Tuning::dw_row_pairs_s2},
    {"dw_row_pairs_avx2", &Tuning::dw_row_pairs_avx2},
    {"gemm_split_rows_cols", &Tuning::gemm_split_rows_cols},
    {"gemm_exact_split", &Tuning::gemm_exact_split},
    {"gemm_nested_serial", &Tuning::gemm_nested_serial},
    {"gemm_stream_next", &Tuning::gemm_stream_next},
    {"gemm_stream_hint", &Tuning::gemm_stream_hint},
    {"ir_stream_se", &Tuning::ir_stream_se},
    {"ir_se_fold", &Tuning::ir_se_fold},
    {"ir_uneven_by_op", &Tuning::ir_uneven_by_op},
    {"ir_uneven_s2_bands", &Tuning::ir_uneven_s2_bands},
    {"ir_next_dw", &Tuning::ir_next_dw},
    {"gemm_row_loop", &Tuning::gemm_row_loop},
    {"gemm_tall_narrow", &Tuning::gemm_tall_narrow},
    {"gemm_tall_ymm", &Tuning::gemm_tall_ymm},
    {"gemm_split_tails", &Tuning::gemm_split_tails},
    {"conv_stem_kernel", &Tuning::conv_stem_kernel},
    {"net_fuse", &Tuning::net_fuse},
    {"net_pair_expand", &Tuning::net_pair_expand},
    {"pool_pixel_split", &Tuning::pool_pixel_split},
    {"dw_pair_chunks", &Tuning::dw_pair_chunks},
    {"gemm_lean_loop", &Tuning::gemm_lean_loop},
    {"gemm_lean_narrow", &Tuning::gemm_lean_narrow},
    {"gemm_pair_tails", &Tuning::gemm_pair_tails},
    {"gemm_pair24", &Tuning::gemm_pair24},
    {"gemm_pair16", &Tuning::gemm_pair16},
    {"pool_pin_workers", &Tuning::pool_pin_workers},
    {"gemm_avx2_rows", &Tuning::gemm_avx2_rows},
    {"gemm_avx2_tall8", &Tuning::gemm_avx2_tall8},
    {"gemm_avx2_stream", &Tuning::gemm_avx2_stream},
    {"gemm_avx2_fives", &Tuning::gemm_avx2_fives},
    {"gemm_avx2_gemv_pairs", &Tuning::gemm_avx2_gemv_pairs},
    {"gemm_avx2_rows_outer", &Tuning::gemm_avx2_rows_outer},
    {"gemm_avx2_wide24", &Tuning::gemm_avx2_wide24},
    {"gemm_avx2_inline_cols", &Tuning::gemm_avx2_inline_cols},
    {"gemm_avx2_k_pairs", &Tuning::gemm_avx2_k_pairs},
    {"ir_se_band_sums", &Tuning::ir_se_band_sums},
    {"ir_band_pairs", &Tuning::ir_band_pairs},
    {"ir_window_clip", &Tuning::ir_window_clip},
    {"ir_shared_expand", &Tuning::ir_shared_expand},
    {"ir_shared_halo_bands", &Tuning::ir_shared_halo_bands},
    {"ir_ring_window", &Tuning::ir_ring_window},
    {"dw_pair_offsets", &Tuning::dw_pair_offsets},
    {"dw_pair_block_loop", &Tuning::dw_pair_block_loop},
    {"dw_pair_kernel_rows", &Tuning::dw_pair_kernel_rows},
    {"dw_pair_row_inline", &Tuning::dw_pair_row_inline},
    {"dw_pair_tight", &Tuning::dw_pair_tight},
    {"dw_stage_aliased", &Tuning::dw_stage_aliased},
    {"dw_seven_groups", &Tuning::dw_seven_groups},
    {"net_nchw_conv", &Tuning::net_nchw_conv},
    {"gemm_stream_dense", &Tuning::gemm_stream_dense},
    {"gemm_balance_cols", &Tuning::gemm_balance_cols},
    {"dw_pair_skip_single", &Tuning::dw_pair_skip_single},
};

std::atomic<bool>& find(const std::string& name) {
  std::string known;
  for (const Switch& s : kSwitches) {
    if (name == s.name) return tuning().*s.member;
    known += known.empty() ? s.name : std::string(", ") + s.name;
  }
  throw std::invalid_argument("unknown tuning switch '" + name + "' (known: " + known + ")");
}
}  // namespace

void set_tuning(const std::string& name, bool on) { find(name).store(on); }
bool get_tuning(const std::string& name) { return find(name).load(); }

}  // namespace mk
