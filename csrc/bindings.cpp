// The only file that knows pybind11. Buffers arrive as C-contiguous float32 numpy
// arrays (zero-copy views of torch tensors); every size is re-checked here and in the
// drivers so no call can read or write out of bounds. std::invalid_argument -> ValueError.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <optional>
#include <stdexcept>
#include <string>

#include "runtime/check.h"
#include "runtime/tuning.h"
#include "ops/conv.h"
#include "ops/dwconv.h"
#include "ops/inverted_residual.h"
#include "ops/network.h"
#include "ops/pwconv.h"
#include "ops/squeeze_excite.h"
#include "runtime/cpu_features.h"
#include "runtime/thread_pool.h"

namespace py = pybind11;
using mk::require;

namespace {

using FloatArray = py::array_t<float, py::array::c_style>;

void require_shape(const FloatArray& a, const char* name, std::initializer_list<int64_t> shape) {
  require(a.ndim() == static_cast<py::ssize_t>(shape.size()), [&] {
    return std::string(name) + ": expected " + std::to_string(shape.size()) + " dimensions, got " +
           std::to_string(a.ndim());
  });
  int i = 0;
  for (int64_t s : shape) {
    require(a.shape(i) == s, [&] {
      return std::string(name) + ": dimension " + std::to_string(i) + " is " + std::to_string(a.shape(i)) +
             ", expected " + std::to_string(s);
    });
    ++i;
  }
}

bool overlaps(const FloatArray& a, const FloatArray& b) {
  const char* a0 = reinterpret_cast<const char*>(a.data());
  const char* b0 = reinterpret_cast<const char*>(b.data());
  return a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}

void dwconv_bn_act(const FloatArray& x, const FloatArray& packed, FloatArray& y, int kernel_h,
                   int kernel_w, int stride_h, int stride_w, std::array<int, 4> padding,
                   int dilation_h, int dilation_w, int activation, const std::string& isa_name) {
  const mk::Isa isa = mk::parse_isa(isa_name);
  require(x.ndim() == 4,
          [&] { return "x: expected a 4-d NHWC array, got " + std::to_string(x.ndim()) + " dimensions"; });
  const int64_t n = x.shape(0), h = x.shape(1), w = x.shape(2), c = x.shape(3);
  const int pad_top = padding[0], pad_left = padding[1], pad_bottom = padding[2], pad_right = padding[3];
  const int64_t ho = mk::conv_out_size(h, kernel_h, stride_h, pad_top, pad_bottom, dilation_h, "height");
  const int64_t wo = mk::conv_out_size(w, kernel_w, stride_w, pad_left, pad_right, dilation_w, "width");
  require_shape(packed, "packed", {static_cast<int64_t>(kernel_h) * kernel_w + 1, c});
  require_shape(y, "y", {n, ho, wo, c});
  require(y.writeable(), "y: array is read-only");
  require(!overlaps(y, x) && !overlaps(y, packed), "y: must not overlap x or packed");
  mk::DwconvArgs a;
  a.x = x.data();
  a.packed = packed.data();
  a.y = y.mutable_data();
  a.batch = n;
  a.p = mk::DwconvParams{h,        w,        c,        ho,        wo,       kernel_h,   kernel_w,
                         stride_h, stride_w, pad_top,  pad_left,  dilation_h, dilation_w,
                         static_cast<mk::Activation>(activation)};
  mk::dwconv_check(a);  // before releasing the GIL: errors surface as ValueError
  py::gil_scoped_release release;
  mk::dwconv_bn_act(a, isa);
}

void pwconv_bn_act(const FloatArray& x, const FloatArray& packed, FloatArray& y, int activation,
                   const std::optional<FloatArray>& residual, const std::string& isa_name) {
  const mk::Isa isa = mk::parse_isa(isa_name);
  require(x.ndim() == 2,
          [&] {
            return "x: expected a 2-d [pixels, channels] array, got " + std::to_string(x.ndim()) + " dimensions";
          });
  const int64_t m = x.shape(0), k = x.shape(1);
  require(packed.ndim() == 2, "packed: expected a 2-d [k + 1, n] array");
  const int64_t n = packed.shape(1);
  require_shape(packed, "packed", {k + 1, n});
  require_shape(y, "y", {m, n});
  require(y.writeable(), "y: array is read-only");
  require(!overlaps(y, x) && !overlaps(y, packed), "y: must not overlap x or packed");
  if (residual) {
    require_shape(*residual, "residual", {m, n});
    require(!overlaps(y, *residual), "y: must not overlap residual");
  }
  mk::PwconvArgs a{x.data(), packed.data(), residual ? residual->data() : nullptr, y.mutable_data(), m,
                   mk::GemmParams{k, n, static_cast<mk::Activation>(activation)}};
  mk::pwconv_check(a);
  py::gil_scoped_release release;
  mk::pwconv_bn_act(a, isa);
}

void conv_bn_act(const FloatArray& x, const FloatArray& packed, FloatArray& y, int kernel, int stride,
                 std::array<int, 4> padding, int activation, const std::string& isa_name) {
  const mk::Isa isa = mk::parse_isa(isa_name);
  require(x.ndim() == 4, "x: expected a 4-d NHWC array");
  const int64_t n = x.shape(0), h = x.shape(1), w = x.shape(2), cin = x.shape(3);
  require(kernel >= 1 && kernel <= 7, "kernel: must be in [1, 7]");
  const int64_t ho = mk::conv_out_size(h, kernel, stride, padding[0], padding[2], 1, "height");
  const int64_t wo = mk::conv_out_size(w, kernel, stride, padding[1], padding[3], 1, "width");
  require(packed.ndim() == 2, "packed: expected a 2-d [k*k*cin + 1, cout] array");
  const int64_t cout = packed.shape(1);
  require_shape(packed, "packed", {static_cast<int64_t>(kernel) * kernel * cin + 1, cout});
  require_shape(y, "y", {n, ho, wo, cout});
  require(y.writeable(), "y: array is read-only");
  require(!overlaps(y, x) && !overlaps(y, packed), "y: must not overlap x or packed");
  require(activation >= 0 && activation < mk::kNumActivations,
          [&] { return "unknown activation code " + std::to_string(activation); });
  mk::ConvArgs a{x.data(), packed.data(), y.mutable_data(), n, h, w, cin, cout, ho, wo, kernel, stride,
                 padding[0], padding[1], padding[2], padding[3], static_cast<mk::Activation>(activation)};
  py::gil_scoped_release release;
  mk::conv_bn_act(a, isa);
}

void global_avgpool(const FloatArray& x, FloatArray& y, const std::string& isa_name) {
  const mk::Isa isa = mk::parse_isa(isa_name);
  require(x.ndim() == 4, "x: expected a 4-d NHWC array");
  const int64_t n = x.shape(0), pixels = x.shape(1) * x.shape(2), c = x.shape(3);
  require_shape(y, "y", {n, c});
  require(y.writeable(), "y: array is read-only");
  require(!overlaps(y, x), "y: must not overlap x");
  require(n >= 1 && pixels >= 1 && c >= 1, "x: every dimension must be >= 1");
  py::gil_scoped_release release;
  mk::global_avgpool(x.data(), n, pixels, c, y.mutable_data(), isa);
}

void squeeze_excite(const FloatArray& x, const FloatArray& fc1, const FloatArray& fc2, FloatArray& y,
                    int activation, int gate, const std::string& isa_name) {
  const mk::Isa isa = mk::parse_isa(isa_name);
  require(x.ndim() == 4, "x: expected a 4-d NHWC array");
  const int64_t n = x.shape(0), h = x.shape(1), w = x.shape(2), c = x.shape(3);
  require(fc1.ndim() == 2, "fc1: expected a 2-d [channels + 1, squeeze] array");
  const int64_t sq = fc1.shape(1);
  require_shape(fc1, "fc1", {c + 1, sq});
  require_shape(fc2, "fc2", {sq + 1, c});
  require_shape(y, "y", {n, h, w, c});
  require(y.writeable(), "y: array is read-only");
  require(!overlaps(y, x) && !overlaps(y, fc1) && !overlaps(y, fc2), "y: must not overlap an input");
  mk::SqueezeExciteArgs a{x.data(), fc1.data(), fc2.data(), y.mutable_data(), n, h * w, c, sq,
                          static_cast<mk::Activation>(activation), static_cast<mk::Activation>(gate)};
  py::gil_scoped_release release;
  mk::squeeze_excite(a, isa);
}

void inverted_residual(const FloatArray& x, const std::optional<FloatArray>& expand, int expand_activation,
                       const FloatArray& dw, int kernel, int stride, std::array<int, 4> padding,
                       int dw_activation, const std::optional<FloatArray>& se_fc1,
                       const std::optional<FloatArray>& se_fc2, int se_activation, int se_gate,
                       const FloatArray& project, bool residual, FloatArray& y, const std::string& isa_name) {
  const mk::Isa isa = mk::parse_isa(isa_name);
  require(x.ndim() == 4, "x: expected a 4-d NHWC array");
  const int64_t n = x.shape(0), h = x.shape(1), w = x.shape(2), cin = x.shape(3);
  int64_t hidden = cin;
  if (expand) {
    require(expand->ndim() == 2, "expand: expected a 2-d [in + 1, hidden] array");
    hidden = expand->shape(1);
    require_shape(*expand, "expand", {cin + 1, hidden});
  }
  const int64_t ho = mk::conv_out_size(h, kernel, stride, padding[0], padding[2], 1, "height");
  const int64_t wo = mk::conv_out_size(w, kernel, stride, padding[1], padding[3], 1, "width");
  require(kernel == 3 || kernel == 5, "kernel: must be 3 or 5");
  require_shape(dw, "dw", {static_cast<int64_t>(kernel) * kernel + 1, hidden});
  require(se_fc1.has_value() == se_fc2.has_value(), "se_fc1 and se_fc2 must be given together");
  int64_t sq = 0;
  if (se_fc1) {
    require(se_fc1->ndim() == 2, "se_fc1: expected a 2-d [hidden + 1, squeeze] array");
    sq = se_fc1->shape(1);
    require_shape(*se_fc1, "se_fc1", {hidden + 1, sq});
    require_shape(*se_fc2, "se_fc2", {sq + 1, hidden});
  }
  require(project.ndim() == 2, "project: expected a 2-d [hidden + 1, out] array");
  const int64_t cout = project.shape(1);
  require_shape(project, "project", {hidden + 1, cout});
  require_shape(y, "y", {n, ho, wo, cout});
  require(y.writeable(), "y: array is read-only");
  require(!overlaps(y, x), "y: must not overlap x");
  for (int act : {expand_activation, dw_activation, se_activation, se_gate}) {
    require(act >= 0 && act < mk::kNumActivations, [&] { return "unknown activation code " + std::to_string(act); });
  }
  mk::InvertedResidualArgs a{x.data(), expand ? expand->data() : nullptr, dw.data(),
                             se_fc1 ? se_fc1->data() : nullptr, se_fc2 ? se_fc2->data() : nullptr,
                             project.data(), y.mutable_data(), n, h, w, cin, hidden, sq, cout, ho, wo,
                             kernel, stride, padding[0], padding[1], padding[2], padding[3],
                             static_cast<mk::Activation>(expand_activation),
                             static_cast<mk::Activation>(dw_activation), static_cast<mk::Activation>(se_activation),
                             static_cast<mk::Activation>(se_gate), residual};
  py::gil_scoped_release release;
  mk::inverted_residual(a, isa);
}

// mk::Network plus references to the arrays whose memory its layers point at.
class NetworkHandle {
 public:
  void add_conv(const FloatArray& packed, int64_t in_channels, int kernel, int stride, std::array<int, 4> padding,
                int activation) {
    require(packed.ndim() == 2, "packed: expected a 2-d [k*k*cin + 1, cout] array");
    require_shape(packed, "packed", {static_cast<int64_t>(kernel) * kernel * in_channels + 1, packed.shape(1)});
    mk::NetworkLayer l = geometry(mk::NetworkLayer::Kind::kConv, in_channels, packed.shape(1), kernel, stride,
                                  padding, 1, activation);
    l.packed = keep(packed);
    net_.add(l);
  }

