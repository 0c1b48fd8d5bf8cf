#include "tuning.h"

#include <stdexcept>

namespace mk {

Tuning& tuning() {
  static Tuning t;
  return t;
}

namespace {
std::atomic<bool>& find(const std::string& name) {
  if (name == "gemm_ymm_tails") return tuning().gemm_ymm_tails;
  if (name == "gemm_k_chunks") return tuning().gemm_k_chunks;
  if (name == "dw_padded_rows") return tuning().dw_padded_rows;
  if (name == "dw_edge_groups") return tuning().dw_edge_groups;
  if (name == "gemm_even_blocks") return tuning().gemm_even_blocks;
  if (name == "gemm_wide_tiles") return tuning().gemm_wide_tiles;
  if (name == "pool_split_ends") return tuning().pool_split_ends;
  if (name == "gemm_row_split") return tuning().gemm_row_split;
  if (name == "dw_row_pairs") return tuning().dw_row_pairs;
  if (name == "dw_row_pairs_s2") return tuning().dw_row_pairs_s2;
  if (name == "gemm_split_rows_cols") return tuning().gemm_split_rows_cols;
  throw std::invalid_argument("unknown tuning switch '" + name +
                              "' (known: gemm_ymm_tails, gemm_k_chunks, dw_padded_rows, dw_edge_groups, gemm_even_blocks, gemm_wide_tiles, pool_split_ends, gemm_row_split, dw_row_pairs, dw_row_pairs_s2, gemm_split_rows_cols)");
}
}  // namespace

void set_tuning(const std::string& name, bool on) { find(name).store(on); }
bool get_tuning(const std::string& name) { return find(name).load(); }

}  // namespace mk
