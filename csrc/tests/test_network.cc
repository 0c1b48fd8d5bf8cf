// Network: a chain run in one call must give exactly what the drivers give one after
// another (same kernels, same data), for 1 and 2 threads, batch 1 and 2; layers that do
// not chain are rejected when added.
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "../ops/conv.h"
#include "../ops/dwconv.h"
#include "../ops/inverted_residual.h"
#include "../ops/network.h"
#include "../ops/pwconv.h"
#include "../ops/squeeze_excite.h"
#include "../runtime/thread_pool.h"
#include "../runtime/tuning.h"
#include "harness.h"

namespace {

std::vector<float> random_vec(std::mt19937& rng, int64_t n, float scale) {
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& f : v) f = val(rng) * scale;
  return v;
}

mk::NetworkLayer layer(mk::NetworkLayer::Kind kind, int64_t cin, int64_t cout, int k, int s, mk::Activation act,
                       const float* packed) {
  mk::NetworkLayer l;
  l.kind = kind;
  l.in_channels = cin;
  l.out_channels = cout;
  l.kernel = k;
  l.stride = s;
  l.pad_top = l.pad_left = l.pad_bottom = l.pad_right = kind == mk::NetworkLayer::Kind::kPwconv ? 0 : (k - 1) / 2;
  l.act = act;
  l.packed = packed;
  return l;
}

}  // namespace

