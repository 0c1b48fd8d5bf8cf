"""The fused inverted-residual Triton kernel (mobilekernels/triton/inverted_residual.py) vs the
float64 reference composition: on a GPU for real, on CPU through TRITON_INTERPRET=1 (set by
conftest.py) on small shapes. Covers expansion 1 and > 1, k = 3 / 5, stride 1 / 2, residual on
and off, channel counts that are not powers of two, H / W that are not tile multiples (the
launcher's own tiles and forced small ones), batch 2, a 1x1 image, asymmetric padding, several
activations, both halo schemes, channel / hidden / output-channel blocking, and that the
dispatcher really takes the fused path. Outputs are NaN-poisoned before the kernel runs."""
import importlib

import pytest
import torch

from conftest import assert_close
from mobilekernels import Activation, ops
from mobilekernels.ops import reference
from op_cases import conv_packed, dw_packed, make_input

triton_ops = pytest.importorskip("mobilekernels.triton")
fused = importlib.import_module("mobilekernels.triton.inverted_residual")

GPU = torch.cuda.is_available()
DEVICE = "cuda" if GPU else "cpu"
# bfloat16 tl.dot is wrong under the interpreter (the existing GEMM kernel shows the same), so
# on CPU: float32 everywhere, float16 on a couple of cases.
DTYPES = [torch.float32, torch.float16, torch.bfloat16] if GPU else [torch.float32]
HALF = [torch.float16, torch.bfloat16] if GPU else [torch.float16]
pytestmark = pytest.mark.gpu

A = Activation


@pytest.fixture(autouse=True)
def poison():
    fused.POISON_OUTPUTS = True
    yield
    fused.POISON_OUTPUTS = False


def _block(cin, hidden, cout, k, *, seed, expand=True):
    """Packed weights (float64) of a block; expand=False means expansion 1 (hidden == cin)."""
    return (conv_packed(cin, hidden, seed=seed) if expand else None,
            dw_packed(hidden, k, seed=seed + 10), conv_packed(hidden, cout, seed=seed + 20))


def _run(x, weights, act_e, k, s, pad, act_d, res, dtype=torch.float32, what="block", **knobs):
    expand, dw, project = weights
    q = [None if t is None else t.to(device=DEVICE, dtype=dtype) for t in (x, expand, dw, project)]
    xq, eq, dq, pq = q
    y = fused.fused_inverted_residual(xq, eq, int(act_e), dq, k, s, pad, int(act_d), pq, res, **knobs)
    assert y.device.type == DEVICE and y.dtype == dtype, what
    assert y.is_contiguous(memory_format=torch.channels_last), what
    r = [None if t is None else t.double().cpu() for t in q]
    a = [None if t is None else t.double().abs().cpu() for t in q]
    ref = reference.inverted_residual(r[0], r[1], int(act_e), r[2], k, s, pad, int(act_d),
                                      None, None, 0, 0, r[3], res)
    # the same block on |inputs| with identity activations: the size of the summed terms
    scale = reference.inverted_residual(a[0], a[1], 0, a[2], k, s, pad, 0, None, None, 0, 0, a[3], res)
    assert_close(y.cpu(), ref, dtype, what, scale=scale)
    return y


