#!/usr/bin/env bash
# run.sh - the scann extension end to end on a throwaway PostgreSQL 15 cluster: install the
# extension (needs root, as `make install` into the system's PostgreSQL does), start a cluster
# as Debian's postgres user on a free port in a temporary directory, load Fashion-MNIST rows
# as real[], and check through SQL: EXPLAIN uses the index, recall@10 against the exact order
# (enable_indexscan = off) without any SET, inserts after the build are found, DELETE + VACUUM
# removes rows from the lists, REINDEX, and the errors for bad input. The cluster is stopped
# and removed on exit, whatever happens.
#   SCANN_BUILD=<cmake build dir with libscann.a> (default ../build)   ROWS=20000  QUERIES=100
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$here/.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROWS=${ROWS:-20000}
QUERIES=${QUERIES:-100}
DATA=${SCANN_TEST_DATA:-$repo/data}
[ -f "$DATA/fashion-mnist/base.fvecs" ] || DATA=/work/main/data
base=$DATA/fashion-mnist/base.fvecs query=$DATA/fashion-mnist/query.fvecs
if [ ! -f "$base" ]; then echo "run.sh: no $base (scripts/get-data.sh fashion-mnist); skipping"; exit 0; fi

make -s -C "$here" ${SCANN_BUILD:+SCANN_BUILD=$SCANN_BUILD} install >/dev/null

