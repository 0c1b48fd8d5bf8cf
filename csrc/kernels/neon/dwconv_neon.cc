// NEON depthwise row kernel, the same structure as the AVX2 one (dwconv_avx2.cc):
//
// Interior pixels (every tap inside the image) of 3x3 / 5x5 kernels take a branch-free
// path over 8-channel blocks (two q registers): stride 1 and dilation 1 use 8-pixel groups
// with a sliding input window in registers (each input pixel of a kernel row is loaded once
// and feeds every output whose window covers it: 16 accumulators, 2K weights); other
// strides use 4-pixel groups (8 accumulators). The last group of a row is shifted left to
// end at the interior's end instead of running remainders. Edge pixels, rows with padded
// taps skipped once per row (ky range), and the C % 8 channels go through the per-pixel
// valid-taps path (16/4-channel vectors, then scalars: NEON has no masked loads and
// nothing may be read past the last channel).
#include <arm_neon.h>

#include <algorithm>

#include "../dwconv.h"
#include "activation_neon.h"
#include "../unroll.h"

namespace mk {

namespace {

// Channels [c_begin, C) of one pixel, any kernel: loops over the taps inside the image.
void generic_pixel(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t oy, int64_t ox,
                   int64_t c_begin) {
  const int64_t C = p.channels;
  const float* bias = packed + static_cast<int64_t>(p.kernel_h) * p.kernel_w * C;
  DwconvTaps taps;
  dwconv_valid_taps(p, oy, ox, taps);
  float* y = y_row + ox * C;
  int64_t c = c_begin;
  for (; c + 16 <= C; c += 16) {
    float32x4_t a0 = vld1q_f32(bias + c), a1 = vld1q_f32(bias + c + 4);
    float32x4_t a2 = vld1q_f32(bias + c + 8), a3 = vld1q_f32(bias + c + 12);
    for (int t = 0; t < taps.count; ++t) {
      const float* xp = x + taps.offset[t] + c;
      const float* wp = packed + taps.tap[t] * C + c;
      a0 = vfmaq_f32(a0, vld1q_f32(xp), vld1q_f32(wp));
      a1 = vfmaq_f32(a1, vld1q_f32(xp + 4), vld1q_f32(wp + 4));
      a2 = vfmaq_f32(a2, vld1q_f32(xp + 8), vld1q_f32(wp + 8));
      a3 = vfmaq_f32(a3, vld1q_f32(xp + 12), vld1q_f32(wp + 12));
    }
    vst1q_f32(y + c, activation_neon(a0, p.act));
    vst1q_f32(y + c + 4, activation_neon(a1, p.act));
    vst1q_f32(y + c + 8, activation_neon(a2, p.act));
    vst1q_f32(y + c + 12, activation_neon(a3, p.act));
  }
  for (; c + 4 <= C; c += 4) {
    float32x4_t a = vld1q_f32(bias + c);
    for (int t = 0; t < taps.count; ++t) {
      a = vfmaq_f32(a, vld1q_f32(x + taps.offset[t] + c), vld1q_f32(packed + taps.tap[t] * C + c));
    }
    vst1q_f32(y + c, activation_neon(a, p.act));
  }
  for (; c < C; ++c) {
    float acc = bias[c];
    for (int t = 0; t < taps.count; ++t) acc = std::fma(x[taps.offset[t] + c], packed[taps.tap[t] * C + c], acc);
    y[c] = apply_activation(acc, p.act);
  }
}

// 8 pixels x 8 channels, stride 1, dilation 1: sliding window over each kernel row.
template <int K>
inline void sliding8(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t c,
                     int ky_lo, int ky_hi, int64_t iy0, int64_t ox) {
  constexpr int P = 8;
  const int64_t C = p.channels;
  const float* bias = packed + static_cast<int64_t>(K) * K * C + c;
  float32x4_t lo[P], hi[P];
  const float32x4_t b0 = vld1q_f32(bias), b1 = vld1q_f32(bias + 4);
MK_UNROLL(8)
  for (int j = 0; j < P; ++j) {
    lo[j] = b0;
    hi[j] = b1;
  }
  for (int ky = ky_lo; ky <= ky_hi; ++ky) {
    const float* xr = x + ((iy0 + ky) * p.width + ox - p.pad_left) * C + c;
    const float* wr = packed + static_cast<int64_t>(ky) * K * C + c;
    float32x4_t w0[K], w1[K];
MK_UNROLL(5)
    for (int kx = 0; kx < K; ++kx) {
      w0[kx] = vld1q_f32(wr + kx * C);
      w1[kx] = vld1q_f32(wr + kx * C + 4);
    }
MK_UNROLL(16)
    for (int i = 0; i < P - 1 + K; ++i) {
      const float32x4_t x0 = vld1q_f32(xr + i * C), x1 = vld1q_f32(xr + i * C + 4);
MK_UNROLL(8)
      for (int j = 0; j < P; ++j) {
        const int kx = i - j;
        if (kx >= 0 && kx < K) {
          lo[j] = vfmaq_f32(lo[j], x0, w0[kx]);
          hi[j] = vfmaq_f32(hi[j], x1, w1[kx]);
        }
      }
    }
  }
  float* y = y_row + ox * C + c;
MK_UNROLL(8)
  for (int j = 0; j < P; ++j) {
    vst1q_f32(y + j * C, activation_neon(lo[j], p.act));
    vst1q_f32(y + j * C + 4, activation_neon(hi[j], p.act));
  }
}

// 4 pixels x 8 channels, any stride and dilation: 8 independent chains, weights per tap.
template <int K>
inline void group4(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t c,
                   int ky_lo, int ky_hi, int64_t iy0, int64_t ox) {
  const int64_t C = p.channels;
  const float* bias = packed + static_cast<int64_t>(K) * K * C + c;
  const int64_t step = static_cast<int64_t>(p.stride_w) * C, tap_step = static_cast<int64_t>(p.dilation_w) * C;
  float32x4_t lo[4], hi[4];
  for (int j = 0; j < 4; ++j) {
    lo[j] = vld1q_f32(bias);
    hi[j] = vld1q_f32(bias + 4);
  }
  for (int ky = ky_lo; ky <= ky_hi; ++ky) {
    const int64_t iy = iy0 + static_cast<int64_t>(ky) * p.dilation_h;
    const float* xr = x + (iy * p.width + ox * p.stride_w - p.pad_left) * C + c;
    const float* wr = packed + static_cast<int64_t>(ky) * K * C + c;
    for (int kx = 0; kx < K; ++kx) {
      const float32x4_t w0 = vld1q_f32(wr + kx * C), w1 = vld1q_f32(wr + kx * C + 4);
      const float* xp = xr + kx * tap_step;
MK_UNROLL(4)
      for (int j = 0; j < 4; ++j) {
        lo[j] = vfmaq_f32(lo[j], vld1q_f32(xp + j * step), w0);
        hi[j] = vfmaq_f32(hi[j], vld1q_f32(xp + j * step + 4), w1);
      }
    }
  }
  float* y = y_row + ox * C + c;
  for (int j = 0; j < 4; ++j) {
    vst1q_f32(y + j * C, activation_neon(lo[j], p.act));
    vst1q_f32(y + j * C + 4, activation_neon(hi[j], p.act));
  }
}

// Interior pixels [ox_begin, ox_end) in groups of G (the last group shifted left); the
// C % 8 channels of each group's pixels through the generic path.
template <int K, int G, typename Group>
void interior(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t oy, int ky_lo,
              int ky_hi, int64_t iy0, int64_t ox_begin, int64_t ox_end, Group group) {
  const int64_t c_main = p.channels & ~int64_t{7};
  int64_t ox = ox_begin;
  for (;;) {
    for (int64_t c = 0; c < c_main; c += 8) group(p, x, packed, y_row, c, ky_lo, ky_hi, iy0, ox);
    if (c_main < p.channels) {
      for (int j = 0; j < G; ++j) generic_pixel(p, x, packed, y_row, oy, ox + j, c_main);
    }
    if (ox + G == ox_end) return;
    ox = std::min(ox + G, ox_end - G);
  }
}

template <int K>
void interior_row(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t oy, int ky_lo,
                  int ky_hi, int64_t iy0, int64_t ox_begin, int64_t ox_end) {
  const bool unit = p.stride_w == 1 && p.dilation_w == 1 && p.dilation_h == 1;
  if (unit && ox_end - ox_begin >= 8) {
    interior<K, 8>(p, x, packed, y_row, oy, ky_lo, ky_hi, iy0, ox_begin, ox_end, sliding8<K>);
  } else if (ox_end - ox_begin >= 4) {
    interior<K, 4>(p, x, packed, y_row, oy, ky_lo, ky_hi, iy0, ox_begin, ox_end, group4<K>);
  } else {
    for (int64_t ox = ox_begin; ox < ox_end; ++ox) generic_pixel(p, x, packed, y_row, oy, ox, 0);
  }
}

}  // namespace

void dwconv_row_neon(const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t oy) {
  // Columns whose every tap is inside the image (as in the AVX2 kernel).
  const int64_t span_w = static_cast<int64_t>(p.dilation_w) * (p.kernel_w - 1);
  int64_t ox_begin = (static_cast<int64_t>(p.pad_left) + p.stride_w - 1) / p.stride_w;
  const int64_t last = p.width - 1 - span_w + p.pad_left;
  int64_t ox_end = last >= 0 ? last / p.stride_w + 1 : 0;
  ox_end = std::min(ox_end, p.out_width);
  ox_begin = std::min(ox_begin, p.out_width);
  const bool fast = p.kernel_h == p.kernel_w && (p.kernel_w == 3 || p.kernel_w == 5);
  if (!fast || ox_end <= ox_begin) ox_begin = ox_end = p.out_width;
  for (int64_t ox = 0; ox < ox_begin; ++ox) generic_pixel(p, x, packed, y_row, oy, ox, 0);
  if (ox_begin < ox_end) {
    const int64_t iy0 = oy * p.stride_h - p.pad_top;
    int ky_lo = 0, ky_hi = p.kernel_h - 1;
    while (ky_lo <= ky_hi && iy0 + static_cast<int64_t>(ky_lo) * p.dilation_h < 0) ++ky_lo;
    while (ky_hi >= ky_lo && iy0 + static_cast<int64_t>(ky_hi) * p.dilation_h >= p.height) --ky_hi;
    if (p.kernel_w == 3) {
      interior_row<3>(p, x, packed, y_row, oy, ky_lo, ky_hi, iy0, ox_begin, ox_end);
    } else {
      interior_row<5>(p, x, packed, y_row, oy, ky_lo, ky_hi, iy0, ox_begin, ox_end);
    }
  }
  for (int64_t ox = ox_end; ox < p.out_width; ++ox) generic_pixel(p, x, packed, y_row, oy, ox, 0);
}

}  // namespace mk
