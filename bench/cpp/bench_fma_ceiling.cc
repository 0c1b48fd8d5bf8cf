// The core's FMA ceilings, for the % of peak the GEMM and depthwise notes quote: zmm FMAs
// alone, and the AVX-512 GEMM tile's k loop (6 rows x 64 columns: 24 FMAs per step) with
// its operands from registers, 4 B vectors from L1, and 4 B vectors + 6 A broadcasts (the
// real loop), and with the broadcasts embedded in the FMAs instead. On the session-17
// Intel VM: 229-267 GFLOP/s alone, ~200 for the real loop (bench/NOTES.md).
//   mk_bench_fma_ceiling
#include <immintrin.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace {

constexpr long kSteps = 20000000;

#define MK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

// 16 independent FMA chains, nothing else.
__attribute__((target("avx512f"), noinline)) double fma_alone() {
#define MK_DECL16(i) __m512 a##i = _mm512_set1_ps(1.0f + i * 1e-7f), b##i = _mm512_set1_ps(1.5f + i * 1e-7f);
  MK_ROWS(MK_DECL16) MK_DECL16(6) MK_DECL16(7)
#undef MK_DECL16
  const __m512 m = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
  const auto t0 = std::chrono::steady_clock::now();
  for (long n = 0; n < kSteps; ++n) {
#define MK_F(i) a##i = _mm512_fmadd_ps(a##i, m, c); b##i = _mm512_fmadd_ps(b##i, m, c);
    MK_ROWS(MK_F) MK_F(6) MK_F(7)
#undef MK_F
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
#define MK_SUM(i) sum = _mm512_add_ps(sum, _mm512_add_ps(a##i, b##i));
  __m512 sum = _mm512_setzero_ps();
  MK_ROWS(MK_SUM) MK_SUM(6) MK_SUM(7)
#undef MK_SUM
  volatile float sink = _mm512_reduce_add_ps(sum);
  (void)sink;
  return kSteps * 16.0 * 32 / s / 1e9;
}

// The 6 x 64 tile's k loop. mode 0: operands in registers; 1: the 4 B vectors loaded;
// 2: and the 6 A values broadcast from memory; 3: broadcasts embedded in each FMA.
template <int kMode>
__attribute__((target("avx512f"), noinline)) double tile_loop(const float* buf) {
#define MK_DECL(i) __m512 c##i##0 = _mm512_set1_ps(1.0f), c##i##1 = c##i##0, c##i##2 = c##i##0, c##i##3 = c##i##0;
  MK_ROWS(MK_DECL)
#undef MK_DECL
  const auto t0 = std::chrono::steady_clock::now();
  for (long n = 0; n < kSteps; ++n) {
    const float* q = buf + (n & 15) * 64;  // B: 16 rows of 64 floats; A: 16 floats at 1024
    __m512 b0, b1, b2, b3;
    if constexpr (kMode >= 1) {
      b0 = _mm512_load_ps(q), b1 = _mm512_load_ps(q + 16), b2 = _mm512_load_ps(q + 32), b3 = _mm512_load_ps(q + 48);
    } else {
      b0 = b1 = b2 = b3 = _mm512_set1_ps(0.999f);
      __asm__("" : "+v"(b0), "+v"(b1), "+v"(b2), "+v"(b3));
    }
#define MK_FMA(i)                                                                   \
  if constexpr (kMode == 3) {                                                       \
    const float* e = q + 1024 + i;                                                  \
    __asm__("vfmadd231ps %1%{1to16%}, %2, %0" : "+v"(c##i##0) : "m"(*e), "v"(b0)); \
    __asm__("vfmadd231ps %1%{1to16%}, %2, %0" : "+v"(c##i##1) : "m"(*e), "v"(b1)); \
    __asm__("vfmadd231ps %1%{1to16%}, %2, %0" : "+v"(c##i##2) : "m"(*e), "v"(b2)); \
    __asm__("vfmadd231ps %1%{1to16%}, %2, %0" : "+v"(c##i##3) : "m"(*e), "v"(b3)); \
  } else {                                                                          \
    __m512 a = _mm512_set1_ps(kMode == 2 ? q[1024 + i] : 0.999f);                   \
    if constexpr (kMode < 2) __asm__("" : "+v"(a));                                 \
    c##i##0 = _mm512_fmadd_ps(a, b0, c##i##0);                                      \
    c##i##1 = _mm512_fmadd_ps(a, b1, c##i##1);                                      \
    c##i##2 = _mm512_fmadd_ps(a, b2, c##i##2);                                      \
    c##i##3 = _mm512_fmadd_ps(a, b3, c##i##3);                                      \
  }
    MK_ROWS(MK_FMA)
#undef MK_FMA
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  __m512 sum = _mm512_setzero_ps();
#define MK_SUM(i) \
  sum = _mm512_add_ps(sum, _mm512_add_ps(_mm512_add_ps(c##i##0, c##i##1), _mm512_add_ps(c##i##2, c##i##3)));
  MK_ROWS(MK_SUM)
#undef MK_SUM
  volatile float sink = _mm512_reduce_add_ps(sum);
  (void)sink;
  return kSteps * 24.0 * 32 / s / 1e9;
}

}  // namespace

int main() {
  if (!__builtin_cpu_supports("avx512f")) {
    std::printf("no AVX-512F on this CPU\n");
    return 0;
  }
  float* buf = static_cast<float*>(std::aligned_alloc(64, 2048 * sizeof(float)));
  for (int i = 0; i < 2048; ++i) buf[i] = 1e-7f;
  for (int rep = 0; rep < 3; ++rep) {
    std::printf("GFLOP/s: zmm FMAs alone %.1f | 6x64 loop: registers %.1f, B loads %.1f, B loads + A broadcasts "
                "%.1f, embedded broadcasts %.1f\n",
                fma_alone(), tile_loop<0>(buf), tile_loop<1>(buf), tile_loop<2>(buf), tile_loop<3>(buf));
  }
  std::free(buf);
  return 0;
}
