// Inverted residual driver vs a float64 reference composed here (expand -> depthwise ->
// SE -> project + residual), every ISA, both schedules (row bands and per-op), 1-3
// threads, random sizes: channel tails, odd and tall images (several bands, sliding
// windows, split images), asymmetric padding (incl. bands wholly in padding), batch 2.
#include <algorithm>
#include <cmath>
#include <limits>
#include <cstring>
#include <random>
#include <stdexcept>
#include <vector>

#include "../ops/dwconv.h"
#include "../kernels/gemm.h"
#include "../ops/inverted_residual.h"
#include "../runtime/thread_pool.h"
#include "../runtime/tuning.h"
#include "harness.h"
#include "reference.h"

namespace {

struct Case {
  int64_t n, h, w, cin, hidden, cout, sq, ho, wo;
  int k, s, pads[4];
  bool expand, se, residual;
  mk::Activation expand_act, dw_act, se_act, se_gate;
  std::vector<float> x, we, wd, f1, f2, wp;
};

std::vector<double> reference(const Case& c) {
  const int64_t pix = c.n * c.h * c.w;
  std::vector<double> e(pix * c.hidden);
  for (int64_t i = 0; i < pix; ++i)
    for (int64_t j = 0; j < c.hidden; ++j) {
      if (!c.expand) {
        e[i * c.hidden + j] = c.x[i * c.cin + j];
        continue;
      }
      double acc = c.we[c.cin * c.hidden + j];
      for (int64_t q = 0; q < c.cin; ++q) acc += double(c.x[i * c.cin + q]) * c.we[q * c.hidden + j];
      e[i * c.hidden + j] = mktest::ref_activation(acc, c.expand_act);
    }
  std::vector<double> d(c.n * c.ho * c.wo * c.hidden);
  for (int64_t b = 0; b < c.n; ++b)
    for (int64_t oy = 0; oy < c.ho; ++oy)
      for (int64_t ox = 0; ox < c.wo; ++ox)
        for (int64_t j = 0; j < c.hidden; ++j) {
          double acc = c.wd[c.k * c.k * c.hidden + j];
          for (int ky = 0; ky < c.k; ++ky)
            for (int kx = 0; kx < c.k; ++kx) {
              const int64_t iy = oy * c.s - c.pads[0] + ky, ix = ox * c.s - c.pads[1] + kx;
              if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w) continue;
              acc += e[((b * c.h + iy) * c.w + ix) * c.hidden + j] * c.wd[(ky * c.k + kx) * c.hidden + j];
            }
          d[((b * c.ho + oy) * c.wo + ox) * c.hidden + j] = mktest::ref_activation(acc, c.dw_act);
        }
  const int64_t opix = c.ho * c.wo;
  if (c.se) {
    for (int64_t b = 0; b < c.n; ++b) {
      std::vector<double> pooled(c.hidden, 0.0), mid(c.sq);
      for (int64_t p = 0; p < opix; ++p)
        for (int64_t j = 0; j < c.hidden; ++j) pooled[j] += d[(b * opix + p) * c.hidden + j] / double(opix);
      for (int64_t q = 0; q < c.sq; ++q) {
        double acc = c.f1[c.hidden * c.sq + q];
        for (int64_t j = 0; j < c.hidden; ++j) acc += pooled[j] * c.f1[j * c.sq + q];
        mid[q] = mktest::ref_activation(acc, c.se_act);
      }
      for (int64_t j = 0; j < c.hidden; ++j) {
        double acc = c.f2[c.sq * c.hidden + j];
        for (int64_t q = 0; q < c.sq; ++q) acc += mid[q] * c.f2[q * c.hidden + j];
        const double g = mktest::ref_activation(acc, c.se_gate);
        for (int64_t p = 0; p < opix; ++p) d[(b * opix + p) * c.hidden + j] *= g;
      }
    }
  }
  std::vector<double> y(c.n * opix * c.cout);
  for (int64_t i = 0; i < c.n * opix; ++i)
    for (int64_t o = 0; o < c.cout; ++o) {
      double acc = c.wp[c.hidden * c.cout + o];
      for (int64_t j = 0; j < c.hidden; ++j) acc += d[i * c.hidden + j] * c.wp[j * c.cout + o];
      y[i * c.cout + o] = acc + (c.residual ? c.x[i * c.cin + o] : 0.0);
    }
  return y;
}

