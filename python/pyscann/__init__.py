"""pyscann - Python bindings for libscann, a ScaNN-style vector index in C.

    import numpy as np, pyscann
    index = pyscann.Index("SCANN,nlist=256,reorder=int8", dim=x.shape[1], metric="cosine")
    index.train(x)
    index.add(x)                               # ids 0..n-1, or index.add(x, ids=my_ids)
    distances, ids = index.search(queries, 10, nprobe=32)

Arrays: float32 C-contiguous arrays are used in place; other float or integer arrays are
converted to float32 first. Distances are squared L2 (smaller is better), or the inner product /
cosine similarity (larger is better). Missing results have id -1.

Errors: every failure the library reports raises a subclass of pyscann.Error that also derives
from the built-in class you would expect:

    InvalidArgumentError, DimensionError, InvalidDataError, FormatError  -> ValueError
    NotTrainedError, EmptyIndexError, UnsupportedError, CancelledError,
    InternalError                                                        -> RuntimeError
    OutOfMemoryError                                                     -> MemoryError
    FileError                                                            -> OSError

Each exception has .status (the scann_status code) and .status_name. Wrong Python types
(a str where an int is expected) raise TypeError as usual.

Filters: search(q, k, filter=F) returns only allowed ids. F is a list or integer array of
allowed ids, a bool mask (id i allowed iff F[i]), a packed bitset (uint8 with little-endian
bit order as np.packbits(mask, bitorder="little") writes it, or uint64 words: id i iff
F[i // 64] >> (i % 64) & 1), or a callable id -> bool (slow: called once per candidate with
the GIL held; its exceptions propagate out of search).

Lifetime: close() frees the index at once; `with pyscann.Index(...) as ix:` does it at the end
of the block. Any later use raises RuntimeError.

Threads: searches on one index may run concurrently from several Python threads (the GIL is
released while the library works); train and add wait for them. libscann runs its own threads
and calls OpenBLAS from each of them, so call pyscann.set_blas_single_thread() (or set
OPENBLAS_NUM_THREADS=1) to keep OpenBLAS's threads from competing with them.
"""

# Everything but the docstring is loaded on first use (PEP 562): `python3 -m pyscann.plot` and
# other pure-Python modules must import without the compiled extension (scripts/bench.sh runs
# the plot from the source tree after a plain `make`).
__all__ = [
    "Index", "build_spec", "set_blas_single_thread", "blas_num_threads", "METRICS",
    "Error", "InvalidArgumentError", "DimensionError", "InvalidDataError", "NotTrainedError",
    "EmptyIndexError", "OutOfMemoryError", "FileError", "FormatError", "UnsupportedError",
    "CancelledError", "InternalError",
]
_LAZY = frozenset(__all__) | {"__version__", "SPEC_KEYS", "scann_version"}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'pyscann' has no attribute {name!r}")
    from . import _index
    value = getattr(_index, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | _LAZY)
