//! When elements come and timers fire on bounded input: Beam's order by default (elements as
//! they arrive, the watermark at the beginning of time until the input ends, then the timers),
//! and a perfect watermark for a DoFn that requires time-sorted input.
//!
//! The default cases are the results of Beam's Python SDK 2.77 (FnApiRunner and
//! BundleBasedDirectRunner agree) on `tests/beam/stateful_order.py`, which prints:
//!
//! ```text
//! moved-timer ('fired', 30, 2)
//! dedup x 0
//! ```
//!
//! Inputs come through [`arriving`](super::arriving), in the same order on every runner.

use super::arriving;
use sluice_sdk::prelude::*;
use sluice_sdk::testing::{TestStream, assert_that};
use sluice_tests::{s, secs};

/// Every element buffers itself and sets (moves) one event-time timer to its timestamp plus
/// 30 s; the firing emits its time and how many elements were buffered.
#[derive(Clone)]
struct MovedTimer {
    time_sorted: bool,
}
#[derive(Clone)]
struct MovedTimerState {
    buffer: BagState<i64>,
    timer: Timer,
}
impl StatefulDoFn for MovedTimer {
    type Key = String;
    type Value = i64;
    type Out = (i64, usize);
    type State = MovedTimerState;
    fn declare(&self, d: &mut Declarations) -> MovedTimerState {
        MovedTimerState {
            buffer: d.bag("buffer"),
            timer: d.timer("timer", TimeDomain::EventTime),
        }
    }
    fn requires_time_sorted_input(&self) -> bool {
        self.time_sorted
    }
    fn process(
        &mut self,
        _key: &String,
        v: i64,
        st: &MovedTimerState,
        ctx: &mut StatefulContext<'_, Self::Out>,
    ) -> DoFnResult {
        ctx.state(&st.buffer).add(v);
        let at = ctx.timestamp() + Duration::from_secs(30);
        ctx.timer(&st.timer).set(at)
    }
    fn on_timer(
        &mut self,
        _key: &String,
        timer: &FiredTimer,
        st: &MovedTimerState,
        ctx: &mut StatefulContext<'_, Self::Out>,
    ) -> DoFnResult {
        let buffered = ctx.state(&st.buffer).take().len();
        ctx.output((timer.time.as_secs(), buffered));
        Ok(())
    }
}

fn moved_timer(p: &Pipeline, time_sorted: bool) -> PCollection<(i64, usize)> {
    arriving(p, vec![("a", 100, 100), ("a", 0, 0)])
        .apply("Moved", ParDo::stateful(MovedTimer { time_sorted }))
}

/// Beam: the elements first (the second setting, 0 + 30, wins), then one firing with both.
pub(super) fn elements_then_timers(p: &Pipeline) {
    assert_that(&moved_timer(p, false)).contains_in_any_order(vec![(30, 1 + 1)]);
}

/// Time-sorted: `a@0` sets 30, which fires before `a@100` comes; `a@100` sets 130.
pub(super) fn time_sorted_interleaves(p: &Pipeline) {
    assert_that(&moved_timer(p, true)).contains_in_any_order(vec![(30, 1), (130, 1)]);
}

/// Beam's `Deduplicate` with an event-time duration of 60 s: `x@100` comes before the timer
/// that forgets `x@0` fires (at the end of input), so only `x@0` comes out.
pub(super) fn deduplicate_in_event_time(p: &Pipeline) {
    let firsts = arriving(p, vec![("x", 0, 0), ("x", 100, 100)])
        .apply(
            "Dedup",
            Deduplicate::keyed_values()
                .with_duration(Duration::from_secs(60))
                .with_time_domain(TimeDomain::EventTime),
        )
        .apply(
            "WithTime",
            MapWithContext::new(|kv: KV<String, i64>, meta: &ElementMeta| {
                (kv.key, meta.timestamp.as_secs())
            }),
        );
    assert_that(&firsts).contains_in_any_order(vec![(s("x"), 0)]);
}

