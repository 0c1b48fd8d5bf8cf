// Depthwise rows in pairs (oy, oy + 1), one template for the SIMD ISAs: each of the K + S
// input rows of a pair is loaded once for both output rows (stride 1: (K + 1) / (2K) of
// the row kernel's input loads, a third less L2 -> L1 traffic at K = 3; stride 2: one row
// shared and twice the independent FMA chains). Included by the ISA kernel files, which
// compile it with their own target flags; `Ops` is that ISA's vector interface:
//   V, Mask, kLanes (floats per vector), kPixels (pixels per group: 2 * kPixels
//   accumulators + 2 * K weights must fit the register file), kByteOffsets (whole
//   channel blocks load through Strided when dw_pair_offsets is on), kBlockLoop (3x3: a
//   group's channel blocks in one call when dw_pair_block_loop is on), kKernelRows (5x5:
//   FMAs by kernel row when dw_pair_kernel_rows is on), kTightBlocks (3x3, kPixels 4:
//   whole-block groups, interior or padded, through tight_blocks when dw_pair_tight is on);
//   load<Masked>(p, mask), store<Masked>(p, v, mask), fma(a, b, c), act<A>(v),
//   all() (the full mask), tail(n) (the first n lanes);
//   row(p, x, packed, y_row, oy) (the single-row kernel, for rows that do not pair);
//   generic_pixel<A>(p, x, packed, y_row, oy, ox, c_main, tail) (any pixel, valid taps).
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "../runtime/tuning.h"
#include "dwconv.h"
#include "unroll.h"

