"""Builds and runs the C++ microkernel test binary (scalar vs SIMD vs a double reference),
plainly and under AddressSanitizer + UndefinedBehaviorSanitizer."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _cmake():
    exe = shutil.which("cmake")
    if exe is None:
        import cmake  # the pip package ships the binary; it is in the test extra
        exe = str(Path(cmake.CMAKE_BIN_DIR) / "cmake")
    return exe


@pytest.mark.parametrize("sanitize", ["OFF", "ON"], ids=["plain", "asan-ubsan"])
def test_cpp_microkernels(tmp_path, sanitize):
    cmake = _cmake()
    build = tmp_path / "build"
    subprocess.run([cmake, "-S", str(ROOT), "-B", str(build), "-DMK_BUILD_PYTHON=OFF",
                    "-DMK_BUILD_TESTS=ON", f"-DMK_SANITIZE={sanitize}",
                    "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], check=True, capture_output=True)
    subprocess.run([cmake, "--build", str(build), "-j", str(os.cpu_count() or 2)], check=True,
                   capture_output=True)
    run = subprocess.run([str(build / "mk_tests")], capture_output=True, text=True, timeout=600)
    print(run.stdout, run.stderr)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().endswith("0 failed")
