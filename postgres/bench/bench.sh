#!/usr/bin/env bash
# bench.sh - scann next to pgvector 0.8.6's HNSW and IVFFlat in one PostgreSQL 15 server and
# one run, through SQL, on GloVe-100 (cosine, 331,479 x 100; data/glove-100 from
# scripts/get-data.sh glove-100). Needs root (it installs the extensions and runs the cluster
# as Debian's postgres user in a temporary directory on a free port, stopped at the end).
#
# Tables: glove_r (id int, emb real[]) for scann, glove_v (id int, emb vector(100)) for
# pgvector; queries: the first QUERIES rows of query.fvecs in both types; gt: their exact top 10
# from gt-cosine.ivecs (ids are base row numbers = id). Indexes, built one after the other:
#   scann (emb real_cosine_ops) WITH (lists = SCANN_LISTS)
#   scann8: the same WITH (reorder = 'int8') on a copy of glove_r (glove_s): rerank from an int8
#           copy in the index instead of the table rows
#   hnsw (emb vector_cosine_ops) WITH (m = 16, ef_construction = 64)     (as ../shared/PEERS.md)
#   ivfflat (emb vector_cosine_ops) WITH (lists = 1000)
# Each gets build time, pg_relation_size, then for each setting: recall@10 over QUERIES queries
# (SQL join against gt), and QPS and p99 latency from pgbench (custom script: a random query id,
# SELECT id ... ORDER BY emb <=> (its vector) LIMIT 10, prepared) with 1 and 2 clients for
# SECONDS_EACH each. Every index is built first, each on its own table (IVFFlat on a copy of
# glove_v), then the settings are measured interleaved across the indexes.
#   QUERIES=1000 SECONDS_EACH=10 SCANN_LISTS=1000 SHARED_BUFFERS=2GB PGVECTOR=<tar.gz> OUT=<file.md>
#   SCANN_SETTINGS="probes:reorder_k ..." HNSW_EF="..." IVF_PROBES="..." ONLY="scann scann8 hnsw ivfflat"
set -euo pipefail
shopt -s inherit_errexit # a failing pgbench inside $(...) stops the run instead of an empty cell
here=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$here/.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
QUERIES=${QUERIES:-1000}
# Not $SECONDS: bash's own counter of seconds since the shell started (0 here, which pgbench
# refuses as a duration).
SECONDS_EACH=${SECONDS_EACH:-10}
SCANN_LISTS=${SCANN_LISTS:-1000}
SHARED_BUFFERS=${SHARED_BUFFERS:-2GB}
SCANN_SETTINGS=${SCANN_SETTINGS:-"0:0 8:40 12:60 16:80 24:100 32:150"}
HNSW_EF=${HNSW_EF:-"40 80 120 200"}
IVF_PROBES=${IVF_PROBES:-"10 20 40"}
ONLY=${ONLY:-"scann scann8 hnsw ivfflat"}
PGVECTOR=${PGVECTOR:-$repo/../shared/peers/pgvector-0.8.6.tar.gz}
DATA=${SCANN_TEST_DATA:-$repo/data}
OUT=${OUT:-$repo/out/bench-postgres.md}
base=$DATA/glove-100/base.fvecs query=$DATA/glove-100/query.fvecs gt=$DATA/glove-100/gt-cosine.ivecs
for f in "$base" "$query" "$gt"; do
    [ -f "$f" ] || { echo "bench.sh: no $f (scripts/get-data.sh glove-100)" >&2; exit 1; }
done
mkdir -p "$(dirname "$OUT")"

# The scann extension (from this tree) and pgvector (PGXS build of the peer's source, once).
make -s -C "$here" ${SCANN_BUILD:+SCANN_BUILD=$SCANN_BUILD} install >/dev/null
PGBIN=$PGBIN "$here/install-pgvector.sh" "$PGVECTOR"

. "$here/test/cluster.sh"
pg_tmp scann-bench
pg_init db
port=${pg_port[db]}
pg_start db -c shared_buffers=$SHARED_BUFFERS -c maintenance_work_mem=4GB \
    -c max_parallel_maintenance_workers=1 -c max_wal_size=8GB -c checkpoint_timeout=30min -c jit=off
psql() { pg_psql db "$@"; }
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.1f}')"; }

echo "loading GloVe-100 ($QUERIES queries) ..." >&2
/usr/bin/python3 - "$base" "$query" "$gt" "$QUERIES" "$tmp" <<'PY'
import sys, numpy as np
def vecs(p, dt):
    a = np.fromfile(p, dtype=np.int32)
    return a.reshape(-1, a[0] + 1)[:, 1:].view(dt)
