// Dense conv (im2col + GEMM) vs a double reference, every ISA: stem-like shapes, kernel
// sizes 1..7, strides, asymmetric padding, odd output counts, batch > 1.
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "../ops/conv.h"
#include "../ops/dwconv.h"
#include "../runtime/thread_pool.h"
#include "../runtime/tuning.h"
#include "harness.h"
#include "reference.h"

namespace {

// One conv case on every ISA against the float64 reference (NaN-poisoned output), and the
// same input in NCHW (ConvArgs::x_nchw: the same taps in the same order, so the same bits);
// threads: the pool size for the call.
void check_conv(std::mt19937& rng, int64_t n, int64_t h, int64_t w, int64_t cin, int64_t cout, int k, int stride,
                int pt, int pl, int pb, int pr, mk::Activation act, int threads) {
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  const int64_t ho = mk::conv_out_size(h, k, stride, pt, pb, 1, "h"), wo = mk::conv_out_size(w, k, stride, pl, pr, 1, "w");
  std::vector<float> x(n * h * w * cin), packed((k * k * cin + 1) * cout);
  for (float& v : x) v = val(rng) * 2;
  for (float& v : packed) v = val(rng);
  std::vector<double> ref(n * ho * wo * cout);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oy = 0; oy < ho; ++oy)
      for (int64_t ox = 0; ox < wo; ++ox)
        for (int64_t co = 0; co < cout; ++co) {
          double acc = packed[k * k * cin * cout + co];
          for (int ky = 0; ky < k; ++ky)
            for (int kx = 0; kx < k; ++kx) {
              const int64_t iy = oy * stride - pt + ky, ix = ox * stride - pl + kx;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              for (int64_t ci = 0; ci < cin; ++ci)
                acc += double(x[((b * h + iy) * w + ix) * cin + ci]) * packed[((ky * k + kx) * cin + ci) * cout + co];
            }
          ref[((b * ho + oy) * wo + ox) * cout + co] = mktest::ref_activation(acc, act);
        }
  auto& pool = mk::ThreadPool::instance();
  const int saved_threads = pool.num_threads();
  pool.set_num_threads(threads);
  for (mk::Isa isa : mktest::isas()) {
    std::vector<float> y(ref.size(), std::numeric_limits<float>::quiet_NaN());
    mk::conv_bn_act(mk::ConvArgs{x.data(), packed.data(), y.data(), n, h, w, cin, cout, ho, wo, k, stride, pt, pl,
                                 pb, pr, act},
                    isa);
    const double err = mktest::rel_error(y, ref);
    CHECK_MSG(err <= 1e-5, "isa=%s k=%d s=%d cin=%lld cout=%lld h=%lld w=%lld pad=%d,%d,%d,%d: rel err %g",
              mk::isa_name(isa), k, stride, (long long)cin, (long long)cout, (long long)h, (long long)w, pt, pl, pb,
              pr, err);
    std::vector<float> x_nchw(x.size()), y_nchw(ref.size(), std::numeric_limits<float>::quiet_NaN());
    for (int64_t b = 0; b < n; ++b)
      for (int64_t q = 0; q < h * w; ++q)
        for (int64_t ci = 0; ci < cin; ++ci) x_nchw[(b * cin + ci) * h * w + q] = x[(b * h * w + q) * cin + ci];
    mk::ConvArgs planar{x_nchw.data(), packed.data(), y_nchw.data(), n, h, w, cin, cout, ho, wo, k, stride, pt, pl,
                        pb, pr, act};
    planar.x_nchw = true;
    mk::conv_bn_act(planar, isa);
    CHECK_MSG(std::memcmp(y.data(), y_nchw.data(), y.size() * sizeof(float)) == 0,
              "isa=%s k=%d s=%d cin=%lld cout=%lld h=%lld w=%lld pad=%d,%d,%d,%d: NCHW input gave other bits",
              mk::isa_name(isa), k, stride, (long long)cin, (long long)cout, (long long)h, (long long)w, pt, pl, pb,
              pr);
  }
  pool.set_num_threads(saved_threads);
}

}  // namespace

TEST_CASE("conv: every ISA matches the float64 reference on random cases") {
  std::mt19937 rng(3);
  int cases = 0;
  for (int rep = 0; rep < 24; ++rep) {
    const int k = 1 + 2 * (rep % 4), stride = 1 + rep % 2;
    const int64_t n = 1 + rng() % 2, h = k + rng() % 12, w = k + rng() % 12, cin = 1 + rng() % 5,
                  cout = 1 + rng() % 40;
    const int pt = rng() % (k / 2 + 1), pl = rng() % (k / 2 + 1), pb = rng() % (k / 2 + 1), pr = k / 2;
    // 1 or 3 threads: bands of output rows evened out to a multiple of the thread count.
    check_conv(rng, n, h, w, cin, cout, k, stride, pt, pl, pb, pr,
               static_cast<mk::Activation>(rep % mk::kNumActivations), rep % 2 == 0 ? 1 : 3);
    ++cases;
  }
  CHECK(cases == 24);
}

// The stem microkernel (3 channels, 3x3, stride 2; kernels/conv.h): rows of 11 to 60
// interior pixels (its tiles need 12 or 24, the last one moved back to end at the row's
// end; shorter rows take the GEMM path), output channels on both tile shapes and their
// masked tails, every padding on each side, and the switch off (the GEMM path alone).
TEST_CASE("conv: the 3x3 stride-2 stem kernel matches the reference") {
  std::mt19937 rng(11);
  const int64_t widths[] = {23, 25, 26, 27, 49, 50, 51, 121};
  const int64_t couts[] = {1, 8, 15, 16, 17, 24, 31, 32, 33, 40, 48, 64};
  const bool saved = mk::get_tuning("conv_stem_kernel");
  int cases = 0;
  for (bool on : {true, false}) {
    mk::set_tuning("conv_stem_kernel", on);
    for (int rep = 0; rep < (on ? 36 : 8); ++rep) {
      const int64_t w = widths[rep % 8], cout = couts[(rep * 5) % 12], h = 5 + rng() % 6;
      const int pt = rng() % 2, pl = (rep / 2) % 2, pb = rng() % 2, pr = rep % 2;
      check_conv(rng, 1 + rep % 3 / 2, h, w, 3, cout, 3, 2, pt, pl, pb, pr,
                 static_cast<mk::Activation>(rep % mk::kNumActivations), rep % 4 == 3 ? 3 : 1);
      ++cases;
    }
  }
  mk::set_tuning("conv_stem_kernel", saved);
  CHECK(cases == 44);
}
