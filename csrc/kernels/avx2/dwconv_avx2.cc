// AVX2+FMA depthwise row kernel.
//
// Interior pixels (every tap inside the image) take a branch-free path: groups of 4
// output pixels (4 independent FMA chains) x 8-channel blocks, groups outer so the
// group's input window stays in L1, weights loaded from L1 per tap.
// The few edge pixels (left/right padding) take the generic valid-taps path; padded rows
// are skipped by narrowing the ky range once per row. Channel tails use masked loads and
// stores: nothing is read or written past the last channel (a torch tensor has no spare
// bytes).
#include <immintrin.h>

#include <algorithm>

#include "../dwconv.h"
#include "../dwconv_pairs.h"
#include "../../runtime/tuning.h"
#include "activation_avx2.h"
#include "../unroll.h"

namespace mk {

namespace {

constexpr int kPixels = 4;

template <bool Masked>
inline __m256 load8(const float* p, __m256i mask) {
  if constexpr (Masked) return _mm256_maskload_ps(p, mask);
  return _mm256_loadu_ps(p);
}

template <bool Masked>
inline void store8(float* p, __m256 v, __m256i mask) {
  if constexpr (Masked) {
    _mm256_maskstore_ps(p, mask, v);
  } else {
    _mm256_storeu_ps(p, v);
  }
}

// Output pixels [ox, ox + P) of one row (P = 4 or 1), channels [c, c + 8) (masked when
// a tail). P independent FMA chains; the weights come from L1 (k*k vectors per block).
template <int K, int P, bool Masked, Activation A>
inline void interior_pixels(const DwconvParams& p, const float* x, const float* packed, float* y_row,
                            int64_t c, __m256i mask, int ky_lo, int ky_hi, int64_t iy0, int64_t ox) {
  static_assert(P == 4 || P == 1, "P is 4 or 1");
  const int64_t C = p.channels;
  const __m256 bias = load8<Masked>(packed + static_cast<int64_t>(K) * K * C + c, mask);
  const int64_t step = static_cast<int64_t>(p.stride_w) * C;  // next output pixel's input
  const int64_t tap_step = static_cast<int64_t>(p.dilation_w) * C;
  __m256 acc0 = bias, acc1 = bias, acc2 = bias, acc3 = bias;
  for (int ky = ky_lo; ky <= ky_hi; ++ky) {
    const int64_t iy = iy0 + static_cast<int64_t>(ky) * p.dilation_h;
    const float* xr = x + (iy * p.width + ox * p.stride_w - p.pad_left) * C + c;
    const float* wr = packed + static_cast<int64_t>(ky) * K * C + c;
    for (int kx = 0; kx < K; ++kx) {
      const __m256 wv = load8<Masked>(wr + kx * C, mask);
      const float* xp = xr + kx * tap_step;
      acc0 = _mm256_fmadd_ps(load8<Masked>(xp, mask), wv, acc0);
      if constexpr (P == 4) {
        acc1 = _mm256_fmadd_ps(load8<Masked>(xp + step, mask), wv, acc1);
        acc2 = _mm256_fmadd_ps(load8<Masked>(xp + 2 * step, mask), wv, acc2);
        acc3 = _mm256_fmadd_ps(load8<Masked>(xp + 3 * step, mask), wv, acc3);
      }
    }
  }
  float* y = y_row + ox * C + c;
  store8<Masked>(y, activation_avx2(acc0, A), mask);
  if constexpr (P == 4) {
    store8<Masked>(y + C, activation_avx2(acc1, A), mask);
    store8<Masked>(y + 2 * C, activation_avx2(acc2, A), mask);
    store8<Masked>(y + 3 * C, activation_avx2(acc3, A), mask);
  }
}

// 8 output pixels x 8 channels, dilation 1: each input pixel of a kernel row is loaded
// once and feeds every output pixel whose window covers it (a sliding window in
// registers), so a row costs (7*S + K) input + K weight loads for 8*K FMAs instead of
// 8*K + K loads, and the 8 accumulators are 8 independent FMA chains. v3's 4-pixel step
// was load-bound (5 loads per 4 FMAs at 2 loads/cycle).
template <int K, int S, Activation A>
inline void interior_pixels_sliding(const DwconvParams& p, const float* x, const float* packed, float* y_row,
                                    int64_t c, int ky_lo, int ky_hi, int64_t iy0, int64_t ox) {
  constexpr int P = 8;
  constexpr int kInputs = (P - 1) * S + K;
  const int64_t C = p.channels;
  const __m256 bias = _mm256_loadu_ps(packed + static_cast<int64_t>(K) * K * C + c);
  __m256 acc[P];
MK_UNROLL(8)
  for (int j = 0; j < P; ++j) acc[j] = bias;
  for (int ky = ky_lo; ky <= ky_hi; ++ky) {
    const float* xr = x + ((iy0 + ky) * p.width + ox * S - p.pad_left) * C + c;
    const float* wr = packed + static_cast<int64_t>(ky) * K * C + c;
    __m256 w[K];
MK_UNROLL(5)
    for (int kx = 0; kx < K; ++kx) w[kx] = _mm256_loadu_ps(wr + kx * C);
MK_UNROLL(32)
    for (int i = 0; i < kInputs; ++i) {
      const __m256 xv = _mm256_loadu_ps(xr + i * C);
MK_UNROLL(8)
      for (int j = 0; j < P; ++j) {
        const int kx = i - j * S;
        if (kx >= 0 && kx < K) acc[j] = _mm256_fmadd_ps(xv, w[kx], acc[j]);
      }
    }
  }
  float* y = y_row + ox * C + c;
MK_UNROLL(8)
  for (int j = 0; j < P; ++j) _mm256_storeu_ps(y + j * C, activation_avx2(acc[j], A));
}

// 8 output pixels x 8 channels at stride S, dilation 1, padding included: the sliding
// window above over input columns that may lie outside the image, which count as zeros
// (not loaded). Pixels j >= `valid` are not stored. For narrow rows, which are mostly
// edges (the AVX-512 kernel's padded_pixels, measured there).
template <int K, int S, bool Masked, Activation A>
inline void padded_pixels(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t c,
                          __m256i mask, int ky_lo, int ky_hi, int64_t iy0, int64_t ox0, int64_t valid) {
  constexpr int P = 8;
  constexpr int kInputs = (P - 1) * S + K;
  const int64_t C = p.channels;
  const int64_t ix0 = ox0 * S - p.pad_left;
  int64_t in_lo, in_hi;  // the group's inputs inside the image
  dwconv_group_inputs(p, ix0, kInputs, in_lo, in_hi);
  const __m256 bias = load8<Masked>(packed + static_cast<int64_t>(K) * K * C + c, mask);
  __m256 acc[P];
MK_UNROLL(8)
  for (int j = 0; j < P; ++j) acc[j] = bias;
  for (int ky = ky_lo; ky <= ky_hi; ++ky) {
    const float* xr = x + ((iy0 + ky) * p.width + ix0) * C + c;
    const float* wr = packed + static_cast<int64_t>(ky) * K * C + c;
    __m256 w[K];
MK_UNROLL(5)
    for (int kx = 0; kx < K; ++kx) w[kx] = load8<Masked>(wr + kx * C, mask);
MK_UNROLL(32)
    for (int i = 0; i < kInputs; ++i) {
      if (i < in_lo || i >= in_hi) continue;  // padding: contributes nothing
      const __m256 xv = load8<Masked>(xr + i * C, mask);
MK_UNROLL(8)
      for (int j = 0; j < P; ++j) {
        const int kx = i - j * S;
        if (kx >= 0 && kx < K) acc[j] = _mm256_fmadd_ps(xv, w[kx], acc[j]);
      }
    }
  }
  float* y = y_row + ox0 * C + c;
MK_UNROLL(8)
  for (int j = 0; j < P; ++j) {
    if (j < valid) store8<Masked>(y + j * C, activation_avx2(acc[j], A), mask);
  }
}

// Output pixels [ox0, ox0 + min(8, valid)) of a row, every channel block, padding inside.
template <int K, int S, Activation A>
void padded_group(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t c_main,
                  __m256i tail, int ky_lo, int ky_hi, int64_t iy0, int64_t ox0, int64_t valid) {
  const __m256i all = _mm256_set1_epi32(-1);
  for (int64_t c = 0; c < c_main; c += 8) {
    padded_pixels<K, S, false, A>(p, x, packed, y_row, c, all, ky_lo, ky_hi, iy0, ox0, valid);
  }
  if (c_main < p.channels) padded_pixels<K, S, true, A>(p, x, packed, y_row, c_main, tail, ky_lo, ky_hi, iy0, ox0, valid);
}

// A whole narrow row (<= 16 pixels) in padded 8-pixel groups; the last group is shifted
// left to end at the row's end.
template <int K, int S, Activation A>
void padded_row(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t c_main,
                __m256i tail, int ky_lo, int ky_hi, int64_t iy0) {
  const int64_t ow = p.out_width;
  for (int64_t ox0 = 0;;) {
    padded_group<K, S, A>(p, x, packed, y_row, c_main, tail, ky_lo, ky_hi, iy0, ox0, std::min<int64_t>(8, ow - ox0));
    if (ox0 + 8 >= ow) return;
    ox0 = std::min(ox0 + 8, ow - 8);
  }
}

// Any pixel, any kernel size: loops over the taps that land inside the image. Four channel
// blocks at a time: four independent FMA chains (one chain per block is latency-bound).
template <Activation A>
void generic_pixel(const DwconvParams& p, const float* x, const float* packed, float* y_row,
                   int64_t oy, int64_t ox, int64_t c_main, __m256i tail) {
  const int64_t C = p.channels;
  const float* bias = packed + static_cast<int64_t>(p.kernel_h) * p.kernel_w * C;
  DwconvTaps taps;
  dwconv_valid_taps(p, oy, ox, taps);
  float* y = y_row + ox * C;
  int64_t c = 0;
  for (; c + 32 <= c_main; c += 32) {
    __m256 acc0 = _mm256_loadu_ps(bias + c), acc1 = _mm256_loadu_ps(bias + c + 8);
    __m256 acc2 = _mm256_loadu_ps(bias + c + 16), acc3 = _mm256_loadu_ps(bias + c + 24);
    for (int t = 0; t < taps.count; ++t) {
      const float* xt = x + taps.offset[t] + c;
      const float* wt = packed + taps.tap[t] * C + c;
      acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(xt), _mm256_loadu_ps(wt), acc0);
      acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(xt + 8), _mm256_loadu_ps(wt + 8), acc1);
      acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(xt + 16), _mm256_loadu_ps(wt + 16), acc2);
      acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(xt + 24), _mm256_loadu_ps(wt + 24), acc3);
    }
    _mm256_storeu_ps(y + c, activation_avx2(acc0, A));
    _mm256_storeu_ps(y + c + 8, activation_avx2(acc1, A));
    _mm256_storeu_ps(y + c + 16, activation_avx2(acc2, A));
    _mm256_storeu_ps(y + c + 24, activation_avx2(acc3, A));
  }
  for (; c < c_main; c += 8) {
    __m256 acc = _mm256_loadu_ps(bias + c);
    for (int t = 0; t < taps.count; ++t) {
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + taps.offset[t] + c),
                            _mm256_loadu_ps(packed + taps.tap[t] * C + c), acc);
    }
    _mm256_storeu_ps(y + c, activation_avx2(acc, A));
  }
  if (c_main < C) {
    __m256 acc = _mm256_maskload_ps(bias + c_main, tail);
    for (int t = 0; t < taps.count; ++t) {
      acc = _mm256_fmadd_ps(_mm256_maskload_ps(x + taps.offset[t] + c_main, tail),
                            _mm256_maskload_ps(packed + taps.tap[t] * C + c_main, tail), acc);
    }
    _mm256_maskstore_ps(y + c_main, tail, activation_avx2(acc, A));
  }
}

