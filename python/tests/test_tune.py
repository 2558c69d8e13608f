"""test_tune.py - Index.tune end to end on Fashion-MNIST: the recall it promises holds on other
held-out queries, the choice becomes the default search and is saved with the index.

Data: the first 6,200 Fashion-MNIST training images from Debian's dataset-fashion-mnist, scaled
to [0, 1]: rows 0..4999 are the base, 5000..5599 tune, 5600..6199 check. Exact neighbours from
numpy in float64.
"""

import gzip
import os

import numpy as np
import pytest

import pyscann

FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
NBASE, NTUNE, NCHECK, DIM, K = 5000, 600, 600, 784, 10


@pytest.fixture(scope="module")
def data():
    if not os.path.exists(FASHION):
        pytest.skip(f"{FASHION} missing (apt-get install dataset-fashion-mnist)")
    rows = NBASE + NTUNE + NCHECK
    with gzip.open(FASHION) as f:
        f.read(16)
        x = np.frombuffer(f.read(rows * DIM), dtype=np.uint8).reshape(rows, DIM)
    x = x.astype(np.float32) / 255
    base, q = x[:NBASE], x[NBASE:]
    b64, q64 = base.astype(np.float64), q.astype(np.float64)
    d = (q64 * q64).sum(1)[:, None] - 2 * q64 @ b64.T + (b64 * b64).sum(1)[None, :]
    truth = np.argsort(d, axis=1, kind="stable")[:, :K]
    return base, q[:NTUNE], truth[:NTUNE], q[NTUNE:], truth[NTUNE:]


def recall(found, truth):
    return np.mean([len(set(f) & set(t)) / truth.shape[1] for f, t in zip(found, truth)])


def build(spec, base):
    ix = pyscann.Index(spec, dim=DIM)
    ix.train(base)
    ix.add(base)
    return ix


@pytest.mark.parametrize("target", [0.9, 0.95])
@pytest.mark.parametrize("how", ["truth", "base"])
def test_tune_reaches_the_target_on_held_out_queries(target, how, data):
    base, qt, tt, qc, tc = data
    ix = build("SCANN,nlist=64,dims_per_block=4", base)
    kw = {"truth": tt} if how == "truth" else {"base": base}
    r = ix.tune(qt, target, k=K, **kw)
    assert r["met"] is True
    assert r["recall"] >= target and r["qps"] > 0 and r["searches"] >= len(r["curve"])
    assert 1 <= r["nprobe"] < 64 and r["reorder_k"] >= K
    chosen = [p for p in r["curve"] if (p["nprobe"], p["reorder_k"]) == (r["nprobe"],
                                                                       r["reorder_k"])]
    assert len(chosen) == 1 and chosen[0]["recall"] == r["recall"]
    # The default search is now the chosen setting, and it holds on queries not tuned on
    # (600 queries: a few hundredths of noise).
    _, ids = ix.search(qc, K)
    _, want = ix.search(qc, K, nprobe=r["nprobe"], reorder_k=r["reorder_k"])
    np.testing.assert_array_equal(ids, want)
    assert recall(ids, tc) >= target - 0.03
    assert f"nprobe={r['nprobe']},reorder_k={r['reorder_k']}" in ix.describe()
    # Saved with the index.
    back = pyscann.Index.from_bytes(ix.to_bytes())
    assert back.describe() == ix.describe()
    np.testing.assert_array_equal(back.search(qc, K)[1], ids)


def test_tune_ivf_flat_needs_no_truth_and_dry_run_changes_nothing(data):
    base, qt, _, qc, tc = data
    ix = build("IVF_FLAT,nlist=64", base)
    before = ix.describe()
    r = ix.tune(qt, 0.95, dry_run=True, threads=1)
    assert r["met"] and ix.describe() == before
    r = ix.tune(qt, 0.95)
    assert ix.describe() == before.replace("nlist=64", f"nlist=64,nprobe={r['nprobe']}")
    assert recall(ix.search(qc, K)[1], tc) >= 0.92


def test_tune_unreachable_target(data):
    base, qt, tt, _, _ = data
    ix = build("SCANN,nlist=16,dims_per_block=4,reorder=none", base)
    before = ix.describe()
    r = ix.tune(qt, 1.0, truth=tt)
    assert r["met"] is False and r["recall"] < 1.0 and ix.describe() == before


def test_tune_errors(data):
    base, qt, tt, _, _ = data
    ix = build("SCANN,nlist=16,dims_per_block=4", base)
    with pytest.raises(pyscann.InvalidArgumentError, match="target_recall"):
        ix.tune(qt, 1.5, truth=tt)
    with pytest.raises(pyscann.InvalidArgumentError, match="truth"):
        ix.tune(qt, 0.9)                      # SCANN has no exact search of its own
    with pytest.raises(pyscann.DimensionError):
        ix.tune(qt[:, :100], 0.9, truth=tt)
    with pytest.raises(ValueError, match="nq=0"):
        ix.tune(qt[:0], 0.9, base=base)
    with pytest.raises(ValueError, match="truth"):
        ix.tune(qt, 0.9, truth=tt[:5])
    with pytest.raises(ValueError, match="not both"):
        ix.tune(qt, 0.9, truth=tt, base=base)
    with pytest.raises(ValueError, match="truth_stride"):
        ix.tune(qt, 0.9, k=20, truth=tt)
    flat = build("FLAT", base)
    with pytest.raises(pyscann.UnsupportedError, match="FLAT"):
        flat.tune(qt, 0.9, base=base)


def test_reorder_k_is_a_spec_key():
    ix = pyscann.Index("SCANN,nlist=16", dim=DIM, reorder_k=40, nprobe=4)
    assert "nprobe=4,reorder_k=40" in ix.describe()
    assert "reorder_k" in pyscann.SPEC_KEYS
