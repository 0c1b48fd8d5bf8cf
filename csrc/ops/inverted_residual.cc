#include "../runtime/check.h"
#include "inverted_residual.h"

#include <stdexcept>
#include <string>
#include <vector>

#include "dwconv.h"
#include "pwconv.h"
#include "squeeze_excite.h"

namespace mk {

namespace {

float* scratch(std::vector<float>& buf, int64_t n) {
  if (static_cast<int64_t>(buf.size()) < n) buf.resize(n);
  return buf.data();
}

}  // namespace

void inverted_residual(const InvertedResidualArgs& a, Isa isa) {
  require(a.x && a.dw && a.project && a.y, "inverted_residual: null buffer");
  require(a.batch >= 1 && a.height >= 1 && a.width >= 1 && a.in_channels >= 1 && a.hidden >= 1 &&
              a.out_channels >= 1 && a.out_height >= 1 && a.out_width >= 1,
          "inverted_residual: sizes must be >= 1");
  require(a.out_height == conv_out_size(a.height, a.kernel, a.stride, a.pad_top, a.pad_bottom, 1, "height") &&
              a.out_width == conv_out_size(a.width, a.kernel, a.stride, a.pad_left, a.pad_right, 1, "width"),
          "inverted_residual: output size does not match kernel, stride and padding");
  require(a.expand || a.hidden == a.in_channels, "inverted_residual: without expand, hidden must equal in_channels");
  require((a.se_fc1 == nullptr) == (a.se_fc2 == nullptr), "inverted_residual: se_fc1 and se_fc2 go together");
  require(!a.residual || (a.out_height == a.height && a.out_width == a.width && a.out_channels == a.in_channels),
          "inverted_residual: residual needs the output shape to equal the input shape");
  // Scratch per calling thread: calls from several Python threads never share it.
  thread_local std::vector<float> expanded_buf, dw_buf;
  const int64_t in_pixels = a.batch * a.height * a.width;
  const int64_t out_pixels = a.batch * a.out_height * a.out_width;
  const float* expanded = a.x;
  if (a.expand) {
    float* e = scratch(expanded_buf, in_pixels * a.hidden);
    pwconv_bn_act(PwconvArgs{a.x, a.expand, nullptr, e, in_pixels, GemmParams{a.in_channels, a.hidden, a.expand_act}},
                  isa);
    expanded = e;
  }
  float* d = scratch(dw_buf, out_pixels * a.hidden);
  DwconvArgs dw;
  dw.x = expanded;
  dw.packed = a.dw;
  dw.y = d;
  dw.batch = a.batch;
  dw.p = DwconvParams{a.height, a.width, a.hidden, a.out_height, a.out_width, a.kernel, a.kernel,
                      a.stride, a.stride, a.pad_top, a.pad_left, 1, 1, a.dw_act};
  dwconv_bn_act(dw, isa);
  if (a.se_fc1) {
    squeeze_excite(SqueezeExciteArgs{d, a.se_fc1, a.se_fc2, d, a.batch, a.out_height * a.out_width, a.hidden,
                                     a.se_channels, a.se_act, a.se_gate},
                   isa);
  }
  pwconv_bn_act(PwconvArgs{d, a.project, a.residual ? a.x : nullptr, a.y, out_pixels,
                           GemmParams{a.hidden, a.out_channels, Activation::kIdentity}},
                isa);
}

}  // namespace mk
