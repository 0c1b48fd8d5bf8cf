// A chain of layers run in one call: stem conv, depthwise, pointwise and inverted-residual
// blocks and the global average pool (a 1x1 map: a classifier head after it is pointwise
// layers), each the same driver the per-op entry points use. Intermediate activations
// ping-pong between two per-thread buffers reused across calls (a third holds a block's
// output when the depthwise layer after it runs inside the block), so a whole MobileNet
// feature extractor costs one Python -> C++ crossing and no allocation after warm-up.
// The network holds raw pointers to its depthwise/stem weights (their owner, the Python
// binding, keeps them alive and unchanged for the network's lifetime) and its own copies
// of the pointwise and SE weights in the GEMM's panel layout.
#pragma once
#include <cstdint>
#include <vector>

#include "../kernels/activation.h"
#include "../runtime/cpu_features.h"
#include "../runtime/scratch.h"

namespace mk {

struct NetworkLayer {
  enum class Kind { kConv, kDwconv, kPwconv, kInvertedResidual, kGlobalAvgPool };
  Kind kind;
  int64_t in_channels = 0, out_channels = 0;
  int kernel = 1, stride = 1, dilation = 1;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  Activation act = Activation::kIdentity;  // conv / dwconv / pwconv; the block's expand
  const float* packed = nullptr;           // conv / dwconv / pwconv; the block's expand (may be null)
  // Inverted residual only.
  int64_t hidden = 0, se_channels = 0;
  const float *dw = nullptr, *se_fc1 = nullptr, *se_fc2 = nullptr, *project = nullptr;
  Activation dw_act = Activation::kIdentity, se_act = Activation::kIdentity, se_gate = Activation::kIdentity;
  bool residual = false;
  bool panels = false;  // set by Network::add: pointwise weights in the panel layout
};

struct Extent {
  int64_t height, width, channels;
};

class Network {
 public:
  Network() = default;
  Network(const Network&) = delete;  // layers point into owned_: copies would dangle
  Network& operator=(const Network&) = delete;
  Network(Network&&) = default;
  Network& operator=(Network&&) = default;

  // Checks the layer on its own and against the previous layer's output channels.
  void add(const NetworkLayer& layer);
  int64_t size() const { return static_cast<int64_t>(layers_.size()); }
  int64_t in_channels() const;
  int64_t out_channels() const;  // the last layer's
  // Output extent for an input of height x width (throws when a layer's output would be empty).
  Extent out_extent(int64_t height, int64_t width) const;
  // x [batch][height][width][in_channels()] -> y [batch][out_extent(height, width)].
  // layer_seconds (optional): filled with each layer's wall time, in order (the per-layer
  // profile bench/layer_profile.py compares with ONNX Runtime's per-node profile).
  // x_nchw: x is [batch][in_channels()][height][width] instead; it is first moved to NHWC
  // in a reused buffer (counted in layer 0's time).
  void run(const float* x, int64_t batch, int64_t height, int64_t width, float* y, Isa isa,
           std::vector<double>* layer_seconds = nullptr, bool x_nchw = false) const;

 private:
  const float* own_panels(const float* packed, int64_t k, int64_t n);

  std::vector<NetworkLayer> layers_;
  // Pointwise weights (1x1 layers, block expand/project/SE FCs) repacked into 16-column panels
  // once, at add(): the GEMM tiles then stream contiguous panels (bench/NOTES.md).
  std::vector<FloatBuffer> owned_;
};

}  // namespace mk