// Pixel groups outer, channel blocks inner: the input window of one group (k rows x
// (group + halo) pixels x C) stays in L1 while all its channel blocks pass over it; with
// channel blocks outer, the k whole input rows (96 KiB at C = 144, W = 56) had to come
// from L2 once per block.
template <int K, Activation A>
void interior_row(const DwconvParams& p, const float* x, const float* packed, float* y_row,
                  int64_t c_main, __m256i tail, int ky_lo, int ky_hi, int64_t iy0, int64_t ox_begin,
                  int64_t ox_end) {
  const __m256i all = _mm256_set1_epi32(-1);
  const bool has_tail = c_main < p.channels;
  int64_t ox = ox_begin;
  if (p.dilation_w == 1 && p.dilation_h == 1 && p.stride_w == 1 && p.stride_h == 1 && ox_end - ox_begin >= 8) {
    // 8-pixel groups; the last group is shifted left to end at ox_end (it recomputes a
    // few pixels, writing the same values), so no 4- or 1-pixel remainder runs.
    for (;;) {
      for (int64_t c = 0; c < c_main; c += 8) interior_pixels_sliding<K, 1, A>(p, x, packed, y_row, c, ky_lo, ky_hi, iy0, ox);
      if (has_tail) {
        interior_pixels<K, kPixels, true, A>(p, x, packed, y_row, c_main, tail, ky_lo, ky_hi, iy0, ox);
        interior_pixels<K, kPixels, true, A>(p, x, packed, y_row, c_main, tail, ky_lo, ky_hi, iy0, ox + kPixels);
      }
      if (ox + 8 == ox_end) return;
      ox = std::min(ox + 8, ox_end - 8);
    }
  }
  for (; ox + kPixels <= ox_end; ox += kPixels) {
    for (int64_t c = 0; c < c_main; c += 8) {
      interior_pixels<K, kPixels, false, A>(p, x, packed, y_row, c, all, ky_lo, ky_hi, iy0, ox);
    }
    if (has_tail) interior_pixels<K, kPixels, true, A>(p, x, packed, y_row, c_main, tail, ky_lo, ky_hi, iy0, ox);
  }
  for (; ox < ox_end; ++ox) {
    for (int64_t c = 0; c < c_main; c += 8) {
      interior_pixels<K, 1, false, A>(p, x, packed, y_row, c, all, ky_lo, ky_hi, iy0, ox);
    }
    if (has_tail) interior_pixels<K, 1, true, A>(p, x, packed, y_row, c_main, tail, ky_lo, ky_hi, iy0, ox);
  }
}

}  // namespace

