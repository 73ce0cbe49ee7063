//! State cells: per key and window, every kind, declarations checked when the pipeline is built.

use super::keyed;
use sluice_sdk::prelude::*;
use sluice_sdk::state::{BagCell, CombiningState, MapState, SetState};
use sluice_sdk::testing::assert_that;
use sluice_tests::s;

pub(super) fn numbering(p: &Pipeline) {
    let mut events = Vec::new();
    for i in 0..300 {
        events.push((["a", "b", "c"][i % 3], i as i64, i as i64));
    }
    // Numbers each key's elements as they come: 1, 2, 3...
    let out = keyed(p, events).apply(
        "Number",
        ParDo::stateful_map(|n: &mut u64, key: &String, _v: i64| {
            *n += 1;
            Some(KV::new(key.clone(), *n))
        }),
    );
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
        d.on_window_expiration(Self::emit);
        d.value("sum")
    }
    fn process(&mut self, v: i64, sum: &ValueState<i64>, ctx: &mut Ctx<'_, Self>) -> DoFnResult {
        let cell = ctx.state(sum);
        cell.write(cell.read_or(0) + v);
        Ok(())
    }
}
impl SumAtExpiry {
    fn emit(&mut self, sum: &ValueState<i64>, ctx: &mut Ctx<'_, Self>) -> DoFnResult {
        let total = ctx.state(sum).read_or(0);
        let start = ctx.window().as_interval().map_or(-1, |w| w.start.as_secs());
        // Outputs at expiry carry the window's maximum timestamp.
        assert_eq!(ctx.timestamp(), ctx.window().max_timestamp());
        ctx.output((ctx.key().clone(), start, total));
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

/// Every kind of cell, as closures: fed by each element, reported at expiry of the global
/// window.
fn every_kind_of_cell(d: &mut Declarations) -> Kinds {
    Kinds {
        bag: d.bag("bag"),
        sum: d.combining("sum", Sum::<i64>::default()),
        by_parity: d.map("by_parity"),
        distinct: d.set("distinct"),
    }
}
struct Kinds {
    bag: BagState<i64>,
    sum: CombiningState<Sum<i64>>,
    by_parity: MapState<bool, u32>,
    distinct: SetState<i64>,
}

pub(super) fn every_kind(p: &Pipeline) {
    let kinds = ParDo::with_state(every_kind_of_cell)
        .on_element(|st, _key: &String, v: i64, ctx| {
            ctx.state(&st.bag).add(v);
            ctx.state(&st.sum).add(v);
            *ctx.state(&st.by_parity)
                .get_or_insert_with(v % 2 == 0, || 0) += 1;
            ctx.state(&st.distinct).add(v);
        })
        .on_window_expiration(|st, key, ctx| {
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
        });
    let out =
        keyed(p, vec![("a", 1, 1), ("a", 2, 2), ("a", 2, 3), ("b", 5, 1)]).apply("Kinds", kinds);
    assert_that(&out).contains_in_any_order(vec![
        s("a bag=[1, 2, 2] sum=5 even=2 odd=1 distinct=2"),
        s("b bag=[5] sum=5 even=0 odd=1 distinct=1"),
    ]);
}

pub(super) fn failing(p: &Pipeline) {
    // Fails on a negative value.
    let reject_negative = ParDo::with_state(|d| d.value("last")).on_element(
        |last, _key: &String, v: i64, ctx: &mut StatefulContext<'_, String, i64>| {
            if v < 0 {
                return Err(format!("no negative amounts: {v}").into());
            }
            ctx.state(last).write(v);
            Ok(())
        },
    );
    let _ = keyed(p, vec![("a", 1, 1), ("a", -3, 2)]).apply("Fail", reject_negative);
}

pub(super) fn declared_twice(p: &Pipeline) {
    // Declares the name `n` twice.
    let twice = ParDo::with_state(|d| (d.value::<i64>("n"), d.timer("n", TimeDomain::EventTime)))
        .on_element(|_, _key: &String, _v: i64, ctx| ctx.output(0i64));
    let _ = keyed(p, vec![("a", 1, 1)]).apply("Twice", twice);
}

pub(super) fn tagged_outputs(p: &Pipeline) {
    // Running totals on the main output; a tagged output when a total passes 10, and another
    // from the timer at the end of the window.
    let over = TupleTag::<(String, i64)>::new("over");
    let last = TupleTag::<(String, i64)>::new("last");
    let (over_tag, last_tag) = (over.clone(), last.clone());
    let totals = ParDo::with_state(|d| (d.value("total"), d.timer("end", TimeDomain::EventTime)))
        .on_element(move |(total, end), key: &String, v: i64, ctx| {
            let cell = ctx.state(total);
            let before = cell.read_or(0);
            cell.write(before + v);
            ctx.output((key.clone(), before + v));
            if before <= 10 && before + v > 10 {
                ctx.output_tagged(&over_tag, (key.clone(), before + v));
            }
            let window_end = ctx.window().max_timestamp();
            ctx.timer(end).set(window_end);
        })
        .on_timer(move |(total, _), key, _timer, ctx| {
            let sum = ctx.state(total).read_or(0);
            ctx.output_tagged(&last_tag, (key.clone(), sum));
        })
        .with_output(&over)
        .with_output(&last);
    let outputs = arriving_in_order(p, vec![("a", 5), ("a", 7), ("b", 3)]).apply("Totals", totals);
    assert_that(&outputs.main()).contains_in_any_order(vec![
        (s("a"), 5),
        (s("a"), 12),
        (s("b"), 3),
    ]);
    assert_that(&outputs.get(&over)).contains_in_any_order(vec![(s("a"), 12)]);
    assert_that(&outputs.get(&last)).contains_in_any_order(vec![(s("a"), 12), (s("b"), 3)]);
}

/// `(key, value)` pairs at time 0, arriving in the order given.
fn arriving_in_order(p: &Pipeline, events: Vec<(&str, i64)>) -> PCollection<KV<String, i64>> {
    super::arriving(p, events.into_iter().map(|(k, v)| (k, v, 0)).collect())
}

pub(super) fn undeclared_tag(p: &Pipeline) {
    let stray = TupleTag::<i64>::new("stray");
    let emit = ParDo::with_state(|d| d.value::<i64>("unused")).on_element(
        move |_, _key: &String, v: i64, ctx: &mut StatefulContext<'_, String, i64>| {
            ctx.output_tagged(&stray, v);
        },
    );
    let _ = keyed(p, vec![("a", 1, 1)]).apply("Stray", emit);
}
