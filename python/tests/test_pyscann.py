"""test_pyscann.py - the pyscann module end to end, on real data where recall matters.

Data: the first 5,200 Fashion-MNIST training images read straight from Debian's
dataset-fashion-mnist (IDX format: a 16-byte big-endian header, then uint8 pixels), scaled to
[0, 1]: rows 0..4999 are the base, rows 5000..5199 the queries. Exact neighbours come from
numpy in float64.

Run: PYTHONPATH=<build>/python OPENBLAS_NUM_THREADS=1 /usr/bin/python3 -m pytest python/tests
(CTest's "pytest" test does exactly that).
"""

import gzip
import os
import pickle
import signal
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import pyscann
from pyscann.annb import PyScann

FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
NBASE, NQUERY, DIM, K = 5000, 200, 784, 10


# ---- data and exact answers -----------------------------------------------------------------

def read_fashion(rows):
    if not os.path.exists(FASHION):
        pytest.skip(f"{FASHION} missing (apt-get install dataset-fashion-mnist)")
    with gzip.open(FASHION) as f:
        magic, n, h, w = np.frombuffer(f.read(16), dtype=">u4")
        assert magic == 0x803 and h * w == DIM and n >= rows
        return np.frombuffer(f.read(rows * DIM), dtype=np.uint8).reshape(rows, DIM)


@pytest.fixture(scope="module")
def raw():
    return read_fashion(NBASE + NQUERY)


@pytest.fixture(scope="module")
def base(raw):
    return raw[:NBASE].astype(np.float32) / 255


@pytest.fixture(scope="module")
def queries(raw):
    return raw[NBASE:].astype(np.float32) / 255


def exact_scores(q, x, metric):
    """Scores in the library's convention (squared L2, or similarity), float64."""
    q, x = q.astype(np.float64), x.astype(np.float64)
    if metric == "cosine":
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
    if metric == "l2":
        return (q * q).sum(1)[:, None] - 2 * q @ x.T + (x * x).sum(1)[None, :]
    return q @ x.T


def exact_knn(q, x, metric, k=K):
    s = exact_scores(q, x, metric)
    order = np.argsort(s if metric == "l2" else -s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, order, 1), order


def recall(found, truth):
    return np.mean([len(set(f) & set(t)) / truth.shape[1] for f, t in zip(found, truth)])


@pytest.fixture(scope="module")
def truth_l2(base, queries):
    return exact_knn(queries, base, "l2")


@pytest.fixture(scope="module")
def truth_cosine(base, queries):
    return exact_knn(queries, base, "cosine")


def build(spec, base, metric="l2", **kw):
    ix = pyscann.Index(spec, dim=base.shape[1], metric=metric, **kw)
    ix.train(base)
    ix.add(base)
    return ix


# ---- create / train / add / search, every kind ----------------------------------------------

# Recall@10 on the 200 queries with nprobe=8 of nlist=64, measured on an AVX-512 machine
# (seed 1234, the default): IVF_FLAT 0.999, IVF_PQ m=98 (codes only) 0.874, SCANN float rerank
# 0.999, SCANN int8 rerank 0.999, SCANN no rerank 0.904, SCANN cosine int8 0.998. The floors sit
# a few points below, for other CPUs' kernels and BLAS builds.
RECALL_CASES = [
    ("IVF_FLAT,nlist=64", "l2", 0.97),
    ("IVF_PQ,nlist=64,m=98", "l2", 0.82),
    ("SCANN,nlist=64", "l2", 0.97),
    ("SCANN,nlist=64,reorder=int8", "l2", 0.97),
    ("SCANN,nlist=64,reorder=none,dims_per_block=2", "l2", 0.85),  # 392-byte codes
    ("SCANN,nlist=64,reorder=none", "l2", 0.78),  # the default 4 dims a block at d=784
    ("SCANN,nlist=64,reorder=int8", "cosine", 0.97),
]


@pytest.mark.parametrize("spec,metric,floor", RECALL_CASES)
def test_recall_against_exact(spec, metric, floor, base, queries, truth_l2, truth_cosine):
    _, truth = truth_l2 if metric == "l2" else truth_cosine
    ix = build(spec, base, metric)
    assert ix.is_trained and ix.ntotal == NBASE and len(ix) == NBASE
    assert ix.kind == spec.split(",")[0] and ix.metric == metric and ix.dim == DIM
    dist, ids = ix.search(queries, K, nprobe=8)
    assert dist.dtype == np.float32 and ids.dtype == np.int64
    assert dist.shape == ids.shape == (NQUERY, K)
    r = recall(ids, truth)
    assert r >= floor, f"{spec} {metric}: recall@10 {r:.3f} < {floor}"
    # Best first: ascending squared L2, descending similarity.
    steps = np.diff(dist, axis=1)
    assert (steps >= 0).all() if metric == "l2" else (steps <= 0).all()


