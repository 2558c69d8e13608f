#!/usr/bin/env bash
# shard.sh - scann past one server with PostgreSQL's own machinery: three throwaway PostgreSQL 15
# servers on this machine are shards, a fourth is the coordinator. The coordinator's table
# `items` is partitioned by hash of id into three postgres_fdw foreign tables (one per shard,
# the server option extensions 'scann' so that <-> is shipped); each shard has its own scann
# index. Checks: EXPLAIN shows the ORDER BY <-> pushed to every shard, the global top 10 through
# the shards has the recall of one server's index (same rows, same queries, against the exact
# order), and measures QPS through the coordinator with 1 shard (all rows on shard 1) and 3
# shards. Needs root (installs the extension, runs the servers as Debian's postgres user);
# every server is stopped at the end.   ROWS=20000 QUERIES=100 SECONDS_EACH=5
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$here/.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROWS=${ROWS:-20000}
QUERIES=${QUERIES:-100}
SECS=${SECONDS_EACH:-5}
DATA=${SCANN_TEST_DATA:-$repo/data}
base=$DATA/fashion-mnist/base.fvecs query=$DATA/fashion-mnist/query.fvecs
[ -f "$base" ] || { echo "shard.sh: no $base (scripts/get-data.sh fashion-mnist; make test-postgres runs it)" >&2; exit 1; }

make -s -C "$here" ${SCANN_BUILD:+SCANN_BUILD=$SCANN_BUILD} install >/dev/null

. "$here/test/cluster.sh"
pg_tmp scann-shard
for n in coord s1 s2 s3; do
    pg_init $n
    pg_start $n -c shared_buffers=128MB -c maintenance_work_mem=256MB -c fsync=off
done
psql_on() { pg_psql "$@"; }
fail() { echo "FAIL: $*"; exit 1; }

pg_fvecs_text "$base" "$query" "$ROWS" "$QUERIES"

for s in s1 s2 s3; do
    psql_on $s -c "CREATE EXTENSION scann" \
        -c "CREATE TABLE items (id int PRIMARY KEY, emb real[])" \
        -c "ALTER TABLE items ALTER emb SET STORAGE PLAIN"
done
psql_on s1 -c "CREATE TABLE items_all (id int PRIMARY KEY, emb real[])" \
    -c "ALTER TABLE items_all ALTER emb SET STORAGE PLAIN"

# The coordinator: a local copy (the single-server reference), the 3-shard and 1-shard tables.
{
    echo "CREATE EXTENSION scann; CREATE EXTENSION postgres_fdw;"
    for s in s1 s2 s3; do
        echo "CREATE SERVER $s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '$tmp', port '${pg_port[$s]}',
                  dbname 'postgres', extensions 'scann', batch_size '500', fetch_size '10');
              CREATE USER MAPPING FOR postgres SERVER $s OPTIONS (user 'postgres');"
    done
    cat <<SQL
CREATE TABLE local (id int PRIMARY KEY, emb real[]);
ALTER TABLE local ALTER emb SET STORAGE PLAIN;
CREATE TABLE queries (id int PRIMARY KEY, emb real[]);
COPY local FROM '$tmp/base.txt';
COPY queries FROM '$tmp/query.txt';
CREATE TABLE items (id int, emb real[]) PARTITION BY HASH (id);
CREATE FOREIGN TABLE items_0 PARTITION OF items FOR VALUES WITH (MODULUS 3, REMAINDER 0)
    SERVER s1 OPTIONS (table_name 'items');
CREATE FOREIGN TABLE items_1 PARTITION OF items FOR VALUES WITH (MODULUS 3, REMAINDER 1)
    SERVER s2 OPTIONS (table_name 'items');
CREATE FOREIGN TABLE items_2 PARTITION OF items FOR VALUES WITH (MODULUS 3, REMAINDER 2)
    SERVER s3 OPTIONS (table_name 'items');
CREATE TABLE one (id int, emb real[]) PARTITION BY HASH (id);
CREATE FOREIGN TABLE one_0 PARTITION OF one FOR VALUES WITH (MODULUS 1, REMAINDER 0)
    SERVER s1 OPTIONS (table_name 'items_all');
