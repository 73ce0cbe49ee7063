//! Stateful DoFns: state cells per key and window, event-time and processing-time timers,
//! window expiry — the same output on every runner.
//!
//! Where a behaviour is subtle, the case says what Beam does (checked on Beam's Python SDK,
//! 2.77, on its FnApiRunner, which runs stateful DoFns with timers).

use sluice_sdk::prelude::*;
use sluice_sdk::state::{BagCell, CombiningState, MapState, OrderedListState, SetState};
use sluice_sdk::testing::{TestStream, assert_that};
use sluice_tests::{Case, s, secs};

pub fn cases() -> Vec<Case> {
    vec![
        Case::pass("stateful_value_state_numbers_each_key", numbering),
        Case::pass("stateful_event_timers_order_out_of_order_input", ordering),
        Case::pass("stateful_state_is_scoped_to_key_and_window", per_window),
        Case::pass("stateful_every_kind_of_state", every_kind),
        Case::pass("stateful_timer_family_fires_per_tag", family),
        Case::pass("stateful_setting_a_timer_again_moves_it", reset),
        Case::pass(
            "stateful_timer_set_behind_the_watermark_fires_in_the_same_advance",
            behind_watermark,
        ),
        Case::pass(
            "stateful_processing_time_timer_fires_at_end_of_bounded_input",
            processing_at_end,
        ),
        Case::fail(
            "error_stateful_dofn_error_names_the_transform",
            failing,
            "transform 'Fail' failed: no negative amounts: -3",
        ),
        Case::fail(
            "error_state_declared_twice_is_a_construction_error",
            declared_twice,
            "stateful ParDo 'Twice': state or timer 'n' is declared twice",
        ),
        Case::fail(
            "error_event_timer_after_window_expiry_names_the_timer",
            timer_past_expiry,
            "timer 'late' set at",
        ),
        Case::pass(
            "teststream_stateful_timers_fire_as_the_watermark_passes",
            streaming_timers,
        )
        .streaming(),
        Case::pass(
            "teststream_stateful_processing_time_timer",
            streaming_processing_timer,
        )
        .streaming(),
        Case::pass(
            "teststream_timer_output_timestamp_holds_the_watermark_downstream",
            streaming_hold,
        )
        .streaming(),
        Case::pass(
            "teststream_stateful_late_data_for_an_expired_window_is_dropped",
            streaming_gc,
        )
        .streaming(),
    ]
}

fn keyed(p: &Pipeline, events: Vec<(&str, i64, i64)>) -> PCollection<KV<String, i64>> {
    p.apply(
        "Create",
        Create::timestamped(
            events
                .into_iter()
                .map(|(k, v, t)| (KV::new(s(k), v), secs(t))),
        ),
    )
}

/// Numbers each key's elements as they come: 1, 2, 3...
#[derive(Clone)]
struct Number;
impl StatefulDoFn for Number {
    type Key = String;
    type Value = i64;
    type Out = KV<String, u64>;
    type State = ValueState<u64>;
    fn declare(&self, d: &mut Declarations) -> ValueState<u64> {
        d.value("n")
    }
    fn process(
        &mut self,
        key: &String,
        _v: i64,
        n: &ValueState<u64>,
        ctx: &mut StatefulContext<'_, Self::Out>,
    ) -> DoFnResult {
        let cell = ctx.state(n);
        let next = cell.read().copied().unwrap_or(0) + 1;
        cell.write(next);
        ctx.output(KV::new(key.clone(), next));
        Ok(())
    }
}

fn numbering(p: &Pipeline) {
    let mut events = Vec::new();
    for i in 0..300 {
        events.push((["a", "b", "c"][i % 3], i as i64, i as i64));
    }
    let out = keyed(p, events).apply("Number", ParDo::stateful(Number));
    let expected = ["a", "b", "c"]
        .iter()
        .flat_map(|k| (1..=100u64).map(move |n| KV::new(s(k), n)))
        .collect();
    assert_that(&out).contains_in_any_order(expected);
}