def test_ivf_flat_scanning_every_list_is_exact(base, queries, truth_l2):
    ix = build("IVF_FLAT,nlist=64", base)
    _, ids = ix.search(queries, K, nprobe=64)
    assert recall(ids, truth_l2[1]) == 1.0
    # Fewer lists, fewer true neighbours: the knob reaches the library.
    _, few = ix.search(queries, K, nprobe=1)
    assert recall(few, truth_l2[1]) < 0.95


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_flat_equals_numpy(metric, base, queries):
    ix = pyscann.Index("FLAT", dim=DIM, metric=metric)
    ix.train(base)  # a no-op for FLAT, but allowed
    ix.add(base)
    dist, ids = ix.search(queries, K)
    want_dist, want_ids = exact_knn(queries, base, metric)
    # Measured: ids identical on all 2,000 slots; distances within 5e-5 (float32 vs float64).
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(dist, want_dist, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_range_search_matches_numpy(metric, base, queries):
    ix = build("IVF_FLAT,nlist=16", base, metric=metric)
    scores = exact_scores(queries[:20], base, metric)
    # The radius between the 40th and 41st neighbour of the first query.
    first = np.sort(scores[0] if metric == "l2" else -scores[0])[39:41]
    radius = float(first.mean()) if metric == "l2" else -float(first.mean())
    lims, dist, ids = ix.range_search(queries[:20], radius, nprobe=16)
    assert lims.dtype == np.int64 and dist.dtype == np.float32 and ids.dtype == np.int64
    assert lims.shape == (21,) and lims[0] == 0 and lims[-1] == len(ids) == len(dist)
    assert lims[1] == 40
    for i in range(20):
        got = ids[lims[i]:lims[i + 1]]
        want = np.flatnonzero(scores[i] < radius if metric == "l2" else scores[i] > radius)
        assert sorted(got) == sorted(want)
        d = dist[lims[i]:lims[i + 1]]
        assert np.all(np.diff(d) >= 0) if metric == "l2" else np.all(np.diff(d) <= 0)
    # A filter applies; a 1-D query is one row; NaN is refused.
    lims_f, _, ids_f = ix.range_search(queries[0], radius, nprobe=16, filter=np.arange(0, NBASE, 2))
    assert lims_f.shape == (2,) and np.all(ids_f % 2 == 0)
    assert set(ids_f) == {i for i in ids[:lims[1]] if i % 2 == 0}
    with pytest.raises(ValueError):
        ix.range_search(queries[:2], float("nan"))


def test_custom_ids_are_returned(base, queries):
    offset = 10**12
    ix = pyscann.Index("FLAT", dim=DIM)
    ix.add(base, ids=np.arange(NBASE, dtype=np.int64) + offset)
    plain = pyscann.Index("FLAT", dim=DIM)
    plain.add(base)
    _, got = ix.search(queries, K)
    _, want = plain.search(queries, K)
    np.testing.assert_array_equal(got, want + offset)
    # ids as a list of Python ints and as int32 convert.
    ix2 = pyscann.Index("FLAT", dim=DIM)
    ix2.add(base[:3], ids=[7, 8, 9])
    ix2.add(base[3:6], ids=np.array([1, 2, 3], dtype=np.int32))
    _, got = ix2.search(base[:6], 1)
    assert got[:, 0].tolist() == [7, 8, 9, 1, 2, 3]


def test_keyword_params_override_spec(base):
    ix = pyscann.Index("SCANN,nlist=32,reorder=float", dim=DIM, nlist=64, nprobe=4,
                       reorder="int8", aq_threshold=0.3, threads=2)
    d = ix.describe()
    assert "nlist=64" in d and "nprobe=4" in d and "reorder=int8" in d and "aq_threshold=0.3" in d
    assert ix.threads == 2
    assert pyscann.build_spec("IVF_PQ", nlist=8, m=None) == "IVF_PQ,nlist=8"
    assert "m=49" in pyscann.Index("IVF_PQ", dim=DIM, m=49).describe()
    assert pyscann.Index("FLAT", dim=4, metric="angular").metric == "cosine"
    assert pyscann.Index("FLAT", dim=4, metric="euclidean").metric == "l2"
    with pytest.raises(TypeError):
        pyscann.Index("FLAT", dim=4, nlsit=3)
    with pytest.raises(TypeError):
        pyscann.Index("FLAT")  # no dim
    with pytest.raises(ValueError, match="unknown index kind"):
        pyscann.Index("HNSW", dim=4)
    with pytest.raises(ValueError, match="metric"):
        pyscann.Index("FLAT", dim=4, metric="hamming")
    with pytest.raises(ValueError):
        pyscann.Index("SCANN", dim=4, reorder="fp8")


def test_properties(base):
    ix = build("SCANN,nlist=16,reorder=float", base[:1000])
    assert ix.kernel in ("scalar", "avx2", "avx512", "avx512icl", "neon")
    # The float rerank copy alone is 1000 * 784 * 4 bytes; the default at d = 784, int8, needs
    # about a quarter of that.
    assert ix.memory_bytes > 1000 * DIM * 4
    assert build("SCANN,nlist=16", base[:1000]).memory_bytes < 1000 * DIM * 2
    assert repr(ix).startswith("pyscann.Index('SCANN,nlist=16")
    assert isinstance(ix, pyscann._pyscann.Index)


# ---- arrays: dtypes, shapes, copies ---------------------------------------------------------

def test_float64_and_integer_input_are_converted(raw, base, queries):
    ix = pyscann.Index("FLAT", dim=DIM)
    ix.add(base)
    want = ix.search(queries, K)
    for q in (queries.astype(np.float64), queries.astype(np.float16).astype(np.float64)):
        np.testing.assert_array_equal(ix.search(q, K)[1][:, :3], want[1][:, :3])
    np.testing.assert_array_equal(ix.search(queries.astype(np.float64), K)[0], want[0])
    # Integers (here Fashion-MNIST's raw uint8 pixels) are converted to float32, not rejected.
    ints = pyscann.Index("FLAT", dim=DIM)
    ints.add(raw[:NBASE])
    floats = pyscann.Index("FLAT", dim=DIM)
    floats.add(raw[:NBASE].astype(np.float32))
    for a, b in zip(ints.search(raw[NBASE:].astype(np.int64), K),
                    floats.search(raw[NBASE:].astype(np.float32), K)):
        np.testing.assert_array_equal(a, b)
    # Nested lists work too.
    small = pyscann.Index("FLAT", dim=2)
    small.add([[0.0, 0.0], [1.0, 1.0]])
    assert small.search([0.9, 0.8], 1)[1].tolist() == [[1]]


def test_strided_and_fortran_input_give_the_same_answer(base, queries):
    ix = pyscann.Index("FLAT", dim=DIM)
    ix.add(base)
    want_d, want_i = ix.search(queries, K)
    for q in (np.asfortranarray(queries), np.repeat(queries, 2, axis=0)[::2],
              np.hstack([queries, queries])[:, :DIM]):
        assert not q.flags.c_contiguous
        d, i = ix.search(q, K)
        np.testing.assert_array_equal(i, want_i)
        np.testing.assert_array_equal(d, want_d)
    # Strided base vectors are stored correctly too.
    ix2 = pyscann.Index("FLAT", dim=DIM)
    ix2.add(np.asfortranarray(base))
    np.testing.assert_array_equal(ix2.search(queries, K)[1], want_i)


def test_float32_c_contiguous_input_is_not_copied(base):
    """numpy reports its buffers to tracemalloc: a copy of the queries would show in the peak."""
    ix = pyscann.Index("FLAT", dim=DIM)
    ix.add(base[:50])
    q32 = np.random.default_rng(1).random((20000, DIM), dtype=np.float32)  # 62.7 MB
    q64 = q32.astype(np.float64)
    tracemalloc.start()
    try:
        ix.search(q32, 1)
        _, peak32 = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        ix.search(q64, 1)
        _, peak64 = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Measured: 240 kB (the two result arrays) for float32, 62.7 MB (the converted copy) for
    # float64.
    assert peak32 < q32.nbytes / 20, f"float32 search allocated {peak32} bytes"
    assert peak64 >= q32.nbytes, "the float64 conversion should have shown up"


def test_one_dimensional_query_is_one_row(base, queries):
    ix = pyscann.Index("FLAT", dim=DIM)
    ix.add(base)
    d, i = ix.search(queries[3], K)
    assert d.shape == i.shape == (1, K)
    np.testing.assert_array_equal(i[0], ix.search(queries[3:4], K)[1][0])


@pytest.mark.parametrize("bad", [
    np.zeros((3, DIM), dtype=bool),
    np.zeros((3, DIM), dtype=np.complex64),
    np.array([["a"] * DIM] * 3),
    np.array([[object()] * DIM] * 3, dtype=object),
])
def test_non_numeric_dtypes_are_rejected(bad, base):
    ix = pyscann.Index("FLAT", dim=DIM)
    ix.add(base[:10])
    for call in (lambda: ix.add(bad), lambda: ix.search(bad, 1), lambda: ix.train(bad)):
        with pytest.raises(ValueError, match="dtype"):
            call()
    assert ix.ntotal == 10


def test_shape_errors(base):
    ix = pyscann.Index("FLAT", dim=DIM)
    ix.add(base[:10])
    with pytest.raises(pyscann.DimensionError, match="dimension 783, the index has 784"):
        ix.search(base[:2, :783], 1)
    with pytest.raises(ValueError):
        ix.add(base[:2, :100])
    with pytest.raises(ValueError, match="2-D"):
        ix.search(base[:4].reshape(2, 2, DIM), 1)
    with pytest.raises(ValueError, match="2-D"):
        ix.add(base[0])  # add wants rows; only queries may be one 1-D vector
    with pytest.raises(ValueError, match="2-D"):
        ix.search(np.float32(1.0), 1)
    with pytest.raises(ValueError):
        ix.add(np.zeros((2, 0), dtype=np.float32))
    assert ix.ntotal == 10


def test_empty_inputs(base):
    ix = pyscann.Index("FLAT", dim=DIM)
    with pytest.raises(pyscann.EmptyIndexError):
        ix.search(base[:1], 1)
    ix.add(base[:0])  # adding nothing is allowed and changes nothing
    assert ix.ntotal == 0
    ix.add(base[:5])
    d, i = ix.search(base[:0], 3)
    assert d.shape == i.shape == (0, 3)
    ivf = pyscann.Index("IVF_FLAT,nlist=8", dim=DIM)
    with pytest.raises(ValueError, match="training vectors"):
        ivf.train(base[:0])


def test_library_errors_map_to_exceptions(base):
    ix = pyscann.Index("FLAT", dim=DIM)
    ix.add(base[:10])
    with pytest.raises(ValueError, match="k=11"):
        ix.search(base[:1], 11)
    with pytest.raises(ValueError, match="k=0"):
        ix.search(base[:1], 0)
    bad = base[:3].copy()
    bad[1, 5] = np.nan
    with pytest.raises(pyscann.InvalidDataError, match="NaN") as e:
        ix.add(bad)
    assert isinstance(e.value, ValueError) and isinstance(e.value, pyscann.Error)
    assert e.value.status == 3 and e.value.status_name == "SCANN_ERR_INVALID_DATA"
    assert ix.ntotal == 10  # nothing was added
    ivf = pyscann.Index("IVF_FLAT,nlist=8", dim=DIM)
    with pytest.raises(pyscann.NotTrainedError) as e:
        ivf.add(base[:10])
    assert isinstance(e.value, RuntimeError)
    with pytest.raises(RuntimeError, match="not trained"):
        ivf.search(base[:1], 1)
    with pytest.raises(ValueError, match="reorder_k"):
        ix.search(base[:1], 5, reorder_k=2)
    with pytest.raises(ValueError, match="negative"):
        ix.search(base[:1], 1, nprobe=-1)
    with pytest.raises(TypeError):
        ix.search(base[:1], "3")
    with pytest.raises(RuntimeError, match="not initialised"):
        pyscann.Index.__new__(pyscann.Index).search(base[:1], 1)
    assert issubclass(pyscann.OutOfMemoryError, MemoryError)
    assert issubclass(pyscann.FileError, OSError)
    assert issubclass(pyscann.FormatError, ValueError)


def test_ids_errors(base):
    ix = pyscann.Index("FLAT", dim=DIM)
    with pytest.raises(ValueError, match="1-D array of 3 ids"):
        ix.add(base[:3], ids=[1, 2])
    with pytest.raises(ValueError, match="1-D array of 3 ids"):
        ix.add(base[:3], ids=np.zeros((3, 1), dtype=np.int64))
    with pytest.raises(ValueError, match="integers"):
        ix.add(base[:3], ids=np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="negative"):
        ix.add(base[:3], ids=[1, -2, 3])
    assert ix.ntotal == 0


# ---- threads ---------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", ["FLAT", "IVF_PQ,nlist=64,m=98", "SCANN,nlist=64,reorder=int8"])
def test_concurrent_searches_match_sequential(spec, base, queries):
    ix = build(spec, base)
    chunks = np.array_split(queries, 8)
    want = [ix.search(c, K, nprobe=8, threads=1) for c in chunks]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            got = list(pool.map(lambda c: ix.search(c, K, nprobe=8, threads=1), chunks))
            for (wd, wi), (gd, gi) in zip(want, got):
                np.testing.assert_array_equal(gi, wi)
                np.testing.assert_array_equal(gd, wd)
    # The library's own threads give the same answer as one thread.
    d, i = ix.search(queries, K, nprobe=8, threads=2)
    np.testing.assert_array_equal(i, np.vstack([w[1] for w in want]))


def test_add_waits_for_concurrent_searches(base, queries):
    """scann.h forbids add during a search; the binding serialises them instead of crashing.

    Every search that overlaps the adds must return exactly what a sequential search returns
    on the index after some whole number of adds: never a half-added batch.
    """
    step, q = 100, queries[:20]
    ix = pyscann.Index("IVF_FLAT,nlist=16", dim=DIM, threads=1)
    ix.train(base)
    ix.add(base[:step])
    snapshots = {}  # ntotal -> ids a sequential search returns at that size
    ref = pyscann.Index("IVF_FLAT,nlist=16", dim=DIM, threads=1)
    ref.train(base)
    for n in range(step, NBASE + 1, step):
        ref.add(base[n - step:n])
        snapshots[n] = ref.search(q, K, nprobe=16)[1]
    stop = threading.Event()
    seen, errors = [], []

    def searcher():
        while not stop.is_set():
            try:
                seen.append(ix.search(q, K, nprobe=16)[1])
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)
                return

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for t in threads:
        t.start()
    while len(seen) < 3 and not errors:  # the searchers are running before the first add
        time.sleep(0.001)
    for start in range(step, NBASE, step):
        ix.add(base[start:start + step])
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors
    assert ix.ntotal == NBASE
    torn = [ids for ids in seen
            if not any(np.array_equal(ids, snap) for snap in snapshots.values())]
    assert not torn, f"{len(torn)} of {len(seen)} searches saw a half-finished add"
    np.testing.assert_array_equal(ix.search(q, K, nprobe=16)[1], snapshots[NBASE])


