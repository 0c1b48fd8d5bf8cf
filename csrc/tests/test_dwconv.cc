// Depthwise microkernels vs a plain double-precision reference, then SIMD vs scalar,
// over random shapes (channel tails, 1x1 images, strides, dilation, asymmetric padding).
// Outputs are NaN-poisoned so an unwritten element fails.
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "../ops/dwconv.h"
#include "../runtime/cpu_features.h"
#include "../runtime/thread_pool.h"
#include "../runtime/tuning.h"
#include "harness.h"
#include "reference.h"

namespace {

struct Case {
  int64_t n, h, w, c;
  int k, stride, dilation, pad_t, pad_l, pad_b, pad_r;
  mk::Activation act;
};

std::vector<double> reference(const Case& cs, const std::vector<float>& x, const std::vector<float>& packed,
                              int64_t ho, int64_t wo) {
  std::vector<double> y(cs.n * ho * wo * cs.c);
  for (int64_t b = 0; b < cs.n; ++b)
    for (int64_t oy = 0; oy < ho; ++oy)
      for (int64_t ox = 0; ox < wo; ++ox)
        for (int64_t ch = 0; ch < cs.c; ++ch) {
          double acc = packed[cs.k * cs.k * cs.c + ch];
          for (int ky = 0; ky < cs.k; ++ky)
            for (int kx = 0; kx < cs.k; ++kx) {
              const int64_t iy = oy * cs.stride - cs.pad_t + ky * cs.dilation;
              const int64_t ix = ox * cs.stride - cs.pad_l + kx * cs.dilation;
              if (iy < 0 || iy >= cs.h || ix < 0 || ix >= cs.w) continue;
              acc += double(x[((b * cs.h + iy) * cs.w + ix) * cs.c + ch]) *
                     double(packed[(ky * cs.k + kx) * cs.c + ch]);
            }
          y[((b * ho + oy) * wo + ox) * cs.c + ch] = mktest::ref_activation(acc, cs.act);
        }
  return y;
}

std::vector<float> run(const Case& cs, const std::vector<float>& x, const std::vector<float>& packed,
                       int64_t ho, int64_t wo, mk::Isa isa) {
  // 64 guard elements past the end: a kernel writing past the last row fails the check below.
  const int64_t size = cs.n * ho * wo * cs.c;
  std::vector<float> y(size + 64, std::numeric_limits<float>::quiet_NaN());
  for (int64_t i = size; i < size + 64; ++i) y[i] = 1234.5f;
  mk::DwconvArgs a;
  a.x = x.data();
  a.packed = packed.data();
  a.y = y.data();
  a.batch = cs.n;
  a.p = mk::DwconvParams{cs.h, cs.w, cs.c, ho, wo, cs.k, cs.k, cs.stride, cs.stride,
                         cs.pad_t, cs.pad_l, cs.dilation, cs.dilation, cs.act};
  mk::dwconv_bn_act(a, isa);
  for (int64_t i = size; i < size + 64; ++i) {
    if (y[i] != 1234.5f) throw std::runtime_error("dwconv wrote past the end of y");
  }
  y.resize(size);
  return y;
}

// Random input and weights for `cs`, every ISA's output against the float64 reference:
// the largest relative error and the ISA that had it.
struct Worst {
  double err = 0;
  mk::Isa isa = mk::Isa::kScalar;
};

Worst check_isas(const Case& cs, std::mt19937& rng) {
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  const int64_t ho = mk::conv_out_size(cs.h, cs.k, cs.stride, cs.pad_t, cs.pad_b, cs.dilation, "h");
  const int64_t wo = mk::conv_out_size(cs.w, cs.k, cs.stride, cs.pad_l, cs.pad_r, cs.dilation, "w");
  std::vector<float> x(cs.n * cs.h * cs.w * cs.c), packed((cs.k * cs.k + 1) * cs.c);
  for (float& v : x) v = val(rng);
  for (float& v : packed) v = val(rng);
  const std::vector<double> ref = reference(cs, x, packed, ho, wo);
  Worst worst;
  for (mk::Isa isa : mktest::isas()) {
    const double err = mktest::rel_error(run(cs, x, packed, ho, wo, isa), ref);
    if (!(err <= worst.err)) worst = Worst{err, isa};  // NaN counts as worst
  }
  return worst;
}

}  // namespace

