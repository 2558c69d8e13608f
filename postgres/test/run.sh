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
base=$DATA/fashion-mnist/base.fvecs query=$DATA/fashion-mnist/query.fvecs
[ -f "$base" ] || { echo "run.sh: no $base (scripts/get-data.sh fashion-mnist; make test-postgres runs it)" >&2; exit 1; }

make -s -C "$here" ${SCANN_BUILD:+SCANN_BUILD=$SCANN_BUILD} install >/dev/null

. "$here/test/cluster.sh"
pg_tmp scann-pg
pg_init db
port=${pg_port[db]}
# fsync=off: a killed server (the crash test) loses nothing the OS has; only a power loss would.
start_server() { pg_start db -c shared_buffers=256MB -c maintenance_work_mem=512MB -c fsync=off; }
start_server
psql() { pg_psql db "$@"; }

# The pg_regress suite (sql/scann.sql against expected/scann.out) on this cluster.
if ! make -s -C "$here" installcheck REGRESS_OPTS="--host=$tmp --port=$port --user=postgres \
        --outputdir=$tmp/regress" >"$tmp/regress.log" 2>&1; then
    cat "$tmp/regress.log" "$tmp/regress/regression.diffs" 2>/dev/null | tail -40
    echo "FAIL: pg_regress"
    exit 1
fi
echo "ok: pg_regress (sql/scann.sql)"
fail() { echo "FAIL: $*"; tail -20 "$tmp/db.log"; exit 1; }

pg_fvecs_text "$base" "$query" "$ROWS" "$QUERIES"

psql <<SQL
CREATE EXTENSION scann;
CREATE TABLE items (id int PRIMARY KEY, emb real[],
                    category int GENERATED ALWAYS AS (id % 100) STORED);
-- 784 floats inline, not TOASTed: the exact passes read every row, 5x faster unpacked.
ALTER TABLE items ALTER emb SET STORAGE PLAIN;
CREATE TABLE queries (id int PRIMARY KEY, emb real[]);
COPY items (id, emb) FROM '$tmp/base.txt';
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
# The exact top 10 of every query, computed once per operator (enable_indexscan = off).
exact_table() { # $1 = operator, $2 = table name, $3 = items table, $4 = queries table
psql -At <<SQL >/dev/null
SET enable_indexscan = off;
CREATE TABLE IF NOT EXISTS $2 AS SELECT q.id AS qid, n.id FROM ${4:-queries} q CROSS JOIN LATERAL
    (SELECT id FROM ${3:-items} ORDER BY emb $1 q.emb LIMIT 10) n;
SQL
}
recall_sql() { # $1 = operator, $2 = exact table, $3 = items table, $4 = queries table
cat <<SQL
CREATE TEMP TABLE approx AS SELECT q.id AS qid, n.id FROM ${4:-queries} q CROSS JOIN LATERAL
    (SELECT id FROM ${3:-items} ORDER BY emb $1 q.emb LIMIT 10) n;
SELECT round(count(*)::numeric / (SELECT count(*) FROM $2), 3)
    FROM approx JOIN $2 USING (qid, id);
SQL
}
t0=$(date +%s.%N)
exact_table '<->' exact_l2
r=$(recall_sql '<->' exact_l2 | psql -At | tail -1)
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
grep -q "scann\|ERROR" "$tmp/db.log" && grep "ERROR" "$tmp/db.log" | tail -3 || true
echo "[$SECONDS s] ok: DELETE + VACUUM"

