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
#include "../../runtime/tuning.h"
#include "activation_avx512.h"

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
#pragma GCC unroll 8
  for (int j = 0; j < P; ++j) acc[j] = bias;
  for (int ky = ky_lo; ky <= ky_hi; ++ky) {
    const float* xr = x + ((iy0 + ky) * p.width + ox - p.pad_left) * C + c;
    const float* wr = packed + static_cast<int64_t>(ky) * K * C + c;
    __m512 w[K];
#pragma GCC unroll 5
    for (int kx = 0; kx < K; ++kx) w[kx] = load16<Masked>(wr + kx * C, mask);
#pragma GCC unroll 16
    for (int i = 0; i < kInputs; ++i) {
      const __m512 xv = load16<Masked>(xr + i * C, mask);
#pragma GCC unroll 8
      for (int j = 0; j < P; ++j) {
        const int kx = i - j;
        if (kx >= 0 && kx < K) acc[j] = _mm512_fmadd_ps(xv, w[kx], acc[j]);
      }
    }
  }
  float* y = y_row + ox * C + c;
#pragma GCC unroll 8
  for (int j = 0; j < P; ++j) store16<Masked>(y + j * C, activation_avx512(acc[j], A), mask);
}

// Two output rows (oy, oy + 1) x P pixels x 16 channels at stride S, dilation 1, both rows
// inside the image: each of the K + S input rows is loaded once for both output rows
// (stride 1: (K + 1) * (P - 1 + K) input loads per 2 * P * K * K FMAs where two single-row
// calls load 2 * K * (P - 1 + K), a third less L2 -> L1 traffic at K = 3; stride 2 shares
// one row and gives 2 * P independent chains). 2 * P accumulators + 2 * K weights + 1
// input vector <= 27 of the 32 zmm registers. Padded: input columns outside the image are
// skipped (as in padded_pixels) and pixels j >= valid are not stored.
template <int K, int S, int P, bool Masked, bool Padded, Activation A>
inline void sliding_pair(const DwconvParams& p, const float* x, const float* packed, float* y_row0, float* y_row1,
                         int64_t c, __mmask16 mask, int64_t iy0, int64_t ox0, int64_t valid) {
  constexpr int kInputs = (P - 1) * S + K;
  const int64_t C = p.channels;
  const int64_t ix0 = ox0 * S - p.pad_left;
  const int64_t in_lo = Padded ? std::max<int64_t>(0, -ix0) : 0;
  const int64_t in_hi = Padded ? std::min<int64_t>(kInputs, p.width - ix0) : kInputs;
  const __m512 bias = load16<Masked>(packed + static_cast<int64_t>(K) * K * C + c, mask);
  __m512 a0[P], a1[P];
#pragma GCC unroll 8
  for (int j = 0; j < P; ++j) a0[j] = a1[j] = bias;
#pragma GCC unroll 7
  for (int r = 0; r < K + S; ++r) {  // input row iy0 + r: kernel row r of output row 0, r - S of row 1
    const float* xr = x + ((iy0 + r) * p.width + ix0) * C + c;
    __m512 w0[K], w1[K];
#pragma GCC unroll 5
    for (int kx = 0; kx < K; ++kx) {
      if (r < K) w0[kx] = load16<Masked>(packed + (static_cast<int64_t>(r) * K + kx) * C + c, mask);
      if (r >= S) w1[kx] = load16<Masked>(packed + (static_cast<int64_t>(r - S) * K + kx) * C + c, mask);
    }
#pragma GCC unroll 32
    for (int i = 0; i < kInputs; ++i) {
      if (Padded && (i < in_lo || i >= in_hi)) continue;  // padding: contributes nothing
      const __m512 xv = load16<Masked>(xr + i * C, mask);
#pragma GCC unroll 8
      for (int j = 0; j < P; ++j) {
        const int kx = i - j * S;
        if (kx >= 0 && kx < K) {
          if (r < K) a0[j] = _mm512_fmadd_ps(xv, w0[kx], a0[j]);
          if (r >= S) a1[j] = _mm512_fmadd_ps(xv, w1[kx], a1[j]);
        }
      }
    }
  }
  float* y0 = y_row0 + ox0 * C + c;
  float* y1 = y_row1 + ox0 * C + c;
#pragma GCC unroll 8
  for (int j = 0; j < P; ++j) {
    if (Padded && j >= valid) break;
    store16<Masked>(y0 + j * C, activation_avx512(a0[j], A), mask);
    store16<Masked>(y1 + j * C, activation_avx512(a1[j], A), mask);
  }
}

