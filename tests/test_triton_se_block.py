"""The squeeze-excite inverted-residual block on Triton in two passes around the SE step
(mobilekernels/triton/se.py, inverted_residual.py): pass 1 = the fused expand + depthwise
kernel with the pooled partial sums (fp32 atomics) in its epilogue, then either "reload"
(pass 1 also writes the depthwise output; pass 2 = the gated project GEMM reading it) or
"recompute" (pass 1 writes only the sums; pass 2 = the fused kernel again with the gate).
Against the float64 reference: on a GPU for real, on CPU through TRITON_INTERPRET=1 (set by
conftest.py) on small shapes. Covers both modes, expansion 1 and > 1, k = 3 / 5, stride 1 / 2,
residual on and off, odd channel counts, H / W tails, several programs adding into the same
pooled sums, batch 2, a 1x1 image, float16, both halo schemes; that the expanded tensor is
never materialised, that each mode runs the launches it claims, and the dispatcher's path.
Outputs are NaN-poisoned before the kernels run."""
import importlib

import pytest
import torch

from conftest import assert_close
from mobilekernels import Activation, ops
from mobilekernels.ops import reference
from op_cases import conv_packed, dw_packed, make_input

triton_ops = pytest.importorskip("mobilekernels.triton")
irk = importlib.import_module("mobilekernels.triton.inverted_residual")
gemm = importlib.import_module("mobilekernels.triton.gemm")
se = importlib.import_module("mobilekernels.triton.se")
dwconv = importlib.import_module("mobilekernels.triton.dwconv")

GPU = torch.cuda.is_available()
DEVICE = "cuda" if GPU else "cpu"
# bfloat16 tl.dot is wrong under the interpreter: float16 is the half type tested on CPU.
HALF = [torch.float16, torch.bfloat16] if GPU else [torch.float16]
pytestmark = pytest.mark.gpu

A = Activation
MODES = ["reload", "recompute"]


@pytest.fixture(autouse=True)
def poison():
    irk.POISON_OUTPUTS = gemm.POISON_OUTPUTS = True
    yield
    irk.POISON_OUTPUTS = gemm.POISON_OUTPUTS = False


def _on(t, dtype):
    return None if t is None else t.to(device=DEVICE, dtype=dtype)


def _weights(cin, hidden, squeeze, cout, k, seed, expand=True):
    return dict(expand=conv_packed(cin, hidden, seed=seed) if expand else None,
                dw=dw_packed(hidden, k, seed=seed + 1), fc1=conv_packed(hidden, squeeze, seed=seed + 2),
                fc2=conv_packed(squeeze, hidden, seed=seed + 3), project=conv_packed(hidden, cout, seed=seed + 4))