/// The rule of Beam's `Deduplicate` as a DoFn of its own: the first of a key comes out and
/// is remembered until an event-time timer 60 s after it.
#[derive(Clone)]
struct FirstFor60s {
    time_sorted: bool,
}
#[derive(Clone)]
struct Seen {
    seen: ValueState<()>,
    forget: Timer,
}
impl StatefulDoFn for FirstFor60s {
    type Key = String;
    type Value = i64;
    type Out = i64;
    type State = Seen;
    fn declare(&self, d: &mut Declarations) -> Seen {
        Seen {
            seen: d.value("seen"),
            forget: d.timer("forget", TimeDomain::EventTime),
        }
    }
    fn requires_time_sorted_input(&self) -> bool {
        self.time_sorted
    }
    fn process(
        &mut self,
        _key: &String,
        v: i64,
        st: &Seen,
        ctx: &mut StatefulContext<'_, i64>,
    ) -> DoFnResult {
        if ctx.state(&st.seen).read().is_some() {
            return Ok(());
        }
        ctx.state(&st.seen).write(());
        let at = ctx.timestamp() + Duration::from_secs(60);
        ctx.timer(&st.forget).set(at)?;
        ctx.output(v);
        Ok(())
    }
    fn on_timer(
        &mut self,
        _key: &String,
        _timer: &FiredTimer,
        st: &Seen,
        ctx: &mut StatefulContext<'_, i64>,
    ) -> DoFnResult {
        ctx.state(&st.seen).clear();
        Ok(())
    }
}

/// Time-sorted, the timer at 60 forgets `x@0` before `x@100` comes: both come out.
pub(super) fn deduplicate_time_sorted(p: &Pipeline) {
    let firsts = arriving(p, vec![("x", 100, 100), ("x", 0, 0)])
        .apply("Dedup", ParDo::stateful(FirstFor60s { time_sorted: true }));
    assert_that(&firsts).contains_in_any_order(vec![0, 100]);
}

/// The same rule in arrival order: `x@100` comes first and `x@0` is its duplicate.
pub(super) fn deduplicate_arrival_order(p: &Pipeline) {
    let firsts = arriving(p, vec![("x", 100, 100), ("x", 0, 0)])
        .apply("Dedup", ParDo::stateful(FirstFor60s { time_sorted: false }));
    assert_that(&firsts).contains_in_any_order(vec![100]);
}

/// Out of order under a TestStream: `a@100` and `a@0` come, the watermark reaches 50, then
/// `a@20` (behind it) and `a@60` come.
fn streaming_moved_timer(p: &Pipeline, time_sorted: bool) -> PCollection<(i64, usize)> {
    let script = TestStream::new()
        .add_elements(vec![
            (KV::new(s("a"), 100), secs(100)),
            (KV::new(s("a"), 0), secs(0)),
        ])
        .advance_watermark_to(secs(50))
        .add_elements(vec![
            (KV::new(s("a"), 20), secs(20)),
            (KV::new(s("a"), 60), secs(60)),
        ])
        .advance_watermark_to_infinity();
    p.apply("Events", script)
        .apply("Moved", ParDo::stateful(MovedTimer { time_sorted }))
}

/// Time-sorted: `a@0` goes in when the watermark reaches it and its timer fires at 30; `a@20`
/// is behind the watermark by more than the allowed lateness (none) and is dropped, as by
/// Beam's sort buffer; `a@60` and `a@100` then go in one by one.
pub(super) fn streaming_time_sorted(p: &Pipeline) {
    assert_that(&streaming_moved_timer(p, true)).contains_in_any_order(vec![
        (30, 1),
        (90, 1),
        (130, 1),
    ]);
}

/// In arrival order (Beam's default): both first elements are in when the timer (moved to 30)
/// fires; `a@20` is not late for the global window, and `a@60` moves the timer to 90.
pub(super) fn streaming_arrival_order(p: &Pipeline) {
    assert_that(&streaming_moved_timer(p, false)).contains_in_any_order(vec![(30, 2), (90, 2)]);
}