TEST_CASE("dwconv: every ISA matches the float64 reference on random cases") {
  std::mt19937 rng(1234);
  const int channel_counts[] = {1, 3, 7, 8, 9, 16, 17, 24, 31, 33, 40, 48, 64, 80, 97};  // 64+: 4-block edge groups
  int cases = 0;
  for (int k : {3, 5}) {
    for (int stride : {1, 2}) {
      for (int act = 0; act < mk::kNumActivations; ++act) {
        for (int rep = 0; rep < 6; ++rep) {
          Case cs;
          cs.n = 1 + rng() % 2;
          cs.h = 1 + rng() % 12;
          cs.w = 1 + rng() % 30;
          cs.c = channel_counts[rng() % 15];
          cs.k = k;
          cs.stride = stride;
          cs.dilation = (rep == 5) ? 2 : 1;
          const int half = cs.dilation * (k - 1) / 2;
          cs.pad_t = rep == 4 ? 0 : half;
          cs.pad_l = rep == 4 ? half * 2 : half;
          cs.pad_b = rep == 4 ? half * 2 : half;
          cs.pad_r = rep == 4 ? 0 : half;
          cs.act = static_cast<mk::Activation>(act);
          const Worst worst = check_isas(cs, rng);
          CHECK_MSG(worst.err <= 1e-5, "isa=%s k=%d s=%d act=%d n=%lld h=%lld w=%lld c=%lld: rel err %g",
                    mk::isa_name(worst.isa), k, stride, act, (long long)cs.n, (long long)cs.h, (long long)cs.w,
                    (long long)cs.c, worst.err);
          ++cases;
        }
      }
    }
  }
  CHECK(cases == 2 * 2 * mk::kNumActivations * 6);
}

TEST_CASE("dwconv: long rows (130-260 pixels) match the float64 reference") {
  // Rows of 100-130 KiB (130-260 pixels): many sliding groups per row, the shifted last
  // group, channel tails and asymmetric padding on long rows.
  std::mt19937 rng(99);
  const Case cases[] = {
      {1, 9, 130, 200, 3, 1, 1, 1, 1, 1, 1, mk::Activation::kRelu6},
      {2, 11, 131, 197, 5, 2, 1, 2, 2, 2, 2, mk::Activation::kHardswish},
      {1, 8, 260, 113, 5, 1, 1, 2, 2, 2, 2, mk::Activation::kIdentity},
      {1, 7, 129, 256, 3, 1, 1, 1, 0, 1, 2, mk::Activation::kRelu},
  };
  for (const Case& cs : cases) {
    const Worst worst = check_isas(cs, rng);
    CHECK_MSG(worst.err <= 1e-5, "isa=%s k=%d s=%d w=%lld c=%lld: rel err %g", mk::isa_name(worst.isa), cs.k,
              cs.stride, (long long)cs.w, (long long)cs.c, worst.err);
  }
}

