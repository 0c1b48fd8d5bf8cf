// AVX-512F depthwise row kernel: the AVX2 kernel's structure (dwconv_avx2.cc) on
// 16-channel blocks.
//
// Interior pixels (every tap inside the image) take a branch-free path: stride 1 runs
// 8 output pixels x 16 channels with a sliding input window in registers; other strides
// run groups of 4 output pixels (4 independent FMA chains; the sliding window at stride 2
// measured no faster inside the fused blocks, bench/NOTES.md). The channel tail (C % 16) is
// the same code with a lane mask: masked loads and stores touch no memory outside the
// tensor (a torch tensor has no spare bytes). Edge pixels (left/right padding) take the
// generic valid-taps path; padded rows are skipped by narrowing the ky range once per row.
#include <immintrin.h>

#include <algorithm>

#include "../dwconv.h"
#include "../dwconv_pairs.h"
#include "../../runtime/tuning.h"
#include "activation_avx512.h"
#include "../unroll.h"

namespace mk {

namespace {

constexpr int kPixels = 4;

template <bool Masked>
inline __m512 load16(const float* p, __mmask16 mask) {
  if constexpr (Masked) return _mm512_maskz_loadu_ps(mask, p);
  return _mm512_loadu_ps(p);
}

template <bool Masked>
inline void store16(float* p, __m512 v, __mmask16 mask) {
  if constexpr (Masked) {
    _mm512_mask_storeu_ps(p, mask, v);
  } else {
    _mm512_storeu_ps(p, v);
  }
}

// Output pixels [ox, ox + P) of one row (P = 4 or 1), channels [c, c + 16).
template <int K, int P, bool Masked, Activation A>
inline void interior_pixels(const DwconvParams& p, const float* x, const float* packed, float* y_row,
                            int64_t c, __mmask16 mask, int ky_lo, int ky_hi, int64_t iy0, int64_t ox) {
  static_assert(P == 4 || P == 1, "P is 4 or 1");
  const int64_t C = p.channels;
  const __m512 bias = load16<Masked>(packed + static_cast<int64_t>(K) * K * C + c, mask);
  const int64_t step = static_cast<int64_t>(p.stride_w) * C;  // next output pixel's input
  const int64_t tap_step = static_cast<int64_t>(p.dilation_w) * C;
  __m512 acc0 = bias, acc1 = bias, acc2 = bias, acc3 = bias;
  for (int ky = ky_lo; ky <= ky_hi; ++ky) {
    const int64_t iy = iy0 + static_cast<int64_t>(ky) * p.dilation_h;
    const float* xr = x + (iy * p.width + ox * p.stride_w - p.pad_left) * C + c;
    const float* wr = packed + static_cast<int64_t>(ky) * K * C + c;
    for (int kx = 0; kx < K; ++kx) {
      const __m512 wv = load16<Masked>(wr + kx * C, mask);
      const float* xp = xr + kx * tap_step;
      acc0 = _mm512_fmadd_ps(load16<Masked>(xp, mask), wv, acc0);
      if constexpr (P == 4) {
        acc1 = _mm512_fmadd_ps(load16<Masked>(xp + step, mask), wv, acc1);
        acc2 = _mm512_fmadd_ps(load16<Masked>(xp + 2 * step, mask), wv, acc2);
        acc3 = _mm512_fmadd_ps(load16<Masked>(xp + 3 * step, mask), wv, acc3);
      }
    }
  }
  float* y = y_row + ox * C + c;
  store16<Masked>(y, activation_avx512(acc0, A), mask);
  if constexpr (P == 4) {
    store16<Masked>(y + C, activation_avx512(acc1, A), mask);
    store16<Masked>(y + 2 * C, activation_avx512(acc2, A), mask);
    store16<Masked>(y + 3 * C, activation_avx512(acc3, A), mask);
  }
}

// 8 output pixels x 16 channels, stride 1, dilation 1: each input pixel of a kernel row
// is loaded once and feeds every output pixel whose window covers it (7 + K input and K
// weight loads per 8*K FMAs; 8 independent chains).
template <int K, bool Masked, Activation A>
inline void interior_pixels_sliding(const DwconvParams& p, const float* x, const float* packed, float* y_row,
                                    int64_t c, __mmask16 mask, int ky_lo, int ky_hi, int64_t iy0, int64_t ox) {
  constexpr int P = 8;
  constexpr int kInputs = P - 1 + K;
  const int64_t C = p.channels;
  const __m512 bias = load16<Masked>(packed + static_cast<int64_t>(K) * K * C + c, mask);
  __m512 acc[P];
MK_UNROLL(8)
  for (int j = 0; j < P; ++j) acc[j] = bias;
  for (int ky = ky_lo; ky <= ky_hi; ++ky) {
    const float* xr = x + ((iy0 + ky) * p.width + ox - p.pad_left) * C + c;
    const float* wr = packed + static_cast<int64_t>(ky) * K * C + c;
    __m512 w[K];
MK_UNROLL(5)
    for (int kx = 0; kx < K; ++kx) w[kx] = load16<Masked>(wr + kx * C, mask);
MK_UNROLL(16)
    for (int i = 0; i < kInputs; ++i) {
      const __m512 xv = load16<Masked>(xr + i * C, mask);
MK_UNROLL(8)
      for (int j = 0; j < P; ++j) {
        const int kx = i - j;
        if (kx >= 0 && kx < K) acc[j] = _mm512_fmadd_ps(xv, w[kx], acc[j]);
      }
    }
  }
  float* y = y_row + ox * C + c;
MK_UNROLL(8)
  for (int j = 0; j < P; ++j) store16<Masked>(y + j * C, activation_avx512(acc[j], A), mask);
}

// 8 output pixels x 16 channels at stride S (1 or 2), dilation 1, padding included: the
// sliding window of interior_pixels_sliding over input columns that may lie outside the
// image, which count as zeros (skipped: a predictable branch per input column). Pixels
// j >= `valid` are not stored. Small maps are mostly edges (7x7 with a 5x5 kernel: 4 of 7
// columns), where the generic path runs one pixel at a time; this runs 8 independent
// chains instead.
template <int K, int S, bool Masked, Activation A>
inline void padded_pixels(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t c,
                          __mmask16 mask, int ky_lo, int ky_hi, int64_t iy0, int64_t ox0, int64_t valid) {
  constexpr int P = 8;
  constexpr int kInputs = (P - 1) * S + K;
  const int64_t C = p.channels;
  const int64_t ix0 = ox0 * S - p.pad_left;
  int64_t in_lo, in_hi;  // the group's inputs inside the image
  dwconv_group_inputs(p, ix0, kInputs, in_lo, in_hi);
  const __m512 bias = load16<Masked>(packed + static_cast<int64_t>(K) * K * C + c, mask);
  __m512 acc[P];
MK_UNROLL(8)
  for (int j = 0; j < P; ++j) acc[j] = bias;
  for (int ky = ky_lo; ky <= ky_hi; ++ky) {
    const float* xr = x + ((iy0 + ky) * p.width + ix0) * C + c;
    const float* wr = packed + static_cast<int64_t>(ky) * K * C + c;
    __m512 w[K];
MK_UNROLL(5)
    for (int kx = 0; kx < K; ++kx) w[kx] = load16<Masked>(wr + kx * C, mask);
MK_UNROLL(32)
    for (int i = 0; i < kInputs; ++i) {
      if (i < in_lo || i >= in_hi) continue;  // padding: contributes nothing
      const __m512 xv = load16<Masked>(xr + i * C, mask);
MK_UNROLL(8)
      for (int j = 0; j < P; ++j) {
        const int kx = i - j * S;
        if (kx >= 0 && kx < K) acc[j] = _mm512_fmadd_ps(xv, w[kx], acc[j]);
      }
    }
  }
  float* y = y_row + ox0 * C + c;
MK_UNROLL(8)
  for (int j = 0; j < P; ++j) {
    if (j < valid) store16<Masked>(y + j * C, activation_avx512(acc[j], A), mask);
  }
}

// Output pixels [ox0, ox0 + min(8, valid)) of a row, every channel block, padding inside.
template <int K, int S, Activation A>
void padded_group(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t c_main,
                  __mmask16 tail, int ky_lo, int ky_hi, int64_t iy0, int64_t ox0, int64_t valid) {
  for (int64_t c = 0; c < c_main; c += 16) {
    padded_pixels<K, S, false, A>(p, x, packed, y_row, c, 0xFFFF, ky_lo, ky_hi, iy0, ox0, valid);
  }
  if (c_main < p.channels) padded_pixels<K, S, true, A>(p, x, packed, y_row, c_main, tail, ky_lo, ky_hi, iy0, ox0, valid);
}

// A whole row in 8-pixel groups with the padding inside them (narrow maps: out_width <= 16);
// the last group is shifted left to end at the row's end (recomputing a few pixels).
template <int K, int S, Activation A>
void padded_row(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t c_main,
                __mmask16 tail, int ky_lo, int ky_hi, int64_t iy0) {
  const int64_t ow = p.out_width;
  for (int64_t ox0 = 0;;) {
    padded_group<K, S, A>(p, x, packed, y_row, c_main, tail, ky_lo, ky_hi, iy0, ox0, std::min<int64_t>(8, ow - ox0));
    if (ox0 + 8 >= ow) return;
    ox0 = std::min(ox0 + 8, ow - 8);
  }
}

// Any pixel, any kernel size: loops over the taps that land inside the image. Four channel
// blocks at a time, so four independent FMA chains (one chain per block left the edge
// pixels latency-bound: 4 cycles per tap; on 7x7 maps with 5x5 kernels 4 of 7 columns
// are edges).
template <Activation A>
void generic_pixel(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t oy,
                   int64_t ox, int64_t c_main, __mmask16 tail) {
  const int64_t C = p.channels;
  const float* bias = packed + static_cast<int64_t>(p.kernel_h) * p.kernel_w * C;
  DwconvTaps taps;
  dwconv_valid_taps(p, oy, ox, taps);
  float* y = y_row + ox * C;
  int64_t c = 0;
  for (; c + 64 <= c_main; c += 64) {
    __m512 acc0 = _mm512_loadu_ps(bias + c), acc1 = _mm512_loadu_ps(bias + c + 16);
    __m512 acc2 = _mm512_loadu_ps(bias + c + 32), acc3 = _mm512_loadu_ps(bias + c + 48);
    for (int t = 0; t < taps.count; ++t) {
      const float* xt = x + taps.offset[t] + c;
      const float* wt = packed + taps.tap[t] * C + c;
      acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(xt), _mm512_loadu_ps(wt), acc0);
      acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(xt + 16), _mm512_loadu_ps(wt + 16), acc1);
      acc2 = _mm512_fmadd_ps(_mm512_loadu_ps(xt + 32), _mm512_loadu_ps(wt + 32), acc2);
      acc3 = _mm512_fmadd_ps(_mm512_loadu_ps(xt + 48), _mm512_loadu_ps(wt + 48), acc3);
    }
    _mm512_storeu_ps(y + c, activation_avx512(acc0, A));
    _mm512_storeu_ps(y + c + 16, activation_avx512(acc1, A));
    _mm512_storeu_ps(y + c + 32, activation_avx512(acc2, A));
    _mm512_storeu_ps(y + c + 48, activation_avx512(acc3, A));
  }
  for (; c < C; c += 16) {
    const __mmask16 m = c < c_main ? static_cast<__mmask16>(0xFFFF) : tail;
    __m512 acc = _mm512_maskz_loadu_ps(m, bias + c);
    for (int t = 0; t < taps.count; ++t) {
      acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + taps.offset[t] + c),
                            _mm512_maskz_loadu_ps(m, packed + taps.tap[t] * C + c), acc);
    }
    _mm512_mask_storeu_ps(y + c, m, activation_avx512(acc, A));
  }
}

