#include "../runtime/check.h"
#include "conv.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "dwconv.h"
#include "pwconv.h"
#include "../kernels/conv.h"
#include "../runtime/tuning.h"
#include "../runtime/thread_pool.h"
#include "../runtime/scratch.h"

namespace mk {

namespace {

// Copies n floats; Run > 0 fixes n at compile time so the copy unrolls into a few vector
// moves (the stem's 3x3x3 rows are 9 floats: a generic loop was a third of its time).
template <int64_t Run>
inline void copy_run(const float* src, float* dst, int64_t n) {
  if constexpr (Run > 0) {
    (void)n;
    for (int64_t i = 0; i < Run; ++i) dst[i] = src[i];
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
  }
}

// Patches of output pixels [ox0, ox1) of row oy: [ox1 - ox0][kernel*kernel*in_channels],
// zeros for padding. A kernel row of taps is k*cin contiguous floats in NHWC: pixels whose
// taps are all inside the image copy k runs of k*cin floats; only edge pixels go tap by tap.
template <int64_t Run>
void im2col_impl(const ConvArgs& a, const float* image, int64_t oy, int64_t ox0, int64_t ox1, float* cols) {
  const int64_t cin = a.in_channels, k = a.kernel, run = k * cin;
  for (int64_t ox = ox0; ox < ox1; ++ox) {
    float* dst = cols + (ox - ox0) * k * run;
    const int64_t ix0 = ox * a.stride - a.pad_left;
    const bool inside_x = ix0 >= 0 && ix0 + k <= a.width;
    for (int64_t ky = 0; ky < k; ++ky) {
      const int64_t iy = oy * a.stride - a.pad_top + ky;
      float* d = dst + ky * run;
      if (iy < 0 || iy >= a.height) {
        std::fill(d, d + run, 0.0f);
      } else if (inside_x) {
        copy_run<Run>(image + (iy * a.width + ix0) * cin, d, run);
      } else {
        for (int64_t kx = 0; kx < k; ++kx) {
          const int64_t ix = ix0 + kx;
          float* dk = d + kx * cin;
          if (ix < 0 || ix >= a.width) {
            std::fill(dk, dk + cin, 0.0f);
          } else {
            std::copy_n(image + (iy * a.width + ix) * cin, cin, dk);
          }
        }
      }
    }
  }
}

// The same patches from an NCHW image (tap by tap: the edges and padded rows of a
// network's stem, and rows too short for its microkernel).
void im2col_nchw(const ConvArgs& a, const float* image, int64_t oy, int64_t ox0, int64_t ox1, float* cols) {
  const int64_t cin = a.in_channels, k = a.kernel, plane = a.height * a.width;
  float* dst = cols;
  for (int64_t ox = ox0; ox < ox1; ++ox) {
    for (int64_t ky = 0; ky < k; ++ky) {
      const int64_t iy = oy * a.stride - a.pad_top + ky;
      for (int64_t kx = 0; kx < k; ++kx) {
        const int64_t ix = ox * a.stride - a.pad_left + kx;
        const bool inside = iy >= 0 && iy < a.height && ix >= 0 && ix < a.width;
        for (int64_t ci = 0; ci < cin; ++ci) *dst++ = inside ? image[ci * plane + iy * a.width + ix] : 0.0f;
      }
    }
  }
}

void im2col(const ConvArgs& a, const float* image, int64_t oy, int64_t ox0, int64_t ox1, float* cols) {
  if (a.x_nchw) return im2col_nchw(a, image, oy, ox0, ox1, cols);
  const int64_t run = static_cast<int64_t>(a.kernel) * a.in_channels;
  if (run == 9) return im2col_impl<9>(a, image, oy, ox0, ox1, cols);    // 3x3, 3 channels (stems)
  if (run == 15) return im2col_impl<15>(a, image, oy, ox0, ox1, cols);  // 5x5, 3 channels
  im2col_impl<0>(a, image, oy, ox0, ox1, cols);
}

// Output columns [begin, end) whose taps are all inside the image (begin == end: none).
void interior_columns(const ConvArgs& a, int64_t& begin, int64_t& end) {
  begin = std::min<int64_t>(a.out_width, (a.pad_left + a.stride - 1) / a.stride);
  const int64_t last = a.width - a.kernel + a.pad_left;  // largest ox * stride with all taps inside
  end = last >= 0 ? std::min<int64_t>(a.out_width, last / a.stride + 1) : 0;
  if (end < begin) end = begin;
}

// The stem microkernel (kernels/conv.h) for `pixels` interior output pixels of one row,
// where it applies (3 channels, 3x3, stride 2); false: the caller runs the GEMM path.
bool stem_row(const ConvArgs& a, Isa isa, const float* x, float* y, int64_t pixels) {
  if (a.in_channels != 3 || a.kernel != 3 || a.stride != 2 || !tuning().conv_stem_kernel) return false;
  const StemRow r{x, a.x_nchw ? a.width : a.width * 3, a.packed, a.out_channels, a.act, y, pixels,
                 a.x_nchw ? a.height * a.width : 0};
#if defined(MK_HAVE_AVX512)
  if (isa == Isa::kAvx512) return conv3x3s2_c3_avx512(r);
#endif
#if defined(MK_HAVE_AVX2)
  if (isa == Isa::kAvx2) return conv3x3s2_c3_avx2(r);
#endif
#if defined(MK_HAVE_NEON)
  if (isa == Isa::kNeon) return conv3x3s2_c3_neon(r);
#endif
  (void)r;
  (void)isa;
  return false;
}

}  // namespace

void conv_check(const ConvArgs& a) {
  require(a.packed, "conv_bn_act: null buffer");
  require(a.batch >= 1 && a.in_channels >= 1 && a.out_channels >= 1 && a.kernel >= 1 && a.stride >= 1,
          "conv_bn_act: sizes must be >= 1");
  require(a.out_height == conv_out_size(a.height, a.kernel, a.stride, a.pad_top, a.pad_bottom, 1, "height") &&
              a.out_width == conv_out_size(a.width, a.kernel, a.stride, a.pad_left, a.pad_right, 1, "width"),
          "conv_bn_act: output size does not match kernel, stride and padding");
}

void conv_rows(const ConvArgs& a, Isa isa, int64_t n, int64_t oy0, int64_t oy1, float* y_rows) {
  const int64_t patch = static_cast<int64_t>(a.kernel) * a.kernel * a.in_channels;
  const int64_t cin = a.in_channels, cout = a.out_channels;
  int64_t ox_begin, ox_end;
  interior_columns(a, ox_begin, ox_end);
  // Interior pixels of rows whose kernel rows are all inside the image read their patches
  // straight from the image (the GEMM's A in runs of k*cin floats, one per kernel row: no
  // im2col, which was ~30% of the stem's time). Edge pixels and padded rows go through an
  // im2col of just those pixels into per-thread scratch.
  GemmParams dense{patch, cout, a.act};
  dense.k_pairs = false;
  GemmParams direct = dense;
  direct.lda = static_cast<int64_t>(a.stride) * cin;  // next output pixel
  direct.seg = static_cast<int64_t>(a.kernel) * cin;  // one kernel row of taps
  direct.seg_stride = a.width * cin;                  // next kernel row: the image row below
  // Edge pixels (padding left or right) of the inside rows are im2col'ed together and go
  // through one GEMM call, their results scattered back: a call per row (one pixel each
  // for the stem) cost ~0.2 us a row, a sixth of the stem's time once its interior had its
  // own microkernel.
  const int64_t edges_per_row = ox_begin + (a.out_width - std::max(ox_begin, ox_end));
  thread_local FloatBuffer cols, edge_out;
  scratch(cols, std::max(a.out_width, (oy1 - oy0) * edges_per_row) * patch);
  scratch(edge_out, (oy1 - oy0) * edges_per_row * cout);
  const float* image = a.x + n * a.height * a.width * cin;
  const auto inside = [&](int64_t oy) {
    const int64_t iy0 = oy * a.stride - a.pad_top;
    return iy0 >= 0 && iy0 + a.kernel <= a.height;
  };
  // Visits the edge pixels of the inside rows in one fixed order.
  const auto for_each_edge = [&](auto&& f) {
    for (int64_t oy = oy0; oy < oy1; ++oy) {
      if (!inside(oy)) continue;
      for (int64_t ox = 0; ox < ox_begin; ++ox) f(oy, ox);
      for (int64_t ox = std::max(ox_begin, ox_end); ox < a.out_width; ++ox) f(oy, ox);
    }
  };
  for (int64_t oy = oy0; oy < oy1; ++oy) {
    float* y = y_rows + (oy - oy0) * a.out_width * cout;
    if (!inside(oy)) {  // a padded row: all of it through im2col
      im2col(a, image, oy, 0, a.out_width, cols.data());
      pwconv_bn_act(PwconvArgs{cols.data(), a.packed, nullptr, y, a.out_width, dense}, isa);
      continue;
    }
    if (ox_begin < ox_end) {
      // NHWC: the pixel's channel 0; NCHW: its value in channel 0's plane.
      const int64_t pixel = (oy * a.stride - a.pad_top) * a.width + ox_begin * a.stride - a.pad_left;
      const float* x = image + (a.x_nchw ? pixel : pixel * cin);
      if (stem_row(a, isa, x, y + ox_begin * cout, ox_end - ox_begin)) continue;
      if (a.x_nchw) {  // the direct GEMM reads NHWC runs: patches instead
        im2col(a, image, oy, ox_begin, ox_end, cols.data());
        pwconv_bn_act(PwconvArgs{cols.data(), a.packed, nullptr, y + ox_begin * cout, ox_end - ox_begin, dense}, isa);
      } else {
        pwconv_bn_act(PwconvArgs{x, a.packed, nullptr, y + ox_begin * cout, ox_end - ox_begin, direct}, isa);
      }
    }
  }
  int64_t edges = 0;
  for_each_edge([&](int64_t oy, int64_t ox) { im2col(a, image, oy, ox, ox + 1, cols.data() + edges++ * patch); });
  if (edges == 0) return;
  pwconv_bn_act(PwconvArgs{cols.data(), a.packed, nullptr, edge_out.data(), edges, dense}, isa);
  int64_t e = 0;
  for_each_edge([&](int64_t oy, int64_t ox) {
    std::copy_n(edge_out.data() + e++ * cout, cout, y_rows + ((oy - oy0) * a.out_width + ox) * cout);
  });
}

void conv_bn_act(const ConvArgs& a, Isa isa) {
  require(a.x && a.y, "conv_bn_act: null buffer");
  conv_check(a);
  // Bands of output rows, one job each (nested parallel_for runs inline on the worker).
  // ~4096 output pixels per band at most, the bands of an image evened out over the threads
  // (the stem's 112 rows were bands of 36, 36, 36 and 4: 72 rows against 40 on 2 threads).
  const int64_t max_band = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, a.out_width));
  const int64_t band = even_part_size(a.out_height, max_band, 1, 1);
  const int64_t bands = (a.out_height + band - 1) / band;
  ThreadPool::instance().parallel_for(a.batch * bands, [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t n = job / bands, oy0 = (job % bands) * band;
      const int64_t oy1 = std::min(a.out_height, oy0 + band);
      conv_rows(a, isa, n, oy0, oy1, a.y + (n * a.out_height + oy0) * a.out_width * a.out_channels);
    }
  });
}

}  // namespace mk