b, q = vecs(sys.argv[1], np.float32), vecs(sys.argv[2], np.float32)[: int(sys.argv[4])]
g = vecs(sys.argv[3], np.int32)[: int(sys.argv[4]), :10]
for name, x in (("base", b), ("query", q)):
    with open(f"{sys.argv[5]}/{name}.txt", "w") as f:
        for i, r in enumerate(x):
            f.write(f"{i}\t{{{','.join(repr(float(v)) for v in r)}}}\n")
with open(f"{sys.argv[5]}/gt.txt", "w") as f:
    for i, r in enumerate(g):
        for j, v in enumerate(r):
            f.write(f"{i}\t{j}\t{v}\n")
PY
chmod 644 "$tmp"/*.txt
psql <<SQL
CREATE EXTENSION scann;
CREATE EXTENSION vector;
CREATE TABLE glove_r (id int PRIMARY KEY, emb real[]);
CREATE TABLE queries_r (id int PRIMARY KEY, emb real[]);
CREATE TABLE gt (qid int, rank int, id int);
COPY glove_r FROM '$tmp/base.txt';
COPY queries_r FROM '$tmp/query.txt';
COPY gt FROM '$tmp/gt.txt';
CREATE TABLE glove_v AS SELECT id, emb::vector(100) AS emb FROM glove_r;
ALTER TABLE glove_v ADD PRIMARY KEY (id);
CREATE TABLE queries_v AS SELECT id, emb::vector(100) AS emb FROM queries_r;
ALTER TABLE queries_v ADD PRIMARY KEY (id);
VACUUM ANALYZE;
CHECKPOINT;
SQL
rm -f "$tmp"/base.txt
echo "tables: glove_r $(psql -At -c "SELECT pg_size_pretty(pg_relation_size('glove_r'))"), glove_v $(psql -At -c "SELECT pg_size_pretty(pg_relation_size('glove_v'))")" >&2

cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
{
    echo "GloVe-100 cosine, 331,479 rows, $QUERIES queries, k = 10, PostgreSQL $($PGBIN/postgres -V | awk '{print $3}'), shared_buffers $SHARED_BUFFERS, $(nproc) cores ($cpu), $(date -u +%F)."
    echo "QPS and p99 from pgbench (prepared, ${SECONDS_EACH} s per point); recall@10 against the exact top 10."
    echo
    echo "| index | build s | size MB | setting | recall@10 | QPS 1 client | p99 ms 1 | QPS 2 clients | p99 ms 2 |"
    echo "|---|---|---|---|---|---|---|---|---|"
} >"$OUT"

# recall TABLE SETTINGS_SQL
recall() {
    psql -At <<SQL | tail -1
$2
CREATE TEMP TABLE approx AS SELECT q.id AS qid, n.id FROM queries_$1 q CROSS JOIN LATERAL
    (SELECT id FROM glove_$1 ORDER BY emb <=> q.emb LIMIT 10) n;
SELECT round(count(*)::numeric / (10 * $QUERIES), 3) FROM approx JOIN gt USING (qid, id);
SQL
}
# pgbench_run TABLE CLIENTS PGOPTIONS -> "qps p99_ms"
pgbench_run() {
    local dir
    dir=$(mktemp -d "$tmp/pgb.XXXXXX")
    cat >"$dir/q.sql" <<SQL
\set q random(0, $((QUERIES - 1)))
SELECT id FROM glove_$1 ORDER BY emb <=> (SELECT emb FROM queries_$1 WHERE id = :q) LIMIT 10;
SQL
    (cd "$dir" && PGOPTIONS="$3" "$PGBIN/pgbench" -n -h "$tmp" -p "$port" -U postgres -M prepared \
        -f q.sql -c "$2" -j "$2" -T "$SECONDS_EACH" -l --log-prefix=lat postgres >out.txt 2>&1) ||
        { cat "$dir/out.txt" >&2; exit 1; }
    python3 - "$dir" <<'PY'
import glob, re, sys
d = sys.argv[1]
tps = float(re.search(r"tps = ([0-9.]+) \(without", open(d + "/out.txt").read()).group(1))
lat = sorted(int(l.split()[2]) for f in glob.glob(d + "/lat.*") for l in open(f))
print(f"{tps:.0f} {lat[int(0.99 * (len(lat) - 1))] / 1000:.2f}")
PY
    rm -rf "$dir"
}
# measure TABLE SETTING_LABEL "GUC=VALUE ..." -> "label | recall | qps1 | p99 | qps2 | p99"
measure() {
    local set="" opt="" g r a b
    for g in $3; do set+="SET $g; " opt+="-c $g "; done
    r=$(recall "$1" "$set")
    a=$(pgbench_run "$1" 1 "$opt")
    b=$(pgbench_run "$1" 2 "$opt")
    read -r qa pa <<<"$a"
    read -r qb pb <<<"$b"
    echo "$2 | $r | $qa | $pa | $qb | $pb"
}
# build NAME SQL -> sets build_s, size_mb
build() {
    local t0 t1
    t0=$(now)
    psql -c "$2"
    t1=$(now)
    build_s=$(secs "$t0" "$t1")
    size_mb=$(psql -At -c "SELECT round(pg_relation_size('$1') / 1e6, 1)")
    psql -c "CHECKPOINT" -c "VACUUM ANALYZE"
}

# Build every index first (each on its own table, so none slows another's scan), then measure
# the settings interleaved (scann, HNSW, IVFFlat, scann, ...), so that load from other work on
# a shared machine falls on all of them alike.
declare -A bs sz
labels=() tables=() gucs=() rows=()
for what in $ONLY; do
    case $what in
    scann)
        build glove_scann "CREATE INDEX glove_scann ON glove_r USING scann (emb real_cosine_ops) WITH (lists = $SCANN_LISTS)"
        bs[scann]=$build_s sz[scann]=$size_mb
        ;;
    scann8)
        psql -c "CREATE TABLE glove_s AS TABLE glove_r" -c "CREATE TABLE queries_s AS TABLE queries_r" \
            -c "ALTER TABLE queries_s ADD PRIMARY KEY (id)" -c "VACUUM ANALYZE glove_s, queries_s"
        build glove_scann8 "CREATE INDEX glove_scann8 ON glove_s USING scann (emb real_cosine_ops) WITH (lists = $SCANN_LISTS, reorder = 'int8')"
        bs[scann8]=$build_s sz[scann8]=$size_mb
        ;;
    hnsw)
        build glove_hnsw "CREATE INDEX glove_hnsw ON glove_v USING hnsw (emb vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
        bs[hnsw]=$build_s sz[hnsw]=$size_mb
        ;;
    ivfflat)
        psql -c "CREATE TABLE glove_w AS TABLE glove_v" -c "CREATE TABLE queries_w AS TABLE queries_v" \
            -c "ALTER TABLE queries_w ADD PRIMARY KEY (id)" -c "VACUUM ANALYZE glove_w, queries_w"
        build glove_ivf "CREATE INDEX glove_ivf ON glove_w USING ivfflat (emb vector_cosine_ops) WITH (lists = 1000)"
        bs[ivfflat]=$build_s sz[ivfflat]=$size_mb
        ;;
    esac
    echo "$what: build ${bs[$what]} s, ${sz[$what]} MB" >&2
done
# One list per index of (table, label, GUCs), consumed round-robin.
sc=() s8=() hn=() iv=()
for s in $SCANN_SETTINGS; do
    p=${s%%:*} k=${s##*:}
    if [ "$p" = 0 ]; then label="defaults (no SET)"; else label="probes $p, reorder_k $k"; fi
    sc+=("r|$label|scann.probes=$p scann.reorder_k=$k")
    s8+=("s|$label|scann.probes=$p scann.reorder_k=$k")
done
for ef in $HNSW_EF; do hn+=("v|ef_search $ef|hnsw.ef_search=$ef"); done
for pr in $IVF_PROBES; do iv+=("w|probes $pr|ivfflat.probes=$pr"); done
declare -A res
i=0
while :; do
    any=0
    for what in $ONLY; do
        case $what in scann) list=("${sc[@]}") ;; scann8) list=("${s8[@]}") ;; hnsw) list=("${hn[@]}") ;; ivfflat) list=("${iv[@]}") ;; esac
        [ "$i" -lt "${#list[@]}" ] || continue
        any=1
        IFS='|' read -r t label g <<<"${list[$i]}"
        res[$what,$i]=$(measure "$t" "$label" "$g")
        echo "$what ${res[$what,$i]}" >&2
    done
    [ $any = 1 ] || break
    i=$((i + 1))
done
for what in $ONLY; do
    case $what in
    scann) name="scann lists=$SCANN_LISTS" n=${#sc[@]} ;;
    scann8) name="scann lists=$SCANN_LISTS reorder=int8" n=${#s8[@]} ;;
    hnsw) name="pgvector HNSW m=16 efc=64" n=${#hn[@]} ;;
    ivfflat) name="pgvector IVFFlat lists=1000" n=${#iv[@]} ;;
    esac
    for ((j = 0; j < n; j++)); do
        if [ $j = 0 ]; then echo "| $name | ${bs[$what]} | ${sz[$what]} | ${res[$what,$j]} |"; else echo "| | | | ${res[$what,$j]} |"; fi
    done
done >>"$OUT"
echo "table glove_v (vector) $(psql -At -c "SELECT round(pg_relation_size('glove_v') / 1e6, 1)") MB, glove_r (real[]) $(psql -At -c "SELECT round(pg_relation_size('glove_r') / 1e6, 1)") MB" | tee -a "$OUT"
echo "bench.sh: table in $OUT" >&2
