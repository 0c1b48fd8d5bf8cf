// Inverted residual block driver: expand 1x1 -> depthwise -> [SE] -> project 1x1 [+ x],
// one call from Python. The expanded and depthwise tensors live in per-thread scratch
// buffers reused across calls (no allocation after warm-up). Row-band fusion, which keeps
// them in cache instead, is the next step.
#pragma once
#include <cstdint>

#include "../kernels/activation.h"
#include "../runtime/cpu_features.h"

namespace mk {

struct InvertedResidualArgs {
  const float* x;        // [batch][height][width][in_channels]
  const float* expand;   // [in_channels + 1][hidden] or null (no expansion: hidden == in_channels)
  const float* dw;       // [kernel*kernel + 1][hidden]
  const float* se_fc1;   // [hidden + 1][se_channels] or null
  const float* se_fc2;   // [se_channels + 1][hidden] or null
  const float* project;  // [hidden + 1][out_channels]
  float* y;              // [batch][out_height][out_width][out_channels]
  int64_t batch, height, width, in_channels, hidden, se_channels, out_channels, out_height, out_width;
  int kernel, stride, pad_top, pad_left, pad_bottom, pad_right;
  Activation expand_act, dw_act, se_act, se_gate;
  bool residual;
};

void inverted_residual(const InvertedResidualArgs& a, Isa isa);

}  // namespace mk
