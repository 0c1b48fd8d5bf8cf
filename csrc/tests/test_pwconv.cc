// GEMM tiles vs a double-precision reference, every ISA, tails in m (rows % 6) and n
// (columns % 64, % 32, % 16 and % 8), 64- and 32-column tiles, K chunks, every activation, with and without the residual.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "../ops/pwconv.h"
#include "../runtime/thread_pool.h"
#include "../runtime/tuning.h"
#include "harness.h"
#include "reference.h"

namespace {

// One random case checked on every ISA, both B layouts.
// after: a buffer named as the caller's next GEMM (GemmParams::stream_after), or null.
void check_case(std::mt19937& rng, int64_t m, int64_t n, int64_t k, int act, bool with_residual,
                const std::vector<float>* after = nullptr) {
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  std::vector<float> x(m * k), packed((k + 1) * n), res(with_residual ? m * n : 0);
  for (float& v : x) v = val(rng) * 2;
  for (float& v : packed) v = val(rng) * 3 / std::sqrt(float(k));
  for (float& v : res) v = val(rng);
  std::vector<double> ref(m * n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = packed[k * n + j];
      for (int64_t kk = 0; kk < k; ++kk) acc += double(x[i * k + kk]) * packed[kk * n + j];
      ref[i * n + j] = mktest::ref_activation(acc, static_cast<mk::Activation>(act)) +
                       (with_residual ? res[i * n + j] : 0.0);
    }
  // The same weights in the 16-column panel layout (zero-padded tail panel).
  std::vector<float> panels(mk::gemm_panels_size(k, n), std::numeric_limits<float>::quiet_NaN());
  mk::pack_gemm_panels(packed.data(), k, n, panels.data());
  for (mk::Isa isa : mktest::isas()) {
    for (bool use_panels : {false, true}) {
      std::vector<float> y(m * n, std::numeric_limits<float>::quiet_NaN());
      mk::PwconvArgs a{x.data(), use_panels ? panels.data() : packed.data(), with_residual ? res.data() : nullptr,
                       y.data(), m, mk::GemmParams{k, n, static_cast<mk::Activation>(act), use_panels}};
      if (after) {
        a.p.stream_after = reinterpret_cast<const char*>(after->data());
        a.p.stream_after_bytes = static_cast<int64_t>(after->size() * sizeof(float));
      }
      mk::pwconv_bn_act(a, isa);
      const double err = mktest::rel_error(y, ref);
      CHECK_MSG(err <= 1e-5, "isa=%s panels=%d act=%d m=%lld n=%lld k=%lld residual=%d: rel err %g",
                mk::isa_name(isa), int(use_panels), act, (long long)m, (long long)n, (long long)k,
                int(with_residual), err);
    }
  }
}

}  // namespace

TEST_CASE("pwconv: every ISA matches the float64 reference on random cases") {
  std::mt19937 rng(99);
  const int64_t ms[] = {1, 5, 6, 7, 13, 49, 100};
  const int64_t ns[] = {1, 7, 8, 9, 16, 17, 24, 31, 32, 33, 40, 48, 63, 64, 65, 100, 144};
  const int64_t ks[] = {1, 3, 8, 16, 33, 96};
  int cases = 0;
  for (int act = 0; act < mk::kNumActivations; ++act) {
    for (int rep = 0; rep < 8; ++rep) {
      check_case(rng, ms[rng() % 7], ns[rng() % 17], ks[rng() % 6], act, rep % 2 == 1);
      ++cases;
    }
  }
  CHECK(cases == mk::kNumActivations * 8);
}

