#!/usr/bin/env bash
# untrained.sh - scann indexes on empty and tiny tables (too few rows to train): CREATE INDEX on
# an empty and on a 5-row table, TRUNCATE of an indexed table, inserts, DELETE + VACUUM, all
# answered exactly through the index (the raw TID list, ordered by the executor's recheck);
# then REINDEX after the table grew gives a trained index. A throwaway cluster as run.sh's.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
make -s -C "$here" ${SCANN_BUILD:+SCANN_BUILD=$SCANN_BUILD} install >/dev/null
. "$here/test/cluster.sh"
pg_tmp scann-pgu
pg_init db
pg_start db -c fsync=off
psql() { pg_psql db "$@"; }
fail() { echo "FAIL: $*"; tail -20 "$tmp/db.log"; exit 1; }

# vec(i): a deterministic 8-d vector; exact(t, op): the top 10 of 20 queries, through the index
# (seq scans off) and exactly (index scans off), as one string each.
psql <<'SQL'
CREATE EXTENSION scann;
CREATE FUNCTION vec(i int) RETURNS real[] LANGUAGE sql IMMUTABLE AS
    $$ SELECT ARRAY(SELECT sin(i * j + j)::real FROM generate_series(1, 8) j) $$;
CREATE FUNCTION top(t regclass, op text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; s text := '';
BEGIN
    FOR q IN 1000..1019 LOOP
        EXECUTE format('SELECT string_agg(id::text, '','') FROM (SELECT id FROM %s ORDER BY emb %s vec(%s) LIMIT 10) s',
                       t, op, q) INTO r;
        s := s || coalesce(r, '') || ';';
    END LOOP;
    RETURN s;
END $$;
CREATE TABLE small (id int, emb real[]);
CREATE TABLE tiny (id int, emb real[]);
INSERT INTO tiny SELECT i, vec(i) FROM generate_series(1, 5) i;
SQL
# same TABLE OP LABEL: the index's answer equals the exact one (and EXPLAIN shows the index)
same() {
    local a b
    psql -At -c "SET enable_seqscan = off" -c "EXPLAIN SELECT id FROM $1 ORDER BY emb $2 vec(1) LIMIT 10" |
        grep -q "Index Scan using" || fail "$3: no index scan"
    a=$(psql -At -c "SET enable_seqscan = off" -c "SELECT top('$1', '$2')")
    b=$(psql -At -c "SET enable_indexscan = off" -c "SELECT top('$1', '$2')")
    [ "$a" = "$b" ] || fail "$3: index $a, exact $b"
    [ -n "${4:-}" ] || [ "$a" != "$(printf ';%.0s' {1..20})" ] || fail "$3: no rows"
    echo "ok: $3"
}
out=$(psql -c "CREATE INDEX small_emb ON small USING scann (emb real_l2_ops)" 2>&1)
echo "$out" | grep -q "created untrained on 0 rows" || fail "CREATE INDEX on an empty table: $out"
same small '<->' "CREATE INDEX on an empty table; an empty scan" empty
psql -c "INSERT INTO small SELECT i, vec(i) FROM generate_series(1, 40) i"
same small '<->' "inserts into an index built on an empty table are found, in exact order"
psql -c "CREATE INDEX tiny_emb ON tiny USING scann (emb real_cosine_ops)" 2>/dev/null
same tiny '<=>' "CREATE INDEX on a 5-row table (cosine)"
psql -c "INSERT INTO tiny SELECT i, vec(i) FROM generate_series(6, 30) i"
same tiny '<=>' "a 5-row index after 25 inserts"
out=$(psql -c "INSERT INTO tiny VALUES (0, '{1,2,3}')" 2>&1) && fail "wrong dimension accepted"
echo "$out" | grep -q "expected 8 dimensions" || fail "wrong error: $out"
echo "ok: an untrained index checks the dimension"

# TRUNCATE of a table with a trained index, inserts, DELETE + VACUUM, then growth and REINDEX.
psql -c "CREATE TABLE big (id int, emb real[])" -c "INSERT INTO big SELECT i, vec(i) FROM generate_series(1, 3000) i"
out=$(psql -c "SET client_min_messages = debug1" -c "CREATE INDEX big_emb ON big USING scann (emb real_ip_ops)" 2>&1)
echo "$out" | grep -q "default probes" || fail "not trained on 3000 rows: $out"
psql -c "TRUNCATE big" -c "INSERT INTO big SELECT i, vec(i) FROM generate_series(1, 700) i" 2>/dev/null
same big '<#>' "TRUNCATE, then 700 inserts (two raw pages) are found exactly"
psql -c "DELETE FROM big WHERE id % 3 = 0" -c "VACUUM big"
n=$(psql -At -c "SELECT reltuples FROM pg_class WHERE relname = 'big_emb'")
[ "$n" = "$(psql -At -c "SELECT count(*) FROM big")" ] || fail "VACUUM: index tuples $n"
same big '<#>' "DELETE + VACUUM on an untrained index (index tuples = rows)"
psql -c "INSERT INTO big SELECT i, vec(i) FROM generate_series(3001, 5000) i"
out=$(psql -c "SET client_min_messages = debug1" -c "REINDEX INDEX big_emb" 2>&1)
echo "$out" | grep -q "default probes" || fail "REINDEX after growth did not train: $out"
n=$(psql -At -c "SET enable_seqscan = off" -c "SET scann.probes = 1000" -c "SET scann.reorder_k = 10000" \
    -c "SELECT count(*) FROM (SELECT id FROM big ORDER BY emb <#> vec(1000) LIMIT 10) s")
[ "$n" = 10 ] || fail "trained index after REINDEX returned $n rows"
echo "ok: REINDEX after growth trains the index"
# reorder = 'bf16' (and int8 in run.sh): rows re-ranked from the index; each row's nearest
# neighbour is itself, also after DELETE + VACUUM moved slots within their groups.
self_nn() {
    psql -At -c "SET enable_seqscan = off" -c "SELECT count(*) FROM (SELECT * FROM b16 WHERE id % 25 = 1) c
        CROSS JOIN LATERAL (SELECT id FROM b16 ORDER BY emb <-> c.emb LIMIT 1) n WHERE n.id = c.id"
}
psql -c "CREATE TABLE b16 AS TABLE big" -c "CREATE INDEX ON b16 USING scann (emb real_l2_ops) WITH (reorder = 'bf16')"
n=$(self_nn) && total=$(psql -At -c "SELECT count(*) FROM b16 WHERE id % 25 = 1")
[ $((n * 100)) -ge $((total * 95)) ] || fail "bf16: $n of $total rows are their own nearest neighbour"
psql -c "DELETE FROM b16 WHERE id % 5 = 0" -c "VACUUM b16"
n=$(self_nn)
[ $((n * 100)) -ge $((total * 95)) ] || fail "bf16 after VACUUM: $n of $total"
echo "ok: reorder = 'bf16': $n of $total rows their own nearest neighbour (after DELETE + VACUUM)"
# An unlogged table: the init fork is an untrained index too.
psql -c "CREATE UNLOGGED TABLE ul (id int, emb real[])" -c "CREATE INDEX ON ul USING scann (emb)" \
    -c "INSERT INTO ul SELECT i, vec(i) FROM generate_series(1, 20) i" 2>/dev/null
same ul '<->' "an unlogged table's untrained index"

# Crash: kill -9 during a stream of inserts into an untrained index; after recovery every
# acknowledged row is found through the index (the raw pages are GenericXLog-logged too).
psql -c "CREATE TABLE cr (id int, emb real[])" -c "CREATE INDEX ON cr USING scann (emb)" 2>/dev/null
python3 -c "
for i in range(1, 200000):
    print(f'INSERT INTO cr VALUES ({i}, vec({i}));'); print(f'\\\\echo c {i}')" >"$tmp/stream.sql"
chmod 644 "$tmp/stream.sql"
(psql -At -f "$tmp/stream.sql" >"$tmp/acked.txt" 2>/dev/null || true) &
stream=$!
sleep 3
pm=$(head -1 "$tmp/db/postmaster.pid")
kill -STOP "$pm"
kill -9 $(pgrep -P "$pm") 2>/dev/null || true
kill -9 "$pm"
wait "$stream" || true
for _ in 1 2 3 4 5 6 7 8 9 10; do
    pg_start db -c fsync=off 2>/dev/null && break
    sleep 1
done
acked=$(grep -c '^c ' "$tmp/acked.txt" || true)
[ "$acked" -gt 50 ] || fail "only $acked inserts before the kill"
last=$(grep '^c ' "$tmp/acked.txt" | tail -1 | cut -c3-)
n=$(psql -At -c "SET enable_seqscan = off" -c "SET enable_bitmapscan = off" \
    -c "SELECT count(*) FROM (SELECT id FROM cr ORDER BY emb <-> vec(1) LIMIT 1000000) s WHERE id <= $last")
[ "$n" = "$last" ] || fail "after the crash the index returned $n of the $last acknowledged rows"
same cr '<->' "crash: $last acknowledged inserts into an untrained index all found after kill -9"
echo "PASS untrained ($SECONDS s)"