def test_search_releases_the_gil(base):
    """Another Python thread keeps running while a long search is inside the library."""
    ix = pyscann.Index("FLAT", dim=DIM, threads=1)
    ix.add(base)
    q = np.tile(base[:500], (4, 1))  # 2,000 queries: a few tenths of a second on one core
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=ticker)
    t.start()
    time.sleep(0.01)
    t0 = time.perf_counter()
    ix.search(q, K)
    t1 = time.perf_counter()
    stop.set()
    t.join()
    lo, hi = t0 + (t1 - t0) * 0.25, t1 - (t1 - t0) * 0.25
    inside = [x for x in ticks if lo < x < hi]
    assert t1 - t0 > 0.02, "search too fast to tell"
    assert len(inside) >= 3, f"{len(inside)} ticks during {t1 - t0:.3f} s of search"


def test_threads_property(base, queries):
    ix = build("SCANN,nlist=32", base, threads=2)
    assert ix.threads == 2
    want = ix.search(queries, K)
    ix.threads = 1
    assert ix.threads == 1
    for a, b in zip(ix.search(queries, K), want):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError):
        ix.threads = -1
    assert ix.threads == 1


def test_keyboard_interrupt_cancels_a_long_add():
    """A signal handler that raises, run from the progress hook, cancels IVF_FLAT's add."""
    x = np.random.default_rng(2).standard_normal((1_000_000, 16), dtype=np.float32)
    ix = pyscann.Index("IVF_FLAT,nlist=1024", dim=16, threads=1)
    ix.train(x[:50_000])

    class Stop(Exception):
        pass

    armed = [True]

    def handler(signum, frame):
        if armed[0]:
            raise Stop()

    old = signal.signal(signal.SIGUSR1, handler)
    timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR1))
    try:
        timer.start()
        try:
            ix.add(x)  # measured: 0.85 s uncancelled, on one core
        except Stop:
            # A cancelled call leaves the index as it was (an add that ran to the end and
            # raised afterwards would have stored the million rows).
            assert ix.ntotal == 0
            return
        finally:
            armed[0] = False
            timer.join()
    finally:
        signal.signal(signal.SIGUSR1, old)
    pytest.skip("the add finished before the signal arrived")