// K past one AVX-512 K chunk (256), with the driver's K chunks on and off: with chunks,
// partial sums go through Y and the epilogue (activation, residual) runs once, after the
// last chunk; 64- and 32-column tiles (gemm_wide_tiles on and off) with one- to
// three-panel tails; a column tile's row tiles in one kernel call or one call each
// (gemm_row_loop).
TEST_CASE("pwconv: K chunks and 64/32-column tiles match the reference") {
  std::mt19937 rng(7);
  const bool saved = mk::get_tuning("gemm_k_chunks"), saved_wide = mk::get_tuning("gemm_wide_tiles");
  const bool saved_loop = mk::get_tuning("gemm_row_loop");
  for (int mode = 0; mode < 3; ++mode) {
    const bool wide = mode > 0;
    mk::set_tuning("gemm_wide_tiles", wide);
    mk::set_tuning("gemm_row_loop", mode == 2);
    for (bool chunks : {false, true}) {
      mk::set_tuning("gemm_k_chunks", chunks);
      for (int64_t k : {255, 256, 257, 520}) {
        for (int64_t n : {16, 32, 47, 64, 88, 128}) {
          check_case(rng, 17, n, k, static_cast<int>(mk::Activation::kHardswish), true);
          check_case(rng, 7, n, k, static_cast<int>(mk::Activation::kRelu6), false);
        }
      }
    }
  }
  mk::set_tuning("gemm_k_chunks", saved);
  mk::set_tuning("gemm_wide_tiles", saved_wide);
  mk::set_tuning("gemm_row_loop", saved_loop);
}

// The AVX-512 row loop's 12-row tiles for column tiles of <= 16 columns (gemm_tall_narrow,
// gemm_tall_ymm for <= 8; 33-48-column tails split as 32 + the rest, gemm_split_tails), the
// AVX2 row loop, its 12 x 8 tiles for rests of <= 8, its next-panel prefetch and its 5-row
// tiles (gemm_avx2_rows, gemm_avx2_tall8, gemm_avx2_stream, gemm_avx2_fives) and its
// row-outer loop for K <= 32 (gemm_avx2_rows_outer, its tiles inlined: gemm_avx2_inline_cols)
// and 4 x 24 tiles (gemm_avx2_wide24) on and off:
// 12-row tiles then 6-row and partial ones, 6- and 5-row tiles (m = 10, 23, 29, 49), full
// and masked columns, K chunks (partial sums through Y) and K = 1.
TEST_CASE("pwconv: 12-row narrow tiles match the reference") {
  std::mt19937 rng(17);
  const bool saved = mk::get_tuning("gemm_tall_narrow"), saved_chunks = mk::get_tuning("gemm_k_chunks");
  const bool saved_ymm = mk::get_tuning("gemm_tall_ymm"), saved_split = mk::get_tuning("gemm_split_tails");
  const bool saved_rows2 = mk::get_tuning("gemm_avx2_rows"), saved_tall8 = mk::get_tuning("gemm_avx2_tall8");
  const bool saved_stream2 = mk::get_tuning("gemm_avx2_stream"), saved_fives = mk::get_tuning("gemm_avx2_fives");
  const bool saved_outer = mk::get_tuning("gemm_avx2_rows_outer"), saved_wide = mk::get_tuning("gemm_avx2_wide24");
  const bool saved_inline = mk::get_tuning("gemm_avx2_inline_cols");
  for (int mode = 0; mode < 3; ++mode) {
    mk::set_tuning("gemm_avx2_inline_cols", mode == 1);
    mk::set_tuning("gemm_avx2_wide24", mode > 0);
    mk::set_tuning("gemm_avx2_fives", mode > 0);
    mk::set_tuning("gemm_avx2_rows_outer", mode > 0);
    mk::set_tuning("gemm_tall_narrow", mode > 0);
    mk::set_tuning("gemm_tall_ymm", mode > 0);
    mk::set_tuning("gemm_split_tails", mode > 0);
    mk::set_tuning("gemm_avx2_rows", mode > 0);
    mk::set_tuning("gemm_avx2_tall8", mode > 0);
    mk::set_tuning("gemm_avx2_stream", mode == 1);
    mk::set_tuning("gemm_k_chunks", mode == 2);
    for (int64_t m : {10, 12, 13, 23, 29, 49}) {
      for (int64_t n : {5, 8, 9, 16, 24, 40, 48, 72, 80, 112, 144, 200}) {
        check_case(rng, m, n, mode == 2 ? 300 : 1 + int64_t(rng() % 40), static_cast<int>(mk::Activation::kRelu6),
                   n % 2 == 0);
      }
    }
  }
  mk::set_tuning("gemm_tall_narrow", saved);
  mk::set_tuning("gemm_avx2_rows", saved_rows2);
  mk::set_tuning("gemm_avx2_tall8", saved_tall8);
  mk::set_tuning("gemm_avx2_stream", saved_stream2);
  mk::set_tuning("gemm_avx2_fives", saved_fives);
  mk::set_tuning("gemm_avx2_rows_outer", saved_outer);
  mk::set_tuning("gemm_avx2_wide24", saved_wide);
  mk::set_tuning("gemm_avx2_inline_cols", saved_inline);
  mk::set_tuning("gemm_tall_ymm", saved_ymm);
  mk::set_tuning("gemm_split_tails", saved_split);
  mk::set_tuning("gemm_k_chunks", saved_chunks);
}

