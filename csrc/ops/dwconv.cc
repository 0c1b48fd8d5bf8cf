#include "../runtime/check.h"
#include "dwconv.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "../runtime/scratch.h"
#include "../runtime/thread_pool.h"
#include "../runtime/tuning.h"

namespace mk {

DwconvRowKernel dwconv_row_kernel(Isa isa) {
  switch (isa) {
#if defined(MK_HAVE_AVX512)
    case Isa::kAvx512: return dwconv_row_avx512;
#endif
#if defined(MK_HAVE_AVX2)
    case Isa::kAvx2: return dwconv_row_avx2;
#endif
#if defined(MK_HAVE_NEON)
    case Isa::kNeon: return dwconv_row_neon;
#endif
    default: break;
  }
  return dwconv_row_scalar;
}

namespace {

void dwconv_rows_direct(Isa isa, const DwconvParams& p, const float* x, const float* packed, float* y_row,
                        int64_t oy, int64_t oy_end) {
  const int64_t out_row = p.out_width * p.channels;
  const DwconvRowKernel kernel = dwconv_row_kernel(isa);
  // Rows in pairs where the pair kernels take them. A row that cannot pair (its window
  // crosses the top padding) goes alone, so the next one starts a pair: pairing (0, 1)
  // made both single rows, and a part of a split image that began at the top then had 3
  // single rows of 7 where the other had 1 (14x14 over 2 threads). Same bits either way.
  const auto in_pairs = [&](auto pair_kernel) {
    const bool pairs = tuning().dw_row_pairs, pairs_s2 = tuning().dw_row_pairs_s2;
    const bool skip_single = tuning().dw_pair_skip_single;
    while (oy + 1 < oy_end) {
      if (skip_single && !dwconv_pair_rows(p, oy, pairs, pairs_s2)) {
        kernel(p, x, packed, y_row, oy);
        ++oy;
        y_row += out_row;
        continue;
      }
      pair_kernel(p, x, packed, y_row, oy);
      oy += 2;
      y_row += 2 * out_row;
    }
  };
#if defined(MK_HAVE_AVX512)
  if (isa == Isa::kAvx512) in_pairs(dwconv_rows2_avx512);
#endif
#if defined(MK_HAVE_AVX2)
  if (isa == Isa::kAvx2 && tuning().dw_row_pairs_avx2) in_pairs(dwconv_rows2_avx2);
#endif
  for (; oy < oy_end; ++oy, y_row += out_row) kernel(p, x, packed, y_row, oy);
}

// Channels added per pixel when staging: 64 bytes, one L1 set further per pixel.
constexpr int64_t kStagePad = 16;

// With 1024 channels (C % 1024 == 0) a channel block's pixels are 4 KiB apart, all in one L1
// set, more lines than its 8 ways for a 3x3 window: AVX2 (Zen 3) 1024 x 7x7 ran 63 us against
// 15.7 at 1040 channels, 1024 x 14x14 216 against 65. Staged, the copies included: 2.16x and
// 1.65x per op, 1.27x for v1's 7x7 layer in the network. Not at stride 2 with 512 channels
// (its columns 4 KiB apart too): 1.15x per op but 0.85x in v1, whose input is in L2; nor at
// 512, stride 1 (two sets; 52.8 us against 30.3 at 520 channels): 0.87-0.91x staged.
// Only where one row pair's staged input rows take <= 1 MiB: the staging buffers are kept per
// thread, and the height bound keeps the shifted pad_top an int.
bool dwconv_stages(Isa isa, const DwconvParams& p) {
  if (isa != Isa::kAvx2 || p.channels % 1024 != 0 || p.stride_w != 1 || !tuning().dw_stage_aliased) return false;
  const int64_t pair_rows = static_cast<int64_t>(p.dilation_h) * (p.kernel_h - 1) + 1 + p.stride_h;
  return p.height < (int64_t{1} << 30) && pair_rows * p.width * (p.channels + kStagePad) * 4 <= (int64_t{1} << 20);
}

// Output rows [oy, oy_end) through copies with kStagePad more channels per pixel (zeros):
// the input rows they read, the weights, and their output rows, copied back. The kernels see
// an image of C + kStagePad channels holding the rows the chunk reads (pad_top shifted so
// its row 0 is input row iy_lo; the rows past its height are those past the image or
// unread), so every real channel gets the same FMAs in the same order: the same bits.
void dwconv_rows_staged(Isa isa, const DwconvParams& p, const float* x, const float* packed, float* y_row,
                        int64_t oy, int64_t oy_end) {
  const int64_t C = p.channels, Cs = C + kStagePad, taps = static_cast<int64_t>(p.kernel_h) * p.kernel_w;
  thread_local FloatBuffer w_buf, x_buf, y_buf;
  float* w = scratch(w_buf, (taps + 1) * Cs);
  for (int64_t t = 0; t <= taps; ++t) {
    std::copy_n(packed + t * C, C, w + t * Cs);
    std::fill(w + t * Cs + C, w + (t + 1) * Cs, 0.0f);
  }
  const int64_t span_h = static_cast<int64_t>(p.dilation_h) * (p.kernel_h - 1) + 1;
  const int64_t in_row = p.width * Cs, out_row = p.out_width * Cs;
  // Chunks of output rows whose staged input stays within ~192 KiB (the L2 holds it and the
  // staged output); whole row pairs, so the pairs fall as without staging.
  const int64_t rows_in = std::max<int64_t>((192 << 10) / (in_row * 4), span_h + p.stride_h);
  int64_t chunk = std::max<int64_t>(2, (rows_in - span_h) / p.stride_h + 1);
  chunk -= chunk % 2;
  for (int64_t o0 = oy; o0 < oy_end; o0 += chunk) {
    const int64_t o1 = std::min(oy_end, o0 + chunk);
    const int64_t iy_lo = std::clamp<int64_t>(o0 * p.stride_h - p.pad_top, 0, p.height);
    const int64_t iy_hi = std::clamp<int64_t>((o1 - 1) * p.stride_h - p.pad_top + span_h, iy_lo, p.height);
    float* xs = scratch(x_buf, std::max<int64_t>(1, (iy_hi - iy_lo) * in_row));
    float* ys = scratch(y_buf, (o1 - o0) * out_row);
    for (int64_t r = iy_lo; r < iy_hi; ++r) {
      for (int64_t px = 0; px < p.width; ++px) {
        const float* src = x + (r * p.width + px) * C;
        float* dst = xs + (r - iy_lo) * in_row + px * Cs;
        std::copy_n(src, C, dst);
        std::fill(dst + C, dst + Cs, 0.0f);
      }
    }
    DwconvParams q = p;
    q.channels = Cs;
    q.height = iy_hi - iy_lo;
    q.pad_top = p.pad_top + static_cast<int>(iy_lo);
    dwconv_rows_direct(isa, q, xs, w, ys, o0, o1);
    for (int64_t r = o0; r < o1; ++r) {
      for (int64_t px = 0; px < p.out_width; ++px) {
        const float* src = ys + (r - o0) * out_row + px * Cs;
        std::copy_n(src, C, y_row + ((r - oy) * p.out_width + px) * C);
      }
    }
  }
}

}  // namespace

void dwconv_rows(Isa isa, const DwconvParams& p, const float* x, const float* packed, float* y_row, int64_t oy,
                 int64_t oy_end) {
  if (dwconv_stages(isa, p)) return dwconv_rows_staged(isa, p, x, packed, y_row, oy, oy_end);
  dwconv_rows_direct(isa, p, x, packed, y_row, oy, oy_end);
}

int64_t conv_out_size(int64_t in, int kernel, int stride, int pad_before, int pad_after, int dilation,
                      const char* axis) {
  require(kernel >= 1, [&] { return std::string("kernel size along ") + axis + " must be >= 1"; });
  require(stride >= 1, [&] { return std::string("stride along ") + axis + " must be >= 1"; });
  require(dilation >= 1, [&] { return std::string("dilation along ") + axis + " must be >= 1"; });
  require(pad_before >= 0 && pad_after >= 0, [&] { return std::string("padding along ") + axis + " must be >= 0"; });
  const int64_t span = static_cast<int64_t>(dilation) * (kernel - 1) + 1;
  const int64_t padded = in + pad_before + pad_after;
  require(padded >= span, [&] {
    return std::string("input ") + axis + " (" + std::to_string(in) +
           ") plus padding is smaller than the kernel's extent (" + std::to_string(span) + ")";
  });
  return (padded - span) / stride + 1;
}

void dwconv_check(const DwconvArgs& a) {
  const DwconvParams& p = a.p;
  require(a.x && a.packed && a.y, "dwconv_bn_act: null buffer");
  require(a.batch >= 1 && p.height >= 1 && p.width >= 1 && p.channels >= 1,
          "dwconv_bn_act: batch, height, width and channels must be >= 1");
  require(static_cast<int64_t>(p.kernel_h) * p.kernel_w <= DwconvTaps::kMaxTaps,
          "dwconv_bn_act: kernel has more than 64 taps");
  require(p.kernel_h >= 1 && p.kernel_w >= 1 && p.stride_h >= 1 && p.stride_w >= 1 &&
              p.dilation_h >= 1 && p.dilation_w >= 1,
          "dwconv_bn_act: kernel size, stride and dilation must be >= 1");
  require(p.pad_top >= 0 && p.pad_left >= 0, "dwconv_bn_act: padding must be >= 0");
  require(p.out_height >= 1 && p.out_width >= 1, "dwconv_bn_act: output must be at least 1x1");
  // Rows/columns wholly inside the padding are valid (bias + activation): the kernels
  // read only taps inside the image, so no output size can make them read out of bounds.
  const int act = static_cast<int>(p.act);
  require(act >= 0 && act < kNumActivations,
          [&] { return "dwconv_bn_act: unknown activation code " + std::to_string(act); });
}

void dwconv_bn_act(const DwconvArgs& a, Isa isa) {
  dwconv_check(a);
  const DwconvParams p = a.p;
  const int64_t in_image = p.height * p.width * p.channels;
  const int64_t out_row = p.out_width * p.channels;
  // Work in units of two output rows: the kernels pair rows that share input rows
  // (dw_row_pairs), and a pool chunk of one row (14 rows over 2 threads: 7 chunks a
  // thread) ran every row alone, so the depthwise gained nothing from a second thread.
  const int64_t unit = tuning().dw_pair_chunks ? 2 : 1;
  const int64_t units = (p.out_height + unit - 1) / unit;  // per image
  ThreadPool::instance().parallel_for(a.batch * units, [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end;) {  // the rows of one image at a time
      const int64_t n = u / units, q = u % units;
      const int64_t count = std::min(end - u, units - q);
      const int64_t oy0 = q * unit, oy1 = std::min(p.out_height, (q + count) * unit);
      dwconv_rows(isa, p, a.x + n * in_image, a.packed, a.y + (n * p.out_height + oy0) * out_row, oy0, oy1);
      u += count;
    }
  });
}

}  // namespace mk