  void add_dwconv(const FloatArray& packed, int kernel, int stride, std::array<int, 4> padding, int dilation,
                  int activation) {
    require(packed.ndim() == 2, "packed: expected a 2-d [k*k + 1, channels] array");
    require_shape(packed, "packed", {static_cast<int64_t>(kernel) * kernel + 1, packed.shape(1)});
    mk::NetworkLayer l = geometry(mk::NetworkLayer::Kind::kDwconv, packed.shape(1), packed.shape(1), kernel,
                                  stride, padding, dilation, activation);
    l.packed = keep(packed);
    net_.add(l);
  }

  void add_pwconv(const FloatArray& packed, int activation) {
    require(packed.ndim() == 2 && packed.shape(0) >= 2, "packed: expected a 2-d [k + 1, n] array");
    mk::NetworkLayer l = geometry(mk::NetworkLayer::Kind::kPwconv, packed.shape(0) - 1, packed.shape(1), 1, 1,
                                  {0, 0, 0, 0}, 1, activation);
    l.packed = keep(packed);
    net_.add(l);
  }

  void add_inverted_residual(const std::optional<FloatArray>& expand, int expand_activation, const FloatArray& dw,
                             int kernel, int stride, std::array<int, 4> padding, int dw_activation,
                             const std::optional<FloatArray>& se_fc1, const std::optional<FloatArray>& se_fc2,
                             int se_activation, int se_gate, const FloatArray& project, bool residual) {
    require(dw.ndim() == 2 && project.ndim() == 2, "dw and project: expected 2-d arrays");
    const int64_t hidden = dw.shape(1);
    int64_t cin = hidden;
    if (expand) {
      require(expand->ndim() == 2 && expand->shape(0) >= 2, "expand: expected a 2-d [in + 1, hidden] array");
      cin = expand->shape(0) - 1;
      require_shape(*expand, "expand", {cin + 1, hidden});
    }
    require_shape(dw, "dw", {static_cast<int64_t>(kernel) * kernel + 1, hidden});
    require_shape(project, "project", {hidden + 1, project.shape(1)});
    require(se_fc1.has_value() == se_fc2.has_value(), "se_fc1 and se_fc2 must be given together");
    mk::NetworkLayer l = geometry(mk::NetworkLayer::Kind::kInvertedResidual, cin, project.shape(1), kernel, stride,
                                  padding, 1, expand_activation);
    l.hidden = hidden;
    if (se_fc1) {
      require(se_fc1->ndim() == 2, "se_fc1: expected a 2-d [hidden + 1, squeeze] array");
      l.se_channels = se_fc1->shape(1);
      require_shape(*se_fc1, "se_fc1", {hidden + 1, l.se_channels});
      require_shape(*se_fc2, "se_fc2", {l.se_channels + 1, hidden});
      l.se_fc1 = keep(*se_fc1);
      l.se_fc2 = keep(*se_fc2);
    }
    l.packed = expand ? keep(*expand) : nullptr;
    l.dw = keep(dw);
    l.project = keep(project);
    l.dw_act = static_cast<mk::Activation>(dw_activation);
    l.se_act = static_cast<mk::Activation>(se_activation);
    l.se_gate = static_cast<mk::Activation>(se_gate);
    l.residual = residual;
    net_.add(l);
  }

