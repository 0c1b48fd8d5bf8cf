// Dense conv (the stem) timing without Python: best of N calls.
//   mk_bench_conv H CIN COUT K S [isa=auto] [threads=1]
// MK_NCHW=1: the input as NCHW planes (a network's first conv reads the image that way).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ops/conv.h"
#include "runtime/scratch.h"
#include "runtime/thread_pool.h"
#include "runtime/tuning.h"

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s H CIN COUT K S [isa] [threads]\n", argv[0]);
    return 2;
  }
  const int64_t H = std::atoll(argv[1]), cin = std::atoll(argv[2]), cout = std::atoll(argv[3]);
  const int k = std::atoi(argv[4]), s = std::atoi(argv[5]);
  const mk::Isa isa = mk::parse_isa(argc > 6 ? argv[6] : "auto");
  mk::ThreadPool::instance().set_num_threads(argc > 7 ? std::atoi(argv[7]) : 1);
  const int pad = (k - 1) / 2;
  const int64_t ho = (H + 2 * pad - k) / s + 1;
  mk::FloatBuffer x(H * H * cin, 0.5f), packed((k * k * cin + 1) * cout, 0.01f), y(ho * ho * cout);
  mk::ConvArgs a{x.data(), packed.data(), y.data(), 1, H, H, cin, cout, ho, ho, k, s, pad, pad, pad, pad,
                 mk::Activation::kRelu6};
  a.x_nchw = std::getenv("MK_NCHW") != nullptr;
  for (int r = 0; r < 5; ++r) mk::conv_bn_act(a, isa);
  // MK_AB=SWITCH: alternate calls with that tuning switch off and on (in-process A/B).
  const char* ab = std::getenv("MK_AB");
  double best[2] = {1e9, 1e9};
  for (int r = 0; r < (ab ? 400 : 100); ++r) {
    const int v = ab ? r % 2 : 0;
    if (ab) mk::set_tuning(ab, v == 1);
    const auto t0 = std::chrono::steady_clock::now();
    mk::conv_bn_act(a, isa);
    best[v] = std::min(best[v], std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  if (ab) std::printf("%s off %.1f us, on %.1f us, ratio %.3f\n", ab, best[0] * 1e6, best[1] * 1e6, best[0] / best[1]);
  const double macs = double(ho) * ho * cout * k * k * cin;
  const double t = best[ab ? 1 : 0];
  std::printf("conv %lldx%lld %lld->%lld k%d s%d %s%s: %.1f us, %.1f GFLOP/s\n", (long long)H, (long long)H,
              (long long)cin, (long long)cout, k, s, mk::isa_name(isa), a.x_nchw ? " nchw" : "", t * 1e6,
              2 * macs / t / 1e9);
  return 0;
}
