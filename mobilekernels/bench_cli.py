"""`python -m mobilekernels bench`: build or convert a MobileNet, check its logits against
the plain PyTorch model, then time it against torch eager, torch.compile and (when
installed) ONNX Runtime in the same run; print a table and write JSON + PNG results."""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import io
import json
import sys
from pathlib import Path

import torch

from . import _ext, machine, models
from .nn import unfused_copy
from .inference import compile_for_inference
from .timing import measure_interleaved, paired_speedup

TORCHVISION_NAMES = ("mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="mobilenet_v2", choices=sorted(models.MODELS))
    p.add_argument("--source", default="zoo", choices=("zoo", "torchvision"),
                   help="zoo: mobilekernels.models; torchvision: convert torchvision's model "
                        "with mobilekernels.optimize()")
    p.add_argument("--width", type=float, default=1.0, help="width multiplier")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--size", type=int, default=224, help="input resolution")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile peer")
    p.add_argument("--no-peers", action="store_true", help="skip ONNX Runtime")
    p.add_argument("--out", default="bench/results", help="directory for JSON/PNG/markdown")
    p.add_argument("--quick", action="store_true", help="few iterations, small input (smoke test)")


def _randomize_bn(model: torch.nn.Module) -> None:
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) * 0.2 - 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)


def build_models(args):
    """(ours, plain torch baseline, description of where ours came from)."""
    if args.source == "torchvision":
        if args.model not in TORCHVISION_NAMES:
            raise SystemExit(f"--source torchvision supports {TORCHVISION_NAMES}")
        import torchvision

        from .convert import optimize
        plain = getattr(torchvision.models, args.model)(width_mult=args.width)
        _randomize_bn(plain)
        ours, report = optimize(plain.eval(), return_report=True)
        return ours, plain, f"torchvision {args.model} + optimize(): {len(report.swapped)} modules swapped"
    ours = models.MODELS[args.model](args.width)
    _randomize_bn(ours)
    if args.model in TORCHVISION_NAMES:  # the baseline is torchvision's own model
        import torchvision
        plain = getattr(torchvision.models, args.model)(width_mult=args.width)
        plain.load_state_dict(ours.state_dict())
    else:
        plain = unfused_copy(ours)
    return ours, plain, f"mobilekernels.models.{args.model}({args.width})"


def _onnxruntime_runner(plain, x, threads):
    try:
        import onnxruntime as ort
    except ImportError:
        return None, "onnxruntime not installed (pip install -e '.[peers]')"
    f = io.BytesIO()
    try:
        torch.onnx.export(copy.deepcopy(plain).float(), (x.contiguous(),), f, dynamo=False,
                          input_names=["x"], output_names=["y"])
    except Exception as err:  # noqa: BLE001 - a peer that cannot run is reported, not fatal
        return None, f"ONNX export failed: {err}"
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(f.getvalue(), so, providers=["CPUExecutionProvider"])
    xn = x.contiguous().numpy()
    return (lambda: sess.run(None, {"x": xn})), None


