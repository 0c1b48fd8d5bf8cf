"""The row-tiled Triton depthwise kernel (ROWS output rows per program, halo rows loaded once),
its fused squeeze-excite pooling (atomic channel sums), the GEMM's gated / scaled A-load and
the SE inverted-residual block built from them (mobilekernels/triton/dwconv.py, gemm.py,
se.py) vs the float64 reference: on a GPU for real, on CPU through TRITON_INTERPRET=1 (set by
conftest.py) on small shapes. Outputs are NaN-poisoned before the kernels run."""
import importlib

import pytest
import torch

from conftest import assert_close
from mobilekernels import Activation
from mobilekernels.ops import reference
from op_cases import conv_packed, dw_packed, make_input

triton_ops = pytest.importorskip("mobilekernels.triton")
dwconv = importlib.import_module("mobilekernels.triton.dwconv")
gemm = importlib.import_module("mobilekernels.triton.gemm")
se = importlib.import_module("mobilekernels.triton.se")

GPU = torch.cuda.is_available()
DEVICE = "cuda" if GPU else "cpu"
DTYPES = [torch.float32, torch.float16, torch.bfloat16] if GPU else [torch.float32]
# float16 tl.dot runs under the interpreter (bfloat16 does not): the half cases for the GEMMs
HALF = [torch.float16, torch.bfloat16] if GPU else [torch.float16]
pytestmark = pytest.mark.gpu

A = Activation


@pytest.fixture(autouse=True)
def poison():
    dwconv.POISON_OUTPUTS = gemm.POISON_OUTPUTS = True
    yield
    dwconv.POISON_OUTPUTS = gemm.POISON_OUTPUTS = False


def _on(t, dtype):
    return None if t is None else t.to(device=DEVICE, dtype=dtype)


def _dw_case(n, c, h, w, k, s, d, pad, act, dtype, seed, **knobs):
    """Run dwconv_bn_act_pool and check both its outputs against the float64 reference."""
    x = make_input(n, c, h, w, seed=seed)
    xq, pq = _on(x, dtype), _on(dw_packed(c, k, seed=seed + 1), dtype)
    y, sums = dwconv.dwconv_bn_act_pool(xq, pq, k, s, pad, d, int(act), **knobs)
    xr, pr = xq.double().cpu(), pq.double().cpu()
    ref = reference.dwconv_bn_act(xr, pr, k, s, pad, d, int(act))
    scale = reference.dwconv_bn_act(xr.abs(), pr.abs(), k, s, pad, d, 0)  # sum of |terms| per output
    assert y.dtype == dtype and y.device.type == DEVICE
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert_close(y.cpu(), ref, dtype, f"dwconv {knobs}", scale=scale)
    assert sums.dtype == torch.float32 and sums.shape == (n, c)
    assert_close(sums.cpu(), ref.sum(dim=(2, 3)), dtype, "pooled sums", scale=scale.sum(dim=(2, 3)))
    return y, sums


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c,h,w,k,s,d,pad,act,knobs", [
    (19, 9, 11, 3, 1, 1, [1] * 4, A.RELU6, dict(rows=4, block_w=8)),        # row tail (9 = 4+4+1), C/W tails
    (70, 9, 17, 3, 2, 1, [1] * 4, A.HARDSWISH, dict(rows=2, block_w=8)),    # 2 C blocks x 2 W x 3 row blocks
    (24, 10, 8, 5, 1, 1, [2] * 4, A.RELU, dict(rows=8)),                   # 5x5, row tail 10 = 8+2
    (40, 11, 9, 5, 2, 1, [2] * 4, A.HARDSIGMOID, dict(rows=3)),            # 5x5 s2, ROWS not a power of 2
    (12, 13, 7, 5, 1, 1, [2] * 4, A.SILU, dict(rows=7, block_c=16)),       # ROWS 7, Ho 13 = 7+6
    (16, 10, 10, 3, 1, 2, [2] * 4, A.IDENTITY, dict(rows=4)),              # dilation with several rows
    (16, 11, 10, 5, 2, 2, [4] * 4, A.RELU6, dict(rows=1)),                 # dilation, one row (ROW_STEP)
    (20, 8, 9, 3, 2, 1, [0, 1, 2, 0], A.HARDSWISH, dict(rows=4, block_w=8)),  # asymmetric padding
    (8, 1, 1, 3, 1, 1, [1] * 4, A.SIGMOID, dict(rows=4)),                   # 1x1 image
    (33, 6, 7, 3, 1, 1, [1] * 4, A.RELU6, dict()),                          # launcher defaults
])
def test_dwconv_rows_and_pool(dtype, c, h, w, k, s, d, pad, act, knobs):
    _dw_case(2, c, h, w, k, s, d, pad, act, dtype, seed=c + h + k, **knobs)


