// Activation codes shared by C++, Triton and the Python reference
// (mobilekernels/activation.py holds the same numbers).
#pragma once
#include <cmath>
#include <type_traits>

namespace mk {

enum class Activation : int {
  kIdentity = 0,
  kRelu = 1,
  kRelu6 = 2,
  kHardswish = 3,
  kHardsigmoid = 4,
  kSilu = 5,
  kSigmoid = 6,
};

constexpr int kNumActivations = 7;

// hardsigmoid(x) = relu6(x + 3) / 6 and hardswish(x) = x * hardsigmoid(x), as in
// the MobileNetV3 paper and torch, computed as clamp(fma(x, 1/6, 1/2), 0, 1): one fused
// multiply-add where x + 3, the clamp to 6 and the multiply by 1/6 took two operations
// (hardswish: 4 vector operations instead of 5, in every depthwise and GEMM epilogue of
// v3's later blocks). The same fma in every backend (std::fma is correctly rounded, as
// the vector FMAs are), so scalar and SIMD paths give the same bits.
// clamp that lets NaN through, as torch's activations do (fmin/fmax would drop it).
inline float clamp_nan(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

inline float apply_activation(float v, Activation act) {
  constexpr float kSixth = 1.0f / 6.0f;
  constexpr float kInf = __builtin_inff();
  switch (act) {
    case Activation::kIdentity: return v;
    case Activation::kRelu: return clamp_nan(v, 0.0f, kInf);
    case Activation::kRelu6: return clamp_nan(v, 0.0f, 6.0f);
    case Activation::kHardswish: return v * clamp_nan(std::fma(v, kSixth, 0.5f), 0.0f, 1.0f);
    case Activation::kHardsigmoid: return clamp_nan(std::fma(v, kSixth, 0.5f), 0.0f, 1.0f);
    case Activation::kSilu: return v / (1.0f + std::exp(-v));
    case Activation::kSigmoid: return 1.0f / (1.0f + std::exp(-v));
  }
  return v;
}

// Calls f(std::integral_constant<Activation, act>{}): kernels instantiate their epilogue per
// activation, so the switch runs once per call instead of once per stored vector (a runtime
// switch per vector kept GEMM epilogues out of line, spilling the accumulators around each).
template <typename F>
inline decltype(auto) with_activation(Activation act, F&& f) {
  using A = Activation;
  switch (act) {
    case A::kRelu: return f(std::integral_constant<A, A::kRelu>{});
    case A::kRelu6: return f(std::integral_constant<A, A::kRelu6>{});
    case A::kHardswish: return f(std::integral_constant<A, A::kHardswish>{});
    case A::kHardsigmoid: return f(std::integral_constant<A, A::kHardsigmoid>{});
    case A::kSilu: return f(std::integral_constant<A, A::kSilu>{});
    case A::kSigmoid: return f(std::integral_constant<A, A::kSigmoid>{});
    case A::kIdentity: break;
  }
  return f(std::integral_constant<A, A::kIdentity>{});
}

}  // namespace mk
