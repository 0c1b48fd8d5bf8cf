"""Registers and spills of every depthwise autotune config, compiled for a GPU WITHOUT one.

    python bench/triton_dw_regs.py [--arch 90] [--dtypes fp16 fp32] [--pool]

Compiles mobilekernels/triton/dwconv.py's kernel with triton.compile for the given CUDA arch
(PTX via Triton's LLVM backend, then the ptxas bundled with the triton wheel, -v) for each
config in dwconv.CONFIGS x dtype x (k, stride) and prints ptxas's register / spill counts and
the number of global load instructions. Needs no GPU and no driver: a check that every config
compiles and does not spill, to run before a GPU session. TRITON_INTERPRET must be unset
(the kernel has to be a real @triton.jit function).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

if os.environ.get("TRITON_INTERPRET"):
    sys.exit("unset TRITON_INTERPRET: the interpreter replaces the kernels this script compiles")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from mobilekernels.triton import dwconv  # noqa: E402

PTXAS = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "ptxas")


def compile_config(dtype, k, s, pool, rows, block_w, block_c, num_warps, arch=90, act=3):
    fn = dwconv._dwconv_kernel
    sig = {"x_ptr": f"*{dtype}", "w_ptr": f"*{dtype}", "y_ptr": f"*{dtype}",
           "pool_ptr": "*fp32" if pool else f"*{dtype}", "N": "i32", "H": "i32", "W": "i32", "C": "i32",
           "Ho": "i32", "Wo": "i32", "pad_t": "i32", "pad_l": "i32"}
    consts = dict(K=k, STRIDE=s, DIL=1, ACT=act, POOL=pool, ROW_STEP=1, ROWS=rows, BLOCK_W=block_w,
                  BLOCK_C=block_c)
    sig.update({name: "constexpr" for name in consts})
    # what the runtime specialises on for real layers: 16-byte aligned pointers, C % 16 == 0
    aligned = [fn.arg_names.index(a) for a in ("x_ptr", "w_ptr", "y_ptr", "pool_ptr", "C")]
    attrs = {(i,): [["tt.divisibility", 16]] for i in aligned}
    return triton.compile(ASTSource(fn, sig, constexprs=consts, attrs=attrs), target=GPUTarget("cuda", arch, 32),
                          options={"num_warps": num_warps})


def ptxas_info(kernel, arch=90):
    with tempfile.TemporaryDirectory() as d:
        ptx = os.path.join(d, "k.ptx")
        with open(ptx, "w") as f:
            f.write(kernel.asm["ptx"])
        out = subprocess.run([PTXAS, f"-arch=sm_{arch}a", "-v", ptx, "-o", os.path.join(d, "k.cubin")],
                             capture_output=True, text=True, check=True)
    text = out.stdout + out.stderr
    regs = int(re.search(r"Used (\d+) registers", text).group(1))
    spills = int(re.search(r"(\d+) bytes spill stores", text).group(1))
    return regs, spills


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", type=int, default=90)
    p.add_argument("--dtypes", nargs="+", default=["fp16", "fp32"])
    p.add_argument("--pool", action="store_true", help="the SE variant (channel sums + atomics)")
    args = p.parse_args()
    shapes = [(3, 1), (3, 2), (5, 1), (5, 2)]
    print(f"triton {triton.__version__}, sm_{args.arch}, pool={args.pool}: registers[/spill bytes] (global loads)")
    print("config (BLOCK_W, BLOCK_C, ROWS, warps) | " + " | ".join(
        f"{dt} k{k}s{s}" for dt in args.dtypes for k, s in shapes))
    for bw, bc, rows, nw in dwconv.CONFIGS:
        cells = []
        for dt in args.dtypes:
            for k, s in shapes:
                kern = compile_config(dt, k, s, args.pool, rows, bw, bc, nw, args.arch)
                regs, spills = ptxas_info(kern, args.arch)
                cells.append(f"{regs}{'/' + str(spills) if spills else ''} ({kern.asm['ptx'].count('ld.global')})")
        print(f"{(bw, bc, rows, nw)} | " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
