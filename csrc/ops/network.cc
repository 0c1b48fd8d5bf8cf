#include "network.h"

#include <chrono>
#include <string>

#include "../kernels/gemm.h"
#include "../runtime/check.h"
#include "conv.h"
#include "dwconv.h"
#include "inverted_residual.h"
#include "layout.h"
#include "pwconv.h"
#include "squeeze_excite.h"
#include "../runtime/scratch.h"
#include "../runtime/tuning.h"

namespace mk {

namespace {

using Kind = NetworkLayer::Kind;

Extent layer_out(const NetworkLayer& l, const Extent& in) {
  if (l.kind == Kind::kPwconv) return {in.height, in.width, l.out_channels};
  if (l.kind == Kind::kGlobalAvgPool) return {1, 1, l.out_channels};
  return {conv_out_size(in.height, l.kernel, l.stride, l.pad_top, l.pad_bottom, l.dilation, "height"),
          conv_out_size(in.width, l.kernel, l.stride, l.pad_left, l.pad_right, l.dilation, "width"),
          l.out_channels};
}

void check_activation(Activation act, const std::string& layer) {
  const int code = static_cast<int>(act);
  require(code >= 0 && code < kNumActivations,
          [&] { return layer + ": unknown activation code " + std::to_string(code); });
}

InvertedResidualArgs block_args(const NetworkLayer& l, const float* x, int64_t batch, const Extent& in,
                                const Extent& out, float* y) {
  InvertedResidualArgs a{x, l.packed, l.dw, l.se_fc1, l.se_fc2, l.project, y, batch,
                         in.height, in.width, in.channels, l.hidden, l.se_channels,
                         out.channels, out.height, out.width, l.kernel, l.stride,
                         l.pad_top, l.pad_left, l.pad_bottom, l.pad_right, l.act, l.dw_act,
                         l.se_act, l.se_gate, l.residual};
  a.panels = l.panels;
  return a;
}

DwconvArgs dw_args(const NetworkLayer& l, const float* x, int64_t batch, const Extent& in, const Extent& out,
                   float* y) {
  DwconvArgs a;
  a.x = x;
  a.packed = l.packed;
  a.y = y;
  a.batch = batch;
  a.p = DwconvParams{in.height, in.width,  in.channels, out.height, out.width, l.kernel,   l.kernel,
                     l.stride,  l.stride,  l.pad_top,   l.pad_left, l.dilation, l.dilation, l.act};
  return a;
}

// x_nchw: x is NCHW (only for a conv: the network's first layer).
void run_layer(const NetworkLayer& l, const float* x, int64_t batch, const Extent& in, const Extent& out,
               float* y, Isa isa, bool x_nchw) {
  switch (l.kind) {
    case Kind::kConv:
      conv_bn_act(ConvArgs{x, l.packed, y, batch, in.height, in.width, in.channels, out.channels, out.height,
                           out.width, l.kernel, l.stride, l.pad_top, l.pad_left, l.pad_bottom, l.pad_right,
                           l.act, x_nchw},
                  isa);
      return;
    case Kind::kDwconv:
      dwconv_bn_act(dw_args(l, x, batch, in, out, y), isa);
      return;
    case Kind::kPwconv:
      pwconv_bn_act(PwconvArgs{x, l.packed, nullptr, y, batch * in.height * in.width,
                               GemmParams{in.channels, out.channels, l.act, l.panels}},
                    isa);
      return;
    case Kind::kGlobalAvgPool:
      global_avgpool(x, batch, in.height * in.width, in.channels, y, isa);
      return;
    case Kind::kInvertedResidual:
      inverted_residual(block_args(l, x, batch, in, out, y), isa);
      return;
  }
}

// An image of at least 1 MiB per batch element: past the L2, where a fused step keeps it
// out of memory (the threshold of every fusion below).
bool large(const Extent& e) {
  return e.height * e.width * e.channels * static_cast<int64_t>(sizeof(float)) >= (1 << 20);
}

// Depthwise + pointwise (MobileNet v1's separable pair) as one inverted residual without
// expand, its project carrying the pointwise activation: the depthwise output then stays
// in a band buffer instead of going to memory. Only where that output is large (>= 1 MiB):
// on smaller maps it stays in L2 anyway, and the block's row split would make every thread
// read all of the pointwise weights where the GEMM driver splits them by columns.
bool fusable_pair(const NetworkLayer& dw, const NetworkLayer& pw, const Extent& in) {
  if (dw.kind != Kind::kDwconv || pw.kind != Kind::kPwconv || dw.dilation != 1 || (dw.kernel != 3 && dw.kernel != 5))
    return false;
  return large(layer_out(dw, in));
}

// A dwconv + pwconv pair as a block (fusable_pair).
NetworkLayer pair_block(const NetworkLayer& dw, const NetworkLayer& pw) {
  NetworkLayer b = dw;
  b.kind = Kind::kInvertedResidual;
  b.out_channels = pw.out_channels;
  b.act = Activation::kIdentity;  // no expand
  b.packed = nullptr;
  b.hidden = dw.in_channels;
  b.dw = dw.packed;
  b.dw_act = dw.act;
  b.project = pw.packed;
  b.panels = pw.panels;
  return b;
}

// A pointwise layer before a fusable pair, on an output of >= 1 MiB, as the block's expand
// (net_pair_expand): its output then lives in the block's window and never goes to memory.
bool expands_pair(const NetworkLayer& pw, const NetworkLayer& dw, const NetworkLayer& pw2, const Extent& in) {
  if (pw.kind != Kind::kPwconv || !tuning().net_pair_expand) return false;
  const Extent mid = layer_out(pw, in);
  return large(mid) && fusable_pair(dw, pw2, mid);
}

}  // namespace

void Network::add(const NetworkLayer& l) {
  const std::string name = "layer " + std::to_string(layers_.size());
  require(l.in_channels >= 1 && l.out_channels >= 1, name + ": channel counts must be >= 1");
  require(l.kernel >= 1 && l.stride >= 1 && l.dilation >= 1, name + ": kernel, stride and dilation must be >= 1");
  require(l.pad_top >= 0 && l.pad_left >= 0 && l.pad_bottom >= 0 && l.pad_right >= 0,
          name + ": padding must be >= 0");
  check_activation(l.act, name);
  switch (l.kind) {
    case Kind::kConv:
      require(l.packed && l.dilation == 1 && l.kernel <= 7, name + ": conv needs weights, dilation 1, kernel <= 7");
      break;
    case Kind::kDwconv:
      require(l.packed && l.in_channels == l.out_channels, name + ": depthwise needs weights and in == out channels");
      require(l.kernel * l.kernel <= 64, name + ": depthwise kernel has more than 64 taps");
      break;
    case Kind::kPwconv:
      require(l.packed && l.kernel == 1 && l.stride == 1 && l.pad_top + l.pad_left + l.pad_bottom + l.pad_right == 0,
              name + ": pointwise needs weights, kernel 1, stride 1, no padding");
      break;
    case Kind::kGlobalAvgPool:
      require(l.in_channels == l.out_channels && l.kernel == 1 && l.stride == 1 &&
                  l.pad_top + l.pad_left + l.pad_bottom + l.pad_right == 0,
              name + ": global average pool keeps the channels, kernel 1, stride 1, no padding");
      break;
    case Kind::kInvertedResidual:
      require(l.dw && l.project && (l.kernel == 3 || l.kernel == 5) && l.dilation == 1,
              name + ": block needs depthwise and project weights, kernel 3 or 5, dilation 1");
      require(l.hidden >= 1 && (l.packed || l.hidden == l.in_channels),
              name + ": without expand, hidden must equal in_channels");
      require((l.se_fc1 == nullptr) == (l.se_fc2 == nullptr) && (!l.se_fc1 || l.se_channels >= 1),
              name + ": SE needs both FCs and squeeze channels >= 1");
      require(!l.residual || (l.stride == 1 && l.in_channels == l.out_channels),
              name + ": residual needs stride 1 and in == out channels");
      for (Activation a : {l.dw_act, l.se_act, l.se_gate}) check_activation(a, name);
      break;
    default:
      require(false, name + ": unknown layer kind");
  }
  if (!layers_.empty()) {
    require(layers_.back().out_channels == l.in_channels,
            name + ": takes " + std::to_string(l.in_channels) + " channels, the previous layer gives " +
                std::to_string(layers_.back().out_channels));
  }
  NetworkLayer owned = l;
  if (l.kind == Kind::kPwconv) {
    owned.packed = own_panels(l.packed, l.in_channels, l.out_channels);
    owned.panels = true;
  } else if (l.kind == Kind::kInvertedResidual) {
    if (l.packed) owned.packed = own_panels(l.packed, l.in_channels, l.hidden);
    owned.project = own_panels(l.project, l.hidden, l.out_channels);
    if (l.se_fc1) {
      owned.se_fc1 = own_panels(l.se_fc1, l.hidden, l.se_channels);
      owned.se_fc2 = own_panels(l.se_fc2, l.se_channels, l.hidden);
    }
    owned.panels = true;
  }
  layers_.push_back(owned);
}

const float* Network::own_panels(const float* packed, int64_t k, int64_t n) {
  owned_.emplace_back(gemm_panels_size(k, n));
  pack_gemm_panels(packed, k, n, owned_.back().data());
  return owned_.back().data();
}

int64_t Network::in_channels() const {
  require(!layers_.empty(), "network: no layers");
  return layers_.front().in_channels;
}

int64_t Network::out_channels() const {
  require(!layers_.empty(), "network: no layers");
  return layers_.back().out_channels;
}

Extent Network::out_extent(int64_t height, int64_t width) const {
  Extent e{height, width, in_channels()};
  require(height >= 1 && width >= 1, "network: input height and width must be >= 1");
  for (const NetworkLayer& l : layers_) e = layer_out(l, e);
  return e;
}

void Network::run(const float* x, int64_t batch, int64_t height, int64_t width, float* y, Isa isa,
                  std::vector<double>* layer_seconds, bool x_nchw) const {
  require(x && y, "network: null buffer");
  require(batch >= 1, "network: batch must be >= 1");
  out_extent(height, width);  // every layer's size is valid before anything runs
  // Per calling thread: concurrent runs (several Python threads) never share buffers.
  // Step s (a layer, or layers run fused) writes buffer s % 2 and reads the other, so
  // growing one never moves the input; an NCHW input is moved to NHWC in a third.
  thread_local FloatBuffer buffers[2], nhwc_input, next_dw_input;
  Extent in{height, width, in_channels()};
  const float* cur = x;
  if (layer_seconds) layer_seconds->clear();
  const auto start = std::chrono::steady_clock::now();
  // A first conv reads an NCHW input as it is (ConvArgs::x_nchw: ~30-50 us of moving a
  // 224x224 image saved); any other first layer gets it moved to NHWC.
  const bool conv_reads_nchw = x_nchw && layers_.front().kind == Kind::kConv && tuning().net_nchw_conv;
  if (x_nchw && !conv_reads_nchw) {
    float* moved = scratch(nhwc_input, batch * height * width * in.channels);
    nchw_to_nhwc(x, batch, in.channels, height * width, moved);
    cur = moved;
  }
  const bool fuse = tuning().net_fuse;
  for (size_t i = 0, step = 0; i < layers_.size(); ++step) {
    // Layers [i, i + used) run as one step: a stem conv feeding a block without expand (or a
    // fusable depthwise + pointwise pair) computes its rows band by band inside the block;
    // a fusable pair runs as a block; a depthwise layer after a block may run inside it
    // (below). Outputs are the same, bit for bit.
    const NetworkLayer& l = layers_[i];
    size_t used = 1;
    NetworkLayer block;
    bool stem = false;
    Activation project_act = Activation::kIdentity;  // a pair's pointwise activation
    if (fuse && l.kind == Kind::kConv && i + 1 < layers_.size()) {
      const Extent mid = layer_out(l, in);
      const NetworkLayer& next = layers_[i + 1];
      if (next.kind == Kind::kInvertedResidual && !next.packed) {
        block = next, used = 2, stem = true;
      } else if (i + 2 < layers_.size() && fusable_pair(next, layers_[i + 2], mid)) {
        block = pair_block(next, layers_[i + 2]), used = 3, stem = true, project_act = layers_[i + 2].act;
      }
    } else if (fuse && i + 2 < layers_.size() && expands_pair(l, layers_[i + 1], layers_[i + 2], in)) {
      block = pair_block(layers_[i + 1], layers_[i + 2]), used = 3, project_act = layers_[i + 2].act;
      block.in_channels = l.in_channels, block.packed = l.packed, block.act = l.act;
    } else if (fuse && i + 1 < layers_.size() && fusable_pair(l, layers_[i + 1], in)) {
      block = pair_block(l, layers_[i + 1]), used = 2, project_act = layers_[i + 1].act;
    }
    const bool is_block = used > 1 || l.kind == Kind::kInvertedResidual;
    if (used == 1 && is_block) block = l;
    Extent out = in;
    for (size_t j = i; j < i + used; ++j) out = layer_out(layers_[j], out);
    const Extent block_out = out;
    // A depthwise layer after a block, on an input of >= 1 MiB, runs inside it band by band
    // while its input rows are in L2 (InvertedResidualArgs::next_dw), unless it starts a
    // fusable pair; the block's output goes to a third buffer.
    const size_t k = i + used;
    const bool next_dw = fuse && is_block && k < layers_.size() && layers_[k].kind == Kind::kDwconv &&
                         large(block_out) &&
                         !(k + 1 < layers_.size() && fusable_pair(layers_[k], layers_[k + 1], block_out));
    if (next_dw) out = layer_out(layers_[i + used++], out);
    const size_t last = i + used - 1;
    float* dst = last + 1 == layers_.size() ? y : scratch(buffers[step % 2], batch * out.height * out.width * out.channels);
    const auto t0 = i == 0 ? start : std::chrono::steady_clock::now();
    if (!is_block) {
      run_layer(l, cur, batch, in, out, dst, isa, conv_reads_nchw && i == 0);
    } else {
      float* block_y =
          next_dw ? scratch(next_dw_input, batch * block_out.height * block_out.width * block_out.channels) : dst;
      const Extent block_in = stem ? layer_out(l, in) : in;
      InvertedResidualArgs a = block_args(block, cur, batch, block_in, block_out, block_y);
      a.project_act = project_act;
      ConvArgs c{cur, l.packed, nullptr, batch, in.height, in.width, in.channels, block_in.channels,
                 block_in.height, block_in.width, l.kernel, l.stride, l.pad_top, l.pad_left, l.pad_bottom,
                 l.pad_right, l.act, conv_reads_nchw && i == 0};
      if (stem) a.stem = &c;
      DwconvArgs d;
      if (next_dw) {
        d = dw_args(layers_[last], block_y, batch, block_out, out, dst);
        a.next_dw = &d;
      }
      inverted_residual(a, isa);
    }
    if (layer_seconds) {  // a fused step's time goes to its first layer, 0 to the others
      layer_seconds->push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      for (size_t j = 1; j < used; ++j) layer_seconds->push_back(0.0);
    }
    cur = dst;
    in = out;
    i += used;
  }
}

}  // namespace mk
