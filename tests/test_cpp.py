"""Builds and runs the C++ microkernel test binary (scalar vs SIMD vs a double reference):
natively, under AddressSanitizer + UndefinedBehaviorSanitizer, and cross-compiled for
aarch64 and executed under qemu-user so the NEON kernels really run in CI."""
import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
JOBS = str(os.cpu_count() or 2)
CROSS_TOOLS = ("aarch64-linux-gnu-g++", "qemu-aarch64")


def _cmake():
    exe = shutil.which("cmake")
    if exe is None:
        import cmake  # the pip package ships the binary; it is in the test extra
        exe = str(Path(cmake.CMAKE_BIN_DIR) / "cmake")
    return exe


def _build(build: Path, *options: str) -> None:
    subprocess.run([_cmake(), "-S", str(ROOT), "-B", str(build), "-DMK_BUILD_PYTHON=OFF", "-DMK_BUILD_TESTS=ON",
                    "-DCMAKE_BUILD_TYPE=RelWithDebInfo", *options], check=True, capture_output=True)
    subprocess.run([_cmake(), "--build", str(build), "-j", JOBS], check=True, capture_output=True)


def _check_run(run: subprocess.CompletedProcess, isas: str) -> None:
    print(run.stdout, run.stderr)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"ISAs under test: {isas}\n" in run.stdout
    assert run.stdout.strip().endswith(" 0 failed")


def _native_isas() -> str:
    """What the binary must test here: every SIMD kernel set this CPU can run."""
    import platform
    arch = platform.machine()
    if arch in ("aarch64", "arm64"):
        return "scalar neon"
    if arch not in ("x86_64", "AMD64"):
        return "scalar"
    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").exists() else []
    return "scalar avx2" + (" avx512" if "avx512f" in flags else "")


@pytest.mark.parametrize("sanitize", ["OFF", "ON"], ids=["plain", "asan-ubsan"])
def test_cpp_microkernels(tmp_path, sanitize):
    # The sanitizer build instruments the kernels this CPU runs: on a CPU without AVX-512 its
    # kernels cannot run and only cost compile time (the instrumented AVX-512 GEMM alone took
    # minutes of a 2-core CI machine). The plain build still compiles and links them.
    isas = _native_isas()
    skip_avx512 = sanitize == "ON" and "avx512" not in isas.split()
    _build(tmp_path / "build", f"-DMK_SANITIZE={sanitize}", *(["-DMK_AVX512=OFF"] if skip_avx512 else []))
    run = subprocess.run([str(tmp_path / "build" / "mk_tests")], capture_output=True, text=True, timeout=600)
    _check_run(run, isas)


@pytest.fixture(scope="module")
def aarch64_build(tmp_path_factory):
    missing = [t for t in CROSS_TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"aarch64 cross toolchain not installed ({', '.join(missing)}; README: apt-get install "
                    "g++-aarch64-linux-gnu qemu-user)")
    build = tmp_path_factory.mktemp("aarch64")
    _build(build, f"-DCMAKE_TOOLCHAIN_FILE={ROOT / 'cmake' / 'aarch64-linux-gnu.cmake'}")
    return build


def test_neon_microkernels_under_qemu(aarch64_build):
    run = subprocess.run(["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu", str(aarch64_build / "mk_tests")],
                         capture_output=True, text=True, timeout=900)
    _check_run(run, "scalar neon")
    ctest = subprocess.run(["ctest", "--output-on-failure"], cwd=aarch64_build, capture_output=True, text=True,
                           timeout=900) if shutil.which("ctest") else None
    if ctest is not None:  # ctest runs the same binary through CMAKE_CROSSCOMPILING_EMULATOR
        assert "100% tests passed" in ctest.stdout, ctest.stdout + ctest.stderr


def test_python_extension_cross_builds_for_aarch64(aarch64_build, tmp_path):
    """The whole extension module links for aarch64 (host Python headers: the binding's
    Python-facing code is architecture-independent; the kernels come from the cross build)."""
    import pybind11
    obj, so = tmp_path / "bindings.o", tmp_path / "_C.so"
    subprocess.run(["aarch64-linux-gnu-g++", "-std=c++17", "-O1", "-fPIC", "-DMK_HAVE_NEON=1",
                    '-DMK_VERSION="0.0"', f"-I{sysconfig.get_paths()['include']}", f"-I{pybind11.get_include()}",
                    f"-I{ROOT / 'csrc'}", "-c", str(ROOT / "csrc" / "bindings.cpp"), "-o", str(obj)],
                   check=True, capture_output=True, timeout=600)
    subprocess.run(["aarch64-linux-gnu-g++", "-shared", "-o", str(so), str(obj), str(aarch64_build / "libmk_core.a"),
                    "-lpthread"], check=True, capture_output=True, timeout=300)
    header = so.read_bytes()[:20]
    assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == 183  # EM_AARCH64
