"""The main command runs, prints its table and writes its files."""
import json
import subprocess
import sys


def test_bench_quick(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "mobilekernels", "bench", "--model", "mobilenet_v3_small", "--quick",
         "--no-compile", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "| mobilekernels" in out.stdout and "| torch eager" in out.stdout
    assert "| mk compiled" in out.stdout  # the zoo model captured by compile_for_inference
    assert "(OK)" in out.stdout
    files = sorted(p.suffix for p in tmp_path.iterdir())
    assert files == [".json", ".md", ".png"]
    rec = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert rec["numerics"]["ok"] and rec["results"]["mobilekernels"]["median_ms"] > 0


def test_bench_converts_torchvision(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "mobilekernels", "bench", "--model", "mobilenet_v2", "--source",
         "torchvision", "--quick", "--no-compile", "--no-peers", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "optimize(): " in out.stdout and "(OK)" in out.stdout


def test_info():
    out = subprocess.run([sys.executable, "-m", "mobilekernels", "info"], capture_output=True, text=True)
    assert out.returncode == 0 and '"isa"' in out.stdout


def test_gpu_bench_script_smoke(tmp_path):
    """The GPU benchmark script runs end to end (tiny shapes, CPU, Triton interpreter)."""
    import os
    from pathlib import Path
    script = Path(__file__).resolve().parents[1] / "bench" / "gpu_bench.py"
    out = subprocess.run([sys.executable, str(script), "--smoke"], capture_output=True, text=True,
                         timeout=600, env={**os.environ, "OUT": str(tmp_path), "TRITON_INTERPRET": "1"})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "numerics OK" in out.stdout and "depthwise: 2 shapes" in out.stdout
    assert len(list(tmp_path.glob("*_gpu_bench_smoke.json"))) == 1