# REINDEX retrains; cosine and inner-product operator classes; reorder = 'none'.
psql -c "REINDEX INDEX items_emb"
r=$(recall_sql '<->' exact_l2 | psql -At | tail -1)
echo "recall@10 after REINDEX: $r"
psql -c "DROP INDEX items_emb" -c "CREATE INDEX items_cos ON items USING scann (emb real_cosine_ops) WITH (lists = 100)"
exact_table '<=>' exact_cos
r=$(recall_sql '<=>' exact_cos | psql -At | tail -1)
echo "recall@10 (cosine, lists = 100, defaults): $r"
python3 -c "import sys; sys.exit(0 if $r >= 0.9 else 1)" || fail "cosine recall $r < 0.9"
r=$( (echo "SET scann.probes = 1; SET scann.reorder_k = 10;"; recall_sql '<=>' exact_cos) | psql -At | tail -1)
echo "recall@10 (cosine, SET scann.probes = 1, scann.reorder_k = 10): $r"
# reorder = 'int8': the rerank reads an int8 copy next to each code in the index pages (the
# filtered-scan tests below run on this index); inserts, DELETE + VACUUM (slots move with
# their rows) as above.
psql -c "DROP INDEX items_cos" -c "CREATE INDEX items_cos ON items USING scann (emb real_cosine_ops) WITH (lists = 100, reorder = 'int8')"
r=$(recall_sql '<=>' exact_cos | psql -At | tail -1)
echo "recall@10 (cosine, lists = 100, reorder = 'int8', defaults): $r"
python3 -c "import sys; sys.exit(0 if $r >= 0.9 else 1)" || fail "int8 recall $r < 0.9"
top=$(psql -At <<'SQL'
DELETE FROM items WHERE id % 97 = 5;
INSERT INTO items SELECT 1000000 + id, emb FROM queries WHERE id < 5;
VACUUM items;
SELECT string_agg(n.id::text, ',' ORDER BY q.id) FROM queries q CROSS JOIN LATERAL
    (SELECT id FROM items ORDER BY emb <=> q.emb LIMIT 1) n WHERE q.id < 5;
DELETE FROM items WHERE id >= 1000000;
VACUUM items;
SQL
)
[ "$top" = "1000000,1000001,1000002,1000003,1000004" ] || fail "int8: inserted rows not found first: $top"
out=$(psql -At -c "SELECT count(*) FROM queries q CROSS JOIN LATERAL (SELECT id FROM items ORDER BY emb <=> q.emb LIMIT 10) n WHERE n.id >= 1000000 OR n.id % 97 = 5")
[ "$out" = 0 ] || fail "int8: deleted rows returned ($out)"
echo "ok: reorder = 'int8': inserts found, deleted rows gone after VACUUM"

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
expect_error "CREATE INDEX ON items USING scann (emb) WITH (reorder = 'float')" "not supported yet"
psql -c "INSERT INTO items VALUES (-4, NULL)" # NULLs are not indexed, and not an error
expect_error "SELECT id FROM items ORDER BY emb <=> (array_fill(0::real, ARRAY[783]) || 'NaN'::real) LIMIT 1" "NaN"
psql -At -c "SELECT count(*) FROM (SELECT id FROM items ORDER BY emb <=> NULL LIMIT 3) s" >/dev/null
echo "[$SECONDS s] ok: ORDER BY emb <=> NULL runs"
psql -c "CREATE TABLE empty (id int, emb real[]); CREATE TABLE other (id int, t text, ia int[])"
psql -c "CREATE INDEX ON empty USING scann (emb)" 2>&1 | grep -q "created untrained" \
    || fail "CREATE INDEX on an empty table"
echo "ok: CREATE INDEX on an empty table makes an untrained index (postgres/test/untrained.sh tests it)"
expect_error "CREATE INDEX ON other USING scann (id)" "no default operator class"
expect_error "CREATE INDEX ON other USING scann (t real_l2_ops)" "does not accept data type text"
expect_error "CREATE INDEX ON other USING scann (ia real_l2_ops)" "does not accept data type integer\[\]"

# Iterative scans: a filter that one row in 100 passes (category = id % 100) still gets 10 rows
# from the index, and a filter that only 3 rows pass gets those 3 (every list is searched).
idx="SET enable_seqscan = off; SET enable_bitmapscan = off;"
psql -At -c "$idx EXPLAIN SELECT id FROM items WHERE category = 3 ORDER BY emb <=> (SELECT emb FROM queries WHERE id = 0) LIMIT 10" \
    | grep -q "Index Scan using items_cos" || fail "filtered query does not use the index"