  // Pools `channels` channels: the previous layer's output channels when omitted (a pool
  // that comes first must say).
  void add_global_avgpool(std::optional<int64_t> channels) {
    require(channels.has_value() || net_.size() > 0,
            "global_avgpool: as a network's first layer it needs its channel count");
    const int64_t c = channels ? *channels : net_.out_channels();
    net_.add(geometry(mk::NetworkLayer::Kind::kGlobalAvgPool, c, c, 1, 1, {0, 0, 0, 0}, 1, 0));
  }

  int64_t size() const { return net_.size(); }

  py::tuple out_shape(int64_t batch, int64_t height, int64_t width) const {
    const mk::Extent e = net_.out_extent(height, width);
    return py::make_tuple(batch, e.height, e.width, e.channels);
  }

  void run(const FloatArray& x, FloatArray& y, const std::string& isa_name, bool nchw) const {
    run_impl(x, y, isa_name, nullptr, nchw);
  }

  std::vector<double> run_profiled(const FloatArray& x, FloatArray& y, const std::string& isa_name, bool nchw) const {
    std::vector<double> seconds;
    run_impl(x, y, isa_name, &seconds, nchw);
    return seconds;
  }

 private:
  void run_impl(const FloatArray& x, FloatArray& y, const std::string& isa_name, std::vector<double>* seconds,
                bool nchw) const {
    const mk::Isa isa = mk::parse_isa(isa_name);
    require(x.ndim() == 4, nchw ? "x: expected a 4-d NCHW array" : "x: expected a 4-d NHWC array");
    const int64_t n = x.shape(0), c = x.shape(nchw ? 1 : 3), h = x.shape(nchw ? 2 : 1), w = x.shape(nchw ? 3 : 2);
    require(n >= 1, "x: batch must be >= 1");
    require(c == net_.in_channels(), [&] {
      return "x: has " + std::to_string(c) + " channels, the network takes " + std::to_string(net_.in_channels());
    });
    const mk::Extent e = net_.out_extent(h, w);
    require_shape(y, "y", {n, e.height, e.width, e.channels});
    require(y.writeable(), "y: array is read-only");
    require(!overlaps(y, x), "y: must not overlap x");
    const char* y0 = reinterpret_cast<const char*>(y.data());
    for (const auto& r : kept_bytes_)
      require(!(y0 < r.second && r.first < y0 + y.nbytes()), "y: must not overlap the network's weights");
    py::gil_scoped_release release;
    net_.run(x.data(), n, h, w, y.mutable_data(), isa, seconds, nchw);
  }

