// Shared pieces of the C++ tests: double-precision activations, the error measure, the
// ISAs this machine can run.
#pragma once
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../kernels/activation.h"
#include "../runtime/cpu_features.h"

namespace mktest {

inline double ref_activation(double v, mk::Activation act) {
  switch (act) {
    case mk::Activation::kIdentity: return v;
    case mk::Activation::kRelu: return v > 0 ? v : 0;
    case mk::Activation::kRelu6: return std::fmin(std::fmax(v, 0.0), 6.0);
    case mk::Activation::kHardswish: return v * std::fmin(std::fmax(v + 3, 0.0), 6.0) / 6;
    case mk::Activation::kHardsigmoid: return std::fmin(std::fmax(v + 3, 0.0), 6.0) / 6;
    case mk::Activation::kSilu: return v / (1 + std::exp(-v));
    case mk::Activation::kSigmoid: return 1 / (1 + std::exp(-v));
  }
  return v;
}

// ||got - ref|| / ||ref||, infinite when got has a NaN (an unwritten element).
inline double rel_error(const std::vector<float>& got, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = double(got[i]) - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  if (std::isnan(num)) return std::numeric_limits<double>::infinity();
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

// Scalar and every SIMD ISA this build and CPU can run (on an AVX-512 CPU both the AVX2
// and the AVX-512 kernels are tested).
inline std::vector<mk::Isa> isas() {
  std::vector<mk::Isa> out{mk::Isa::kScalar};
  if (mk::cpu_has_avx2_fma()) out.push_back(mk::Isa::kAvx2);
  if (mk::cpu_has_avx512()) out.push_back(mk::Isa::kAvx512);
  if (mk::cpu_has_neon()) out.push_back(mk::Isa::kNeon);
  return out;
}

}  // namespace mktest