// Pixel groups outer, channel blocks inner: one group's input window stays in L1 while all
// its channel blocks pass over it.
template <int K, Activation A>
void interior_row(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t c_main,
                  __mmask16 tail, int ky_lo, int ky_hi, int64_t iy0, int64_t ox_begin, int64_t ox_end) {
  const __mmask16 all = 0xFFFF;
  const bool has_tail = c_main < p.channels;
  int64_t ox = ox_begin;
  if (p.dilation_w == 1 && p.dilation_h == 1 && p.stride_w == 1 && p.stride_h == 1 && ox_end - ox_begin >= 8) {
    // 8-pixel groups; the last group is shifted left to end at ox_end (it recomputes a
    // few pixels, writing the same values), so no 4- or 1-pixel remainder runs.
    for (;;) {
      for (int64_t c = 0; c < c_main; c += 16) {
        interior_pixels_sliding<K, false, A>(p, x, packed, y_row, c, all, ky_lo, ky_hi, iy0, ox);
      }
      if (has_tail) interior_pixels_sliding<K, true, A>(p, x, packed, y_row, c_main, tail, ky_lo, ky_hi, iy0, ox);
      if (ox + 8 == ox_end) return;
      ox = std::min(ox + 8, ox_end - 8);
    }
  }
  for (; ox + kPixels <= ox_end; ox += kPixels) {
    for (int64_t c = 0; c < c_main; c += 16) {
      interior_pixels<K, kPixels, false, A>(p, x, packed, y_row, c, all, ky_lo, ky_hi, iy0, ox);
    }
    if (has_tail) interior_pixels<K, kPixels, true, A>(p, x, packed, y_row, c_main, tail, ky_lo, ky_hi, iy0, ox);
  }
  for (; ox < ox_end; ++ox) {
    for (int64_t c = 0; c < c_main; c += 16) {
      interior_pixels<K, 1, false, A>(p, x, packed, y_row, c, all, ky_lo, ky_hi, iy0, ox);
    }
    if (has_tail) interior_pixels<K, 1, true, A>(p, x, packed, y_row, c_main, tail, ky_lo, ky_hi, iy0, ox);
  }
}

}  // namespace

