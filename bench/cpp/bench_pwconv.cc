// GEMM (pointwise conv) timing without Python: best of N calls on one layer shape.
//   mk_bench_pwconv M K N [isa=auto] [threads=1] [panels=0|1]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ops/pwconv.h"
#include "runtime/scratch.h"
#include "runtime/thread_pool.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s M K N [isa] [threads]\n", argv[0]);
    return 2;
  }
  const int64_t M = std::atoll(argv[1]), K = std::atoll(argv[2]), N = std::atoll(argv[3]);
  const std::string isa_name = argc > 4 ? argv[4] : "auto";
  mk::ThreadPool::instance().set_num_threads(argc > 5 ? std::atoi(argv[5]) : 1);
  const bool panels = argc > 6 && std::atoi(argv[6]) != 0;
  mk::FloatBuffer x(M * K, 0.5f), packed((K + 1) * N, 0.01f), y(M * N);
  mk::FloatBuffer paneled(mk::gemm_panels_size(K, N));
  mk::pack_gemm_panels(packed.data(), K, N, paneled.data());
  mk::PwconvArgs a{x.data(), panels ? paneled.data() : packed.data(), nullptr, y.data(), M,
                   mk::GemmParams{K, N, mk::Activation::kRelu6, panels}};
  const mk::Isa isa = mk::parse_isa(isa_name);
  for (int r = 0; r < 5; ++r) mk::pwconv_bn_act(a, isa);
  double best = 1e9;
  for (int r = 0; r < 50; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    mk::pwconv_bn_act(a, isa);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::printf("pw M=%lld K=%lld N=%lld %s%s: %.1f us, %.1f GFLOP/s\n", (long long)M, (long long)K, (long long)N,
              mk::isa_name(isa), panels ? " panels" : "", best * 1e6, 2.0 * M * K * N / best / 1e9);
  return 0;
}