// GEMVs and 2-row calls (a classifier, an SE block's FCs) with the AVX2 path's two column
// tiles at a time (gemm_avx2_gemv_pairs) on and off, at 1 and 2 threads (column groups of
// odd tile counts leave a lone tile): whole pairs, a lone last tile, masked rests, residuals.
TEST_CASE("pwconv: GEMV tile pairs match the reference") {
  std::mt19937 rng(37);
  const bool saved = mk::get_tuning("gemm_avx2_gemv_pairs");
  const int64_t saved_threads = mk::ThreadPool::instance().num_threads();
  for (int64_t threads : {1, 2}) {
    mk::ThreadPool::instance().set_num_threads(threads);
    for (int on = 0; on < 2; ++on) {
      mk::set_tuning("gemm_avx2_gemv_pairs", on == 1);
      for (int64_t m : {1, 2}) {
        for (int64_t n : {16, 32, 33, 48, 64, 100, 240, 1000}) {
          check_case(rng, m, n, 1 + int64_t(rng() % 300), int(rng() % mk::kNumActivations), n % 3 == 0);
        }
      }
    }
  }
  mk::ThreadPool::instance().set_num_threads(saved_threads);
  mk::set_tuning("gemm_avx2_gemv_pairs", saved);
}

// Column-tile rests of 17-63 columns as one lean tile of 2-3 panels, the last masked
// (gemm_lean_narrow; rests of <= 8 past whole panels on ymm tiles or not, gemm_ymm_tails),
// on and off: every rest width, rows in whole and partial tiles, residuals, a prefetch hint
// (the streaming variant), K chunks (partial sums loaded from Y) and K = 1.
TEST_CASE("pwconv: lean narrow tiles for column rests match the reference") {
  std::mt19937 rng(23);
  const bool saved = mk::get_tuning("gemm_lean_narrow"), saved_ymm = mk::get_tuning("gemm_ymm_tails");
  const bool saved_chunks = mk::get_tuning("gemm_k_chunks");
  const std::vector<float> hint(5000, 1.0f);
  for (int mode = 0; mode < 4; ++mode) {
    mk::set_tuning("gemm_lean_narrow", mode > 0);
    mk::set_tuning("gemm_ymm_tails", mode != 2);
    mk::set_tuning("gemm_k_chunks", mode == 3);
    for (int64_t n : {17, 24, 25, 31, 32, 33, 40, 41, 47, 48, 49, 56, 57, 63, 96, 120, 184, 240}) {
      const int64_t m = n % 3 == 0 ? 49 : (n % 3 == 1 ? 6 : 13);
      const int64_t k = mode == 3 ? 300 : (n == 17 ? 1 : 1 + int64_t(rng() % 40));
      const int act = static_cast<int>(n % 2 ? mk::Activation::kRelu6 : mk::Activation::kHardswish);
      check_case(rng, m, n, k, act, n % 4 == 0, n % 5 == 0 ? &hint : nullptr);
    }
  }
  mk::set_tuning("gemm_lean_narrow", saved);
  mk::set_tuning("gemm_ymm_tails", saved_ymm);
  mk::set_tuning("gemm_k_chunks", saved_chunks);
}

