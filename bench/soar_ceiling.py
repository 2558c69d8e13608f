#!/usr/bin/python3
"""soar_ceiling.py - what SOAR spilling (Sun et al., NeurIPS 2023) could buy on a data set,
before building it: the partition-recall ceiling per codes scanned, with and without a second
list per vector.

    /usr/bin/python3 bench/soar_ceiling.py data/debian-sift-1m l2 [--nlist N] [--lam 1]

For each query of the first --queries (default 2000), a true top-10 neighbour counts as
reachable at nprobe when a list holding it is among the query's nprobe nearest centres; the
ceiling is the mean reachable fraction, which no rerank depth can exceed. Plain IVF stores each
vector in its nearest list; SOAR also in c2 = argmin_c ||x - c||^2 + lam * <r / ||r||, x - c>^2
(r = x - c1, c != c1), which makes the spilled residual nearly orthogonal to the first. The
"scanned" columns are the codes a query reads at that nprobe (SOAR's lists hold two entries per
vector). Compare the ceilings at equal scanned, not at equal nprobe: that is the work a search
pays. Centres: k-means on a 100k sample, 10 Lloyd rounds, seed 1 (numpy only; the library's
own partitions differ a little, the comparison does not depend on them).
"""
import argparse
import os

import numpy as np


def fvecs(path):
    a = np.fromfile(path, dtype=np.int32)
    return a.reshape(-1, a[0] + 1)[:, 1:].view(np.float32)


def ivecs(path):
    a = np.fromfile(path, dtype=np.int32)
    return a.reshape(-1, a[0] + 1)[:, 1:]


def nearest(a, c, k):
    """Indices of the k nearest centres of each row (squared L2), best first."""
    cn = (c * c).sum(1)
    out = np.empty((len(a), k), np.int64)
    for i in range(0, len(a), 50000):
        d = cn[None, :] - 2 * a[i:i + 50000] @ c.T
        out[i:i + 50000] = d.argmin(1)[:, None] if k == 1 else np.argsort(d, axis=1)[:, :k]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("metric", choices=("l2", "cosine"))
    ap.add_argument("--nlist", type=int, default=0, help="default: about sqrt(n), as SCANN")
    ap.add_argument("--lam", type=float, default=1.0)
    ap.add_argument("--queries", type=int, default=2000)
    a = ap.parse_args()
    x = fvecs(os.path.join(a.dir, "base.fvecs"))
    q = fvecs(os.path.join(a.dir, "query.fvecs"))[:a.queries]
    gt = ivecs(os.path.join(a.dir, "gt-%s.ivecs" % a.metric))[:a.queries, :10]
    if a.metric == "cosine":
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
    nlist = a.nlist or int(np.sqrt(len(x)))
    rng = np.random.default_rng(1)
    sample = x[rng.choice(len(x), min(len(x), 100000), replace=False)]
    c = sample[rng.choice(len(sample), nlist, replace=False)].copy()
    for _ in range(10):
        own = nearest(sample, c, 1)[:, 0]
        for j in range(nlist):
            members = sample[own == j]
            if len(members):
                c[j] = members.mean(0)
    first = nearest(x, c, 1)[:, 0]
    second = np.empty(len(x), np.int64)
    cn = (c * c).sum(1)
    for i in range(0, len(x), 50000):
        xb, fb = x[i:i + 50000], first[i:i + 50000]
        r = xb - c[fb]
        r /= np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-12)
        cost = (xb * xb).sum(1)[:, None] + cn[None, :] - 2 * xb @ c.T
        cost += a.lam * ((r * xb).sum(1)[:, None] - r @ c.T) ** 2
        cost[np.arange(len(xb)), fb] = np.inf
        second[i:i + 50000] = cost.argmin(1)
    plain_sizes = np.bincount(first, minlength=nlist)
    soar_sizes = plain_sizes + np.bincount(second, minlength=nlist)
    probes = nearest(q, c, 64)
    print("%s, %d vectors, nlist %d, lambda %g, %d queries: top-10 ceiling (codes scanned)"
          % (a.dir, len(x), nlist, a.lam, len(q)))
    for nprobe in (4, 8, 12, 16, 24, 32, 48, 64):
        p = probes[:, :nprobe]
        in1 = np.stack([(p == first[gt[:, j]][:, None]).any(1) for j in range(10)], 1)
        in2 = np.stack([(p == second[gt[:, j]][:, None]).any(1) for j in range(10)], 1)
        print("nprobe %3d: plain %.4f (%7.0f) | SOAR %.4f (%7.0f)"
              % (nprobe, in1.mean(), plain_sizes[p].sum(1).mean(), (in1 | in2).mean(),
                 soar_sizes[p].sum(1).mean()))


if __name__ == "__main__":
    main()