// The input and weights of a case of the given sizes, scaled so activations stay O(1).
void fill_case(Case& c, std::mt19937& rng) {
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  auto fill = [&](std::vector<float>& v, int64_t size, float scale) {
    v.resize(size);
    for (float& f : v) f = val(rng) * scale;
  };
  fill(c.x, c.n * c.h * c.w * c.cin, 2.0f);
  fill(c.we, (c.cin + 1) * c.hidden, 2.0f / std::sqrt(float(c.cin)));
  fill(c.wd, (c.k * c.k + 1) * c.hidden, 0.5f);
  fill(c.f1, (c.hidden + 1) * c.sq, 1.0f);
  fill(c.f2, (c.sq + 1) * c.hidden, 1.0f);
  fill(c.wp, (c.hidden + 1) * c.cout, 2.0f / std::sqrt(float(c.hidden)));
}

Case random_case(std::mt19937& rng, int rep) {
  const int64_t chans[] = {1, 3, 8, 13, 16, 24, 40};
  Case c;
  c.n = 1 + rep % 2;
  c.k = rep % 3 == 0 ? 5 : 3;
  c.s = 1 + (rep / 2) % 2;
  const bool tall = rep % 4 == 3;  // narrow and tall: several bands per job
  c.h = tall ? 30 + rng() % 25 : 1 + rng() % 13;
  c.w = tall ? 1 + rng() % 4 : 1 + rng() % 13;
  c.expand = rep % 5 != 4;
  c.cin = chans[rng() % 7];
  c.hidden = c.expand ? chans[rng() % 7] * 2 + 1 : c.cin;
  c.se = rep % 3 == 1;
  c.sq = 1 + rng() % 9;
  // Symmetric "same" padding mostly; every 6th case asymmetric and up to k (rows in padding only).
  for (int i = 0; i < 4; ++i) c.pads[i] = rep % 6 == 5 ? int(rng() % (c.k + 1)) : (c.k - 1) / 2;
  c.ho = (c.h + c.pads[0] + c.pads[2] - c.k) / c.s + 1;
  c.wo = (c.w + c.pads[1] + c.pads[3] - c.k) / c.s + 1;
  c.residual = c.s == 1 && c.ho == c.h && c.wo == c.w && rep % 2 == 0;
  c.cout = c.residual ? c.cin : chans[rng() % 7];
  c.expand_act = static_cast<mk::Activation>(rng() % mk::kNumActivations);
  c.dw_act = static_cast<mk::Activation>(rng() % mk::kNumActivations);
  c.se_act = mk::Activation::kRelu;
  c.se_gate = rep % 2 ? mk::Activation::kHardsigmoid : mk::Activation::kSigmoid;
  fill_case(c, rng);
  return c;
}

// The case's weights in the GEMM panel layout, as a Network hands them over.
struct CasePanels {
  std::vector<float> expand, project, fc1, fc2;
  explicit CasePanels(const Case& c)
      : expand(c.expand ? mk::gemm_panels_size(c.cin, c.hidden) : 0),
        project(mk::gemm_panels_size(c.hidden, c.cout)),
        fc1(c.se ? mk::gemm_panels_size(c.hidden, c.sq) : 0),
        fc2(c.se ? mk::gemm_panels_size(c.sq, c.hidden) : 0) {
    if (c.expand) mk::pack_gemm_panels(c.we.data(), c.cin, c.hidden, expand.data());
    mk::pack_gemm_panels(c.wp.data(), c.hidden, c.cout, project.data());
    if (c.se) {
      mk::pack_gemm_panels(c.f1.data(), c.hidden, c.sq, fc1.data());
      mk::pack_gemm_panels(c.f2.data(), c.sq, c.hidden, fc2.data());
    }
  }
  void use(const Case& c, mk::InvertedResidualArgs& a) const {
    a.panels = true;
    a.expand = c.expand ? expand.data() : nullptr;
    a.project = project.data();
    a.se_fc1 = c.se ? fc1.data() : nullptr;
    a.se_fc2 = c.se ? fc2.data() : nullptr;
  }
};