INSERT INTO items SELECT * FROM local;
INSERT INTO one SELECT * FROM local;
CREATE INDEX ON local USING scann (emb real_l2_ops);
SQL
} | psql_on coord
for s in s1 s2 s3; do psql_on $s -c "CREATE INDEX ON items USING scann (emb real_l2_ops)" -c "ANALYZE"; done
psql_on s1 -c "CREATE INDEX ON items_all USING scann (emb real_l2_ops)" -c "ANALYZE"
psql_on coord -c "ANALYZE"
counts=$(for s in s1 s2 s3; do psql_on $s -At -c "SELECT count(*) FROM items"; done | paste -sd/)
echo "rows per shard: $counts"

plan=$(psql_on coord -At -c "EXPLAIN VERBOSE SELECT id FROM items ORDER BY emb <-> (SELECT emb FROM queries WHERE id = 0) LIMIT 10")
n=$(echo "$plan" | grep -c "Remote SQL: .*ORDER BY (emb OPERATOR(public.<->)" || true)
[ "$n" = 3 ] || { echo "$plan"; fail "ORDER BY <-> is not pushed to the 3 shards"; }
echo "ok: EXPLAIN: a Merge Append of 3 foreign scans, each sending ORDER BY emb <-> \$1 to its shard"

# recall of the sharded and the single-server index against the exact order (local table).
r=$(psql_on coord -At <<'SQL' | tail -1
SET enable_indexscan = off;
CREATE TEMP TABLE exact AS SELECT q.id AS qid, n.id FROM queries q CROSS JOIN LATERAL
    (SELECT id FROM local ORDER BY emb <-> q.emb LIMIT 10) n;
RESET enable_indexscan;
CREATE TEMP TABLE single AS SELECT q.id AS qid, n.id FROM queries q CROSS JOIN LATERAL
    (SELECT id FROM local ORDER BY emb <-> q.emb LIMIT 10) n;
CREATE TEMP TABLE sharded AS SELECT q.id AS qid, n.id FROM queries q CROSS JOIN LATERAL
    (SELECT id FROM items ORDER BY emb <-> q.emb LIMIT 10) n;
SELECT round((SELECT count(*) FROM single JOIN exact USING (qid, id))::numeric / (SELECT count(*) FROM exact), 3)
    || ' ' || round((SELECT count(*) FROM sharded JOIN exact USING (qid, id))::numeric / (SELECT count(*) FROM exact), 3)
    || ' ' || round((SELECT count(*) FROM sharded JOIN single USING (qid, id))::numeric / (SELECT count(*) FROM single), 3);
SQL
)
read -r r_single r_sharded r_same <<<"$r"
echo "recall@10: single server $r_single, 3 shards $r_sharded (global top 10 = single server's for $r_same of the rows)"
python3 -c "import sys; sys.exit(0 if $r_sharded >= 0.9 and $r_sharded >= $r_single - 0.03 else 1)" ||
    fail "sharded recall $r_sharded against single-server $r_single"

# throughput through the coordinator: 1 shard (all rows on s1) and 3 shards, 1 and 2 clients.
qps() { # $1 = table, $2 = clients
    cat >"$tmp/q_$1.sql" <<SQL
\set q random(0, $((QUERIES - 1)))
SELECT id FROM $1 ORDER BY emb <-> (SELECT emb FROM queries WHERE id = :q) LIMIT 10;
SQL
    chmod 644 "$tmp/q_$1.sql"
    "$PGBIN/pgbench" -n -h "$tmp" -p "${pg_port[coord]}" -U postgres -f "$tmp/q_$1.sql" -c "$2" -j "$2" \
        -T "$SECS" postgres 2>&1 | sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | cut -d. -f1
}
echo "QPS through the coordinator (Fashion-MNIST $ROWS rows, k = 10): local table $(qps local 1) / $(qps local 2), 1 shard $(qps one 1) / $(qps one 2), 3 shards $(qps items 1) / $(qps items 2) (1 / 2 clients)"
echo "PASS ($SECONDS s)"