void dwconv_row_avx2(const DwconvParams& p, const float* x, const float* packed, float* y_row,
                     int64_t oy) {
  const int64_t C = p.channels;
  const int64_t c_main = C & ~int64_t{7};
  const __m256i tail = tail_mask_avx2(C - c_main);

  int64_t ox_begin, ox_end;
  dwconv_interior_columns(p, ox_begin, ox_end);
  const DwconvRowPath path = dwconv_row_path(p, ox_begin, ox_end, 8, tuning().dw_padded_rows, tuning().dw_edge_groups);
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

// 8-channel vectors, 4-pixel pair groups: 8 accumulators + 2K weights in 16 ymm registers
// (at K = 5 the compiler reloads some weights from L1).
struct PairOps {
  using V = __m256;
  using Mask = __m256i;
  static constexpr int kLanes = 8, kPixels = 4;
  static constexpr bool kByteOffsets = true;
  static constexpr bool kBlockLoop = true, kKernelRows = true, kTightBlocks = true;
  template <bool Masked>
  static V load(const float* p, Mask m) { return load8<Masked>(p, m); }
  template <bool Masked>
  static void store(float* p, V v, Mask m) { store8<Masked>(p, v, m); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  template <Activation A>
  static V act(V v) { return activation_avx2(v, A); }
  static Mask all() { return _mm256_set1_epi32(-1); }
  static Mask tail(int64_t n) { return tail_mask_avx2(n); }
  static void row(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t oy) {
    dwconv_row_avx2(p, x, packed, y_row, oy);
  }
  template <Activation A>
  static void generic_pixel(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t oy,
                            int64_t ox, int64_t c_main, Mask tail) {
    mk::generic_pixel<A>(p, x, packed, y_row, oy, ox, c_main, tail);
  }
};

}  // namespace

void dwconv_rows2_avx2(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t oy) {
  if (p.stride_w == 1) return dwconv_pairs::rows2<PairOps, 1>(p, x, packed, y_row, oy);
  dwconv_pairs::rows2<PairOps, 2>(p, x, packed, y_row, oy);
}

}  // namespace mk