mk::InvertedResidualArgs args_of(const Case& c, float* y, bool per_op) {
  mk::InvertedResidualArgs a{c.x.data(), c.expand ? c.we.data() : nullptr, c.wd.data(),
                             c.se ? c.f1.data() : nullptr, c.se ? c.f2.data() : nullptr, c.wp.data(), y,
                             c.n, c.h, c.w, c.cin, c.hidden, c.se ? c.sq : 0, c.cout, c.ho, c.wo, c.k, c.s,
                             c.pads[0], c.pads[1], c.pads[2], c.pads[3], c.expand_act, c.dw_act, c.se_act,
                             c.se_gate, c.residual};
  a.per_op = per_op;
  return a;
}

}  // namespace

TEST_CASE("inverted_residual: row bands and per-op match the float64 reference, every ISA and thread count") {
  std::mt19937 rng(2024);
  auto& pool = mk::ThreadPool::instance();
  const int saved = pool.num_threads();
  const bool saved_uneven = mk::get_tuning("ir_uneven_by_op"), saved_se = mk::get_tuning("ir_stream_se");
  const bool saved_fold = mk::get_tuning("ir_se_fold"), saved_sums = mk::get_tuning("ir_se_band_sums");
  const bool saved_shared = mk::get_tuning("ir_shared_expand"), saved_halo = mk::get_tuning("ir_shared_halo_bands");
  const bool saved_ring = mk::get_tuning("ir_ring_window"), saved_s2 = mk::get_tuning("ir_uneven_s2_bands");
  int cases = 0;
  for (int rep = 0; rep < 48; ++rep) {
    // The first expand streams the SE block's FC1 or the project's first tile (hints only).
    mk::set_tuning("ir_stream_se", rep % 2 == 0);
    mk::set_tuning("ir_se_fold", rep % 4 < 2);  // SE cases are rep % 3 == 1: both ways
    mk::set_tuning("ir_se_band_sums", rep % 8 < 4);  // ... with either, both ways
    // Images split over 2-3 threads expanded once, shared (residuals then read from x)
    mk::set_tuning("ir_shared_expand", rep % 16 < 8);
    mk::set_tuning("ir_shared_halo_bands", rep % 32 < 16);  // ... bands despite a large halo
    mk::set_tuning("ir_ring_window", rep % 6 < 3);  // the band window a ring, or its rows moved
    mk::set_tuning("ir_uneven_s2_bands", rep % 10 < 5);  // stride 2, uneven rows: bands or per-op
    const Case c = random_case(rng, rep);
    if (c.ho < 1 || c.wo < 1) continue;
    const std::vector<double> ref = reference(c);
    const CasePanels panels(c);
    for (int threads : {1, 2, 3}) {
      pool.set_num_threads(threads);
      for (mk::Isa isa : mktest::isas()) {
        // row bands, per-op, row bands + panels + short bands (1-16 pixels: many window
        // slides), per-op + panels (a network's layout when it picks the per-op schedule)
        for (int schedule = 0; schedule < 4; ++schedule) {
          const bool per_op = schedule == 1 || schedule == 3;
          // schedule 0 keeps row bands where few rows share unevenly over the threads
          mk::set_tuning("ir_uneven_by_op", schedule != 0);
          std::vector<float> y(c.n * c.ho * c.wo * c.cout, std::numeric_limits<float>::quiet_NaN());
          mk::InvertedResidualArgs a = args_of(c, y.data(), per_op);
          if (schedule >= 2) {
            a.band_pixels = 1 + rep % 16;
            panels.use(c, a);
          }
          mk::inverted_residual(a, isa);
          const double err = mktest::rel_error(y, ref);
          CHECK_MSG(err <= 1e-5,
                    "isa=%s threads=%d schedule=%d n=%lld h=%lld w=%lld cin=%lld hidden=%lld cout=%lld k=%d s=%d "
                    "pads=%d,%d,%d,%d expand=%d se=%d residual=%d: rel err %g",
                    mk::isa_name(isa), threads, schedule, (long long)c.n, (long long)c.h, (long long)c.w,
                    (long long)c.cin, (long long)c.hidden, (long long)c.cout, c.k, c.s, c.pads[0], c.pads[1],
                    c.pads[2], c.pads[3], int(c.expand), int(c.se), int(c.residual), err);
        }
      }
    }
    ++cases;
  }
  pool.set_num_threads(saved);
  mk::set_tuning("ir_uneven_by_op", saved_uneven);
  mk::set_tuning("ir_stream_se", saved_se);
  mk::set_tuning("ir_se_fold", saved_fold);
  mk::set_tuning("ir_se_band_sums", saved_sums);
  mk::set_tuning("ir_shared_expand", saved_shared);
  mk::set_tuning("ir_shared_halo_bands", saved_halo);
  mk::set_tuning("ir_ring_window", saved_ring);
  mk::set_tuning("ir_uneven_s2_bands", saved_s2);
  CHECK_MSG(cases >= 40, "only %d valid cases", cases);
}