TEST_CASE("network: one call equals the drivers run one by one") {
  using Kind = mk::NetworkLayer::Kind;
  std::mt19937 rng(11);
  const int64_t h = 17, w = 13, c0 = 3, c1 = 12, c2 = 20, hid = 60, sq = 8, c3 = 24;
  std::vector<float> w_stem = random_vec(rng, (9 * c0 + 1) * c1, 0.5f);
  std::vector<float> w_dw = random_vec(rng, 10 * c1, 0.5f);
  std::vector<float> w_pw = random_vec(rng, (c1 + 1) * c2, 0.4f);
  std::vector<float> w_ex = random_vec(rng, (c2 + 1) * hid, 0.3f), w_dw2 = random_vec(rng, 26 * hid, 0.3f);
  std::vector<float> w_pr = random_vec(rng, (hid + 1) * c2, 0.2f);
  std::vector<float> w_ex2 = random_vec(rng, (c2 + 1) * hid, 0.3f), w_dw3 = random_vec(rng, 10 * hid, 0.3f);
  std::vector<float> f1 = random_vec(rng, (hid + 1) * sq, 0.5f), f2 = random_vec(rng, (sq + 1) * hid, 0.5f);
  std::vector<float> w_pr2 = random_vec(rng, (hid + 1) * c3, 0.2f);
  const int64_t classes = 7;
  std::vector<float> w_head = random_vec(rng, (c3 + 1) * classes, 0.3f);

  mk::Network net;
  net.add(layer(Kind::kConv, c0, c1, 3, 2, mk::Activation::kHardswish, w_stem.data()));
  net.add(layer(Kind::kDwconv, c1, c1, 3, 1, mk::Activation::kRelu, w_dw.data()));
  net.add(layer(Kind::kPwconv, c1, c2, 1, 1, mk::Activation::kIdentity, w_pw.data()));
  mk::NetworkLayer ir = layer(Kind::kInvertedResidual, c2, c2, 5, 1, mk::Activation::kRelu6, w_ex.data());
  ir.hidden = hid;
  ir.dw = w_dw2.data();
  ir.project = w_pr.data();
  ir.dw_act = mk::Activation::kRelu6;
  ir.residual = true;
  net.add(ir);
  mk::NetworkLayer ir_se = layer(Kind::kInvertedResidual, c2, c3, 3, 2, mk::Activation::kHardswish, w_ex2.data());
  ir_se.hidden = hid;
  ir_se.se_channels = sq;
  ir_se.dw = w_dw3.data();
  ir_se.se_fc1 = f1.data();
  ir_se.se_fc2 = f2.data();
  ir_se.se_act = mk::Activation::kRelu;
  ir_se.se_gate = mk::Activation::kHardsigmoid;
  ir_se.project = w_pr2.data();
  ir_se.dw_act = mk::Activation::kHardswish;
  net.add(ir_se);
  net.add(layer(Kind::kGlobalAvgPool, c3, c3, 1, 1, mk::Activation::kIdentity, nullptr));
  net.add(layer(Kind::kPwconv, c3, classes, 1, 1, mk::Activation::kHardswish, w_head.data()));
  CHECK(net.size() == 7);
  const mk::Extent out = net.out_extent(h, w);
  const int64_t h1 = (h - 1) / 2 + 1, w1 = (w - 1) / 2 + 1, h2 = (h1 - 1) / 2 + 1, w2 = (w1 - 1) / 2 + 1;
  CHECK(out.height == 1 && out.width == 1 && out.channels == classes);

  auto& pool = mk::ThreadPool::instance();
  const int saved = pool.num_threads();
  for (int threads : {1, 2}) {
    pool.set_num_threads(threads);
    for (int64_t n : {1, 2}) {
      const mk::Isa isa = mk::best_isa();
      const std::vector<float> x = random_vec(rng, n * h * w * c0, 1.0f);
      std::vector<float> a(n * h1 * w1 * c1), b(n * h1 * w1 * c1), p(n * h1 * w1 * c2), r(n * h1 * w1 * c2);
      std::vector<float> f(n * h2 * w2 * c3), pooled(n * c3), want(n * classes);
      mk::conv_bn_act(mk::ConvArgs{x.data(), w_stem.data(), a.data(), n, h, w, c0, c1, h1, w1, 3, 2, 1, 1, 1, 1,
                                   mk::Activation::kHardswish},
                      isa);
      mk::DwconvArgs d;
      d.x = a.data();
      d.packed = w_dw.data();
      d.y = b.data();
      d.batch = n;
      d.p = mk::DwconvParams{h1, w1, c1, h1, w1, 3, 3, 1, 1, 1, 1, 1, 1, mk::Activation::kRelu};
      mk::dwconv_bn_act(d, isa);
      mk::pwconv_bn_act(mk::PwconvArgs{b.data(), w_pw.data(), nullptr, p.data(), n * h1 * w1,
                                       mk::GemmParams{c1, c2, mk::Activation::kIdentity}},
                        isa);
      mk::inverted_residual(mk::InvertedResidualArgs{p.data(), w_ex.data(), w_dw2.data(), nullptr, nullptr,
                                                     w_pr.data(), r.data(), n, h1, w1, c2, hid, 0, c2, h1, w1, 5,
                                                     1, 2, 2, 2, 2, mk::Activation::kRelu6, mk::Activation::kRelu6,
                                                     mk::Activation::kIdentity, mk::Activation::kIdentity, true},
                            isa);
      mk::inverted_residual(mk::InvertedResidualArgs{r.data(), w_ex2.data(), w_dw3.data(), f1.data(), f2.data(),
                                                     w_pr2.data(), f.data(), n, h1, w1, c2, hid, sq, c3, h2, w2,
                                                     3, 2, 1, 1, 1, 1, mk::Activation::kHardswish,
                                                     mk::Activation::kHardswish, mk::Activation::kRelu,
                                                     mk::Activation::kHardsigmoid, false},
                            isa);
      mk::global_avgpool(f.data(), n, h2 * w2, c3, pooled.data(), isa);
      mk::pwconv_bn_act(mk::PwconvArgs{pooled.data(), w_head.data(), nullptr, want.data(), n,
                                       mk::GemmParams{c3, classes, mk::Activation::kHardswish}},
                        isa);
      std::vector<float> got(want.size(), std::numeric_limits<float>::quiet_NaN());
      net.run(x.data(), n, h, w, got.data(), isa);
      CHECK_MSG(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)) == 0,
                "threads=%d n=%lld: network output differs from the drivers'", threads, (long long)n);
      // The same input in NCHW: moved to NHWC inside run, the same output bit for bit.
      std::vector<float> x_nchw(x.size());
      for (int64_t b = 0; b < n; ++b)
        for (int64_t q = 0; q < h * w; ++q)
          for (int64_t c = 0; c < c0; ++c) x_nchw[(b * c0 + c) * h * w + q] = x[(b * h * w + q) * c0 + c];
      std::fill(got.begin(), got.end(), std::numeric_limits<float>::quiet_NaN());
      net.run(x_nchw.data(), n, h, w, got.data(), isa, nullptr, true);
      CHECK_MSG(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)) == 0,
                "threads=%d n=%lld: network output from an NCHW input differs", threads, (long long)n);
    }
  }
  pool.set_num_threads(saved);
}

