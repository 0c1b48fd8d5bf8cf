// Depthwise conv + bias + activation microkernels (NHWC, float32).
//
// Packed weights: [kh*kw + 1][C] row-major: rows 0..kh*kw-1 are the taps in
// (ky, kx) order, the last row is the (BatchNorm-folded) bias.
#pragma once
#include <cstdint>
#include <type_traits>

#include "activation.h"

namespace mk {

struct DwconvParams {
  int64_t height, width, channels;  // input image (one batch element)
  int64_t out_height, out_width;
  int kernel_h, kernel_w;
  int stride_h, stride_w;
  int pad_top, pad_left;
  int dilation_h, dilation_w;
  Activation act;
};

// Computes output row `oy` (all out_width pixels, all channels) of one image.
// `x` points at the image [height][width][channels], `y_row` at the output row
// [out_width][channels]. Reads only in-bounds input; writes every element of the row.
using DwconvRowKernel = void (*)(const DwconvParams& p, const float* x, const float* packed,
                                 float* y_row, int64_t oy);

void dwconv_row_scalar(const DwconvParams& p, const float* x, const float* packed, float* y_row,
                       int64_t oy);
#if defined(MK_HAVE_AVX2)
void dwconv_row_avx2(const DwconvParams& p, const float* x, const float* packed, float* y_row,
                     int64_t oy);
#endif
#if defined(MK_HAVE_AVX512)
void dwconv_row_avx512(const DwconvParams& p, const float* x, const float* packed, float* y_row,
                       int64_t oy);
#endif
#if defined(MK_HAVE_AVX2)
// dwconv_rows2_avx512 on 8-channel blocks (4-pixel groups: 8 accumulators in 16 registers).
void dwconv_rows2_avx2(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t oy);
#endif
#if defined(MK_HAVE_AVX512)
// Rows oy and oy + 1 (oy + 1 < out_height, or only row oy is written); y_row points at
// row oy, row oy + 1 follows it. Stride-1 and stride-2 3x3/5x5 rows inside the image share
// input rows between the two (dw_row_pairs, dw_row_pairs_s2); elsewhere two
// dwconv_row_avx512 calls.
void dwconv_rows2_avx512(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t oy);
#endif
#if defined(MK_HAVE_NEON)
void dwconv_row_neon(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t oy);
#endif

// How the SIMD row kernels (`lanes` floats per vector) split a row of a 3x3/5x5,
// dilation-1 depthwise conv into pixel groups (bench/NOTES.md has the per-shape A/Bs):
// - kSplit: interior groups (every tap inside the image) + edge pixels one at a time
//   through the generic valid-taps path;
// - kPaddedRow: narrow rows (<= 16 output pixels; 7x7 with a 5x5 kernel is 4 of 7 columns
//   edges) as padded 8-pixel groups: padding columns inside the group are skipped, 8
//   independent FMA chains (5x5 on 7x7: 3x);
// - kEdgeGroups: wider rows with one padded group at each end and interior groups
//   between (1.06-1.12x: a generic edge pixel cost ~3.5 interior ones).
// Not where a group's input columns, C * 4 bytes apart, share L1 sets (C % 512 == 0: 0.84x
// for AVX2 at 7x7x1024, 0.84-0.88x for 3x3 stride 2), nor 3x3 stride 2 beyond 8 pixels
// (its 17-column groups overlap: 0.82-0.85x at 28 -> 14). Tuning switches dw_padded_rows
// and dw_edge_groups turn the two off.
enum class DwconvRowPath { kSplit, kPaddedRow, kEdgeGroups };

inline DwconvRowPath dwconv_row_path(const DwconvParams& p, int64_t ox_begin, int64_t ox_end, int lanes,
                                     bool padded_rows, bool edge_groups) {
  const int k = p.kernel_w, s = p.stride_w;
  const int64_t ow = p.out_width;
  if (p.kernel_h != k || (k != 3 && k != 5) || p.dilation_h != 1 || p.dilation_w != 1 || p.stride_h != s ||
      (s != 1 && s != 2)) {
    return DwconvRowPath::kSplit;
  }
  const bool aliased = p.channels % 512 == 0;
  if (ow <= 16) {
    const bool ok = s == 1 ? !(aliased && lanes == 8) : (k == 5 || (ow <= 8 && !aliased));
    return padded_rows && ok ? DwconvRowPath::kPaddedRow : DwconvRowPath::kSplit;
  }
  const bool ok = (s == 1 || k == 5) && !(aliased && lanes == 8) && ow >= 24 && ox_begin <= 8 && ox_end >= ow - 8;
  return edge_groups && ok ? DwconvRowPath::kEdgeGroups : DwconvRowPath::kSplit;
}

// Calls f(std::integral_constant<int, K>, std::integral_constant<int, S>) for kernel k
// (3 or 5) and stride s (1 or 2).
template <typename F>
void with_kernel_stride(int k, int s, F&& f) {
  using K3 = std::integral_constant<int, 3>;
  using K5 = std::integral_constant<int, 5>;
  using S1 = std::integral_constant<int, 1>;
  using S2 = std::integral_constant<int, 2>;
  if (k == 3) {
    if (s == 1) return f(K3{}, S1{});
    return f(K3{}, S2{});
  }
  if (s == 1) return f(K5{}, S1{});
  f(K5{}, S2{});
}

// Kernel rows [ky_lo, ky_hi] of output row oy that land inside the image (padded rows are
// skipped for the whole row at once).
inline void dwconv_ky_range(const DwconvParams& p, int64_t oy, int& ky_lo, int& ky_hi) {
  const int64_t iy0 = oy * p.stride_h - p.pad_top;
  ky_lo = 0;
  ky_hi = p.kernel_h - 1;
  while (ky_lo <= ky_hi && iy0 + static_cast<int64_t>(ky_lo) * p.dilation_h < 0) ++ky_lo;
  while (ky_hi >= ky_lo && iy0 + static_cast<int64_t>(ky_hi) * p.dilation_h >= p.height) --ky_hi;
}

// Columns [ox_begin, ox_end) whose every tap lies inside the image (empty, at out_width,
// when the kernel has no fast path): ox*s - pad_left >= 0 and ox*s - pad_left + (k-1)*d <= W - 1.
inline void dwconv_interior_columns(const DwconvParams& p, int64_t& ox_begin, int64_t& ox_end) {
  const int64_t span_w = static_cast<int64_t>(p.dilation_w) * (p.kernel_w - 1);
  ox_begin = (static_cast<int64_t>(p.pad_left) + p.stride_w - 1) / p.stride_w;
  const int64_t last = p.width - 1 - span_w + p.pad_left;
  ox_end = last >= 0 ? last / p.stride_w + 1 : 0;
  ox_end = ox_end < p.out_width ? ox_end : p.out_width;
  ox_begin = ox_begin < p.out_width ? ox_begin : p.out_width;
  const bool fast = p.kernel_h == p.kernel_w && (p.kernel_w == 3 || p.kernel_w == 5);
  if (!fast || ox_end <= ox_begin) ox_begin = ox_end = p.out_width;  // everything through the generic path
}

// Whether rows oy and oy + 1 run as a pair (dwconv_rows2_*): stride 1 or 2 (same both
// ways), dilation 1, 3x3 or 5x5, both rows' kernel windows inside the image vertically.
inline bool dwconv_pair_rows(const DwconvParams& p, int64_t oy, bool pairs, bool pairs_s2) {
  const int k = p.kernel_w, s = p.stride_w;
  const int64_t iy0 = oy * s - p.pad_top;
  return pairs && (s == 1 || (s == 2 && pairs_s2)) && p.stride_h == s && p.dilation_h == 1 &&
         p.dilation_w == 1 && p.kernel_h == k && (k == 3 || k == 5) && iy0 >= 0 && iy0 + k + s - 1 < p.height &&
         oy + 1 < p.out_height;
}

// The input columns [lo, hi) of a group of `inputs` columns starting at image column ix0
// that lie inside the image (the others are padding).
inline void dwconv_group_inputs(const DwconvParams& p, int64_t ix0, int64_t inputs, int64_t& lo, int64_t& hi) {
  lo = ix0 < 0 ? -ix0 : 0;
  hi = p.width - ix0 < inputs ? p.width - ix0 : inputs;
}

// Taps of one output pixel that land inside the image: the kernel loops over
// these only, so padding costs no branch in the channel loop.
struct DwconvTaps {
  static constexpr int kMaxTaps = 64;
  int count = 0;
  int tap[kMaxTaps];        // index into the packed weight rows
  int64_t offset[kMaxTaps];  // element offset of the input pixel from x
};

inline void dwconv_valid_taps(const DwconvParams& p, int64_t oy, int64_t ox, DwconvTaps& t) {
  t.count = 0;
  const int64_t iy0 = oy * p.stride_h - p.pad_top;
  const int64_t ix0 = ox * p.stride_w - p.pad_left;
  for (int ky = 0; ky < p.kernel_h; ++ky) {
    const int64_t iy = iy0 + static_cast<int64_t>(ky) * p.dilation_h;
    if (iy < 0 || iy >= p.height) continue;
    for (int kx = 0; kx < p.kernel_w; ++kx) {
      const int64_t ix = ix0 + static_cast<int64_t>(kx) * p.dilation_w;
      if (ix < 0 || ix >= p.width) continue;
      t.tap[t.count] = ky * p.kernel_w + kx;
      t.offset[t.count] = (iy * p.width + ix) * p.channels;
      ++t.count;
    }
  }
}

}  // namespace mk