def test_blas_helper():
    if pyscann.set_blas_single_thread():
        assert pyscann.blas_num_threads() == 1
    else:
        assert pyscann.blas_num_threads() is None


# ---- persistence -----------------------------------------------------------------------------

@pytest.mark.parametrize("spec", ["FLAT", "IVF_FLAT,nlist=32", "IVF_PQ,nlist=32,m=98",
                                  "SCANN,nlist=32,reorder=int8"])
def test_save_load_round_trip(spec, base, queries, tmp_path):
    ix = build(spec, base, metric="cosine")
    want = ix.search(queries, K, nprobe=8)
    path = tmp_path / "index.scann"
    ix.save(path)  # os.PathLike is accepted, str too
    for loaded in (pyscann.Index.load(str(path)), pyscann.Index.load(path, mmap=True),
                   pyscann.Index.from_bytes(ix.to_bytes())):
        assert type(loaded) is pyscann.Index
        assert (loaded.kind, loaded.metric, loaded.dim, loaded.ntotal) == \
            (ix.kind, "cosine", DIM, NBASE)
        assert loaded.describe() == ix.describe()
        for a, b in zip(loaded.search(queries, K, nprobe=8), want):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(pyscann.UnsupportedError):
        pyscann.Index.load(path, mmap=True).add(base[:1])
    copy = pickle.loads(pickle.dumps(ix))
    np.testing.assert_array_equal(copy.search(queries, K, nprobe=8)[1], want[1])


