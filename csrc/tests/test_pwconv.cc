// GEMM tiles vs a double-precision reference, every ISA, tails in m (rows % 6) and n
// (columns % 16 and % 8), every activation, with and without the residual.
#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "../ops/pwconv.h"
#include "harness.h"
#include "reference.h"

TEST_CASE("pwconv: every ISA matches the float64 reference on random cases") {
  std::mt19937 rng(99);
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  const int64_t ms[] = {1, 5, 6, 7, 13, 49, 100};
  const int64_t ns[] = {1, 7, 8, 9, 16, 17, 24, 40};
  const int64_t ks[] = {1, 3, 8, 16, 33, 96};
  int cases = 0;
  for (int act = 0; act < mk::kNumActivations; ++act) {
    for (int rep = 0; rep < 8; ++rep) {
      const int64_t m = ms[rng() % 7], n = ns[rng() % 8], k = ks[rng() % 6];
      const bool with_residual = rep % 2 == 1;
      std::vector<float> x(m * k), packed((k + 1) * n), res(with_residual ? m * n : 0);
      for (float& v : x) v = val(rng) * 2;
      for (float& v : packed) v = val(rng) * 3 / std::sqrt(float(k));
      for (float& v : res) v = val(rng);
      std::vector<double> ref(m * n);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double acc = packed[k * n + j];
          for (int64_t kk = 0; kk < k; ++kk) acc += double(x[i * k + kk]) * packed[kk * n + j];
          ref[i * n + j] = mktest::ref_activation(acc, static_cast<mk::Activation>(act)) +
                           (with_residual ? res[i * n + j] : 0.0);
        }
      // The same weights in the 16-column panel layout (zero-padded tail panel).
      std::vector<float> panels(mk::gemm_panels_size(k, n), std::numeric_limits<float>::quiet_NaN());
      mk::pack_gemm_panels(packed.data(), k, n, panels.data());
      for (mk::Isa isa : mktest::isas()) {
        for (bool use_panels : {false, true}) {
          std::vector<float> y(m * n, std::numeric_limits<float>::quiet_NaN());
          mk::PwconvArgs a{x.data(), use_panels ? panels.data() : packed.data(),
                           with_residual ? res.data() : nullptr, y.data(), m,
                           mk::GemmParams{k, n, static_cast<mk::Activation>(act), use_panels}};
          mk::pwconv_bn_act(a, isa);
          const double err = mktest::rel_error(y, ref);
          CHECK_MSG(err <= 1e-5, "isa=%s panels=%d act=%d m=%lld n=%lld k=%lld residual=%d: rel err %g",
                    mk::isa_name(isa), int(use_panels), act, (long long)m, (long long)n, (long long)k,
                    int(with_residual), err);
        }
      }
      ++cases;
    }
  }
  CHECK(cases == mk::kNumActivations * 8);
}

TEST_CASE("pwconv: rejects bad sizes and activations") {
  float buf[16] = {};
  mk::PwconvArgs a{buf, buf, nullptr, buf, 0, mk::GemmParams{1, 1, mk::Activation::kRelu}};
  bool threw = false;
  try {
    mk::pwconv_bn_act(a, mk::Isa::kScalar);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK_MSG(threw, "m = 0 accepted");
  a.m = 1;
  a.p.act = static_cast<mk::Activation>(-1);
  threw = false;
  try {
    mk::pwconv_bn_act(a, mk::Isa::kScalar);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK_MSG(threw, "bad activation accepted");
}
