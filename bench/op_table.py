"""Per-op table: ours vs torch on every real v2/v3 layer shape, same run, with achieved
GB/s and GFLOP/s as a % of the machine's measured ceilings.

    python bench/op_table.py [--op dwconv|pwconv] [--threads N] [--iters N]
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
from mobilekernels.timing import measure  # noqa: E402

from layer_shapes import DEPTHWISE, POINTWISE  # noqa: E402
from op_impls import dwconv_variants, pwconv_variants  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--op", default="dwconv", choices=("dwconv", "pwconv"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--json", default=None, help="also write rows to this JSON file")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    mobilekernels.set_num_threads(args.threads)
    ceil = machine.ceilings()
    shapes, variants = (DEPTHWISE, dwconv_variants) if args.op == "dwconv" else (POINTWISE, pwconv_variants)
    print(f"{args.op}, {args.threads} thread(s), {machine.cpu_model()}; ceilings: copy "
          f"{ceil['copy_GBps']:.1f} GB/s, matmul {ceil['matmul_GFLOPs']:.0f} GFLOP/s")
    print(f"| {'shape':<30} | {'ours us':>8} | {'torch us':>8} | {'speedup':>7} | {'GB/s':>6} "
          f"| {'% copy':>6} | {'GFLOP/s':>7} | {'% mm':>5} |")
    print(f"|{'-' * 32}|{'-' * 10}|{'-' * 10}|{'-' * 9}|{'-' * 8}|{'-' * 8}|{'-' * 9}|{'-' * 7}|")
    rows = []
    with torch.no_grad():
        for s in shapes:
            fns, nbytes = variants(s)
            t = {k: measure(f, args.iters, 3)["median_ms"] / 1e3 for k, f in fns.items()}
            gbs = nbytes / t["mobilekernels"] / 1e9
            gflops = 2 * s.macs() / t["mobilekernels"] / 1e9
            row = dict(shape=s.id, ours_us=t["mobilekernels"] * 1e6, torch_us=t["torch"] * 1e6,
                       speedup=t["torch"] / t["mobilekernels"], GBps=gbs,
                       pct_copy=100 * gbs / ceil["copy_GBps"], GFLOPs=gflops,
                       pct_matmul=100 * gflops / ceil["matmul_GFLOPs"])
            rows.append(row)
            print(f"| {s.id:<30} | {row['ours_us']:8.1f} | {row['torch_us']:8.1f} | {row['speedup']:6.2f}x "
                  f"| {gbs:6.1f} | {row['pct_copy']:5.1f}% | {gflops:7.1f} | {row['pct_matmul']:4.1f}% |")
    geo = statistics.geometric_mean(r["speedup"] for r in rows)
    print(f"geometric-mean speedup vs torch: {geo:.2f}x over {len(rows)} shapes")
    if args.json:
        Path(args.json).write_text(json.dumps({"ceilings": ceil, "threads": args.threads, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
