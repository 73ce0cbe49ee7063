"""Flink SQL batch jobs, the peers of Sluice's Nexmark queries on the same file of events
(JSON lines in the shape of Flink's Nexmark suite, as `nexmark --dump-events` writes them),
parallelism 2 (query 11 in streaming mode over the file: batch mode has no session windows).
The SQL is that of Flink's Nexmark suite, with windowing table functions for
its group windows, and the columns of Sluice's results (times as epoch milliseconds, a bid's
time as `yyyy-MM-dd HH:mm:ss.SSS`), written as JSON lines into OUTPUT_DIR.
Usage: flink_nexmark.py QUERY INPUT_JSON OUTPUT_DIR"""
import sys

from pyflink.table import EnvironmentSettings, TableEnvironment

query, source, output = int(sys.argv[1]), sys.argv[2], sys.argv[3]
# Batch mode has no session windows: query 11 runs in streaming mode over the same file.
STREAMING = {11}
settings = (EnvironmentSettings.in_streaming_mode() if query in STREAMING
            else EnvironmentSettings.in_batch_mode())
env = TableEnvironment.create(settings)
env.get_config().set("parallelism.default", "2")
env.get_config().set("table.local-time-zone", "UTC")


def ms(column):
    """A TIMESTAMP(3) as milliseconds since the epoch (the zone is UTC)."""
    return (f"(UNIX_TIMESTAMP(DATE_FORMAT({column}, 'yyyy-MM-dd HH:mm:ss')) * 1000"
            f" + CAST(DATE_FORMAT({column}, 'SSS') AS BIGINT))")


def text(column):
    return f"DATE_FORMAT({column}, 'yyyy-MM-dd HH:mm:ss.SSS')"


env.execute_sql(f"""
CREATE TABLE events (
  event_type INT,
  person ROW<id BIGINT, name STRING, emailAddress STRING, creditCard STRING, city STRING,
             state STRING, `dateTime` TIMESTAMP(3), extra STRING>,
  auction ROW<id BIGINT, itemName STRING, description STRING, initialBid BIGINT, reserve BIGINT,
              `dateTime` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT,
              extra STRING>,
  bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, `dateTime` TIMESTAMP(3), extra STRING>,
  `dateTime` AS CASE WHEN event_type = 0 THEN person.`dateTime`
                   WHEN event_type = 1 THEN auction.`dateTime`
                   ELSE bid.`dateTime` END,
  WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH ('connector' = 'filesystem', 'path' = '{source}', 'format' = 'json',
        'json.timestamp-format.standard' = 'SQL')""")
env.execute_sql("""
CREATE VIEW person AS SELECT person.id, person.name, person.emailAddress, person.creditCard,
  person.city, person.state, `dateTime`, person.extra FROM events WHERE event_type = 0""")
env.execute_sql("""
CREATE VIEW auction AS SELECT auction.id, auction.itemName, auction.description,
  auction.initialBid, auction.reserve, `dateTime`, auction.expires, auction.seller,
  auction.category, auction.extra FROM events WHERE event_type = 1""")
env.execute_sql("""
CREATE VIEW bid AS SELECT bid.auction, bid.bidder, bid.price, `dateTime`, bid.extra
  FROM events WHERE event_type = 2""")

BID_COLUMNS = "auction BIGINT, bidder BIGINT, price BIGINT, `dateTime` STRING, extra STRING"
HOP = "TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND))"
GAP = "INTERVAL '10' SECOND"
QUERIES = {
    0: ("event_type INT",
        "SELECT event_type FROM events"),
    1: (BID_COLUMNS,
        f"SELECT auction, bidder, CAST(FLOOR(price * 89 / 100.0) AS BIGINT), {text('`dateTime`')},"
        " extra FROM bid"),
    2: ("auction BIGINT, price BIGINT",
        "SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0"),
    3: ("name STRING, city STRING, state STRING, id BIGINT",
        "SELECT P.name, P.city, P.state, A.id FROM auction AS A INNER JOIN person AS P"
        " ON A.seller = P.id WHERE A.category = 10"
        " AND (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA')"),
    4: ("category BIGINT, average BIGINT",
        "SELECT Q.category, AVG(Q.final) FROM (SELECT MAX(B.price) AS final, A.category"
        " FROM auction A, bid B WHERE A.id = B.auction"
        " AND B.`dateTime` BETWEEN A.`dateTime` AND A.expires GROUP BY A.id, A.category) Q"
        " GROUP BY Q.category"),
    5: ("starttime BIGINT, endtime BIGINT, auction BIGINT, num BIGINT",
        f"SELECT {ms('AB.starttime')}, {ms('AB.endtime')}, AB.auction, AB.num FROM ("
        f" SELECT auction, COUNT(*) AS num, window_start AS starttime, window_end AS endtime"
        f" FROM {HOP} GROUP BY auction, window_start, window_end) AS AB"
        " JOIN (SELECT MAX(num) AS maxn, starttime, endtime FROM ("
        f" SELECT COUNT(*) AS num, window_start AS starttime, window_end AS endtime"
        f" FROM {HOP} GROUP BY auction, window_start, window_end) AS C"
        " GROUP BY starttime, endtime) AS M"
        " ON AB.starttime = M.starttime AND AB.endtime = M.endtime AND AB.num >= M.maxn"),
    7: (BID_COLUMNS,
        f"SELECT B.auction, B.bidder, B.price, {text('B.`dateTime`')}, B.extra FROM bid B"
        " JOIN (SELECT MAX(price) AS maxprice, window_start, window_end"
        " FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))"
        " GROUP BY window_start, window_end) M"
        " ON B.price = M.maxprice AND B.`dateTime` >= M.window_start"
        " AND B.`dateTime` < M.window_end"),
    8: ("id BIGINT, name STRING, starttime BIGINT",
        f"SELECT P.id, P.name, {ms('P.starttime')} FROM ("
        " SELECT id, name, window_start AS starttime, window_end AS endtime"
        " FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))"
        " GROUP BY id, name, window_start, window_end) P"
        " JOIN (SELECT seller, window_start AS starttime, window_end AS endtime"
        " FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))"
        " GROUP BY seller, window_start, window_end) A"
        " ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime"),
    11: ("bidder BIGINT, bid_count BIGINT, starttime BIGINT, endtime BIGINT",
         f"SELECT bidder, COUNT(*), {ms('window_start')}, {ms('window_end')} FROM TABLE("
         f" SESSION(TABLE bid PARTITION BY bidder, DESCRIPTOR(`dateTime`), {GAP}))"
         " GROUP BY bidder, window_start, window_end"),
}
if query not in QUERIES:
    sys.exit(f"query {query} has no Flink SQL batch peer here")
columns, select = QUERIES[query]
env.execute_sql(f"""
CREATE TABLE results ({columns})
WITH ('connector' = 'filesystem', 'path' = '{output}', 'format' = 'json')""")
env.execute_sql(f"INSERT INTO results {select}").wait()
