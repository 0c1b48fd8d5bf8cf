// Inverted residual block driver: expand 1x1 -> depthwise -> [SE] -> project 1x1 [+ x].
//
// Row bands (the default): each job owns a range of output rows of one image and walks
// it in bands of a few rows. For a band it expands only the input rows the band's
// depthwise taps need into a sliding window (rows shared with the previous band are kept,
// so each expanded row is computed once per job), runs the depthwise rows from that
// window and projects the band straight into y (+ residual). The expanded tensor (t = 6
// times the input) never exists whole: its window (tens to hundreds of KiB) stays in L2.
// With SE the pooled vector needs the whole depthwise output first: pass 1 writes the
// depthwise output (1/stride^2 of the expanded size) to scratch with each job's channel
// sums, the excitation runs on the pooled vector, and pass 2 scales and projects each
// job's rows. (Recomputing expand + depthwise in pass 2 instead would redo ~half the
// block's FLOPs to save a write+read of the depthwise output that stays in L2/L3 at
// batch 1: not worth it on a CPU; see bench/NOTES.md.)
// per_op = true runs the three drivers one after another over whole tensors instead
// (the A/B baseline in bench/NOTES.md, and the C++ tests' second opinion).
#pragma once
#include <cstdint>

#include "../kernels/activation.h"
#include "../runtime/cpu_features.h"
#include "conv.h"
#include "dwconv.h"

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
  bool per_op = false;
  bool panels = false;  // expand, project and the SE FCs in the 16-column panel layout (pack_gemm_panels)
  int64_t band_pixels = 0;  // output pixels per row band; 0: the default (~384). Tests force short bands.
  Activation project_act = Activation::kIdentity;  // MobileNet v1's depthwise-separable pairs have one
  // Optional: the block's input is this conv's output (a stem: image -> [batch][height]
  // [width][in_channels]), computed band by band into the window like an expansion and
  // never stored whole; x is then unused. Only for blocks without expand.
  const ConvArgs* stem = nullptr;
  // Optional: a depthwise layer that reads this block's output (next_dw->x == y, its input
  // extent the block's output), computed band by band as soon as its input rows are
  // projected, while they are still in L2; its output next_dw->y is then the step's result.
  // (MobileNet v1's stride-2 depthwise after its first block read that block's 3.2 MB
  // output from L3 or DRAM otherwise.) SE and per-op blocks run it after the block.
  const DwconvArgs* next_dw = nullptr;
  // Internal (the driver's shared expansion, ir_shared_expand): x is the already expanded
  // image and these are the residual's rows, [batch][out_height][out_width][out_channels].
  const float* residual_x = nullptr;
};

void inverted_residual(const InvertedResidualArgs& a, Isa isa);

// Seconds the row-band driver spends in each phase (the expand or stem rows, the
// depthwise rows, the project), summed over bands and calls while a sink is set. For
// benchmarks at 1 thread: the sums are not synchronized. SE blocks add their pooling and
// excitation (se_s), the gate's scale (scale_s) and the second pass's project (project_s).
// Null (the default) turns the timing off.
struct BandPhaseTimes {
  double expand_s = 0, dw_s = 0, project_s = 0, se_s = 0, scale_s = 0;
};
void set_band_phase_sink(BandPhaseTimes* sink);

}  // namespace mk
