"""setup.py - the compiled part of the pyscann package (pyproject.toml has the rest).

The extension is python/pyscann/_pyscann.c plus every library source that CMakeLists.txt lists in
SCANN_SOURCES, so the two builds cannot drift apart. Same flags as CMake: C11, -O3,
-ffp-contract=off (the scalar reference kernels must match the SIMD ones bit for bit) and
baseline ISA flags (each kernel picks its instruction set at run time through target
attributes). OpenBLAS comes from pkg-config, as in CMake. A version script
(python/pyscann/exports.map) exports PyInit__pyscann only, as CMake's --exclude-libs does.
"""

import glob
import os
import re
import shlex
import subprocess

import numpy
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


def cmake_text():
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        return f.read()


def library_sources():
    m = re.search(r"set\(SCANN_SOURCES\s+(.*?)\)", cmake_text(), re.S)
    if not m:
        raise SystemExit("setup.py: SCANN_SOURCES not found in CMakeLists.txt")
    return m.group(1).split()


def version():
    m = re.search(r"project\(scann\s+VERSION\s+([0-9.]+)", cmake_text())
    if not m:
        raise SystemExit("setup.py: project VERSION not found in CMakeLists.txt")
    return m.group(1)


def pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args, "openblas"], check=True, text=True,
                             capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit("setup.py: pkg-config openblas failed (apt-get install pkg-config "
                         f"libopenblas-dev): {e}") from None
    return shlex.split(out)


class BuildExt(build_ext):
    """Compile the ~30 C files on every core unless told otherwise (pip gives no -j)."""

    def finalize_options(self):
        super().finalize_options()
        if not self.parallel:
            self.parallel = os.cpu_count() or 1


cflags = pkg_config("--cflags")
libs = pkg_config("--libs")
# setuptools rebuilds a source only when it is newer than the module: list the headers too.
headers = glob.glob("include/*.h") + glob.glob("src/**/*.h", recursive=True)
ext = Extension(
    "pyscann._pyscann",
    sources=["python/pyscann/_pyscann.c"] + library_sources(),
    include_dirs=["include", "src", numpy.get_include()],
    define_macros=[("_GNU_SOURCE", None), ("SCANN_BUILDING", None)],
    extra_compile_args=["-std=c11", "-O3", "-ffp-contract=off", "-fno-math-errno",
                        "-fvisibility=hidden", "-Wno-unused-parameter"] + cflags,
    extra_link_args=[f for f in libs if not f.startswith("-l")]
    + ["-Wl,--version-script=python/pyscann/exports.map"],
    depends=headers + ["CMakeLists.txt", "python/pyscann/exports.map"],
    libraries=[f[2:] for f in libs if f.startswith("-l")] + ["m", "pthread"],
)

setup(
    version=version(),
    ext_modules=[ext],
    cmdclass={"build_ext": BuildExt},
    # Not build/: that is `make`'s CMake directory. /build-*/ is ignored by git.
    options={"build": {"build_base": "build-setuptools"}},
)
