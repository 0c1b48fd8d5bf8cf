"""The extension's runtime: loading (and the fallback when it is missing), threads,
backend override."""
import os
import subprocess
import sys
import threading

import pytest
import torch

import mobilekernels
from conftest import assert_close
from mobilekernels import _ext, ops
from mobilekernels.ops import reference
from op_cases import dw_packed, make_input


def _python(code: str, **env):
    return subprocess.run([sys.executable, "-W", "always::RuntimeWarning", "-c", code],
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=300)


def test_extension_is_built_here():
    # CI installs with a compiler: the extension must be there (the fallback is tested below).
    assert _ext.available(), _ext.load_error
    feats = _ext._C.cpu_features()
    assert feats["best_isa"] in ("scalar", "avx2", "avx512", "neon")
    assert feats["best_isa"] == ("avx512" if feats["avx512"] else "avx2" if feats["avx2_fma"] else
                                 "neon" if feats["neon"] else "scalar")
    assert _ext._C.__version__ == mobilekernels.__version__


@pytest.mark.skipif(not _ext.available(), reason="needs the extension")
def test_tuning_switches_change_speed_not_results():
    # An A/B switch for benchmarks (bench/ab_tuning.py): both settings give the same numbers.
    saved = _ext._C.get_tuning("gemm_ymm_tails")
    x = make_input(1, 40, 5, 7, seed=3).float()
    w = torch.randn(41, 24, generator=torch.Generator().manual_seed(1))
    try:
        outs = []
        for on in (False, True):
            _ext._C.set_tuning("gemm_ymm_tails", on)
            assert _ext._C.get_tuning("gemm_ymm_tails") is on
            outs.append(ops.pwconv_bn_act(x, w, 2, None))
    finally:
        _ext._C.set_tuning("gemm_ymm_tails", saved)
    assert torch.equal(outs[0], outs[1])
    with pytest.raises(ValueError, match="unknown tuning switch"):
        _ext._C.set_tuning("warp_drive", True)


@pytest.mark.skipif(not (_ext.available() and _ext._C.cpu_features()["avx2_fma"]), reason="x86-64 with AVX2 only")
def test_isa_environment_variable_caps_the_kernels():
    code = ("from mobilekernels import _ext\n"
            "print(_ext._C.cpu_features()['best_isa'])\n")
    assert _python(code, MOBILEKERNELS_ISA="avx2").stdout.split() == ["avx2"]
    assert _python(code, MOBILEKERNELS_ISA="scalar").stdout.split() == ["scalar"]
    bad = _python(code, MOBILEKERNELS_ISA="sse9")
    assert bad.returncode != 0 and "isa must be" in bad.stderr


def test_without_extension_package_works_with_one_warning():
    code = ("import mobilekernels, torch\n"
            "from mobilekernels import ops, models\n"
            "x = torch.randn(1, 8, 5, 5)\n"
            "print(ops.backend_for('dwconv_bn_act', x))\n"
            "m = models.mobilenet_v3_small().eval()\n"
            "print(m(torch.randn(1, 3, 64, 64)).shape)\n")
    out = _python(code, MOBILEKERNELS_DISABLE_EXTENSION="1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["reference", "torch.Size([1,", "1000])"]
    assert out.stderr.count("mobilekernels._C is not available") == 1, out.stderr


def test_backend_environment_variable():
    out = _python("import mobilekernels; print(mobilekernels.get_backend())",
                  MOBILEKERNELS_BACKEND="reference")
    assert out.stdout.strip() == "reference", out.stderr


@pytest.mark.skipif(not _ext.available(), reason="CPU extension not built")
def test_thread_counts_give_identical_results():
    x = make_input(2, 48, 29, 31, seed=2)
    packed = dw_packed(48, 5, seed=2)
    results = []
    saved = mobilekernels.get_num_threads()
    try:
        for n in (1, 2, 3):
            mobilekernels.set_num_threads(n)
            assert mobilekernels.get_num_threads() == n
            results.append(ops.dwconv_bn_act(x, packed, 5, 1, [2] * 4, 1, 2))
    finally:
        mobilekernels.set_num_threads(saved)
    assert torch.equal(results[0], results[1]) and torch.equal(results[0], results[2])


@pytest.mark.skipif(not _ext.available(), reason="CPU extension not built")
def test_calls_from_many_python_threads():
    cases = [(make_input(1, 24 + i, 17, 13, seed=i), dw_packed(24 + i, 3, seed=i)) for i in range(8)]
    out = [None] * len(cases)

    def work(i):
        for _ in range(5):
            out[i] = ops.dwconv_bn_act(cases[i][0], cases[i][1], 3, 2, [1] * 4, 1, 3)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (x, p), y in zip(cases, out):
        assert_close(y, reference.dwconv_bn_act(x.double(), p.double(), 3, 2, [1] * 4, 1, 3))


def test_fork_after_use_does_not_hang():
    code = ("import os, torch, mobilekernels\n"
            "from mobilekernels import ops\n"
            "mobilekernels.set_num_threads(2)\n"
            "x = torch.randn(1, 32, 32, 32).contiguous(memory_format=torch.channels_last)\n"
            "p = ops.pack_dwconv(torch.randn(32, 1, 3, 3), torch.randn(32))\n"
            "ops.dwconv_bn_act(x, p, 3, 1, [1] * 4, 1, 2)\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    y = ops.dwconv_bn_act(x, p, 3, 1, [1] * 4, 1, 2)\n"
            "    os._exit(0 if mobilekernels.get_num_threads() == 2 and y.shape[1] == 32 else 3)\n"
            "_, status = os.waitpid(pid, 0)\n"
            "print('child', os.waitstatus_to_exitcode(status))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "child 0", out.stdout + out.stderr


@pytest.mark.skipif(not _ext.available(), reason="CPU extension not built")
def test_forked_child_and_parent_run_a_network_at_once():
    # The inverted residual's band window is a memory mapping shared across fork()
    # (runtime/mirrored_buffer.h): the child must get its own, or the two processes write
    # each other's rows while both run.
    code = ("import os, torch, mobilekernels\n"
            "from mobilekernels import models, compile_for_inference\n"
            "mobilekernels.set_num_threads(1)\n"
            "torch.manual_seed(0)\n"
            "m = models.mobilenet_v2(1.0).eval()\n"
            "x = torch.randn(1, 3, 160, 160).contiguous(memory_format=torch.channels_last)\n"
            "f = compile_for_inference(m, x)\n"
            "with torch.no_grad():\n"
            "    ref = f(x).clone()\n"
            "    pid = os.fork()\n"
            "    same = all(torch.equal(f(x), ref) for _ in range(30))\n"
            "    if pid == 0:\n"
            "        os._exit(0 if same else 3)\n"
            "_, status = os.waitpid(pid, 0)\n"
            "print('parent', int(same), 'child', os.waitstatus_to_exitcode(status))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "parent 1 child 0", out.stdout + out.stderr


@pytest.mark.skipif(not _ext.available(), reason="CPU extension not built")
def test_thread_count_is_bounded():
    with pytest.raises(ValueError, match="num_threads"):
        mobilekernels.set_num_threads(100000)
