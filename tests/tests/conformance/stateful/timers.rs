//! Timers: event-time order, families, resetting, firing behind the watermark, processing time at
//! the end of bounded input, expiry limits.

use super::{arriving, keyed};
use sluice_sdk::prelude::*;
use sluice_sdk::state::OrderedListState;
use sluice_sdk::testing::assert_that;
use sluice_tests::{s, secs};

/// Emits each key's values in timestamp order, with their position, however they arrive:
/// buffered in an ordered list, released by an event-time timer as the watermark passes.
#[derive(Clone)]
pub(super) struct InOrder;
#[derive(Clone)]
pub(super) struct InOrderState {
    buffer: OrderedListState<i64>,
    emitted: ValueState<u64>,
    flush: Timer,
}
impl StatefulDoFn for InOrder {
    type Key = String;
    type Value = i64;
    type Out = (String, u64, i64);
    type State = InOrderState;
    fn declare(&self, d: &mut Declarations) -> InOrderState {
        InOrderState {
            buffer: d.ordered_list("buffer"),
            emitted: d.value("emitted"),
            flush: d.event_timer("flush", Self::release),
        }
    }
    fn process(&mut self, v: i64, st: &InOrderState, ctx: &mut Ctx<'_, Self>) -> DoFnResult {
        let t = ctx.timestamp();
        let buffer = ctx.state(&st.buffer);
        buffer.add(t, v);
        let first = buffer.first_timestamp().unwrap_or(t);
        ctx.timer(&st.flush).set(first);
        Ok(())
    }
}
impl InOrder {
    fn release(
        &mut self,
        timer: &FiredTimer,
        st: &InOrderState,
        ctx: &mut Ctx<'_, Self>,
    ) -> DoFnResult {
        // Everything up to the timer's time is complete: the watermark has passed it.
        let (buffer, emitted) = ctx.states(&st.buffer, &st.emitted);
        let ready = buffer.take_before(timer.time + Duration::EPSILON);
        let next = buffer.first_timestamp();
        let first = emitted.read_or(0);
        emitted.write(first + ready.len() as u64);
        for (n, tv) in (first..).zip(ready) {
            ctx.output((ctx.key().clone(), n, tv.value));
        }
        if let Some(next) = next {
            ctx.timer(&st.flush).set(next);
        }
        Ok(())
    }
}

pub(super) fn ordering(p: &Pipeline) {
    // Timestamps 0..200 in a scrambled order, two keys.
    let events: Vec<(&str, i64, i64)> = (0..200i64)
        .map(|i| {
            let t = (i * 73) % 200;
            (if t % 2 == 0 { "even" } else { "odd" }, t * 10, t)
        })
        .collect();
    let out = keyed(p, events).apply("InOrder", ParDo::stateful(InOrder));
    let mut expected = Vec::new();
    for (k, parity) in [("even", 0), ("odd", 1)] {
        for (n, t) in (0..200i64).filter(|t| t % 2 == parity).enumerate() {
            expected.push((s(k), n as u64, t * 10));
        }
    }
    assert_that(&out).contains_in_any_order(expected);
}

/// One event-time timer per value (a family tagged by the value), at the value's seconds;
/// the firing emits the tag and the time.
#[derive(Clone)]
struct PerTag;
impl StatefulDoFn for PerTag {
    type Key = String;
    type Value = i64;
    type Out = (String, i64);
    type State = TimerFamily;
    fn declare(&self, d: &mut Declarations) -> TimerFamily {
        d.timer_family_calling("per_value", TimeDomain::EventTime, Self::fire)
    }
    fn process(&mut self, v: i64, family: &TimerFamily, ctx: &mut Ctx<'_, Self>) -> DoFnResult {
        ctx.timer_family(family, &v.to_string()).set(secs(v));
        Ok(())
    }
}
impl PerTag {
    fn fire(
        &mut self,
        timer: &FiredTimer,
        family: &TimerFamily,
        ctx: &mut Ctx<'_, Self>,
    ) -> DoFnResult {
        assert!(timer.is_in(family));
        // Outputs of an event-time timer carry its time by default.
        assert_eq!(ctx.timestamp(), timer.time);
        ctx.output((timer.tag.clone(), timer.time.as_secs()));
        Ok(())
    }
}

pub(super) fn family(p: &Pipeline) {
    // The tag 30 is set twice: one timer per (key, window, tag), so it fires once.
    let out = keyed(
        p,
        vec![("a", 30, 1), ("a", 10, 2), ("a", 30, 3), ("a", 20, 4)],
    )
    .apply("PerTag", ParDo::stateful(PerTag));
    assert_that(&out).contains_in_any_order(vec![(s("10"), 10), (s("20"), 20), (s("30"), 30)]);
}