  static mk::NetworkLayer geometry(mk::NetworkLayer::Kind kind, int64_t cin, int64_t cout, int kernel, int stride,
                                   std::array<int, 4> padding, int dilation, int activation) {
    mk::NetworkLayer l;
    l.kind = kind;
    l.in_channels = cin;
    l.out_channels = cout;
    l.kernel = kernel;
    l.stride = stride;
    l.dilation = dilation;
    l.pad_top = padding[0];
    l.pad_left = padding[1];
    l.pad_bottom = padding[2];
    l.pad_right = padding[3];
    l.act = static_cast<mk::Activation>(activation);
    return l;
  }

  const float* keep(const FloatArray& a) {
    kept_.push_back(a);
    const char* p = reinterpret_cast<const char*>(a.data());
    kept_bytes_.emplace_back(p, p + a.nbytes());
    return a.data();
  }

  mk::Network net_;
  std::vector<FloatArray> kept_;
  // kept_'s byte ranges in one vector: run() checks y against them without touching each
  // array object (after a forward those ~100 objects are all cache misses: ~15 us a call).
  std::vector<std::pair<const char*, const char*>> kept_bytes_;
};

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "mobilekernels CPU kernels (float32, NHWC)";
  m.attr("__version__") = MK_VERSION;
  m.def("cpu_features", [] {
    py::dict d;
    d["avx2_fma"] = mk::cpu_has_avx2_fma();
    d["avx512"] = mk::cpu_has_avx512();
    d["neon"] = mk::cpu_has_neon();
    d["best_isa"] = mk::isa_name(mk::best_isa());
    return d;
  }, "ISA support of this CPU and build");
  m.def("set_num_threads", [](int n) { mk::ThreadPool::instance().set_num_threads(n); }, py::arg("n"));
  m.def("get_num_threads", [] { return mk::ThreadPool::instance().num_threads(); });
  m.def("set_tuning", &mk::set_tuning, py::arg("name"), py::arg("on"),
        "Switch between kernel variants for in-process A/B benchmarks (csrc/runtime/tuning.h)");
  m.def("get_tuning", &mk::get_tuning, py::arg("name"));
  m.def("dwconv_bn_act", &dwconv_bn_act, py::arg("x").noconvert(), py::arg("packed").noconvert(),
        py::arg("y").noconvert(), py::arg("kernel_h"), py::arg("kernel_w"), py::arg("stride_h"),
        py::arg("stride_w"), py::arg("padding"), py::arg("dilation_h"), py::arg("dilation_w"),
        py::arg("activation"), py::arg("isa") = "auto",
        "Depthwise conv + bias + activation: x [N,H,W,C], packed [kh*kw+1, C] -> y [N,Ho,Wo,C]. "
        "padding = (top, left, bottom, right).");
  m.def("pwconv_bn_act", &pwconv_bn_act, py::arg("x").noconvert(), py::arg("packed").noconvert(),
        py::arg("y").noconvert(), py::arg("activation"), py::arg("residual").noconvert() = py::none(),
        py::arg("isa") = "auto",
        "1x1 conv as GEMM: y[m, n] = act(x[m, k] . packed[:k] + packed[k]) (+ residual[m, n]).");
  m.def("conv_bn_act", &conv_bn_act, py::arg("x").noconvert(), py::arg("packed").noconvert(),
        py::arg("y").noconvert(), py::arg("kernel"), py::arg("stride"), py::arg("padding"),
        py::arg("activation"), py::arg("isa") = "auto",
        "Dense k x k conv + bias + activation (NHWC), im2col + GEMM. padding = (top, left, bottom, right).");
  m.def("global_avgpool", &global_avgpool, py::arg("x").noconvert(), py::arg("y").noconvert(),
        py::arg("isa") = "auto", "y[n, c] = mean over h, w of x[n, h, w, c]");
  m.def("squeeze_excite", &squeeze_excite, py::arg("x").noconvert(), py::arg("fc1").noconvert(),
        py::arg("fc2").noconvert(), py::arg("y").noconvert(), py::arg("activation"), py::arg("gate"),
        py::arg("isa") = "auto", "y = x * gate(fc2(act(fc1(mean_hw(x))))) (NHWC)");
  m.def("inverted_residual", &inverted_residual, py::arg("x").noconvert(), py::arg("expand").noconvert(),
        py::arg("expand_activation"), py::arg("dw").noconvert(), py::arg("kernel"), py::arg("stride"),
        py::arg("padding"), py::arg("dw_activation"), py::arg("se_fc1").noconvert(),
        py::arg("se_fc2").noconvert(), py::arg("se_activation"), py::arg("se_gate"),
        py::arg("project").noconvert(), py::arg("residual"), py::arg("y").noconvert(),
        py::arg("isa") = "auto", "expand -> depthwise -> [SE] -> project [+ x], NHWC, one call.");