void dwconv_row_avx512(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t oy) {
  const int64_t C = p.channels;
  const int64_t c_main = C & ~int64_t{15};
  const __mmask16 tail = tail_mask_avx512(C - c_main);

  int64_t ox_begin, ox_end;
  dwconv_interior_columns(p, ox_begin, ox_end);
  const DwconvRowPath path = dwconv_row_path(p, ox_begin, ox_end, 16, tuning().dw_padded_rows, tuning().dw_edge_groups);
  int ky_lo, ky_hi;
  dwconv_ky_range(p, oy, ky_lo, ky_hi);
  const int64_t iy0 = oy * p.stride_h - p.pad_top, ow = p.out_width;
  with_activation(p.act, [&](auto act) {
    constexpr Activation A = decltype(act)::value;
    if (path != DwconvRowPath::kSplit) {
      return with_kernel_stride(p.kernel_w, p.stride_w, [&](auto k_tag, auto s_tag) {
        constexpr int K = decltype(k_tag)::value, S = decltype(s_tag)::value;
        if (path == DwconvRowPath::kPaddedRow) return padded_row<K, S, A>(p, x, packed, y_row, c_main, tail, ky_lo, ky_hi, iy0);
        padded_group<K, S, A>(p, x, packed, y_row, c_main, tail, ky_lo, ky_hi, iy0, 0, 8);
        interior_row<K, A>(p, x, packed, y_row, c_main, tail, ky_lo, ky_hi, iy0, 8, ow - 8);
        padded_group<K, S, A>(p, x, packed, y_row, c_main, tail, ky_lo, ky_hi, iy0, ow - 8, 8);
      });
    }
    for (int64_t ox = 0; ox < ox_begin; ++ox) generic_pixel<A>(p, x, packed, y_row, oy, ox, c_main, tail);
    if (ox_begin < ox_end) {
      if (p.kernel_w == 3) {
        interior_row<3, A>(p, x, packed, y_row, c_main, tail, ky_lo, ky_hi, iy0, ox_begin, ox_end);
      } else {
        interior_row<5, A>(p, x, packed, y_row, c_main, tail, ky_lo, ky_hi, iy0, ox_begin, ox_end);
      }
    }
    for (int64_t ox = ox_end; ox < ow; ++ox) generic_pixel<A>(p, x, packed, y_row, oy, ox, c_main, tail);
  });
}

