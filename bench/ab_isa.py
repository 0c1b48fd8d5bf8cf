"""Same-run A/B of the CPU kernel sets (e.g. AVX2 vs AVX-512) on whole zoo models, with
ONNX Runtime in the same interleaved rounds. Usage:
    python bench/ab_isa.py [--models mobilenet_v2,...] [--threads 1] [--isas avx2,avx512]
Prints median ms per variant and the ratios; every variant runs the same model object."""
import argparse

import torch

import mobilekernels
from mobilekernels import _ext, models
from mobilekernels.bench_cli import _onnxruntime_runner
from mobilekernels.nn import unfused_copy
from mobilekernels.ops import cpu
from mobilekernels.timing import measure_interleaved


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--models", default="mobilenet_v2,mobilenet_v3_large,mobilenet_v3_small,mobilenet_v1")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--isas", default="avx2,avx512")
    p.add_argument("--iters", type=int, default=60)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    _ext._C.set_num_threads(a.threads)
    isas = a.isas.split(",")
    for name in a.models.split(","):
        torch.manual_seed(0)
        ours = models.MODELS[name]().eval()
        plain = unfused_copy(ours).eval()
        x = torch.randn(1, 3, 224, 224).contiguous(memory_format=torch.channels_last)
        fns = {}
        for isa in isas:
            def run(isa=isa):
                cpu.run_network.__defaults__ = (isa,)
                with torch.inference_mode():
                    return ours(x)
            fns[isa] = run
        ort, why = _onnxruntime_runner(plain, x, a.threads)
        if ort is not None:
            fns["ort"] = ort
        ref = fns[isas[0]]()
        for isa in isas[1:]:
            torch.testing.assert_close(fns[isa](), ref, rtol=1e-3, atol=1e-3)
        try:
            res = measure_interleaved(fns, a.iters, warmup=5, rounds=6)
        finally:
            cpu.run_network.__defaults__ = ("auto",)
        base = res[isas[0]]["median_ms"]
        cols = "  ".join(f"{k} {v['median_ms']:.2f} ms ({base / v['median_ms']:.2f}x)" for k, v in res.items())
        print(f"{name:20s} t={a.threads}  {cols}", flush=True)


if __name__ == "__main__":
    main()
