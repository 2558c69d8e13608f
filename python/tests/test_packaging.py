"""test_packaging.py - pyscann as users install it: `pip install .` (pyproject.toml + setup.py,
offline, Debian's setuptools), `cmake --install`, and type stubs that match the module.

The pip test builds from a copy of the sources in a temporary directory (about 10-20 s on two
cores), so it neither needs nor touches a build in the source tree.
"""

import ast
import glob
import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

import pyscann

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PKG = os.path.join(ROOT, "python", "pyscann")

SMOKE = """
import os, sys, numpy as np, pyscann
assert os.path.dirname(pyscann.__file__) == os.path.join(sys.argv[1], "pyscann"), pyscann.__file__
x = np.random.default_rng(0).random((500, 8), dtype=np.float32)
with pyscann.Index("SCANN,nlist=4", dim=8, metric="Euclidean") as ix:
    ix.train(x)
    ix.add(x)
    _, ids = ix.search(x[:3], 1, nprobe=4, filter=[0, 1, 2])
    assert ids[:, 0].tolist() == [0, 1, 2], ids
print("ok", pyscann.__version__)
"""


def run_smoke(site, cwd):
    env = dict(os.environ, PYTHONPATH=site, OPENBLAS_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-c", SMOKE, site], env=env, cwd=cwd,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.startswith("ok ")


def check_package_files(pkgdir):
    names = os.listdir(pkgdir)
    for want in ("__init__.py", "_index.py", "plot.py", "annb.py", "py.typed", "__init__.pyi",
                 "_pyscann.pyi"):
        assert want in names, f"{want} not installed in {pkgdir}: {sorted(names)}"
    assert [n for n in names if n.startswith("_pyscann.") and n.endswith(".so")], names
    assert "_pyscann.c" not in names


def test_pip_install_offline(tmp_path):
    if importlib.util.find_spec("pip") is None or importlib.util.find_spec("setuptools") is None:
        pytest.skip("python3-pip / python3-setuptools missing (scripts/install-deps.sh test)")
    src = tmp_path / "src"
    for name in ("CMakeLists.txt", "README.md", "setup.py", "pyproject.toml", "MANIFEST.in"):
        src.mkdir(exist_ok=True)
        shutil.copy(os.path.join(ROOT, name), src / name)
    shutil.copytree(os.path.join(ROOT, "include"), src / "include")
    shutil.copytree(os.path.join(ROOT, "src"), src / "src")
    shutil.copytree(PKG, src / "python" / "pyscann",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    site = tmp_path / "site"
    p = subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation",
                        "--no-index", "--no-deps", "--target", str(site), str(src)],
                       capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    check_package_files(site / "pyscann")
    run_smoke(str(site), cwd=tmp_path)
    nm = shutil.which("nm")
    if nm:
        so = glob.glob(str(site / "pyscann" / "_pyscann*.so"))[0]
        out = subprocess.run([nm, "-D", "--defined-only", so], capture_output=True,
                             text=True).stdout
        exported = sorted(line.split()[-1] for line in out.splitlines() if " T " in line)
        assert exported == ["PyInit__pyscann"], exported[:10]


def test_cmake_install(tmp_path):
    build = os.environ.get("SCANN_BUILD_DIR")
    if not build or not shutil.which("cmake"):
        pytest.skip("SCANN_BUILD_DIR unset (CTest's pytest test sets it)")
    p = subprocess.run(["cmake", "--install", build, "--prefix", str(tmp_path / "inst")],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    sites = glob.glob(str(tmp_path / "inst" / "lib" / "python3*" / "*-packages"))
    assert len(sites) == 1, p.stdout
    check_package_files(os.path.join(sites[0], "pyscann"))
    run_smoke(sites[0], cwd=tmp_path)
    assert os.access(tmp_path / "inst" / "bin" / "scann", os.X_OK)
    with open(os.path.join(build, "CMakeCache.txt")) as f:
        peers = "SCANN_BUILD_PEERS:BOOL=ON" in f.read()
    assert os.path.exists(tmp_path / "inst" / "bin" / "scann-peers") == peers


# ---- stubs ----------------------------------------------------------------------------------

def stub_names(path):
    """Top-level names a stub file defines, and {class: member names}."""
    tree = ast.parse(open(path).read())
    names, classes = set(), {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            classes[node.name] = {n.name if not isinstance(n, ast.AnnAssign) else n.target.id
                                  for n in node.body
                                  if isinstance(n, (ast.FunctionDef, ast.AnnAssign))}
        elif isinstance(node, ast.AnnAssign):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets)
        elif isinstance(node, ast.ImportFrom):
            names.update(a.asname for a in node.names if a.asname)
    return names, classes


def public(names):
    return {n for n in names if not n.startswith("_")}


def test_extension_stub_matches_the_module():
    names, classes = stub_names(os.path.join(PKG, "_pyscann.pyi"))
    runtime = public(dir(pyscann._pyscann))
    assert runtime <= names, f"missing from _pyscann.pyi: {runtime - names}"
    methods = public(dir(pyscann._pyscann.Index)) | {"__enter__", "__exit__", "__init__"}
    assert methods == classes["Index"], methods ^ classes["Index"]


def test_package_stub_matches_the_package():
    names, _ = stub_names(os.path.join(PKG, "__init__.pyi"))
    assert set(pyscann.__all__) <= names, set(pyscann.__all__) - names
    for name in public(names):
        getattr(pyscann, name)  # every stubbed name exists
    assert os.path.exists(os.path.join(PKG, "py.typed"))
