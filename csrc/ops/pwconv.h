// Pointwise conv (GEMM + bias + activation [+ residual]) driver: validates sizes, blocks
// rows so a block of X stays in L2 while every 16-column panel of W passes over it, and
// splits row blocks over the thread pool.
#pragma once
#include <cstdint>

#include "../kernels/gemm.h"
#include "../runtime/cpu_features.h"

namespace mk {

struct PwconvArgs {
  const float* x;         // [m][k]
  const float* packed;    // [k + 1][n]
  const float* residual;  // [m][n] or null
  float* y;               // [m][n]
  int64_t m;
  GemmParams p;
};

void pwconv_check(const PwconvArgs& a);
void pwconv_bn_act(const PwconvArgs& a, Isa isa);

}  // namespace mk