namespace {  // TU-local: each ISA file has its own PairOps

// 16-channel vectors, 4-pixel pair groups at stride 2 and 8 at stride 1 (8 or 16
// accumulators + 2K weights in 32 zmm registers; 8-pixel groups at stride 2 measured the
// same, bench/NOTES.md).
template <int P>
struct PairOps {
  using V = __m512;
  using Mask = __mmask16;
  static constexpr int kLanes = 16, kPixels = P;
  static constexpr bool kByteOffsets = false;  // not measured on AVX-512
  static constexpr bool kBlockLoop = false, kKernelRows = false;  // likewise (measured on AVX2)
  static constexpr bool kTightBlocks = false;  // 4-pixel groups only, measured on AVX2
  template <bool Masked>
  static V load(const float* p, Mask m) { return load16<Masked>(p, m); }
  template <bool Masked>
  static void store(float* p, V v, Mask m) { store16<Masked>(p, v, m); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  template <Activation A>
  static V act(V v) { return activation_avx512(v, A); }
  static Mask all() { return 0xFFFF; }
  static Mask tail(int64_t n) { return tail_mask_avx512(n); }
  static void row(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t oy) {
    dwconv_row_avx512(p, x, packed, y_row, oy);
  }
  template <Activation A>
  static void generic_pixel(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t oy,
                            int64_t ox, int64_t c_main, Mask tail) {
    mk::generic_pixel<A>(p, x, packed, y_row, oy, ox, c_main, tail);
  }
};

}  // namespace

void dwconv_rows2_avx512(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t oy) {
  // 14- and 7-pixel rows (3x3 on 14x14 and 7x7 maps) in 7-pixel groups: 8-pixel groups
  // computed 16 pixels for 14 (dw_seven_groups).
  if (p.stride_w == 1 && p.kernel_w == 3 && (p.out_width == 14 || p.out_width == 7) && tuning().dw_seven_groups)
    return dwconv_pairs::rows2<PairOps<7>, 1>(p, x, packed, y_row, oy);
  if (p.stride_w == 1) return dwconv_pairs::rows2<PairOps<8>, 1>(p, x, packed, y_row, oy);
  dwconv_pairs::rows2<PairOps<4>, 2>(p, x, packed, y_row, oy);
}

}  // namespace mk