// sliding_pair over every channel block of one group.
template <int K, int S, int P, bool Padded, Activation A>
void pair_group(const DwconvParams& p, const float* x, const float* packed, float* y_row0, float* y_row1,
                int64_t c_main, __mmask16 tail, int64_t iy0, int64_t ox0, int64_t valid) {
  for (int64_t c = 0; c < c_main; c += 16) {
    sliding_pair<K, S, P, false, Padded, A>(p, x, packed, y_row0, y_row1, c, 0xFFFF, iy0, ox0, valid);
  }
  if (c_main < p.channels) {
    sliding_pair<K, S, P, true, Padded, A>(p, x, packed, y_row0, y_row1, c_main, tail, iy0, ox0, valid);
  }
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
  // Inputs [in_lo, in_hi) of the group lie inside the image.
  const int64_t in_lo = std::max<int64_t>(0, -ix0), in_hi = std::min<int64_t>(kInputs, p.width - ix0);
  const __m512 bias = load16<Masked>(packed + static_cast<int64_t>(K) * K * C + c, mask);
  __m512 acc[P];
#pragma GCC unroll 8
  for (int j = 0; j < P; ++j) acc[j] = bias;
  for (int ky = ky_lo; ky <= ky_hi; ++ky) {
    const float* xr = x + ((iy0 + ky) * p.width + ix0) * C + c;
    const float* wr = packed + static_cast<int64_t>(ky) * K * C + c;
    __m512 w[K];
#pragma GCC unroll 5
    for (int kx = 0; kx < K; ++kx) w[kx] = load16<Masked>(wr + kx * C, mask);
#pragma GCC unroll 32
    for (int i = 0; i < kInputs; ++i) {
      if (i < in_lo || i >= in_hi) continue;  // padding: contributes nothing
      const __m512 xv = load16<Masked>(xr + i * C, mask);
#pragma GCC unroll 8
      for (int j = 0; j < P; ++j) {
        const int kx = i - j * S;
        if (kx >= 0 && kx < K) acc[j] = _mm512_fmadd_ps(xv, w[kx], acc[j]);
      }
    }
  }
  float* y = y_row + ox0 * C + c;
#pragma GCC unroll 8
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

// Rows oy and oy + 1 in P-pixel groups over columns [ox_begin, ox_end) (>= P of them
// unless Padded; the last group shifted left to end at ox_end). Padded: padding inside groups.
template <int K, int S, int P, bool Padded, Activation A>
void pair_row(const DwconvParams& p, const float* x, const float* packed, float* y_row0, float* y_row1,
              int64_t c_main, __mmask16 tail, int64_t iy0, int64_t ox_begin, int64_t ox_end) {
  for (int64_t ox = ox_begin;;) {
    pair_group<K, S, P, Padded, A>(p, x, packed, y_row0, y_row1, c_main, tail, iy0, ox,
                                   std::min<int64_t>(P, ox_end - ox));
    if (ox + P >= ox_end) return;
    ox = std::min(ox + P, ox_end - P);
  }
}

// Columns [ox_begin, ox_end) whose every tap lies inside the image (empty when the
// kernel has no fast path): ox*s - pad_left >= 0 and ox*s - pad_left + (k-1)*d <= W - 1.
void interior_columns(const DwconvParams& p, int64_t& ox_begin, int64_t& ox_end) {
  const int64_t span_w = static_cast<int64_t>(p.dilation_w) * (p.kernel_w - 1);
  ox_begin = (static_cast<int64_t>(p.pad_left) + p.stride_w - 1) / p.stride_w;
  const int64_t last = p.width - 1 - span_w + p.pad_left;
  ox_end = last >= 0 ? last / p.stride_w + 1 : 0;
  ox_end = std::min(ox_end, p.out_width);
  ox_begin = std::min(ox_begin, p.out_width);
  const bool fast = p.kernel_h == p.kernel_w && (p.kernel_w == 3 || p.kernel_w == 5);
  if (!fast || ox_end <= ox_begin) ox_begin = ox_end = p.out_width;  // everything through the generic path
}

}  // namespace

