#!/usr/bin/python3
"""best.py CSV [CSV...] - best batch QPS at recall@10 >= 0.90 and >= 0.95 in `scann bench` CSVs.

One row per index configuration (the CSV's index label), then the best of each family (SCANN,
faiss, hnswlib; the library's other kinds under their own names) and SCANN's ratio to the
peers. Build seconds and memory are those of the configuration.
"""
import csv
import sys

TARGETS = (0.90, 0.95)


def family(label):
    if label.startswith("faiss"):
        return "faiss"
    if label.startswith("hnsw"):
        return "hnswlib"
    return label.split(",")[0]


def best(rows, target):
    ok = [r for r in rows if float(r["recall"]) >= target]
    return max(ok, key=lambda r: float(r["qps"])) if ok else None


def cell(r):
    if r is None:
        return "not reached"
    return "%s (%s; %.3f)" % (f"{float(r['qps']):,.0f}", r["params"], float(r["recall"]))


def main():
    rows = []
    for path in sys.argv[1:]:
        with open(path, newline="") as f:
            rows += list(csv.DictReader(f))
    configs = {}
    for r in rows:
        configs.setdefault(r["index"], []).append(r)
    print("| index | build s | memory MB | QPS @ 0.90 (params; recall) | QPS @ 0.95 |")
    print("|---|---|---|---|---|")
    fams = {}
    for label, rs in configs.items():
        fams.setdefault(family(label), []).extend(rs)
        b = [best(rs, t) for t in TARGETS]
        print(
            f"| {label} | {float(rs[0]['build_s']):.1f} | "
            f"{int(rs[0]['memory_bytes']) / 1e6:.0f} | {cell(b[0])} | {cell(b[1])} |"
        )
    print()
    print("| family | best QPS @ 0.90 | best QPS @ 0.95 |")
    print("|---|---|---|")
    fb = {}
    for fam, rs in fams.items():
        fb[fam] = [best(rs, t) for t in TARGETS]
        print(f"| {fam} | {cell(fb[fam][0])} | {cell(fb[fam][1])} |")
    if "SCANN" in fb:
        for peer in ("faiss", "hnswlib"):
            if peer not in fb:
                continue
            rr = []
            for s, p in zip(fb["SCANN"], fb[peer]):
                rr.append("%.2f" % (float(s["qps"]) / float(p["qps"])) if s and p else "-")
            print(f"| SCANN / {peer} | {rr[0]} | {rr[1]} |")


if __name__ == "__main__":
    main()