  py::class_<NetworkHandle>(m, "Network",
                            "A chain of layers run in one call (intermediates in reused per-thread buffers). "
                            "Holds references to its weight arrays: they must not be written while it lives.")
      .def(py::init<>())
      .def("add_conv", &NetworkHandle::add_conv, py::arg("packed").noconvert(), py::arg("in_channels"),
           py::arg("kernel"), py::arg("stride"), py::arg("padding"), py::arg("activation"))
      .def("add_dwconv", &NetworkHandle::add_dwconv, py::arg("packed").noconvert(), py::arg("kernel"),
           py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("activation"))
      .def("add_pwconv", &NetworkHandle::add_pwconv, py::arg("packed").noconvert(), py::arg("activation"))
      .def("add_inverted_residual", &NetworkHandle::add_inverted_residual, py::arg("expand").noconvert(),
           py::arg("expand_activation"), py::arg("dw").noconvert(), py::arg("kernel"), py::arg("stride"),
           py::arg("padding"), py::arg("dw_activation"), py::arg("se_fc1").noconvert(),
           py::arg("se_fc2").noconvert(), py::arg("se_activation"), py::arg("se_gate"),
           py::arg("project").noconvert(), py::arg("residual"))
      .def("add_global_avgpool", &NetworkHandle::add_global_avgpool, py::arg("channels") = py::none(),
           "mean over the map: [N, H, W, C] -> [N, 1, 1, C] (C: the previous layer's channels by default)")
      .def("__len__", &NetworkHandle::size)
      .def("out_shape", &NetworkHandle::out_shape, py::arg("batch"), py::arg("height"), py::arg("width"),
           "(batch, out_height, out_width, out_channels) for an NHWC input of this size")
      .def("run", &NetworkHandle::run, py::arg("x").noconvert(), py::arg("y").noconvert(),
           py::arg("isa") = "auto", py::arg("nchw") = false,
           "x [N,H,W,C] (nchw: [N,C,H,W]) -> y [out_shape(N, H, W)]")
      .def("run_profiled", &NetworkHandle::run_profiled, py::arg("x").noconvert(), py::arg("y").noconvert(),
           py::arg("isa") = "auto", py::arg("nchw") = false,
           "run(), returning each layer's wall time in seconds (an NCHW input's move to NHWC in layer 0's)");
}
