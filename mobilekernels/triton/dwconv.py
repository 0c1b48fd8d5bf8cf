"""Depthwise conv + bias + activation in Triton (NHWC / channels-last), optionally with the
squeeze-excite pooling fused into its epilogue.

Tiling. One program = one image n x ROWS consecutive output rows x BLOCK_W output pixels x
BLOCK_C channels. Loads and stores are contiguous along C (the innermost NHWC dimension), so
they coalesce and vectorise (16-byte loads once C is a multiple of 8 for half, 4 for fp32);
weights come packed as [k*k + 1, C] (packing.py: tap-major, bias last), so one tap's weights
are one contiguous [BLOCK_C] load. Accumulation is float32 whatever the storage dtype.

Halo reuse across rows. The ROWS output rows of a tile need (ROWS-1)*stride + (k-1)*dil + 1
input rows. For each column tap kx (a runtime loop) the kernel loads that column of weights
(k vectors of [BLOCK_C], kept in registers), then walks the tile's input rows (a static,
unrolled loop): it loads the [BLOCK_W, BLOCK_C] input segment of row r at tap kx (masked:
zero padding, W/C tails) ONCE and adds it, times w[ky, kx], into every output row j of the
tile whose window contains r (ky = (r - j*stride) / dil, decided at compile time). Each
output row keeps its own [BLOCK_W, BLOCK_C] fp32 accumulator (acc0..acc7: Triton has no lists
of tensors, so ROWS <= 8 explicit accumulators picked by static `if j ==` chains, the unused
ones dead code; no jit helper calls inside the loops, which the interpreter pays ~1 ms each
for). Exactly k*k FMAs per output element, as before; what changes is the input traffic: with
one row per program (ROWS=1) every input row is loaded by k programs, with ROWS rows about
(ROWS-1+k)/ROWS times (stride 1) -- 5 -> 2 loads per input row for 5x5 with ROWS=4, 1.57
with ROWS=7. Reuse along W (the k overlapping column taps) comes from L1, as before. The kx
loop is deliberately NOT unrolled: fully unrolled, the compiler hoists every load of the tile
and needs 125-255 registers (spilling on 5x5 stride 2) even at ROWS 1-4; see CONFIGS.

Dilation: supported for any ROWS (rows that no output row uses are skipped when ROWS=1 by
stepping the input-row loop by `dil`); the autotuned GPU path covers dilation 1 only, other
dilations run one fixed ROWS=1 config (no MobileNet layer is dilated).

Squeeze-excite pooling (`dwconv_bn_act_pool`, POOL=True): after the activation each program
also sums its tile's (post-activation, storage-rounded) outputs over its pixels and
`tl.atomic_add`s the [BLOCK_C] partial sums into an fp32 [N, C] buffer the launcher zeroes,
so the global average pool costs no second pass over the depthwise output. Float atomics
make the summation ORDER, hence the last bits of the sums, nondeterministic on a GPU
(run-to-run differences at the fp32 rounding level, ~1e-7 relative); the interpreter is
sequential and deterministic.

Block sizes. On CUDA, `triton.autotune` picks (BLOCK_W, BLOCK_C, ROWS, num_warps) from
CONFIGS per (N, C, Ho, Wo, K, STRIDE) and dtype; tuning runs once per key (it synchronises
while it times configs; later launches do not). The autotuned wrappers are built lazily on the
first CUDA call, so CPU tensors under TRITON_INTERPRET=1 never see them: they run
INTERPRETER_CONFIG (autotune would execute every config in the slow interpreter). Explicit
`rows=` / `block_w=` / `block_c=` / `num_warps=` bypass the autotuner. Nothing in the launch
path reads GPU data on the host.
"""
from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from ..ops.checks import out_hw
from .activation import apply_activation

# Tests set this to fill outputs with NaN before the kernel runs (an unwritten element fails).
POISON_OUTPUTS = False
MAX_ROWS = 8  # explicit accumulators acc0..acc7 in the kernel