class _GridSpy:
    """Stands in for the raw kernel: records each launch's grid, then launches for real."""

    def __init__(self, kernel):
        self.kernel, self.grids = kernel, []

    def __getitem__(self, grid):
        self.grids.append(grid)
        return self.kernel[grid]


def test_rows_are_honoured(monkeypatch):
    """ROWS output rows per program: the grid shrinks by ROWS along the rows AND the (NaN-
    poisoned) output is still complete and right, so each program really wrote ROWS rows.
    Ignoring ROWS in the launcher fails the grid check; in the kernel, the NaN / value check."""
    spy = _GridSpy(dwconv._dwconv_kernel)
    monkeypatch.setattr(dwconv, "_dwconv_kernel", spy)
    n, ho = 2, 9
    for rows in (1, 4):
        _dw_case(n, 24, ho, 8, 3, 1, 1, [1] * 4, A.RELU6, torch.float32, seed=rows, rows=rows, block_w=8,
                 block_c=32)
    assert [g[0] for g in spy.grids] == [n * ho, n * 3]  # ceil(9 / 4) = 3 row blocks per image
    assert [g[1:] for g in spy.grids] == [(1, 1), (1, 1)]
    assert dwconv.launch_grid(n, 24, ho, 8, 4, 8, 32) == spy.grids[1]
    with pytest.raises(ValueError, match="rows"):
        dwconv.dwconv_bn_act(torch.zeros(1, 8, 4, 4, device=DEVICE), torch.zeros(10, 8, device=DEVICE), 3, 1,
                             [1] * 4, 1, 0, rows=9)


def test_autotuned_wrapper_runs_each_config_and_keeps_the_sums(monkeypatch):
    """The CUDA launch path (triton.autotune over CONFIGS, pruned to the layer) with a fake
    timer that runs each candidate once: every surviving config computes the right output,
    the fastest is kept, and the timing runs do not add into the pooled sums
    (restore_value). On a GPU, test_triton.test_dwconv exercises the real timer."""
    timed = []

    def fake_bench(fn, quantiles=None, **kw):
        fn()
        timed.append(1)
        t = 10.0 - len(timed)  # later configs "faster": the last one must win
        return [t, t, t] if quantiles else t

    c, h, w = 40, 7, 8
    named = dict(C=c, Ho=h, Wo=w)
    configs = [pytest.importorskip("triton").Config({"BLOCK_W": bw, "BLOCK_C": bc, "ROWS": r}, num_warps=nw)
               for bw, bc, r, nw in dwconv.CONFIGS]
    survivors = dwconv._prune(configs, named)
    assert 2 <= len(survivors) < len(configs)
    y, sums = _dw_case(1, c, h, w, 3, 1, 1, [1] * 4, A.HARDSWISH, torch.float32, seed=5,
                       autotune_do_bench=fake_bench)
    assert len(timed) == len(survivors)
    tuned = dwconv.autotuned_kernel(True, fake_bench)
    assert tuned.best_config.kwargs == survivors[-1].kwargs


@pytest.mark.parametrize("dtype", [torch.float32] + HALF)
@pytest.mark.parametrize("n,hw,k,cout,res", [(3, 35, 40, 24, True), (2, 16, 72, 20, False)])
def test_gated_gemm(dtype, n, hw, k, cout, res):
    """A[m, k] * gate[m // hw, k] on the A-load; tiles straddle images (hw not a multiple of
    block_m), K and N have tails."""
    g = torch.Generator().manual_seed(n + k)
    a = torch.randn(n * hw, k, generator=g, dtype=torch.float64)
    gate = torch.rand(n, k, generator=g, dtype=torch.float64) * 1.5
    packed = conv_packed(k, cout, seed=k).double()
    r = torch.randn(n * hw, cout, generator=g, dtype=torch.float64) if res else None
    aq, gq, pq, rq = (_on(t, dtype) for t in (a, gate, packed, r))
    y = gemm.gemm_bias_act(aq, pq, int(A.IDENTITY), rq, block_m=16, block_n=16, block_k=16, gate=gq,
                           rows_per_gate=hw)
    assert y.dtype == dtype
    ar, gr, pr = (t.double().cpu() for t in (aq, gq, pq))
    gated = ar * gr.repeat_interleave(hw, dim=0)
    if dtype != torch.float32:  # the kernel rounds the gated A to the storage dtype, as the unfused path stores it
        gated = gated.to(dtype).double()
    ref = gated @ pr[:-1] + pr[-1]
    scale = gated.abs() @ pr[:-1].abs() + pr[-1].abs()
    if res:
        ref, scale = ref + rq.double().cpu(), scale + rq.double().cpu().abs()
    assert_close(y.cpu(), ref, dtype, "gated gemm", scale=scale)


