#!/usr/bin/env bash
# bench.sh DATASET - the benchmark table for one prepared data set: this library's indexes
# next to hnswlib and faiss, measured by the same harness (2 threads, k = 10, 10,000 queries).
# Needs `make` (build/) and scripts/get-data.sh DATASET. Set THREADS, BUILD, CSV to override.
# The faiss rows use whichever faiss build/scann-peers was linked with (the header line and
# each row's label say which): the full-speed build of `make peers-faiss` when it exists, else
# Debian's generic libfaiss. Their configurations are FastScan 4-bit PQ with a float refine
# stage (the best faiss found in ../shared/PEERS.md) and with an 8-bit one (Refine(SQ8), the
# match for SCANN's int8 store, its default from d = 384), swept over nprobe x k_factor, and
# IVF,Flat. SCANN and faiss FastScan sweep the same nprobe values and the same rerank
# candidates (reorder_k = k_factor * k), so neither's best point at a recall is an artefact of
# a coarser grid.
# Also draws the recall/QPS Pareto chart next to the CSV (same name, .png) with
# python/pyscann/plot.py from the source tree: pure Python + python3-matplotlib, so the compiled
# Python module is not needed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${SCANN_DATA_DIR:-$root/data}
bin=${BUILD:-$root/build}/scann
peers=${BUILD:-$root/build}/scann-peers
threads=${THREADS:-2}
name=${1:-fashion-mnist}
csv=${CSV:-$root/out/bench-$name.csv}
mkdir -p "$(dirname "$csv")"

case $name in
fashion-mnist)
    args=(--base "$data/$name/base.fvecs" --query "$data/$name/query.fvecs"
          --gt "$data/$name/gt-l2.ivecs" --metric l2)
    backends=(--index FLAT
              --index IVF_FLAT,nlist=256 --search nprobe=2,4,8,16
              --index IVF_PQ,nlist=256,m=196 --search nprobe=4,8,16
              --index SCANN,nlist=256 --search "nprobe=2,4,6,8,16;reorder_k=20,30,40,80"
              --index SCANN,nlist=256,reorder=float --search "nprobe=4,6,8;reorder_k=20,40"
              --peer hnsw:M=16,efc=200 --search ef=10,20,40,80
              --peer faiss:IVF256,Flat --search nprobe=2,4,8,16
              --peer faiss:IVF256,PQ196x4fs,RFlat --search "nprobe=2,4,6,8,16;k_factor=2,3,4,8"
              --peer "faiss:IVF256,PQ196x4fs,Refine(SQ8)" --search "nprobe=2,4,6,8,16;k_factor=2,3,4,8")
    ;;
glove-100)
    args=(--base "$data/$name/base.fvecs" --query "$data/$name/query.fvecs"
          --gt "$data/$name/gt-cosine.ivecs" --metric cosine)
    backends=(--index FLAT
              --index IVF_FLAT,nlist=1024 --search nprobe=16,32,64
              --index IVF_PQ,nlist=1024,m=50 --search nprobe=32,64
              --index SCANN,nlist=1024 --search "nprobe=16,24,32,48,64;reorder_k=50,100"
              --index SCANN,nlist=1024,reorder=int8 --search "nprobe=32,64;reorder_k=100"
              --index SCANN,nlist=1024,reorder=none --search nprobe=32,64
              --peer hnsw:M=16,efc=200 --search ef=48,96,192
              --peer hnsw:M=32,efc=200 --search ef=48,96
              --peer faiss:IVF1024,Flat --search nprobe=32,64
              --peer faiss:IVF1024,PQ100x4fs,RFlat --search "nprobe=16,24,32,48,64;k_factor=5,10"
              --peer "faiss:IVF1024,PQ100x4fs,Refine(SQ8)" --search "nprobe=16,24,32,48,64;k_factor=5,10")
    ;;
