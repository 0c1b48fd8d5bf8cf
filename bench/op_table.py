"""Per-op table on every real v2/v3 layer shape, all variants in the same run: ours
through Python (`mobilekernels.ops`), ours as a one-layer network with a static output
("static": the kernel's cost inside a network; "kernel": that layer's time inside the C++
call), torch eager (channels_last conv + activation) and ONNX Runtime's fused conv node
(its kernel time from ORT's profiler, see op_ort.py). Torch is compared with the static
wall time (both through Python), ORT's node with the kernel time (both without the call
around them). Achieved GB/s and GFLOP/s of the kernel time as a % of the machine's
measured ceilings.

    python bench/op_table.py [--op dwconv|pwconv] [--threads N] [--iters N] [--no-peers]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mobilekernels  # noqa: E402
from mobilekernels import machine  # noqa: E402
from mobilekernels.timing import measure_interleaved  # noqa: E402

from layer_shapes import DEPTHWISE, POINTWISE  # noqa: E402
from op_impls import dwconv_variants, pwconv_variants  # noqa: E402


def _geo(rows, key):
    vals = [r[key] for r in rows if r.get(key)]
    return statistics.geometric_mean(vals) if vals else float("nan")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--op", default="dwconv", choices=("dwconv", "pwconv"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--iters", type=int, default=40)
    p.add_argument("--no-peers", action="store_true", help="skip ONNX Runtime")
    p.add_argument("--json", default=None, help="also write rows to this JSON file")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    mobilekernels.set_num_threads(args.threads)
    ceil = machine.ceilings()
    shapes, variants = (DEPTHWISE, dwconv_variants) if args.op == "dwconv" else (POINTWISE, pwconv_variants)
    print(f"{args.op}, {args.threads} thread(s), {machine.cpu_model()}; medians of {args.iters}", flush=True)
    rows = []
    with torch.no_grad():
        for s in shapes:
            fns, nbytes = variants(s, peers=not args.no_peers)
            ort = fns.get("onnxruntime")
            res = measure_interleaved(fns, args.iters, 3)  # settles >= 50 ms before each turn (mobilekernels/timing.py)
            t = {k: r["median_ms"] * 1e3 for k, r in res.items()}
            if ort is not None:
                t["onnxruntime"] = ort.node_us()
            # Against torch, wall times through Python on both sides (static: no per-call
            # allocation); against ORT's node and the ceilings, kernel times (ORT's from its
            # profiler, ours from the network's layer timer), without a Python call around.
            best = t.get("mk static", t["mobilekernels"])
            kernel = fns["mk static"].kernel_us() if "mk static" in fns else best
            rows.append(dict(shape=s.id, ours_us=t["mobilekernels"], static_us=best, kernel_us=kernel,
                             torch_us=t["torch"], ort_node_us=t.get("onnxruntime"), vs_torch=t["torch"] / best,
                             vs_torch_python=t["torch"] / t["mobilekernels"],
                             vs_ort=t["onnxruntime"] / kernel if ort is not None else None,
                             GBps=nbytes / kernel / 1e3, GFLOPs=2 * s.macs() / kernel / 1e3))
            print(f"  {s.id}: kernel {kernel:.1f} us", flush=True)
    # The ceilings measured before and after: each one's higher value, the stricter bar.
    after = machine.ceilings()
    ceil = {k: max(v, after[k]) for k, v in ceil.items()}
    print(f"ceilings: copy {ceil['copy_GBps']:.1f} GB/s, matmul {ceil['matmul_GFLOPs']:.0f} GFLOP/s")
    print("| shape | ours us | static us | kernel us | torch us | ORT node us | static vs torch "
          "| kernel vs ORT node | GB/s | % copy | GFLOP/s | % mm |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        row["pct_copy"] = 100 * row["GBps"] / ceil["copy_GBps"]
        row["pct_matmul"] = 100 * row["GFLOPs"] / ceil["matmul_GFLOPs"]
        o = f"{row['ort_node_us']:.1f}" if row["ort_node_us"] is not None else "-"
        vo = f"{row['vs_ort']:.2f}x" if row["vs_ort"] is not None else "-"
        print(f"| {row['shape']} | {row['ours_us']:.1f} | {row['static_us']:.1f} | {row['kernel_us']:.1f} "
              f"| {row['torch_us']:.1f} | {o} | {row['vs_torch']:.2f}x | {vo} | {row['GBps']:.1f} "
              f"| {row['pct_copy']:.0f}% | {row['GFLOPs']:.1f} | {row['pct_matmul']:.0f}% |")
    print(f"geometric means over {len(rows)} shapes: static vs torch {_geo(rows, 'vs_torch'):.2f}x, "
          f"through Python vs torch {_geo(rows, 'vs_torch_python'):.2f}x, kernel vs ORT node "
          f"{_geo(rows, 'vs_ort'):.2f}x; median % of matmul "
          f"{statistics.median(r['pct_matmul'] for r in rows):.0f}%")
    if args.json:
        Path(args.json).write_text(json.dumps({"ceilings": ceil, "threads": args.threads,
                                               "cpu": machine.cpu_model(), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