/// Emits each key's values in timestamp order, with their position, however they arrive:
/// buffered in an ordered list, released by an event-time timer as the watermark passes.
#[derive(Clone)]
struct InOrder;
#[derive(Clone)]
struct InOrderState {
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
            flush: d.timer("flush", TimeDomain::EventTime),
        }
    }
    fn process(
        &mut self,
        _key: &String,
        v: i64,
        st: &InOrderState,
        ctx: &mut StatefulContext<'_, Self::Out>,
    ) -> DoFnResult {
        let t = ctx.timestamp();
        ctx.state(&st.buffer).add(t, v);
        let first = ctx.state(&st.buffer).first_timestamp().unwrap_or(t);
        ctx.timer(&st.flush).set(first)
    }
    fn on_timer(
        &mut self,
        key: &String,
        timer: &FiredTimer,
        st: &InOrderState,
        ctx: &mut StatefulContext<'_, Self::Out>,
    ) -> DoFnResult {
        // Everything up to the timer's time is complete: the watermark has passed it.
        let ready = ctx
            .state(&st.buffer)
            .take_before(timer.time + Duration::EPSILON);
        for tv in ready {
            let cell = ctx.state(&st.emitted);
            let n = cell.read().copied().unwrap_or(0);
            cell.write(n + 1);
            ctx.output((key.clone(), n, tv.value));
        }
        if let Some(next) = ctx.state(&st.buffer).first_timestamp() {
            ctx.timer(&st.flush).set(next)?;
        }
        Ok(())
    }
}

fn ordering(p: &Pipeline) {
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

/// Sums each key's values per window and emits the sum when the window expires.
#[derive(Clone)]
struct SumAtExpiry;
impl StatefulDoFn for SumAtExpiry {
    type Key = String;
    type Value = i64;
    type Out = (String, i64, i64);
    type State = ValueState<i64>;
    fn declare(&self, d: &mut Declarations) -> ValueState<i64> {
        d.value("sum")
    }
    fn process(
        &mut self,
        _key: &String,
        v: i64,
        sum: &ValueState<i64>,
        ctx: &mut StatefulContext<'_, Self::Out>,
    ) -> DoFnResult {
        let cell = ctx.state(sum);
        let total = cell.read().copied().unwrap_or(0) + v;
        cell.write(total);
        Ok(())
    }
    fn has_window_expiration(&self) -> bool {
        true
    }
    fn on_window_expiration(
        &mut self,
        key: &String,
        sum: &ValueState<i64>,
        ctx: &mut StatefulContext<'_, Self::Out>,
    ) -> DoFnResult {
        let total = ctx.state(sum).read().copied().unwrap_or(0);
        let start = ctx
            .window()
            .as_interval()
            .map(|w| w.start.as_secs())
            .unwrap_or(-1);
        // Outputs at expiry carry the window's maximum timestamp.
        assert_eq!(ctx.timestamp(), ctx.window().max_timestamp());
        ctx.output((key.clone(), start, total));
        Ok(())
    }
}

fn per_window(p: &Pipeline) {
    let out = keyed(
        p,
        vec![
            ("a", 1, 1),
            ("a", 2, 9),
            ("a", 4, 12),
            ("b", 8, 3),
            ("b", 16, 25),
        ],
    )
    .apply(
        "Fixed",
        WindowInto::new(FixedWindows::of(Duration::from_secs(10))),
    )
    .apply("Sum", ParDo::stateful(SumAtExpiry));
    assert_that(&out).contains_in_any_order(vec![
        (s("a"), 0, 3),
        (s("a"), 10, 4),
        (s("b"), 0, 8),
        (s("b"), 20, 16),
    ]);
}

/// Feeds every kind of cell and reports them at expiry of the global window.
#[derive(Clone)]
struct EveryKind;
#[derive(Clone)]
struct Kinds {
    bag: BagState<i64>,
    sum: CombiningState<Sum<i64>>,
    by_parity: MapState<bool, u32>,
    distinct: SetState<i64>,
}
impl StatefulDoFn for EveryKind {
    type Key = String;
    type Value = i64;
    type Out = String;
    type State = Kinds;
    fn declare(&self, d: &mut Declarations) -> Kinds {
        Kinds {
            bag: d.bag("bag"),
            sum: d.combining("sum", Sum::<i64>::default()),
            by_parity: d.map("by_parity"),
            distinct: d.set("distinct"),
        }
    }
    fn process(
        &mut self,
        _key: &String,
        v: i64,
        st: &Kinds,
        ctx: &mut StatefulContext<'_, String>,
    ) -> DoFnResult {
        ctx.state(&st.bag).add(v);
        ctx.state(&st.sum).add(v);
        *ctx.state(&st.by_parity)
            .get_or_insert_with(v % 2 == 0, || 0) += 1;
        ctx.state(&st.distinct).add(v);
        Ok(())
    }
    fn has_window_expiration(&self) -> bool {
        true
    }
    fn on_window_expiration(
        &mut self,
        key: &String,
        st: &Kinds,
        ctx: &mut StatefulContext<'_, String>,
    ) -> DoFnResult {
        let bag: &mut BagCell<i64> = ctx.state(&st.bag);
        let mut values = bag.read().to_vec();
        values.sort();
        let sum = ctx.state(&st.sum).read();
        let even = ctx.state(&st.by_parity).get(&true).copied().unwrap_or(0);
        let odd = ctx.state(&st.by_parity).get(&false).copied().unwrap_or(0);
        let distinct = ctx.state(&st.distinct).len();
        ctx.output(format!(
            "{key} bag={values:?} sum={sum} even={even} odd={odd} distinct={distinct}"
        ));
        Ok(())
    }
}

fn every_kind(p: &Pipeline) {
    let out = keyed(p, vec![("a", 1, 1), ("a", 2, 2), ("a", 2, 3), ("b", 5, 1)])
        .apply("Kinds", ParDo::stateful(EveryKind));
    assert_that(&out).contains_in_any_order(vec![
        s("a bag=[1, 2, 2] sum=5 even=2 odd=1 distinct=2"),
        s("b bag=[5] sum=5 even=0 odd=1 distinct=1"),
    ]);
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
        d.timer_family("per_value", TimeDomain::EventTime)
    }
    fn process(
        &mut self,
        _key: &String,
        v: i64,
        family: &TimerFamily,
        ctx: &mut StatefulContext<'_, Self::Out>,
    ) -> DoFnResult {
        ctx.timer_family(family, &v.to_string()).set(secs(v))
    }
    fn on_timer(
        &mut self,
        _key: &String,
        timer: &FiredTimer,
        family: &TimerFamily,
        ctx: &mut StatefulContext<'_, Self::Out>,
    ) -> DoFnResult {
        assert!(timer.is_in(family));
        // Outputs of an event-time timer carry its time by default.
        assert_eq!(ctx.timestamp(), timer.time);
        ctx.output((timer.tag.clone(), timer.time.as_secs()));
        Ok(())
    }
}

