// NEON GEMM tile: 6 rows x 8 columns = 12 float32x4 accumulators (of 32 registers). A is
// read 4 k at a time (one 128-bit load per row) and each k's value is taken with
// vfmaq_laneq_f32, so a 4-k step costs 6 A + 8 B loads for 48 FMAs (the broadcast-load
// form needed 6 + 2 loads per 12 FMAs); 20 registers live. The driver's tile is up to 16
// columns: 8-column chunks here, then 4, then the scalar tile for the last 1-3 columns
// (NEON has no masked loads; nothing outside the tensors is read).
#include <arm_neon.h>

#include "../gemm.h"
#include "activation_neon.h"

namespace mk {

namespace {

// One k of a 4-k step: lane L of each row's A vector times the k-th B row.
template <int MR, int NR, int L>
inline void step4(float32x4_t (&acc)[MR][2], const float32x4_t (&a)[MR], const float* bk) {
  const float32x4_t b0 = vld1q_f32(bk);
  const float32x4_t b1 = NR == 8 ? vld1q_f32(bk + 4) : b0;
  for (int i = 0; i < MR; ++i) {
    acc[i][0] = vfmaq_laneq_f32(acc[i][0], b0, a[i], L);
    if (NR == 8) acc[i][1] = vfmaq_laneq_f32(acc[i][1], b1, a[i], L);
  }
}

template <int MR, int NR>
void tile(const GemmParams& p, int64_t n0, const float* x, const float* packed, const float* residual, float* y) {
  static_assert(NR == 4 || NR == 8, "NR is 4 or 8");
  const int64_t K = p.k, N = p.n;
  const float* b = gemm_b_column(p, packed, n0);
  const int64_t ldb = gemm_ldb(p);
  float32x4_t acc[MR][2];
  const float32x4_t bias0 = vld1q_f32(b + K * ldb);
  const float32x4_t bias1 = NR == 8 ? vld1q_f32(b + K * ldb + 4) : vdupq_n_f32(0.0f);
  for (int i = 0; i < MR; ++i) {
    acc[i][0] = bias0;
    acc[i][1] = bias1;
  }
  const int64_t lda = gemm_lda(p);
  gemm_for_each_run(p, 0, K, [&](int64_t k0, int64_t k1, int64_t shift) {
    const float* xs = x + shift;
    int64_t kk = k0;
    for (; kk + 4 <= k1; kk += 4) {
      float32x4_t a[MR];
      for (int i = 0; i < MR; ++i) a[i] = vld1q_f32(xs + i * lda + kk);
      step4<MR, NR, 0>(acc, a, b + kk * ldb);
      step4<MR, NR, 1>(acc, a, b + (kk + 1) * ldb);
      step4<MR, NR, 2>(acc, a, b + (kk + 2) * ldb);
      step4<MR, NR, 3>(acc, a, b + (kk + 3) * ldb);
    }
    for (; kk < k1; ++kk) {  // run length % 4 tail: broadcast loads
      const float* bk = b + kk * ldb;
      const float32x4_t b0 = vld1q_f32(bk);
      const float32x4_t b1 = NR == 8 ? vld1q_f32(bk + 4) : b0;
      for (int i = 0; i < MR; ++i) {
        const float32x4_t a = vld1q_dup_f32(xs + i * lda + kk);
        acc[i][0] = vfmaq_f32(acc[i][0], a, b0);
        if (NR == 8) acc[i][1] = vfmaq_f32(acc[i][1], a, b1);
      }
    }
  });
  for (int i = 0; i < MR; ++i) {
    float* yi = y + i * N + n0;
    float32x4_t v0 = activation_neon(acc[i][0], p.act);
    if (residual) v0 = vaddq_f32(v0, vld1q_f32(residual + i * N + n0));
    vst1q_f32(yi, v0);
    if (NR == 8) {
      float32x4_t v1 = activation_neon(acc[i][1], p.act);
      if (residual) v1 = vaddq_f32(v1, vld1q_f32(residual + i * N + n0 + 4));
      vst1q_f32(yi + 4, v1);
    }
  }
}

template <int NR>
void tile_rows(const GemmParams& p, int64_t mr, int64_t n0, const float* x, const float* packed,
               const float* residual, float* y) {
  switch (mr) {
    case 6: return tile<6, NR>(p, n0, x, packed, residual, y);
    case 5: return tile<5, NR>(p, n0, x, packed, residual, y);
    case 4: return tile<4, NR>(p, n0, x, packed, residual, y);
    case 3: return tile<3, NR>(p, n0, x, packed, residual, y);
    case 2: return tile<2, NR>(p, n0, x, packed, residual, y);
    default: return tile<1, NR>(p, n0, x, packed, residual, y);
  }
}

}  // namespace

void gemm_tile_neon(const GemmParams& p, int64_t mr, int64_t n0, int64_t nr, const float* x, const float* packed,
                    const float* residual, float* y) {
  int64_t j = n0;
  const int64_t end = n0 + nr;
  for (; j + 8 <= end; j += 8) tile_rows<8>(p, mr, j, x, packed, residual, y);
  for (; j + 4 <= end; j += 4) tile_rows<4>(p, mr, j, x, packed, residual, y);
  if (j < end) gemm_tile_scalar(p, mr, j, end - j, x, packed, residual, y);
}

}  // namespace mk