@triton.jit
def _dwconv_kernel(x_ptr, w_ptr, y_ptr, pool_ptr, N, H, W, C, Ho, Wo, pad_t, pad_l,
                   K: tl.constexpr, STRIDE: tl.constexpr, DIL: tl.constexpr, ACT: tl.constexpr,
                   POOL: tl.constexpr, ROW_STEP: tl.constexpr,
                   ROWS: tl.constexpr, BLOCK_W: tl.constexpr, BLOCK_C: tl.constexpr):
    tl.static_assert(ROWS <= 8)
    tl.static_assert(K <= 7)
    pid = tl.program_id(0)
    row_blocks = tl.cdiv(Ho, ROWS)
    n = pid // row_blocks
    oy0 = (pid % row_blocks) * ROWS
    ox = tl.program_id(1) * BLOCK_W + tl.arange(0, BLOCK_W)
    c = tl.program_id(2) * BLOCK_C + tl.arange(0, BLOCK_C)
    c_ok = c < C
    w_ok = ox < Wo
    bias = tl.load(w_ptr + K * K * C + c, mask=c_ok, other=0.0).to(tl.float32)
    # one fp32 accumulator per output row of the tile (those >= ROWS are never touched: dead code)
    acc0 = tl.zeros((BLOCK_W, BLOCK_C), dtype=tl.float32) + bias[None, :]
    acc1 = acc0
    acc2 = acc0
    acc3 = acc0
    acc4 = acc0
    acc5 = acc0
    acc6 = acc0
    acc7 = acc0
    iy0 = oy0 * STRIDE - pad_t
    ix0 = ox * STRIDE - pad_l
    img = x_ptr + n.to(tl.int64) * H * W * C
    xcol = ix0[:, None] * C + c[None, :]  # offsets within an input row at kx = 0
    for kx in range(K):
        ix = ix0 + kx * DIL
        col_ok = ((ix >= 0) & (ix < W) & w_ok)[:, None] & c_ok[None, :]
        xk = img + xcol + kx * DIL * C
        # column kx of the weights, [BLOCK_C] per ky, kept in registers (wk0..wk6: K <= 7)
        wtap = w_ptr + kx * C + c
        wk0 = tl.load(wtap, mask=c_ok, other=0.0).to(tl.float32)
        wk1 = wk0
        wk2 = wk0
        wk3 = wk0
        wk4 = wk0
        wk5 = wk0
        wk6 = wk0
        if K > 1:
            wk1 = tl.load(wtap + 1 * K * C, mask=c_ok, other=0.0).to(tl.float32)
        if K > 2:
            wk2 = tl.load(wtap + 2 * K * C, mask=c_ok, other=0.0).to(tl.float32)
        if K > 3:
            wk3 = tl.load(wtap + 3 * K * C, mask=c_ok, other=0.0).to(tl.float32)
        if K > 4:
            wk4 = tl.load(wtap + 4 * K * C, mask=c_ok, other=0.0).to(tl.float32)
        if K > 5:
            wk5 = tl.load(wtap + 5 * K * C, mask=c_ok, other=0.0).to(tl.float32)
        if K > 6:
            wk6 = tl.load(wtap + 6 * K * C, mask=c_ok, other=0.0).to(tl.float32)
        # every input row the tile needs: its column-kx segment is loaded ONCE ...
        for r in tl.static_range(0, (ROWS - 1) * STRIDE + (K - 1) * DIL + 1, ROW_STEP):
            iy = iy0 + r
            xv = tl.load(xk + iy.to(tl.int64) * W * C, mask=col_ok & ((iy >= 0) & (iy < H)),
                         other=0.0).to(tl.float32)
            # ... and added into every output row j whose window holds it, as its tap
            # (ky, kx) with ky = (r - j*STRIDE) / DIL; all of it decided at compile time
            for j in tl.static_range(ROWS):
                if r >= j * STRIDE:
                    if (r - j * STRIDE) % DIL == 0:
                        if (r - j * STRIDE) // DIL < K:
                            ky = (r - j * STRIDE) // DIL
                            wv = wk0
                            if ky == 1:
                                wv = wk1
                            elif ky == 2:
                                wv = wk2
                            elif ky == 3:
                                wv = wk3
                            elif ky == 4:
                                wv = wk4
                            elif ky == 5:
                                wv = wk5
                            elif ky == 6:
                                wv = wk6
                            if j == 0:
                                acc0 += xv * wv[None, :]
                            elif j == 1:
                                acc1 += xv * wv[None, :]
                            elif j == 2:
                                acc2 += xv * wv[None, :]
                            elif j == 3:
                                acc3 += xv * wv[None, :]
                            elif j == 4:
                                acc4 += xv * wv[None, :]
                            elif j == 5:
                                acc5 += xv * wv[None, :]
                            elif j == 6:
                                acc6 += xv * wv[None, :]
                            else:
                                acc7 += xv * wv[None, :]
    psum = tl.zeros((BLOCK_C,), dtype=tl.float32)
    for j in tl.static_range(ROWS):
        acc = acc0
        if j == 1:
            acc = acc1
        elif j == 2:
            acc = acc2
        elif j == 3:
            acc = acc3
        elif j == 4:
            acc = acc4
        elif j == 5:
            acc = acc5
        elif j == 6:
            acc = acc6
        elif j == 7:
            acc = acc7
        oy = oy0 + j
        ok = (w_ok & (oy < Ho))[:, None] & c_ok[None, :]
        out = apply_activation(acc, ACT).to(y_ptr.dtype.element_ty)
        yrow = y_ptr + ((n * Ho + oy) * Wo).to(tl.int64) * C
        tl.store(yrow + ox[:, None] * C + c[None, :], out, mask=ok)
        if POOL:
            # the values as stored (rounded to y's dtype): what a separate pool would read
            psum += tl.sum(tl.where(ok, out.to(tl.float32), 0.0), axis=0)
    if POOL:
        tl.atomic_add(pool_ptr + n * C + c, psum, mask=c_ok, sem="relaxed")