TEST_CASE("network: rejects layers that do not chain and empty networks") {
  using Kind = mk::NetworkLayer::Kind;
  std::vector<float> wts(1000, 0.1f), buf(1000);
  auto throws = [](auto fn) {
    try {
      fn();
    } catch (const std::invalid_argument&) {
      return true;
    }
    return false;
  };
  mk::Network empty;
  CHECK_MSG(throws([&] { empty.run(buf.data(), 1, 2, 2, buf.data(), mk::Isa::kScalar); }), "empty network ran");
  mk::Network net;
  net.add(layer(Kind::kPwconv, 4, 8, 1, 1, mk::Activation::kRelu, wts.data()));
  CHECK_MSG(throws([&] { net.add(layer(Kind::kPwconv, 5, 8, 1, 1, mk::Activation::kRelu, wts.data())); }),
            "channel mismatch accepted");
  CHECK_MSG(throws([&] { net.add(layer(Kind::kDwconv, 8, 9, 3, 1, mk::Activation::kRelu, wts.data())); }),
            "depthwise with in != out accepted");
  CHECK_MSG(throws([&] { net.add(layer(Kind::kPwconv, 8, 8, 1, 1, static_cast<mk::Activation>(42), wts.data())); }),
            "activation 42 accepted");
  CHECK_MSG(throws([&] { net.add(layer(Kind::kConv, 8, 8, 3, 1, mk::Activation::kRelu, nullptr)); }),
            "conv without weights accepted");
  net.add(layer(Kind::kDwconv, 8, 8, 3, 2, mk::Activation::kRelu, wts.data()));
  CHECK_MSG(throws([&] { net.out_extent(0, 4); }), "empty input accepted");
  CHECK_MSG(throws([&] { net.add(layer(Kind::kGlobalAvgPool, 8, 4, 1, 1, mk::Activation::kIdentity, nullptr)); }),
            "pool changing the channel count accepted");
  CHECK_MSG(throws([&] { net.add(layer(Kind::kGlobalAvgPool, 8, 8, 3, 1, mk::Activation::kIdentity, nullptr)); }),
            "pool with a kernel accepted");
  CHECK(net.size() == 2);
}

