// The stem tile (kernels/conv.h) for the SIMD ISAs, one template: R output pixels x C
// vectors of channels, the 27 taps a loop with the R x C FMAs of each unrolled. Per tap:
// C weight loads and R broadcasts, each a constant offset from the tap's pointer (pixel
// i's taps are 6 floats after pixel i - 1's in NHWC, 2 in an NCHW plane: Planar). The
// taps run in the same order for both layouts, so both give the same bits. Included by
// the ISA kernel files, which
// compile it with their own target flags; `Ops` is that ISA's vector interface:
//   V, Mask, kLanes (floats per vector), kRows1 / kRows2 (pixels per tile with one / two
//   vectors of channels: R * C accumulators + C weights + 1 broadcast fit the registers);
//   load(p, mask), store(p, v, mask), bcast(p), fma(a, b, c), act<A>(v), all(), tail(n).
#pragma once
#include <cstdint>
#include <type_traits>

#include "conv.h"
#include "unroll.h"

namespace mk {
namespace stem_tile {

constexpr int kTaps = 9;   // one kernel row: 3 pixels x 3 channels, contiguous in NHWC
// The next output pixel's taps: stride 2 x 3 channels in NHWC, stride 2 in a plane.
template <bool Planar>
constexpr int kPixel = Planar ? 2 : 6;

// plane_taps (Planar): tap t's offset from its kernel row's first tap, (t % 3) planes +
// t / 3. Computed per tap, the division and the multiply by the plane took more issue
// slots than the tap's FMAs (the NCHW stem ran at 57 GFLOP/s against 82 NHWC); unrolling
// the channel loop instead made GCC spill accumulators.
template <class Ops, int R, int C, Activation A, bool Planar>
__attribute__((always_inline)) inline void tile(const StemRow& r, const int64_t* plane_taps, const float* x,
                                                int64_t n0, typename Ops::Mask last, float* y) {
  using V = typename Ops::V;
  constexpr int L = Ops::kLanes;
  const int64_t n = r.n;
  const float* w = r.packed + n0;
  V acc[R][C];
MK_UNROLL(2)
  for (int c = 0; c < C; ++c) {
    const V bias = Ops::load(w + 27 * n + L * c, c + 1 == C ? last : Ops::all());
MK_UNROLL(24)
    for (int i = 0; i < R; ++i) acc[i][c] = bias;
  }
  // The tap loops stay loops: fully unrolled (648 FMAs in one block) GCC hoisted the
  // broadcasts of later taps and spilled the accumulators.
MK_UNROLL(1)
  for (int ky = 0; ky < 3; ++ky) {
    const float* row = x + ky * r.row_stride;
MK_UNROLL(1)
    for (int t = 0; t < kTaps; ++t) {
      // Tap t is (kx, ci) = (t / 3, t % 3), the weights' row order.
      const float* tap = Planar ? row + plane_taps[t] : row + t;
      // Planar: one register for the tap. GCC otherwise kept it as two (image + offset)
      // and formed each broadcast's address with an lea: 33 instructions per 12 FMAs,
      // 1.46x slower (AVX2, Zen 3). NHWC measured 3% slower with it.
      if constexpr (Planar) asm("" : "+r"(tap));
      V b[C];
MK_UNROLL(2)
      for (int c = 0; c < C; ++c) b[c] = Ops::load(w + (ky * kTaps + t) * n + L * c, c + 1 == C ? last : Ops::all());
MK_UNROLL(24)
      for (int i = 0; i < R; ++i) {
        const V a = Ops::bcast(tap + i * kPixel<Planar>);
MK_UNROLL(2)
        for (int c = 0; c < C; ++c) acc[i][c] = Ops::fma(a, b[c], acc[i][c]);
      }
    }
  }
MK_UNROLL(24)
  for (int i = 0; i < R; ++i) {
MK_UNROLL(2)
    for (int c = 0; c < C; ++c)
      Ops::store(y + i * n + L * c, Ops::template act<A>(acc[i][c]), c + 1 == C ? last : Ops::all());
  }
}

// Pixels in tiles of R; a last partial tile is moved back to end at the last pixel (it
// recomputes a few pixels with the same result) so every tile is whole.
template <class Ops, int R, int C, Activation A, bool Planar>
void columns(const StemRow& r, int64_t n0, typename Ops::Mask last) {
  int64_t plane_taps[kTaps] = {};
  if constexpr (Planar) {
    for (int t = 0; t < kTaps; ++t) plane_taps[t] = (t % 3) * r.plane + t / 3;
  }
  for (int64_t p = 0; p < r.pixels; p += R) {
    const int64_t q = p + R <= r.pixels ? p : r.pixels - R;
    tile<Ops, R, C, A, Planar>(r, plane_taps, r.x + q * kPixel<Planar>, n0, last, r.y + q * r.n + n0);
  }
}

// Channels in tiles of two vectors, a last one of one vector.
template <class Ops>
bool row(const StemRow& r) {
  constexpr int L = Ops::kLanes;
  const int64_t tail = r.n % (2 * L);
  if (r.pixels < (tail > 0 && tail <= L ? Ops::kRows1 : Ops::kRows2)) return false;
  const auto run = [&](auto planar) {
    constexpr bool P = decltype(planar)::value;
    with_activation(r.act, [&](auto act) {
      constexpr Activation A = decltype(act)::value;
      int64_t n0 = 0;
      for (; r.n - n0 > L; n0 += 2 * L) columns<Ops, Ops::kRows2, 2, A, P>(r, n0, Ops::tail(r.n - n0 - L));
      if (n0 < r.n) columns<Ops, Ops::kRows1, 1, A, P>(r, n0, Ops::tail(r.n - n0));
    });
  };
  if (r.plane > 0) run(std::true_type{});
  else run(std::false_type{});
  return true;
}

}  // namespace stem_tile
}  // namespace mk