# Candidates for triton.autotune on CUDA: (BLOCK_W, BLOCK_C, ROWS, num_warps). ROWS 1 is the
# old one-row tiling (a baseline the tuner can fall back to where ROWS > 1 leaves too few
# programs); 2-8 rows trade halo reloads against registers and parallelism. ROWS 7 divides
# every MobileNet map (112, 56, 28, 14, 7) with no idle row. Registers per thread (ptxas
# -v, sm_90, triton 3.8, no spills; fp16 / fp32, 3x3 s1 .. 5x5 s2): ROWS 1: 40-56;
# ROWS 2: 56-76; ROWS 4 at 8 elements per thread: 80-134; ROWS 7: 124-255; (16, 64, 8, 8):
# 80-216 (bench/triton_dw_regs.py prints the table without a GPU). BLOCK_C 16-128 covers 16-
# to 960-channel layers, BLOCK_W 8 the 7/14/28-wide maps.
CONFIGS = [
    (16, 64, 1, 4),
    (16, 64, 2, 4),
    (16, 64, 4, 4),
    (8, 128, 4, 4),
    (32, 64, 4, 8),
    (16, 64, 8, 8),
    (8, 64, 7, 2),
    (8, 128, 7, 4),
    (8, 64, 4, 2),
    (32, 32, 4, 4),
    (16, 32, 2, 2),
    (64, 16, 4, 4),
]
# Under the interpreter the cost is per program and per operation, not per byte: few, big programs.
INTERPRETER_CONFIG = (16, 64, 4, 4)
# Fixed GPU config for what the autotuned path does not cover (dilation != 1).
FALLBACK_CONFIG = (16, 64, 1, 4)
AUTOTUNE_KEY = ["N", "C", "Ho", "Wo", "K", "STRIDE"]


def _pow2(v: int) -> int:
    return 1 << max(0, int(v) - 1).bit_length()


def _prune(configs, named_args, **kwargs):
    """Drop configs with blocks larger than the layer (channel block beyond the next power of
    two of C, width block beyond that of Wo, more rows than Ho): lanes that are all masked.
    Keep the first config when nothing survives."""
    c, ho, wo = named_args["C"], named_args["Ho"], named_args["Wo"]
    keep = [cfg for cfg in configs
            if cfg.kwargs["BLOCK_C"] <= max(16, _pow2(c)) and cfg.kwargs["BLOCK_W"] <= max(8, _pow2(wo))
            and cfg.kwargs["ROWS"] <= max(1, ho)]
    return keep or configs[:1]


_AUTOTUNED: dict = {}