// The band window as a ring (ir_ring_window) holds the same rows as the window whose shared
// rows are moved to its top: the same bits, every kernel, stride, thread count and ISA. The
// images are 300 rows tall in short bands, so the window's start passes the ring's end
// (any ring an earlier call left is at most the window budget, 384 KiB: 300 rows of 8 x 81
// floats are 778 KB).
TEST_CASE("inverted_residual: the band window as a ring gives the bits of the moved window") {
  std::mt19937 rng(5150);
  auto& pool = mk::ThreadPool::instance();
  const int saved = pool.num_threads();
  const bool saved_ring = mk::get_tuning("ir_ring_window");
  int compared = 0;
  for (int rep = 0; rep < 8; ++rep) {
    Case c = random_case(rng, 0);  // resized below
    c.n = 1;
    c.h = 300;
    c.w = 8;
    c.k = rep % 2 ? 5 : 3;
    c.s = 1 + (rep / 2) % 2;
    for (int& pad : c.pads) pad = (c.k - 1) / 2;
    c.ho = (c.h + 2 * c.pads[0] - c.k) / c.s + 1;
    c.wo = (c.w + 2 * c.pads[1] - c.k) / c.s + 1;
    c.expand = true;
    c.cin = 16;
    c.hidden = rep < 4 ? 81 : 25;
    c.se = rep % 4 == 3;
    c.sq = 5;
    c.residual = c.s == 1;
    c.cout = c.residual ? c.cin : 24;
    fill_case(c, rng);
    const CasePanels panels(c);
    for (int threads : {1, 2}) {
      pool.set_num_threads(threads);
      for (mk::Isa isa : mktest::isas()) {
        std::vector<float> y[2];
        for (int ring = 0; ring < 2; ++ring) {
          mk::set_tuning("ir_ring_window", ring == 1);
          y[ring].assign(c.n * c.ho * c.wo * c.cout, std::numeric_limits<float>::quiet_NaN());
          mk::InvertedResidualArgs a = args_of(c, y[ring].data(), false);
          a.band_pixels = 8 + rep % 3 * 8;  // bands of 1-3 rows
          panels.use(c, a);
          mk::inverted_residual(a, isa);
        }
        bool same = true;
        for (size_t i = 0; i < y[0].size(); ++i) same = same && std::memcmp(&y[0][i], &y[1][i], sizeof(float)) == 0;
        CHECK_MSG(same, "isa=%s threads=%d hidden=%lld k=%d s=%d se=%d", mk::isa_name(isa), threads,
                  (long long)c.hidden, c.k, c.s, int(c.se));
        ++compared;
      }
    }
  }
  pool.set_num_threads(saved);
  mk::set_tuning("ir_ring_window", saved_ring);
  CHECK_MSG(compared >= 10, "only %d comparisons", compared);
}

