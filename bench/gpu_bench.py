"""GPU benchmark: one command on a GPU machine, no network, nothing installed.

    PYTHONPATH=. python bench/gpu_bench.py [--batch 256] [--dtype float16] [--max-autotune]
                                           [--sections ops,blocks,latency,throughput]

Checks every Triton op against the float64 reference, then times, in one run:

- ops: depthwise (ours vs cuDNN = F.conv2d + activation, channels-last, vs torch.compile of
  that) on every v2/v3 depthwise shape, pointwise (ours vs cuDNN conv + activation); % of the
  measured copy bandwidth and of the measured matmul rate.
- blocks: every distinct inverted-residual block WITHOUT SE of MobileNet v2 / v3-large (read off
  the zoo models) at --batch: the fused Triton kernel (after `autotune` over the configs that
  compile and pass a float64 check) vs the per-op Triton composition (expand, depthwise,
  project as three kernels) vs cuDNN (the torch block in eager, channels-last); time and % of
  the block's fused-traffic floor. Then every distinct block WITH squeeze-excite of
  v3-large: the two SE modes of triton/se.py -- "reload" (pass 1 = fused expand + depthwise +
  pooled sums writing the depthwise output D, FCs, gated project GEMM reading D) and
  "recompute" (pass 1 writes only the sums; pass 2 = the fused kernel again with the gate),
  each after se.autotune -- vs the per-op Triton composition vs cuDNN, with each mode's
  predicted activation traffic (reload: + 2|D| (+ x again with a residual); recompute: + x).
- latency: batch 1, MobileNet v2 / v3-large: ours under compile_for_inference (CUDA graph
  replay) vs ours eager vs torch.compile (mode "reduce-overhead" = default + CUDA graphs, or
  "max-autotune" with --max-autotune, which also uses CUDA graphs) vs torch eager.
- throughput: the same at --batch: ours (CUDA graph), ours eager, torch.compile (mode default,
  or "max-autotune" with --max-autotune), torch eager; images/s and % of the network's
  fused-traffic floor.

Fused-traffic floor: the bytes a network (or block) must move if every fused layer (stem conv,
each inverted-residual block, the last 1x1 conv, the pool, the classifier) reads its input and
writes its output once and every weight is read once, at the measured copy bandwidth
(machine.ceilings: a 1 GiB device-to-device copy, read + write bytes). % floor = floor time /
measured time.

Timing: ops, blocks and throughput with triton.testing.do_bench (median; it clears the L2
between calls); latency with CUDA events around each call (mobilekernels.timing.measure,
median of --latency-iters, launch cost included, 8 rotating inputs).

Prints a short table; writes the full record as JSON to $OUT (or bench/results/). `--smoke`
runs tiny shapes on CPU through TRITON_INTERPRET=1 to check the script itself (CUDA-only
parts print "skipped: no CUDA"). Each section is self-contained (it tunes what it times), so
a long run can be split with --sections across commands.
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import itertools
import json
import os
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path

if "--smoke" in sys.argv:
    os.environ.setdefault("TRITON_INTERPRET", "1")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from layer_shapes import DEPTHWISE, POINTWISE, inverted_residual_blocks  # noqa: E402
from op_impls import dwconv_variants, pwconv_variants  # noqa: E402

import mobilekernels  # noqa: E402
from mobilekernels import machine, models, ops  # noqa: E402
from mobilekernels.inference import compile_for_inference  # noqa: E402
from mobilekernels.nn import FusedLinear, InvertedResidual, unfused, unfused_copy  # noqa: E402
from mobilekernels.ops.reference import compose_inverted_residual  # noqa: E402
from mobilekernels.timing import measure  # noqa: E402

SECTIONS = ("ops", "blocks", "latency", "throughput")
MODEL_NAMES = ("mobilenet_v2", "mobilenet_v3_large")
TOLERANCE = {torch.float32: 1e-4, torch.float16: 5e-3, torch.bfloat16: 2e-2}


def timer(device: str, iters: int):
    if device == "cuda":
        import triton.testing

        return lambda fn: triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median") / 1e3
    return lambda fn: measure(fn, iters, 1)["median_ms"] / 1e3


def rel_err(got, ref):
    return ((got.double().cpu() - ref.double().cpu()).norm() / ref.double().cpu().norm()).item()


def _short_error(e: Exception) -> str:
    return f"{type(e).__name__}: {e}"[:300]


def _progress(section: str, row: dict) -> None:
    """One line per finished row, so a section cut off by its time limit still reports what it did."""
    cells = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                     if not isinstance(v, (dict, list)))
    print(f"[{section}] {cells}", flush=True)


def bench_depthwise(shapes, batch, dtype, device, t, compile_peer, ceil):
    rows = []
    for s in shapes:
        fns, nbytes = dwconv_variants(s, batch, device, dtype)
        ours, cudnn = fns["mobilekernels"], fns["torch"]
        err = rel_err(ours(), cudnn().float())
        times = {"ours": t(ours), "cudnn": t(cudnn)}
        if compile_peer:
            times["compile"] = t(torch.compile(cudnn))
        rows.append({"shape": s.id, "rel_err_vs_cudnn": err, **{f"{k}_us": v * 1e6 for k, v in times.items()},
                     "speedup_vs_cudnn": times["cudnn"] / times["ours"],
                     "pct_copy_bw": 100 * nbytes / times["ours"] / 1e9 / ceil["copy_GBps"]})
        _progress("depthwise", rows[-1])
    return rows


def bench_pointwise(shapes, batch, dtype, device, t, ceil):
    rows = []
    for s in shapes:
        fns, _ = pwconv_variants(s, batch, device, dtype)
        ours, cudnn = fns["mobilekernels"], fns["torch"]
        err = rel_err(ours(), cudnn().float())
        to, tc = t(ours), t(cudnn)
        flops = 2 * batch * s.height * s.width * s.cin * s.cout
        rows.append({"shape": s.id, "rel_err_vs_cudnn": err, "ours_us": to * 1e6, "cudnn_us": tc * 1e6,
                     "speedup_vs_cudnn": tc / to, "pct_matmul": 100 * flops / to / 1e9 / ceil["matmul_GFLOPs"]})
        _progress("pointwise", rows[-1])
    return rows


# ---------------------------------------------------------------- inverted-residual blocks

def _irk():
    """The kernel module (the package's `inverted_residual` attribute is the dispatch function)."""
    import importlib
    return importlib.import_module("mobilekernels.triton.inverted_residual")


def fused_args(block: InvertedResidual) -> tuple:
    """The fused kernel's arguments after x, from the module's own layer description."""
    expand, e_act, dw, k, s, pad, d_act, fc1, _fc2, _se_act, _se_gate, project, res = block._layer().args
    if fc1 is not None:
        raise ValueError("fused_args: squeeze-excite blocks have no fused kernel")
    return expand, e_act, dw, k, s, pad, d_act, project, res


def float64_reference(block: InvertedResidual, x: torch.Tensor, n: int) -> torch.Tensor:
    """The block's plain torch composition in float64 on CPU for the first n images."""
    ref = unfused_copy(block).to("cpu", torch.float64)
    with torch.no_grad():
        return ref(x[:n].to("cpu", torch.float64))


def tune_fused(x, fargs, ref, tol) -> dict:
    """Every CONFIGS entry is compiled, run and checked against `ref` (float64, the first
    images of x); irk.autotune then times the ones that pass and installs the fastest for
    this shape. A config that fails to compile or misses the tolerance is reported, not used."""
    irk = _irk()
    passed, rejected = [], []
    for cfg in irk.CONFIGS:
        try:
            err = rel_err(irk.fused_inverted_residual(x, *fargs, **cfg)[:ref.shape[0]], ref)
        except Exception as e:  # compile or resource error of one config
            rejected.append({**cfg, "error": _short_error(e)})
            continue
        if err <= tol:
            passed.append(cfg)
        else:
            rejected.append({**cfg, "rel_err": err})
    if not passed:
        return {"best": None, "timings_ms": [], "rejected": rejected}
    best, timings = irk.autotune(x, *fargs, configs=passed, warmup=10, rep=40, return_mode="median")
    return {"best": best, "timings_ms": [[ms, cfg] for ms, cfg in timings], "rejected": rejected}


def _se():
    import importlib
    return importlib.import_module("mobilekernels.triton.se")


def se_args(block: InvertedResidual) -> tuple:
    """inverted_residual_se's arguments after x for an SE block."""
    args = block._layer().args
    if args[7] is None:
        raise ValueError("se_args: not a squeeze-excite block")
    return tuple(args)


def tune_se(x, sargs, ref, tol) -> dict:
    """Every CONFIGS entry is run in both SE modes and checked against `ref`; se.autotune
    then tunes each fused launch over the configs that pass in both, times the two modes and
    installs the faster for the dispatcher (se_mode="auto")."""
    irk, se = _irk(), _se()
    passed, rejected = [], []
    for cfg in irk.CONFIGS:
        try:
            errs = {m: rel_err(se.inverted_residual_se(x, *sargs, se_mode=m, **cfg)[:ref.shape[0]], ref)
                    for m in se.SE_MODES}
        except Exception as e:  # compile or resource error of one config
            rejected.append({**cfg, "error": _short_error(e)})
            continue
        if all(err <= tol for err in errs.values()):
            passed.append(cfg)
        else:
            rejected.append({**cfg, "rel_err": errs})
    if not passed:
        return {"best_mode": None, "rejected": rejected}
    best, times, tuning = se.autotune(x, *sargs, configs=passed, warmup=10, rep=40, return_mode="median")
    return {"best_mode": best, "mode_ms": times, "rejected": rejected,
            "launches": {k: {"best": b, "timings_ms": [[ms, c] for ms, c in tm]} for k, (b, tm) in tuning.items()}}


def tune_model(model, x, tol) -> dict:
    """autotune the fused kernel for every block of `model` at the shapes it sees for input
    x (tune_fused without SE, tune_se with), skipping shapes already tuned in this process."""
    irk, se = _irk(), _se()
    seen, hooks = [], []
    for m in model.modules():
        if isinstance(m, InvertedResidual):
            hooks.append(m.register_forward_pre_hook(lambda mod, inp: seen.append((mod, inp[0]))))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    out = {}
    for block, xin in seen:
        if block.current_plan().se is not None:
            sargs = se_args(block)
            expand, _, dw, k, s, pad, _, _, _, _, _, project, res = sargs
            if se._se_key(xin, expand, dw, k, s, pad, project, res) in se._SE_MODE:
                continue
            rec = tune_se(xin, sargs, float64_reference(block, xin, min(2, xin.shape[0])), tol)
            out[f"{tuple(xin.shape)}_k{k}s{s}_{dw.shape[1]}to{project.shape[1]}_se"] = rec
            continue
        fargs = fused_args(block)
        expand, _, dw, k, s, pad, _, project, res = fargs
        if irk._shape_key(xin, expand, dw, k, s, pad, project, res) in irk._TUNED:
            continue
        ref = float64_reference(block, xin, min(2, xin.shape[0]))
        rec = tune_fused(xin, fargs, ref, tol)
        out[f"{tuple(xin.shape)}_k{k}s{s}_{dw.shape[1]}to{project.shape[1]}"] = rec
    return out


def bench_blocks(blocks, batch, dtype, device, t, ceil, tol):
    """Fused vs per-op Triton vs cuDNN eager per block shape; % of the block's fused-traffic
    floor (input + output + packed weights once, at the copy bandwidth)."""
    import mobilekernels.triton as mkt

    irk = _irk()
    esize = torch.empty((), dtype=dtype).element_size()
    rows = []
    for shape, module in blocks:
        block = copy.deepcopy(module).to(device, dtype).eval()
        x = torch.randn(batch, shape.cin, shape.height, shape.width, generator=torch.Generator().manual_seed(0))
        x = x.to(device, dtype).contiguous(memory_format=torch.channels_last)
        fargs = fused_args(block)
        expand, e_act, dw, k, s, pad, d_act, project, res = fargs
        weights = sum(w.numel() for w in (expand, dw, project) if w is not None) * esize
        floor_bytes = shape.activation_bytes(batch, esize) + weights
        nref = min(2, batch)
        ref = float64_reference(block, x, nref)
        row = {"shape": shape.id, **asdict(shape), "floor_bytes": floor_bytes,
               "floor_us": floor_bytes / ceil["copy_GBps"] / 1e3}
        if device == "cuda":
            row["tuning"] = tune_fused(x, fargs, ref, tol)
        cudnn = unfused_copy(block)
        fns = {"fused": lambda: irk.fused_inverted_residual(x, *fargs),
               "per_op": lambda: compose_inverted_residual(mkt, x, expand, e_act, dw, k, s, pad, d_act,
                                                           None, None, 0, 0, project, res),
               "cudnn": lambda: cudnn(x)}
        for name, fn in fns.items():
            try:
                row[f"{name}_rel_err"] = rel_err(fn()[:nref], ref)
                sec = t(fn)
            except Exception as e:  # one failing variant must not lose the whole run
                row[f"{name}_error"] = _short_error(e)
                continue
            row[f"{name}_us"] = sec * 1e6
            row[f"{name}_pct_floor"] = 100 * floor_bytes / sec / 1e9 / ceil["copy_GBps"]
        if "fused_us" in row and "cudnn_us" in row:
            row["fused_speedup_vs_cudnn"] = row["cudnn_us"] / row["fused_us"]
        if "fused_us" in row and "per_op_us" in row:
            row["fused_speedup_vs_per_op"] = row["per_op_us"] / row["fused_us"]
        rows.append(row)
    return rows


def se_block_cost(shape, batch: int, esize: int) -> dict:
    """Predicted activation bytes and FLOPs of each SE mode (weights excluded): reload reads x
    (again in pass 2 with a residual), writes + reads D and writes y; recompute reads x twice
    and writes y. FLOPs of the unfused layers (expand per input pixel, k*k per D element,
    project); recompute runs the expand + depthwise twice (the fused kernel's own halo
    overhead comes on top, in both modes)."""
    ho, wo = shape.out_hw
    x = batch * shape.cin * shape.height * shape.width * esize
    y = batch * shape.cout * ho * wo * esize
    d = batch * shape.hidden * ho * wo * esize
    expand = 2 * batch * shape.height * shape.width * shape.cin * shape.hidden if shape.expand_act != "none" else 0
    dwf = 2 * batch * ho * wo * shape.hidden * shape.kernel ** 2
    proj = 2 * batch * ho * wo * shape.hidden * shape.cout
    return {"x_bytes": x, "y_bytes": y, "d_bytes": d,
            "reload_bytes": x * (2 if shape.residual else 1) + 2 * d + y, "recompute_bytes": 2 * x + y,
            "reload_gflop": (expand + dwf + proj) / 1e9, "recompute_gflop": (2 * expand + 2 * dwf + proj) / 1e9}


def bench_se_blocks(blocks, batch, dtype, device, t, ceil, tol):
    """SE blocks: reload vs recompute (se.py) vs per-op Triton vs cuDNN eager per block shape;
    % of the fused-traffic floor (x + y + all weights once, at the copy bandwidth) and each
    mode's predicted traffic."""
    import mobilekernels.triton as mkt

    se = _se()
    esize = torch.empty((), dtype=dtype).element_size()
    rows = []
    for shape, module in blocks:
        block = copy.deepcopy(module).to(device, dtype).eval()
        x = torch.randn(batch, shape.cin, shape.height, shape.width, generator=torch.Generator().manual_seed(0))
        x = x.to(device, dtype).contiguous(memory_format=torch.channels_last)
        sargs = se_args(block)
        weights = sum(w.numel() for w in sargs if isinstance(w, torch.Tensor)) * esize
        floor_bytes = shape.activation_bytes(batch, esize) + weights
        nref = min(2, batch)
        ref = float64_reference(block, x, nref)
        cost = se_block_cost(shape, batch, esize)
        row = {"shape": shape.id, **asdict(shape), "floor_bytes": floor_bytes,
               "floor_us": floor_bytes / ceil["copy_GBps"] / 1e3, **cost,
               **{f"{m}_traffic_us": (cost[f"{m}_bytes"] + weights) / ceil["copy_GBps"] / 1e3
                  for m in se.SE_MODES}}
        if device == "cuda":
            row["tuning"] = tune_se(x, sargs, ref, tol)
        cudnn = unfused_copy(block)
        fns = {"reload": lambda: se.inverted_residual_se(x, *sargs, se_mode="reload"),
               "recompute": lambda: se.inverted_residual_se(x, *sargs, se_mode="recompute"),
               "per_op": lambda: compose_inverted_residual(mkt, x, *sargs),
               "cudnn": lambda: cudnn(x)}
        for name, fn in fns.items():
            try:
                row[f"{name}_rel_err"] = rel_err(fn()[:nref], ref)
                sec = t(fn)
            except Exception as e:  # one failing variant must not lose the whole run
                row[f"{name}_error"] = _short_error(e)
                continue
            row[f"{name}_us"] = sec * 1e6
            row[f"{name}_pct_floor"] = 100 * floor_bytes / sec / 1e9 / ceil["copy_GBps"]
        modes = [m for m in se.SE_MODES if f"{m}_us" in row]
        if modes:
            row["faster_mode"] = min(modes, key=lambda m: row[f"{m}_us"])
            if "cudnn_us" in row:
                row["best_speedup_vs_cudnn"] = row["cudnn_us"] / row[f"{row['faster_mode']}_us"]
        rows.append(row)
    return rows


# ---------------------------------------------------------------- whole networks

def model_floor(model, size) -> dict:
    """Per image: bytes read + written by every fused layer (children of model.features, the
    pool, the classifier's Linear layers) reading its input and writing its output once;
    and the weight bytes (conv / linear weights + one bias per output channel, BN folded)."""
    p = next(model.parameters())
    esize = p.element_size()
    mods = list(model.features.children()) + [model.avgpool] + [
        m for m in model.classifier.modules() if isinstance(m, (torch.nn.Linear, FusedLinear))]
    total = [0]

    def hook(m, inp, out):
        total[0] += inp[0].numel() + out.numel()

    hooks = [m.register_forward_hook(hook) for m in mods]
    try:
        with torch.no_grad(), unfused():
            model(torch.zeros(1, 3, size, size, dtype=p.dtype, device=p.device))
    finally:
        for h in hooks:
            h.remove()
    weights = sum(m.weight.numel() + m.weight.shape[0] for m in model.modules()
                  if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear, FusedLinear)))
    return {"activation_bytes_per_image": total[0] * esize, "weight_bytes": weights * esize}


