"""Builds mobilekernels._C from csrc/ with CMake (the classic CMakeExtension pattern).

The extension is optional at run time: if the build fails, the package still installs
and runs on the reference backend, and importing it prints one clear warning.
Set MOBILEKERNELS_REQUIRE_EXTENSION=1 to make a failed build an error instead.
"""
import os
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeExtension(Extension):
    def __init__(self, name: str):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext: Extension) -> None:
        try:
            self._cmake_build(ext)
        except (OSError, subprocess.CalledProcessError) as err:
            if os.environ.get("MOBILEKERNELS_REQUIRE_EXTENSION") == "1":
                raise
            print(f"WARNING: building {ext.name} failed ({err}); mobilekernels will run on "
                  "its reference backend only.", file=sys.stderr)

    def _cmake_build(self, ext: Extension) -> None:
        import pybind11

        out_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        build_dir = Path(self.build_temp).resolve() / "cmake"
        build_dir.mkdir(parents=True, exist_ok=True)
        cfg = "Debug" if self.debug else "Release"
        configure = [
            "cmake", "-S", str(ROOT), "-B", str(build_dir),
            f"-DCMAKE_BUILD_TYPE={cfg}",
            f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={out_dir}",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
            "-DMK_BUILD_PYTHON=ON", "-DMK_BUILD_TESTS=OFF",
        ]
        subprocess.run(configure, check=True)
        jobs = str(os.cpu_count() or 2)
        subprocess.run(["cmake", "--build", str(build_dir), "--target", "_C", "-j", jobs], check=True)


setup(ext_modules=[CMakeExtension("mobilekernels._C")], cmdclass={"build_ext": CMakeBuild})