def test_load_errors(tmp_path):
    with pytest.raises(OSError):
        pyscann.Index.load(tmp_path / "missing.scann")
    junk = tmp_path / "junk.scann"
    junk.write_bytes(b"not an index at all" * 10)
    with pytest.raises(pyscann.FormatError):
        pyscann.Index.load(junk)
    with pytest.raises(ValueError):
        pyscann.Index.from_bytes(b"")
    ix = pyscann.Index("FLAT", dim=4)
    ix.add(np.eye(4, dtype=np.float32))
    with pytest.raises(OSError):
        ix.save(tmp_path / "no" / "such" / "dir" / "x.scann")


# ---- ann-benchmarks wrapper -------------------------------------------------------------------

def test_annb_wrapper_end_to_end(base, queries, truth_l2):
    algo = PyScann("euclidean", "SCANN,nlist=64,reorder=int8")
    assert algo.get_memory_usage() == 0
    algo.fit(base)
    assert algo.get_memory_usage() * 1024 == algo._index.memory_bytes > 0
    algo.set_query_arguments(8, 100)
    assert "nprobe=8" in str(algo) and "reorder_k=100" in str(algo) and "SCANN" in str(algo)
    single = [algo.query(q, K) for q in queries]
    # Same floor as the SCANN int8 case above (measured 0.999 at nprobe=8).
    assert recall(single, truth_l2[1]) >= 0.97
    algo.batch_query(queries, K)
    batch = algo.get_batch_results()
    assert len(batch) == NQUERY
    for a, b in zip(batch, single):
        np.testing.assert_array_equal(a, b)
    # n larger than the index, and reorder_k smaller than n, are clamped rather than errors.
    algo.set_query_arguments(1, 5)
    assert len(algo.query(queries[0], 20)) == 20
    algo.done()