void dwconv_row_avx512(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t oy) {
  const int64_t C = p.channels;
  const int64_t c_main = C & ~int64_t{15};
  const __mmask16 tail = tail_mask_avx512(C - c_main);

  int64_t ox_begin, ox_end;
  interior_columns(p, ox_begin, ox_end);
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

void dwconv_rows2_avx512(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t oy) {
  const int64_t C = p.channels, out_row = p.out_width * C;
  float* y_row1 = y_row + out_row;
  const int K = p.kernel_w, S = p.stride_w;
  const int64_t iy0 = oy * S - p.pad_top, ow = p.out_width;
  int64_t ox_begin, ox_end;
  interior_columns(p, ox_begin, ox_end);
  const bool pair = tuning().dw_row_pairs && (S == 1 || (S == 2 && tuning().dw_row_pairs_s2)) &&
                    p.stride_h == S && p.dilation_h == 1 && p.dilation_w == 1 && p.kernel_h == K &&
                    (K == 3 || K == 5) && iy0 >= 0 && iy0 + K + S - 1 < p.height && oy + 1 < p.out_height;
  const DwconvRowPath path =
      pair ? dwconv_row_path(p, ox_begin, ox_end, 16, tuning().dw_padded_rows, tuning().dw_edge_groups)
           : DwconvRowPath::kSplit;
  // Stride 1 groups 8 pixels, stride 2 4 (8 independent chains over the two rows); the split
  // path needs one whole group between its one-pixel edges.
  const int64_t group = S == 1 ? 8 : 4;
  if (!pair || (path == DwconvRowPath::kSplit && ox_end - ox_begin < group)) {
    dwconv_row_avx512(p, x, packed, y_row, oy);
    if (oy + 1 < p.out_height) dwconv_row_avx512(p, x, packed, y_row1, oy + 1);
    return;
  }
  const int64_t c_main = C & ~int64_t{15};
  const __mmask16 tail = tail_mask_avx512(C - c_main);
  with_activation(p.act, [&](auto act) {
    constexpr Activation A = decltype(act)::value;
    with_kernel_stride(K, S, [&](auto k_tag, auto s_tag) {
      constexpr int KK = decltype(k_tag)::value, SS = decltype(s_tag)::value;
      constexpr int PP = SS == 1 ? 8 : 4;
      if (path == DwconvRowPath::kPaddedRow) {
        return pair_row<KK, SS, PP, true, A>(p, x, packed, y_row, y_row1, c_main, tail, iy0, 0, ow);
      }
      if (path == DwconvRowPath::kEdgeGroups) {  // padded groups of 8 at the ends, as the row kernel
        pair_row<KK, SS, PP, true, A>(p, x, packed, y_row, y_row1, c_main, tail, iy0, 0, 8);
        pair_row<KK, SS, PP, false, A>(p, x, packed, y_row, y_row1, c_main, tail, iy0, 8, ow - 8);
        return pair_row<KK, SS, PP, true, A>(p, x, packed, y_row, y_row1, c_main, tail, iy0, ow - 8, ow);
      }
      for (int r = 0; r < 2; ++r) {
        float* yr = y_row + r * out_row;
        for (int64_t ox = 0; ox < ox_begin; ++ox) generic_pixel<A>(p, x, packed, yr, oy + r, ox, c_main, tail);
        for (int64_t ox = ox_end; ox < ow; ++ox) generic_pixel<A>(p, x, packed, yr, oy + r, ox, c_main, tail);
      }
      pair_row<KK, SS, PP, false, A>(p, x, packed, y_row, y_row1, c_main, tail, iy0, ox_begin, ox_end);
    });
  });
}

}  // namespace mk
