#!/usr/bin/python3
"""updates.py - the cost of in-place updates against plain adds, per index kind.

For each kind: build on N vectors, then time (median of R rounds) an add of B new vectors,
an upsert of B existing ids (new vectors under old ids) and a remove of B ids. The first
upsert also builds the id -> location map (one pass over the stored ids); it is reported
apart. Usage: PYTHONPATH=build/python updates.py [N] [B]; data: random unit vectors, d=100.
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
print(f"{'index':42} {'add':>8} {'first upsert':>13} {'upsert':>8} {'remove':>8} {'upsert/add':>11} {'map MB':>7}")
for spec in ["FLAT", "IVF_FLAT,nlist=1000", "IVF_PQ,nlist=1000,m=25",
             "SCANN,nlist=1000,reorder=none", "SCANN,nlist=1000"]:
    ix = pyscann.Index(spec, dim=D, metric="cosine", threads=0)
    ix.train(x[:N])
    ix.add(x[:N])
    mem0 = ix.memory_bytes
    nxt = N
    adds = []
    for r in range(R):
        adds.append(timed(lambda: ix.add(x[nxt:nxt + B], ids=np.arange(nxt, nxt + B))))
        nxt += B
    ids = lambda r: np.arange(r * 7919 % (N - B), r * 7919 % (N - B) + B, dtype=np.int64)
    first = timed(lambda: ix.add(x[nxt:nxt + B], ids=ids(100)))
    mem1 = ix.memory_bytes
    ups = [timed(lambda: ix.add(x[nxt + B:nxt + 2 * B], ids=ids(r))) for r in range(R)]
    rms = [timed(lambda: ix.remove(ids(r + 50))) for r in range(R)]
    a, u, m = (np.median(v) * 1e3 for v in (adds, ups, rms))
    print(f"{spec:42} {a:8.2f} {first * 1e3:13.1f} {u:8.2f} {m:8.2f} {u / a:11.2f} "
          f"{(mem1 - mem0) / 1e6:7.1f}", flush=True)