// Fused steps (net_fuse): a stem conv computed band by band inside the block without
// expand after it (with a residual, with SE, with both: that one stores the stem output
// first), and depthwise + pointwise pairs on maps large enough to be fused (>= 1 MiB of
// depthwise output), also behind a stem. Each must equal the layer-by-layer run bit for
// bit, on 1-3 threads and batch 1-2.
TEST_CASE("network: fused stem blocks and depthwise + pointwise pairs equal the unfused run") {
  using Kind = mk::NetworkLayer::Kind;
  using A = mk::Activation;
  std::mt19937 rng(5);
  struct Weights {
    std::vector<std::vector<float>> v;
    const float* add(std::mt19937& rng, int64_t n, float scale) {
      v.push_back(random_vec(rng, n, scale));
      return v.back().data();
    }
  } wts;
  auto stem = [&](int64_t cout, A act) {
    return layer(Kind::kConv, 3, cout, 3, 2, act, wts.add(rng, (27 + 1) * cout, 0.5f));
  };
  auto block = [&](int64_t c, int64_t cout, int s, bool se, bool residual) {
    mk::NetworkLayer b = layer(Kind::kInvertedResidual, c, cout, 3, s, A::kIdentity, nullptr);
    b.hidden = c;
    b.dw = wts.add(rng, 10 * c, 0.5f);
    b.dw_act = A::kRelu;
    b.project = wts.add(rng, (c + 1) * cout, 0.3f);
    b.residual = residual;
    if (se) {
      b.se_channels = 8;
      b.se_fc1 = wts.add(rng, (c + 1) * 8, 0.5f);
      b.se_fc2 = wts.add(rng, 9 * c, 0.5f);
      b.se_act = A::kRelu;
      b.se_gate = A::kHardsigmoid;
    }
    return b;
  };
  struct Case {
    const char* name;
    int64_t h, w;
    std::vector<mk::NetworkLayer> layers;
  };
  std::vector<Case> cases;
  cases.push_back({"stem + block with residual", 64, 50, {stem(16, A::kHardswish), block(16, 16, 1, false, true)}});
  cases.push_back({"stem + SE block, stride 2", 45, 64, {stem(16, A::kHardswish), block(16, 24, 2, true, false)}});
  cases.push_back({"stem + SE block with residual", 40, 33, {stem(16, A::kRelu6), block(16, 16, 1, true, true)}});
  cases.push_back({"stem + dw + pw, then a pair", 130, 129,
                   {stem(64, A::kRelu6), layer(Kind::kDwconv, 64, 64, 3, 1, A::kRelu6, wts.add(rng, 10 * 64, 0.5f)),
                    layer(Kind::kPwconv, 64, 64, 1, 1, A::kRelu6, wts.add(rng, 65 * 64, 0.3f)),
                    layer(Kind::kDwconv, 64, 64, 5, 1, A::kRelu, wts.add(rng, 26 * 64, 0.5f)),
                    layer(Kind::kPwconv, 64, 8, 1, 1, A::kHardswish, wts.add(rng, 65 * 8, 0.3f)),
                    layer(Kind::kGlobalAvgPool, 8, 8, 1, 1, A::kIdentity, nullptr)}});
  // A fused pair two layers after a fused stem: its input and output buffers must differ.
  cases.push_back({"stem + dw + pw, pw, then a pair", 130, 131,
                   {stem(64, A::kRelu6), layer(Kind::kDwconv, 64, 64, 3, 1, A::kRelu6, wts.add(rng, 10 * 64, 0.5f)),
                    layer(Kind::kPwconv, 64, 64, 1, 1, A::kRelu6, wts.add(rng, 65 * 64, 0.3f)),
                    layer(Kind::kPwconv, 64, 64, 1, 1, A::kRelu, wts.add(rng, 65 * 64, 0.3f)),
                    layer(Kind::kDwconv, 64, 64, 3, 1, A::kRelu, wts.add(rng, 10 * 64, 0.5f)),
                    layer(Kind::kPwconv, 64, 8, 1, 1, A::kHardswish, wts.add(rng, 65 * 8, 0.3f)),
                    layer(Kind::kGlobalAvgPool, 8, 8, 1, 1, A::kIdentity, nullptr)}});
  // A depthwise layer after a block step on >= 1 MiB runs inside the block (next_dw): after
  // a stem block, and after a pair whose pointwise before it became its expand (the block
  // driver's own test covers its shapes and paddings).
  cases.push_back({"stem + dw + pw, then a stride-2 dw", 130, 129,
                   {stem(64, A::kRelu), layer(Kind::kDwconv, 64, 64, 3, 1, A::kRelu, wts.add(rng, 10 * 64, 0.5f)),
                    layer(Kind::kPwconv, 64, 64, 1, 1, A::kRelu, wts.add(rng, 65 * 64, 0.3f)),
                    layer(Kind::kDwconv, 64, 64, 3, 2, A::kRelu, wts.add(rng, 10 * 64, 0.5f)),
                    layer(Kind::kPwconv, 64, 16, 1, 1, A::kRelu, wts.add(rng, 65 * 16, 0.3f))}});
  cases.push_back({"pw, a pair, then a 5x5 stride-2 dw", 131, 133,
                   {stem(64, A::kRelu6), layer(Kind::kPwconv, 64, 64, 1, 1, A::kRelu6, wts.add(rng, 65 * 64, 0.3f)),
                    layer(Kind::kDwconv, 64, 64, 3, 1, A::kRelu6, wts.add(rng, 10 * 64, 0.5f)),
                    layer(Kind::kPwconv, 64, 64, 1, 1, A::kRelu6, wts.add(rng, 65 * 64, 0.3f)),
                    layer(Kind::kDwconv, 64, 64, 5, 2, A::kHardswish, wts.add(rng, 26 * 64, 0.5f))}});
  auto& pool = mk::ThreadPool::instance();
  const int saved = pool.num_threads();
  const bool saved_fuse = mk::get_tuning("net_fuse");
  for (const Case& c : cases) {
    mk::Network net;
    for (const mk::NetworkLayer& l : c.layers) net.add(l);
    const mk::Extent out = net.out_extent(c.h, c.w);
    for (int threads : {1, 2, 3}) {
      pool.set_num_threads(threads);
      for (int64_t n : {1, 2}) {
        if (n == 2 && threads == 2) continue;
        const std::vector<float> x = random_vec(rng, n * c.h * c.w * 3, 1.0f);
        const int64_t size = n * out.height * out.width * out.channels;
        std::vector<float> got[2];
        for (int fused : {0, 1}) {
          mk::set_tuning("net_fuse", fused == 1);
          got[fused].assign(size, std::numeric_limits<float>::quiet_NaN());
          net.run(x.data(), n, c.h, c.w, got[fused].data(), mk::best_isa());
        }
        bool finite = true;
        for (float v : got[1]) finite = finite && std::isfinite(v);
        CHECK_MSG(finite && std::memcmp(got[0].data(), got[1].data(), size * sizeof(float)) == 0,
                  "%s, threads=%d n=%lld: the fused run differs from layer by layer", c.name, threads, (long long)n);
      }
    }
  }
  mk::set_tuning("net_fuse", saved_fuse);
  pool.set_num_threads(saved);
}
