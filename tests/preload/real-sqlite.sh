#!/usr/bin/env bash
# sqlite3 creating, indexing and querying a 100k-row table: same output with and without umm.
set -u
. tests/preload/lib.bash
need sqlite3 sqlite3
sql="
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, val REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)
  INSERT INTO t SELECT x, printf('name-%06d-%s', (x * 7919) % 100003, hex(x * 31)), x % 97, x * 1.5 FROM c;
CREATE INDEX t_grp ON t(grp, name);
CREATE INDEX t_name ON t(name);
SELECT count(*), sum(val), min(name), max(name) FROM t;
SELECT grp, count(*), avg(val) FROM t WHERE grp < 5 GROUP BY grp ORDER BY grp;
SELECT name FROM t WHERE name LIKE 'name-0001%' ORDER BY name LIMIT 5;
SELECT a.grp, count(*) FROM t a JOIN t b ON a.id = b.id + 1 WHERE a.grp = b.grp + 1 GROUP BY a.grp ORDER BY 2 DESC, 1 LIMIT 3;
DELETE FROM t WHERE id % 3 = 0; VACUUM;
SELECT count(*), group_concat(id) FROM (SELECT id FROM t ORDER BY name DESC LIMIT 10);
"
compare sqlite sqlite3 :memory: "$sql" || exit 1
compare sqlite-file bash -c 'rm -f "$1"; sqlite3 "$1" "$2"' - "$TMPD/db" "$sql"
