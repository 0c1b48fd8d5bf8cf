"""pwconv / conv / SE / pooling / inverted residual vs the float64 reference, and every
op through torch.library.opcheck (schema, fake impl, strides)."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import assert_close
from mobilekernels import Activation, _ext, ops
from mobilekernels.ops import cpu, reference
from op_cases import conv_packed, dw_packed, make_input

ISAS = list(dict.fromkeys(["scalar"] + ([_ext._C.cpu_features()["best_isa"]] if _ext.available() else [])))
ACTS = st.sampled_from(list(Activation))
SEEDS = st.integers(0, 2**31 - 1)
LAYOUTS = st.sampled_from(["channels_last", "contiguous", "strided"])


def d(t):
    return None if t is None else t.double()


def a(t):
    """|t| in float64 (None stays None): inputs for the absolute-terms scale."""
    return None if t is None else t.double().abs()


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 2), cin=st.integers(1, 40), cout=st.integers(1, 40), h=st.integers(1, 9),
       w=st.integers(1, 9), act=ACTS, seed=SEEDS, layout=LAYOUTS, with_residual=st.booleans())
def test_pwconv(n, cin, cout, h, w, act, seed, layout, with_residual):
    x = make_input(n, cin, h, w, seed=seed, layout=layout)
    packed = conv_packed(cin, cout, seed=seed)
    res = make_input(n, cout, h, w, seed=seed + 5) if with_residual else None
    y = ops.pwconv_bn_act(x, packed, int(act), res)
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert_close(y, reference.pwconv_bn_act(x.double(), packed.double(), int(act), d(res)),
                 scale=reference.pwconv_bn_act(a(x), a(packed), 0, a(res)))


@pytest.mark.skipif(not _ext.available(), reason="CPU extension not built")
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("act", list(Activation))
@pytest.mark.parametrize("m_pixels,cin,cout", [(1, 16, 16), (5, 24, 144), (49, 96, 24), (13, 7, 41)])
def test_pwconv_each_isa(isa, act, m_pixels, cin, cout):
    x = make_input(1, cin, 1, m_pixels, seed=cin + cout)
    packed = conv_packed(cin, cout, seed=cout)
    res = make_input(1, cout, 1, m_pixels, seed=3)
    y = cpu.pwconv_bn_act(x, packed, int(act), res, isa=isa)
    assert_close(y, reference.pwconv_bn_act(x.double(), packed.double(), int(act), res.double()),
                 what=f"isa={isa}")


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 2), cin=st.integers(1, 4), cout=st.integers(1, 40), h=st.integers(3, 12),
       w=st.integers(3, 12), k=st.sampled_from([1, 3, 5]), s=st.sampled_from([1, 2]), act=ACTS,
       seed=SEEDS)
def test_conv(n, cin, cout, h, w, k, s, act, seed):
    x = make_input(n, cin, h, w, seed=seed)
    packed = conv_packed(cin, cout, k, seed=seed)
    pad = [(k - 1) // 2] * 4
    y = ops.conv_bn_act(x, packed, k, s, pad, int(act))
    assert_close(y, reference.conv_bn_act(x.double(), packed.double(), k, s, pad, int(act)),
                 scale=reference.conv_bn_act(a(x), a(packed), k, s, pad, 0))


@pytest.mark.skipif(not _ext.available(), reason="CPU extension not built")
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("k,s,pad", [(3, 2, [1, 1, 1, 1]), (3, 2, [0, 1, 1, 0]), (5, 1, [2, 2, 2, 2]),
                                     (7, 2, [3, 3, 3, 3]), (1, 1, [0, 0, 0, 0])])
def test_conv_each_isa(isa, k, s, pad):
    x = make_input(2, 3, 23, 17, seed=k)
    packed = conv_packed(3, 24, k, seed=k)
    y = cpu.conv_bn_act(x, packed, k, s, pad, int(Activation.HARDSWISH), isa=isa)
    assert_close(y, reference.conv_bn_act(x.double(), packed.double(), k, s, pad, int(Activation.HARDSWISH)),
                 what=f"isa={isa}", scale=reference.conv_bn_act(a(x), a(packed), k, s, pad, 0))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 64), h=st.integers(1, 9), w=st.integers(1, 9),
       seed=SEEDS, layout=LAYOUTS)
def test_global_avgpool(n, c, h, w, seed, layout):
    x = make_input(n, c, h, w, seed=seed, layout=layout)
    y = ops.global_avgpool(x)
    assert y.shape == (n, c, 1, 1)
    assert not torch.isnan(y).any(), "an output element was not written"
    # A mean's float32 rounding error scales with mean(|x|), not |mean(x)|: one channel whose
    # values cancel (mean 1.8e-3, abs error 2e-8) failed a norm-relative 1e-5 in CI.
    ref = x.double().mean(dim=(2, 3), keepdim=True)
    scale = x.double().abs().mean(dim=(2, 3), keepdim=True).clamp_min(1e-30)
    err = ((y.double() - ref).abs() / scale).max().item()
    assert err <= 1e-5, f"error {err:.3g} of mean(|x|) > 1e-5"


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 48), r=st.integers(1, 16), h=st.integers(1, 8),
       w=st.integers(1, 8), act=ACTS, gate=st.sampled_from([Activation.SIGMOID, Activation.HARDSIGMOID]),
       seed=SEEDS)
def test_squeeze_excite(n, c, r, h, w, act, gate, seed):
    x = make_input(n, c, h, w, seed=seed)
    fc1, fc2 = conv_packed(c, r, seed=seed), conv_packed(r, c, seed=seed + 9)
    y = ops.squeeze_excite(x, fc1, fc2, int(act), int(gate))
    # An independent oracle: plain torch modules in float64.
    pooled = x.double().mean(dim=(2, 3))
    h1 = pooled @ fc1.double()[:-1] + fc1.double()[-1]
    from mobilekernels.activation import apply_activation
    g = apply_activation(apply_activation(h1, int(act)) @ fc2.double()[:-1] + fc2.double()[-1], int(gate))
    assert_close(y, x.double() * g[:, :, None, None])


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 2), cin=st.integers(1, 24), t=st.sampled_from([1, 3, 6]),
       cout=st.integers(1, 24), h=st.integers(1, 10), w=st.integers(1, 10),
       k=st.sampled_from([3, 5]), s=st.sampled_from([1, 2]), se=st.booleans(),
       act=st.sampled_from([Activation.RELU6, Activation.HARDSWISH, Activation.RELU]), seed=SEEDS)
def test_inverted_residual(n, cin, t, cout, h, w, k, s, se, act, seed):
    hidden = cin * t
    x = make_input(n, cin, h, w, seed=seed)
    expand = conv_packed(cin, hidden, seed=seed) if t != 1 else None
    dw = dw_packed(hidden, k, seed=seed)
    fc1 = conv_packed(hidden, max(1, hidden // 4), seed=seed + 3) if se else None
    fc2 = conv_packed(max(1, hidden // 4), hidden, seed=seed + 4) if se else None
    project = conv_packed(hidden, cout, seed=seed + 5)
    residual = s == 1 and cin == cout
    pad = [(k - 1) // 2] * 4
    args = (int(act), dw, k, s, pad, int(act), fc1, fc2, int(Activation.RELU), int(Activation.HARDSIGMOID),
            project, residual)
    y = ops.inverted_residual(x, expand, *args)
    ref_args = [d(v) if isinstance(v, torch.Tensor) else v for v in args]
    abs_args = [a(v) if isinstance(v, torch.Tensor) else v for v in args]
    assert_close(y, reference.inverted_residual(x.double(), d(expand), *ref_args),
                 scale=reference.inverted_residual(a(x), a(expand), *abs_args))


def _opcheck_cases():
    x = make_input(2, 16, 7, 6, seed=1)
    e, dw, p = conv_packed(16, 32, seed=1), dw_packed(32, 3, seed=1), conv_packed(32, 16, seed=2)
    f1, f2 = conv_packed(32, 8, seed=3), conv_packed(8, 32, seed=4)
    w4, b = torch.randn(8, 3, 3, 3), torch.randn(8)
    return [
        ("dwconv_bn_act", (x, dw_packed(16, 5, seed=2), 5, 2, [2, 2, 2, 2], 1, 3)),
        ("conv_bn_act", (make_input(1, 3, 9, 9, seed=2), conv_packed(3, 8, 3, seed=1), 3, 2, [1] * 4, 2)),
        ("pwconv_bn_act", (x, conv_packed(16, 16, seed=5), 1, make_input(2, 16, 7, 6, seed=3))),
        ("pwconv_bn_act", (x, conv_packed(16, 8, seed=5), 0, None)),
        ("global_avgpool", (x,)),
        ("squeeze_excite", (x, conv_packed(16, 8, seed=6), conv_packed(8, 16, seed=7), 1, 4)),
        ("inverted_residual", (x, e, 2, dw, 3, 1, [1] * 4, 2, f1, f2, 1, 4, p, True)),
        ("inverted_residual", (x, None, 0, dw_packed(16, 5, seed=3), 5, 2, [2] * 4, 3, None, None, 0, 0,
                               conv_packed(16, 24, seed=9), False)),
        ("pack_conv", (w4, b)),
        ("pack_dwconv", (torch.randn(8, 1, 5, 5), b)),
    ]


@pytest.mark.parametrize("name,args", _opcheck_cases(), ids=lambda v: v if isinstance(v, str) else "")
def test_opcheck(name, args):
    torch.library.opcheck(getattr(torch.ops.mobilekernels, name).default, args)


def test_pack_roundtrip():
    from mobilekernels.ops import packing
    w, b = torch.randn(7, 5, 3, 3), torch.randn(7)
    w2, b2 = packing.unpack_conv(ops.pack_conv(w, b), 3, 5)
    assert torch.equal(w2, w) and torch.equal(b2, b)
    w, b = torch.randn(9, 1, 5, 5), torch.randn(9)
    w2, b2 = packing.unpack_dwconv(ops.pack_dwconv(w, b), 5)
    assert torch.equal(w2, w) and torch.equal(b2, b)


def test_reference_matches_torch_modules():
    """The oracle itself vs torch.nn layers (conv -> eval BN -> activation), float64."""
    from mobilekernels.nn import fold_bn
    conv = torch.nn.Conv2d(12, 12, 5, 2, 2, groups=12, bias=False).double()
    bn = torch.nn.BatchNorm2d(12).double().eval()
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    x = make_input(2, 12, 9, 9, seed=4, dtype=torch.float64)
    want = torch.nn.functional.hardswish(bn(conv(x)))
    got = reference.dwconv_bn_act(x, ops.pack_dwconv(*fold_bn(conv, bn)), 5, 2, [2] * 4, 1, 3)
    assert_close(got, want, torch.float64)


def test_public_functions_route_through_the_registered_op_when_traced():
    """Eager calls skip the dispatcher; fake tensors / compile must still reach the op."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    x = make_input(1, 8, 6, 6, seed=0)
    packed = dw_packed(8, 3, seed=0)
    with FakeTensorMode() as mode:
        fx, fp = mode.from_tensor(x), mode.from_tensor(packed)
        y = ops.dwconv_bn_act(fx, fp, 3, 2, [1] * 4, 1, 2)
    assert y.shape == (1, 8, 3, 3) and y.stride() == (72, 1, 24, 8)
    eager = ops.dwconv_bn_act(x, packed, 3, 2, [1] * 4, 1, 2)
    dispatched = torch.ops.mobilekernels.dwconv_bn_act(x, packed, 3, 2, [1] * 4, 1, 2)
    assert torch.equal(eager, dispatched)