// Column rests of <= 8 summed in k pairs (gemm_pair_tails), on and off: every rest width
// alone and after whole panels, odd and even K (K = 1: only the odd step), 12-row tiles
// and single rows, residuals; and with the pairs on, the same bits from both B layouts and
// from the rows split over several calls (a network's fused run and its per-op drivers
// must agree bit for bit).
// The same for column tiles of 17-24 and 9-16 (gemm_pair24, gemm_pair16: 8- and 12-row
// tiles; N = 24, 16, and the rests of N = 88 and 144).
TEST_CASE("pwconv: k-pair column rests match the reference and give the same bits however called") {
  std::mt19937 rng(29);
  const bool saved = mk::get_tuning("gemm_pair_tails"), saved24 = mk::get_tuning("gemm_pair24");
  const bool saved16 = mk::get_tuning("gemm_pair16");
  for (int on = 0; on < 8; ++on) {
    mk::set_tuning("gemm_pair_tails", on % 2 == 1);
    mk::set_tuning("gemm_pair24", on / 2 % 2 == 1);
    mk::set_tuning("gemm_pair16", on / 4 == 1);
    for (int64_t n : {1, 3, 7, 8, 9, 13, 16, 17, 21, 24, 40, 72, 88, 120, 144, 200}) {
      for (int64_t k : {1, 2, 5, 24, 33}) {
        const int64_t m = 12 * (k % 3) + (n % 12);
        check_case(rng, m == 0 ? 1 : m, n, k, static_cast<int>(k % 2 ? mk::Activation::kRelu6 : mk::Activation::kHardswish),
                   n % 2 == 0);
      }
    }
  }
  mk::set_tuning("gemm_pair_tails", true);
  mk::set_tuning("gemm_pair24", true);
  mk::set_tuning("gemm_pair16", true);
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  // Every shape of column rest: pairs alone (8, 13, 16, 21, 24), after 32 or 48
  // sequential columns (40, 56), none (44, 60), and the same behind 64-column tiles.
  for (int64_t n : {8, 13, 16, 21, 24, 40, 44, 56, 60, 72, 77, 88, 104, 108, 120, 124, 144}) {
    const int64_t m = 29, k = 37;
    std::vector<float> x(m * k), packed((k + 1) * n), res(m * n);
    for (float& v : x) v = val(rng);
    for (float& v : packed) v = val(rng);
    for (float& v : res) v = val(rng);
    std::vector<float> panels(mk::gemm_panels_size(k, n));
    mk::pack_gemm_panels(packed.data(), k, n, panels.data());
    const mk::Isa isa = mk::best_isa();
    std::vector<float> whole(m * n), laid(m * n), split(m * n, std::numeric_limits<float>::quiet_NaN());
    mk::pwconv_bn_act(mk::PwconvArgs{x.data(), packed.data(), res.data(), whole.data(), m,
                                     mk::GemmParams{k, n, mk::Activation::kRelu}},
                      isa);
    mk::pwconv_bn_act(mk::PwconvArgs{x.data(), panels.data(), res.data(), laid.data(), m,
                                     mk::GemmParams{k, n, mk::Activation::kRelu, true}},
                      isa);
    for (int64_t i0 = 0; i0 < m;) {  // rows in calls of 13, 1, 13, 1, ...
      const int64_t rows = std::min<int64_t>(m - i0, i0 % 2 ? 1 : 13);
      mk::pwconv_bn_act(mk::PwconvArgs{x.data() + i0 * k, panels.data(), res.data() + i0 * n, split.data() + i0 * n,
                                       rows, mk::GemmParams{k, n, mk::Activation::kRelu, true}},
                        isa);
      i0 += rows;
    }
    CHECK_MSG(std::memcmp(whole.data(), laid.data(), whole.size() * sizeof(float)) == 0,
              "n=%lld: the panel layout gave other bits", (long long)n);
    CHECK_MSG(std::memcmp(whole.data(), split.data(), whole.size() * sizeof(float)) == 0,
              "n=%lld: rows split over calls gave other bits", (long long)n);
  }
  mk::set_tuning("gemm_pair_tails", saved);
  mk::set_tuning("gemm_pair24", saved24);
  mk::set_tuning("gemm_pair16", saved16);
}

