"""Triton kernels vs the float64 reference: on a GPU for real (float32/16/bf16), and on CPU
through TRITON_INTERPRET=1 (set by conftest.py) on small shapes that still cover channel
and width tails, several channel blocks, strides, kernel sizes and activations."""
import pytest
import torch

from conftest import TOLERANCE, assert_close
from mobilekernels import Activation, ops
from mobilekernels.ops import reference
from op_cases import conv_packed, dw_packed, make_input

triton_ops = pytest.importorskip("mobilekernels.triton")

GPU = torch.cuda.is_available()
DEVICE = "cuda" if GPU else "cpu"
DTYPES = [torch.float32, torch.float16, torch.bfloat16] if GPU else [torch.float32]
# `pytest -m gpu` on a GPU machine selects this whole module (plus the zoo test below).
pytestmark = pytest.mark.gpu


def _on(t, dtype):
    return None if t is None else t.to(device=DEVICE, dtype=dtype)


def _ref(t):
    return None if t is None else t.double().cpu()


def _abs(t):
    return None if t is None else t.double().abs().cpu()


def _check(got, ref, scale, dtype, what):
    assert got.device.type == DEVICE and got.dtype == dtype
    assert got.is_contiguous(memory_format=torch.channels_last), what
    assert_close(got.cpu(), ref, dtype, what, scale=scale)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c,h,w,k,s,d,act", [
    (19, 9, 11, 3, 1, 1, Activation.RELU6),     # C and W tails
    (70, 7, 17, 3, 2, 1, Activation.HARDSWISH),  # two channel blocks, stride 2
    (24, 8, 8, 5, 1, 1, Activation.RELU),
    (40, 11, 9, 5, 2, 1, Activation.HARDSIGMOID),
    (16, 10, 10, 3, 1, 2, Activation.SILU),      # dilation
    (8, 1, 1, 3, 1, 1, Activation.IDENTITY),     # 1x1 image
])
def test_dwconv(dtype, c, h, w, k, s, d, act):
    x = make_input(2, c, h, w, seed=c + k)
    packed = dw_packed(c, k, seed=c)
    pad = [d * (k - 1) // 2] * 4
    xq, pq = _on(x, dtype), _on(packed, dtype)
    y = triton_ops.dwconv_bn_act(xq, pq, k, s, pad, d, int(act))
    _check(y, reference.dwconv_bn_act(_ref(xq), _ref(pq), k, s, pad, d, int(act)),
           reference.dwconv_bn_act(_abs(xq), _abs(pq), k, s, pad, d, 0), dtype, "dwconv")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cin,cout,h,w,act,res", [
    (19, 23, 9, 11, Activation.RELU6, True),
    (96, 24, 7, 7, Activation.IDENTITY, True),
    (24, 144, 5, 6, Activation.HARDSWISH, False),
    (3, 70, 2, 3, Activation.SIGMOID, False),
])
def test_pwconv(dtype, cin, cout, h, w, act, res):
    x = make_input(2, cin, h, w, seed=cin)
    packed = conv_packed(cin, cout, seed=cout)
    r = make_input(2, cout, h, w, seed=7) if res else None
    xq, pq, rq = _on(x, dtype), _on(packed, dtype), _on(r, dtype)
    y = triton_ops.pwconv_bn_act(xq, pq, int(act), rq)
    _check(y, reference.pwconv_bn_act(_ref(xq), _ref(pq), int(act), _ref(rq)),
           reference.pwconv_bn_act(_abs(xq), _abs(pq), 0, _abs(rq)), dtype, "pwconv")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,s", [(3, 2), (5, 1)])