filtered_sql() { # $1 = extra SET, $2 = filter, $3 = which queries
cat <<SQL
$idx $1
SELECT round(avg(c), 2) || ' ' || min(c) FROM (SELECT q.id, count(n.id) AS c FROM queries q
    CROSS JOIN LATERAL (SELECT id FROM items WHERE $2 ORDER BY emb <=> q.emb LIMIT 10) n
    WHERE ${3:-true} GROUP BY q.id) s;
SQL
}
read -r avg_off _ <<<"$(filtered_sql "SET scann.iterative_scan = off;" "category = 3" | psql -At | tail -1)"
read -r avg_on min_on <<<"$(filtered_sql "" "category = 3" | psql -At | tail -1)"
echo "filter category = 3 (1%): rows per query $avg_off with scann.iterative_scan = off, $avg_on (min $min_on) with the default (on)"
[ "$min_on" = 10 ] || fail "iterative scan returned fewer than 10 rows ($min_on)"
read -r avg3 min3 <<<"$(filtered_sql "" "category = 3 AND id + 0 < 300" "q.id < 5" | psql -At | tail -1)"
[ "$min3" = 3 ] && [ "$avg3" = 3.00 ] || fail "a filter that 3 rows pass returned $avg3 / $min3 rows"
r=$(psql -At <<SQL | tail -1
$idx
CREATE TEMP TABLE approx AS SELECT q.id AS qid, n.id FROM queries q CROSS JOIN LATERAL
    (SELECT id FROM items WHERE category = 3 ORDER BY emb <=> q.emb LIMIT 10) n;
SET enable_indexscan = off;
CREATE TEMP TABLE exact AS SELECT q.id AS qid, n.id FROM queries q CROSS JOIN LATERAL
    (SELECT id FROM items WHERE category = 3 ORDER BY emb <=> q.emb LIMIT 10) n;
SELECT round(count(*)::numeric / (SELECT count(*) FROM exact), 3) FROM approx JOIN exact USING (qid, id);
SQL
)
echo "[$SECONDS s] ok: filtered scans return all rows; recall@10 of category = 3 against the exact filtered order: $r"
python3 -c "import sys; sys.exit(0 if $r >= 0.9 else 1)" || fail "filtered recall $r < 0.9"

# pgvector's vector type (operator classes created when pgvector is there).
if [ -f "$("$PGBIN/pg_config" --sharedir)/extension/vector.control" ]; then
    psql -At <<'SQL' >/dev/null
CREATE EXTENSION vector;
SELECT scann_add_vector_opclasses();
CREATE TABLE items_v (id int, emb vector(784));
ALTER TABLE items_v ALTER emb SET STORAGE PLAIN;
INSERT INTO items_v SELECT id, emb::vector(784) FROM items WHERE id BETWEEN 0 AND 4999;
CREATE TABLE queries_v AS SELECT id, emb::vector(784) AS emb FROM queries;
CREATE INDEX items_v_emb ON items_v USING scann (emb vector_l2_ops);
SQL
    psql -At -c "EXPLAIN SELECT id FROM items_v ORDER BY emb <-> (SELECT emb FROM queries_v WHERE id = 0) LIMIT 10" \
        | grep -q "Index Scan using items_v_emb" || fail "vector: EXPLAIN does not show the index scan"
    for op in '<->:vector_l2_ops' '<=>:vector_cosine_ops' '<#>:vector_ip_ops'; do
        psql -c "DROP INDEX IF EXISTS items_v_emb" -c "CREATE INDEX items_v_emb ON items_v USING scann (emb ${op#*:})"
        exact_table "${op%%:*}" "exact_v${op#*_}" items_v queries_v
        r=$(recall_sql "${op%%:*}" "exact_v${op#*_}" items_v queries_v | psql -At | tail -1)
        echo "vector(784), ${op#*:}: recall@10 (defaults) $r"
        python3 -c "import sys; sys.exit(0 if $r >= 0.9 else 1)" || fail "vector recall $r < 0.9"
    done
    expect_error "INSERT INTO items_v VALUES (-1, '[NaN,1]')" "NaN"
    psql -c "CREATE TABLE anydim (id int, emb vector)" \
        -c "INSERT INTO anydim SELECT id, emb FROM items_v WHERE id < 100" \
        -c "CREATE INDEX ON anydim USING scann (emb vector_cosine_ops)"
    expect_error "INSERT INTO anydim VALUES (-1, '[1,2,3]')" "expected 784 dimensions"
    # Installed after pgvector, the extension creates them itself; they go with it.
    n=$(psql -At <<'SQL' | tail -1
CREATE DATABASE vt;
\c vt
CREATE EXTENSION vector;
CREATE EXTENSION scann;
SELECT count(*) FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
    WHERE a.amname = 'scann' AND c.opcintype = 'vector'::regtype;
DROP EXTENSION scann;
SELECT count(*) FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod WHERE a.amname = 'scann';
SQL
)
    [ "$n" = 0 ] || fail "DROP EXTENSION scann left operator classes"
    echo "[$SECONDS s] ok: pgvector vector: l2, cosine and ip operator classes, with pgvector installed before or after scann"
