"""Flink SQL windowed count, the peer of `streaming_bench`: a datagen source of N events
(event time advancing 10 us per event, 1000 keys), TUMBLE(10 s) count per key into a
blackhole sink, parallelism 2. Prints `RESULT seconds events_per_second`."""
import sys
import time

from pyflink.table import EnvironmentSettings, TableEnvironment

events = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000_000
parallelism = int(sys.argv[2]) if len(sys.argv) > 2 else 2

env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
env.get_config().set("parallelism.default", str(parallelism))
env.execute_sql(f"""
CREATE TABLE events (
  id BIGINT,
  k AS id % 1000,
  ts AS TO_TIMESTAMP_LTZ(id / 100, 3),
  WATERMARK FOR ts AS ts
) WITH (
  'connector' = 'datagen',
  'rows-per-second' = '100000000',
  'number-of-rows' = '{events}',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '0',
  'fields.id.end' = '{events - 1}'
)""")
env.execute_sql("""
CREATE TABLE sink (k BIGINT, window_start TIMESTAMP(3), c BIGINT) WITH ('connector' = 'blackhole')""")
started = time.time()
env.execute_sql("""
INSERT INTO sink
SELECT k, window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY k, window_start, window_end""").wait()
seconds = time.time() - started
print(f"RESULT {seconds} {events / seconds}")
