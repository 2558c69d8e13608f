#!/usr/bin/env bash
# use512.sh - SCANN, faiss FastScan+refine and hnswlib on debian-use-512 (205k x 512, cosine) in
# one `scann bench` run, on denser grids than scripts/bench.sh, then the best batch QPS at
# recall@10 >= 0.90 / 0.95 of each (bench/best.py).
#   SCANN: the default spec (nlist = floor(sqrt(n)) = 452, dims_per_block 4 = 128 blocks, aq auto)
#          and nlist=512 at dims_per_block 4 and 2, nprobe x reorder_k
#   faiss: IVF512,PQ128x4fs,RFlat (SCANN's 64-byte codes) and IVF512,PQ256x4fs,RFlat (what
#          scripts/bench.sh runs), nprobe x k_factor
#   hnswlib: M=16, efc=200, ef
# Environment: THREADS (default 2), BUILD, SCANN_DATA_DIR, CSV (default out/use512.csv).
# About 15-20 minutes on 2 cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${SCANN_DATA_DIR:-$root/data}/debian-use-512
bin=${BUILD:-$root/build}/scann
threads=${THREADS:-2}
csv=${CSV:-$root/out/use512.csv}
mkdir -p "$(dirname "$csv")"
np="6,8,12,16,24,32,48,64"
echo "== debian-use-512: $(nproc) cores, $("$bin" info | sed -n 's/^kernels: /kernels /p'), $threads threads, k=10"
"${BUILD:-$root/build}/scann-peers" --version | sed -n 's/^faiss /   faiss rows: faiss /p'
"$bin" bench --base "$data/base.fvecs" --query "$data/query.fvecs" --gt "$data/gt-cosine.ivecs" \
    --metric cosine --k 10 --threads "$threads" --csv "$csv" \
    --index SCANN --search "nprobe=$np;reorder_k=20,40,80,160" \
    --index SCANN,nlist=512 --search "nprobe=$np;reorder_k=20,40,80,160" \
    --index SCANN,nlist=512,dims_per_block=2 --search "nprobe=$np;reorder_k=20,40,80" \
    --peer faiss:IVF512,PQ128x4fs,RFlat --search "nprobe=$np;k_factor=2,4,8,16" \
    --peer faiss:IVF512,PQ256x4fs,RFlat --search "nprobe=$np;k_factor=2,4,8" \
    --peer hnsw:M=16,efc=200 --search "ef=16,24,32,48,64,96,128,192"
/usr/bin/python3 "$root/bench/best.py" "$csv" | tee "${csv%.csv}.md"
