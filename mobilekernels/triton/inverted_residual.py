"""The whole inverted-residual block (expand 1x1 -> depthwise kxk -> project 1x1 [+ x]) in ONE
Triton kernel, without squeeze-excite (and, in two more modes, the two passes of the block
with it: see below and se.py): the expanded tensor (t times wider than the block's input and
output) lives only on chip, never in global memory.

Tiling. One program = one image n x one output tile of OTH x OTW pixels x one block of
COUT_BLOCK output channels (usually all of them). The tile's pixels are flattened into P lanes
(a power of two >= OTH * OTW, Triton tensors need power-of-two shapes), so the tile itself
need not be a power of two (14 x 14, 7 x 7, 2 x 14...); the launcher fits (OTH, OTW) to each
layer with a small cost model (`pick_tile`). For each block of HID_BLOCK hidden channels (the
outer loop), with float32 accumulation throughout:

1. expand: act(X[pix, :Cin] @ We[Cin, HB] + be) with `tl.dot`, then zeroed where the pixel
   lies in the padding: the depthwise conv pads the *expanded* tensor with zeros, not with
   act(be). With expansion 1 (`expand is None`) the "expanded" values are the input itself.
2. depthwise: DW[P, HB] = bias + sum over the k*k taps of E_tap * w_tap, then activation.
   E_tap (the expanded values at each output pixel's tap) comes one of two ways (`halo=`):
   - "recompute" (default): for each tap the P lanes load their tap's input pixels and redo
     step 1 for them. Plain loads, `tl.dot` and elementwise ops only, so it compiles
     predictably everywhere; the price is the expand recomputed per tap: k*k times the
     expand MACs and epilogue (9x for 3x3, 25x for 5x5; for stride 2, k*k/4 times the
     unfused expand, which runs once per input pixel). The x reloads hit L1/L2.
   - "gather": the halo tile of HALO_H x HALO_W = ((OTH-1)*s + k) x ((OTW-1)*s + k) input
     pixels (Q lanes, a power of two) is expanded ONCE per hidden block, and each tap is a
     `tl.gather` from it: expand work per output pixel is Q / (OTH*OTW), e.g. 256 / 196 =
     1.31x the unfused expand for a 14 x 14 tile of a 3x3 stride-1 layer. The gather is done
     on the tensor flattened to 1-D on purpose: Triton (3.4+) lowers rank-1 `tt.gather`
     through shared memory (store the tile, load k*k shifted views) -- the "expand the halo
     once into shared memory" scheme -- while for rank >= 2 it picks a warp-local layout
     that costs about (Q/32)^2 warp shuffles per gathered element (64 at Q = 256).
     Trade-off: k*k x expand FLOPs and epilogues (recompute) against one shared-memory store
     and k*k loads of [P, HB] per hidden block plus the layout conversions around them
     (gather). Which wins depends on Cin, k and the compiler's lowering: `autotune` times
     both; the default stays on the path with no compiler-lowering risk.
3. project: OUT[P, COUT_BLOCK] += DW[P, HB] @ Wp[HB, COUT_BLOCK] (`tl.dot`; DW rounded to the
   storage dtype first -- what the unfused path stores -- so fp16/bf16 use tensor cores),
   accumulated over hidden blocks; the epilogue adds the project bias and the residual (x at
   the output pixel) and stores the output tile once.

Squeeze-excite blocks (se.py) use the same kernel in two more modes (`kind`, constexpr flags):
- SE pass 1 (`fused_expand_dw_pool`, PROJECT=False): steps 1-2, then instead of step 3 each
  program sums its tile's depthwise outputs per channel (post-activation, rounded to the
  storage dtype) and `tl.atomic_add`s them into a zeroed float32 [N, hidden] buffer (the
  convention of dwconv.py's fused pool), and with STORE_DW also writes the depthwise tile
  (hidden channels at the block's output resolution) -- the expanded tensor still never
  leaves the chip.
- SE pass 2 of se_mode="recompute" (`fused_inverted_residual(..., gate=)`, GATED=True):
  steps 1-3 again with the gate [N, hidden] multiplied into the depthwise result (rounded to
  the storage dtype, as the unfused path stores D and D * gate) before the project dot.
Steps 1-2 are one @triton.jit helper (`_depthwise_tile`) shared by every mode.

Every block dimension is padded to >= 16 (tl.dot's minimum) and masked, so channel counts and
image sizes need not be powers of two or multiples of the tile. float32 runs `tl.dot` with
input_precision="ieee" (no TF32) to meet the float32 tolerance.

Knobs (keyword arguments of `fused_inverted_residual`; `CONFIGS` lists the candidates that
`autotune` times on a GPU and caches per layer shape): halo, max_lanes (upper bound of P and
Q: the register footprint), hid_block, cin_block (the gather variant keeps the halo's X in
registers across hidden blocks when Cin fits one block), acc_budget (P * COUT_BLOCK elements
of the fp32 output accumulator; beyond it the output channels are split over a second grid
axis and each split recomputes steps 1-2), num_warps.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import triton
import triton.language as tl
from triton.runtime.errors import OutOfResources

from ..ops.checks import out_extent, out_hw
from .activation import apply_activation

# Tests set this to fill outputs with NaN before the kernel runs (an unwritten element fails).
POISON_OUTPUTS = False


@triton.jit
def _expand_rows(x_ptr, we_ptr, pix, ok, x_res, hc, h_ok, CIN, HID,
                 HAS_EXPAND: tl.constexpr, X_RESIDENT: tl.constexpr, ACT: tl.constexpr,
                 FP32: tl.constexpr, M: tl.constexpr, CIN_BLOCK: tl.constexpr, HID_BLOCK: tl.constexpr):
    """Expanded values [M, HID_BLOCK] (float32) of the M pixels `pix` (int64 NHWC pixel
    indices), zero where `ok` is false (padding / lanes outside the tile)."""
    if HAS_EXPAND:
        if X_RESIDENT:
            wt = tl.load(we_ptr + tl.arange(0, CIN_BLOCK)[:, None] * HID + hc[None, :],
                         mask=(tl.arange(0, CIN_BLOCK) < CIN)[:, None] & h_ok[None, :], other=0.0)
            if FP32:
                e = tl.dot(x_res, wt, input_precision="ieee")
            else:
                e = tl.dot(x_res, wt)
        else:
            e = tl.zeros((M, HID_BLOCK), dtype=tl.float32)
            for c0 in range(0, CIN, CIN_BLOCK):
                ci = c0 + tl.arange(0, CIN_BLOCK)
                c_ok = ci < CIN
                xt = tl.load(x_ptr + pix[:, None] * CIN + ci[None, :], mask=ok[:, None] & c_ok[None, :], other=0.0)
                wt = tl.load(we_ptr + ci[:, None] * HID + hc[None, :], mask=c_ok[:, None] & h_ok[None, :], other=0.0)
                if FP32:
                    e = tl.dot(xt, wt, e, input_precision="ieee")
                else:
                    e = tl.dot(xt, wt, e)
        bias = tl.load(we_ptr + CIN * HID + hc, mask=h_ok, other=0.0).to(tl.float32)
        e = apply_activation(e + bias[None, :], ACT)
        e = tl.where(ok[:, None], e, 0.0)
    else:
        e = tl.load(x_ptr + pix[:, None] * CIN + hc[None, :], mask=ok[:, None] & h_ok[None, :],
                    other=0.0).to(tl.float32)
    return e


@triton.jit
def _depthwise_tile(x_ptr, we_ptr, wd_ptr, n, H, W, CIN, HID, stride, pad_t, pad_l, OTH, HALO_W,
                    py, px, oy, ox, p_ok, src_pix, src_ok, x_res, hc, h_ok,
                    K: tl.constexpr, HAS_EXPAND: tl.constexpr, ACT_E: tl.constexpr, ACT_D: tl.constexpr,
                    FP32: tl.constexpr, GATHER: tl.constexpr, X_RESIDENT: tl.constexpr, P: tl.constexpr,
                    Q: tl.constexpr, CIN_BLOCK: tl.constexpr, HID_BLOCK: tl.constexpr):
    """Steps 1-2 of the module doc for one hidden block: act_d(depthwise(act_e(expand(x)))) at
    the tile's P output pixels x the HID_BLOCK hidden channels `hc`, float32 [P, HID_BLOCK]
    (lanes outside the tile / image hold garbage: the callers mask them)."""
    if GATHER:
        e = _expand_rows(x_ptr, we_ptr, src_pix, src_ok, x_res, hc, h_ok, CIN, HID,
                         HAS_EXPAND, X_RESIDENT, ACT_E, FP32, Q, CIN_BLOCK, HID_BLOCK)
        e_flat = tl.reshape(e, (Q * HID_BLOCK,))
    dw_bias = tl.load(wd_ptr + K * K * HID + hc, mask=h_ok, other=0.0).to(tl.float32)
    acc = tl.zeros((P, HID_BLOCK), dtype=tl.float32) + dw_bias[None, :]
    for ky in tl.static_range(K):
        for kx in tl.static_range(K):
            w_tap = tl.load(wd_ptr + (ky * K + kx) * HID + hc, mask=h_ok, other=0.0).to(tl.float32)
            if GATHER:  # 1-D gather from the flattened [Q * HB] tile (see the module doc)
                idx = (py * stride + ky) * HALO_W + px * stride + kx
                idx = tl.where(py < OTH, idx, 0) * HID_BLOCK
                flat = tl.reshape(idx[:, None] + tl.arange(0, HID_BLOCK)[None, :], (P * HID_BLOCK,))
                v = tl.reshape(tl.gather(e_flat, flat, 0), (P, HID_BLOCK))
            else:
                ty = oy * stride - pad_t + ky
                tx = ox * stride - pad_l + kx
                t_ok = p_ok & (ty >= 0) & (ty < H) & (tx >= 0) & (tx < W)
                t_pix = ((n * H + ty) * W + tx).to(tl.int64)
                v = _expand_rows(x_ptr, we_ptr, t_pix, t_ok, x_res, hc, h_ok, CIN, HID,
                                 HAS_EXPAND, False, ACT_E, FP32, P, CIN_BLOCK, HID_BLOCK)
            acc += v * w_tap[None, :]
    return apply_activation(acc, ACT_D)


@triton.jit
def _inverted_residual_kernel(
        x_ptr, we_ptr, wd_ptr, wp_ptr, y_ptr, g_ptr, d_ptr, pool_ptr,
        H, W, CIN, HID, COUT, Ho, Wo, stride, pad_t, pad_l,
        OTH, OTW, HALO_H, HALO_W, tiles_x, tiles_per_image,
        K: tl.constexpr, HAS_EXPAND: tl.constexpr, ACT_E: tl.constexpr, ACT_D: tl.constexpr,
        HAS_RES: tl.constexpr, FP32: tl.constexpr, GATHER: tl.constexpr, X_RESIDENT: tl.constexpr,
        PROJECT: tl.constexpr, GATED: tl.constexpr, STORE_DW: tl.constexpr,
        P: tl.constexpr, Q: tl.constexpr, CIN_BLOCK: tl.constexpr, HID_BLOCK: tl.constexpr,
        COUT_BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    n = pid // tiles_per_image
    t = pid % tiles_per_image
    oy0 = (t // tiles_x) * OTH
    ox0 = (t % tiles_x) * OTW

    # output lanes: P >= OTH * OTW, row-major over the tile
    p = tl.arange(0, P)
    py = p // OTW
    px = p % OTW
    oy = oy0 + py
    ox = ox0 + px
    p_ok = (py < OTH) & (oy < Ho) & (ox < Wo)
    out_pix = ((n * Ho + oy) * Wo + ox).to(tl.int64)

    if GATHER:
        # halo lanes: Q >= HALO_H * HALO_W input pixels, row-major
        q = tl.arange(0, Q)
        hy = q // HALO_W
        hx = q % HALO_W
        iy = oy0 * stride - pad_t + hy
        ix = ox0 * stride - pad_l + hx
        src_ok = (hy < HALO_H) & (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W)
        src_pix = ((n * H + iy) * W + ix).to(tl.int64)
        if X_RESIDENT:  # the whole halo tile x Cin stays in registers across hidden blocks
            ci = tl.arange(0, CIN_BLOCK)
            x_res = tl.load(x_ptr + src_pix[:, None] * CIN + ci[None, :],
                            mask=src_ok[:, None] & (ci < CIN)[None, :], other=0.0)
        else:
            x_res = tl.zeros((Q, CIN_BLOCK), dtype=x_ptr.dtype.element_ty)  # unused
    else:
        src_ok = p_ok  # unused
        src_pix = out_pix  # unused
        x_res = tl.zeros((P, CIN_BLOCK), dtype=x_ptr.dtype.element_ty)  # unused

    co = tl.program_id(1) * COUT_BLOCK + tl.arange(0, COUT_BLOCK)
    co_ok = co < COUT
    out = tl.zeros((P, COUT_BLOCK), dtype=tl.float32)
    for h0 in range(0, HID, HID_BLOCK):
        hc = h0 + tl.arange(0, HID_BLOCK)
        h_ok = hc < HID
        dwv = _depthwise_tile(x_ptr, we_ptr, wd_ptr, n, H, W, CIN, HID, stride, pad_t, pad_l, OTH, HALO_W,
                              py, px, oy, ox, p_ok, src_pix, src_ok, x_res, hc, h_ok,
                              K, HAS_EXPAND, ACT_E, ACT_D, FP32, GATHER, X_RESIDENT, P, Q, CIN_BLOCK, HID_BLOCK)
        if PROJECT:
            if GATED:  # SE pass 2: the gate on the depthwise output, rounded as the unfused path stores it
                g = tl.load(g_ptr + n * HID + hc, mask=h_ok, other=0.0).to(tl.float32)
                dwv = dwv.to(x_ptr.dtype.element_ty).to(tl.float32) * g[None, :]
            wp = tl.load(wp_ptr + hc[:, None] * COUT + co[None, :], mask=h_ok[:, None] & co_ok[None, :], other=0.0)
            if FP32:
                out = tl.dot(dwv, wp, out, input_precision="ieee")
            else:
                out = tl.dot(dwv.to(wp_ptr.dtype.element_ty), wp, out)
        else:  # SE pass 1: [store the depthwise tile,] add its channel sums into pool [N, HID] (fp32)
            ok = p_ok[:, None] & h_ok[None, :]
            stored = dwv.to(x_ptr.dtype.element_ty)
            if STORE_DW:
                tl.store(d_ptr + out_pix[:, None] * HID + hc[None, :], stored, mask=ok)
            # the values as stored (rounded to the storage dtype): what a separate pool would read
            psum = tl.sum(tl.where(ok, stored.to(tl.float32), 0.0), axis=0)
            tl.atomic_add(pool_ptr + n * HID + hc, psum, mask=h_ok, sem="relaxed")

    if PROJECT:
        bias = tl.load(wp_ptr + HID * COUT + co, mask=co_ok, other=0.0).to(tl.float32)
        out += bias[None, :]
        ok = p_ok[:, None] & co_ok[None, :]
        if HAS_RES:  # residual => stride 1, Cin == Cout, Ho == H, Wo == W
            out += tl.load(x_ptr + out_pix[:, None] * CIN + co[None, :], mask=ok, other=0.0).to(tl.float32)
        tl.store(y_ptr + out_pix[:, None] * COUT + co[None, :], out.to(y_ptr.dtype.element_ty), mask=ok)


def _pow2(v: int, floor: int = 16) -> int:
    return max(floor, triton.next_power_of_2(int(v)))


@functools.lru_cache(maxsize=1024)
def pick_tile(ho: int, wo: int, k: int, s: int, cin: int, cout: int, has_expand: bool, gather: bool,
              max_lanes: int, acc_budget: int):
    """(OTH, OTW, P, Q, COUT_BLOCK) for a layer: the tile minimising a rough cost per hidden
    channel summed over all programs -- expand MACs (Q halo rows, or k*k*P rows for
    "recompute"), depthwise (+ gather) work (~2*k*k per lane), both repeated for every
    output-channel split, project MACs, and a per-program term for loading the weights.
    Lane counts are padded to powers of two, so the model favours tiles that fill them."""
    cin_eff = _pow2(cin) if has_expand else 1
    cout_pad = _pow2(cout)
    weights = ((1 if gather else k * k) * cin_eff + k * k + cout_pad) * 4
    best = None
    for oth in range(1, ho + 1):
        halo_h = (oth - 1) * s + k
        if _pow2(oth) > max_lanes or (gather and _pow2(halo_h * k) > max_lanes):
            break
        for otw in range(1, wo + 1):
            halo_w = (otw - 1) * s + k
            p = _pow2(oth * otw)
            q = _pow2(halo_h * halo_w) if gather else p
            if p > max_lanes or q > max_lanes:
                break
            cout_block = min(cout_pad, _pow2(acc_budget // p))
            splits = triton.cdiv(cout, cout_block)
            tiles = triton.cdiv(ho, oth) * triton.cdiv(wo, otw)
            expand = q * cin_eff if gather else k * k * p * cin_eff
            cost = tiles * (splits * (expand + 2 * k * k * p + weights) + p * cout_pad)
            key = (cost, -otw, -oth)  # ties: wider tiles (longer contiguous NHWC runs)
            if best is None or key < best[0]:
                best = (key, (oth, otw, p, q, cout_block))
    return best[1]


# Defaults per halo scheme on a GPU. "recompute": 128 lanes x 32 hidden with 4 warps keeps
# X_tap, E_tap, DW and the output accumulator at <= 32 fp32 registers each per thread.
# "gather": 256 lanes (a 16 x 16 halo -> 14 x 14 outputs at 3x3 s1) with 8 warps.
# Under the interpreter (CPU tensors) the cost is per operation, not per byte: big blocks.
DEFAULTS = {
    "recompute": dict(max_lanes=128, hid_block=32, num_warps=4),
    "gather": dict(max_lanes=256, hid_block=32, num_warps=8),
}
INTERPRETER_DEFAULTS = dict(max_lanes=256, hid_block=64, num_warps=4)

# Candidates `autotune` times per layer shape (GPU). pick_tile fits the tile to the layer
# within each config's lane bound; the list spans both halo schemes, tile sizes for 56x56
# down to 7x7 layers, and hidden blocks 16-64 (smaller: less register pressure and more
# output-channel room; larger: fewer loop trips and weight-load setups).
CONFIGS = [
    dict(halo="recompute", max_lanes=128, hid_block=32, num_warps=4),
    dict(halo="recompute", max_lanes=64, hid_block=64, num_warps=4),
    dict(halo="recompute", max_lanes=256, hid_block=16, num_warps=8),
    dict(halo="gather", max_lanes=256, hid_block=32, num_warps=8),
    dict(halo="gather", max_lanes=256, hid_block=16, num_warps=8),
    dict(halo="gather", max_lanes=128, hid_block=32, num_warps=4),
    dict(halo="gather", max_lanes=128, hid_block=64, num_warps=8),
]
_TUNED: dict = {}


# Kernel modes (`kind`, also part of the autotune cache key): "block" = the block without SE;
# "gated" = SE pass 2 of se_mode="recompute" (gate on the depthwise output before the project);
# "pool" / "pool_store" = SE pass 1 (channel sums only / sums + the depthwise output written).
KINDS = ("block", "gated", "pool", "pool_store")


def _shape_key(x, expand, dw, kernel_size, stride, padding, project, residual, kind="block"):
    key = (tuple(x.shape), x.dtype, None if expand is None else expand.shape[1], dw.shape[1], kernel_size,
           stride, tuple(padding), 0 if project is None else project.shape[1], bool(residual))
    return key if kind == "block" else key + (kind,)


@dataclass(frozen=True)
class Plan:
    """One launch's tiling: the output tile (oth x otw pixels in p lanes, q halo lanes), the
    channel blocks and the warps. Pure function of the layer's shape and the knobs
    (`plan`), so tools can compile exactly what a launch would run (bench/triton_smem.py)."""
    oth: int
    otw: int
    p: int
    q: int
    cin_block: int
    hid_block: int
    cout_block: int
    num_warps: int
    gather: bool


def plan(n, cin, h, w, hid, cout, kernel_size, stride, padding, has_expand, kind, on_gpu, tuned=None, *,
         halo=None, max_lanes=None, hid_block=None, cin_block=None, acc_budget=16384, num_warps=None, tile=None):
    """The Plan of a launch in mode `kind` (KINDS); `tuned`: autotune's knobs for this shape
    (explicit knobs win over them, they over DEFAULTS / INTERPRETER_DEFAULTS)."""
    tuned = tuned or {}
    project_kind = kind in ("block", "gated")
    cout = cout if project_kind else 1  # pass 1: no output channels (the tile model ignores them)
    ho = out_extent(h, kernel_size, stride, padding[0], padding[2])
    wo = out_extent(w, kernel_size, stride, padding[1], padding[3])
    halo = halo or tuned.get("halo", "recompute")
    if halo not in DEFAULTS:
        raise ValueError(f"fused_inverted_residual: halo must be one of {tuple(DEFAULTS)}, got {halo!r}")
    gather = halo == "gather"
    base = {**(DEFAULTS[halo] if on_gpu else INTERPRETER_DEFAULTS), **tuned}
    max_lanes = max(_pow2(max_lanes or base["max_lanes"]), _pow2(kernel_size * kernel_size))  # >= one halo
    hid_block = min(_pow2(hid_block or base["hid_block"]), _pow2(hid))
    cin_block = min(_pow2(cin_block or 64), _pow2(cin))
    if tile is None:
        oth, otw, p, q, cout_block = pick_tile(ho, wo, kernel_size, stride, cin, cout, has_expand, gather,
                                               max_lanes, acc_budget)
    else:
        oth, otw = tile
        p = _pow2(oth * otw)
        q = _pow2(((oth - 1) * stride + kernel_size) * ((otw - 1) * stride + kernel_size)) if gather else p
        cout_block = min(_pow2(cout), _pow2(acc_budget // p))
    if not project_kind:
        cout_block = 16
    return Plan(oth, otw, p, q, cin_block, hid_block, cout_block, num_warps or base["num_warps"], gather)


def shrink(knobs: dict, pl: Plan, kernel_size: int) -> dict | None:
    """Smaller knobs for a plan that does not fit the GPU (shared memory or registers): first
    the output-channel block (acc_budget), then the hidden block, then the lanes; None when
    nothing is left to shrink."""
    if pl.cout_block > 16:
        return {**knobs, "acc_budget": max(16, pl.p * pl.cout_block // 2)}
    if pl.hid_block > 16:
        return {**knobs, "hid_block": pl.hid_block // 2}
    lanes = max(pl.p, pl.q)
    if lanes // 2 >= _pow2(kernel_size * kernel_size) and knobs.get("tile") is None:
        return {**knobs, "max_lanes": lanes // 2}
    return None


_FITTED: dict = {}  # (shape key, requested knobs) -> knobs that fit this GPU (set by _launch)


def _launch(x, expand, expand_activation, dw, kernel_size, stride, padding, dw_activation, project, residual,
            kind, gate=None, **knobs):
    """One launch of _inverted_residual_kernel in mode `kind` (KINDS). Returns y for the
    projecting kinds, (d or None, sums) for the pooling ones. A plan the GPU cannot run
    (triton's OutOfResources: shared memory or registers) is shrunk (`shrink`) and run
    again; the knobs that fit are remembered per shape."""
    n, cin, h, w = x.shape
    hid = dw.shape[1]
    project_kind = kind in ("block", "gated")
    cout = project.shape[1] if project_kind else 1
    ho, wo = out_hw(x, kernel_size, stride, padding)
    has_expand = expand is not None
    key = _shape_key(x, expand, dw, kernel_size, stride, padding, project if project_kind else None,
                     residual and project_kind, kind)
    requested = (key, tuple(sorted(knobs.items())))
    knobs = _FITTED.get(requested, knobs)

    x = x.contiguous(memory_format=torch.channels_last)
    y = d = sums = None
    if project_kind:
        y = torch.empty((n, cout, ho, wo), dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
        if POISON_OUTPUTS:
            y.fill_(float("nan"))
        project = project.to(x.dtype).contiguous()
    else:
        sums = torch.zeros((n, hid), dtype=torch.float32, device=x.device)
        if kind == "pool_store":
            d = torch.empty((n, hid, ho, wo), dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
            if POISON_OUTPUTS:
                d.fill_(float("nan"))
    gated = kind == "gated"
    if gated:
        gate = gate.contiguous()
    dwp = dw.to(x.dtype).contiguous()
    we = expand.to(x.dtype).contiguous() if has_expand else dwp  # any valid pointer when None
    unused = x  # any valid pointer for the buffers a mode does not touch
    while True:
        pl = plan(n, cin, h, w, hid, cout, kernel_size, stride, padding, has_expand, kind, x.device.type == "cuda",
                  _TUNED.get(key), **knobs)
        tiles_x = triton.cdiv(wo, pl.otw)
        tiles_per_image = triton.cdiv(ho, pl.oth) * tiles_x
        grid = (n * tiles_per_image, triton.cdiv(cout, pl.cout_block) if project_kind else 1)
        try:
            _inverted_residual_kernel[grid](
                x, we, dwp, project if project_kind else unused, y if project_kind else unused,
                gate if gated else unused, d if d is not None else unused, sums if sums is not None else unused,
                h, w, cin, hid, cout, ho, wo, stride, padding[0], padding[1],
                pl.oth, pl.otw, (pl.oth - 1) * stride + kernel_size, (pl.otw - 1) * stride + kernel_size, tiles_x,
                tiles_per_image, **constexprs(pl, kernel_size, has_expand, expand_activation, dw_activation,
                                              residual, kind, cin, x.dtype == torch.float32),
                num_warps=pl.num_warps)
        except OutOfResources:
            smaller = shrink(knobs, pl, kernel_size)
            if smaller is None:
                raise
            knobs = _FITTED[requested] = smaller
            continue
        return y if project_kind else (d, sums)


def constexprs(pl: Plan, kernel_size, has_expand, expand_activation, dw_activation, residual, kind, cin, fp32):
    """The kernel's constexpr arguments for a Plan (shared by _launch and the compile-only tools)."""
    project_kind = kind in ("block", "gated")
    return dict(
        K=kernel_size, HAS_EXPAND=has_expand, ACT_E=int(expand_activation), ACT_D=int(dw_activation),
        HAS_RES=bool(residual) and project_kind, FP32=fp32, GATHER=pl.gather,
        X_RESIDENT=pl.gather and has_expand and cin <= pl.cin_block,
        PROJECT=project_kind, GATED=kind == "gated", STORE_DW=kind == "pool_store",
        P=pl.p, Q=pl.q, CIN_BLOCK=pl.cin_block, HID_BLOCK=pl.hid_block, COUT_BLOCK=pl.cout_block)


def fused_inverted_residual(x, expand, expand_activation, dw, kernel_size, stride, padding, dw_activation,
                            project, residual, *, gate=None, halo=None, max_lanes=None, hid_block=None,
                            cin_block=None, acc_budget=16384, num_warps=None, tile=None):
    """The block without SE in one kernel. x [N, Cin, H, W] (any strides; channels-last is
    free); expand [Cin + 1, hidden] or None (expansion 1); dw [k*k + 1, hidden]; project
    [hidden + 1, Cout]; padding (top, left, bottom, right); residual: bool (adds x; needs
    stride 1 and Cin == Cout). Arguments are assumed validated (ops/checks.py). Returns a
    channels-last [N, Cout, Ho, Wo] tensor in x's dtype. Knobs left None come from
    `autotune`'s result for this shape if any, else from DEFAULTS (INTERPRETER_DEFAULTS for
    CPU tensors). `tile=(OTH, OTW)` overrides pick_tile (tests of tile edges).

    gate [N, hidden] (x's dtype): SE pass 2 of se.py's se_mode="recompute" -- the depthwise
    output, rounded to x's dtype, is multiplied by gate[n] (and rounded again) before the
    project dot, as the unfused dw -> SE scale -> project path stores and reads it."""
    return _launch(x, expand, expand_activation, dw, kernel_size, stride, padding, dw_activation, project,
                   residual, "block" if gate is None else "gated", gate, halo=halo, max_lanes=max_lanes,
                   hid_block=hid_block, cin_block=cin_block, acc_budget=acc_budget, num_warps=num_warps, tile=tile)


def fused_expand_dw_pool(x, expand, expand_activation, dw, kernel_size, stride, padding, dw_activation, *,
                         store=True, **knobs):
    """SE pass 1 in one kernel: expand + depthwise (steps 1-2 of the module doc, the expanded
    tensor stays on chip) and, per hidden block, the tile's channel sums of the depthwise
    output (post-activation, rounded to x's dtype) atomically added into a zeroed float32
    [N, hidden] buffer (divide by Ho*Wo for the mean; float atomics: the last bits vary from
    run to run on a GPU). store=True also writes the depthwise output D (channels-last
    [N, hidden, Ho, Wo], x's dtype). Returns (D or None, sums). Knobs as in
    fused_inverted_residual (acc_budget is moot: no project)."""
    return _launch(x, expand, expand_activation, dw, kernel_size, stride, padding, dw_activation, None, False,
                   "pool_store" if store else "pool", **knobs)


def _tune(key, fn, configs, **bench):
    timings = []
    for cfg in configs or CONFIGS:
        timings.append((triton.testing.do_bench(lambda: fn(cfg), **bench), cfg))
    best = min(timings, key=lambda t: t[0])[1]
    _TUNED[key] = dict(best)
    return best, timings


def autotune(x, expand, expand_activation, dw, kernel_size, stride, padding, dw_activation, project, residual,
             configs=None, *, gate=None, **bench):
    """Time every config in `configs` (default CONFIGS) on this layer with
    triton.testing.do_bench (GPU), remember the fastest for the layer's shape and return
    (best, [(ms, config), ...]). Later fused_inverted_residual calls on that shape use it.
    With `gate` the gated (SE pass 2) kernel is tuned, under its own cache entry."""
    args = (x, expand, expand_activation, dw, kernel_size, stride, padding, dw_activation, project, residual)
    key = _shape_key(x, expand, dw, kernel_size, stride, padding, project, residual,
                     "block" if gate is None else "gated")
    return _tune(key, lambda cfg: fused_inverted_residual(*args, gate=gate, **cfg), configs, **bench)


def autotune_pool(x, expand, expand_activation, dw, kernel_size, stride, padding, dw_activation, *, store=True,
                  configs=None, **bench):
    """autotune for SE pass 1 (fused_expand_dw_pool with this `store`), cached per shape and
    store flag."""
    args = (x, expand, expand_activation, dw, kernel_size, stride, padding, dw_activation)
    key = _shape_key(x, expand, dw, kernel_size, stride, padding, None, False, "pool_store" if store else "pool")
    return _tune(key, lambda cfg: fused_expand_dw_pool(*args, store=store, **cfg), configs, **bench)
