#!/usr/bin/env bash
# bench.sh DATASET - the benchmark table for one prepared data set: this library's indexes
# next to hnswlib and faiss, measured by the same harness (2 threads, k = 10, 10,000 queries).
# Needs `make` (build/) and scripts/get-data.sh DATASET. Set THREADS, BUILD, CSV to override.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${SCANN_DATA_DIR:-$root/data}
bin=${BUILD:-$root/build}/scann
threads=${THREADS:-2}
name=${1:-fashion-mnist}
csv=${CSV:-$root/out/bench-$name.csv}
mkdir -p "$(dirname "$csv")"

case $name in
fashion-mnist)
    args=(--base "$data/$name/base.fvecs" --query "$data/$name/query.fvecs"
          --gt "$data/$name/gt-l2.ivecs" --metric l2)
    backends=(--index FLAT
              --peer hnsw:M=16,efc=200 --search ef=10,20,40,80
              --peer faiss:IVF256,Flat --search nprobe=1,2,4,8,16
              --peer faiss:IVF256,PQ196x4fs,RFlat --search "nprobe=2,4,8;k_factor=4")
    ;;
glove-100)
    args=(--base "$data/$name/base.fvecs" --query "$data/$name/query.fvecs"
          --gt "$data/$name/gt-cosine.ivecs" --metric cosine)
    backends=(--index FLAT
              --peer hnsw:M=16,efc=200 --search ef=48,96,192
              --peer faiss:IVF1024,Flat --search nprobe=8,16,32,64)
    ;;
*) echo "bench.sh: unknown data set '$name' (fashion-mnist, glove-100)" >&2; exit 2 ;;
esac

echo "== $name: $(nproc) cores, $("$bin" info | sed -n 's/^kernels: /kernels /p'), $threads threads, k=10"
echo "   (faiss rows use Debian's libfaiss, a generic build without AVX2 kernels)"
"$bin" bench "${args[@]}" --k 10 --threads "$threads" --csv "$csv" "${backends[@]}"
echo "CSV: $csv"