fn family(p: &Pipeline) {
    // The tag 30 is set twice: one timer per (key, window, tag), so it fires once.
    let out = keyed(
        p,
        vec![("a", 30, 1), ("a", 10, 2), ("a", 30, 3), ("a", 20, 4)],
    )
    .apply("PerTag", ParDo::stateful(PerTag));
    assert_that(&out).contains_in_any_order(vec![(s("10"), 10), (s("20"), 20), (s("30"), 30)]);
}

/// Sets one timer per element at the element's time plus its value: only the last setting
/// fires (Beam: setting a timer again replaces it).
#[derive(Clone)]
struct Reset;
impl StatefulDoFn for Reset {
    type Key = String;
    type Value = i64;
    type Out = i64;
    type State = Timer;
    fn declare(&self, d: &mut Declarations) -> Timer {
        d.timer("t", TimeDomain::EventTime)
    }
    fn process(
        &mut self,
        _key: &String,
        v: i64,
        t: &Timer,
        ctx: &mut StatefulContext<'_, i64>,
    ) -> DoFnResult {
        let at = ctx.timestamp() + Duration::from_secs(v);
        ctx.timer(t).set(at)
    }
    fn on_timer(
        &mut self,
        _key: &String,
        timer: &FiredTimer,
        _t: &Timer,
        ctx: &mut StatefulContext<'_, i64>,
    ) -> DoFnResult {
        ctx.output(timer.time.as_secs());
        Ok(())
    }
}

