"""test_plot.py - pyscann.plot: the Pareto frontier, families, and the command line without the
compiled extension (as scripts/bench.sh runs it from the source tree)."""

import os
import shutil
import subprocess
import sys

import pytest

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pyscann")
HEADER = "index,params,build_s,memory_bytes,recall,qps,p50_ms,p99_ms\n"


def import_plot():
    sys.path.insert(0, os.path.dirname(SRC))
    try:
        from pyscann import plot
    finally:
        sys.path.pop(0)
    return plot


plot = import_plot()


def test_pareto_frontier_keeps_only_unbeaten_points():
    pts = [(0.5, 1000), (0.9, 500), (0.8, 400), (0.95, 100), (0.9, 300), (0.6, 2000),
           (0.99, 50), (0.99, 80)]
    # (0.5, 1000) loses to (0.6, 2000); (0.8, 400) to (0.9, 500); ties on recall keep the faster.
    assert plot.pareto_frontier(pts) == [(0.6, 2000), (0.9, 500), (0.95, 100), (0.99, 80)]
    assert plot.pareto_frontier([]) == []
    assert plot.pareto_frontier([(0.7, 10)]) == [(0.7, 10)]


def test_family_groups_builds_of_one_algorithm():
    assert plot.family("SCANN,nlist=256,dims_per_block=4") == "SCANN"
    assert plot.family("SCANN,nlist=256,reorder=int8") == "SCANN"
    assert plot.family("FLAT") == "FLAT"
    assert plot.family("hnsw:M=16,efc=200") == "hnsw"
    assert plot.family("faiss:IVF256,PQ196x4fs,RFlat") == "faiss IVF,PQx4fs,RFlat"
    assert plot.family("faiss:IVF1024,Flat") == plot.family("faiss:IVF256,Flat")
    # The labels scann-peers writes: hnswlib rows are one family; faiss rows keep their build's
    # SIMD level, so Debian's generic faiss and an AVX-512 build are two lines.
    assert plot.family("hnswlib M=16,efC=200") == plot.family("hnswlib M=32,efC=200") == "hnsw"
    assert (plot.family("faiss IVF256,PQ196x4fs,RFlat [1.15.0 02dbb4e, AVX512]")
            == "faiss IVF,PQx4fs,RFlat AVX512")
    assert (plot.family("faiss IVF1024,Flat [1.7.3 Debian, GENERIC]")
            == plot.family("faiss IVF256,Flat [1.7.3 Debian, GENERIC]") == "faiss IVF,Flat GENERIC")
    rows = [{"index": "SCANN,nlist=8", "recall": 0.9, "qps": 10.0},
            {"index": "SCANN,nlist=16", "recall": 0.8, "qps": 20.0},
            {"index": "SCANN,nlist=16", "recall": 0.7, "qps": 5.0},
            {"index": "hnsw:M=16", "recall": 0.95, "qps": 7.0}]
    assert plot.group_frontiers(rows) == {"SCANN": [(0.8, 20.0), (0.9, 10.0)],
                                          "hnsw": [(0.95, 7.0)]}
    assert len(plot.group_frontiers(rows, by="label")) == 3


def write_csv(path, rows):
    path.write_text(HEADER + "".join(f'"{i}","{p}",1.0,1000,{r},{q},0.1,0.2\n'
                                     for i, p, r, q in rows))
    return str(path)


def test_command_line_draws_a_png_without_the_extension(tmp_path):
    pytest.importorskip("matplotlib")
    # Only the .py files: no compiled module anywhere on the path.
    pkg = tmp_path / "src" / "pyscann"
    pkg.mkdir(parents=True)
    for name in os.listdir(SRC):
        if name.endswith(".py"):
            shutil.copy(os.path.join(SRC, name), pkg)
    a = write_csv(tmp_path / "a.csv", [("SCANN,nlist=256", "nprobe=2", 0.8, 9000),
                                       ("SCANN,nlist=256", "nprobe=8", 0.97, 4000),
                                       ("hnsw:M=16,efc=200", "ef=10", 0.85, 12000)])
    b = write_csv(tmp_path / "b.csv", [("faiss:IVF256,Flat", "nprobe=4", 0.9, 3000)])
    out = tmp_path / "chart.png"
    env = dict(os.environ, PYTHONPATH=str(pkg.parent), MPLCONFIGDIR=str(tmp_path / "mpl"))
    code = ("import runpy, sys; sys.argv = ['plot', %r, %r, %r];"
            "runpy.run_module('pyscann.plot', run_name='__main__', alter_sys=True)"
            % (str(out), a, b))
    # The module ends with sys.exit(main()), so check sys.modules from an exit hook.
    hook = ("import atexit, sys; atexit.register(lambda: sys.modules.get('pyscann._pyscann') "
            "and print('extension loaded', file=sys.stderr) and sys.stderr.flush());")
    p = subprocess.run([sys.executable, "-c", hook + code],
                       env=env, capture_output=True, text=True, cwd=tmp_path)
    assert "extension loaded" not in p.stderr
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(out)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10000
    p = subprocess.run([sys.executable, "-m", "pyscann.plot", str(tmp_path / "c.png"), a],
                       env=env, capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 0 and (tmp_path / "c.png").exists(), p.stderr


def test_command_line_rejects_a_wrong_csv(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    assert plot.main([str(tmp_path / "x.png"), str(bad)]) == 2
    assert plot.main([str(tmp_path / "x.png"), str(tmp_path / "missing.csv")]) == 2
    assert not (tmp_path / "x.png").exists()
