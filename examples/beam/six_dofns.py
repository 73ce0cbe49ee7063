"""Six small stateful DoFns in Beam Python, beside their Sluice versions in
examples/src/six_dofns.rs. Each DoFn and its application lies between `# [name]` and
`# [end]`; examples/src/six_dofns.rs counts the non-blank lines of both (formatted with black
and rustfmt) and checks that each Sluice version takes at most 1.5 times as many.

Run in a venv with `pip install "apache-beam==2.77.*"`:

    python examples/beam/six_dofns.py [RUNNER]

(RUNNER: FnApiRunner, the default, which runs every stateful DoFn with timers.)

It prints each output sorted; tests/tests/six_dofns.rs expects the same from Sluice.
"""

import sys

import apache_beam as beam
from apache_beam.coders import BooleanCoder, VarIntCoder
from apache_beam.transforms.combiners import CountCombineFn
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    BagStateSpec,
    CombiningValueStateSpec,
    ReadModifyWriteStateSpec,
    TimerSpec,
    on_timer,
)
from apache_beam.transforms.window import FixedWindows, TimestampedValue
from apache_beam.utils.timestamp import Duration, Timestamp


def create(p, name, events):
    """(key, value, seconds) triples as (key, value) pairs at those times, in that order."""
    return (
        p
        | name >> beam.Create(events)
        | f"{name} at" >> beam.Map(lambda e: TimestampedValue((e[0], e[1]), e[2]))
    )


def show(name):
    """Prints a collection's elements, sorted, in the global window."""
    return (
        f"{name} global" >> beam.WindowInto(beam.window.GlobalWindows())
        | f"{name} list" >> beam.combiners.ToList()
        | name >> beam.Map(lambda out: print(name, sorted(out)))
    )


def pipeline(p):
    clicks = create(
        p, "Clicks", [("ann", "home", 0), ("bob", "cart", 1), ("ann", "cart", 2)]
    )
    readings = create(
        p, "Readings", [("s1", 4, 10), ("s2", 9, 20), ("s1", 2, 30), ("s1", 7, 70)]
    ) | beam.WindowInto(FixedWindows(60))
    events = create(p, "Events", [("a", 1, 100), ("a", 2, 0), ("b", 3, 50)])
    items = create(p, "Items", [("k", 1, 5), ("k", 2, 4), ("k", 3, 3), ("j", 4, 2)])
    logins = create(p, "Logins", [("x", "1st", 0), ("x", "2nd", 100), ("y", "3rd", 9)])
    orders = create(p, "Orders", [("o1", 5, 0), ("o2", 1, 0), ("o1", 3, 1)])

    # [running_index]
    class Index(beam.DoFn):
        INDEX = ReadModifyWriteStateSpec("index", VarIntCoder())

        def process(self, kv, index=beam.DoFn.StateParam(INDEX)):
            i = index.read() or 0
            index.write(i + 1)
            yield kv[0], i, kv[1]

    indexed = clicks | "Index" >> beam.ParDo(Index())
    # [end]

    # [buffer_until_window_end]
    class BufferUntilWindowEnd(beam.DoFn):
        BUFFER = BagStateSpec("buffer", VarIntCoder())
        END = TimerSpec("end", TimeDomain.WATERMARK)

        def process(
            self,
            kv,
            window=beam.DoFn.WindowParam,
            buffer=beam.DoFn.StateParam(BUFFER),
            end=beam.DoFn.TimerParam(END),
        ):
            buffer.add(kv[1])
            end.set(window.max_timestamp())

        @on_timer(END)
        def flush(self, key=beam.DoFn.KeyParam, buffer=beam.DoFn.StateParam(BUFFER)):
            yield key, sorted(buffer.read())
            buffer.clear()

    flushed = readings | "Flush" >> beam.ParDo(BufferUntilWindowEnd())
    # [end]

    # [moved_timer]
    class CountUntilQuiet(beam.DoFn):
        COUNT = CombiningValueStateSpec("count", VarIntCoder(), CountCombineFn())
        QUIET = TimerSpec("quiet", TimeDomain.WATERMARK)

        def process(
            self,
            kv,
            ts=beam.DoFn.TimestampParam,
            count=beam.DoFn.StateParam(COUNT),
            quiet=beam.DoFn.TimerParam(QUIET),
        ):
            count.add(1)
            quiet.set(ts + 30)

        @on_timer(QUIET)
        def report(self, key=beam.DoFn.KeyParam, count=beam.DoFn.StateParam(COUNT)):
            yield key, count.read()
            count.clear()

    counted = events | "CountUntilQuiet" >> beam.ParDo(CountUntilQuiet())
    # [end]

    # [group_into_batches]
    class Batch(beam.DoFn):
        BUFFER = BagStateSpec("buffer", VarIntCoder())
        END = TimerSpec("end", TimeDomain.WATERMARK)

        def process(
            self,
            kv,
            window=beam.DoFn.WindowParam,
            buffer=beam.DoFn.StateParam(BUFFER),
            end=beam.DoFn.TimerParam(END),
        ):
            end.set(window.max_timestamp())
            buffer.add(kv[1])
            batch = list(buffer.read())
            if len(batch) == 2:
                yield kv[0], batch
                buffer.clear()

        @on_timer(END)
        def flush(self, key=beam.DoFn.KeyParam, buffer=beam.DoFn.StateParam(BUFFER)):
            batch = list(buffer.read())
            if batch:
                yield key, batch
            buffer.clear()

    batches = items | "Batch" >> beam.ParDo(Batch())
    # [end]

    # [deduplicate]
    class Dedup(beam.DoFn):
        SEEN = ReadModifyWriteStateSpec("seen", BooleanCoder())
        FORGET = TimerSpec("forget", TimeDomain.WATERMARK)

        def process(
            self,
            kv,
            ts=beam.DoFn.TimestampParam,
            seen=beam.DoFn.StateParam(SEEN),
            forget=beam.DoFn.TimerParam(FORGET),
        ):
            if not seen.read():
                seen.write(True)
                forget.set(ts + 60)
                yield kv

        @on_timer(FORGET)
        def clear(self, seen=beam.DoFn.StateParam(SEEN)):
            seen.clear()

    firsts = logins | "Dedup" >> beam.ParDo(Dedup())
    # [end]

    # [processing_time_timer]
    class FlushAfter10s(beam.DoFn):
        BUFFER = BagStateSpec("buffer", VarIntCoder())
        FLUSH = TimerSpec("flush", TimeDomain.REAL_TIME)

        def process(
            self,
            kv,
            buffer=beam.DoFn.StateParam(BUFFER),
            flush=beam.DoFn.TimerParam(FLUSH),
        ):
            if not list(buffer.read()):
                flush.set(Timestamp.now() + Duration(seconds=10))
            buffer.add(kv[1])

        @on_timer(FLUSH)
        def emit(self, key=beam.DoFn.KeyParam, buffer=beam.DoFn.StateParam(BUFFER)):
            yield key, sorted(buffer.read())
            buffer.clear()

    flushed_later = orders | "FlushAfter10s" >> beam.ParDo(FlushAfter10s())
    # [end]

    indexed | show("running_index")
    flushed | show("buffer_until_window_end")
    counted | show("moved_timer")
    batches | show("group_into_batches")
    firsts | show("deduplicate")
    flushed_later | show("processing_time_timer")


if __name__ == "__main__":
    with beam.Pipeline(runner=sys.argv[1] if len(sys.argv) > 1 else "FnApiRunner") as p:
        pipeline(p)
