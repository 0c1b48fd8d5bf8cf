// Global average pool and squeeze-excite drivers vs a double reference, every ISA,
// channel tails and channel blocks (> 64), batch > 1, in place and out of place, 1-3
// threads with the pool split by pixels or by channel blocks.
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "../ops/squeeze_excite.h"
#include "../runtime/thread_pool.h"
#include "../runtime/tuning.h"
#include "harness.h"
#include "reference.h"

TEST_CASE("squeeze_excite and global_avgpool: every ISA matches the float64 reference") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  const int64_t channel_counts[] = {1, 7, 8, 13, 64, 72, 130};
  auto& thread_pool = mk::ThreadPool::instance();
  const int saved_threads = thread_pool.num_threads();
  const bool saved_split = mk::get_tuning("pool_pixel_split");
  int cases = 0;
  for (int rep = 0; rep < 14; ++rep) {
    thread_pool.set_num_threads(1 + rep % 3);
    mk::set_tuning("pool_pixel_split", rep % 4 != 3);
    const int64_t n = 1 + rng() % 2, pixels = 1 + rng() % 40, c = channel_counts[rep % 7], sq = 1 + rng() % 20;
    const auto act = static_cast<mk::Activation>(rng() % mk::kNumActivations);
    const auto gate = rep % 2 ? mk::Activation::kHardsigmoid : mk::Activation::kSigmoid;
    std::vector<float> x(n * pixels * c), fc1((c + 1) * sq), fc2((sq + 1) * c);
    for (float& v : x) v = val(rng) * 3;
    for (float& v : fc1) v = val(rng);
    for (float& v : fc2) v = val(rng);
    std::vector<double> pooled(n * c, 0.0), ref(x.size());
    for (int64_t b = 0; b < n; ++b) {
      for (int64_t p = 0; p < pixels; ++p)
        for (int64_t ch = 0; ch < c; ++ch) pooled[b * c + ch] += x[(b * pixels + p) * c + ch] / double(pixels);
      std::vector<double> hid(sq), g(c);
      for (int64_t j = 0; j < sq; ++j) {
        double acc = fc1[c * sq + j];
        for (int64_t ch = 0; ch < c; ++ch) acc += pooled[b * c + ch] * fc1[ch * sq + j];
        hid[j] = mktest::ref_activation(acc, act);
      }
      for (int64_t ch = 0; ch < c; ++ch) {
        double acc = fc2[sq * c + ch];
        for (int64_t j = 0; j < sq; ++j) acc += hid[j] * fc2[j * c + ch];
        g[ch] = mktest::ref_activation(acc, gate);
      }
      for (int64_t p = 0; p < pixels; ++p)
        for (int64_t ch = 0; ch < c; ++ch) ref[(b * pixels + p) * c + ch] = x[(b * pixels + p) * c + ch] * g[ch];
    }
    for (mk::Isa isa : mktest::isas()) {
      std::vector<float> got_pool(n * c, std::numeric_limits<float>::quiet_NaN());
      mk::global_avgpool(x.data(), n, pixels, c, got_pool.data(), isa);
      const double pool_err = mktest::rel_error(got_pool, pooled);
      CHECK_MSG(pool_err <= 1e-5, "pool isa=%s n=%lld pixels=%lld c=%lld threads=%d: rel err %g", mk::isa_name(isa),
                (long long)n, (long long)pixels, (long long)c, thread_pool.num_threads(), pool_err);
      const bool in_place = rep % 3 == 0;
      std::vector<float> y = in_place ? x : std::vector<float>(x.size(), std::numeric_limits<float>::quiet_NaN());
      mk::squeeze_excite(mk::SqueezeExciteArgs{in_place ? y.data() : x.data(), fc1.data(), fc2.data(), y.data(),
                                               n, pixels, c, sq, act, gate},
                         isa);
      const double err = mktest::rel_error(y, ref);
      CHECK_MSG(err <= 1e-5, "se isa=%s n=%lld pixels=%lld c=%lld sq=%lld act=%d in_place=%d: rel err %g",
                mk::isa_name(isa), (long long)n, (long long)pixels, (long long)c, (long long)sq, int(act),
                int(in_place), err);
    }
    ++cases;
  }
  thread_pool.set_num_threads(saved_threads);
  mk::set_tuning("pool_pixel_split", saved_split);
  CHECK(cases == 14);
}
