-- sqlite.sql - insert __ROWS__ rows, index them, query, update and delete, in an
-- in-memory database (so the page cache and every statement's memory come from
-- malloc). The runner replaces __ROWS__ and feeds this to `sqlite3 :memory:`.
-- Values are derived from the row number, so each run does the same work.
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, name TEXT, v REAL);
BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < __ROWS__)
INSERT INTO t SELECT x, (x * 7919) % 100003, printf('name-%d-%08x', x, (x * 2654435761) % 4294967296),
                     ((x * 31337) % 100000) / 100.0 FROM c;
COMMIT;
CREATE INDEX t_k ON t(k);
CREATE INDEX t_name ON t(name);
SELECT count(*), sum(v) FROM t WHERE k BETWEEN 1000 AND 20000;
SELECT k, count(*), avg(v) FROM t GROUP BY k ORDER BY count(*) DESC, k LIMIT 3;
SELECT count(DISTINCT substr(name, 1, 9)) FROM t;
SELECT name FROM t WHERE name > 'name-5' ORDER BY name LIMIT 2;
BEGIN;
UPDATE t SET v = v * 2, name = name || '-x' WHERE k % 7 = 0;
DELETE FROM t WHERE k % 11 = 0;
COMMIT;
SELECT count(*), sum(length(name)) FROM t;
SELECT a.k, count(*) FROM t AS a JOIN t AS b ON a.k = b.k WHERE a.id % 1000 = 0 GROUP BY a.k ORDER BY a.k LIMIT 3;