fn reset(p: &Pipeline) {
    // Element times 1 and 2 (in timestamp order on every runner here, since the watermark
    // of bounded input only moves at the end): the second setting, 2 + 100, wins.
    let out = keyed(p, vec![("a", 50, 1), ("a", 100, 2), ("b", 7, 5)])
        .apply("Reset", ParDo::stateful(Reset));
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
            first: d.timer("first", TimeDomain::EventTime),
            second: d.timer("second", TimeDomain::EventTime),
            behind: d.timer("behind", TimeDomain::EventTime),
            seq: d.value("seq"),
        }
    }
    fn process(
        &mut self,
        _key: &String,
        _v: i64,
        st: &BehindState,
        ctx: &mut StatefulContext<'_, Self::Out>,
    ) -> DoFnResult {
        ctx.timer(&st.first).set(secs(10))?;
        ctx.timer(&st.second).set(secs(20))
    }
    fn on_timer(
        &mut self,
        _key: &String,
        timer: &FiredTimer,
        st: &BehindState,
        ctx: &mut StatefulContext<'_, Self::Out>,
    ) -> DoFnResult {
        let cell = ctx.state(&st.seq);
        let n = cell.read().copied().unwrap_or(0);
        cell.write(n + 1);
        let name = if timer.is(&st.first) {
            ctx.timer(&st.behind).set(secs(5))?;
            "first"
        } else if timer.is(&st.second) {
            "second"
        } else {
            "behind"
        };
        ctx.output((n, format!("{name}@{}", timer.time.as_secs())));
        Ok(())
    }
}

