#!/usr/bin/env bash
# Tmall and a 10M-event generated log (written by DuckDB to /tmp, not the repo): ingest and weekly panel
# through the CLI on DuckDB and on Spark local[2], wall clock per command (Spark's includes the JVM start),
# and a check that both panels are identical. Usage: bash bench/spark_vs_duckdb.sh
set -euo pipefail
cd "$(dirname "$0")/.."
B=/tmp/spark-bench; rm -rf $B; mkdir -p $B
PY=.venv/bin/python
if [ ! -f /tmp/ev10m.csv ]; then
$PY - <<'PY'
import duckdb
duckdb.sql("""COPY (SELECT 'u' || (hash(i) % 200000) AS user_id, 'i' || (hash(i * 7) % 500000) AS item_id,
  'c' || (hash(i * 13) % 2000) AS category,
  CASE i % 20 WHEN 0 THEN 'buy' WHEN 1 THEN 'cart' WHEN 2 THEN 'fav' ELSE 'view' END AS behavior,
  TIMESTAMP '2024-01-01' + to_seconds(CAST(hash(i * 17) % (180 * 86400) AS BIGINT)) AS ts
  FROM range(10000000) t(i)) TO '/tmp/ev10m.csv' (HEADER)""")
PY
fi
t() { local s=$(date +%s.%N); "$@" >/dev/null 2>$B/err.log || { tail -5 $B/err.log; exit 1; }; echo "$(echo "$(date +%s.%N) - $s" | bc)"; }
for log in tmall:../shared/data/tmall-2014-brand-log/t_alibaba_data.csv.gz ev10m:/tmp/ev10m.csv; do
  name=${log%%:*}; f=${log#*:}
  di=$(t $PY -m interest_core ingest $f --name $name --db $B/d-$name.duckdb)
  dp=$(t $PY -m interest_core panel $name --freq W --db $B/d-$name.duckdb --out $B/d-$name.parquet)
  si=$(t $PY -m interest_core ingest $f --name $name --db $B/s-$name.duckdb --engine spark --spark-master 'local[2]')
  sp=$(t $PY -m interest_core panel $name --freq W --db $B/s-$name.duckdb --out $B/s-$name.parquet --engine spark --spark-master 'local[2]')
  echo "$name duckdb ingest=$di panel=$dp | spark ingest=$si panel=$sp"
  $PY -c "
import duckdb; c=duckdb.connect()
a=f\"'$B/d-$name.parquet'\"; b=f\"'$B/s-$name.parquet'\"
print('panel rows', c.sql(f'select count(*) from {a}').fetchall(), 'diff', c.sql(f'select count(*) from (select * from {a} except all select * from {b})').fetchall(), c.sql(f'select count(*) from (select * from {b} except all select * from {a})').fetchall())"
done
uptime