TEST_CASE("dwconv: rejects inconsistent sizes instead of touching memory") {
  float buf[64] = {};
  mk::DwconvArgs a;
  a.x = buf;
  a.packed = buf;
  a.y = buf;
  a.batch = 1;
  a.p = mk::DwconvParams{2, 2, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, mk::Activation::kRelu};
  a.p.act = static_cast<mk::Activation>(42);
  bool threw = false;
  try {
    mk::dwconv_bn_act(a, mk::Isa::kScalar);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK_MSG(threw, "unknown activation accepted");
  threw = false;
  try {
    mk::conv_out_size(2, 5, 1, 0, 0, 1, "height");
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK_MSG(threw, "kernel larger than the padded input accepted");
}

TEST_CASE("dwconv: rows of 1-60 pixels match the reference with padded groups on and off") {
  // Narrow rows (<= 16 output pixels) run in 8-pixel groups with the padding inside them
  // and wider ones with a padded group at each end (tuning dw_padded_rows, dw_edge_groups):
  // every width around the group size, short rows (< 8 pixels), the first widths with edge
  // groups, channel tails (and C = 512, excluded from some paths), one-sided and
  // wider-than-kernel padding, both strides.
  std::mt19937 rng(7);
  const bool saved_rows = mk::get_tuning("dw_padded_rows"), saved_edges = mk::get_tuning("dw_edge_groups");
  const int channel_counts[] = {5, 16, 33, 64, 100, 512};
  int cases = 0;
  for (bool padded : {true, false}) {
    mk::set_tuning("dw_padded_rows", padded);
    mk::set_tuning("dw_edge_groups", padded);
    for (int k : {3, 5}) {
      for (int stride : {1, 2}) {
        for (int64_t w = 1; w <= 60; w += (w < 18 ? 1 : w < 48 ? 3 : 4)) {
          Case cs{1, 1 + int64_t(rng() % 4), w, channel_counts[rng() % 6], k, stride, 1, 0, 0, 0, 0,
                  static_cast<mk::Activation>(rng() % mk::kNumActivations)};
          const int half = (k - 1) / 2;
          const int shape = static_cast<int>(w % 3);  // symmetric, left only, wide
          cs.pad_t = cs.pad_b = half;
          cs.pad_l = shape == 1 ? 2 * half : shape == 2 ? k : half;
          cs.pad_r = shape == 1 ? 0 : shape == 2 ? k - 1 : half;
          if (cs.w + cs.pad_l + cs.pad_r < k) continue;
          const Worst worst = check_isas(cs, rng);
          CHECK_MSG(worst.err <= 1e-5, "padded=%d isa=%s k=%d s=%d w=%lld pad_l=%d c=%lld: rel err %g", padded,
                    mk::isa_name(worst.isa), k, stride, (long long)cs.w, cs.pad_l, (long long)cs.c, worst.err);
          ++cases;
        }
      }
    }
  }
  mk::set_tuning("dw_padded_rows", saved_rows);
  mk::set_tuning("dw_edge_groups", saved_edges);
  CHECK(cases >= 150);
}

TEST_CASE("dwconv: row pairs match the reference on any height, width, stride and thread count") {
  // AVX-512 and AVX2 run rows in pairs that share input rows (tuning dw_row_pairs,
  // dw_row_pairs_s2, dw_row_pairs_avx2): pairs
  // only where both rows are inside the image, single rows at the top and bottom, odd row
  // counts, pairs never across images (batch 2) nor past a thread's chunk (1-3 threads);
  // narrow (padded groups), edge-group and one-pixel-edge rows; channel tails; 14- and
  // 7-pixel rows in 7-pixel groups or not (dw_seven_groups, with dw_edge_groups); 5x5
  // stride-2 loads through base + stride offsets or not (dw_pair_offsets, likewise); a
  // group's channel blocks in one call or one call each (dw_pair_block_loop, by height);
  // 5x5 FMAs grouped by kernel row or by input row (dw_pair_kernel_rows, at random); a row
  // that cannot pair alone and the next starting a pair, or both alone (dw_pair_skip_single,
  // at random); 3x3 groups' block loop inlined into the row's group loop or not
  // (dw_pair_row_inline, at random); 3x3 whole-block groups, interior or padded, through
  // tight_blocks or not (dw_pair_tight, at random).
  std::mt19937 rng(11);
  auto& pool = mk::ThreadPool::instance();
  const int saved_threads = pool.num_threads();
  const bool saved_pairs = mk::get_tuning("dw_row_pairs"), saved_s2 = mk::get_tuning("dw_row_pairs_s2");
  const bool saved_avx2 = mk::get_tuning("dw_row_pairs_avx2");
  const bool saved_edges = mk::get_tuning("dw_edge_groups");
  const bool saved_chunks = mk::get_tuning("dw_pair_chunks"), saved_seven = mk::get_tuning("dw_seven_groups");
  const bool saved_offsets = mk::get_tuning("dw_pair_offsets");
  const bool saved_block_loop = mk::get_tuning("dw_pair_block_loop");
  const bool saved_kernel_rows = mk::get_tuning("dw_pair_kernel_rows");
  const bool saved_skip = mk::get_tuning("dw_pair_skip_single");
  const bool saved_inline = mk::get_tuning("dw_pair_row_inline");
  const bool saved_tight = mk::get_tuning("dw_pair_tight");
  const int channel_counts[] = {7, 16, 40, 100, 32};
  int cases = 0;
  for (bool pairs : {true, false}) {
    mk::set_tuning("dw_row_pairs", pairs);
    mk::set_tuning("dw_row_pairs_s2", pairs);
    mk::set_tuning("dw_row_pairs_avx2", pairs);
    for (bool edges : {true, false}) {
      mk::set_tuning("dw_edge_groups", edges);
      mk::set_tuning("dw_seven_groups", edges);
      mk::set_tuning("dw_pair_offsets", edges);
      for (int k : {3, 5}) {
        for (int64_t h : {1, 2, 4, 5, 6, 7, 9, 12, 15, 17}) {
          const int stride = 1 + static_cast<int>(h % 2 == 1 ? rng() % 2 : h / 2 % 2);
          mk::set_tuning("dw_pair_block_loop", h % 2 == 0);  // even heights (both strides) in one call
          mk::set_tuning("dw_pair_kernel_rows", rng() % 2 == 0);
          mk::set_tuning("dw_pair_skip_single", rng() % 2 == 0);
          mk::set_tuning("dw_pair_row_inline", rng() % 2 == 0);
          mk::set_tuning("dw_pair_tight", rng() % 2 == 0);
          const int64_t widths[] = {3, 7, 8, 9, 14, 17, 24, 29, 56};
          const int64_t w = widths[rng() % 9];
          Case cs{1 + int64_t(h % 2), h, w, channel_counts[rng() % 5], k, stride, 1, 0, 0, 0, 0,
                  static_cast<mk::Activation>(rng() % mk::kNumActivations)};
          cs.pad_t = cs.pad_l = cs.pad_b = cs.pad_r = (k - 1) / 2;
          if (h % 3 == 0) cs.pad_t = 0, cs.pad_b = k - 1;  // padding at the bottom only
          if (cs.w + cs.pad_l + cs.pad_r < k || cs.h + cs.pad_t + cs.pad_b < k) continue;
          for (int threads : {1, 2, 3}) {
            pool.set_num_threads(threads);
            // Pool chunks in whole row pairs or single rows (dw_pair_chunks).
            mk::set_tuning("dw_pair_chunks", (threads + h) % 2 == 0);
            const Worst worst = check_isas(cs, rng);
            CHECK_MSG(worst.err <= 1e-5, "pairs=%d edges=%d threads=%d isa=%s k=%d s=%d n=%lld h=%lld w=%lld c=%lld: rel err %g",
                      int(pairs), int(edges), threads, mk::isa_name(worst.isa), k, stride, (long long)cs.n,
                      (long long)h, (long long)w, (long long)cs.c, worst.err);
          }
          ++cases;
        }
      }
    }
  }
  mk::set_tuning("dw_row_pairs", saved_pairs);
  mk::set_tuning("dw_row_pairs_s2", saved_s2);
  mk::set_tuning("dw_row_pairs_avx2", saved_avx2);
  mk::set_tuning("dw_edge_groups", saved_edges);
  mk::set_tuning("dw_seven_groups", saved_seven);
  mk::set_tuning("dw_pair_offsets", saved_offsets);
  mk::set_tuning("dw_pair_block_loop", saved_block_loop);
  mk::set_tuning("dw_pair_kernel_rows", saved_kernel_rows);
  mk::set_tuning("dw_pair_chunks", saved_chunks);
  mk::set_tuning("dw_pair_row_inline", saved_inline);
  mk::set_tuning("dw_pair_tight", saved_tight);
  mk::set_tuning("dw_pair_skip_single", saved_skip);
  pool.set_num_threads(saved_threads);
  CHECK(cases >= 70);
}

TEST_CASE("dwconv: rows in pairs or alone give the same bits") {
  // Which rows pair depends on the thread split and on a fused block's row bands, and the
  // network's outputs must not: a pair computes each output with the single-row kernel's
  // FMAs in the same order. Compared bit for bit with every row alone, where an ISA pairs.
  std::mt19937 rng(12);
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  const bool saved_pairs = mk::get_tuning("dw_row_pairs"), saved_s2 = mk::get_tuning("dw_row_pairs_s2");
  const bool saved_avx2 = mk::get_tuning("dw_row_pairs_avx2"), saved_skip = mk::get_tuning("dw_pair_skip_single");
  const bool saved_inline = mk::get_tuning("dw_pair_row_inline"), saved_tight = mk::get_tuning("dw_pair_tight");
  // The 3x3 pair groups' block loop inlined into the row's group loop or called per group
  // (dw_pair_row_inline) goes with skip; whole-block 3x3 groups through tight_blocks or not
  // (dw_pair_tight) both ways.
  const auto set_pairs = [](bool on, bool skip) {
    for (const char* name : {"dw_row_pairs", "dw_row_pairs_s2", "dw_row_pairs_avx2"}) mk::set_tuning(name, on);
    mk::set_tuning("dw_pair_skip_single", skip);
    mk::set_tuning("dw_pair_row_inline", skip);
  };
  int compared = 0;
  for (int i = 0; i < 24; ++i) {
    const int k = i % 2 == 0 ? 3 : 5, stride = 1 + i / 2 % 2;
    // Half the cases, each kernel and stride, whole 8-channel blocks (no tail: the inlined
    // group loop's and tight_blocks' case).
    const int64_t c = i / 4 % 2 == 0 ? 8 * (1 + int64_t(rng() % 8)) : 1 + int64_t(rng() % 70);
    Case cs{1, 5 + int64_t(rng() % 20), 3 + int64_t(rng() % 30), c, k, stride, 1, 0, 0, 0, 0,
            static_cast<mk::Activation>(rng() % mk::kNumActivations)};
    cs.pad_t = cs.pad_l = cs.pad_b = cs.pad_r = (k - 1) / 2;
    if (i % 3 == 0) cs.pad_t = k - 1, cs.pad_b = 0;  // only the top padded: a row that cannot pair first
    const int64_t ho = mk::conv_out_size(cs.h, k, stride, cs.pad_t, cs.pad_b, 1, "h");
    const int64_t wo = mk::conv_out_size(cs.w, k, stride, cs.pad_l, cs.pad_r, 1, "w");
    std::vector<float> x(cs.h * cs.w * cs.c), packed((k * k + 1) * cs.c);
    for (float& v : x) v = val(rng);
    for (float& v : packed) v = val(rng);
    for (mk::Isa isa : mktest::isas()) {
      if (isa == mk::Isa::kScalar) continue;
      set_pairs(false, false);
      const std::vector<float> alone = run(cs, x, packed, ho, wo, isa);
      for (int variant = 0; variant < 4; ++variant) {
        const bool skip = variant % 2 == 0, tight = variant < 2;
        set_pairs(true, skip);
        mk::set_tuning("dw_pair_tight", tight);
        const std::vector<float> paired = run(cs, x, packed, ho, wo, isa);
        bool same = true;
        for (size_t j = 0; j < alone.size(); ++j) same = same && std::memcmp(&alone[j], &paired[j], sizeof(float)) == 0;
        CHECK_MSG(same, "isa=%s k=%d s=%d h=%lld w=%lld c=%lld skip=%d tight=%d: paired rows differ in their bits",
                  mk::isa_name(isa), k, stride, (long long)cs.h, (long long)cs.w, (long long)cs.c, int(skip),
                  int(tight));
        ++compared;
      }
    }
  }
  mk::set_tuning("dw_row_pairs", saved_pairs);
  mk::set_tuning("dw_row_pairs_s2", saved_s2);
  mk::set_tuning("dw_row_pairs_avx2", saved_avx2);
  mk::set_tuning("dw_pair_skip_single", saved_skip);
  mk::set_tuning("dw_pair_row_inline", saved_inline);
  mk::set_tuning("dw_pair_tight", saved_tight);
  CHECK(compared >= 96 || mktest::isas().size() == 1);
}

TEST_CASE("dwconv: rows staged in wider pixels give the same bits and match the reference") {
  // AVX2 copies the rows of 1024 (or 2048) channels at stride 1, whose pixels lie 4 KiB apart,
  // into pixels 16 channels wider (dw_stage_aliased): chunks of row pairs, each with only the
  // input rows it reads and pad_top shifted to them. Compared bit for bit with the direct
  // rows and with the float64 reference: heights of several chunks, both kernels, padding
  // at the top or the bottom only, 1-3 threads (a thread's rows start mid-image), batch 2.
  std::mt19937 rng(13);
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  auto& pool = mk::ThreadPool::instance();
  const int saved_threads = pool.num_threads();
  const bool saved = mk::get_tuning("dw_stage_aliased");
  int compared = 0;
  for (int i = 0; i < 12; ++i) {
    const int k = i % 2 == 0 ? 3 : 5, stride = 1;
    const int64_t c = i % 6 == 5 ? 2048 : 1024;
    Case cs{1 + int64_t(i % 3 == 0), 6 + int64_t(rng() % 12), 5 + int64_t(rng() % 20), c, k, stride, 1, 0, 0, 0, 0,
            static_cast<mk::Activation>(rng() % mk::kNumActivations)};
    cs.pad_t = cs.pad_l = cs.pad_b = cs.pad_r = (k - 1) / 2;
    if (i % 4 == 1) cs.pad_t = k - 1, cs.pad_b = 0;  // padding at the top only
    if (i % 4 == 3) cs.pad_t = 0, cs.pad_b = k - 1;  // at the bottom only
    const int64_t ho = mk::conv_out_size(cs.h, k, stride, cs.pad_t, cs.pad_b, 1, "h");
    const int64_t wo = mk::conv_out_size(cs.w, k, stride, cs.pad_l, cs.pad_r, 1, "w");
    std::vector<float> x(cs.n * cs.h * cs.w * cs.c), packed((k * k + 1) * cs.c);
    for (float& v : x) v = val(rng);
    for (float& v : packed) v = val(rng);
    const std::vector<double> ref = reference(cs, x, packed, ho, wo);
    pool.set_num_threads(1 + i % 3);
    for (mk::Isa isa : mktest::isas()) {
      if (isa == mk::Isa::kScalar) continue;
      mk::set_tuning("dw_stage_aliased", false);
      const std::vector<float> direct = run(cs, x, packed, ho, wo, isa);
      mk::set_tuning("dw_stage_aliased", true);
      const std::vector<float> staged = run(cs, x, packed, ho, wo, isa);
      bool same = true;
      for (size_t j = 0; j < direct.size(); ++j) same = same && std::memcmp(&direct[j], &staged[j], sizeof(float)) == 0;
      const double err = mktest::rel_error(staged, ref);
      CHECK_MSG(same && err <= 1e-5, "isa=%s k=%d s=%d n=%lld h=%lld w=%lld c=%lld threads=%d: staged rows %s, rel err %g",
                mk::isa_name(isa), k, stride, (long long)cs.n, (long long)cs.h, (long long)cs.w, (long long)c,
                1 + i % 3, same ? "same bits" : "differ in their bits", err);
      ++compared;
    }
  }
  mk::set_tuning("dw_stage_aliased", saved);
  pool.set_num_threads(saved_threads);
  CHECK(compared >= 12 || mktest::isas().size() == 1);
}
