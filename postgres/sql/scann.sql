-- scann.sql - the access method through SQL on a small deterministic table (pg_regress; run
-- by postgres/test/run.sh). Every list is probed and every candidate re-ranked, so the answers
-- are exact and do not depend on the CPU's k-means arithmetic.
CREATE EXTENSION scann;
CREATE TABLE items (id int PRIMARY KEY, emb real[]);
INSERT INTO items
SELECT i, ARRAY[sin(i), cos(i), sin(2 * i), cos(3 * i), (i % 7) / 7.0, (i % 11) / 11.0,
                sin(i * 0.5), cos(i * 0.25)]::real[]
FROM generate_series(1, 500) i;
CREATE INDEX items_l2 ON items USING scann (emb real_l2_ops) WITH (lists = 4);
SET scann.probes = 4;
SET scann.reorder_k = 500;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
SELECT id FROM items ORDER BY emb <-> '{0,1,0,1,0,0,0,1}'::real[] LIMIT 5;
SELECT id FROM items ORDER BY emb <-> '{0,1,0,1,0,0,0,1}'::real[] LIMIT 5;
-- the exact order, without the index
SET enable_indexscan = off;
SET enable_seqscan = on;
SELECT id FROM items ORDER BY emb <-> '{0,1,0,1,0,0,0,1}'::real[] LIMIT 5;
RESET enable_indexscan;
SET enable_seqscan = off;

-- inner product and cosine operator classes
CREATE INDEX items_ip ON items USING scann (emb real_ip_ops) WITH (lists = 4);
SELECT id FROM items ORDER BY emb <#> '{1,0,1,0,1,0,1,0}'::real[] LIMIT 5;
DROP INDEX items_ip;
CREATE INDEX items_cos ON items USING scann (emb real_cosine_ops) WITH (lists = 4);
SELECT id FROM items ORDER BY emb <=> '{1,0,1,0,1,0,1,0}'::real[] LIMIT 5;
DROP INDEX items_cos;

-- a filter still returns LIMIT rows
SELECT count(*) FROM (SELECT id FROM items WHERE id % 50 = 0
                      ORDER BY emb <-> '{0,1,0,1,0,0,0,1}'::real[] LIMIT 5) s;

-- inserts are found; deleted rows are not returned after VACUUM
INSERT INTO items VALUES (1001, '{9,9,9,9,9,9,9,9}');
SELECT id FROM items ORDER BY emb <-> '{9,9,9,9,9,9,9,9}'::real[] LIMIT 1;
DELETE FROM items WHERE id > 250;
VACUUM items;
SELECT count(*) FROM (SELECT id FROM items ORDER BY emb <-> '{0,1,0,1,0,0,0,1}'::real[]
                      LIMIT 10) s WHERE id > 250;

-- bad input: clear errors, the index unchanged
SELECT id FROM items ORDER BY emb <-> '{1,2,3}'::real[] LIMIT 1;
INSERT INTO items VALUES (2000, '{NaN,0,0,0,0,0,0,0}');
INSERT INTO items VALUES (2001, '{1,2,3}');
CREATE TABLE ints (x int);
CREATE INDEX ON ints USING scann (x);
SELECT count(*) FROM items;

-- an empty table builds an untrained index that answers exactly
CREATE TABLE empty_items (id int, emb real[]);
CREATE INDEX ON empty_items USING scann (emb);
INSERT INTO empty_items SELECT id, emb FROM items WHERE id <= 5;
SELECT id FROM empty_items ORDER BY emb <-> '{0,1,0,1,0,0,0,1}'::real[] LIMIT 3;

DROP TABLE items, ints, empty_items;
DROP EXTENSION scann;
