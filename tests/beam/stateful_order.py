"""When a stateful DoFn's elements come and its timers fire on bounded input, in Beam.

Runs the two default-order cases of tests/tests/conformance/stateful/order.rs on Beam's
Python SDK. In a venv with `pip install "apache-beam==2.77.*"`:

    python tests/beam/stateful_order.py FnApiRunner
    python tests/beam/stateful_order.py BundleBasedDirectRunner

Both print (in some order):

    moved-timer ('fired', 30, 2)
    dedup x 0
"""

import sys

import apache_beam as beam
from apache_beam.coders import VarIntCoder
from apache_beam.transforms.deduplicate import Deduplicate
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Duration


class MovedTimer(beam.DoFn):
    """Buffers each element and moves one event-time timer to its timestamp + 30 s."""

    BUFFER = BagStateSpec("buffer", VarIntCoder())
    TIMER = TimerSpec("timer", TimeDomain.WATERMARK)

    def process(
        self,
        kv,
        ts=beam.DoFn.TimestampParam,
        buffer=beam.DoFn.StateParam(BUFFER),
        timer=beam.DoFn.TimerParam(TIMER),
    ):
        buffer.add(kv[1])
        timer.set(ts + 30)

    @on_timer(TIMER)
    def fire(self, ts=beam.DoFn.TimestampParam, buffer=beam.DoFn.StateParam(BUFFER)):
        buffered = len(list(buffer.read()))
        buffer.clear()
        yield ("fired", int(ts.micros // 1_000_000), buffered)


def main(runner):
    with beam.Pipeline(runner=runner) as p:
        (
            p
            | "Moved input" >> beam.Create([("a", 100), ("a", 0)])
            | "Moved times" >> beam.Map(lambda kv: TimestampedValue(kv, kv[1]))
            | beam.ParDo(MovedTimer())
            | "Print moved" >> beam.Map(lambda x: print("moved-timer", x))
        )
        (
            p
            | "Dedup input" >> beam.Create([("x", 0), ("x", 100)])
            | "Dedup times" >> beam.Map(lambda kv: TimestampedValue(kv[0], kv[1]))
            | Deduplicate(event_time_duration=Duration(seconds=60))
            | "Print dedup"
            >> beam.Map(
                lambda x, ts=beam.DoFn.TimestampParam: print(
                    "dedup", x, int(ts.micros // 1_000_000)
                )
            )
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "FnApiRunner")