def test_annb_metrics_and_dict_params(base, truth_cosine, queries):
    algo = PyScann("angular", {"spec": "IVF_FLAT", "nlist": 32})
    algo.fit(base)
    assert algo._index.metric == "cosine" and "nlist=32" in str(algo)
    algo.set_query_arguments(nprobe=32)
    algo.batch_query(queries, K)
    assert recall(algo.get_batch_results(), truth_cosine[1]) == 1.0
    assert PyScann("dot", "FLAT")._metric == "ip"
    with pytest.raises(ValueError, match="hamming"):
        PyScann("hamming")


@pytest.mark.parametrize("spec", ["FLAT", "IVF_FLAT,nlist=16", "SCANN,nlist=16,dims_per_block=4"])
def test_remove_and_upsert(spec, base):
    index = pyscann.Index(spec, dim=base.shape[1], metric="l2", threads=2)
    index.train(base)
    ids = np.arange(1000, 1000 + len(base), dtype=np.int64)
    index.add(base, ids=ids)
    gone = ids[::4]
    assert index.remove(gone) == len(gone)
    assert index.remove(np.array([5], dtype=np.int64)) == 0  # not in the index
    assert index.ntotal == len(base) - len(gone)
    _, found = index.search(base[:40], 1, nprobe=16, reorder_k=50)
    for row in range(40):
        if row % 4 == 0:
            assert found[row, 0] != 1000 + row  # removed ids never come back
        else:
            assert found[row, 0] == 1000 + row
    # Upsert: id 1001 now holds row 7's vector.
    index.add(base[7:8], ids=np.array([1001], dtype=np.int64))
    assert index.ntotal == len(base) - len(gone)
    with pytest.raises(ValueError):
        index.remove(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(ValueError):
        index.add(base[:2], ids=np.array([9, 9], dtype=np.int64))  # repeated in one call


# ---- metric names ----------------------------------------------------------------------------

@pytest.mark.parametrize("name,canonical", [
    ("l2", "l2"), ("L2", "l2"), ("squared_l2", "l2"), ("Euclidean", "l2"),
    ("ip", "ip"), ("IP", "ip"), ("dot_product", "ip"), ("Inner_Product", "ip"), ("dot", "ip"),
    ("cosine", "cosine"), ("COSINE", "cosine"), ("angular", "cosine"),
])
def test_metric_names_are_case_insensitive(name, canonical):
    assert pyscann.Index("FLAT", dim=4, metric=name).metric == canonical
    assert pyscann.METRICS[name.lower()] == canonical


@pytest.mark.parametrize("bad", [0, 1, 2, True, False, 1.0, None, b"l2"])
def test_metric_numbers_are_refused(bad):
    # faiss.METRIC_INNER_PRODUCT == 0 == our old enum value for l2: it must not be accepted.
    with pytest.raises(TypeError, match="metric must be a name"):
        pyscann.Index("FLAT", dim=4, metric=bad)
    with pytest.raises(TypeError, match="metric must be a name"):
        pyscann._pyscann.Index("FLAT", 4, bad)


def test_metric_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match="'hamming' is not supported.*dot_product"):
        pyscann.Index("FLAT", dim=4, metric="hamming")
    with pytest.raises(ValueError):
        pyscann.Index("FLAT", dim=4, metric="l2 ")  # no trimming: exact names only


