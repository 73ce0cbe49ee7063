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
fn moved_timer(
    input: PCollection<KV<String, i64>>,
    time_sorted: bool,
) -> PCollection<(i64, usize)> {
    let moved = ParDo::with_state(|d| (d.bag("buffer"), d.timer("timer", TimeDomain::EventTime)))
        .on_element(|(buffer, timer), _key: &String, v: i64, ctx| {
            ctx.state(buffer).add(v);
            let at = ctx.timestamp() + Duration::from_secs(30);
            ctx.timer(timer).set(at);
        })
        .on_timer(|(buffer, _), _key, timer, ctx| {
            let buffered: Vec<i64> = ctx.state(buffer).take();
            ctx.output((timer.time.as_secs(), buffered.len()));
        });
    let moved = if time_sorted {
        moved.time_sorted()
    } else {
        moved
    };
    input.apply("Moved", moved)
}

/// Beam: the elements first (the second setting, 0 + 30, wins), then one firing with both.
pub(super) fn elements_then_timers(p: &Pipeline) {
    let input = arriving(p, vec![("a", 100, 100), ("a", 0, 0)]);
    assert_that(&moved_timer(input, false)).contains_in_any_order(vec![(30, 1 + 1)]);
}

/// Time-sorted: `a@0` sets 30, which fires before `a@100` comes; `a@100` sets 130.
pub(super) fn time_sorted_interleaves(p: &Pipeline) {
    let input = arriving(p, vec![("a", 100, 100), ("a", 0, 0)]);
    assert_that(&moved_timer(input, true)).contains_in_any_order(vec![(30, 1), (130, 1)]);
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
fn first_for_60s(input: PCollection<KV<String, i64>>, time_sorted: bool) -> PCollection<i64> {
    let dedup = ParDo::with_state(|d| (d.value("seen"), d.timer("forget", TimeDomain::EventTime)))
        .on_element(|(seen, forget), _key: &String, v: i64, ctx| {
            if ctx.state(seen).read().is_none() {
                ctx.state(seen).write(());
                let at = ctx.timestamp() + Duration::from_secs(60);
                ctx.timer(forget).set(at);
                ctx.output(v);
            }
        })
        .on_timer(|(seen, _), _key, _timer, ctx| ctx.state(seen).clear());
    let dedup = if time_sorted {
        dedup.time_sorted()
    } else {
        dedup
    };
    input.apply("Dedup", dedup)
}

/// Time-sorted, the timer at 60 forgets `x@0` before `x@100` comes: both come out.
pub(super) fn deduplicate_time_sorted(p: &Pipeline) {
    let firsts = first_for_60s(arriving(p, vec![("x", 100, 100), ("x", 0, 0)]), true);
    assert_that(&firsts).contains_in_any_order(vec![0, 100]);
}

/// The same rule in arrival order: `x@100` comes first and `x@0` is its duplicate.
pub(super) fn deduplicate_arrival_order(p: &Pipeline) {
    let firsts = first_for_60s(arriving(p, vec![("x", 100, 100), ("x", 0, 0)]), false);
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
    moved_timer(p.apply("Events", script), time_sorted)
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
