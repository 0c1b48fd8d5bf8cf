#include "../runtime/check.h"
#include "conv.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "dwconv.h"
#include "pwconv.h"
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

// One output row's patches: [out_width][kernel*kernel*in_channels], zeros for padding.
// A kernel row of taps is k*cin contiguous floats in NHWC: pixels whose taps are all
// inside the image copy k runs of k*cin floats; only edge pixels go tap by tap.
template <int64_t Run>
void im2col_row_impl(const ConvArgs& a, const float* image, int64_t oy, float* cols) {
  const int64_t cin = a.in_channels, k = a.kernel, run = k * cin;
  for (int64_t ox = 0; ox < a.out_width; ++ox) {
    float* dst = cols + ox * k * run;
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

void im2col_row(const ConvArgs& a, const float* image, int64_t oy, float* cols) {
  const int64_t run = static_cast<int64_t>(a.kernel) * a.in_channels;
  if (run == 9) return im2col_row_impl<9>(a, image, oy, cols);    // 3x3, 3 channels (stems)
  if (run == 15) return im2col_row_impl<15>(a, image, oy, cols);  // 5x5, 3 channels
  im2col_row_impl<0>(a, image, oy, cols);
}

}  // namespace

void conv_bn_act(const ConvArgs& a, Isa isa) {
  require(a.x && a.packed && a.y, "conv_bn_act: null buffer");
  require(a.batch >= 1 && a.in_channels >= 1 && a.out_channels >= 1 && a.kernel >= 1 && a.stride >= 1,
          "conv_bn_act: sizes must be >= 1");
  require(a.out_height == conv_out_size(a.height, a.kernel, a.stride, a.pad_top, a.pad_bottom, 1, "height") &&
              a.out_width == conv_out_size(a.width, a.kernel, a.stride, a.pad_left, a.pad_right, 1, "width"),
          "conv_bn_act: output size does not match kernel, stride and padding");
  const int64_t patch = static_cast<int64_t>(a.kernel) * a.kernel * a.in_channels;
  // Bands of output rows, one job each: the band's im2col (~64 KiB) stays in the worker's
  // L2 and its GEMM runs inline on the same thread (nested parallel_for is inline).
  const int64_t band = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, a.out_width * patch));
  const int64_t bands = (a.out_height + band - 1) / band;
  ThreadPool::instance().parallel_for(a.batch * bands, [&](int64_t begin, int64_t end) {
    thread_local FloatBuffer cols;
    scratch(cols, band * a.out_width * patch);
    for (int64_t job = begin; job < end; ++job) {
      const int64_t n = job / bands, oy0 = (job % bands) * band;
      const int64_t rows = std::min(band, a.out_height - oy0);
      const float* image = a.x + n * a.height * a.width * a.in_channels;
      for (int64_t r = 0; r < rows; ++r) im2col_row(a, image, oy0 + r, cols.data() + r * a.out_width * patch);
      float* y = a.y + ((n * a.out_height + oy0) * a.out_width) * a.out_channels;
      pwconv_bn_act(PwconvArgs{cols.data(), a.packed, nullptr, y, rows * a.out_width,
                               GemmParams{patch, a.out_channels, a.act}},
                    isa);
    }
  });
}

}  // namespace mk