// An SE block whose project weights are much smaller than its depthwise output: the gate
// folded into the weights (ir_se_fold) and the scaled output both match the reference,
// on every schedule and layout, and differ in their bits (the fold ran).
TEST_CASE("inverted_residual: an SE gate folded into the project's weights matches the reference") {
  std::mt19937 rng(8);
  auto& pool = mk::ThreadPool::instance();
  const int saved = pool.num_threads();
  const bool saved_fold = mk::get_tuning("ir_se_fold");
  Case c = random_case(rng, 1);  // rep 1: SE, k 3, stride 2; made 24x20 -> 12x10, hidden 17 -> 3
  c.n = 2;
  c.h = 24;
  c.w = 20;
  c.s = 2;
  c.k = 3;
  for (int& pad : c.pads) pad = 1;
  c.ho = 12;
  c.wo = 10;
  c.cin = 5;
  c.hidden = 17;
  c.cout = 3;
  c.sq = 4;
  c.residual = false;
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  auto fill = [&](std::vector<float>& v, int64_t size, float scale) {
    v.resize(size);
    for (float& f : v) f = val(rng) * scale;
  };
  fill(c.x, c.n * c.h * c.w * c.cin, 2.0f);
  fill(c.we, (c.cin + 1) * c.hidden, 0.8f);
  fill(c.wd, (c.k * c.k + 1) * c.hidden, 0.5f);
  fill(c.f1, (c.hidden + 1) * c.sq, 1.0f);
  fill(c.f2, (c.sq + 1) * c.hidden, 1.0f);
  fill(c.wp, (c.hidden + 1) * c.cout, 0.5f);
  const std::vector<double> ref = reference(c);
  const CasePanels panels(c);
  for (int threads : {1, 2}) {
    pool.set_num_threads(threads);
    for (mk::Isa isa : mktest::isas()) {
      for (int schedule = 0; schedule < 4; ++schedule) {  // bands / per-op, canonical / panels
        std::vector<float> y[2];
        for (int fold = 0; fold < 2; ++fold) {
          mk::set_tuning("ir_se_fold", fold == 1);
          y[fold].assign(c.n * c.ho * c.wo * c.cout, std::numeric_limits<float>::quiet_NaN());
          mk::InvertedResidualArgs a = args_of(c, y[fold].data(), schedule % 2 == 1);
          if (schedule >= 2) panels.use(c, a);
          mk::inverted_residual(a, isa);
          const double err = mktest::rel_error(y[fold], ref);
          CHECK_MSG(err <= 1e-5, "isa=%s threads=%d schedule=%d fold=%d: rel err %g", mk::isa_name(isa), threads,
                    schedule, fold, err);
        }
        CHECK_MSG(y[0] != y[1], "isa=%s threads=%d schedule=%d: folding changed no bit (did it run?)",
                  mk::isa_name(isa), threads, schedule);
      }
    }
  }
  pool.set_num_threads(saved);
  mk::set_tuning("ir_se_fold", saved_fold);
}