def test_stem_conv(dtype, k, s):
    x = make_input(2, 3, 9, 7, seed=k)
    packed = conv_packed(3, 40, k, seed=k)
    pad = [(k - 1) // 2] * 4
    xq, pq = _on(x, dtype), _on(packed, dtype)
    y = triton_ops.conv_bn_act(xq, pq, k, s, pad, int(Activation.HARDSWISH))
    _check(y, reference.conv_bn_act(_ref(xq), _ref(pq), k, s, pad, int(Activation.HARDSWISH)),
           reference.conv_bn_act(_abs(xq), _abs(pq), k, s, pad, 0), dtype, "conv")


@pytest.mark.parametrize("dtype", DTYPES)
def test_pool_and_squeeze_excite(dtype):
    x = make_input(2, 70, 6, 7, seed=3)
    fc1, fc2 = conv_packed(70, 18, seed=1), conv_packed(18, 70, seed=2)
    xq, f1, f2 = _on(x, dtype), _on(fc1, dtype), _on(fc2, dtype)
    pooled = triton_ops.global_avgpool(xq)
    _check(pooled, reference.global_avgpool(_ref(xq)), None, dtype, "pool")
    y = triton_ops.squeeze_excite(xq, f1, f2, int(Activation.RELU), int(Activation.HARDSIGMOID))
    _check(y, reference.squeeze_excite(_ref(xq), _ref(f1), _ref(f2), 1, 4), None, dtype, "se")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cin,t,cout,k,s,se", [(16, 6, 16, 3, 1, True), (24, 1, 24, 3, 1, False),
                                               (16, 4, 24, 5, 2, True)])
def test_inverted_residual_through_the_dispatcher(dtype, cin, t, cout, k, s, se):
    hidden = cin * t
    x = make_input(1, cin, 8, 9, seed=cin)
    args = [conv_packed(cin, hidden, seed=1) if t != 1 else None, 2, dw_packed(hidden, k, seed=2), k, s,
            [(k - 1) // 2] * 4, 2, conv_packed(hidden, 8, seed=3) if se else None,
            conv_packed(8, hidden, seed=4) if se else None, 1, 4, conv_packed(hidden, cout, seed=5),
            s == 1 and cin == cout]
    q = [_on(a, dtype) if isinstance(a, torch.Tensor) else a for a in args]
    xq = _on(x, dtype)
    with ops.use_backend("triton"):
        assert ops.backend_for("inverted_residual", xq) == "triton"
        y = ops.inverted_residual(xq, *q)
    ref = reference.inverted_residual(_ref(xq), *[_ref(a) if isinstance(a, torch.Tensor) else a for a in q])
    scale = reference.inverted_residual(_abs(xq), *[_abs(a) if isinstance(a, torch.Tensor) else a for a in q])
    _check(y, ref, scale, dtype, "block")


@pytest.mark.skipif(not GPU, reason="no GPU")
@pytest.mark.timeout(400)  # compiles every zoo block's kernels: >90 s beside 13 other workers (H200)
def test_cuda_tensors_dispatch_to_triton_and_the_zoo_agrees():
    from mobilekernels import models
    from mobilekernels.nn import unfused
    x = torch.randn(2, 3, 224, 224, device="cuda").contiguous(memory_format=torch.channels_last)
    assert ops.backend_for("dwconv_bn_act", x) == "triton"
    for name in ("mobilenet_v2", "mobilenet_v3_large"):
        m = models.MODELS[name]().cuda().eval()
        with torch.no_grad():
            got = m(x)
            with unfused():
                want = m.double()(x.double())
        assert_close(got.cpu(), want.cpu(), torch.float32, name)


def test_tolerances_are_the_design_ones():
    assert TOLERANCE[torch.float16] == 5e-3 and TOLERANCE[torch.bfloat16] == 2e-2


def test_compiled_block_runs_the_triton_kernels():
    """torch.compile(fullgraph=True) over a fused block whose ops run on Triton."""
    from conftest import randomize_bn
    from mobilekernels.nn import InvertedResidual, unfused
    m = randomize_bn(InvertedResidual.build(8, 8, 32, 3, 1, activation="hardswish", se_channels=8)).to(DEVICE).eval()
    x = make_input(1, 8, 6, 7, seed=9).float().to(DEVICE)
    with torch.no_grad(), ops.use_backend("triton"):
        got = torch.compile(m, fullgraph=True, backend="aot_eager")(x)
        with unfused():
            want = m.double()(x.double())
    assert_close(got.cpu(), want.cpu(), torch.float32, "compiled block")