pub(super) fn reset(p: &Pipeline) {
    // On bounded input the watermark only moves at the end: every element of a key comes
    // before its timer fires, and the last to arrive sets it. For `a` that is 2 + 100 (Beam
    // gives the same); for `b`, 5 + 7.
    // One timer per key, set at the element's time plus its value.
    let reset = ParDo::with_state(|d| d.timer("t", TimeDomain::EventTime))
        .on_element(|t, _key: &String, v: i64, ctx| {
            let at = ctx.timestamp() + Duration::from_secs(v);
            ctx.timer(t).set(at);
        })
        .on_timer(|_, _key, timer, ctx| ctx.output(timer.time.as_secs()));
    let out = arriving(p, vec![("a", 50, 1), ("a", 100, 2), ("b", 7, 5)]).apply("Reset", reset);
    assert_that(&out).contains_in_any_order(vec![102, 12]);
}

/// A timer at 10 sets another at 5 while firing: the watermark is past 5 already, so it fires
/// in the same advance, before the pending timer at 20 (as in Beam's Python SDK).
#[derive(Clone)]
struct Behind;
#[derive(Clone)]
struct BehindState {
    first: Timer,
    second: Timer,
    behind: Timer,
    seq: ValueState<u32>,
}
impl StatefulDoFn for Behind {
    type Key = String;
    type Value = i64;
    type Out = (u32, String);
    type State = BehindState;
    fn declare(&self, d: &mut Declarations) -> BehindState {
        BehindState {
            first: d.event_timer("first", Self::first),
            second: d.event_timer("second", Self::log),
            behind: d.event_timer("behind", Self::log),
            seq: d.value("seq"),
        }
    }
    fn process(&mut self, _v: i64, st: &BehindState, ctx: &mut Ctx<'_, Self>) -> DoFnResult {
        ctx.timer(&st.first).set(secs(10));
        ctx.timer(&st.second).set(secs(20));
        Ok(())
    }
}
impl Behind {
    fn first(
        &mut self,
        timer: &FiredTimer,
        st: &BehindState,
        ctx: &mut Ctx<'_, Self>,
    ) -> DoFnResult {
        ctx.timer(&st.behind).set(secs(5));
        self.log(timer, st, ctx)
    }
    /// Emits the firing's place in the sequence, the timer's name and its time.
    fn log(&mut self, timer: &FiredTimer, st: &BehindState, ctx: &mut Ctx<'_, Self>) -> DoFnResult {
        let seq = ctx.state(&st.seq);
        let n = seq.read_or(0);
        seq.write(n + 1);
        let name = [
            (st.first, "first"),
            (st.second, "second"),
            (st.behind, "behind"),
        ]
        .into_iter()
        .find_map(|(t, name)| timer.is(&t).then_some(name))
        .expect("one of the three");
        ctx.output((n, format!("{name}@{}", timer.time.as_secs())));
        Ok(())
    }
}

pub(super) fn behind_watermark(p: &Pipeline) {
    let out = keyed(p, vec![("a", 0, 0)]).apply("Behind", ParDo::stateful(Behind));
    assert_that(&out).contains_in_any_order(vec![
        (0, s("first@10")),
        (1, s("behind@5")),
        (2, s("second@20")),
    ]);
}

/// A processing-time timer set far in the future: on bounded input it fires at the end, as
/// on Beam's FnApiRunner (Beam's older BundleBasedDirectRunner drops it).
#[derive(Clone)]
pub(super) struct Later;
impl StatefulDoFn for Later {
    type Key = String;
    type Value = i64;
    type Out = (String, i64);
    type State = (Timer, BagState<i64>);
    fn declare(&self, d: &mut Declarations) -> Self::State {
        (d.processing_timer("later", Self::report), d.bag("seen"))
    }
    fn process(&mut self, v: i64, st: &Self::State, ctx: &mut Ctx<'_, Self>) -> DoFnResult {
        ctx.state(&st.1).add(v);
        ctx.timer(&st.0).set_after(Duration::from_secs(3600));
        Ok(())
    }
}
impl Later {
    fn report(
        &mut self,
        _: &FiredTimer,
        st: &(Timer, BagState<i64>),
        ctx: &mut Ctx<'_, Self>,
    ) -> DoFnResult {
        let total: i64 = ctx.state(&st.1).take().iter().sum();
        // A processing-time timer's outputs carry the timestamp of the element that set it.
        ctx.output((ctx.key().clone(), total * 1000 + ctx.timestamp().as_secs()));
        Ok(())
    }
}

pub(super) fn processing_at_end(p: &Pipeline) {
    let out = keyed(p, vec![("a", 1, 4), ("a", 2, 7), ("b", 5, 9)])
        .apply("Later", ParDo::stateful(Later));
    assert_that(&out).contains_in_any_order(vec![(s("a"), 3007), (s("b"), 5009)]);
}

pub(super) fn timer_past_expiry(p: &Pipeline) {
    let _ = keyed(p, vec![("a", 1, 1)])
        .apply(
            "Fixed",
            WindowInto::new(FixedWindows::of(Duration::from_secs(10))),
        )
        .apply(
            "Past",
            // Sets an event-time timer after the window's expiry.
            ParDo::with_state(|d| d.timer("late", TimeDomain::EventTime)).on_element(
                |late, _key: &String, _v: i64, ctx: &mut StatefulContext<'_, String, i64>| {
                    ctx.timer(late).set(secs(25))
                },
            ),
        );
}