else
    echo "SKIP: pgvector is not installed here ($("$PGBIN/pg_config" --sharedir)/extension/vector.control); the vector type tests did not run"
fi

# Crash: a stream of single-row inserts (and some deletes and VACUUMs), each acknowledged by
# the client after its commit; kill -9 the postmaster and its children mid-stream, restart
# (WAL replay of the GenericXLog records), then every acknowledged row must be in the table
# and (one in 7, for time) found through the index as its own nearest neighbour, and no
# acknowledged-deleted row returned.
psql <<'SQL'
CREATE TABLE crash (id int PRIMARY KEY, emb real[]);
ALTER TABLE crash ALTER emb SET STORAGE PLAIN;
INSERT INTO crash SELECT id, emb FROM items WHERE id BETWEEN 0 AND 1999;
CREATE INDEX crash_emb ON crash USING scann (emb real_l2_ops) WITH (lists = 20);
CHECKPOINT;
SQL
python3 - >"$tmp/stream.sql" <<'PY'
for i in range(100000, 160000):
    print(f"INSERT INTO crash SELECT {i}, (SELECT emb FROM queries WHERE id = {i} % 100)[1:783] || ({i})::real;")
    print(f"\\echo c {i}")
    if i % 10 == 9:
        print(f"DELETE FROM crash WHERE id = {i - 5};")
        print(f"\\echo d {i - 5}")
    if i % 500 == 0:
        print("VACUUM crash;")
PY
chmod 644 "$tmp/stream.sql"
(psql -At -f "$tmp/stream.sql" >"$tmp/acked.txt" 2>/dev/null || true) &
stream=$!
sleep 3
pm=$(head -1 "$tmp/db/postmaster.pid")
kill -STOP "$pm" # no new children from here on
kill -9 $(pgrep -P "$pm") 2>/dev/null || true
kill -9 "$pm"
wait "$stream" || true
for _ in 1 2 3 4 5 6 7 8 9 10; do # until the killed processes are gone
    start_server 2>/dev/null && break
    sleep 1