tmp=$(mktemp -d /tmp/scann-pg.XXXXXX)
chmod 755 "$tmp"
chown postgres "$tmp"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg() { runuser -u postgres -- "$@"; }
cleanup() {
    rc=$?
    [ $rc -ne 0 ] && [ -f "$tmp/log" ] && tail -25 "$tmp/log"
    as_pg "$PGBIN/pg_ctl" -D "$tmp/db" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
as_pg "$PGBIN/initdb" -D "$tmp/db" -A trust >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$tmp/db" -l "$tmp/log" -w \
    -o "-p $port -k $tmp -c listen_addresses='' -c shared_buffers=256MB -c maintenance_work_mem=512MB -c fsync=off" start >/dev/null
psql() { as_pg /usr/bin/psql -X -q -v ON_ERROR_STOP=1 -h "$tmp" -p "$port" -d postgres "$@"; }
fail() { echo "FAIL: $*"; tail -20 "$tmp/log"; exit 1; }

# fvecs -> COPY text ({v1,v2,...} per row, id first)
/usr/bin/python3 - "$base" "$query" "$ROWS" "$QUERIES" "$tmp" <<'PY'
import sys, numpy as np
def fvecs(p, n):
    a = np.fromfile(p, dtype=np.int32)
    d = a[0]
    return a.reshape(-1, d + 1)[:n, 1:].view(np.float32)
b, q = fvecs(sys.argv[1], int(sys.argv[3])), fvecs(sys.argv[2], int(sys.argv[4]))
for name, x in (("base", b), ("query", q)):
    with open(f"{sys.argv[5]}/{name}.txt", "w") as f:
        for i, r in enumerate(x):
            f.write(f"{i}\t{{{','.join('%g' % v for v in r)}}}\n")
PY
chmod 644 "$tmp"/*.txt

psql <<SQL
CREATE EXTENSION scann;
CREATE TABLE items (id int PRIMARY KEY, emb real[]);
CREATE TABLE queries (id int PRIMARY KEY, emb real[]);
COPY items FROM '$tmp/base.txt';
COPY queries FROM '$tmp/query.txt';
SQL
t0=$(date +%s.%N)
psql -c "SET client_min_messages = debug1" -c "CREATE INDEX items_emb ON items USING scann (emb real_l2_ops)" 2>&1 | grep "default probes" || true
t1=$(date +%s.%N)
echo "build: $ROWS rows x 784 in $(python3 -c "print(round($t1 - $t0, 1))") s"

psql -At -c "EXPLAIN SELECT id FROM items ORDER BY emb <-> (SELECT emb FROM queries WHERE id = 0) LIMIT 10" \
    | grep -q "Index Scan using items_emb" || fail "EXPLAIN does not show the index scan"
echo "ok: EXPLAIN shows Index Scan using items_emb"

# recall@10 of the index (default probes and reorder_k, no SET) against the exact order.
recall_sql() { # $1 = operator
cat <<SQL
CREATE TEMP TABLE approx AS SELECT q.id AS qid, n.id FROM queries q CROSS JOIN LATERAL
    (SELECT id FROM items ORDER BY emb $1 q.emb LIMIT 10) n;
SET enable_indexscan = off;
CREATE TEMP TABLE exact AS SELECT q.id AS qid, n.id FROM queries q CROSS JOIN LATERAL
    (SELECT id FROM items ORDER BY emb $1 q.emb LIMIT 10) n;
SELECT round(count(*)::numeric / (SELECT count(*) FROM exact), 3)
    FROM approx JOIN exact USING (qid, id);
SQL
}
t0=$(date +%s.%N)
r=$(recall_sql '<->' | psql -At | tail -1)
t1=$(date +%s.%N)
echo "recall@10 (L2, defaults, $QUERIES queries): $r; both passes $(python3 -c "print(round($t1 - $t0, 1))") s"
python3 -c "import sys; sys.exit(0 if $r >= 0.9 else 1)" || fail "recall $r < 0.9"
t0=$(date +%s.%N)
psql -At -c "SELECT count(*) FROM queries q CROSS JOIN LATERAL (SELECT id FROM items ORDER BY emb <-> q.emb LIMIT 10) n" >/dev/null
t1=$(date +%s.%N)
echo "index: $QUERIES queries in $(python3 -c "print(round($t1 - $t0, 2))") s"

# Inserts after the build are found (a copy of query 0 is its own nearest neighbour).
top=$(psql -At <<'SQL'
INSERT INTO items SELECT 1000000 + id, emb FROM queries WHERE id < 5;
SELECT string_agg(n.id::text, ',' ORDER BY q.id) FROM queries q CROSS JOIN LATERAL
    (SELECT id FROM items ORDER BY emb <-> q.emb LIMIT 1) n WHERE q.id < 5;
SQL
)
[ "$top" = "1000000,1000001,1000002,1000003,1000004" ] || fail "inserted rows not found first: $top"
echo "ok: rows inserted after the build are found"

# DELETE + VACUUM removes them from the lists (and the scan no longer returns their TIDs).
out=$(psql -At <<'SQL'
DELETE FROM items WHERE id >= 1000000;
VACUUM items;
SELECT count(*) FROM queries q CROSS JOIN LATERAL
    (SELECT id FROM items ORDER BY emb <-> q.emb LIMIT 1) n WHERE q.id < 5 AND n.id >= 1000000;
SQL
)
[ "$(echo "$out" | tail -1)" = 0 ] || fail "deleted rows still returned"
grep -q "scann\|ERROR" "$tmp/log" && grep "ERROR" "$tmp/log" | tail -3 || true
echo "ok: DELETE + VACUUM"

# REINDEX retrains; cosine and inner-product operator classes; reorder = 'none'.
psql -c "REINDEX INDEX items_emb"
r=$(recall_sql '<->' | psql -At | tail -1)
echo "recall@10 after REINDEX: $r"
psql -c "DROP INDEX items_emb" -c "CREATE INDEX items_cos ON items USING scann (emb real_cosine_ops) WITH (lists = 100)"
r=$(recall_sql '<=>' | psql -At | tail -1)
echo "recall@10 (cosine, lists = 100, defaults): $r"
python3 -c "import sys; sys.exit(0 if $r >= 0.9 else 1)" || fail "cosine recall $r < 0.9"
r=$( (echo "SET scann.probes = 1; SET scann.reorder_k = 10;"; recall_sql '<=>') | psql -At | tail -1)
echo "recall@10 (cosine, SET scann.probes = 1, scann.reorder_k = 10): $r"

# Bad input.
expect_error() { # $1 = SQL, $2 = message part
    if out=$(psql -c "$1" 2>&1); then fail "no error for: $1"; fi
    echo "$out" | grep -q "$2" || fail "wrong error for: $1: $out"
    echo "ok: error '$2'"
}
expect_error "INSERT INTO items VALUES (-1, '{1,2,3}')" "expected 784 dimensions"
expect_error "INSERT INTO items SELECT -2, array_fill(0::real, ARRAY[783]) || 'NaN'::real" "NaN"
expect_error "INSERT INTO items SELECT -3, array_fill(0::real, ARRAY[783]) || NULL::real" "NULL"
expect_error "SELECT id FROM items ORDER BY emb <=> '{1,2}' LIMIT 1" "dimensions"
expect_error "CREATE INDEX ON items USING scann (emb) WITH (reorder = 'int8')" "not supported yet"
psql -c "INSERT INTO items VALUES (-4, NULL)" # NULLs are not indexed, and not an error
echo "PASS"