def _image(batch, size, device, dtype, seed):
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))
    return x.to(device, dtype).contiguous(memory_format=torch.channels_last)


def calibrate_bn(model: torch.nn.Module, size: int) -> torch.nn.Module:
    """BatchNorm statistics of random images (one float32 CPU pass in train mode), as training
    leaves them: every layer's output near unit scale. Freshly initialised BN (mean 0, var 1)
    shrinks the activations layer by layer to ~1e-9 logits, which underflow to 0 in float16
    (the first GPU latency run reported rel_err 1 for every variant, torch eager included)."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for b in bns:
        b.reset_running_stats()
        b.momentum = None  # a cumulative average: the one batch's statistics
        b.train()
    with torch.no_grad(), unfused():
        model(torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(123)))
    for b in bns:
        b.eval()
    return model


def _peers(name, batch, size, dtype, device, compile_mode, compile_peer, tol, x):
    """(variants {name: fn(x)}, float64 reference of the first images, tuning record, the
    network's fused-traffic floor, setup notes) for one zoo model."""
    ours = calibrate_bn(models.MODELS[name]().eval(), size).to(device, dtype)
    floor = model_floor(ours, size)
    plain = unfused_copy(ours)
    nref = min(2, batch)
    with torch.no_grad():  # on CPU: no TF32, no reliance on float64 GPU convolutions
        ref = copy.deepcopy(plain).to("cpu", torch.float64)(x[:nref].to("cpu", torch.float64))
    tuning = tune_model(ours, x, tol) if device == "cuda" else {}
    variants = {"ours_graph": compile_for_inference(ours, x), "ours_eager": ours, "eager": plain}
    notes = {}
    if compile_peer:
        torch._dynamo.reset()  # a fresh cache per peer: no recompiles, no dynamic shapes
        variants["compile"] = torch.compile(plain, mode=compile_mode, dynamic=False)
    else:
        notes["compile"] = "skipped: no CUDA" if device != "cuda" else "skipped: --no-compile"
    return variants, ref, tuning, floor, notes


def bench_latency(names, size, dtype, device, args, ceil, tol):
    """Batch 1: median of CUDA-event-timed single calls (launch cost included), 8 rotating inputs."""
    mode = "max-autotune" if args.max_autotune else "reduce-overhead"
    rows = []
    for name in names:
        xs = [_image(1, size, device, dtype, seed) for seed in range(8)]
        with torch.no_grad():
            variants, ref, tuning, floor, notes = _peers(name, 1, size, dtype, device, mode,
                                                         device == "cuda" and not args.no_compile, tol, xs[0])
            floor_bytes = floor["activation_bytes_per_image"] + floor["weight_bytes"]
            row = {"model": name, "batch": 1, "compile_mode": mode, **floor, "floor_bytes": floor_bytes,
                   "floor_ms": floor_bytes / ceil["copy_GBps"] / 1e6, "tuning": tuning, **notes}
            for vname, fn in variants.items():
                try:
                    row[f"{vname}_rel_err"] = rel_err(fn(xs[0]).float(), ref)
                    it = itertools.cycle(xs)
                    r = measure(lambda: fn(next(it)), args.latency_iters, max(1, args.latency_iters // 10), device)
                except Exception as e:
                    row[f"{vname}_error"] = _short_error(e)
                    continue
                row[f"{vname}_ms"] = r["median_ms"]
                row[f"{vname}_p10_ms"], row[f"{vname}_p90_ms"] = r["p10_ms"], r["p90_ms"]
            del variants
        rows.append(row)
        _progress("latency", row)
    return rows


def bench_throughput(names, batch, size, dtype, device, t, args, ceil, tol):
    mode = "max-autotune" if args.max_autotune else None
    rows = []
    for name in names:
        x = _image(batch, size, device, dtype, 0)
        with torch.no_grad():
            variants, ref, tuning, floor, notes = _peers(name, batch, size, dtype, device, mode,
                                                         device == "cuda" and not args.no_compile, tol, x)
            floor_bytes = batch * floor["activation_bytes_per_image"] + floor["weight_bytes"]
            row = {"model": name, "batch": batch, "compile_mode": mode or "default", **floor,
                   "floor_bytes": floor_bytes, "floor_ms": floor_bytes / ceil["copy_GBps"] / 1e6,
                   "tuning": tuning, **notes}
            for vname, fn in variants.items():
                try:
                    row[f"{vname}_rel_err"] = rel_err(fn(x)[:ref.shape[0]].float(), ref)
                    sec = t(lambda: fn(x))
                except Exception as e:
                    row[f"{vname}_error"] = _short_error(e)
                    continue
                row[f"{vname}_ms"] = sec * 1e3
                row[f"{vname}_img_per_s"] = batch / sec
                row[f"{vname}_pct_floor"] = 100 * floor_bytes / sec / 1e9 / ceil["copy_GBps"]
            del variants
        rows.append(row)
    return rows


# ---------------------------------------------------------------- report

def _fmt_us(row, name):
    if f"{name}_us" not in row:
        return f"{'error':>14}"
    return f"{row[name + '_us']:8.1f} ({row[name + '_pct_floor']:3.0f}%)"


def _ms(row, name, key="ms"):
    v = row.get(f"{name}_{key}")
    if v is not None:
        return f"{v:10.3f}"
    return f"{'skipped' if row.get(name, '').startswith('skipped') else 'error':>10}"


def print_report(record, args):
    ceil = record["ceilings"]
    for kind, pct in (("depthwise", "pct_copy_bw"), ("pointwise", "pct_matmul")):
        rows = record.get(kind)
        if not rows:
            continue
        print(f"{kind}: {len(rows)} shapes, speedup vs cuDNN geomean "
              f"{statistics.geometric_mean(r['speedup_vs_cudnn'] for r in rows):.2f}x "
              f"(min {min(r['speedup_vs_cudnn'] for r in rows):.2f}x), {pct} min "
              f"{min(r[pct] for r in rows):.0f}% median {statistics.median(r[pct] for r in rows):.0f}%")
    if "blocks" in record:
        print(f"\nblocks, batch {record['blocks_batch']}: us (% of the block's fused-traffic floor at "
              f"{ceil['copy_GBps']:.0f} GB/s)")
        print(f"{'block':<40} {'floor us':>8} {'fused':>14} {'per-op Triton':>14} {'cuDNN eager':>14} "
              f"{'vs cuDNN':>8}  best config")
        for r in record["blocks"]:
            best = (r.get("tuning") or {}).get("best")
            cfg = (f"{best['halo']} lanes{best['max_lanes']} hid{best['hid_block']} w{best['num_warps']}"
                   if best else ("defaults" if "tuning" not in r else "NONE PASSED"))
            sp = r.get("fused_speedup_vs_cudnn")
            print(f"{r['shape']:<40} {r['floor_us']:8.1f} {_fmt_us(r, 'fused'):>14} {_fmt_us(r, 'per_op'):>14} "
                  f"{_fmt_us(r, 'cudnn'):>14} {(f'{sp:.2f}x' if sp else '-'):>8}  {cfg}")
        pcts = [r["fused_pct_floor"] for r in record["blocks"] if "fused_pct_floor" in r]
        if pcts:
            print(f"fused: % of floor min {min(pcts):.0f}% median {statistics.median(pcts):.0f}%")
    if record.get("se_blocks"):
        print(f"\nSE blocks, batch {record['blocks_batch']}: us (% of the block's fused-traffic floor); "
              f"predicted-traffic us of reload / recompute")
        print(f"{'block':<44} {'floor us':>8} {'reload':>14} {'recompute':>14} {'per-op Triton':>14} "
              f"{'cuDNN eager':>14} {'pred rl/rc':>11} {'faster':>9} {'vs cuDNN':>8}")
        for r in record["se_blocks"]:
            sp = r.get("best_speedup_vs_cudnn")
            pred = f"{r['reload_traffic_us']:.0f}/{r['recompute_traffic_us']:.0f}"
            print(f"{r['shape']:<44} {r['floor_us']:8.1f} {_fmt_us(r, 'reload'):>14} {_fmt_us(r, 'recompute'):>14} "
                  f"{_fmt_us(r, 'per_op'):>14} {_fmt_us(r, 'cudnn'):>14} {pred:>11} {r.get('faster_mode', '-'):>9} "
                  f"{(f'{sp:.2f}x' if sp else '-'):>8}")
    if "latency" in record:
        rows = record["latency"]
        mode = rows[0]["compile_mode"] if rows else ""
        print(f"\nlatency, batch 1 (ms, median of {args.latency_iters} event-timed calls incl. launch; ours+graph = "
              f"compile_for_inference replay incl. the input copy; torch.compile mode={mode!r}, with CUDA graphs)")
        print(f"{'model':<20} {'ours+graph':>10} {'ours eager':>10} {'compile':>10} {'eager':>10} {'floor':>10}")
        for r in rows:
            print(f"{r['model']:<20} {_ms(r, 'ours_graph')} {_ms(r, 'ours_eager')} {_ms(r, 'compile')} "
                  f"{_ms(r, 'eager')} {r['floor_ms']:10.4f}")
    if "throughput" in record:
        rows = record["throughput"]
        mode = rows[0]["compile_mode"] if rows else ""
        graphs = "with CUDA graphs" if mode == "max-autotune" else "no CUDA graphs"
        print(f"\nthroughput, batch {record['throughput_batch']} (img/s, % of the network's fused-traffic floor; "
              f"torch.compile mode={mode!r}, {graphs})")
        print(f"{'model':<20} {'floor ms':>8} {'ours+graph':>17} {'ours eager':>17} {'compile':>17} "
              f"{'eager':>17}")

        def cell(r, name):
            if f"{name}_img_per_s" not in r:
                return f"{r.get(name, 'error')[:17]:>17}"
            return f"{r[name + '_img_per_s']:10.0f} ({r[name + '_pct_floor']:3.0f}%)"

        for r in rows:
            print(f"{r['model']:<20} {r['floor_ms']:8.3f} {cell(r, 'ours_graph')} {cell(r, 'ours_eager')} "
                  f"{cell(r, 'compile')} {cell(r, 'eager')}")


def numerics_failures(record, tol) -> list:
    bad = [r["shape"] for r in record.get("depthwise", []) + record.get("pointwise", [])
           if not r["rel_err_vs_cudnn"] <= tol]
    for r in record.get("blocks", []):
        for v in ("fused", "per_op"):
            if not r.get(f"{v}_rel_err", float("nan")) <= tol:
                bad.append(f"{r['shape']}:{v}")
    for r in record.get("se_blocks", []):
        for v in ("reload", "recompute", "per_op"):
            if not r.get(f"{v}_rel_err", float("nan")) <= tol:
                bad.append(f"{r['shape']}:{v}")
    for sec in ("latency", "throughput"):
        for r in record.get(sec, []):
            # A whole network in float16 / bfloat16 accumulates ~50 layers of storage rounding:
            # torch eager itself misses the per-op tolerance there, so ours may be as far off as
            # twice torch eager's own error (in float32 that is below tol, and tol rules).
            limit = max(tol, 2 * r.get("eager_rel_err", 0.0))
            for v in ("ours_graph", "ours_eager"):
                if not r.get(f"{v}_rel_err", float("nan")) <= limit:
                    bad.append(f"{sec}:{r['model']}:{v}")
    return bad


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=256, help="batch of ops, blocks and throughput (default 256)")
    p.add_argument("--size", type=int, default=224, help="input resolution of the networks")
    p.add_argument("--dtype", default="float16", choices=("float16", "bfloat16", "float32"))
    p.add_argument("--max-autotune", action="store_true",
                   help="torch.compile(mode='max-autotune') peer (default: 'reduce-overhead' for latency, "
                        "default mode for throughput)")
    p.add_argument("--no-compile", action="store_true", help="no torch.compile peers")
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}")
    p.add_argument("--latency-iters", type=int, default=200)
    p.add_argument("--smoke", action="store_true", help="tiny CPU run under TRITON_INTERPRET=1")
    args = p.parse_args(argv)
    sections = [s for s in args.sections.split(",") if s]
    if not sections or any(s not in SECTIONS for s in sections):
        p.error(f"--sections: a comma-separated subset of {SECTIONS}, got {args.sections!r}")
    device = "cpu" if args.smoke else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run on a GPU machine, or use --smoke")
    dtype = torch.float32 if args.smoke else getattr(torch, args.dtype)
    tol = TOLERANCE[dtype]
    batch = 1 if args.smoke else args.batch
    size = 32 if args.smoke else args.size
    dw, pw = DEPTHWISE, POINTWISE
    blocks, se_blocks = [], []
    if "blocks" in sections:
        blocks = inverted_residual_blocks(MODEL_NAMES[:1], 32) if args.smoke else inverted_residual_blocks(MODEL_NAMES)
        se_blocks = inverted_residual_blocks(MODEL_NAMES[1:], 32 if args.smoke else 224, se=True)
    if args.smoke:  # tiny maps so the interpreter finishes in seconds
        from dataclasses import replace
        dw = [replace(s, height=4, width=4) for s in DEPTHWISE[:2]]
        pw = [replace(s, height=2, width=2) for s in POINTWISE[:2]]
        blocks = [(replace(s, height=4, width=4), m) for s, m in blocks[:2]]  # expansion 1 and 6
        se_blocks = [(replace(s, height=4, width=4), m) for s, m in se_blocks[:2]]  # 5x5 s2; 5x5 s1 + residual
        args.latency_iters = 2
    if args.smoke:  # a script check, not a measurement: stay off the other cores
        torch.set_num_threads(1)
        mobilekernels.set_num_threads(1)
    t = timer(device, iters=2 if args.smoke else 20)
    ceil = machine.ceilings(device, dtype if device == "cuda" else torch.float32)
    record = {"date": dt.datetime.now().isoformat(timespec="seconds"), "machine": machine.describe(device),
              "batch": batch, "dtype": str(dtype), "ceilings": ceil, "sections": sections,
              "compile_mode": "max-autotune" if args.max_autotune else "default",
              "compile_mode_latency": "max-autotune" if args.max_autotune else "reduce-overhead",
              "compile_mode_throughput": "max-autotune" if args.max_autotune else "default"}
    print(f"{record['machine'].get('gpu', record['machine']['cpu'])} | batch {batch} | {dtype} | copy "
          f"{ceil['copy_GBps']:.0f} GB/s | matmul {ceil['matmul_GFLOPs']:.0f} GFLOP/s")
    started = time.perf_counter()
    record["elapsed_s"] = {}

    def done(section):
        nonlocal started
        record["elapsed_s"][section] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()

    if "ops" in sections:
        with ops.use_backend("triton"):  # the smoke run's CPU tensors too (interpreter)
            record["depthwise"] = bench_depthwise(dw, batch, dtype, device, t, not (args.no_compile or args.smoke),
                                                  ceil)
            record["pointwise"] = bench_pointwise(pw, batch, dtype, device, t, ceil)
        done("ops")
    if "blocks" in sections:
        record["blocks_batch"] = 2 if args.smoke else args.batch
        with torch.no_grad():
            record["blocks"] = bench_blocks(blocks, record["blocks_batch"], dtype, device, t, ceil, tol)
            record["se_blocks"] = bench_se_blocks(se_blocks, record["blocks_batch"], dtype, device, t, ceil, tol)
        done("blocks")
    if "latency" in sections:
        record["latency"] = bench_latency(MODEL_NAMES, size, dtype, device, args, ceil, tol)
        done("latency")
    if "throughput" in sections:
        record["throughput_batch"] = 2 if args.smoke else args.batch
        record["throughput"] = bench_throughput(MODEL_NAMES, record["throughput_batch"], size, dtype, device, t,
                                                args, ceil, tol)
        done("throughput")
    bad = numerics_failures(record, tol)
    print(f"numerics {'OK' if not bad else 'MISMATCH ' + ', '.join(bad)} (tolerance {tol:g} vs float64)")
    print_report(record, args)
    if device != "cuda" and ("latency" in sections or "throughput" in sections):
        print("CUDA graph capture and torch.compile peers: skipped: no CUDA (ours+graph ran uncaptured)")
    out = Path(os.environ.get("OUT") or Path(__file__).resolve().parent / "results")
    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if sections == list(SECTIONS) else "_" + "-".join(sections)
    path = out / f"{record['date'][:10]}_gpu_bench_{'smoke' if args.smoke else args.dtype}{suffix}.json"
    path.write_text(json.dumps(record, indent=1, default=str))
    print(f"wrote {path} (seconds per section: {record['elapsed_s']})")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
