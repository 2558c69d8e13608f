#!/usr/bin/env bash
# growth.sh - how SCANN, faiss FastScan+refine and hnswlib scale with the base size on
# debian-sift-1m (128-d SIFT, L2): for the first 100k, 300k and 1M base vectors, one
# `scann bench` run each (all three backends measured by the same harness in the same run),
# then a table of build time, memory and the best batch QPS at recall@10 >= 0.90 and >= 0.95.
#
#   bench/growth.sh [SIZES...]        default: 100000 300000 1000000   (make bench-growth)
#
# - SCANN: the default spec (`SCANN`: nlist = floor(sqrt(n)), dims_per_block 2 = 64 blocks,
#   float rerank), swept over nprobe x reorder_k.
# - faiss: IVF{nlist},PQ64x4fs,RFlat with SCANN's nlist (same 32-byte codes), swept over
#   nprobe x k_factor (k_factor * 10 = SCANN's reorder_k).
# - hnswlib: M=16, efc=200, swept over ef.
# Ground truth: exact top-10 of each prefix with the FLAT index (`scann gt --limit N`); the
# full set's gt-l2.ivecs for 1M. Outputs go to out/growth/ (CSV per size, summary table).
# Environment: THREADS (default 2), BUILD (default build/), SCANN_DATA_DIR, OUT.
# The longest step is the 1M hnswlib build: 3.5 minutes on an idle 2-core machine, over 30
# minutes at load 10-20 (the 100k and 300k sizes take about 2 and 4 minutes in all).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${SCANN_DATA_DIR:-$root/data}/debian-sift-1m
bin=${BUILD:-$root/build}/scann
threads=${THREADS:-2}
out=${OUT:-$root/out/growth}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 300000 1000000)
mkdir -p "$out"
for f in base.fvecs query.fvecs gt-l2.ivecs; do
    [ -f "$data/$f" ] || { echo "growth.sh: no $data/$f (scripts/get-data.sh debian-sift-1m)" >&2; exit 2; }
done
total=$(($(stat -c %s "$data/base.fvecs") / (4 + 4 * 128)))

grid_np="4,6,8,12,16,24,32,48,64,96,128"
echo "== growth on debian-sift-1m: $(nproc) cores, $("$bin" info | sed -n 's/^kernels: /kernels /p'), $threads threads, k=10"
"${BUILD:-$root/build}/scann-peers" --version | sed -n 's/^faiss /   faiss rows: faiss /p'
for n in "${sizes[@]}"; do
    nlist=1
    while (((nlist + 1) * (nlist + 1) <= n)); do nlist=$((nlist + 1)); done # SCANN's default
    if [ "$n" -ge "$total" ]; then
        gt=$data/gt-l2.ivecs
        lim=()
    else
        gt=$out/gt-$n.ivecs
        lim=(--limit "$n")
        if [ ! -s "$gt" ]; then
            t0=$(date +%s)
            "$bin" gt --base "$data/base.fvecs" --query "$data/query.fvecs" --metric l2 --k 10 \
                --limit "$n" --threads "$threads" --out "$gt.tmp.ivecs" >/dev/null
            mv "$gt.tmp.ivecs" "$gt"
            echo "-- ground truth for $n: $(($(date +%s) - t0)) s (FLAT)"
        fi
    fi
    echo "-- n=$n nlist=$nlist"
    "$bin" bench --base "$data/base.fvecs" --query "$data/query.fvecs" --gt "$gt" --metric l2 \
        "${lim[@]}" --k 10 --threads "$threads" --csv "$out/growth-$n.csv" \
        --index SCANN --search "nprobe=$grid_np;reorder_k=20,40,80,160" \
        --peer "faiss:IVF$nlist,PQ64x4fs,RFlat" --search "nprobe=$grid_np;k_factor=2,4,8,16" \
        --peer hnsw:M=16,efc=200 --search "ef=16,24,32,48,64,96,128,192,256"
done
/usr/bin/python3 "$root/bench/growth_table.py" "$out" "${sizes[@]}" | tee "$out/summary.md"