# ---- remove ----------------------------------------------------------------------------------

@pytest.mark.parametrize("empty", [[], (), np.array([]), np.array([], dtype=np.int32),
                                   np.array([], dtype=np.uint64), np.array([], dtype=object)])
def test_remove_nothing_returns_zero(empty, base):
    ix = pyscann.Index("FLAT", dim=DIM)
    ix.add(base[:5])
    assert ix.remove(empty) == 0
    assert ix.ntotal == 5


def test_remove_errors_name_remove(base):
    ix = pyscann.Index("FLAT", dim=DIM)
    ix.add(base[:5])
    with pytest.raises(ValueError, match="^remove: ids have dtype float64"):
        ix.remove([1.0, 2.0])
    with pytest.raises(ValueError, match="^remove: ids must be a 1-D array"):
        ix.remove([[1, 2]])
    with pytest.raises(ValueError, match="^remove: ids must be a 1-D array"):
        ix.remove(3)
    assert ix.remove([1, 3]) == 2 and ix.ntotal == 3


# ---- close and with ---------------------------------------------------------------------------

def test_with_block_closes_the_index(base):
    with pyscann.Index("FLAT", dim=DIM) as ix:
        assert not ix.closed
        ix.add(base[:5])
        assert ix.search(base[:1], 1)[1][0, 0] == 0
    assert ix.closed and repr(ix) == "pyscann.Index(<closed>)"
    for use in (lambda: ix.search(base[:1], 1), lambda: ix.add(base[:1]), lambda: ix.ntotal,
                lambda: ix.dim, lambda: ix.describe(), lambda: ix.remove([1]),
                lambda: ix.to_bytes(), lambda: len(ix)):
        with pytest.raises(RuntimeError, match="closed"):
            use()
    ix.close()  # a second close does nothing
    with pytest.raises(RuntimeError, match="closed"):
        with ix:
            pass


def test_with_block_closes_on_exception_and_keeps_it(base):
    with pytest.raises(KeyError):
        with pyscann.Index("FLAT", dim=DIM) as ix:
            raise KeyError("inside")
    assert ix.closed


def test_close_waits_for_running_searches(base, queries):
    ix = pyscann.Index("FLAT", dim=DIM, threads=1)
    ix.add(base)
    many = np.tile(queries, (10, 1))
    with ThreadPoolExecutor(2) as pool:
        running = pool.submit(ix.search, many, K)
        time.sleep(0.01)
        ix.close()
        _, ids = running.result()  # finished on a live index, not a freed one
    assert ids.shape == (len(many), K) and (ids >= 0).all()
    assert ix.closed


# ---- filtered search --------------------------------------------------------------------------

def filtered_truth(q, x, allowed_mask, metric="l2", k=K):
    s = exact_scores(q, x, metric)
    s = np.where(allowed_mask[None, :], s, np.inf if metric == "l2" else -np.inf)
    order = np.argsort(s if metric == "l2" else -s, axis=1, kind="stable")[:, :k]
    return order


@pytest.fixture(scope="module")
def allowed_mask():
    return np.random.default_rng(7).random(NBASE) < 0.3


