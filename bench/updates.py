#!/usr/bin/python3
"""updates.py - the cost of in-place updates against plain adds, per index kind.

For each kind: build on N vectors, then time (median of R rounds) an add of B new vectors,
an upsert of B existing ids (new vectors under old ids) and a remove of B ids. The first
update by id builds the id -> location map (one pass over the stored ids); its time and memory
are reported apart. Usage: PYTHONPATH=build/python updates.py [N] [B]; data: random unit vectors, d=100.
"""
import sys
import time

import numpy as np

import pyscann

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
B = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
R = 7
D = 100
pyscann.set_blas_single_thread()
rng = np.random.default_rng(1)
x = rng.standard_normal((N + 20 * B, D), dtype=np.float32)
x /= np.linalg.norm(x, axis=1, keepdims=True)


def timed(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


print(f"{N} vectors, d={D}, batches of {B}; medians of {R} rounds, milliseconds")
print(f"{'index':42} {'add':>8} {'map build':>10} {'upsert':>8} {'remove':>8} {'upsert/add':>11} {'map MB':>7}")
for spec in ["FLAT", "IVF_FLAT,nlist=1000", "IVF_PQ,nlist=1000,m=25",
             "SCANN,nlist=1000,reorder=none", "SCANN,nlist=1000"]:
    ix = pyscann.Index(spec, dim=D, metric="cosine", threads=0)
    ix.train(x[:N])
    ix.add(x[:N])
    mem0 = ix.memory_bytes
    # The first update by id builds the id -> location map: time it and its memory apart.
    first = timed(lambda: ix.remove(np.array([N + 10 ** 9], dtype=np.int64)))
    map_mb = (ix.memory_bytes - mem0) / 1e6
    nxt = N
    adds = []
    for r in range(R):  # new vectors with automatic ids: no lookup needed
        adds.append(timed(lambda: ix.add(x[nxt:nxt + B])))
        nxt += B
    ids = lambda r: np.arange(r * 7919 % (N - B), r * 7919 % (N - B) + B, dtype=np.int64)
    ups = [timed(lambda: ix.add(x[nxt + r * B:nxt + (r + 1) * B], ids=ids(r))) for r in range(R)]
    rms = [timed(lambda: ix.remove(ids(r + 50))) for r in range(R)]
    a, u, m = (np.median(v) * 1e3 for v in (adds, ups, rms))
    print(f"{spec:42} {a:8.2f} {first * 1e3:10.1f} {u:8.2f} {m:8.2f} {u / a:11.2f} "
          f"{map_mb:7.1f}", flush=True)