// Blocks whose expanded rows are wide enough that the band window's budget (half the L2,
// <= 384 KiB) sets the band: 14x14 x 1400 channels, k 5, stride 2 (a 5-row window is over
// budget: bands of 2 rows, ir_band_pairs, or 1), and 14x14 x 288 (with a 512 KiB L2, the
// whole map's 14 rows fit where the unclipped 17-row count did not: one band of 7 rows,
// ir_window_clip, or 6 + 1). Each switch both ways, 1 and 2 threads, against the reference.
TEST_CASE("inverted_residual: bands set by the window budget (two-row minimum, window clipped to the image) match the reference") {
  std::mt19937 rng(77);
  auto& pool = mk::ThreadPool::instance();
  const int saved = pool.num_threads();
  const bool saved_pairs = mk::get_tuning("ir_band_pairs"), saved_clip = mk::get_tuning("ir_window_clip");
  for (int64_t hidden : {1400, 288}) {
    Case c = random_case(rng, 1);  // SE, stride 2; resized below
    c.n = 1;
    c.h = c.w = 14;
    c.k = 5;
    c.s = 2;
    for (int& pad : c.pads) pad = 2;
    c.ho = c.wo = 7;
    c.cin = 16;
    c.hidden = hidden;
    c.cout = 24;
    c.sq = hidden / 4;
    c.residual = false;
    c.expand = true;
    fill_case(c, rng);
    const std::vector<double> ref = reference(c);
    const CasePanels panels(c);
    for (int threads : {1, 2}) {
      pool.set_num_threads(threads);
      for (int mode = 0; mode < 4; ++mode) {
        mk::set_tuning("ir_band_pairs", mode & 1);
        mk::set_tuning("ir_window_clip", mode & 2);
        for (mk::Isa isa : mktest::isas()) {
          std::vector<float> y(c.ho * c.wo * c.cout, std::numeric_limits<float>::quiet_NaN());
          mk::InvertedResidualArgs a = args_of(c, y.data(), false);
          panels.use(c, a);
          mk::inverted_residual(a, isa);
          const double err = mktest::rel_error(y, ref);
          CHECK_MSG(err <= 1e-5, "isa=%s threads=%d hidden=%lld pairs=%d clip=%d: rel err %g", mk::isa_name(isa),
                    threads, (long long)hidden, mode & 1, mode >> 1, err);
        }
      }
    }
  }
  pool.set_num_threads(saved);
  mk::set_tuning("ir_band_pairs", saved_pairs);
  mk::set_tuning("ir_window_clip", saved_clip);
}

TEST_CASE("inverted_residual: rejects inconsistent sizes") {
  std::mt19937 rng(5);
  Case c = random_case(rng, 0);
  std::vector<float> y(c.n * c.ho * c.wo * c.cout);
  auto throws = [&](mk::InvertedResidualArgs a) {
    try {
      mk::inverted_residual(a, mk::Isa::kScalar);
    } catch (const std::invalid_argument&) {
      return true;
    }
    return false;
  };
  mk::InvertedResidualArgs a = args_of(c, y.data(), false);
  a.out_height += 1;
  CHECK_MSG(throws(a), "wrong out_height accepted");
  a = args_of(c, y.data(), false);
  a.kernel = 7;
  CHECK_MSG(throws(a), "kernel 7 accepted");
  a = args_of(c, y.data(), false);
  a.expand = nullptr;
  a.hidden = a.in_channels + 1;
  CHECK_MSG(throws(a), "hidden != in without expand accepted");
  a = args_of(c, y.data(), false);
  a.dw_act = static_cast<mk::Activation>(99);
  CHECK_MSG(throws(a), "activation 99 accepted");
  // A stem must produce exactly the block's input, feed a block without expand, and have
  // an input of its own.
  a = args_of(c, y.data(), false);
  std::vector<float> image(c.n * (2 * c.h) * (2 * c.w) * 3, 0.5f), stem_w(28 * c.cin, 0.1f);
  mk::ConvArgs stem{image.data(), stem_w.data(), nullptr, c.n, 2 * c.h, 2 * c.w, 3, c.cin, c.h, c.w, 3, 2,
                    1, 1, 0, 0, mk::Activation::kRelu};
  a.stem = &stem;
  a.expand = nullptr;
  a.hidden = a.in_channels;
  a.se_fc1 = a.se_fc2 = nullptr;
  CHECK_MSG(!throws(a), "a valid stem rejected");
  mk::ConvArgs bad = stem;
  bad.out_channels += 1;
  a.stem = &bad;
  CHECK_MSG(throws(a), "stem with other output channels accepted");
  bad = stem;
  bad.x = nullptr;
  CHECK_MSG(throws(a), "stem without input accepted");
  bad = stem;
  bad.out_height += 1;
  CHECK_MSG(throws(a), "stem with a wrong output height accepted");
  a = args_of(c, y.data(), false);
  a.stem = &stem;
  CHECK_MSG(!a.expand || throws(a), "stem before an expand accepted");
  // A next depthwise must read exactly the block's output and write elsewhere.
  std::vector<float> dw_w(10 * c.cout, 0.1f), z(c.n * c.ho * c.wo * c.cout);
  mk::DwconvArgs d{y.data(), dw_w.data(), z.data(), c.n,
                   mk::DwconvParams{c.ho, c.wo, c.cout, c.ho, c.wo, 3, 3, 1, 1, 1, 1, 1, 1, mk::Activation::kRelu}};
  a = args_of(c, y.data(), false);
  a.next_dw = &d;
  CHECK_MSG(!throws(a), "a valid next depthwise rejected");
  mk::DwconvArgs bad_dw = d;
  bad_dw.p.channels += 1;
  a.next_dw = &bad_dw;
  CHECK_MSG(throws(a), "next depthwise with other channels accepted");
  bad_dw = d;
  bad_dw.x = z.data();
  CHECK_MSG(throws(a), "next depthwise reading another buffer accepted");
  bad_dw = d;
  bad_dw.y = y.data() + 1;
  CHECK_MSG(throws(a), "next depthwise writing over the block's output accepted");
}

