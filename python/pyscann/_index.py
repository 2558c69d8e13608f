"""_index.py - the Python side of pyscann.Index: keyword parameters, spec building, pickling.

Imported lazily by pyscann/__init__.py, so that pure-Python parts of the package (pyscann.plot)
work without the compiled extension.
"""


import numpy as _np  # loads numpy's C API before the extension needs it

from . import _pyscann
from ._pyscann import (  # noqa: F401  (re-exported)
    CancelledError,
    DimensionError,
    EmptyIndexError,
    Error,
    FileError,
    FormatError,
    InternalError,
    InvalidArgumentError,
    InvalidDataError,
    NotTrainedError,
    OutOfMemoryError,
    UnsupportedError,
    METRICS,
    blas_num_threads,
    scann_version,
    set_blas_single_thread,
)

__version__ = scann_version

# Spec keys a keyword argument may set (scann.h, scann_index_create_from_spec). "threads" is a
# separate argument of Index because it is also a property.
SPEC_KEYS = ("nlist", "nprobe", "reorder_k", "train_size", "iters", "seed", "m",
             "dims_per_block", "aq_threshold", "reorder", "l2_residual")


def _spec_value(key, value):
    if key == "reorder":
        if not isinstance(value, str):
            raise TypeError("reorder must be a str: 'float', 'bf16', 'int8' or 'none'")
        return value
    if isinstance(value, bool):
        raise TypeError(f"{key} must be a number, not bool")
    if key == "aq_threshold":
        return repr(float(value))
    if isinstance(value, float) and not value.is_integer():
        raise TypeError(f"{key}={value!r} must be an integer")
    return str(int(value))


def build_spec(spec="FLAT", **params):
    """The spec string with keyword parameters appended: they override the spec's own keys.

    build_spec("SCANN,nlist=1024", nprobe=32, reorder="int8")
        -> "SCANN,nlist=1024,nprobe=32,reorder=int8"
    Keys: nlist, nprobe, reorder_k, train_size, iters, seed, m, dims_per_block, aq_threshold,
    reorder, l2_residual.
    None values are left out. The C parser validates the result (ValueError when it is wrong).
    """
    if not isinstance(spec, str):
        raise TypeError("spec must be a str such as 'FLAT' or 'SCANN,nlist=1024'")
    parts = [spec]
    for key, value in params.items():
        if key not in SPEC_KEYS:
            raise TypeError(f"unexpected keyword argument {key!r} (spec keys: "
                            f"{', '.join(SPEC_KEYS)})")
        if value is not None:
            parts.append(f"{key}={_spec_value(key, value)}")
    return ",".join(parts)


class Index(_pyscann.Index):
    """A libscann index: FLAT, IVF_FLAT, IVF_PQ or SCANN.

    Index(spec="FLAT", dim=..., metric="l2", threads=None, **params)

    spec    kind and parameters, e.g. "SCANN,nlist=1024,dims_per_block=2,reorder=int8"
    dim     vector dimension (required)
    metric  a name, any case: "l2" (squared Euclidean; also "squared_l2", "euclidean"),
            "ip" (inner product; also "dot_product", "inner_product", "dot") or "cosine"
            (also "angular"); numbers are refused (faiss's METRIC_INNER_PRODUCT is 0)
    threads threads per call, 0 = all online cores; None = the spec's "threads" key, else 0
    params  spec keys as keywords (nlist, nprobe, reorder_k, train_size, iters, seed, m,
            dims_per_block, aq_threshold, reorder); they override the same keys in spec

    Methods: train(x), add(x, ids=None), remove(ids) -> int, search(q, k, nprobe=None,
    reorder_k=None, threads=None, filter=None) -> (distances float32 [nq, k], ids int64
    [nq, k]), tune(queries, target_recall, k=10, truth=None, base=None) -> dict (sets the
    default nprobe / reorder_k), save(path), Index.load(path, mmap=False), to_bytes(), Index.from_bytes(data),
    describe(), close(); `with Index(...) as ix:` closes at the end of the block; pickling
    goes through to_bytes().
    Properties: ntotal, dim, metric, kind, kernel, is_trained, memory_bytes, closed,
    threads (settable).
    """

    def __init__(self, spec="FLAT", dim=None, metric="l2", threads=None, **params):
        if dim is None:
            raise TypeError("Index() needs dim, the vector dimension")
        super().__init__(build_spec(spec, **params), dim, metric, threads)

    def __len__(self):
        return self.ntotal

    def __repr__(self):
        if self.closed:
            return "pyscann.Index(<closed>)"
        try:
            return (f"pyscann.Index({self.describe()!r}, dim={self.dim}, "
                    f"metric={self.metric!r}, ntotal={self.ntotal})")
        except RuntimeError:
            return "pyscann.Index(<not initialised>)"

    def __reduce__(self):
        # pickle / multiprocessing: the index travels in its file format (needs persistence).
        return (type(self).from_bytes, (self.to_bytes(),))

    # remove(ids) -> int is inherited from the extension type.
