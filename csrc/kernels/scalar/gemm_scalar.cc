// Portable GEMM tile: the reference the SIMD tiles are tested against.
#include "../gemm.h"

namespace mk {

void gemm_tile_scalar(const GemmParams& p, int64_t mr, int64_t n0, int64_t nr, const float* x,
                      const float* packed, const float* residual, float* y) {
  const int64_t ldb = gemm_ldb(p);
  for (int64_t i = 0; i < mr; ++i) {
    const float* xi = x + i * gemm_lda(p);
    for (int64_t j = n0; j < n0 + nr; ++j) {
      const float* bj = gemm_b_column(p, packed, j);
      float acc = bj[p.k * ldb];
      gemm_for_each_run(p, 0, p.k, [&](int64_t k0, int64_t k1, int64_t shift) {
        for (int64_t kk = k0; kk < k1; ++kk) acc += xi[kk + shift] * bj[kk * ldb];
      });
      float v = apply_activation(acc, p.act);
      if (residual) v += residual[i * p.n + j];
      y[i * p.n + j] = v;
    }
  }
}

void pack_gemm_panels(const float* packed, int64_t k, int64_t n, float* panels) {
  const int64_t count = (n + kGemmPanel - 1) / kGemmPanel;
  for (int64_t q = 0; q < count; ++q) {
    float* dst = panels + q * (k + 1) * kGemmPanel;
    const int64_t j0 = q * kGemmPanel, width = n - j0 < kGemmPanel ? n - j0 : kGemmPanel;
    for (int64_t r = 0; r <= k; ++r) {
      for (int64_t c = 0; c < kGemmPanel; ++c) dst[r * kGemmPanel + c] = c < width ? packed[r * n + j0 + c] : 0.0f;
    }
  }
}

void gemm_scale_rows(const GemmParams& p, const float* packed, const float* scale, float* out) {
  const int64_t width = p.panels ? kGemmPanel : p.n;  // floats per row of one panel, or of B
  const int64_t blocks = p.panels ? (p.n + kGemmPanel - 1) / kGemmPanel : 1;
  for (int64_t q = 0; q < blocks; ++q) {
    const float* src = packed + q * (p.k + 1) * width;
    float* dst = out + q * (p.k + 1) * width;
    for (int64_t r = 0; r < p.k; ++r) {
      const float s = scale[r];
      for (int64_t c = 0; c < width; ++c) dst[r * width + c] = src[r * width + c] * s;
    }
    for (int64_t c = 0; c < width; ++c) dst[p.k * width + c] = src[p.k * width + c];
  }
}

}  // namespace mk