@pytest.mark.skipif(not _ext.available(), reason="CPU extension not built")
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("cin,t,cout,k,s,se", [
    (16, 1, 16, 3, 1, True), (24, 6, 24, 3, 1, False), (24, 3, 40, 5, 2, True), (13, 6, 7, 5, 1, False)])
def test_cpu_block_ops_each_isa(isa, cin, t, cout, k, s, se):
    hidden = cin * t
    x = make_input(2, cin, 9, 11, seed=cin * k)
    expand = conv_packed(cin, hidden, seed=1) if t != 1 else None
    dw = dw_packed(hidden, k, seed=2)
    fc1 = conv_packed(hidden, 8, seed=3) if se else None
    fc2 = conv_packed(8, hidden, seed=4) if se else None
    project = conv_packed(hidden, cout, seed=5)
    pad = [(k - 1) // 2] * 4
    residual = s == 1 and cin == cout
    args = (expand, 3, dw, k, s, pad, 2, fc1, fc2, 1, 4, project, residual)
    y = cpu.inverted_residual(x, *args, isa=isa)
    ref_args = [d(v) if isinstance(v, torch.Tensor) else v for v in args]
    abs_args = [a(v) if isinstance(v, torch.Tensor) else v for v in args]
    assert_close(y, reference.inverted_residual(x.double(), *ref_args), what=f"block isa={isa}",
                 scale=reference.inverted_residual(a(x), *abs_args))
    assert_close(cpu.global_avgpool(x, isa=isa), x.double().mean((2, 3), keepdim=True), what="pool")
    f1, f2 = conv_packed(cin, 5, seed=6), conv_packed(5, cin, seed=7)
    assert_close(cpu.squeeze_excite(x, f1, f2, 3, 6, isa=isa),
                 reference.squeeze_excite(x.double(), f1.double(), f2.double(), 3, 6), what="se")


@pytest.mark.filterwarnings("ignore:There is a performance drop")
def test_vmap_and_keyword_arguments_use_the_registered_op():
    x = make_input(3, 8, 5, 5, seed=4)
    packed = dw_packed(8, 3, seed=4)
    per_sample = torch.func.vmap(lambda xi: ops.dwconv_bn_act(xi[None], packed, 3, 1, [1] * 4, 1, 2)[0])(x)
    assert torch.equal(per_sample, ops.dwconv_bn_act(x, packed, 3, 1, [1] * 4, 1, 2))
    p = conv_packed(8, 4, seed=1)
    assert torch.equal(ops.pwconv_bn_act(x, p, activation=2, residual=None), ops.pwconv_bn_act(x, p, 2, None))
