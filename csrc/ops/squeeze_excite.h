// Global average pool and squeeze-and-excitation drivers (NHWC float32).
//   pool:  pooled[n, c] = mean over pixels of x[n, :, c]
//   SE:    y = x * gate(fc2(act(fc1(pooled)))), fc1/fc2 packed like pointwise weights
#pragma once
#include <cstdint>

#include "../kernels/activation.h"
#include "../kernels/pool.h"
#include "../runtime/cpu_features.h"

namespace mk {

void global_avgpool(const float* x, int64_t batch, int64_t pixels, int64_t channels, float* pooled, Isa isa);

struct SqueezeExciteArgs {
  const float* x;    // [batch][pixels][channels]
  const float* fc1;  // [channels + 1][squeeze]
  const float* fc2;  // [squeeze + 1][channels]
  float* y;          // [batch][pixels][channels]; may equal x (in place)
  int64_t batch, pixels, channels, squeeze;
  Activation act, gate;
  bool panels = false;  // fc1 and fc2 in the GEMM's 16-column panel layout (pack_gemm_panels)
};

void squeeze_excite(const SqueezeExciteArgs& a, Isa isa);

// The excitation alone: gate[n, c] = gate(fc2(act(fc1(pooled[n, :])))) for n < batch
// (the two FCs as m = batch GEMMs). `hidden` is scratch of batch * squeeze floats.
// panels: fc1 and fc2 in the panel layout. At batch 1 the FCs are GEMVs whose weights come
// from DRAM inside a network; panels stream them contiguously (cold 960x240: 45-87 µs
// against 109-130 µs reading 32-column bands of [K + 1][N] rows, bench/NOTES.md).
void excitation(const float* pooled, const float* fc1, const float* fc2, int64_t batch, int64_t channels,
                int64_t squeeze, Activation act, Activation gate, float* hidden, float* gate_out, Isa isa,
                bool panels = false);

ChannelSumKernel channel_sum_kernel(Isa isa);
ChannelScaleKernel channel_scale_kernel(Isa isa);

}  // namespace mk
