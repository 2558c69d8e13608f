"""plot.py - the recall / QPS chart of benchmark CSVs, drawn the way ann-benchmarks draws it.

    python3 -m pyscann.plot OUT.png CSV... [--by family|label] [--title TEXT]

Reads the CSVs `scann bench --csv` and `scann-peers` write (columns index, params, build_s,
memory_bytes, recall, qps, p50_ms, p99_ms) and draws recall on x against queries per second on a
log y axis, one line per family: the Pareto frontier of all of that family's rows, i.e. the
points no other row of the family beats on both recall and QPS. Up and to the right is better.

A family is the algorithm, not one build: our rows are grouped by index kind (every
"SCANN,..." row is SCANN), hnswlib rows by "hnsw", faiss rows by their factory string without
the sizes ("faiss:IVF256,PQ196x4fs,RFlat" -> "faiss IVF,PQx4fs,RFlat"), plus the SIMD level of
the faiss that scann-peers linked when its label names one ("faiss IVF256,Flat [1.15.0 02dbb4e,
AVX512]" -> "faiss IVF,Flat AVX512"), so two faiss builds in one chart stay two lines.
--by label draws one line per index column value instead.

Pure Python plus matplotlib (Agg, no display needed): it does not import the compiled extension,
so scripts/bench.sh runs it from the source tree (PYTHONPATH=python) after a plain `make`.
"""

import argparse
import csv
import re
import sys

COLUMNS = ("index", "params", "build_s", "memory_bytes", "recall", "qps", "p50_ms", "p99_ms")


def read_rows(paths):
    """Rows of every CSV as dicts, recall and qps as floats. Raises ValueError on a bad file."""
    rows = []
    for path in paths:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in ("index", "params", "recall", "qps")
                       if c not in (reader.fieldnames or ())]
            if missing:
                raise ValueError(f"{path}: not a benchmark CSV (missing columns "
                                 f"{', '.join(missing)}; expected {','.join(COLUMNS)})")
            for line, row in enumerate(reader, start=2):
                try:
                    row["recall"] = float(row["recall"])
                    row["qps"] = float(row["qps"])
                except (TypeError, ValueError):
                    raise ValueError(f"{path}:{line}: recall and qps must be numbers") from None
                rows.append(row)
    return rows


def family(label):
    """The algorithm a CSV index label belongs to (see the module docstring)."""
    # scann-peers' own labels: "hnswlib M=16,efC=200", "faiss FACTORY [VERSION ORIGIN, SIMD]".
    # (Older CSVs: "faiss FACTORY (Debian generic build, no AVX2)".)
    m = re.fullmatch(r"(hnswlib|faiss) (\S+)(?: [\[(](.*)[\])])?", label)
    if m:
        if m.group(1) == "hnswlib":
            return "hnsw"
        build = m.group(3) or ""
        simd = " " + build.rsplit(",", 1)[1].strip() if "," in build else ""
        return "faiss " + re.sub(r"(?<!x)\d+", "", m.group(2)) + simd
    peer, sep, spec = label.partition(":")
    if not sep:
        return label.split(",")[0]
    if peer == "faiss":
        return "faiss " + re.sub(r"(?<!x)\d+", "", spec)  # keeps PQ...x4fs's 4 bits
    return peer


def pareto_frontier(points):
    """The (recall, qps) points that no other point beats on both, by increasing recall.

    A point is kept when every point with at least its recall has lower QPS (ties on recall keep
    the fastest), which is the frontier ann-benchmarks draws for each algorithm.
    """
    frontier = []
    best_qps = float("-inf")
    for recall, qps in sorted(points, key=lambda p: (-p[0], -p[1])):
        if qps > best_qps:
            frontier.append((recall, qps))
            best_qps = qps
    frontier.reverse()
    return frontier


def group_frontiers(rows, by="family"):
    """{line name: frontier points}, in order of first appearance."""
    groups = {}
    for row in rows:
        name = family(row["index"]) if by == "family" else row["index"]
        groups.setdefault(name, []).append((row["recall"], row["qps"]))
    return {name: pareto_frontier(points) for name, points in groups.items()}


def plot(out_path, frontiers, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6))
    markers = "osv^<>pD*hX"
    for i, (name, points) in enumerate(frontiers.items()):
        xs, ys = zip(*points)
        ax.plot(xs, ys, marker=markers[i % len(markers)], markersize=5, linewidth=1.5,
                label=name)
    ax.set_yscale("log")
    ax.set_xlabel("Recall")
    ax.set_ylabel("Queries per second (1/s)")
    ax.set_title(title)
    ax.grid(True, which="both", linestyle=":", linewidth=0.5)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    fig.savefig(out_path, dpi=120)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m pyscann.plot",
                                 description="Recall / QPS Pareto chart of benchmark CSVs.")
    ap.add_argument("out", help="PNG to write")
    ap.add_argument("csv", nargs="+", help="CSV files written by scann bench / scann-peers")
    ap.add_argument("--by", choices=("family", "label"), default="family",
                    help="one line per algorithm family (default) or per index label")
    ap.add_argument("--title", help="chart title (default: the CSV names)")
    args = ap.parse_args(argv)
    try:
        rows = read_rows(args.csv)
    except (OSError, ValueError) as e:
        print(f"pyscann.plot: {e}", file=sys.stderr)
        return 2
    if not rows:
        print("pyscann.plot: the CSVs have no rows", file=sys.stderr)
        return 2
    names = ", ".join(re.sub(r"\.csv$", "", p.rsplit("/", 1)[-1]) for p in args.csv)
    title = args.title or f"Recall-Queries per second (1/s) tradeoff - up and to the right " \
                          f"is better\n{names}"
    plot(args.out, group_frontiers(rows, args.by), title)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
