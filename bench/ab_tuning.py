"""In-process A/B of a kernel switch (csrc/runtime/tuning.h) on whole zoo models: the
model's forward alternates call by call between the switch off and on, so both variants
see the same machine state (this VM's speed drifts by up to 1.5x between processes).

    python bench/ab_tuning.py gemm_ymm_tails --models mobilenet_v2 mobilenet_v3_small --threads 1
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from mobilekernels import _ext, models  # noqa: E402
from mobilekernels.bench_cli import _randomize_bn  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("switch")
    ap.add_argument("--models", nargs="+", default=sorted(models.MODELS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--block", type=int, default=1,
                    help="calls per turn (> 1 for switches whose effect carries over to the next call, "
                         "e.g. the thread pool's; each turn's first call is not timed)")
    ap.add_argument("--nchw", action="store_true",
                    help="an NCHW-contiguous input (default: channels_last, the benchmarks' layout)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    _ext._C.set_num_threads(args.threads)
    saved = _ext._C.get_tuning(args.switch)
    print(f"switch {args.switch}, {args.threads} thread(s), {args.calls} alternating calls per variant, "
          f"isa {_ext._C.cpu_features()['best_isa']}")
    try:
        for name in args.models:
            torch.manual_seed(0)
            model = models.MODELS[name](1.0)
            _randomize_bn(model)
            model.eval()
            x = torch.randn(1, 3, args.size, args.size)
            if not args.nchw:
                x = x.contiguous(memory_format=torch.channels_last)
            times = {False: [], True: []}
            with torch.no_grad():
                outs = {}
                for on in (False, True):
                    _ext._C.set_tuning(args.switch, on)
                    outs[on] = model(x)
                err = ((outs[True] - outs[False]).norm() / outs[False].norm()).item()
                for i in range(max(1, args.calls // args.block)):
                    for on in ((False, True) if i % 2 else (True, False)):
                        _ext._C.set_tuning(args.switch, on)
                        if args.block > 1:
                            model(x)
                        for _ in range(args.block):
                            t0 = time.perf_counter()
                            model(x)
                            times[on].append(time.perf_counter() - t0)
            off, on = (statistics.median(times[v]) * 1e3 for v in (False, True))
            lo_off, lo_on = (sorted(times[v])[len(times[v]) // 10] * 1e3 for v in (False, True))
            print(f"{name:20s} off {off:7.3f} ms  on {on:7.3f} ms  speedup {off / on:5.3f}   "
                  f"(p10 {lo_off:7.3f} / {lo_on:7.3f}: {lo_off / lo_on:5.3f})  logits rel diff {err:.1e}")
    finally:
        _ext._C.set_tuning(args.switch, saved)


if __name__ == "__main__":
    main()
