// Depthwise microkernel timing without Python: best of N calls on one MobileNet layer.
//   mk_bench_dwconv C H K S [isa=auto] [threads=1]
// MK_AB=SWITCH: alternate calls with that tuning switch (csrc/runtime/tuning.h) off and on
// and print both (an in-process A/B: same binary, same machine state).
// MK_COLD=1: rounds of an eviction (64 MiB read) then two calls: the first reads its input
// from DRAM, the second from L3 (a standalone layer in a network reads between the two);
// prints both medians (with MK_AB, per side, the switch alternating by round).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "evict_caches.h"
#include "ops/dwconv.h"
#include "runtime/scratch.h"
#include "runtime/thread_pool.h"
#include "runtime/tuning.h"

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s C H K S [isa] [threads]\n", argv[0]);
    return 2;
  }
  const int C = std::atoi(argv[1]), H = std::atoi(argv[2]), K = std::atoi(argv[3]), S = std::atoi(argv[4]);
  const std::string isa_name = argc > 5 ? argv[5] : "auto";
  mk::ThreadPool::instance().set_num_threads(argc > 6 ? std::atoi(argv[6]) : 1);
  const int pad = (K - 1) / 2;
  const int Ho = (H + 2 * pad - K) / S + 1;
  mk::FloatBuffer x(size_t(H) * H * C, 0.5f), packed(size_t(K * K + 1) * C, 0.1f), y(size_t(Ho) * Ho * C);
  mk::DwconvArgs a{x.data(), packed.data(), y.data(), 1,
                   mk::DwconvParams{H, H, C, Ho, Ho, K, K, S, S, pad, pad, 1, 1, mk::Activation::kRelu6}};
  const mk::Isa isa = mk::parse_isa(isa_name);
  for (int r = 0; r < 10; ++r) mk::dwconv_bn_act(a, isa);
  const auto seconds = [&] {  // one call's wall time
    const auto t0 = std::chrono::steady_clock::now();
    mk::dwconv_bn_act(a, isa);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  if (std::getenv("MK_COLD")) {
    const char* ab = std::getenv("MK_AB");
    volatile float sink = 0;
    std::vector<double> t[2][2];  // [switch][0: DRAM, 1: L3]
    for (int r = 0; r < 300; ++r) {
      const int side = ab ? r % 2 : 0;
      if (ab) mk::set_tuning(ab, side == 1);
      sink = sink + evict_caches();
      t[side][0].push_back(seconds());
      t[side][1].push_back(seconds());
    }
    const auto med = [](std::vector<double>& v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2] * 1e6;
    };
    for (int side = 0; side < (ab ? 2 : 1); ++side) {
      std::printf("dw%dx%ds%d C=%d %dx%d %s%s%s: input from DRAM med %.1f us, from L3 med %.1f us\n", K, K, S, C, H, H,
                  mk::isa_name(isa), ab ? " " : "", ab ? (side ? "on" : "off") : "", med(t[side][0]), med(t[side][1]));
    }
    return 0;
  }
  if (const char* ab = std::getenv("MK_AB")) {
    std::vector<double> t[2];
    for (int r = 0; r < 400; ++r) {
      mk::set_tuning(ab, r % 2 == 1);
      t[r % 2].push_back(seconds());
    }
    for (auto& v : t) std::sort(v.begin(), v.end());
    std::printf("dw%dx%ds%d C=%d %dx%d %s: %s off med %.1f us, on med %.1f us, ratio %.3f\n", K, K, S, C, H, H,
                mk::isa_name(isa), ab, t[0][100] * 1e6, t[1][100] * 1e6, t[0][100] / t[1][100]);
    return 0;
  }
  double best = 1e9;
  for (int r = 0; r < 200; ++r) best = std::min(best, seconds());
  const double macs = double(Ho) * Ho * C * K * K;
  const double bytes = 4.0 * (double(H) * H * C + double(Ho) * Ho * C + (K * K + 1.0) * C);
  std::printf("dw%dx%ds%d C=%d %dx%d %s: %.1f us, %.2f GMAC/s, %.1f GB/s\n", K, K, S, C, H, H,
              mk::isa_name(isa), best * 1e6, macs / best / 1e9, bytes / best / 1e9);
  return 0;
}
