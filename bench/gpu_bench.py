"""GPU benchmark: one command on a GPU machine, no network, nothing installed.

    PYTHONPATH=. python bench/gpu_bench.py [--batch 256] [--dtype float16] [--max-autotune]

Checks every Triton op against the float64 reference, then times, in one run: depthwise
(ours vs cuDNN = F.conv2d + activation, channels-last, vs torch.compile of that) on every
v2/v3 depthwise shape, pointwise (ours vs cuDNN conv + activation), and MobileNet v2 /
v3-large end to end (ours vs torch eager vs torch.compile). Reports % of the measured
copy bandwidth and of the measured matmul rate. Prints a short table; writes the full
record as JSON to $OUT (or bench/results/). `--smoke` runs tiny shapes on CPU through
TRITON_INTERPRET=1 to check the script itself.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
from pathlib import Path

if "--smoke" in sys.argv:
    os.environ.setdefault("TRITON_INTERPRET", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from layer_shapes import DEPTHWISE, POINTWISE  # noqa: E402
from op_impls import dwconv_variants, pwconv_variants  # noqa: E402

from mobilekernels import machine, models, ops  # noqa: E402
from mobilekernels.nn import unfused_copy  # noqa: E402
from mobilekernels.timing import measure  # noqa: E402


def timer(device: str, iters: int):
    if device == "cuda":
        import triton.testing

        return lambda fn: triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median") / 1e3
    return lambda fn: measure(fn, iters, 1)["median_ms"] / 1e3


def rel_err(got, ref):
    return ((got.double().cpu() - ref.double().cpu()).norm() / ref.double().cpu().norm()).item()


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
    return rows


def bench_models(names, batch, size, dtype, device, t, max_autotune):
    rows = []
    for name in names:
        ours = models.MODELS[name]().to(device, dtype).eval()
        plain = unfused_copy(ours)
        x = torch.randn(batch, 3, size, size, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            err = rel_err(ours(x).float(), plain.float()(x.float()))
            plain = plain.to(dtype)
            times = {"ours": t(lambda: ours(x)), "eager": t(lambda: plain(x))}
            if device == "cuda":
                compiled = torch.compile(plain, mode="max-autotune" if max_autotune else None)
                times["compile"] = t(lambda: compiled(x))
        row = {"model": name, "rel_err_vs_eager": err, **{f"{k}_ms": v * 1e3 for k, v in times.items()}}
        row.update({f"{k}_img_per_s": batch / v for k, v in times.items()})
        rows.append(row)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--dtype", default="float16", choices=("float16", "bfloat16", "float32"))
    p.add_argument("--max-autotune", action="store_true", help="torch.compile(mode='max-autotune') peer")
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--smoke", action="store_true", help="tiny CPU run under TRITON_INTERPRET=1")
    args = p.parse_args(argv)
    device = "cpu" if args.smoke else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run on a GPU machine, or use --smoke")
    dtype = torch.float32 if args.smoke else getattr(torch, args.dtype)
    batch = 1 if args.smoke else args.batch
    dw, pw = DEPTHWISE, POINTWISE
    if args.smoke:  # tiny maps so the interpreter finishes in seconds
        from dataclasses import replace
        dw = [replace(s, height=4, width=4) for s in DEPTHWISE[:2]]
        pw = [replace(s, height=2, width=2) for s in POINTWISE[:2]]
    t = timer(device, iters=2 if args.smoke else 20)
    ceil = machine.ceilings(device, dtype if device == "cuda" else torch.float32)
    record = {"date": dt.datetime.now().isoformat(timespec="seconds"), "machine": machine.describe(device),
              "batch": batch, "dtype": str(dtype), "ceilings": ceil,
              "compile_mode": "max-autotune" if args.max_autotune else "default"}
    with ops.use_backend("triton"):  # the smoke run's CPU tensors too (interpreter)
        record["depthwise"] = bench_depthwise(dw, batch, dtype, device, t, not (args.no_compile or args.smoke),
                                              ceil)
        record["pointwise"] = bench_pointwise(pw, batch, dtype, device, t, ceil)
    if not args.smoke:
        record["models"] = bench_models(["mobilenet_v2", "mobilenet_v3_large"], batch, 224, dtype, device, t,
                                        args.max_autotune)
    tol = {torch.float32: 1e-4, torch.float16: 5e-3, torch.bfloat16: 2e-2}[dtype]
    bad = [r["shape"] for r in record["depthwise"] + record["pointwise"] if not r["rel_err_vs_cudnn"] <= tol]
    print(f"{record['machine'].get('gpu', record['machine']['cpu'])} | batch {batch} | {dtype} | copy "
          f"{ceil['copy_GBps']:.0f} GB/s | matmul {ceil['matmul_GFLOPs']:.0f} GFLOP/s | numerics "
          f"{'OK' if not bad else 'MISMATCH ' + ', '.join(bad)}")
    for kind, pct in (("depthwise", "pct_copy_bw"), ("pointwise", "pct_matmul")):
        rows = record[kind]
        print(f"{kind}: {len(rows)} shapes, speedup vs cuDNN geomean "
              f"{statistics.geometric_mean(r['speedup_vs_cudnn'] for r in rows):.2f}x "
              f"(min {min(r['speedup_vs_cudnn'] for r in rows):.2f}x), {pct} min "
              f"{min(r[pct] for r in rows):.0f}% median {statistics.median(r[pct] for r in rows):.0f}%")
    for r in record.get("models", []):
        print(f"{r['model']}: ours {r['ours_img_per_s']:.0f} img/s, eager {r['eager_img_per_s']:.0f}, "
              f"compile {r.get('compile_img_per_s', float('nan')):.0f} (rel err {r['rel_err_vs_eager']:.1e})")
    out = Path(os.environ.get("OUT") or Path(__file__).resolve().parent / "results")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{record['date'][:10]}_gpu_bench_{'smoke' if args.smoke else args.dtype}.json"
    path.write_text(json.dumps(record, indent=1))
    print(f"wrote {path}")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