def autotuned_kernel(pool: bool, do_bench=None):
    """The autotuned wrapper of _dwconv_kernel, built on first use (CUDA only in the launcher;
    tests may build one with a fake `do_bench` to run every config once under the
    interpreter). The pooling variant restores the sums buffer after every timed run, so
    tuning does not add into the caller's sums."""
    key = (pool, do_bench)
    if key not in _AUTOTUNED:
        configs = [triton.Config({"BLOCK_W": bw, "BLOCK_C": bc, "ROWS": rows}, num_warps=nw)
                   for bw, bc, rows, nw in CONFIGS]
        extra = {} if do_bench is None else {"do_bench": do_bench}
        _AUTOTUNED[key] = triton.autotune(configs=configs, key=AUTOTUNE_KEY,
                                          prune_configs_by={"early_config_prune": _prune},
                                          restore_value=["pool_ptr"] if pool else None, **extra)(_dwconv_kernel)
    return _AUTOTUNED[key]


def launch_grid(n: int, c: int, ho: int, wo: int, rows: int, block_w: int, block_c: int) -> tuple[int, int, int]:
    """(n * ceil(Ho / ROWS), ceil(Wo / BLOCK_W), ceil(C / BLOCK_C)) programs."""
    return (n * triton.cdiv(ho, rows), triton.cdiv(wo, block_w), triton.cdiv(c, block_c))


def _launch(x, packed, kernel_size, stride, padding, dilation, activation, pool,
            rows=None, block_w=None, block_c=None, num_warps=None, autotune_do_bench=None):
    n, c, h, w = x.shape
    top, left = padding[0], padding[1]
    ho, wo = out_hw(x, kernel_size, stride, padding, dilation)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.empty((n, c, ho, wo), dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
    if POISON_OUTPUTS:
        y.fill_(float("nan"))
    sums = torch.zeros((n, c), dtype=torch.float32, device=x.device) if pool else y
    packed = packed.to(x.dtype).contiguous()
    args = (x, packed, y, sums, n, h, w, c, ho, wo, top, left)
    meta = dict(K=kernel_size, STRIDE=stride, DIL=dilation, ACT=int(activation), POOL=pool)
    explicit = any(v is not None for v in (rows, block_w, block_c, num_warps))
    if autotune_do_bench is not None or (x.device.type == "cuda" and dilation == 1 and not explicit):
        grid = lambda m: launch_grid(n, c, ho, wo, m["ROWS"], m["BLOCK_W"], m["BLOCK_C"])  # noqa: E731
        autotuned_kernel(pool, autotune_do_bench)[grid](*args, ROW_STEP=1, **meta)
        return y, (sums if pool else None)
    base = INTERPRETER_CONFIG if x.device.type != "cuda" else FALLBACK_CONFIG
    block_w = _pow2(block_w or base[0])
    block_c = _pow2(block_c or base[1])
    rows = base[2] if rows is None else rows
    if not 1 <= rows <= MAX_ROWS:
        raise ValueError(f"dwconv_bn_act: rows must be in 1..{MAX_ROWS}, got {rows}")
    # with one row per program only every dil-th input row is a tap row; with several, rows
    # r = j*stride + ky*dil are all multiples of gcd(stride, dil)
    row_step = dilation if rows == 1 else math.gcd(stride, dilation)
    grid = launch_grid(n, c, ho, wo, rows, block_w, block_c)
    _dwconv_kernel[grid](*args, ROW_STEP=row_step, ROWS=rows, BLOCK_W=block_w, BLOCK_C=block_c,
                         num_warps=num_warps or base[3], **meta)
    return y, (sums if pool else None)


def dwconv_bn_act(x, packed, kernel_size, stride, padding, dilation, activation, *,
                  rows=None, block_w=None, block_c=None, num_warps=None):
    """x [N, C, H, W] (any strides), packed [k*k + 1, C], padding (top, left, bottom, right)
    -> channels-last [N, C, Ho, Wo] in x's dtype. Block knobs left None: autotuned on CUDA
    (dilation 1), INTERPRETER_CONFIG on CPU tensors."""
    return _launch(x, packed, kernel_size, stride, padding, dilation, activation, False,
                   rows, block_w, block_c, num_warps)[0]


def dwconv_bn_act_pool(x, packed, kernel_size, stride, padding, dilation, activation, **knobs):
    """dwconv_bn_act plus the per-(n, c) sums of its output: (y, sums) with sums a float32
    [N, C] tensor (divide by Ho*Wo for the mean). Sums are accumulated with float atomics:
    their last bits vary from run to run on a GPU."""
    return _launch(x, packed, kernel_size, stride, padding, dilation, activation, True, **knobs)