// A depthwise layer after the block (next_dw), computed band by band inside it as the rows
// it reads are projected, or after the block (SE, per-op, ir_next_dw off): the block's
// output and the depthwise's are the bits of the block run alone and then the depthwise op,
// on random blocks and depthwise shapes (3x3/5x5, stride 1/2, symmetric, TF-style and random
// padding), short bands, 1-3 threads (rows whose windows straddle two jobs), batch 1-2.
TEST_CASE("inverted_residual: a next depthwise inside the bands gives the bits of the block, then the op") {
  std::mt19937 rng(606);
  auto& pool = mk::ThreadPool::instance();
  const int saved = pool.num_threads();
  const bool saved_next = mk::get_tuning("ir_next_dw");
  const float nan = std::numeric_limits<float>::quiet_NaN();
  int compared = 0;
  for (int rep = 0; rep < 36; ++rep) {
    const Case c = random_case(rng, rep);
    const int kd = rep % 3 == 2 ? 5 : 3, sd = 1 + (rep / 3) % 2;
    int pads[4];
    for (int i = 0; i < 4; ++i) {
      const int pad_mode = rep % 4;  // symmetric, TF-style (bottom / right only), random up to kd
      pads[i] = pad_mode < 2 ? (kd - 1) / 2 : pad_mode == 2 ? (i < 2 ? 0 : kd - 1) : int(rng() % (kd + 1));
    }
    const int64_t dho = (c.ho + pads[0] + pads[2] - kd) / sd + 1, dwo = (c.wo + pads[1] + pads[3] - kd) / sd + 1;
    if (c.ho + pads[0] + pads[2] < kd || c.wo + pads[1] + pads[3] < kd) continue;
    std::uniform_real_distribution<float> val(-0.5f, 0.5f);
    std::vector<float> dw_w((kd * kd + 1) * c.cout);
    for (float& f : dw_w) f = val(rng);
    const mk::DwconvParams dp{c.ho, c.wo, c.cout, dho, dwo, kd, kd, sd, sd, pads[0], pads[1], 1, 1,
                              static_cast<mk::Activation>(rng() % mk::kNumActivations)};
    const CasePanels panels(c);
    const int64_t y_size = c.n * c.ho * c.wo * c.cout, z_size = c.n * dho * dwo * c.cout;
    for (int threads : {1, 2, 3}) {
      pool.set_num_threads(threads);
      for (mk::Isa isa : mktest::isas()) {
        std::vector<float> y[2], z[2];
        for (int fused = 0; fused < 2; ++fused) {
          y[fused].assign(y_size, nan);
          z[fused].assign(z_size, nan);
          mk::InvertedResidualArgs a = args_of(c, y[fused].data(), false);
          a.band_pixels = 1 + rep % 16;
          panels.use(c, a);
          mk::DwconvArgs d{y[fused].data(), dw_w.data(), z[fused].data(), c.n, dp};
          mk::set_tuning("ir_next_dw", rep % 6 != 5);  // off: the depthwise after the block
          if (fused) {
            a.next_dw = &d;
            mk::inverted_residual(a, isa);
          } else {
            mk::inverted_residual(a, isa);
            mk::dwconv_bn_act(d, isa);
          }
        }
        bool same = true, finite = true;
        for (int64_t i = 0; i < y_size; ++i) same = same && std::memcmp(&y[0][i], &y[1][i], sizeof(float)) == 0;
        for (int64_t i = 0; i < z_size; ++i) {
          same = same && std::memcmp(&z[0][i], &z[1][i], sizeof(float)) == 0;
          finite = finite && std::isfinite(z[1][i]);
        }
        CHECK_MSG(same && finite,
                  "isa=%s threads=%d n=%lld ho=%lld wo=%lld c=%lld se=%d expand=%d next k=%d s=%d pads=%d,%d,%d,%d",
                  mk::isa_name(isa), threads, (long long)c.n, (long long)c.ho, (long long)c.wo, (long long)c.cout,
                  int(c.se), int(c.expand), kd, sd, pads[0], pads[1], pads[2], pads[3]);
        ++compared;
      }
    }
  }
  pool.set_num_threads(saved);
  mk::set_tuning("ir_next_dw", saved_next);
  CHECK_MSG(compared >= 60, "only %d comparisons", compared);
}