// The AVX-512 row loop prefetching the next column tile's B (gemm_stream_next) and the
// caller's next GEMM (gemm_stream_hint, GemmParams::stream_after) on and off: prefetches
// change no result; row tiles 1 to 9, one to four panels in the next tile, hints of a
// few bytes to more than a tile's share; sparse and dense streams (gemm_stream_dense), the
// latter with the lean k loop (gemm_lean_loop) or without.
// A column's bits do not depend on the tile that computes it: the AVX2 12 x 8 tile and the
// masked 6 x 16 one run the same FMAs in the same order (a network's bands and the per-op
// drivers split rows differently).
// Row and column tilings that must not change a result's bits (each row sums its k in the
// same order in any tile): the AVX2 12x8 tiles for column rests of <= 8 (gemm_avx2_tall8),
// the 5-row tiles for rows not a multiple of 6 (gemm_avx2_fives), two column tiles at a
// time for calls of <= 2 rows (gemm_avx2_gemv_pairs), row tiles outer for K <= 32
// (gemm_avx2_rows_outer), 4 x 24 tiles for the last 24 columns where N % 16 == 8
// (gemm_avx2_wide24), that loop's tiles inlined (gemm_avx2_inline_cols) and the 6x16 tile's k
// steps in pairs (gemm_avx2_k_pairs), each on against off.
TEST_CASE("pwconv: AVX2 12x8 rest tiles, 5-row tiles, GEMV tile pairs, row-outer short-K loops (tiles inlined or called), 4x24 tiles and paired k steps give the 6x16 tiles' bits") {
  if (!mk::cpu_has_avx2_fma()) return;
  std::mt19937 rng(29);
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  struct Split {
    const char* name;
    std::vector<int64_t> ns, ms;
    int64_t k_max;
    int64_t k_min = 1;
  };
  const Split splits[] = {{"gemm_avx2_tall8", {3, 8, 24, 40, 200}, {11, 12, 29}, 50},
                          {"gemm_avx2_fives", {16, 24, 48, 200}, {5, 10, 23, 49, 100}, 50},
                          {"gemm_avx2_gemv_pairs", {16, 32, 40, 48, 200, 240}, {1, 2, 3}, 50},
                          {"gemm_avx2_rows_outer", {8, 16, 24, 40, 72, 144}, {3, 10, 23, 49, 100}, 32},
                          {"gemm_avx2_wide24", {24, 40, 72, 200}, {1, 3, 4, 7, 13, 49, 100}, 60},
                          {"gemm_avx2_inline_cols", {16, 32, 40, 96, 144}, {3, 10, 23, 49, 100}, 32},
                          {"gemm_avx2_k_pairs", {8, 16, 24, 40, 200}, {1, 5, 6, 11, 49, 100}, 80, 33}};  // K > 32 only
  for (const Split& split : splits) {
    const bool saved = mk::get_tuning(split.name);
    for (int64_t n : split.ns) {
      for (int64_t m : split.ms) {
        const int64_t k = split.k_min + int64_t(rng() % (split.k_max - split.k_min + 1));
        std::vector<float> x(m * k), packed((k + 1) * n), res(m * n), y[2];
        for (float& v : x) v = val(rng);
        for (float& v : packed) v = val(rng);
        for (float& v : res) v = val(rng);
        std::vector<float> panels(mk::gemm_panels_size(k, n));
        mk::pack_gemm_panels(packed.data(), k, n, panels.data());
        for (int on = 0; on < 2; ++on) {
          mk::set_tuning(split.name, on == 1);
          y[on].assign(m * n, std::numeric_limits<float>::quiet_NaN());
          const bool use_panels = m % 2 == 1;  // both B layouts over the cases
          mk::pwconv_bn_act(mk::PwconvArgs{x.data(), use_panels ? panels.data() : packed.data(), res.data(),
                                           y[on].data(), m,
                                           mk::GemmParams{k, n, mk::Activation::kHardswish, use_panels}},
                            mk::Isa::kAvx2);
        }
        CHECK_MSG(std::memcmp(y[0].data(), y[1].data(), y[0].size() * sizeof(float)) == 0,
                  "%s: m=%lld n=%lld k=%lld gave other bits", split.name, (long long)m, (long long)n, (long long)k);
      }
    }
    mk::set_tuning(split.name, saved);
  }
}

