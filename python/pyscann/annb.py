"""annb.py - pyscann behind the ann-benchmarks algorithm interface (BaseANN's method names).

ann-benchmarks instantiates the class from its config.yml with the dataset's metric first, then
calls fit, set_query_arguments, query / batch_query + get_batch_results and get_memory_usage.
This module does not import ann-benchmarks; python/annb/ holds the algorithm definition to copy
into ann_benchmarks/algorithms/pyscann/ (module.py subclasses BaseANN with this class, and
config.yml lists the runs).

ann-benchmarks runs each algorithm in a container pinned to one CPU by default, so the wrapper
uses one library thread unless told otherwise, and makes OpenBLAS single-threaded.
"""

import numpy as np

from . import METRICS, Index, set_blas_single_thread  # METRICS: accepted name -> canonical


def _positive_int_or_none(name, value):
    """value as an int >= 1, or None. Raises TypeError / ValueError naming the argument."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"set_query_arguments: {name} must be an int or None, not "
                        f"{type(value).__name__} {value!r} (in config.yml, query_args is a list "
                        f"of value lists: [[nprobe...], [reorder_k...]])")
    if value < 1:
        raise ValueError(f"set_query_arguments: {name}={value} must be at least 1")
    return int(value)


class PyScann:
    """A pyscann index with ann-benchmarks' method names.

    PyScann(metric, spec="SCANN", threads=1, **params)
        metric  ann-benchmarks' name: "euclidean", "angular", "ip" or "dot"
        spec    a libscann spec, e.g. "SCANN,nlist=1024,reorder=int8"; a dict is read as
                keyword parameters (ann-benchmarks configs often pass one), with an optional
                "spec" entry
        params  spec keys as keywords (nlist, m, reorder, ...), as for pyscann.Index
    """

    def __init__(self, metric, spec="SCANN", threads=1, **params):
        if not isinstance(metric, str) or metric.lower() not in METRICS:
            raise ValueError(f"metric {metric!r} is not supported (expected one of "
                             f"{', '.join(sorted(METRICS))})")
        if isinstance(spec, dict):
            params = {**spec, **params}
            spec = params.pop("spec", "SCANN")
        self._metric = METRICS[metric.lower()]
        self._spec = spec
        self._params = params
        self._threads = threads
        self._index = None
        self._nprobe = None
        self._reorder_k = None
        self._res = None
        set_blas_single_thread()
        self.name = self._describe()

    def _describe(self):
        spec = self._index.describe() if self._index is not None else self._spec
        return f"PyScann({spec}, nprobe={self._nprobe}, reorder_k={self._reorder_k})"

    def fit(self, X):
        """Build the index over the rows of X (train, then add with ids 0..n-1)."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"fit: X must be a non-empty 2-D array, got shape {X.shape}")
        index = Index(self._spec, dim=X.shape[1], metric=self._metric, threads=self._threads,
                      **self._params)
        index.train(X)
        index.add(X)
        self._index = index
        self.name = self._describe()

    def set_query_arguments(self, nprobe=None, reorder_k=None):
        """Partitions to scan and candidates re-scored exactly; None = the index's default.

        Checked here, at once, so a malformed config.yml fails before any query runs: both must
        be ints >= 1 (or None), and nprobe at most the index's nlist once it is built.
        """
        nprobe = _positive_int_or_none("nprobe", nprobe)
        reorder_k = _positive_int_or_none("reorder_k", reorder_k)
        nlist = self._nlist()
        if nprobe is not None and nlist is not None and nprobe > nlist:
            raise ValueError(f"set_query_arguments: nprobe={nprobe} is more than the index's "
                             f"nlist={nlist}")
        self._nprobe = nprobe
        self._reorder_k = reorder_k
        self.name = self._describe()

    def _nlist(self):
        """nlist of the built index (None before fit or for FLAT)."""
        if self._index is None:
            return None
        for part in self._index.describe().split(",")[1:]:
            key, _, value = part.partition("=")
            if key == "nlist":
                return int(value)
        return None

    def _search(self, Q, n):
        k = min(n, self._index.ntotal)
        reorder_k = self._reorder_k
        if reorder_k is not None and reorder_k < k:
            reorder_k = k  # the library requires reorder_k >= k
        _, ids = self._index.search(Q, k, nprobe=self._nprobe, reorder_k=reorder_k)
        return ids

    def query(self, v, n):
        """Ids of the n nearest neighbours of the vector v, best first."""
        ids = self._search(v, n)[0]
        return ids[ids >= 0]

    def batch_query(self, X, n):
        """Search all rows of X in one call; fetch the answer with get_batch_results()."""
        ids = self._search(X, n)
        self._res = [row[row >= 0] for row in ids]

    def get_batch_results(self):
        return self._res

    def get_memory_usage(self):
        """Index size in kB (ann-benchmarks' unit); 0 before fit."""
        return self._index.memory_bytes / 1024 if self._index is not None else 0

    def get_additional(self):
        return {}

    def done(self):
        self._index = None

    def __str__(self):
        return self.name
