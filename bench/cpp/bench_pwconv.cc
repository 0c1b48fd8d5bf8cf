// GEMM (pointwise conv) timing without Python: best of N calls on one layer shape.
//   mk_bench_pwconv M K N [isa=auto] [threads=1] [panels=0|1]
// MK_COLD=1: before each call, evict the caches (read 64 MiB) and read X back in, so the
// weights come from DRAM and the input from cache, as for a layer inside a network at
// batch 1; prints the median instead of the best. With MK_COLD, MK_WARMY=1 / MK_WARMB=1
// also read Y / the B panels back in (which cold lines cost). MK_MEDIAN=1: the median of
// warm calls instead of the best.
// MK_AB=SWITCH: alternate calls with that tuning switch (csrc/runtime/tuning.h) off and on
// and print both (an in-process A/B: same binary, same machine state).
// MK_XSLICES=S: x is S slices of M rows and call r reads slice r % S; with MK_XAB=1, calls
// alternate between slice 0 (warm) and the next of the other S - 1 (a band's rows of a
// larger image, read from L3 as inside a block) and print both medians.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "evict_caches.h"
#include "ops/pwconv.h"
#include "runtime/scratch.h"
#include "runtime/thread_pool.h"
#include "runtime/tuning.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s M K N [isa] [threads]\n", argv[0]);
    return 2;
  }
  const int64_t M = std::atoll(argv[1]), K = std::atoll(argv[2]), N = std::atoll(argv[3]);
  const std::string isa_name = argc > 4 ? argv[4] : "auto";
  mk::ThreadPool::instance().set_num_threads(argc > 5 ? std::atoi(argv[5]) : 1);
  const bool panels = argc > 6 && std::atoi(argv[6]) != 0;
  const int64_t slices = std::max<int64_t>(1, std::getenv("MK_XSLICES") ? std::atoll(std::getenv("MK_XSLICES")) : 1);
  mk::FloatBuffer x(slices * M * K, 0.5f), packed((K + 1) * N, 0.01f), y(M * N);
  mk::FloatBuffer paneled(mk::gemm_panels_size(K, N));
  mk::pack_gemm_panels(packed.data(), K, N, paneled.data());
  mk::PwconvArgs a{x.data(), panels ? paneled.data() : packed.data(), nullptr, y.data(), M,
                   mk::GemmParams{K, N, mk::Activation::kRelu6, panels}};
  const mk::Isa isa = mk::parse_isa(isa_name);
  for (int r = 0; r < 5; ++r) mk::pwconv_bn_act(a, isa);
  const bool cold = std::getenv("MK_COLD") != nullptr;
  const char* ab = std::getenv("MK_AB");
  if (std::getenv("MK_XAB") && slices > 1) {
    std::vector<double> t[2];
    for (int r = 0; r < 4000; ++r) {
      a.x = x.data() + (r % 2 ? 1 + (r / 2) % (slices - 1) : 0) * M * K;
      const auto t0 = std::chrono::steady_clock::now();
      mk::pwconv_bn_act(a, isa);
      if (r >= 200) t[r % 2].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    for (auto& v : t) std::sort(v.begin(), v.end());
    std::printf("pw M=%lld K=%lld N=%lld: x warm %.1f us, x sliding %.1f us\n", (long long)M, (long long)K, (long long)N,
                t[0][t[0].size() / 2] * 1e6, t[1][t[1].size() / 2] * 1e6);
    return 0;
  }
  std::vector<double> times[2];
  volatile float sink = 0;
  for (int r = 0; r < (ab ? 400 : 50); ++r) {
    const int v = ab ? r % 2 : 0;
    if (ab) mk::set_tuning(ab, v == 1);
    if (cold) {
      float s = evict_caches();
      for (int64_t i = 0; i < M * K; i += 16) s += x[i];
      if (std::getenv("MK_WARMY")) for (int64_t i = 0; i < M * N; i += 16) s += y[i];
      if (std::getenv("MK_WARMB")) for (size_t i = 0; i < paneled.size(); i += 16) s += paneled[i];
      if (std::getenv("MK_WARMB_FIRST"))  // only the first 64-column tile's four panels
        for (int64_t i = 0; i < std::min<int64_t>(paneled.size(), 4 * (K + 1) * 16); i += 16) s += paneled[i];
      sink = sink + s;
    }
    a.x = x.data() + (r % slices) * M * K;
    const auto t0 = std::chrono::steady_clock::now();
    mk::pwconv_bn_act(a, isa);
    times[v].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  for (auto& t : times) std::sort(t.begin(), t.end());
  if (ab) {
    std::printf("pw M=%lld K=%lld N=%lld %s: %s off min %.1f med %.1f us, on min %.1f med %.1f us, min ratio %.3f\n",
                (long long)M, (long long)K, (long long)N, mk::isa_name(isa), ab, times[0][0] * 1e6,
                times[0][times[0].size() / 2] * 1e6, times[1][0] * 1e6, times[1][times[1].size() / 2] * 1e6,
                times[0][0] / times[1][0]);
    return 0;
  }
  const double best = cold || std::getenv("MK_MEDIAN") ? times[0][times[0].size() / 2] : times[0][0];
  std::printf("pw M=%lld K=%lld N=%lld %s%s%s: %.1f us, %.1f GFLOP/s\n", (long long)M, (long long)K, (long long)N,
              mk::isa_name(isa), panels ? " panels" : "", cold ? " cold" : "", best * 1e6,
              2.0 * M * K * N / best / 1e9);
  return 0;
}
