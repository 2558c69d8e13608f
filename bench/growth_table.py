#!/usr/bin/python3
"""growth_table.py OUTDIR SIZE... - the summary table of bench/growth.sh.

Reads OUTDIR/growth-SIZE.csv (`scann bench --csv` rows) and prints, per size and backend
family (SCANN, faiss, hnswlib), build seconds, index memory and the best batch QPS (with its
params) at recall@10 >= 0.90 and >= 0.95, then SCANN's ratio to each peer.
"""
import csv
import sys


def family(label):
    if label.startswith("faiss"):
        return "faiss"
    if label.startswith("hnsw"):
        return "hnswlib"
    return "SCANN"


def best(rows, target):
    ok = [r for r in rows if float(r["recall"]) >= target]
    if not ok:
        return None
    return max(ok, key=lambda r: float(r["qps"]))


def fmt(r):
    if r is None:
        return "not reached"
    return "%s (%s, r=%.3f)" % (f"{float(r['qps']):,.0f}", r["params"], float(r["recall"]))


def main():
    out, sizes = sys.argv[1], sys.argv[2:]
    print("| n | backend | build s | memory MB | QPS @ recall >= 0.90 | QPS @ recall >= 0.95 |")
    print("|---|---|---|---|---|---|")
    ratios = []
    for n in sizes:
        with open(f"{out}/growth-{n}.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        fams = {}
        for r in rows:
            fams.setdefault(family(r["index"]), []).append(r)
        bq = {}
        for fam in ("SCANN", "faiss", "hnswlib"):
            rs = fams.get(fam)
            if not rs:
                continue
            b90, b95 = best(rs, 0.90), best(rs, 0.95)
            bq[fam] = (b90, b95)
            print(
                f"| {int(n):,} | {fam} | {float(rs[0]['build_s']):.1f} | "
                f"{int(rs[0]['memory_bytes']) / 1e6:.0f} | {fmt(b90)} | {fmt(b95)} |"
            )
        for peer in ("faiss", "hnswlib"):
            if "SCANN" in bq and peer in bq:
                rr = []
                for i in (0, 1):
                    s, p = bq["SCANN"][i], bq[peer][i]
                    rr.append("%.2f" % (float(s["qps"]) / float(p["qps"])) if s and p else "-")
                ratios.append(f"| {int(n):,} | SCANN / {peer} | {rr[0]} | {rr[1]} |")
    print()
    print("| n | ratio | @ 0.90 | @ 0.95 |")
    print("|---|---|---|---|")
    print("\n".join(ratios))


if __name__ == "__main__":
    main()
