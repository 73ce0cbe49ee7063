//! State cells: per key and window, every kind, declarations checked when the pipeline is built.

use super::keyed;
use sluice_sdk::prelude::*;
use sluice_sdk::state::{BagCell, CombiningState, MapState, SetState};
use sluice_sdk::testing::assert_that;
use sluice_tests::s;

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
        let next = cell.read_or(0) + 1;
        cell.write(next);
        ctx.output(KV::new(key.clone(), next));
        Ok(())
    }
}

pub(super) fn numbering(p: &Pipeline) {
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

/// Sums each key's values per window and emits the sum when the window expires.
#[derive(Clone)]
pub(super) struct SumAtExpiry;
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
        let total = cell.read_or(0) + v;
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
        let total = ctx.state(sum).read_or(0);
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

pub(super) fn per_window(p: &Pipeline) {
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

pub(super) fn every_kind(p: &Pipeline) {
    let out = keyed(p, vec![("a", 1, 1), ("a", 2, 2), ("a", 2, 3), ("b", 5, 1)])
        .apply("Kinds", ParDo::stateful(EveryKind));
    assert_that(&out).contains_in_any_order(vec![
        s("a bag=[1, 2, 2] sum=5 even=2 odd=1 distinct=2"),
        s("b bag=[5] sum=5 even=0 odd=1 distinct=1"),
    ]);
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

pub(super) fn failing(p: &Pipeline) {
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

pub(super) fn declared_twice(p: &Pipeline) {
    let _ = keyed(p, vec![("a", 1, 1)]).apply("Twice", ParDo::stateful(Twice));
}
