// Whether this vCPU has its core to itself (AVX2). Session 30's VM ran its FMA loops at the
// usual rate while the GEMM tile, with ~4 instructions a cycle, lost 15-30%: another
// hardware thread on the core took part of the front end, the load ports and the caches,
// not the FMA units. Three loops, alternated in rounds, medians and p90s:
//   fma   10 independent ymm FMA chains (~2.6 instructions a cycle): the clock
//   tile  the 6x16 GEMM tile's k loop on L1 data, one k step per iteration (27 instructions
//         per 12 FMAs as GCC compiles the library's old loop) and two (~23)
//   alu   8 independent integer adds per iteration (4 ALUs: ~4 a cycle alone)
// On a core of its own: tile ~= fma ~= 2 FMAs a cycle and alu ~= 4 adds a cycle.
//   mk_bench_core_share [rounds=40]
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

constexpr int kK = 256;  // the tile's k steps per call: A 6 KB, B 16 KB

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

__attribute__((target("avx2,fma"), noinline)) double fma_loop(long steps) {
  __m256 a0 = _mm256_set1_ps(1.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0;
  const __m256 m = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(1e-4f);
  const double t0 = now();
  for (long n = 0; n < steps; ++n) {
    a0 = _mm256_fmadd_ps(a0, m, c), a1 = _mm256_fmadd_ps(a1, m, c), a2 = _mm256_fmadd_ps(a2, m, c);
    a3 = _mm256_fmadd_ps(a3, m, c), a4 = _mm256_fmadd_ps(a4, m, c), a5 = _mm256_fmadd_ps(a5, m, c);
    a6 = _mm256_fmadd_ps(a6, m, c), a7 = _mm256_fmadd_ps(a7, m, c), a8 = _mm256_fmadd_ps(a8, m, c);
    a9 = _mm256_fmadd_ps(a9, m, c);
  }
  const double s = now() - t0;
  const __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                                   _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)),
                                                 _mm256_add_ps(a8, a9)));
  volatile float sink = _mm256_cvtss_f32(sum);
  (void)sink;
  return steps * 10.0 * 16 / s / 1e9;
}

// Step d of the 6x16 tile at k: 2 B vectors, 6 broadcasts, 12 FMAs.
#define MK_STEP(d)                                                                                  \
  {                                                                                                 \
    const __m256 b0 = _mm256_load_ps(b + 16 * (k + d)), b1 = _mm256_load_ps(b + 16 * (k + d) + 8);  \
    __m256 a = _mm256_broadcast_ss(x + k + d);                                                      \
    c00 = _mm256_fmadd_ps(a, b0, c00), c01 = _mm256_fmadd_ps(a, b1, c01);                           \
    a = _mm256_broadcast_ss(x + kK + k + d);                                                        \
    c10 = _mm256_fmadd_ps(a, b0, c10), c11 = _mm256_fmadd_ps(a, b1, c11);                           \
    a = _mm256_broadcast_ss(x + 2 * kK + k + d);                                                    \
    c20 = _mm256_fmadd_ps(a, b0, c20), c21 = _mm256_fmadd_ps(a, b1, c21);                           \
    a = _mm256_broadcast_ss(x + 3 * kK + k + d);                                                    \
    c30 = _mm256_fmadd_ps(a, b0, c30), c31 = _mm256_fmadd_ps(a, b1, c31);                           \
    a = _mm256_broadcast_ss(x + 4 * kK + k + d);                                                    \
    c40 = _mm256_fmadd_ps(a, b0, c40), c41 = _mm256_fmadd_ps(a, b1, c41);                           \
    a = _mm256_broadcast_ss(x + 5 * kK + k + d);                                                    \
    c50 = _mm256_fmadd_ps(a, b0, c50), c51 = _mm256_fmadd_ps(a, b1, c51);                           \
  }

template <int kPerIter>
__attribute__((target("avx2,fma"), noinline)) void tile_call(const float* x, const float* b, float* y) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int k = 0; k < kK; k += kPerIter) {
    MK_STEP(0)
    if constexpr (kPerIter == 2) MK_STEP(1)
  }
  const __m256 all[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
  for (int i = 0; i < 12; ++i) _mm256_store_ps(y + 8 * i, all[i]);
}
#undef MK_STEP

template <int kPerIter>
double tile_loop(const float* x, const float* b, float* y, long calls) {
  const double t0 = now();
  for (long n = 0; n < calls; ++n) tile_call<kPerIter>(x, b, y);
  return calls * 2.0 * 6 * 16 * kK / (now() - t0) / 1e9;
}

__attribute__((noinline)) double alu_loop(long steps) {
  long a = 1, b = 2, c = 3, d = 4;
  const double t0 = now();
  for (long n = 0; n < steps; ++n) {
    __asm__ volatile("add $1, %0\n\tadd $1, %1\n\tadd $1, %2\n\tadd $1, %3\n\t"
                     "add $1, %0\n\tadd $1, %1\n\tadd $1, %2\n\tadd $1, %3"
                     : "+r"(a), "+r"(b), "+r"(c), "+r"(d));
  }
  return steps * 8.0 / (now() - t0) / 1e9;
}

void report(const char* name, std::vector<double> v, const char* unit) {
  std::sort(v.begin(), v.end());
  std::printf("%-12s median %6.1f  p10 %6.1f  p90 %6.1f %s\n", name, v[v.size() / 2], v[v.size() / 10],
              v[v.size() * 9 / 10], unit);
}

}  // namespace

int main(int argc, char** argv) {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    std::printf("no AVX2+FMA on this CPU\n");
    return 0;
  }
  const int rounds = argc > 1 ? std::max(5, std::atoi(argv[1])) : 40;
  auto* x = static_cast<float*>(std::aligned_alloc(64, 6 * kK * sizeof(float)));
  auto* b = static_cast<float*>(std::aligned_alloc(64, 16 * kK * sizeof(float)));
  auto* y = static_cast<float*>(std::aligned_alloc(64, 96 * sizeof(float)));
  for (int i = 0; i < 6 * kK; ++i) x[i] = 1e-3f * (i % 7);
  for (int i = 0; i < 16 * kK; ++i) b[i] = 1e-3f * (i % 5);
  std::vector<double> fma, tile1, tile2, alu;
  for (int r = 0; r < rounds; ++r) {  // ~10 ms per loop per round
    fma.push_back(fma_loop(2000000));
    tile1.push_back(tile_loop<1>(x, b, y, 20000));
    tile2.push_back(tile_loop<2>(x, b, y, 20000));
    alu.push_back(alu_loop(20000000));
  }
  report("fma", fma, "GFLOP/s");
  report("tile 1/iter", tile1, "GFLOP/s");
  report("tile 2/iter", tile2, "GFLOP/s");
  report("alu", alu, "G adds/s");
  std::free(x), std::free(b), std::free(y);
  return 0;
}