debian-use-512)
    # ~205k unit-norm sentence embeddings: high dimension, so the code size matters most.
    args=(--base "$data/$name/base.fvecs" --query "$data/$name/query.fvecs"
          --gt "$data/$name/gt-cosine.ivecs" --metric cosine)
    backends=(--index FLAT
              --index IVF_FLAT,nlist=512 --search nprobe=8,16,32
              --index IVF_PQ,nlist=512,m=128 --search nprobe=16,32
              --index SCANN,nlist=512 --search "nprobe=8,16,20,24,32,48;reorder_k=50,80,100"
              --index SCANN,nlist=512,dims_per_block=2 --search "nprobe=16,24,32;reorder_k=100"
              --index SCANN,nlist=512,reorder=float --search "nprobe=16,32;reorder_k=50,100"
              --peer hnsw:M=16,efc=200 --search ef=32,48,64,96,128
              --peer faiss:IVF512,Flat --search nprobe=16,32
              --peer faiss:IVF512,PQ128x4fs,RFlat --search "nprobe=16,20,24,32,48;k_factor=5,8,10"
              --peer faiss:IVF512,PQ256x4fs,RFlat --search "nprobe=16,20,24,32,48;k_factor=5,8,10"
              --peer "faiss:IVF512,PQ128x4fs,Refine(SQ8)" --search "nprobe=16,20,24,32,48;k_factor=5,8,10")
    ;;
debian-sift-1m)
    # 1M SIFT descriptors, L2: the scale case (float store alone is 512 MB). hnswlib's build of
    # 1M vectors takes about 3.5 minutes on an idle 2-core machine (over 30 on a loaded one).
    args=(--base "$data/$name/base.fvecs" --query "$data/$name/query.fvecs"
          --gt "$data/$name/gt-l2.ivecs" --metric l2)
    backends=(--index FLAT
              --index IVF_FLAT,nlist=1024 --search nprobe=8,16,32
              --index IVF_PQ,nlist=1024,m=64 --search nprobe=16,32
              --index SCANN,nlist=1024 --search "nprobe=8,16,20,24,32;reorder_k=30,50,80,100"
              --index SCANN,nlist=1024,reorder=int8 --search "nprobe=16,32;reorder_k=100"
              --peer hnsw:M=16,efc=200 --search ef=24,32,48,64,96,128
              --peer faiss:IVF1024,Flat --search nprobe=16,32
              --peer faiss:IVF1024,PQ64x4fs,RFlat --search "nprobe=8,16,20,24,32;k_factor=3,5,8,10"
              --peer "faiss:IVF1024,PQ64x4fs,Refine(SQ8)" --search "nprobe=8,16,20,24,32;k_factor=3,5,8,10")
    ;;
*) echo "bench.sh: unknown data set '$name' (fashion-mnist, glove-100, debian-use-512, debian-sift-1m)" >&2; exit 2 ;;
esac

echo "== $name: $(nproc) cores, $("$bin" info | sed -n 's/^kernels: /kernels /p'), $threads threads, k=10"
if [ -x "$peers" ]; then
    # e.g. "faiss 1.15.0 02dbb4e, AVX512 (/root/.cache/faiss-02dbb4e/lib/libfaiss_avx512.a)"
    faiss=$("$peers" --version | sed -n 's/^faiss /faiss rows: faiss /p')
    case $faiss in
    *GENERIC*) faiss="$faiss: Debian's generic build, no AVX2 kernels (make peers-faiss builds a full-speed one)" ;;
    esac
    echo "   ${faiss:-faiss rows: none (scann-peers built without faiss)}"
fi
if [ -z "${faiss:-}" ]; then
    # No faiss in scann-peers (or no scann-peers): drop the faiss peers and their grids.
    kept=()
    for ((i = 0; i < ${#backends[@]}; i++)); do
        if [ "${backends[i]}" = --peer ] && [[ ${backends[i + 1]} == faiss:* ]]; then
            i=$((i + 1))
            [ "${backends[i + 1]:-}" = --search ] && i=$((i + 2))
            continue
        fi
        kept+=("${backends[i]}")
    done
    backends=("${kept[@]}")
fi
"$bin" bench "${args[@]}" --k 10 --threads "$threads" --csv "$csv" "${backends[@]}"
echo "CSV: $csv"
png=${csv%.csv}.png
if PYTHONPATH="$root/python${PYTHONPATH:+:$PYTHONPATH}" /usr/bin/python3 -m pyscann.plot \
        "$png" "$csv" --title "$name: recall@10 vs QPS ($threads threads)" >/dev/null; then
    echo "PNG: $png"
else
    echo "bench.sh: no chart (scripts/install-deps.sh data installs python3-matplotlib)" >&2
fi
