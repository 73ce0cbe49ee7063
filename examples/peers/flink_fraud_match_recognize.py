"""Flink SQL batch job, the peer of `fraud_detection` on files: a CSV of
`timestamp_ms,account_id,amount_cents` (rows with unparsable fields filtered out first), and
per account, by event time (equal times by amount), a transaction under 100 cents followed by
the account's next one, over 50 000 cents and at most 60 s later:
`PATTERN (S L) WITHIN INTERVAL '60' SECOND` with `AFTER MATCH SKIP TO NEXT ROW`.
Writes `account_id,small_timestamp_ms,large_timestamp_ms,large_amount_cents` CSV files into
OUTPUT_DIR, parallelism 2.
Usage: flink_fraud_match_recognize.py INPUT_CSV OUTPUT_DIR"""
import sys

from pyflink.table import EnvironmentSettings, TableEnvironment

source, output = sys.argv[1], sys.argv[2]
env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
env.get_config().set("parallelism.default", "2")
env.get_config().set("table.local-time-zone", "UTC")
env.execute_sql(f"""
CREATE TABLE raw_tx (
  ts_ms BIGINT, account STRING, amount BIGINT,
  ts AS TO_TIMESTAMP_LTZ(ts_ms, 3),
  WATERMARK FOR ts AS ts
) WITH ('connector' = 'filesystem', 'path' = '{source}', 'format' = 'csv',
        'csv.ignore-parse-errors' = 'true')""")
env.execute_sql(f"""
CREATE TABLE alerts (
  account STRING, small_ts BIGINT, large_ts BIGINT, large_amount BIGINT
) WITH ('connector' = 'filesystem', 'path' = '{output}', 'format' = 'csv')""")
env.execute_sql("""
CREATE TEMPORARY VIEW tx AS
SELECT * FROM raw_tx
WHERE ts_ms IS NOT NULL AND account IS NOT NULL AND account <> '' AND amount IS NOT NULL
  AND amount >= 0""")
env.execute_sql("""
INSERT INTO alerts
SELECT account, small_ts, large_ts, large_amount
FROM tx
MATCH_RECOGNIZE (
  PARTITION BY account
  ORDER BY ts, amount
  MEASURES S.ts_ms AS small_ts, L.ts_ms AS large_ts, L.amount AS large_amount
  AFTER MATCH SKIP TO NEXT ROW
  PATTERN (S L) WITHIN INTERVAL '60' SECOND
  DEFINE S AS S.amount < 100, L AS L.amount > 50000
)""").wait()