TEST_CASE("pwconv: weight rows scaled per k (an SE gate folded) in either layout hold the same products") {
  std::mt19937 rng(31);
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  for (int64_t k : {1, 7, 40}) {
    for (int64_t n : {3, 16, 40}) {
      std::vector<float> packed((k + 1) * n), scale(k), panels(mk::gemm_panels_size(k, n));
      for (float& v : packed) v = val(rng);
      for (float& v : scale) v = val(rng) * 2;
      mk::pack_gemm_panels(packed.data(), k, n, panels.data());
      mk::GemmParams canon{k, n, mk::Activation::kIdentity, false}, paneled = canon;
      paneled.panels = true;
      CHECK(mk::gemm_weights_size(canon) == (k + 1) * n && mk::gemm_weights_size(paneled) == int64_t(panels.size()));
      const float nan = std::numeric_limits<float>::quiet_NaN();
      std::vector<float> scaled(packed.size(), nan), scaled_panels(panels.size(), nan), repacked(panels.size());
      mk::gemm_scale_rows(canon, packed.data(), scale.data(), scaled.data());
      mk::gemm_scale_rows(paneled, panels.data(), scale.data(), scaled_panels.data());
      bool exact = true;
      for (int64_t r = 0; r <= k; ++r)
        for (int64_t j = 0; j < n; ++j) {
          const float want = r < k ? packed[r * n + j] * scale[r] : packed[r * n + j];
          exact = exact && scaled[r * n + j] == want;
        }
      mk::pack_gemm_panels(scaled.data(), k, n, repacked.data());
      // == and not memcmp: a padding column's 0 times a negative scale is -0
      const bool same = std::equal(repacked.begin(), repacked.end(), scaled_panels.begin());
      CHECK_MSG(exact && same, "k=%lld n=%lld: rows scaled %d, layouts agree %d", (long long)k, (long long)n,
                int(exact), int(same));
    }
  }
}

TEST_CASE("pwconv: B prefetch streams on and off match the reference") {
  std::mt19937 rng(13);
  const bool saved = mk::get_tuning("gemm_stream_next"), saved_hint = mk::get_tuning("gemm_stream_hint");
  const bool saved_dense = mk::get_tuning("gemm_stream_dense"), saved_lean = mk::get_tuning("gemm_lean_loop");
  const std::vector<float> small(3, 1.0f), large(100000, 1.0f);
  for (int mode = 0; mode < 5; ++mode) {
    mk::set_tuning("gemm_stream_next", mode >= 1);
    mk::set_tuning("gemm_stream_hint", mode >= 2);
    mk::set_tuning("gemm_stream_dense", mode >= 3);
    mk::set_tuning("gemm_lean_loop", mode == 3);
    for (int64_t n : {65, 80, 128, 176, 200}) {
      check_case(rng, 49, n, 300, static_cast<int>(mk::Activation::kRelu6), true, &large);
      check_case(rng, 6, n, 33, static_cast<int>(mk::Activation::kHardswish), false, &small);
      check_case(rng, 13, n, 1024, static_cast<int>(mk::Activation::kIdentity), false, n % 2 ? &large : nullptr);
    }
  }
  mk::set_tuning("gemm_stream_next", saved);
  mk::set_tuning("gemm_stream_hint", saved_hint);
  mk::set_tuning("gemm_stream_dense", saved_dense);
  mk::set_tuning("gemm_lean_loop", saved_lean);
}