fn behind_watermark(p: &Pipeline) {
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
struct Later;
impl StatefulDoFn for Later {
    type Key = String;
    type Value = i64;
    type Out = (String, i64);
    type State = (Timer, BagState<i64>);
    fn declare(&self, d: &mut Declarations) -> Self::State {
        (d.timer("later", TimeDomain::ProcessingTime), d.bag("seen"))
    }
    fn process(
        &mut self,
        _key: &String,
        v: i64,
        st: &Self::State,
        ctx: &mut StatefulContext<'_, Self::Out>,
    ) -> DoFnResult {
        ctx.state(&st.1).add(v);
        ctx.timer(&st.0).set_after(Duration::from_secs(3600))
    }
    fn on_timer(
        &mut self,
        key: &String,
        _timer: &FiredTimer,
        st: &Self::State,
        ctx: &mut StatefulContext<'_, Self::Out>,
    ) -> DoFnResult {
        let total: i64 = ctx.state(&st.1).take().iter().sum();
        // A processing-time timer's outputs carry the timestamp of the element that set it.
        ctx.output((key.clone(), total * 1000 + ctx.timestamp().as_secs()));
        Ok(())
    }
}

fn processing_at_end(p: &Pipeline) {
    let out = keyed(p, vec![("a", 1, 4), ("a", 2, 7), ("b", 5, 9)])
        .apply("Later", ParDo::stateful(Later));
    assert_that(&out).contains_in_any_order(vec![(s("a"), 3007), (s("b"), 5009)]);
}

/// Fails on a negative value.
#[derive(Clone)]
struct RejectNegative;
impl StatefulDoFn for RejectNegative {
    type Key = String;
    type Value = i64;
    type Out = i64;
    type State = ValueState<i64>;
    fn declare(&self, d: &mut Declarations) -> ValueState<i64> {
        d.value("last")
    }
    fn process(
        &mut self,
        _key: &String,
        v: i64,
        last: &ValueState<i64>,
        ctx: &mut StatefulContext<'_, i64>,
    ) -> DoFnResult {
        if v < 0 {
            return Err(format!("no negative amounts: {v}").into());
        }
        ctx.state(last).write(v);
        Ok(())
    }
}

fn failing(p: &Pipeline) {
    let _ =
        keyed(p, vec![("a", 1, 1), ("a", -3, 2)]).apply("Fail", ParDo::stateful(RejectNegative));
}

/// Declares the name `n` twice.
#[derive(Clone)]
struct Twice;
impl StatefulDoFn for Twice {
    type Key = String;
    type Value = i64;
    type Out = i64;
    type State = (ValueState<i64>, Timer);
    fn declare(&self, d: &mut Declarations) -> Self::State {
        (d.value("n"), d.timer("n", TimeDomain::EventTime))
    }
    fn process(
        &mut self,
        _key: &String,
        _v: i64,
        _st: &Self::State,
        _ctx: &mut StatefulContext<'_, i64>,
    ) -> DoFnResult {
        Ok(())
    }
}

fn declared_twice(p: &Pipeline) {
    let _ = keyed(p, vec![("a", 1, 1)]).apply("Twice", ParDo::stateful(Twice));
}

/// Sets an event-time timer after the window's expiry.
#[derive(Clone)]
struct PastExpiry;
impl StatefulDoFn for PastExpiry {
    type Key = String;
    type Value = i64;
    type Out = i64;
    type State = Timer;
    fn declare(&self, d: &mut Declarations) -> Timer {
        d.timer("late", TimeDomain::EventTime)
    }
    fn process(
        &mut self,
        _key: &String,
        _v: i64,
        t: &Timer,
        ctx: &mut StatefulContext<'_, i64>,
    ) -> DoFnResult {
        ctx.timer(t).set(secs(25))
    }
}

fn timer_past_expiry(p: &Pipeline) {
    let _ = keyed(p, vec![("a", 1, 1)])
        .apply(
            "Fixed",
            WindowInto::new(FixedWindows::of(Duration::from_secs(10))),
        )
        .apply("Past", ParDo::stateful(PastExpiry));
}

fn streaming_timers(p: &Pipeline) {
    // The elements at 5 and 3 arrive before the watermark passes them; the one at 1 arrives
    // after the watermark passed 4, when the timers at 3 had fired already: it comes out
    // behind them, in its own firing, but never dropped (the global window has not expired).
    let script = TestStream::new()
        .add_elements(vec![
            (KV::new(s("k"), 50), secs(5)),
            (KV::new(s("k"), 30), secs(3)),
        ])
        .advance_watermark_to(secs(4))
        .add_elements(vec![(KV::new(s("k"), 10), secs(1))])
        .advance_watermark_to(secs(6))
        .advance_watermark_to_infinity();
    let out = p
        .apply("Events", script)
        .apply("InOrder", ParDo::stateful(InOrder));
    assert_that(&out).contains_in_any_order(vec![
        (s("k"), 0, 30),
        (s("k"), 1, 10),
        (s("k"), 2, 50),
    ]);
}

fn streaming_processing_timer(p: &Pipeline) {
    // The timer is due an hour of processing time after the elements: the test clock moves
    // two hours, so it fires then (not at the end), with what had arrived by then.
    let script = TestStream::new()
        .add_elements(vec![
            (KV::new(s("k"), 1), secs(4)),
            (KV::new(s("k"), 2), secs(7)),
        ])
        .advance_processing_time(Duration::from_secs(7200))
        .add_elements(vec![(KV::new(s("k"), 40), secs(8))])
        .advance_watermark_to_infinity();
    let out = p
        .apply("Events", script)
        .apply("Later", ParDo::stateful(Later));
    assert_that(&out).contains_in_any_order(vec![(s("k"), 3007), (s("k"), 40008)]);
}

fn streaming_gc(p: &Pipeline) {
    // Window [0, 10) expires when the watermark passes 9.999999 s: the element at 5 that
    // arrives afterwards is dropped, and the window's state was emitted at expiry.
    let script = TestStream::new()
        .add_elements(vec![
            (KV::new(s("k"), 1), secs(1)),
            (KV::new(s("k"), 2), secs(2)),
        ])
        .advance_watermark_to(secs(11))
        .add_elements(vec![
            (KV::new(s("k"), 100), secs(5)),
            (KV::new(s("k"), 7), secs(12)),
        ])
        .advance_watermark_to_infinity();
    let out = p
        .apply("Events", script)
        .apply(
            "Fixed",
            WindowInto::new(FixedWindows::of(Duration::from_secs(10))),
        )
        .apply("Sum", ParDo::stateful(SumAtExpiry));
    assert_that(&out).contains_in_any_order(vec![(s("k"), 0, 3), (s("k"), 10, 7)]);
}

fn streaming_hold(p: &Pipeline) {
    // The processing-time timer set by the element at 4 s outputs at 4 s, an hour of
    // processing time later. Until then it holds the DoFn's output watermark at 4 s: the
    // downstream window [0, 10) waits for it although the input watermark reached 20 s, and
    // its pane is on time. (Without the hold the window would expire first and drop it.)
    let script = TestStream::new()
        .add_elements(vec![(KV::new(s("k"), 1), secs(4))])
        .advance_watermark_to(secs(20))
        .advance_processing_time(Duration::from_secs(7200))
        .advance_watermark_to_infinity();
    let panes = p
        .apply("Events", script)
        .apply("Later", ParDo::stateful(Later))
        .map("ToKv", |(k, v): (String, i64)| KV::new(k, v))
        .apply(
            "Fixed",
            WindowInto::new(FixedWindows::of(Duration::from_secs(10))),
        )
        .apply("Group", GroupByKey)
        .apply(
            "Describe",
            MapWithContext::new(|kv: KV<String, Vec<i64>>, m: &ElementMeta| {
                (kv.value, m.pane.timing)
            }),
        );
    assert_that(&panes).contains_in_any_order(vec![(vec![1004], PaneTiming::OnTime)]);
}
