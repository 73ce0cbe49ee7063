"""Bytewax windowed count, the peer of `streaming_bench`: N events (event time advancing 10 us
per event, 1000 keys), count_window with a 10 s TumblingWindower. Prints
`RESULT seconds events_per_second`."""
import sys
import time
from datetime import datetime, timedelta, timezone

import bytewax.operators as op
import bytewax.operators.windowing as win
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, run_main
from bytewax.operators.windowing import EventClock, TumblingWindower

events = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000
epoch = datetime(2026, 1, 1, tzinfo=timezone.utc)

def gen():
    for i in range(events):
        yield (i % 1000, epoch + timedelta(microseconds=10 * i))

flow = Dataflow("windowed_count")
stream = op.input("in", flow, TestingSource(gen(), batch_size=4096))
clock = EventClock(lambda e: e[1], wait_for_system_duration=timedelta(seconds=0))
windower = TumblingWindower(length=timedelta(seconds=10), align_to=epoch)
counts = win.count_window("count", stream, clock, windower, lambda e: str(e[0]))
op.inspect("sink", op.filter("drop", counts.down, lambda _: False))
started = time.time()
run_main(flow)
seconds = time.time() - started
print(f"RESULT {seconds} {events / seconds}")