def filter_forms(mask):
    ids = np.flatnonzero(mask)
    words = np.zeros((len(mask) + 63) // 64, dtype=np.uint64)
    for i in ids:
        words[i // 64] |= np.uint64(1) << np.uint64(i % 64)
    allowed = set(ids.tolist())
    return {
        "id list": ids.tolist(),
        "int64 ids": ids.astype(np.int64),
        "int32 ids": ids.astype(np.int32)[::-1],  # order does not matter
        "bool mask": mask,
        "uint8 bitset": np.packbits(mask, bitorder="little"),
        "uint64 bitset": words,
        "callable": lambda i: i in allowed,
    }


@pytest.mark.parametrize("form", list(filter_forms(np.zeros(1, bool))))
@pytest.mark.parametrize("threads", [1, 2])
def test_filter_forms_equal_brute_force(form, threads, base, queries, allowed_mask):
    ix = pyscann.Index("FLAT", dim=DIM, threads=threads)
    ix.add(base)
    f = filter_forms(allowed_mask)[form]
    _, ids = ix.search(queries[:50], K, filter=f)
    np.testing.assert_array_equal(ids, filtered_truth(queries[:50], base, allowed_mask))


@pytest.mark.parametrize("form", ["int64 ids", "uint8 bitset", "callable"])
def test_filter_on_scann_returns_only_allowed_ids(form, base, queries, allowed_mask):
    ix = build("SCANN,nlist=64,reorder=int8", base, threads=2)
    _, ids = ix.search(queries, K, nprobe=8, filter=filter_forms(allowed_mask)[form])
    assert allowed_mask[ids].all()  # no -1 either: 1,500 allowed vectors exist
    assert recall(ids, filtered_truth(queries, base, allowed_mask)) >= 0.95


def test_filter_with_large_sparse_ids(base, queries):
    offset = 10**12  # too large for a bitset: the binding keeps a sorted copy
    ix = pyscann.Index("FLAT", dim=DIM)
    ix.add(base, ids=np.arange(NBASE, dtype=np.int64) + offset)
    mask = np.zeros(NBASE, bool)
    mask[::7] = True
    _, ids = ix.search(queries[:20], K, filter=list(np.flatnonzero(mask) + offset))
    np.testing.assert_array_equal(ids - offset, filtered_truth(queries[:20], base, mask))


def test_filter_edge_cases(base):
    ix = pyscann.Index("FLAT", dim=DIM)
    ix.add(base[:100])
    _, ids = ix.search(base[:2], 3, filter=[])
    assert (ids == -1).all()  # nothing allowed, not "no filter"
    _, ids = ix.search(base[:2], 3, filter=[5])
    assert ids[:, 0].tolist() == [5, 5] and (ids[:, 1:] == -1).all()
    _, ids = ix.search(base[:2], 3, filter=np.array([], dtype=np.uint64))
    assert (ids == -1).all()
    with pytest.raises(ValueError, match="negative"):
        ix.search(base[:1], 1, filter=[-1])
    with pytest.raises(ValueError, match="dtype float64"):
        ix.search(base[:1], 1, filter=[1.5])
    with pytest.raises(ValueError, match="1-D"):
        ix.search(base[:1], 1, filter=np.zeros((2, 2), dtype=np.int64))


@pytest.mark.parametrize("threads", [1, 2])
def test_filter_callable_exceptions_propagate(threads, base):
    ix = pyscann.Index("FLAT", dim=DIM, threads=threads)
    ix.add(base[:500])
    calls = []

    def bad(i):
        calls.append(i)
        raise KeyError(f"no verdict for {i}")

    with pytest.raises(KeyError, match="no verdict"):
        ix.search(base[:20], 5, filter=bad)
    assert len(calls) == 1  # Python is not called again once it failed

    class NoBool:
        def __bool__(self):
            raise ZeroDivisionError("truth")

    with pytest.raises(ZeroDivisionError):
        ix.search(base[:2], 5, filter=lambda i: NoBool())
    # The index still works afterwards.
    assert ix.search(base[:1], 1)[1][0, 0] == 0


def test_filter_callable_cannot_reenter_the_index(base):
    ix = pyscann.Index("FLAT", dim=DIM)
    ix.add(base[:50])
    with pytest.raises(RuntimeError, match="cannot use the index it is filtering"):
        ix.search(base[:1], 1, filter=lambda i: ix.ntotal > 0)
    other = pyscann.Index("FLAT", dim=DIM)
    other.add(base[:50])
    # Another index may be used from the callable.
    _, ids = ix.search(base[:1], 1, filter=lambda i: other.search(base[i:i + 1], 1)[1][0, 0] == i)
    assert ids[0, 0] == 0


# ---- reconstruct --------------------------------------------------------------------------

def test_reconstruct_returns_the_stored_vectors(base):
    ix = pyscann.Index("FLAT", dim=DIM)
    ix.add(base[:100], ids=np.arange(100, dtype=np.int64) + 1000)
    got = ix.reconstruct([1005, 1000])
    assert got.dtype == np.float32 and got.shape == (2, DIM)
    np.testing.assert_array_equal(got, base[[5, 0]])
    assert ix.reconstruct([]).shape == (0, DIM)
    with pytest.raises(ValueError, match="^reconstruct: ids"):
        ix.reconstruct([[1]])
    with pytest.raises(ValueError, match="not in the index"):
        ix.reconstruct([7])


@pytest.mark.parametrize("spec,exact", [("IVF_FLAT,nlist=8", True),
                                        ("SCANN,nlist=8,reorder=float", True),
                                        ("SCANN,nlist=8", False),  # int8 at d = 784
                                        ("SCANN,nlist=8,reorder=int8", False),
                                        ("SCANN,nlist=8,reorder=none", False),
                                        ("IVF_PQ,nlist=8,m=16", False)])
def test_reconstruct_every_kind(base, spec, exact):
    ix = pyscann.Index(spec, dim=DIM, metric="l2")
    ix.train(base[:1000])
    ix.add(base[:1000])
    got = ix.reconstruct(np.array([3, 999, 0]))
    want = base[[3, 999, 0]]
    if exact:
        np.testing.assert_array_equal(got, want)
    else:  # an approximation: much closer to the vector than the vectors are to each other
        err = np.linalg.norm(got - want, axis=1)
        spread = np.linalg.norm(want - base[[500, 501, 502]], axis=1)
        assert (err < 0.5 * spread).all(), (err, spread)