@pytest.mark.parametrize("dtype", [torch.float32] + HALF)
def test_scaled_a_load_reads_float32_sums(dtype):
    """The SE's first FC: float32 channel sums in, scaled to means on the A-load, half B."""
    g = torch.Generator().manual_seed(1)
    sums = (torch.randn(3, 40, generator=g, dtype=torch.float64) * 30).float().to(DEVICE)
    packed = _on(conv_packed(40, 10, seed=3), dtype)
    y = gemm.gemm_bias_act(sums, packed, int(A.RELU), block_m=16, block_n=32, a_scale=1 / 30, out_dtype=dtype)
    assert y.dtype == dtype
    means = sums.double().cpu() / 30
    if dtype != torch.float32:
        means = means.to(dtype).double()
    pr = packed.double().cpu()
    ref = torch.relu(means @ pr[:-1] + pr[-1])
    assert_close(y.cpu(), ref, dtype, "scaled A", scale=means.abs() @ pr[:-1].abs() + pr[-1].abs())


def _se_block(cin, hidden, squeeze, cout, k, seed, expand):
    return dict(expand=conv_packed(cin, hidden, seed=seed) if expand else None,
                dw=dw_packed(hidden, k, seed=seed + 1), fc1=conv_packed(hidden, squeeze, seed=seed + 2),
                fc2=conv_packed(squeeze, hidden, seed=seed + 3), project=conv_packed(hidden, cout, seed=seed + 4))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,cin,hidden,squeeze,cout,h,w,k,s,act,gate,res", [
    (2, 16, 48, 16, 16, 7, 9, 3, 1, A.HARDSWISH, A.HARDSIGMOID, True),   # expand + residual, batch 2
    (1, 24, 24, 8, 16, 9, 8, 5, 2, A.RELU, A.SIGMOID, False),           # expansion 1, 5x5 s2
    (2, 12, 40, 10, 12, 6, 5, 5, 1, A.RELU6, A.HARDSIGMOID, True),      # hidden not a power of 2, 5x5
])
def test_se_block(monkeypatch, dtype, n, cin, hidden, squeeze, cout, h, w, k, s, act, gate, res):
    """inverted_residual with SE end to end, through the fused path only: the separate pool
    and channel-scale kernels must not run."""
    def boom(*a, **kw):
        raise AssertionError("separate pool / scale pass in the SE block")
    monkeypatch.setattr(se, "pooled_rows", boom)
    monkeypatch.setattr(se, "scale_channels", boom)
    wts = _se_block(cin, hidden, squeeze, cout, k, seed=cin + k, expand=hidden != cin)
    x = make_input(n, cin, h, w, seed=h * w)
    pad = [(k - 1) // 2] * 4
    q = {name: _on(t, dtype) for name, t in wts.items()}
    xq = _on(x, dtype)
    y = triton_ops.inverted_residual(xq, q["expand"], int(act), q["dw"], k, s, pad, int(act), q["fc1"], q["fc2"],
                                     int(A.RELU), int(gate), q["project"], res)
    assert y.dtype == dtype and y.is_contiguous(memory_format=torch.channels_last)
    r = {name: None if t is None else t.double().cpu() for name, t in q.items()}
    a = {name: None if t is None else t.abs() for name, t in r.items()}
    ref = reference.inverted_residual(xq.double().cpu(), r["expand"], int(act), r["dw"], k, s, pad, int(act),
                                      r["fc1"], r["fc2"], int(A.RELU), int(gate), r["project"], res)
    # sizes of the summed terms: |inputs|, |weights|, identity activations, the (bounded) gate kept
    scale = reference.inverted_residual(xq.double().cpu().abs(), a["expand"], 0, a["dw"], k, s, pad, 0, a["fc1"],
                                        a["fc2"], 0, int(gate), a["project"], res)
    assert_close(y.cpu(), ref, dtype, "SE block", scale=scale)
