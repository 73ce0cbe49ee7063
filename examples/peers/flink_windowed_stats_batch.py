"""Flink SQL batch job, the peer of `windowed_stats --window fixed:60s` on files: a CSV of
`timestamp_ms,key,value`, TUMBLE(60 s) count / sum / min / max per key, parallelism 2.
Writes `window_start_ms,window_end_ms,key,count,sum,min,max` CSV files into OUTPUT_DIR.
Usage: flink_windowed_stats_batch.py INPUT_CSV OUTPUT_DIR"""
import sys

from pyflink.table import EnvironmentSettings, TableEnvironment

source, output = sys.argv[1], sys.argv[2]
env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
env.get_config().set("parallelism.default", "2")
env.get_config().set("table.local-time-zone", "UTC")
env.execute_sql(f"""
CREATE TABLE events (
  ts_ms BIGINT, k STRING, v BIGINT,
  ts AS TO_TIMESTAMP_LTZ(ts_ms, 3)
) WITH ('connector' = 'filesystem', 'path' = '{source}', 'format' = 'csv')""")
env.execute_sql(f"""
CREATE TABLE stats (
  window_start_ms BIGINT, window_end_ms BIGINT, k STRING, c BIGINT, s BIGINT, mn BIGINT, mx BIGINT
) WITH ('connector' = 'filesystem', 'path' = '{output}', 'format' = 'csv')""")
env.execute_sql("""
INSERT INTO stats
SELECT
  UNIX_TIMESTAMP(DATE_FORMAT(window_start, 'yyyy-MM-dd HH:mm:ss')) * 1000,
  UNIX_TIMESTAMP(DATE_FORMAT(window_end, 'yyyy-MM-dd HH:mm:ss')) * 1000,
  k, COUNT(*), SUM(v), MIN(v), MAX(v)
FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '60' SECOND))
GROUP BY k, window_start, window_end""").wait()