// Several row blocks (m past 65536 / k rows) split over 1-3 threads, blocks evened out to a
// multiple of the thread count or not, and one block split by rows or by columns: every
// row written once, none left out.
TEST_CASE("pwconv: row blocks over several threads match the reference") {
  std::mt19937 rng(5);
  auto& pool = mk::ThreadPool::instance();
  const int saved_threads = pool.num_threads();
  const bool saved = mk::get_tuning("gemm_even_blocks"), saved_rows = mk::get_tuning("gemm_row_split");
  const bool saved_both = mk::get_tuning("gemm_split_rows_cols"), saved_exact = mk::get_tuning("gemm_exact_split");
  const bool saved_balance = mk::get_tuning("gemm_balance_cols");
  for (int mode = 0; mode < 5; ++mode) {
    mk::set_tuning("gemm_even_blocks", mode > 0);
    mk::set_tuning("gemm_row_split", mode > 0);         // a single block split by rows or by columns
    mk::set_tuning("gemm_split_rows_cols", mode >= 2);  // ... and small m split both ways
    mk::set_tuning("gemm_exact_split", mode >= 3);      // ... into exact shares (49 rows: 25 + 24)
    mk::set_tuning("gemm_balance_cols", mode == 4);     // ... judged by the column split's balance
    for (int threads : {1, 2, 3}) {
      pool.set_num_threads(threads);
      check_case(rng, 1000, 40, 256, static_cast<int>(mk::Activation::kRelu), false);
      check_case(rng, 2051, 17, 96, static_cast<int>(mk::Activation::kIdentity), true);
      check_case(rng, 200, 130, 64, static_cast<int>(mk::Activation::kRelu6), true);   // one block
      check_case(rng, 97, 64, 32, static_cast<int>(mk::Activation::kHardswish), false);  // just enough rows
      check_case(rng, 49, 160, 96, static_cast<int>(mk::Activation::kRelu), true);  // 3 column tiles, rows split
      check_case(rng, 13, 96, 40, static_cast<int>(mk::Activation::kIdentity), false);
      check_case(rng, 55, 320, 72, static_cast<int>(mk::Activation::kRelu6), true);  // 5 tiles, 19 + 18 + 18
      check_case(rng, 49, 96, 576, static_cast<int>(mk::Activation::kHardswish), true);  // 9 tiles in 3 groups
      check_case(rng, 49, 576, 96, static_cast<int>(mk::Activation::kIdentity), true);   // a 64 and a 32 tile
      check_case(rng, 25, 64, 1024, static_cast<int>(mk::Activation::kRelu), true);      // 16 tiles, balanced
    }
  }
  mk::set_tuning("gemm_balance_cols", saved_balance);
  mk::set_tuning("gemm_even_blocks", saved);
  mk::set_tuning("gemm_row_split", saved_rows);
  mk::set_tuning("gemm_split_rows_cols", saved_both);
  mk::set_tuning("gemm_exact_split", saved_exact);
  pool.set_num_threads(saved_threads);
}

// A GEMM issued from inside a pool task runs inline (a block's band calls its project this
// way): split as for one thread (gemm_nested_serial) or as for the pool's, the same result.
TEST_CASE("pwconv: called inside a pool task matches the reference") {
  auto& pool = mk::ThreadPool::instance();
  const int saved_threads = pool.num_threads();
  const bool saved = mk::get_tuning("gemm_nested_serial");
  for (bool serial : {false, true}) {
    mk::set_tuning("gemm_nested_serial", serial);
    for (int threads : {2, 3}) {
      pool.set_num_threads(threads);
      int ran = 0;
      pool.parallel_for(threads, [&](int64_t begin, int64_t) {
        if (begin != 0) return;  // one task checks (the rng is not shared); the others only idle
        std::mt19937 rng(11);
        CHECK(pool.threads_here() == 1);
        check_case(rng, 98, 96, 64, static_cast<int>(mk::Activation::kRelu6), true);  // one block, row split
        check_case(rng, 49, 160, 96, static_cast<int>(mk::Activation::kRelu), false);  // uneven column tiles
        check_case(rng, 2051, 17, 96, static_cast<int>(mk::Activation::kIdentity), true);  // several blocks
        ++ran;
      });
      CHECK(ran == 1);
    }
  }
  CHECK(pool.threads_here() == pool.num_threads());
  mk::set_tuning("gemm_nested_serial", saved);
  pool.set_num_threads(saved_threads);
}

TEST_CASE("pwconv: rejects bad sizes and activations") {
  float buf[16] = {};
  mk::PwconvArgs a{buf, buf, nullptr, buf, 0, mk::GemmParams{1, 1, mk::Activation::kRelu}};
  bool threw = false;
  try {
    mk::pwconv_bn_act(a, mk::Isa::kScalar);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK_MSG(threw, "m = 0 accepted");
  a.m = 1;
  a.p.act = static_cast<mk::Activation>(-1);
  threw = false;
  try {
    mk::pwconv_bn_act(a, mk::Isa::kScalar);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK_MSG(threw, "bad activation accepted");
}
