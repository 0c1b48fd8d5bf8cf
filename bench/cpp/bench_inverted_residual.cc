// Inverted residual block: row bands vs per-op (whole expanded tensor through memory),
// alternated call by call so both see the same machine state; medians of N calls.
//   mk_bench_inverted_residual H W CIN HIDDEN COUT K S SE(0/1) [threads=1] [isa=auto]
// (MK_BANDS_ONLY=1: row bands only; MK_PHASES=1: and their time per phase; MK_STEM=1: the
// block's input is a 3x3 stride-2 stem conv's output from a 2H x 2W x 3 image, computed
// band by band as in a network's first step: HIDDEN must equal CIN, "expand" is the stem;
// MK_BAND_PIXELS=N: row bands of ~N output pixels instead of the default ~384)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels/gemm.h"
#include "ops/conv.h"
#include "ops/inverted_residual.h"
#include "runtime/tuning.h"
#include "runtime/scratch.h"
#include "runtime/thread_pool.h"

int main(int argc, char** argv) {
  if (argc < 9) {
    std::fprintf(stderr, "usage: %s H W CIN HIDDEN COUT K S SE [threads] [isa]\n", argv[0]);
    return 2;
  }
  const int64_t H = std::atoll(argv[1]), W = std::atoll(argv[2]), cin = std::atoll(argv[3]);
  const int64_t hid = std::atoll(argv[4]), cout = std::atoll(argv[5]);
  const int k = std::atoi(argv[6]), s = std::atoi(argv[7]);
  const bool se = std::atoi(argv[8]) != 0;
  mk::ThreadPool::instance().set_num_threads(argc > 9 ? std::atoi(argv[9]) : 1);
  const mk::Isa isa = mk::parse_isa(argc > 10 ? argv[10] : "auto");
  const int pad = (k - 1) / 2;
  const int64_t ho = (H + 2 * pad - k) / s + 1, wo = (W + 2 * pad - k) / s + 1, sq = hid / 4;
  mk::FloatBuffer x(H * W * cin, 0.5f), ex((cin + 1) * hid, 0.01f), dw((k * k + 1) * hid, 0.1f);
  mk::FloatBuffer f1((hid + 1) * sq, 0.01f), f2((sq + 1) * hid, 0.01f), pr((hid + 1) * cout, 0.01f);
  // MK_COLD_Y=1: cycle the output through 8 buffers, so its lines come from L3 (as a
  // network's ping-pong buffers do when a layer writes more than the L2 holds).
  const int y_copies = std::getenv("MK_COLD_Y") ? 8 : 1;
  mk::FloatBuffer y(y_copies * ho * wo * cout);
  // The pointwise weights in the GEMM's panel layout, as a Network holds them.
  auto panels = [](const mk::FloatBuffer& w, int64_t k, int64_t n) {
    mk::FloatBuffer out(mk::gemm_panels_size(k, n));
    mk::pack_gemm_panels(w.data(), k, n, out.data());
    return out;
  };
  ex = panels(ex, cin, hid), f1 = panels(f1, hid, sq), f2 = panels(f2, sq, hid), pr = panels(pr, hid, cout);
  const bool residual = s == 1 && cin == cout;
  mk::InvertedResidualArgs a{x.data(), hid == cin ? nullptr : ex.data(), dw.data(), se ? f1.data() : nullptr,
                             se ? f2.data() : nullptr, pr.data(), y.data(), 1, H, W, cin, hid, se ? sq : 0, cout,
                             ho, wo, k, s, pad, pad, pad, pad, mk::Activation::kRelu6, mk::Activation::kRelu6,
                             mk::Activation::kRelu, mk::Activation::kHardsigmoid, residual};
  a.panels = true;
  if (const char* bp = std::getenv("MK_BAND_PIXELS")) a.band_pixels = std::atoll(bp);
  // MK_STEM=1: the stem conv (3 -> CIN, 3x3, stride 2, padding 1) from the image.
  mk::FloatBuffer image, stem_w;
  mk::ConvArgs stem{};
  const bool with_stem = std::getenv("MK_STEM") != nullptr;
  if (with_stem) {
    if (hid != cin) {
      std::fprintf(stderr, "MK_STEM needs HIDDEN == CIN (a block without expand)\n");
      return 2;
    }
    image.assign(4 * H * W * 3, 0.5f);
    stem_w.assign((9 * 3 + 1) * cin, 0.05f);
    stem = mk::ConvArgs{image.data(), stem_w.data(), nullptr, 1, 2 * H, 2 * W, 3, cin, H, W, 3, 2, 1, 1, 1, 1,
                        mk::Activation::kRelu6};
    a.stem = &stem;
  }
  // MK_BANDS_ONLY=1: time row bands alone (for perf profiles of the fused driver).
  // MK_PHASES=1 (implies it): also the band driver's time per phase, per call.
  const bool phases = std::getenv("MK_PHASES") != nullptr;
  if (const char* off = std::getenv("MK_OFF")) mk::set_tuning(off, false);  // one switch off for the run
  const bool bands_only = phases || std::getenv("MK_BANDS_ONLY") != nullptr;
  // MK_AB=SWITCH: row bands alone, calls alternating with that tuning switch off and on (an
  // in-process A/B: same binary, same machine state); prints both medians.
  if (const char* ab = std::getenv("MK_AB")) {
    std::vector<double> ab_t[2];
    for (int r = 0; r < 400; ++r) {
      mk::set_tuning(ab, r % 2 == 1);
      const auto t0 = std::chrono::steady_clock::now();
      mk::inverted_residual(a, isa);
      if (r >= 10) ab_t[r % 2].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    for (auto& v : ab_t) std::sort(v.begin(), v.end());
    const double off = ab_t[0][ab_t[0].size() / 2], on = ab_t[1][ab_t[1].size() / 2];
    std::printf("ir %lldx%lld %lld-%lld-%lld k%d s%d se%d %s: %s off %.1f us, on %.1f us, ratio %.3f\n", (long long)H,
                (long long)W, (long long)cin, (long long)hid, (long long)cout, k, s, int(se), mk::isa_name(isa), ab,
                off * 1e6, on * 1e6, off / on);
    return 0;
  }
  mk::BandPhaseTimes phase_times;
  if (phases) mk::set_band_phase_sink(&phase_times);
  std::vector<double> t[2];
  for (int r = 0; r < 60; ++r) {
    for (int v = 0; v < (bands_only ? 1 : 2); ++v) {
      a.per_op = v == 1;
      a.y = y.data() + (r % y_copies) * ho * wo * cout;
      const auto t0 = std::chrono::steady_clock::now();
      mk::inverted_residual(a, isa);
      if (r >= 5) t[v].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  mk::set_band_phase_sink(nullptr);
  for (auto& v : t) std::sort(v.begin(), v.end());
  if (bands_only) t[1] = t[0];
  const double bands = t[0][t[0].size() / 2], per_op = t[1][t[1].size() / 2];
  const double stem_macs = with_stem ? double(H * W * cin) * 27 : 0;
  const double macs = stem_macs + double(H * W * cin * (hid == cin ? 0 : hid)) + double(ho * wo * hid) * (k * k + cout);
  std::printf("ir %lldx%lld %lld-%lld-%lld k%d s%d se%d %s: row bands %.1f us (%.1f GFLOP/s), per-op %.1f us, "
              "ratio %.2f\n",
              (long long)H, (long long)W, (long long)cin, (long long)hid, (long long)cout, k, s, int(se),
              mk::isa_name(isa), bands * 1e6, 2 * macs / bands / 1e9, per_op * 1e6, per_op / bands);
  if (phases) {
    // Means over all 60 calls (warm-up included), in the block's MAC counts' terms.
    const double calls = 60, dw_macs = double(ho * wo * hid) * k * k;
    const double expand_macs = with_stem ? stem_macs : double(H * W * cin * (hid == cin ? 0 : hid));
    const double project_macs = double(ho * wo * hid) * cout;
    const auto phase = [&](const char* name, double s, double macs) {
      std::printf("  %-8s %8.1f us  %6.1f GMAC/s\n", name, s / calls * 1e6, macs / (s / calls) / 1e9);
    };
    phase(with_stem ? "stem" : "expand", phase_times.expand_s, expand_macs);
    phase("dw", phase_times.dw_s, dw_macs);
    if (se) {
      phase("se", phase_times.se_s, 0);
      phase("scale", phase_times.scale_s, 0);
    }
    phase("project", phase_times.project_s, project_macs);
  }
  return 0;
}
