// Pointwise conv = GEMM microkernels (float32): Y[M,N] = act(X[M,K] . W[K,N] + b) (+ R).
//
// W is the packed pointwise weight [K + 1][N] (pack_conv with k = 1): rows 0..K-1 are
// the B matrix, row K the bias. X, Y and the optional residual R are NHWC pixels x
// channels, row-major with leading dimensions K and N.
#pragma once
#include <cstdint>

#include "activation.h"

namespace mk {

struct GemmParams {
  int64_t k, n;           // reduction length, output channels
  Activation act;
};

// Computes rows [0, mr) (mr <= 6 for AVX2) and columns [n0, n0 + nr) of one tile.
// x: the tile's first row of X; y, residual: the tile's first row of Y / R (R may be null).
using GemmTileKernel = void (*)(const GemmParams& p, int64_t mr, int64_t n0, int64_t nr, const float* x,
                                const float* packed, const float* residual, float* y);

void gemm_tile_scalar(const GemmParams& p, int64_t mr, int64_t n0, int64_t nr, const float* x,
                      const float* packed, const float* residual, float* y);
#if defined(MK_HAVE_AVX2)
// 6 rows x 16 columns of accumulators (12 ymm registers), masked column tails.
void gemm_tile_avx2(const GemmParams& p, int64_t mr, int64_t n0, int64_t nr, const float* x,
                    const float* packed, const float* residual, float* y);
#endif
#if defined(MK_HAVE_NEON)
// 6 rows x 8 columns (12 q registers); 4-column and scalar column tails.
void gemm_tile_neon(const GemmParams& p, int64_t mr, int64_t n0, int64_t nr, const float* x,
                    const float* packed, const float* residual, float* y);
#endif

}  // namespace mk