namespace mk {
namespace dwconv_pairs {

// Element i (< N) of a run N elements long, `stride` floats apart: one of ceil(N / 3) bases
// 3 elements apart plus 0, 1 or 2 strides, so every load is one instruction with an
// addressing mode (base + index * 1 or 2) and the bases and the stride stay in registers.
// With `p + i * stride` GCC advanced one pointer per load instead (an add per load).
template <int N>
struct Strided {
  const char* base[(N + 2) / 3];
  int64_t s;
  Strided(const float* p, int64_t stride) : s(stride * static_cast<int64_t>(sizeof(float))) {
MK_UNROLL(4)
    for (int j = 0; j < (N + 2) / 3; ++j) base[j] = reinterpret_cast<const char*>(p) + 3 * j * s;
  }
  const float* at(int i) const { return reinterpret_cast<const float*>(base[i / 3] + (i % 3) * s); }
};

// The same run addressed as p + i * stride (what GCC schedules best for 3x3 and 5x5 stride 1).
struct Linear {
  const float* p;
  int64_t stride;
  Linear(const float* p_, int64_t stride_) : p(p_), stride(stride_) {}
  const float* at(int i) const { return p + i * stride; }
};

template <bool Off, int N>
using Run = std::conditional_t<Off, Strided<N>, Linear>;

// Two output rows x Ops::kPixels pixels x one vector of channels [c, c + kLanes) at
// stride S, dilation 1, both rows' windows inside the image vertically. Padded: input
// columns outside the image are skipped (a predictable branch per column) and pixels
// j >= valid are not stored. Off: loads addressed through Strided (dw_pair_offsets), else
// Linear. ByRow: the FMAs grouped by kernel row, not by input row (dw_pair_kernel_rows).
template <class Ops, int K, int S, bool Masked, bool Padded, Activation A, bool Off = false, bool ByRow = false>
__attribute__((always_inline)) inline void sliding_pair(const DwconvParams& p, const float* x, const float* packed,
                                                       float* y_row0, float* y_row1, int64_t c,
                                                       typename Ops::Mask mask, int64_t iy0, int64_t ox0,
                                                       int64_t valid) {
  using V = typename Ops::V;
  constexpr int P = Ops::kPixels;
  constexpr int kInputs = (P - 1) * S + K;
  const int64_t C = p.channels;
  const int64_t ix0 = ox0 * S - p.pad_left;
  int64_t in_lo = 0, in_hi = kInputs;
  if (Padded) dwconv_group_inputs(p, ix0, kInputs, in_lo, in_hi);
  const V bias = Ops::template load<Masked>(packed + static_cast<int64_t>(K) * K * C + c, mask);
  V a0[P], a1[P];
MK_UNROLL(8)
  for (int j = 0; j < P; ++j) a0[j] = a1[j] = bias;
  if constexpr (ByRow) {
    // By kernel row: row kr of the kernel meets input row kr (output row 0) and kr + S
    // (output row 1) with the same K weights, both rows' chains advancing together. Per
    // accumulator the FMAs come in the same order as below (same bits).
MK_UNROLL(5)
    for (int kr = 0; kr < K; ++kr) {
      const float* xr0 = x + ((iy0 + kr) * p.width + ix0) * C + c;
      const Run<Off, K> wr(packed + static_cast<int64_t>(kr) * K * C + c, C);
      V w[K];
MK_UNROLL(5)
      for (int kx = 0; kx < K; ++kx) w[kx] = Ops::template load<Masked>(wr.at(kx), mask);
      const Run<Off, kInputs> in0(xr0, C), in1(xr0 + S * p.width * C, C);
MK_UNROLL(32)
      for (int i = 0; i < kInputs; ++i) {
        if (Padded && (i < in_lo || i >= in_hi)) continue;  // padding: contributes nothing
        const V x0 = Ops::template load<Masked>(in0.at(i), mask);
        const V x1 = Ops::template load<Masked>(in1.at(i), mask);
MK_UNROLL(8)
        for (int j = 0; j < P; ++j) {
          const int kx = i - j * S;
          if (kx >= 0 && kx < K) {
            a0[j] = Ops::fma(x0, w[kx], a0[j]);
            a1[j] = Ops::fma(x1, w[kx], a1[j]);
          }
        }
      }
    }
  } else {
MK_UNROLL(7)
    for (int r = 0; r < K + S; ++r) {  // input row iy0 + r: kernel row r of output row 0, r - S of row 1
      const float* xr = x + ((iy0 + r) * p.width + ix0) * C + c;
      V w0[K], w1[K];
      const Run<Off, K> wr0(packed + static_cast<int64_t>(r) * K * C + c, C);
      const Run<Off, K> wr1(packed + static_cast<int64_t>(r - S) * K * C + c, C);
MK_UNROLL(5)
      for (int kx = 0; kx < K; ++kx) {
        if (r < K) w0[kx] = Ops::template load<Masked>(wr0.at(kx), mask);
        if (r >= S) w1[kx] = Ops::template load<Masked>(wr1.at(kx), mask);
      }
      const Run<Off, kInputs> in(xr, C);
MK_UNROLL(32)
      for (int i = 0; i < kInputs; ++i) {
        if (Padded && (i < in_lo || i >= in_hi)) continue;  // padding: contributes nothing
        const V xv = Ops::template load<Masked>(in.at(i), mask);
MK_UNROLL(8)
        for (int j = 0; j < P; ++j) {
          const int kx = i - j * S;
          if (kx >= 0 && kx < K) {
            if (r < K) a0[j] = Ops::fma(xv, w0[kx], a0[j]);
            if (r >= S) a1[j] = Ops::fma(xv, w1[kx], a1[j]);
          }
        }
      }
    }
  }
  float* y0 = y_row0 + ox0 * C + c;
  float* y1 = y_row1 + ox0 * C + c;
MK_UNROLL(8)
  for (int j = 0; j < P; ++j) {
    if (Padded && j >= valid) break;
    Ops::template store<Masked>(y0 + j * C, Ops::template act<A>(a0[j]), mask);
    Ops::template store<Masked>(y1 + j * C, Ops::template act<A>(a1[j]), mask);
  }
}

// One channel block per call: 5x5 groups, channel tails, and 3x3 with dw_pair_block_loop off.
template <class Ops, int K, int S, bool Masked, bool Padded, Activation A, bool Off, bool ByRow>
__attribute__((noinline)) void pair_block(const DwconvParams& p, const float* x, const float* packed, float* y_row0,
                                          float* y_row1, int64_t c, typename Ops::Mask mask, int64_t iy0, int64_t ox0,
                                          int64_t valid) {
  sliding_pair<Ops, K, S, Masked, Padded, A, Off, ByRow>(p, x, packed, y_row0, y_row1, c, mask, iy0, ox0, valid);
}

// Calls f(ox, valid) for each group of P columns of [ox_begin, ox_end): the last group is
// shifted left to end at ox_end (recomputing a few pixels, same values) when the range holds
// P or more, else it is one group of ox_end - ox_begin valid columns (padded groups only).
template <int P, class F>
__attribute__((always_inline)) inline void for_each_group(int64_t ox_begin, int64_t ox_end, F&& f) {
  for (int64_t ox = ox_begin;;) {
    f(ox, std::min<int64_t>(P, ox_end - ox));
    if (ox + P >= ox_end) return;
    ox = std::min<int64_t>(ox + P, ox_end - P);
  }
}

// Whole channel blocks [c, c_end) in one call: the group's addresses are set up once and
// step by a vector per block, not recomputed per block behind a call (per block the call
// had ~70 integer instructions around 72 FMAs: prologue, imuls, register copies).
template <class Ops, int K, int S, bool Padded, Activation A, bool Off, bool ByRow>
__attribute__((always_inline)) inline void pair_blocks_body(const DwconvParams& p, const float* x, const float* packed,
                                                            float* y_row0, float* y_row1, int64_t c, int64_t c_end,
                                                            int64_t iy0, int64_t ox0, int64_t valid) {
  for (; c < c_end; c += Ops::kLanes) {
    sliding_pair<Ops, K, S, false, Padded, A, Off, ByRow>(p, x, packed, y_row0, y_row1, c, Ops::all(), iy0, ox0, valid);
  }
}

// Input column i (0-8) of a 3x3 group, i * C floats from p, as one addressing mode: base +
// index register * 1, 2, 4 or 8, the index being C * 4 bytes or its 3, 5 or 7 multiple.
struct ColumnStrides {
  int64_t c4, c12, c20, c28;
  explicit ColumnStrides(int64_t channels) : c4(channels * 4), c12(3 * c4), c20(5 * c4), c28(7 * c4) {}
};

template <class T>
__attribute__((always_inline)) inline T* column(T* p, const ColumnStrides& s, int i) {
  const int64_t off[9] = {0, s.c4, 2 * s.c4, s.c12, 4 * s.c4, s.c20, 2 * s.c12, s.c28, 8 * s.c4};
  using Byte = std::conditional_t<std::is_const_v<T>, const char, char>;
  return reinterpret_cast<T*>(reinterpret_cast<Byte*>(p) + off[i]);  // i is a constant once unrolled
}

// A 3x3 pair group's whole channel blocks [0, c_end), its input columns [Lo, Hi) inside the
// image (the others padding, skipped), by kernel row: step kr feeds kernel row kr to input
// row kr (output row 0) and kr + S (output row 1), so all 2 * kPixels FMA chains advance
// together, and every address is a pointer stepped once per block plus a constant-scaled
// index register (ColumnStrides).
// sliding_pair's addressing (a pointer advanced per load, offsets rebuilt per block with
// multiplies) made ~210 instructions per 72 FMAs and GCC spilled; this is ~130, and the
// chains no longer wait for the rows that feed only one output row. Per accumulator the FMAs
// come in the same order as in sliding_pair (bias, then taps row by row): same bits.
template <class Ops, int S, Activation A, int Lo, int Hi>
__attribute__((always_inline)) inline void tight_blocks(const DwconvParams& p, const float* x, const float* packed,
                                                        float* y_row0, float* y_row1, int64_t c_end, int64_t iy0,
                                                        int64_t ox0) {
  using V = typename Ops::V;
  // 3x3 only: 5x5 stride 1 (8 columns) measured 1.00-1.04x per op and in blocks (AVX2, Zen
  // 3), GCC spilling the 6 row pointers and the 5 weights beside 8 accumulators.
  constexpr int K = 3, P = 4, kInputs = (P - 1) * S + K;
  static_assert(Ops::kPixels == P, "tight_blocks: 4-pixel groups (input columns 0-8)");
  const int64_t C = p.channels;
  const ColumnStrides cs(C);
  const float* row[K + S];
  row[0] = x + (iy0 * p.width + ox0 * S - p.pad_left) * C;
MK_UNROLL(5)
  for (int r = 1; r < K + S; ++r) row[r] = row[r - 1] + p.width * C;
  const float* w = packed;
  const float* bias = packed + static_cast<int64_t>(K) * K * C;
  float* y0 = y_row0 + ox0 * C;
  float* y1 = y_row1 + ox0 * C;
  const typename Ops::Mask all = Ops::all();
  for (int64_t c = 0; c < c_end; c += Ops::kLanes) {
    const V b = Ops::template load<false>(bias, all);
    V a0[P], a1[P];
MK_UNROLL(4)
    for (int j = 0; j < P; ++j) a0[j] = a1[j] = b;
MK_UNROLL(3)
    for (int kr = 0; kr < K; ++kr) {
      const float* wk = column(w, cs, K * kr);  // kernel row kr: taps 3 kr .. 3 kr + 2
      V wv[K];
MK_UNROLL(3)
      for (int kx = 0; kx < K; ++kx) wv[kx] = Ops::template load<false>(column(wk, cs, kx), all);
MK_UNROLL(9)
      for (int i = 0; i < kInputs; ++i) {
        if (i < Lo || i >= Hi) continue;  // a padding column: contributes nothing
        const V u = Ops::template load<false>(column(row[kr], cs, i), all);
        const V v = Ops::template load<false>(column(row[kr + S], cs, i), all);
MK_UNROLL(4)
        for (int j = 0; j < P; ++j) {
          const int kx = i - j * S;
          if (kx >= 0 && kx < K) {
            a0[j] = Ops::fma(u, wv[kx], a0[j]);
            a1[j] = Ops::fma(v, wv[kx], a1[j]);
          }
        }
      }
    }
MK_UNROLL(4)
    for (int j = 0; j < P; ++j) {
      Ops::template store<false>(column(y0, cs, j), Ops::template act<A>(a0[j]), all);
      Ops::template store<false>(column(y1, cs, j), Ops::template act<A>(a1[j]), all);
    }
MK_UNROLL(5)
    for (int r = 0; r < K + S; ++r) row[r] += Ops::kLanes;
    w += Ops::kLanes;
    bias += Ops::kLanes;
    y0 += Ops::kLanes;
    y1 += Ops::kLanes;
  }
}

// One call per group: inlined into the row's group loop, the loop's own variables pushed
// the block loop's 13-15 pointers and strides into spills (45 -> ~33 GMAC/s at 144 x 56 x 56
// from L2, AVX2, Zen 3).
template <class Ops, int S, Activation A, int Lo, int Hi>
__attribute__((noinline)) void tight_group(const DwconvParams& p, const float* x, const float* packed, float* y_row0,
                                           float* y_row1, int64_t c_end, int64_t iy0, int64_t ox0) {
  tight_blocks<Ops, S, A, Lo, Hi>(p, x, packed, y_row0, y_row1, c_end, iy0, ox0);
}

// Whether tight groups pay (dw_pair_tight on): AVX2 A/B (Zen 3) 1.04-1.25x from 24 channels
// up, and 1.11x at 16 with stride 1; at 16 channels stride 2 (two blocks a call, half the
// FMAs of a stride-1 row's columns) 0.92-0.97x against the inlined group loop. Nor where a
// group's columns are 4 KiB apart (C * S % 1024 == 0: 1024 channels, or 512 at stride 2):
// all its lines then share one L1 set, and the rows read twice by kernel row miss L1 again
// (0.90-0.94x at 512x14x14 stride 2, 0.96-0.975x at 1024 x 7x7 and 14x14; 512 channels at
// stride 1, two sets, 1.03x).
template <int S>
inline bool tight_pays(int64_t c_main) {
  return tuning().dw_pair_tight && (S == 1 || c_main >= 24) && c_main * S % 1024 != 0;
}

// A 3x3 group (every pixel stored, whole blocks) through tight_group when its input columns
// inside the image are [0 or 1, all or all but 1): interior groups, the groups at the ends of
// a row with one column of padding, and the middle groups of narrow rows, which run as padded
// groups (14x14, 7x7). False for any other group (the caller runs it as before).
template <class Ops, int S, Activation A>
bool tight_any_group(const DwconvParams& p, const float* x, const float* packed, float* y_row0, float* y_row1,
                     int64_t c_end, int64_t iy0, int64_t ox0) {
  constexpr int kInputs = 3 * S + 3, L = 1;
  int64_t lo, hi;
  dwconv_group_inputs(p, ox0 * S - p.pad_left, kInputs, lo, hi);
  const auto run = [&](auto lo_tag, auto hi_tag) {
    tight_group<Ops, S, A, decltype(lo_tag)::value, decltype(hi_tag)::value>(p, x, packed, y_row0, y_row1, c_end, iy0,
                                                                             ox0);
  };
  using Zero = std::integral_constant<int, 0>;
  using Pad = std::integral_constant<int, L>;
  using All = std::integral_constant<int, kInputs>;
  using AllButPad = std::integral_constant<int, kInputs - L>;
  if (lo == 0 && hi == kInputs) run(Zero{}, All{});
  else if (lo == L && hi == kInputs) run(Pad{}, All{});
  else if (lo == 0 && hi == kInputs - L) run(Zero{}, AllButPad{});
  else if (lo == L && hi == kInputs - L) run(Pad{}, AllButPad{});
  else return false;
  return true;
}

template <class Ops, int K, int S, bool Padded, Activation A, bool Off, bool ByRow>
__attribute__((noinline)) void pair_blocks(const DwconvParams& p, const float* x, const float* packed, float* y_row0,
                                           float* y_row1, int64_t c, int64_t c_end, int64_t iy0, int64_t ox0,
                                           int64_t valid) {
  pair_blocks_body<Ops, K, S, Padded, A, Off, ByRow>(p, x, packed, y_row0, y_row1, c, c_end, iy0, ox0, valid);
}

// A row pair's interior groups (3x3, no tail) with the block loop inlined into the group loop:
// one call per group covered only 2-4 blocks on 16-32 channels, and its ~60 instructions
// of call and address set-up cost 4-7% of those rows (dw_pair_row_inline, bench/NOTES.md).
template <class Ops, int K, int S, Activation A>
__attribute__((noinline)) void pair_row_blocks(const DwconvParams& p, const float* x, const float* packed,
                                               float* y_row0, float* y_row1, int64_t c_main, int64_t iy0,
                                               int64_t ox_begin, int64_t ox_end) {
  if constexpr (Ops::kTightBlocks && K == 3) {
    if (tight_pays<S>(c_main)) {
      return for_each_group<Ops::kPixels>(ox_begin, ox_end, [&](int64_t ox, int64_t) {
        tight_group<Ops, S, A, 0, 3 * S + 3>(p, x, packed, y_row0, y_row1, c_main, iy0, ox);  // interior
      });
    }
  }
  for_each_group<Ops::kPixels>(ox_begin, ox_end, [&](int64_t ox, int64_t valid) {
    pair_blocks_body<Ops, K, S, false, A, false, false>(p, x, packed, y_row0, y_row1, 0, c_main, iy0, ox, valid);
  });
}

template <class Ops, int K, int S, bool Padded, Activation A, bool Off, bool ByRow>
inline void pair_group(const DwconvParams& p, const float* x, const float* packed, float* y_row0, float* y_row1,
                       int64_t c_main, typename Ops::Mask tail, int64_t iy0, int64_t ox, int64_t valid, bool loop) {
  bool looped = false;
  if constexpr (K == 3 && Ops::kBlockLoop) {  // `loop` is only ever set for these (pair_row)
    if (loop) {
      pair_blocks<Ops, K, S, Padded, A, Off, ByRow>(p, x, packed, y_row0, y_row1, 0, c_main, iy0, ox, valid);
      looped = true;
    }
  }
  if (!looped) {
    for (int64_t c = 0; c < c_main; c += Ops::kLanes) {
      pair_block<Ops, K, S, false, Padded, A, Off, ByRow>(p, x, packed, y_row0, y_row1, c, Ops::all(), iy0, ox, valid);
    }
  }
  if (c_main < p.channels) {
    pair_block<Ops, K, S, true, Padded, A, false, ByRow>(p, x, packed, y_row0, y_row1, c_main, tail, iy0, ox, valid);
  }
}

// Rows oy and oy + 1 in kPixels-pixel groups over columns [ox_begin, ox_end), every
// channel block (>= kPixels columns unless Padded; the last group shifted left to end at
// ox_end, recomputing a few pixels).
template <class Ops, int K, int S, bool Padded, Activation A>
void pair_row(const DwconvParams& p, const float* x, const float* packed, float* y_row0, float* y_row1,
              int64_t c_main, typename Ops::Mask tail, int64_t iy0, int64_t ox_begin, int64_t ox_end) {
  constexpr int P = Ops::kPixels;
  // 5x5 stride 2 only: AVX2 A/B (Zen 3) 1.16-1.79x; 5x5 stride 1 0.99-1.02x (1.16x once on 7x7),
  // 3x3 0.96-1.00x (GCC then spilled more of the 16 ymm registers, bench/NOTES.md).
  const bool off = Ops::kByteOffsets && K == 5 && S == 2 && tuning().dw_pair_offsets;
  // Channel blocks in one call: 3x3 only. 5x5 measured 0.57-0.62x in a loop (its weights
  // do not fit the registers beside the accumulators, and GCC's spills got worse; AVX2,
  // Zen 3), and 0.92-1.01x by kernel row.
  const bool loop = Ops::kBlockLoop && K == 3 && tuning().dw_pair_block_loop;
  // By kernel row: 5x5 only. AVX2 A/B (Zen 3) 5x5 1.02-1.10x (15 live vectors instead of
  // 19); 3x3 stride 1 0.94x, stride 2 0.98-1.01x.
  const bool by_row = Ops::kKernelRows && K == 5 && tuning().dw_pair_kernel_rows;
  const auto group = [&](auto off_tag, auto row_tag, int64_t ox, int64_t valid) {
    pair_group<Ops, K, S, Padded, A, decltype(off_tag)::value, decltype(row_tag)::value>(
        p, x, packed, y_row0, y_row1, c_main, tail, iy0, ox, valid, loop);
  };
  using Yes = std::true_type;
  using No = std::false_type;
  if constexpr (K == 3 && Ops::kBlockLoop && !Padded) {
    if (loop && c_main == p.channels && ox_end - ox_begin >= P && tuning().dw_pair_row_inline) {
      return pair_row_blocks<Ops, K, S, A>(p, x, packed, y_row0, y_row1, c_main, iy0, ox_begin, ox_end);
    }
  }
  const bool tight = Ops::kTightBlocks && K == 3 && c_main == p.channels && tight_pays<S>(c_main);
  for_each_group<P>(ox_begin, ox_end, [&](int64_t ox, int64_t valid) {
    if constexpr (Ops::kTightBlocks && K == 3) {
      if (tight && valid == P && tight_any_group<Ops, S, A>(p, x, packed, y_row0, y_row1, c_main, iy0, ox)) return;
    }
    if constexpr (K == 5 && Ops::kKernelRows) {
      if (by_row && off) group(Yes{}, Yes{}, ox, valid);
      else if (by_row) group(No{}, Yes{}, ox, valid);
      else if (off) group(Yes{}, No{}, ox, valid);
      else group(No{}, No{}, ox, valid);
    } else if constexpr (K == 5) {
      if (off) group(Yes{}, No{}, ox, valid);
      else group(No{}, No{}, ox, valid);
    } else {
      group(No{}, No{}, ox, valid);
    }
  });
}

// Rows oy and oy + 1 (y_row: row oy; row oy + 1 follows it) at stride S with the row
// kernel's column paths (dwconv_row_path): narrow rows as padded pair groups, wide rows
// with padded groups over the 8 columns at each end, or one-pixel edges around the
// interior. Rows that do not pair go through Ops::row.
template <class Ops, int S>
void rows2(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t oy) {
  const int64_t C = p.channels, out_row = p.out_width * C;
  float* y_row1 = y_row + out_row;
  const int64_t iy0 = oy * S - p.pad_top, ow = p.out_width;
  int64_t ox_begin, ox_end;
  dwconv_interior_columns(p, ox_begin, ox_end);
  const bool pair = p.stride_w == S && dwconv_pair_rows(p, oy, tuning().dw_row_pairs, tuning().dw_row_pairs_s2);
  const DwconvRowPath path =
      pair ? dwconv_row_path(p, ox_begin, ox_end, Ops::kLanes, tuning().dw_padded_rows, tuning().dw_edge_groups)
           : DwconvRowPath::kSplit;
  if (!pair || (path == DwconvRowPath::kSplit && ox_end - ox_begin < Ops::kPixels)) {
    Ops::row(p, x, packed, y_row, oy);
    if (oy + 1 < p.out_height) Ops::row(p, x, packed, y_row1, oy + 1);
    return;
  }
  const int64_t c_main = C / Ops::kLanes * Ops::kLanes;
  const typename Ops::Mask tail = Ops::tail(C - c_main);
  with_activation(p.act, [&](auto act) {
    constexpr Activation A = decltype(act)::value;
    const auto run = [&](auto k_tag) {
      constexpr int K = decltype(k_tag)::value;
      if (path == DwconvRowPath::kPaddedRow) {
        return pair_row<Ops, K, S, true, A>(p, x, packed, y_row, y_row1, c_main, tail, iy0, 0, ow);
      }
      if (path == DwconvRowPath::kEdgeGroups) {
        pair_row<Ops, K, S, true, A>(p, x, packed, y_row, y_row1, c_main, tail, iy0, 0, 8);
        pair_row<Ops, K, S, false, A>(p, x, packed, y_row, y_row1, c_main, tail, iy0, 8, ow - 8);
        return pair_row<Ops, K, S, true, A>(p, x, packed, y_row, y_row1, c_main, tail, iy0, ow - 8, ow);
      }
      for (int r = 0; r < 2; ++r) {
        float* yr = y_row + r * out_row;
        for (int64_t ox = 0; ox < ox_begin; ++ox) Ops::template generic_pixel<A>(p, x, packed, yr, oy + r, ox, c_main, tail);
        for (int64_t ox = ox_end; ox < ow; ++ox) Ops::template generic_pixel<A>(p, x, packed, yr, oy + r, ox, c_main, tail);
      }
      pair_row<Ops, K, S, false, A>(p, x, packed, y_row, y_row1, c_main, tail, iy0, ox_begin, ox_end);
    };
    if (p.kernel_w == 3) return run(std::integral_constant<int, 3>{});
    run(std::integral_constant<int, 5>{});
  });
}

}  // namespace dwconv_pairs
}  // namespace mk
