"""module.py - libscann (pyscann) as an ann-benchmarks algorithm.

Copy this folder to ann_benchmarks/algorithms/pyscann/ in an ann-benchmarks checkout (the
relative import below is the one every algorithm there uses) and install pyscann in the image
(`pip install --no-build-isolation .` from a libscann checkout; see README "Python"). Then
`python run.py --algorithm pyscann --dataset glove-100-angular`.

The work is done by pyscann.annb.PyScann, shared with the tests:
  PyScann(metric, spec, threads=1, **params)  metric is ann-benchmarks' "@metric" (euclidean,
                                              angular, dot / ip); spec a libscann spec string
  fit(X)                                      train, then add rows with ids 0..n-1
  set_query_arguments(nprobe, reorder_k)      validated at once: ints >= 1 or None, nprobe at
                                              most nlist; anything else (a list from a
                                              mis-nested query_args) raises TypeError
  query(q, n), batch_query(X, n), get_batch_results(), get_memory_usage() (kB), __str__
"""

from pyscann.annb import PyScann as _PyScann

from ..base.module import BaseANN


class PyScann(_PyScann, BaseANN):
    """pyscann.annb.PyScann with ann-benchmarks' base class (its defaults come second)."""

    def __str__(self):
        return self.name