def _block(x, wts, k, s, act, gate, res, dtype=torch.float32, se_mode="reload", what="SE block", **knobs):
    """Run inverted_residual_se and check it against the float64 reference."""
    pad = [(k - 1) // 2] * 4
    q = {name: _on(t, dtype) for name, t in wts.items()}
    xq = _on(x, dtype)
    y = se.inverted_residual_se(xq, q["expand"], int(act), q["dw"], k, s, pad, int(act), q["fc1"], q["fc2"],
                                int(A.RELU), int(gate), q["project"], res, se_mode=se_mode, **knobs)
    assert y.dtype == dtype and y.device.type == DEVICE, what
    assert y.is_contiguous(memory_format=torch.channels_last), what
    r = {name: None if t is None else t.double().cpu() for name, t in q.items()}
    a = {name: None if t is None else t.abs() for name, t in r.items()}
    xr = xq.double().cpu()
    ref = reference.inverted_residual(xr, r["expand"], int(act), r["dw"], k, s, pad, int(act), r["fc1"], r["fc2"],
                                      int(A.RELU), int(gate), r["project"], res)
    # sizes of the summed terms: |inputs|, |weights|, identity activations, the (bounded) gate kept
    scale = reference.inverted_residual(xr.abs(), a["expand"], 0, a["dw"], k, s, pad, 0, a["fc1"], a["fc2"], 0,
                                        int(gate), a["project"], res)
    assert_close(y.cpu(), ref, dtype, f"{what} ({se_mode})", scale=scale)
    return y


CASES = [  # n, cin, hidden, squeeze, cout, h, w, k, s, act, gate, res
    (2, 5, 30, 8, 7, 9, 11, 3, 1, A.RELU6, A.HARDSIGMOID, False),     # odd channel counts, batch 2, W tail
    (2, 8, 20, 6, 8, 7, 10, 3, 1, A.HARDSWISH, A.HARDSIGMOID, True),  # residual
    (1, 7, 21, 6, 7, 6, 9, 5, 1, A.RELU, A.SIGMOID, True),            # 5x5 + residual
    (1, 6, 18, 5, 10, 9, 7, 3, 2, A.HARDSWISH, A.HARDSIGMOID, False),  # stride 2, odd H / W
    (2, 8, 24, 8, 12, 11, 10, 5, 2, A.RELU6, A.SIGMOID, False),       # 5x5 stride 2
    (2, 9, 9, 4, 9, 8, 7, 3, 1, None, A.HARDSIGMOID, True),           # expansion 1 (no expand conv)
    (1, 12, 12, 4, 16, 9, 9, 5, 2, None, A.SIGMOID, False),           # expansion 1, 5x5 s2
    (2, 5, 30, 8, 7, 1, 1, 3, 1, A.HARDSWISH, A.HARDSIGMOID, False),  # 1x1 image
    (1, 4, 16, 4, 4, 1, 1, 5, 1, A.RELU6, A.SIGMOID, True),           # 1x1 image, 5x5 pads > image
]


@pytest.mark.parametrize("se_mode", MODES)
@pytest.mark.parametrize("n,cin,hidden,squeeze,cout,h,w,k,s,act,gate,res", CASES)
def test_se_block(se_mode, n, cin, hidden, squeeze, cout, h, w, k, s, act, gate, res):
    wts = _weights(cin, hidden, squeeze, cout, k, seed=cin + hidden + k, expand=act is not None)
    x = make_input(n, cin, h, w, seed=h * w + s)
    _block(x, wts, k, s, act or A.RELU, gate, res, se_mode=se_mode)


@pytest.mark.parametrize("halo", ["recompute", "gather"])
@pytest.mark.parametrize("store", [True, False])
@pytest.mark.parametrize("cin,hidden,h,w,k,s,act,knobs", [
    (5, 30, 9, 11, 3, 1, A.RELU6, dict()),                                    # one program per image
    (18, 24, 7, 9, 3, 2, A.HARDSWISH, dict(tile=(2, 3), hid_block=16, cin_block=16)),  # many programs, tails
    (12, 12, 6, 7, 3, 1, None, dict(tile=(3, 2), hid_block=16)),              # expansion 1, tiles
])
def test_pass1_output_and_sums(halo, store, cin, hidden, h, w, k, s, act, knobs):
    """Pass 1 alone: the depthwise output it writes (store=True; None otherwise) and the
    pooled sums, which several programs (forced small tiles) add into atomically -- each
    pixel's contribution exactly once, lanes outside the tile / image never."""
    n = 2
    expand = conv_packed(cin, hidden, seed=cin) if act is not None else None
    dwp = dw_packed(hidden, k, seed=hidden)
    x = make_input(n, cin, h, w, seed=h + w)
    pad = [(k - 1) // 2] * 4
    xq, eq, dq = (_on(t, torch.float32) for t in (x, expand, dwp))
    d, sums = irk.fused_expand_dw_pool(xq, eq, int(act or 0), dq, k, s, pad, int(A.RELU6), store=store, halo=halo,
                                       **knobs)
    xr, er, dr = (None if t is None else t.double().cpu() for t in (xq, eq, dq))
    e = xr if er is None else reference.pwconv_bn_act(xr, er, int(act))
    ref = reference.dwconv_bn_act(e, dr, k, s, pad, 1, int(A.RELU6))
    ea = xr.abs() if er is None else reference.pwconv_bn_act(xr.abs(), er.abs(), 0)
    scale = reference.dwconv_bn_act(ea, dr.abs(), k, s, pad, 1, 0)
    if store:
        assert d.is_contiguous(memory_format=torch.channels_last) and d.dtype == torch.float32
        assert_close(d.cpu(), ref, torch.float32, "pass-1 depthwise output", scale=scale)
    else:
        assert d is None
    assert sums.dtype == torch.float32 and sums.shape == (n, hidden)
    assert_close(sums.cpu(), ref.sum(dim=(2, 3)), torch.float32, "pass-1 pooled sums", scale=scale.sum(dim=(2, 3)))


@pytest.mark.parametrize("se_mode", MODES)
@pytest.mark.parametrize("halo", ["recompute", "gather"])
def test_forced_tiles_and_halo(se_mode, halo):
    """Both halo schemes in both passes; small tiles (many programs per image: the sums are
    added by several programs, pass 2 recomputes per tile), hidden blocks of 16 with a tail,
    Cin over two blocks, output channels split over the grid (acc_budget)."""
    wts = _weights(18, 24, 10, 18, 3, seed=3)
    x = make_input(1, 18, 4, 5, seed=4)
    _block(x, wts, 3, 1, A.HARDSWISH, A.HARDSIGMOID, True, se_mode=se_mode, what=f"halo {halo}", halo=halo,
           tile=(2, 3), hid_block=16, cin_block=16, acc_budget=16 * 16)


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("se_mode", MODES)
def test_half_precision(dtype, se_mode):
    wts = _weights(8, 24, 8, 8, 3, seed=5)
    x = make_input(2, 8, 7, 9, seed=5)
    _block(x, wts, 3, 1, A.HARDSWISH, A.HARDSIGMOID, True, dtype, se_mode=se_mode)


class _KernelSpy:
    """Stands in for the fused kernel: records each launch's mode flags, then launches."""

    def __init__(self, kernel):
        self.kernel, self.launches = kernel, []

    def __getitem__(self, grid):
        def launch(*args, **meta):
            self.launches.append((meta["PROJECT"], meta["STORE_DW"], meta["GATED"]))
            return self.kernel[grid](*args, **meta)
        return launch


def _spy_everything(monkeypatch):
    """The fused kernel and the GEMM are recorded; every standalone kernel that could
    materialise the expanded tensor (pointwise conv, depthwise conv, pool, channel scale)
    raises."""
    spy = _KernelSpy(irk._inverted_residual_kernel)
    monkeypatch.setattr(irk, "_inverted_residual_kernel", spy)
    gemms = []
    real_gemm = se.gemm_bias_act

    def gemm_spy(a, packed, *args, **kw):
        gemms.append((tuple(a.shape), tuple(packed.shape), kw.get("gate") is not None))
        return real_gemm(a, packed, *args, **kw)
    monkeypatch.setattr(se, "gemm_bias_act", gemm_spy)

    def boom(*a, **kw):
        raise AssertionError("standalone kernel called in the fused SE block")
    for mod, name in [(gemm, "pwconv_bn_act"), (triton_ops, "pwconv_bn_act"), (dwconv, "_launch"),
                      (triton_ops, "dwconv_bn_act"), (triton_ops, "squeeze_excite"), (se, "pooled_rows"),
                      (se, "scale_channels")]:
        monkeypatch.setattr(mod, name, boom)
    return spy, gemms


@pytest.mark.parametrize("se_mode", MODES)
def test_expanded_tensor_never_materialised_and_each_mode_runs(monkeypatch, se_mode):
    """reload: ONE fused launch that writes the depthwise output + sums, the two FCs (M =
    batch), the gated project GEMM reading [N*Ho*Wo, hidden]. recompute: a sums-only fused
    launch, the two FCs, a gated fused launch -- no GEMM over pixels at all. In neither mode
    does any GEMM produce hidden channels per pixel (an expand) or any standalone kernel run."""
    spy, gemms = _spy_everything(monkeypatch)
    n, cin, hidden, squeeze, cout, h, w = 2, 6, 24, 6, 8, 7, 6
    wts = _weights(cin, hidden, squeeze, cout, 3, seed=12)
    _block(make_input(n, cin, h, w, seed=12), wts, 3, 2, A.HARDSWISH, A.HARDSIGMOID, False, se_mode=se_mode)
    ho, wo = 4, 3
    fcs = [((n, hidden), (hidden + 1, squeeze), False), ((n, squeeze), (squeeze + 1, hidden), False)]
    if se_mode == "reload":
        assert spy.launches == [(False, True, False)]
        assert gemms == fcs + [((n * ho * wo, hidden), (hidden + 1, cout), True)]
    else:
        assert spy.launches == [(False, False, False), (True, False, True)]
        assert gemms == fcs
    assert not any(out_shape[1] == hidden and a_shape[0] > n for a_shape, out_shape, _ in gemms)


def test_auto_mode_and_bad_mode(monkeypatch):
    """se_mode="auto" (the dispatcher's) runs "reload" unless autotune stored another winner
    for the shape; an unknown mode is a clear error."""
    spy, _ = _spy_everything(monkeypatch)
    wts = {k: _on(t, torch.float32) for k, t in _weights(4, 16, 4, 4, 3, seed=2).items()}
    x = make_input(1, 4, 3, 4, seed=2).float().to(DEVICE)
    args = (x, wts["expand"], 2, wts["dw"], 3, 1, [1] * 4, 2, wts["fc1"], wts["fc2"], 1, 4, wts["project"], True)
    se.inverted_residual_se(*args, se_mode="auto")
    assert spy.launches == [(False, True, False)]
    key = se._se_key(x, wts["expand"], wts["dw"], 3, 1, [1] * 4, wts["project"], True)
    monkeypatch.setitem(se._SE_MODE, key, "recompute")
    se.inverted_residual_se(*args, se_mode="auto")
    assert spy.launches[1:] == [(False, False, False), (True, False, True)]
    with pytest.raises(ValueError, match="se_mode"):
        se.inverted_residual_se(*args, se_mode="fused")


def test_dispatcher_uses_pass1_fusion(monkeypatch):
    """ops.inverted_residual on the Triton backend with SE: the fused pass-1 kernel, no
    standalone expand / depthwise / pool / scale kernel, and the right result."""
    spy, _ = _spy_everything(monkeypatch)
    wts = {k: _on(t, torch.float32) for k, t in _weights(8, 24, 8, 8, 3, seed=9).items()}
    x = make_input(1, 8, 6, 7, seed=9).float().to(DEVICE)
    args = (x, wts["expand"], 2, wts["dw"], 3, 1, [1] * 4, 2, wts["fc1"], wts["fc2"], 1, 4, wts["project"], True)
    with ops.use_backend("triton"):
        assert ops.backend_for("inverted_residual", x) == "triton"
        y = ops.inverted_residual(*args)
    assert spy.launches and spy.launches[0][0] is False
    r = [t.double().cpu() if isinstance(t, torch.Tensor) else t for t in args]
    assert_close(y.cpu(), reference.inverted_residual(*r), torch.float32, "dispatched SE block")


@pytest.mark.skipif(not GPU, reason="autotune times configs with CUDA events")
def test_autotune_picks_a_mode_and_stays_correct():
    wts = _weights(40, 120, 32, 40, 5, seed=11)
    x = make_input(4, 40, 14, 14, seed=11)
    q = {k: _on(t, torch.float16) for k, t in wts.items()}
    xq = _on(x, torch.float16)
    args = (xq, q["expand"], 1, q["dw"], 5, 1, [2] * 4, 1, q["fc1"], q["fc2"], 1, 4, q["project"], True)
    best, times, tuning = se.autotune(*args, warmup=5, rep=20)
    assert best in se.SE_MODES and set(times) == set(se.SE_MODES)
    assert set(tuning) == {"pass1_store", "pass1", "pass2_gated"}
    assert se._SE_MODE[se._se_key(xq, q["expand"], q["dw"], 5, 1, [2] * 4, q["project"], True)] == best
    _block(x, wts, 5, 1, A.RELU, A.HARDSIGMOID, True, torch.float16, se_mode="auto")
