"""dwconv_bn_act: every backend and ISA vs the float64 reference."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import assert_close
from mobilekernels import Activation, _ext, ops
from mobilekernels.ops import cpu, reference
from op_cases import dw_packed, make_input

ISAS = ["scalar"] + ([_ext._C.cpu_features()["best_isa"]] if _ext.available() else [])
ISAS = list(dict.fromkeys(ISAS))


def _ref(x, packed, k, s, pad, d, act):
    return reference.dwconv_bn_act(x.double(), packed.double(), k, s, pad, d, act)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 40), h=st.integers(1, 13), w=st.integers(1, 13),
       k=st.sampled_from([3, 5]), s=st.sampled_from([1, 2]), act=st.sampled_from(list(Activation)),
       pad_kind=st.sampled_from(["same", "none", "asym", "beyond"]), seed=st.integers(0, 2**31 - 1),
       layout=st.sampled_from(["channels_last", "contiguous", "strided"]))
def test_matches_reference(n, c, h, w, k, s, act, pad_kind, seed, layout):
    half = (k - 1) // 2
    # "beyond": whole output rows/columns inside the bottom/right padding (bias only).
    pad = {"same": [half] * 4, "none": [0] * 4, "asym": [0, half, k - 1, 1],
           "beyond": [1, 0, k + 2, k + 1]}[pad_kind]
    if (h + pad[0] + pad[2] < k) or (w + pad[1] + pad[3] < k):
        pad = [half] * 4
    x = make_input(n, c, h, w, seed=seed, layout=layout)
    packed = dw_packed(c, k, seed=seed)
    y = ops.dwconv_bn_act(x, packed, k, s, pad, 1, int(act))
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert_close(y, _ref(x, packed, k, s, pad, 1, int(act)), what=f"{ops.backend_for('dwconv_bn_act', x)}")


@pytest.mark.skipif(not _ext.available(), reason="CPU extension not built")
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("k,s,d", [(3, 1, 1), (3, 2, 1), (5, 1, 1), (5, 2, 1), (3, 1, 2)])
@pytest.mark.parametrize("act", list(Activation))
def test_each_isa(isa, k, s, d, act):
    c = 8 * 3 + 5  # vector body + masked tail
    x = make_input(2, c, 11, 9, seed=k * 100 + s * 10 + int(act))
    packed = dw_packed(c, k, seed=7)
    pad = [d * (k - 1) // 2] * 4
    y = cpu.dwconv_bn_act(x, packed, k, s, pad, d, int(act), isa=isa)
    assert_close(y, _ref(x, packed, k, s, pad, d, int(act)), what=f"isa={isa}")


@pytest.mark.parametrize("act", [Activation.RELU6, Activation.HARDSWISH, Activation.HARDSIGMOID])
def test_clamps_are_exercised(act):
    x = make_input(1, 32, 16, 16, seed=3)
    ref = _ref(x, dw_packed(32, 3, seed=3), 3, 1, [1] * 4, 1, int(act))
    lo, hi = {Activation.RELU6: (0, 6), Activation.HARDSWISH: (0, None),
              Activation.HARDSIGMOID: (0, 1)}[act]
    assert (ref == lo).any()
    if hi is not None:
        assert (ref == hi).any()


def test_reference_backend_override_agrees():
    x = make_input(1, 24, 7, 7, seed=11)
    packed = dw_packed(24, 3, seed=11)
    with ops.use_backend("reference"):
        assert ops.backend_for("dwconv_bn_act", x) == "reference"
        y_ref = ops.dwconv_bn_act(x, packed, 3, 1, [1] * 4, 1, 2)
    y = ops.dwconv_bn_act(x, packed, 3, 1, [1] * 4, 1, 2)
    assert_close(y, y_ref.double())


def test_float64_runs_on_reference():
    x = make_input(1, 5, 6, 6, seed=1, dtype=torch.float64)
    packed = dw_packed(5, 5, seed=1, dtype=torch.float64)
    assert ops.backend_for("dwconv_bn_act", x) == "reference"
    y = ops.dwconv_bn_act(x, packed, 5, 2, [2] * 4, 1, 3)
    assert y.dtype == torch.float64 and y.shape == (1, 5, 3, 3)


def test_cpu_float32_uses_the_extension():
    x = make_input(1, 5, 6, 6, seed=1)
    expected = "cpu" if _ext.available() else "reference"
    assert ops.backend_for("dwconv_bn_act", x) == expected


@pytest.mark.skipif(not _ext.available(), reason="CPU extension not built")
@pytest.mark.parametrize("isa", ISAS)
def test_huge_padding_and_stride_do_not_overflow(isa):
    """Sizes near 2**31 once overflowed an int in the AVX2 interior range (a segfault)."""
    import numpy as np
    x = np.ones((1, 3, 4, 8), np.float32)
    packed = np.ones((10, 8), np.float32)
    y = np.full((1, 3, 2, 8), np.nan, np.float32)
    _ext._C.dwconv_bn_act(x, packed, y, 3, 3, 1, 2**30, [1, 2**30 + 1, 1, 0], 1, 1, 0, isa)
    # y = bias + number of taps inside the image (x = packed = 1): rows see 2, 3, 2 valid
    # taps; column 0 lies wholly in the left padding, column 1 sees 2 valid taps.
    expected = 1 + np.array([2, 3, 2])[:, None] * np.array([0, 2])[None, :]
    assert np.array_equal(y[0, :, :, 0], expected) and np.all(y == y[..., :1])


@pytest.mark.parametrize("act", [Activation.RELU, Activation.RELU6, Activation.HARDSWISH,
                                 Activation.HARDSIGMOID])
@pytest.mark.parametrize("isa", ISAS)
def test_nan_propagates_like_torch(act, isa):
    x = make_input(1, 16, 5, 5, seed=1)
    x[0, 3, 2, 2] = float("nan")
    packed = dw_packed(16, 3, seed=1)
    y = cpu.dwconv_bn_act(x, packed, 3, 1, [1] * 4, 1, int(act), isa=isa) if _ext.available() else \
        ops.dwconv_bn_act(x, packed, 3, 1, [1] * 4, 1, int(act))
    ref = _ref(x, packed, 3, 1, [1] * 4, 1, int(act))
    assert torch.equal(torch.isnan(y), torch.isnan(ref)) and torch.isnan(ref).sum() == 9