done
psql -c "SELECT 1" >/dev/null || fail "the server did not come back after the crash"
grep '^c ' "$tmp/acked.txt" | cut -c3- >"$tmp/committed.txt"
grep '^d ' "$tmp/acked.txt" | cut -c3- >"$tmp/deleted.txt"
chmod 644 "$tmp"/committed.txt "$tmp"/deleted.txt
ncommit=$(wc -l <"$tmp/committed.txt")
[ "$ncommit" -gt 50 ] || fail "the insert stream committed only $ncommit rows before the kill"
check_crash() {
psql -At <<SQL | tail -1
$idx SET scann.probes = 1; SET scann.reorder_k = 100000; SET scann.iterative_scan = off;
CREATE TEMP TABLE committed (id int); COPY committed FROM '$tmp/committed.txt';
CREATE TEMP TABLE deleted (id int); COPY deleted FROM '$tmp/deleted.txt';
DELETE FROM committed WHERE id IN (SELECT id FROM deleted);
SELECT (SELECT count(*) FROM committed c WHERE NOT EXISTS (SELECT FROM crash WHERE id = c.id))
    || ' ' || (SELECT count(*) FROM (SELECT * FROM committed WHERE id % 7 = 0) c CROSS JOIN LATERAL (SELECT id FROM crash
        ORDER BY emb <-> ((SELECT emb FROM queries WHERE id = c.id % 100)[1:783] || c.id::real)
        LIMIT 1) n WHERE n.id <> c.id)
    || ' ' || (SELECT count(*) FROM deleted d CROSS JOIN LATERAL (SELECT id FROM crash
        ORDER BY emb <-> ((SELECT emb FROM queries WHERE id = d.id % 100)[1:783] || d.id::real)
        LIMIT 1) n WHERE n.id = d.id);
SQL
}
out=$(check_crash)
[ "$out" = "0 0 0" ] || fail "after the crash: missing rows / not found by the index / deleted returned: $out"
psql -c "VACUUM crash"
out=$(check_crash)
[ "$out" = "0 0 0" ] || fail "after the crash and VACUUM: $out"
echo "[$SECONDS s] ok: crash: $ncommit acknowledged inserts ($(wc -l <"$tmp/deleted.txt") deleted) all found through the index after kill -9 and recovery, deleted ones never returned"

# Concurrency: inserting, deleting, vacuuming and querying sessions at once (pgbench fails on
# any error); then the index holds exactly the table's rows, and the inserted rows (one in 10,
# for time) are found through the index.
cat >"$tmp/ins.sql" <<'SQL'
\set i random(200000, 2000000000)
INSERT INTO crash SELECT :i, (SELECT emb FROM queries WHERE id = :i % 100)[1:783] || (:i)::real ON CONFLICT DO NOTHING;
SQL
cat >"$tmp/del.sql" <<'SQL'
\set i random(0, 1999)
DELETE FROM crash WHERE id = :i;
SQL
cat >"$tmp/q.sql" <<'SQL'
\set q random(0, 99)
SELECT id FROM crash ORDER BY emb <-> (SELECT emb FROM queries WHERE id = :q) LIMIT 10;
SQL
echo "VACUUM crash;" >"$tmp/vac.sql"
chmod 644 "$tmp"/*.sql
(cd "$tmp" && PGOPTIONS="-c enable_seqscan=off" "$PGBIN/pgbench" -n -h "$tmp" -p "$port" -U postgres \
    -c 4 -j 2 -T 8 -f ins.sql@10 -f del.sql@3 -f q.sql@10 -f vac.sql@1 postgres >pgbench.txt 2>&1) \
    || { cat "$tmp/pgbench.txt"; fail "pgbench (concurrent sessions) reported errors"; }
out=$(psql -At <<SQL | tail -1
$idx SET scann.probes = 1; SET scann.reorder_k = 100000; SET scann.iterative_scan = off;
DELETE FROM crash WHERE id = (SELECT min(id) FROM crash);
VACUUM (INDEX_CLEANUP ON) crash;
SELECT (SELECT reltuples::bigint FROM pg_class WHERE relname = 'crash_emb') - (SELECT count(*) FROM crash)
    || ' ' || (SELECT count(*) FROM crash c CROSS JOIN LATERAL (SELECT id FROM crash ORDER BY emb <-> c.emb
        LIMIT 1) n WHERE n.id <> c.id AND c.id >= 100000 AND c.id % 10 = 0);
SQL
)
[ "$out" = "0 0" ] || fail "after the concurrent sessions: index tuples - rows, rows not found: $out"
echo "ok: concurrency: $(grep -o 'number of transactions actually processed: [0-9]*' "$tmp/pgbench.txt" | grep -o '[0-9]*$') transactions of 4 sessions; index tuples = table rows, every row found"
echo "PASS ($SECONDS s)"