TEST_CASE("inverted_residual: band phase timing sums each phase and changes no output") {
  std::mt19937 rng(77);
  auto& pool = mk::ThreadPool::instance();
  const int saved = pool.num_threads();
  pool.set_num_threads(1);  // the sums are for 1-thread benchmarks
  int checked = 0;
  for (int rep = 0; rep < 40 && checked < 4; ++rep) {
    const Case c = random_case(rng, rep);
    if (c.ho < 1 || c.wo < 1 || !c.expand) continue;
    const int64_t out = c.n * c.ho * c.wo * c.cout;
    std::vector<float> plain(out, std::numeric_limits<float>::quiet_NaN()), timed = plain, after = plain;
    mk::inverted_residual(args_of(c, plain.data(), false), mk::Isa::kScalar);
    mk::BandPhaseTimes times;
    mk::set_band_phase_sink(&times);
    mk::inverted_residual(args_of(c, timed.data(), false), mk::Isa::kScalar);
    mk::set_band_phase_sink(nullptr);
    const mk::BandPhaseTimes snapshot = times;
    mk::inverted_residual(args_of(c, after.data(), false), mk::Isa::kScalar);
    const bool same = std::equal(plain.begin(), plain.end(), timed.begin()) &&
                      std::equal(plain.begin(), plain.end(), after.begin());
    CHECK_MSG(same, "rep %d: timing changed the output", rep);
    CHECK_MSG(times.expand_s > 0 && times.dw_s > 0 && times.project_s > 0 &&
                  (c.se ? times.se_s > 0 && times.scale_s > 0 : times.se_s == 0 && times.scale_s == 0),
              "rep %d (se=%d): phase sums %g %g %g %g %g", rep, int(c.se), times.expand_s, times.dw_s,
              times.project_s, times.se_s, times.scale_s);
    const bool unchanged = times.expand_s == snapshot.expand_s && times.dw_s == snapshot.dw_s &&
                           times.project_s == snapshot.project_s && times.se_s == snapshot.se_s &&
                           times.scale_s == snapshot.scale_s;
    CHECK_MSG(unchanged, "rep %d: a cleared sink still summed", rep);
    ++checked;
  }
  pool.set_num_threads(saved);
  CHECK_MSG(checked == 4, "only %d cases with an expand", checked);
}
