// Portable GEMM tile: the reference the SIMD tiles are tested against.
#include "../gemm.h"

namespace mk {

void gemm_tile_scalar(const GemmParams& p, int64_t mr, int64_t n0, int64_t nr, const float* x,
                      const float* packed, const float* residual, float* y) {
  const float* bias = packed + p.k * p.n;
  for (int64_t i = 0; i < mr; ++i) {
    const float* xi = x + i * p.k;
    for (int64_t j = n0; j < n0 + nr; ++j) {
      float acc = bias[j];
      for (int64_t kk = 0; kk < p.k; ++kk) acc += xi[kk] * packed[kk * p.n + j];
      float v = apply_activation(acc, p.act);
      if (residual) v += residual[i * p.n + j];
      y[i * p.n + j] = v;
    }
  }
}

}  // namespace mk