@pytest.mark.parametrize("halo", ["recompute", "gather"])
@pytest.mark.parametrize("n,cin,hidden,cout,h,w,k,s,act_e,act_d,res", [
    (2, 5, 30, 7, 9, 11, 3, 1, A.RELU6, A.RELU6, False),          # C not powers of 2, batch 2
    (2, 8, 20, 8, 7, 10, 3, 1, A.HARDSWISH, A.HARDSWISH, True),   # residual
    (1, 6, 18, 10, 9, 7, 3, 2, A.RELU, A.HARDSIGMOID, False),     # stride 2, odd H / W
    (2, 7, 21, 7, 6, 9, 5, 1, A.SILU, A.RELU6, True),             # 5x5 + residual
    (1, 8, 24, 12, 11, 10, 5, 2, A.HARDSWISH, A.IDENTITY, False),  # 5x5 stride 2
    (2, 9, 9, 9, 8, 7, 3, 1, None, A.RELU, True),                 # expansion 1 (no expand conv)
    (1, 12, 12, 16, 9, 9, 5, 2, None, A.SIGMOID, False),          # expansion 1, 5x5 s2
    (2, 5, 30, 7, 1, 1, 3, 1, A.RELU6, A.HARDSWISH, False),       # 1x1 image
    (1, 4, 16, 4, 1, 1, 5, 1, A.HARDSIGMOID, A.RELU6, True),      # 1x1 image, 5x5 pads > image
])
def test_fused_block(halo, n, cin, hidden, cout, h, w, k, s, act_e, act_d, res):
    expand = act_e is not None
    weights = _block(cin, hidden, cout, k, seed=cin + hidden, expand=expand)
    x = make_input(n, cin, h, w, seed=h * w + k)
    _run(x, weights, act_e or 0, k, s, [(k - 1) // 2] * 4, act_d, res, halo=halo)


@pytest.mark.parametrize("halo", ["recompute", "gather"])
@pytest.mark.parametrize("tile", [(2, 3), (1, 8)])
def test_forced_tiles_and_blocks(halo, tile):
    """Small tiles (several programs, ragged last tiles), hidden blocks of 16 (one plus a
    tail), Cin over two blocks of 16 (the loop, not the register-resident X), and the output
    channels split over the grid (acc_budget)."""
    weights = _block(18, 20, 18, 3, seed=3)
    x = make_input(1, 18, 5, 7, seed=4)
    _run(x, weights, A.RELU6, 3, 1, [1] * 4, A.RELU6, True, what=f"tile {tile}", halo=halo, tile=tile,
         hid_block=16, cin_block=16, acc_budget=16 * 16)


@pytest.mark.parametrize("halo", ["recompute", "gather"])
@pytest.mark.parametrize("k,s,pad", [(3, 2, [0, 0, 1, 1]), (5, 1, [1, 2, 3, 2]), (3, 1, [0, 1, 2, 1])])
def test_asymmetric_padding(halo, k, s, pad):
    """(top, left, bottom, right) as in reference._pad / checks.out_hw (TF 'same' style)."""
    weights = _block(6, 24, 8, k, seed=k)
    x = make_input(1, 6, 8, 9, seed=s)
    _run(x, weights, A.HARDSWISH, k, s, pad, A.RELU, False, halo=halo)


def test_padding_is_zero_after_the_expand_activation():
    """act(bias) of the expand conv is large and non-zero here (hardsigmoid: 0.5 at 0): if the
    padded halo took act(bias) instead of 0, every border pixel would be wrong."""
    expand, dw, project = _block(4, 16, 4, 3, seed=8)
    expand[-1] = 5.0  # expand bias: act(5) = 1 for hardsigmoid, far from 0
    x = make_input(1, 4, 5, 6, seed=2)
    for halo in ("recompute", "gather"):
        _run(x, (expand, dw, project), A.HARDSIGMOID, 3, 1, [1] * 4, A.IDENTITY, False, halo=halo)


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("halo", ["recompute", "gather"])
def test_half_precision(dtype, halo):
    weights = _block(8, 24, 8, 3, seed=5)
    x = make_input(2, 8, 7, 9, seed=5)
    _run(x, weights, A.HARDSWISH, 3, 1, [1] * 4, A.HARDSWISH, True, dtype, halo=halo)


@pytest.mark.parametrize("dtype", DTYPES)
def test_launcher_defaults(dtype):
    """No knobs: the tile and blocks the launcher picks by itself, non-channels-last input."""
    weights = _block(10, 40, 12, 3, seed=6)
    x = make_input(2, 10, 10, 13, seed=6, layout="strided")
    _run(x, weights, A.RELU6, 3, 2, [1] * 4, A.RELU6, False, dtype)


def test_output_fully_written_without_poison():
    """The fused output comes from torch.empty in normal use: every element must be written."""
    fused.POISON_OUTPUTS = False
    weights = _block(5, 30, 7, 3, seed=7)
    x = make_input(2, 5, 5, 6, seed=7).to(DEVICE)
    e, d, p = (None if t is None else t.float().to(DEVICE) for t in weights)
    torch.manual_seed(0)
    for _ in range(2):  # the second allocation likely reuses the first's memory: fill it with NaN
        y = fused.fused_inverted_residual(x.float(), e, 2, d, 3, 1, [1] * 4, 2, p, False, tile=(4, 4))
        assert not torch.isnan(y).any()
        y.fill_(float("nan"))
        del y


def test_pick_tile():
    # 14 x 14 outputs from a 16 x 16 halo: 1.31x the unfused expand, 4 x 4 tiles cover 56 x 56.
    assert fused.pick_tile(56, 56, 3, 1, 24, 24, True, True, 256, 16384)[:4] == (14, 14, 256, 256)
    for args in [(56, 56, 3, 1, 24, 24), (7, 7, 5, 1, 160, 160), (28, 28, 3, 2, 32, 64), (1, 1, 5, 1, 8, 8)]:
        for gather in (False, True):
            oth, otw, p, q, cout_block = fused.pick_tile(*args, True, gather, 128, 16384)
            assert oth * otw <= p <= 128 and q <= 128 and p >= 16 and q >= 16
            assert cout_block >= 16 and p * cout_block <= max(16384, 16 * p)


def test_bad_halo_name():
    weights = [t.float() for t in _block(4, 8, 4, 3, seed=1)]
    with pytest.raises(ValueError, match="halo"):
        fused.fused_inverted_residual(make_input(1, 4, 3, 3, seed=1).float(), weights[0], 0, weights[1], 3, 1,
                                      [1] * 4, 0, weights[2], False, halo="smem")


def test_dispatcher_takes_the_fused_path(monkeypatch):
    """ops.inverted_residual on the Triton backend without SE must not run the per-op kernels;
    with SE it takes the SE pipeline (triton/se.py: depthwise + pool fused, gated project),
    not the per-op composition either."""
    def boom(*a, **k):
        raise AssertionError("per-op kernel called on a non-SE block")
    for name in ("dwconv_bn_act", "pwconv_bn_act", "squeeze_excite"):
        monkeypatch.setattr(triton_ops, name, boom)
    calls = []
    real = fused.fused_inverted_residual
    monkeypatch.setattr(triton_ops, "fused_inverted_residual", lambda *a, **k: calls.append(1) or real(*a, **k))
    expand, dw, project = (t.float().to(DEVICE) for t in _block(8, 24, 8, 3, seed=9))
    x = make_input(1, 8, 6, 7, seed=9).float().to(DEVICE)
    with ops.use_backend("triton"):
        assert ops.backend_for("inverted_residual", x) == "triton"
        y = ops.inverted_residual(x, expand, 2, dw, 3, 1, [1] * 4, 2, None, None, 0, 0, project, True)
        assert calls == [1]
        se1, se2 = conv_packed(24, 8, seed=1).float().to(DEVICE), conv_packed(8, 24, seed=2).float().to(DEVICE)
        se_calls = []
        real_se = triton_ops.inverted_residual_se
        monkeypatch.setattr(triton_ops, "inverted_residual_se", lambda *a, **k: se_calls.append(1) or real_se(*a, **k))
        ops.inverted_residual(x, expand, 2, dw, 3, 1, [1] * 4, 2, se1, se2, 1, 4, project, True)
        assert calls == [1] and se_calls == [1]
    ref = reference.inverted_residual(x.double().cpu(), expand.double().cpu(), 2, dw.double().cpu(), 3, 1, [1] * 4,
                                      2, None, None, 0, 0, project.double().cpu(), True)
    assert_close(y.cpu(), ref, torch.float32, "dispatched block")


@pytest.mark.skipif(not GPU, reason="autotune times configs with CUDA events")
def test_autotune_picks_a_config_and_stays_correct():
    weights = _block(16, 96, 24, 3, seed=11)
    x = make_input(4, 16, 28, 28, seed=11).float().cuda()
    e, d, p = (t.float().cuda() for t in weights)
    best, timings = fused.autotune(x, e, 2, d, 3, 2, [1] * 4, 2, p, False, warmup=5, rep=20)
    assert best in fused.CONFIGS and len(timings) == len(fused.CONFIGS)
    _run(x, weights, A.RELU6, 3, 2, [1] * 4, A.RELU6, False)


class _SharedMemoryLimit:
    """Stands in for the jitted kernel: raises triton's OutOfResources (as a launch on a GPU
    does before anything runs) for plans with more than `max_cout` x `max_hid` channels per
    block, launches the real kernel otherwise; records every plan tried."""

    def __init__(self, kernel, max_cout, max_hid):
        self.kernel, self.max_cout, self.max_hid, self.tried = kernel, max_cout, max_hid, []

    def __getitem__(self, grid):
        def launch(*args, **kw):
            self.tried.append((kw["COUT_BLOCK"], kw["HID_BLOCK"], kw["P"]))
            if kw["COUT_BLOCK"] > self.max_cout or kw["HID_BLOCK"] > self.max_hid:
                raise fused.OutOfResources(317952, 232448, "shared memory")
            return self.kernel[grid](*args, **kw)
        return launch


@pytest.mark.parametrize("max_cout,max_hid", [(16, 16), (32, 64)])
def test_a_plan_over_the_gpu_limit_is_shrunk_and_stays_correct(monkeypatch, max_cout, max_hid):
    """The zoo's 32-32-16 block needed 317952 B of shared memory on an H200 (limit 232448):
    the launcher shrinks the output-channel block, then the hidden block, until the launch
    fits, remembers that per shape, and the result is still the block's."""
    limit = _SharedMemoryLimit(fused._inverted_residual_kernel, max_cout, max_hid)
    monkeypatch.setattr(fused, "_inverted_residual_kernel", limit)
    monkeypatch.setattr(fused, "_FITTED", {})
    weights = _block(6, 40, 40, 3, seed=5)
    x = make_input(1, 6, 7, 9, seed=5)
    _run(x, weights, A.RELU6, 3, 1, [1] * 4, A.RELU6, False, hid_block=64, acc_budget=64 * 64)
    fits = [t for t in limit.tried if t[0] <= max_cout and t[1] <= max_hid]
    assert limit.tried[0][:2] == (64, 64) and len(fits) == 1 and limit.tried[-1] == fits[0]
    assert len(fused._FITTED) == 1
    first = len(limit.tried)
    _run(x, weights, A.RELU6, 3, 1, [1] * 4, A.RELU6, False, hid_block=64, acc_budget=64 * 64)
    assert limit.tried[first:] == [fits[0]], "the fitted knobs are reused: one launch"


def test_a_plan_that_cannot_shrink_raises(monkeypatch):
    limit = _SharedMemoryLimit(fused._inverted_residual_kernel, 8, 8)  # below tl.dot's 16: never fits
    monkeypatch.setattr(fused, "_inverted_residual_kernel", limit)
    monkeypatch.setattr(fused, "_FITTED", {})
    weights = _block(6, 40, 40, 3, seed=5)
    with pytest.raises(fused.OutOfResources):
        _run(make_input(1, 6, 7, 9, seed=5), weights, A.RELU6, 3, 1, [1] * 4, A.RELU6, False, tile=(2, 2))