def run(args) -> dict:
    if args.quick:
        args.iters, args.warmup, args.size = min(args.iters, 5), 1, min(args.size, 96)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    if _ext.available():
        _ext._C.set_num_threads(threads)
    from tqdm import tqdm

    torch.manual_seed(0)
    ours, plain, origin = build_models(args)
    dev = torch.device(args.device)
    ours = ours.to(dev).eval()
    plain = plain.to(dev).eval().to(memory_format=torch.channels_last)
    x = torch.randn(args.batch, 3, args.size, args.size, device=dev).contiguous(
        memory_format=torch.channels_last)
    prof = models.profile(ours, args.size)

    # The module as a drop-in (model(x): per-call plan checks in Python), and the same model
    # frozen by compile_for_inference (on the CPU one C++ network run per call, weights
    # fixed at capture: what ONNX Runtime's session and torch.compile are too).
    frozen = compile_for_inference(ours, x) if args.device == "cpu" else None
    with torch.no_grad():
        want = plain(x).double()
        got = ours(x).double()
        rel_err = ((got - want).norm() / want.norm()).item()
        if frozen is not None:
            rel_err = max(rel_err, ((frozen(x).double() - want).norm() / want.norm()).item())
    numerics_ok = rel_err <= 1e-4

    variants = [("mobilekernels", lambda: ours(x))]
    if frozen is not None and frozen.captured:
        variants.append(("mk compiled", lambda: frozen(x)))
    variants.append(("torch eager", lambda: plain(x)))
    notes = []
    if not args.no_compile:
        compiled = torch.compile(plain)
        variants.append(("torch.compile", lambda: compiled(x)))
    if not args.no_peers and args.device == "cpu":
        ort_fn, why = _onnxruntime_runner(plain, x, threads)
        if ort_fn is not None:
            variants.append(("onnxruntime", ort_fn))
        else:
            notes.append(why)

    with torch.no_grad(), tqdm(total=len(variants) * args.iters, desc="timing", file=sys.stderr,
                               leave=False) as bar:
        # Interleaved rounds of ~4 calls: the ratios between variants survive this kind of
        # machine's noise, and the paired ratios (round by round) its slow spells too.
        results = measure_interleaved(dict(variants), args.iters, args.warmup, args.device,
                                      rounds=max(5, args.iters // 4), progress=bar)

    ceil = machine.ceilings(args.device)
    flops = 2 * prof.macs * args.batch
    base = results["torch eager"]["median_ms"]
    for r in results.values():
        r["images_per_s"] = args.batch / (r["median_ms"] / 1e3)
        r["GFLOPs"] = flops / (r["median_ms"] / 1e3) / 1e9
        r["pct_matmul_peak"] = 100 * r["GFLOPs"] / ceil["matmul_GFLOPs"]
        r["speedup_vs_eager"] = base / r["median_ms"]
        r["paired_speedup_vs_eager"] = paired_speedup(r, results["torch eager"])
        if "onnxruntime" in results:
            r["speedup_vs_onnxruntime"] = results["onnxruntime"]["median_ms"] / r["median_ms"]
            r["paired_speedup_vs_onnxruntime"] = paired_speedup(r, results["onnxruntime"])
    return {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "model": args.model, "width": args.width, "origin": origin, "batch": args.batch,
        "size": args.size, "device": args.device, "threads": threads, "iters": args.iters,
        "MACs": prof.macs, "params": prof.params,
        "numerics": {"rel_error_vs_plain": rel_err, "ok": numerics_ok},
        "machine": machine.describe(args.device), "ceilings": ceil, "results": results, "notes": notes,
    }


def table(rec: dict) -> str:
    lines = [
        f"{rec['origin']} | batch {rec['batch']} | {rec['size']}x{rec['size']} | {rec['device']} "
        f"({rec['machine']['cpu']}, {rec['machine']['isa']}) | {rec['threads']} thread(s)",
        f"{rec['MACs'] / 1e6:.1f}M MACs, {rec['params'] / 1e6:.2f}M params | machine ceilings: "
        f"matmul {rec['ceilings']['matmul_GFLOPs']:.0f} GFLOP/s, copy {rec['ceilings']['copy_GBps']:.1f} GB/s",
        f"logits vs plain PyTorch: rel err {rec['numerics']['rel_error_vs_plain']:.2e} "
        f"({'OK' if rec['numerics']['ok'] else 'MISMATCH'})",
        "",
        f"| {'variant':<15} | {'median ms':>9} | {'p10-p90 ms':>15} | {'img/s':>8} | {'GFLOP/s':>7} "
        f"| {'% matmul':>8} | {'vs eager':>8} | {'vs ORT':>6} | {'paired: eager':>13} | {'ORT':>5} |",
        f"|{'-' * 17}|{'-' * 11}|{'-' * 17}|{'-' * 10}|{'-' * 9}|{'-' * 10}|{'-' * 10}|{'-' * 8}|{'-' * 15}|"
        f"{'-' * 7}|",
    ]
    for name, r in rec["results"].items():
        lines.append(
            f"| {name:<15} | {r['median_ms']:9.2f} | {r['p10_ms']:6.2f} - {r['p90_ms']:6.2f} | "
            f"{r['images_per_s']:8.1f} | {r['GFLOPs']:7.1f} | {r['pct_matmul_peak']:7.1f}% | "
            f"{r['speedup_vs_eager']:7.2f}x | "
            + (f"{r['speedup_vs_onnxruntime']:5.2f}x |" if "speedup_vs_onnxruntime" in r else f"{'-':>6} |")
            + f" {r['paired_speedup_vs_eager']:12.2f}x |"
            + (f" {r['paired_speedup_vs_onnxruntime']:4.2f}x |" if "paired_speedup_vs_onnxruntime" in r
               else f" {'-':>5} |"))
    lines += [f"note: {n}" for n in rec["notes"]]
    return "\n".join(lines)


def plot(rec: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rec["results"])
    med = [rec["results"][n]["median_ms"] for n in names]
    lo = [m - rec["results"][n]["p10_ms"] for n, m in zip(names, med)]
    hi = [rec["results"][n]["p90_ms"] - m for n, m in zip(names, med)]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.barh(names, med, xerr=[lo, hi],
            color=["tab:green" if n in ("mobilekernels", "mk compiled") else "tab:gray" for n in names])
    ax.invert_yaxis()
    ax.set_xlabel("latency, ms (median, p10-p90)")
    ax.set_title(f"{rec['model']} batch {rec['batch']} {rec['size']}px, {rec['device']}, "
                 f"{rec['threads']} thread(s)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mobilekernels bench", description=__doc__)
    add_arguments(p)
    args = p.parse_args(argv)
    rec = run(args)
    text = table(rec)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = (f"{rec['date'][:10]}_{rec['model']}_{rec['device']}_b{rec['batch']}_"
            f"t{rec['threads']}_{rec['size']}")
    (out / f"{stem}.json").write_text(json.dumps(rec, indent=1))
    plot(rec, out / f"{stem}.png")
    with open(out / "results.md", "a") as f:
        f.write(f"\n### {rec['date']} {rec['model']}\n\n{text}\n")
    print(f"\nwrote {out / stem}.json, {out / stem}.png, {out / 'results.md'}")
    return 0 if rec["numerics"]["ok"] else 1
