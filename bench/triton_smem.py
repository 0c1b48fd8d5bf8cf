"""Shared memory, registers and spills of the fused inverted-residual kernel on every zoo
block, compiled for a GPU WITHOUT one.

    python bench/triton_smem.py [--arch 90] [--dtypes fp32 fp16] [--configs] [--limit 232448]

For each distinct block of MobileNet v2 / v3-large / v3-small (bench/layer_shapes.py) and
each mode the dispatcher launches (no SE: "block"; SE: "pool_store", "pool", "gated"), builds
the launch's Plan exactly as inverted_residual._launch does (DEFAULTS; with --configs every
autotune CONFIGS entry too), compiles it with triton.compile for sm_<arch> (ptxas from the
triton wheel) and prints the shared memory it needs against the GPU's per-block limit
(232448 B = 227 KiB on H100/H200). A plan over the limit is then shrunk the way _launch does
on OutOfResources, and the first plan that fits is printed. TRITON_INTERPRET must be unset.
"""
from __future__ import annotations

import argparse
import importlib
import os
import re
import subprocess
import sys
import tempfile

if os.environ.get("TRITON_INTERPRET"):
    sys.exit("unset TRITON_INTERPRET: the interpreter replaces the kernels this script compiles")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from layer_shapes import inverted_residual_blocks  # noqa: E402
from mobilekernels.activation import Activation  # noqa: E402
# the module, not mobilekernels.triton's function of the same name
ir = importlib.import_module("mobilekernels.triton.inverted_residual")

PTXAS = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "ptxas")
INTS = ("H", "W", "CIN", "HID", "COUT", "Ho", "Wo", "stride", "pad_t", "pad_l", "OTH", "OTW", "HALO_H", "HALO_W",
        "tiles_x", "tiles_per_image")


def compile_plan(pl, b, kind, dtype, arch):
    pool = kind in ("pool", "pool_store")
    sig = {a: f"*{dtype}" for a in ("x_ptr", "we_ptr", "wd_ptr", "wp_ptr", "y_ptr", "g_ptr", "d_ptr")}
    sig["pool_ptr"] = "*fp32" if pool else f"*{dtype}"
    sig.update({a: "i32" for a in INTS})
    act_e = Activation[b.expand_act.upper()] if b.expand_act != "none" else Activation.IDENTITY
    consts = ir.constexprs(pl, b.kernel, b.expand_act != "none", act_e, Activation[b.dw_act.upper()],
                           b.residual, kind, b.cin, dtype == "fp32")
    sig.update({name: "constexpr" for name in consts})
    return triton.compile(ASTSource(ir._inverted_residual_kernel, sig, constexprs=consts),
                          target=GPUTarget("cuda", arch, 32), options={"num_warps": pl.num_warps})


def ptxas_info(kernel, arch):
    with tempfile.TemporaryDirectory() as d:
        ptx = os.path.join(d, "k.ptx")
        with open(ptx, "w") as f:
            f.write(kernel.asm["ptx"])
        out = subprocess.run([PTXAS, f"-arch=sm_{arch}a", "-v", ptx, "-o", os.path.join(d, "k.cubin")],
                             capture_output=True, text=True, check=True)
    text = out.stdout + out.stderr
    return int(re.search(r"Used (\d+) registers", text).group(1)), int(re.search(r"(\d+) bytes spill stores",
                                                                                  text).group(1))


def fit(b, kind, dtype, knobs, arch, limit):
    """[(Plan, shared bytes, regs, spills)] from the requested knobs down to the first plan
    within `limit` (the shrink sequence of _launch)."""
    steps = []
    while knobs is not None:
        pl = ir.plan(1, b.cin, b.height, b.width, b.hidden, b.cout, b.kernel, b.stride,
                     [(b.kernel - 1) // 2] * 4, b.expand_act != "none", kind, True, None, **knobs)
        k = compile_plan(pl, b, kind, dtype, arch)
        steps.append((pl, k.metadata.shared, *ptxas_info(k, arch)))
        if k.metadata.shared <= limit:
            break
        knobs = ir.shrink(knobs, pl, b.kernel)
    return steps


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", type=int, default=90)
    p.add_argument("--dtypes", nargs="+", default=["fp32", "fp16"])
    p.add_argument("--configs", action="store_true", help="every autotune config, not only the default")
    p.add_argument("--limit", type=int, default=232448, help="shared memory per block (bytes)")
    args = p.parse_args()
    names = ("mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small")
    blocks = [(b, ("block",)) for b, _ in inverted_residual_blocks(names)]
    blocks += [(b, ("pool_store", "pool", "gated")) for b, _ in inverted_residual_blocks(names, se=True)]
    configs = [{}] + (list(ir.CONFIGS) if args.configs else [])
    print(f"triton {triton.__version__}, sm_{args.arch}, limit {args.limit} B: shared B / regs / spill B "
          f"(plan: tile, P, Q, HID_BLOCK, COUT_BLOCK, warps); '->' = shrunk until it fits")
    over = 0
    for b, kinds in blocks:
        name = (f"{b.cin}-{b.hidden}-{b.cout} k{b.kernel}s{b.stride} {b.height}x{b.width}"
                f"{' +res' if b.residual else ''}")
        for kind in kinds:
            for dtype in args.dtypes:
                for cfg in configs:
                    steps = fit(b, kind, dtype, dict(cfg), args.arch, args.limit)
                    over += len(steps) > 1
                    cells = " -> ".join(f"{sh}/{r}/{sp} ({pl.oth}x{pl.otw}, {pl.p}, {pl.q}, {pl.hid_block}, "
                                        f"{pl.cout_block}, {pl.num_warps})" for pl, sh, r, sp in steps)
                    tag = cfg.get("halo", "default") + (f"/{cfg['max_lanes']}/{cfg['hid_block']}" if cfg else "")
                    print(f"{name:<34} {kind:<10} {dtype} {tag:<18} {cells}", flush=True)
    print(f"{over} plan(s) over {args.limit} B before shrinking")


if __name__ == "__main__":
    main()
