"""test_annb.py - python/annb/ as ann-benchmarks loads it: module.py inside a stand-in
ann_benchmarks package (same layout and BaseANN as upstream), config.yml expanded the way
ann-benchmarks expands it, and set_query_arguments' checks."""

import importlib
import itertools
import os
import shutil
import sys

import numpy as np
import pytest

ANNB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "annb")

# ann_benchmarks/algorithms/base/module.py, reduced to what a subclass relies on.
BASE_MODULE = '''
class BaseANN(object):
    def done(self):
        pass

    def get_memory_usage(self):
        return None

    def fit(self, X):
        pass

    def query(self, q, n):
        return []

    def batch_query(self, X, n):
        self.res = [self.query(q, n) for q in X]

    def get_batch_results(self):
        return self.res

    def get_additional(self):
        return {}

    def __str__(self):
        return self.name
'''


@pytest.fixture(scope="module")
def annb_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("annb")
    algos = root / "ann_benchmarks" / "algorithms"
    (algos / "base").mkdir(parents=True)
    for d in (root / "ann_benchmarks", algos, algos / "base"):
        (d / "__init__.py").write_text("")
    (algos / "base" / "module.py").write_text(BASE_MODULE)
    shutil.copytree(ANNB, algos / "pyscann")
    sys.path.insert(0, str(root))
    yield algos / "pyscann"
    sys.path.remove(str(root))
    for name in [m for m in sys.modules if m.startswith("ann_benchmarks")]:
        del sys.modules[name]


def definitions(config_path, metric):
    """(module, constructor, args, [query args...]) per build, as ann-benchmarks expands them."""
    yaml = pytest.importorskip("yaml")
    with open(config_path) as f:
        config = yaml.safe_load(f)
    for algo in config["float"]["any"]:
        assert {"name", "module", "constructor", "docker_tag", "base_args",
                "run_groups"} <= set(algo)
        base = [metric if a == "@metric" else a for a in algo["base_args"]]
        for group in algo["run_groups"].values():
            for args in itertools.product(*group["args"]):
                queries = list(itertools.product(*group.get("query_args", [[]])))
                yield algo["module"], algo["constructor"], base + list(args), queries


def small_data():
    rng = np.random.default_rng(3)
    centers = rng.normal(size=(20, 32)).astype(np.float32)
    x = centers[rng.integers(0, 20, 3000)] + 0.3 * rng.normal(size=(3000, 32)).astype(np.float32)
    return x[:2900], x[2900:]


def test_config_runs_through_module(annb_tree):
    base_cls = importlib.import_module("ann_benchmarks.algorithms.base.module").BaseANN
    x, q = small_data()
    truth = np.argsort(((q[:, None, :] - x[None]) ** 2).sum(-1), axis=1)[:, :10]
    runs = list(definitions(annb_tree / "config.yml", "euclidean"))
    assert len(runs) >= 3
    for module_name, constructor, args, queries in runs:
        # ann-benchmarks imports f"{module}.module" and calls the constructor with the args.
        module = importlib.import_module(module_name + ".module")
        algo = getattr(module, constructor)(*args)
        assert isinstance(algo, base_cls)
        algo.fit(x)
        for qa in queries[:2]:
            algo.set_query_arguments(*qa)
            algo.batch_query(q, 10)
            found = algo.get_batch_results()
            r = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
            assert r > 0.5, (str(algo), r)
            assert str(algo).startswith("PyScann(") and f"nprobe={qa[0]}" in str(algo)
        assert algo.get_memory_usage() > 0
        algo.done()


def test_set_query_arguments_checks_at_once(annb_tree):
    module = importlib.import_module("ann_benchmarks.algorithms.pyscann.module")
    algo = module.PyScann("angular", "IVF_FLAT,nlist=16")
    x, _ = small_data()
    algo.fit(x)
    with pytest.raises(TypeError, match="nprobe must be an int"):
        algo.set_query_arguments([8, 100])  # query_args nested one level too deep
    with pytest.raises(TypeError, match="reorder_k must be an int"):
        algo.set_query_arguments(8, "100")
    with pytest.raises(TypeError):
        algo.set_query_arguments(True)
    with pytest.raises(ValueError, match="nprobe=0"):
        algo.set_query_arguments(0)
    with pytest.raises(ValueError, match="nlist=16"):
        algo.set_query_arguments(17)
    with pytest.raises(TypeError):
        algo.set_query_arguments(8, 100, 3)
    algo.set_query_arguments(np.int64(16), None)
    assert "nprobe=16" in str(algo)
    with pytest.raises(ValueError, match="metric"):
        module.PyScann(0, "FLAT")
    assert module.PyScann("Euclidean", "FLAT")._metric == "l2"
