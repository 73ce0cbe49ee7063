//! Side inputs: singleton, iterable, list, map and multimap views, in global and fixed windows.

use sluice_sdk::prelude::*;
use sluice_sdk::testing::{TestStream, assert_that};
use sluice_tests::{Case, s, secs};
use std::collections::HashMap;

pub fn cases() -> Vec<Case> {
    vec![
        Case::pass("side_input_singleton", singleton),
        Case::pass("side_input_singleton_default_on_empty", singleton_default),
        Case::pass("side_input_iterable", iterable),
        Case::pass("side_input_list_of_computed_collection", list),
        Case::pass("side_input_map", map),
        Case::pass("side_input_multimap", multimap),
        Case::pass("side_input_windowed", windowed),
        Case::pass("side_input_two_views", two_views),
        Case::pass(
            "teststream_side_input_main_input_waits_until_the_view_is_ready",
            streaming_waits,
        )
        .streaming(),
        Case::pass(
            "teststream_slowly_changing_side_input_updates_later_elements",
            slowly_changing,
        )
        .streaming(),
        Case::pass(
            "side_input_from_a_bounded_source_in_a_streaming_pipeline",
            bounded_view_in_streaming,
        )
        .streaming(),
    ]
}

/// Outputs `f(element, side input)`.
struct WithSide<V, I, O> {
    view: PCollectionView<V>,
    f: fn(I, &V) -> Option<O>,
}
impl<V, I, O> Clone for WithSide<V, I, O> {
    fn clone(&self) -> Self {
        WithSide {
            view: self.view.clone(),
            f: self.f,
        }
    }
}
impl<V: Send + Sync + 'static, I: Element, O: Element> DoFn for WithSide<V, I, O> {
    type In = I;
    type Out = O;
    fn process(&mut self, v: I, ctx: &mut ProcessContext<'_, O>) -> DoFnResult {
        let side = ctx.side_input(&self.view)?;
        if let Some(o) = (self.f)(v, side) {
            ctx.output(o);
        }
        Ok(())
    }
}

fn with_side<V: Send + Sync + 'static, I: Element, O: Element>(
    input: &PCollection<I>,
    name: &str,
    view: &PCollectionView<V>,
    f: fn(I, &V) -> Option<O>,
) -> PCollection<O> {
    input.apply(
        name,
        ParDo::of(WithSide {
            view: view.clone(),
            f,
        })
        .with_side_input(view),
    )
}

fn singleton(p: &Pipeline) {
    let threshold = p
        .apply("Threshold", Create::of(vec![10i64]))
        .apply("View", View::singleton());
    let nums = p.apply("Nums", Create::of(vec![5i64, 10, 50, 11]));
    let big = with_side(&nums, "AboveThreshold", &threshold, |n, t| {
        (n > *t).then_some(n)
    });
    assert_that(&big).contains_in_any_order(vec![50, 11]);
}

fn singleton_default(p: &Pipeline) {
    let view = p
        .apply("Empty", Create::of(Vec::<i64>::new()))
        .apply("View", View::singleton().with_default(-1));
    let out = with_side(
        &p.apply("One", Create::of(vec![1i64])),
        "Add",
        &view,
        |n, d| Some(n + d),
    );
    assert_that(&out).contains_in_any_order(vec![0]);
}

fn iterable(p: &Pipeline) {
    let view = p
        .apply("Stop", Create::of(vec![s("the"), s("a")]))
        .apply("View", View::iterable());
    let words = p.apply(
        "Words",
        Create::of(vec![s("the"), s("cat"), s("a"), s("hat")]),
    );
    let kept = with_side(&words, "DropStopWords", &view, |w, stop: &Vec<String>| {
        (!stop.contains(&w)).then_some(w)
    });
    assert_that(&kept).contains_in_any_order(vec![s("cat"), s("hat")]);
}

fn list(p: &Pipeline) {
    let total = p
        .apply("Nums", Create::of(1..=4i64))
        .apply("Sum", Combine::globally(Sum::<i64>::new()))
        .apply("View", View::list());
    let out = with_side(
        &p.apply("X", Create::of(vec![100i64])),
        "Share",
        &total,
        |x, totals: &Vec<i64>| Some(x / totals[0]),
    );
    assert_that(&out).contains_in_any_order(vec![10]);
}

fn map(p: &Pipeline) {
    let names = p
        .apply(
            "Names",
            Create::of(vec![KV::new(1u32, s("one")), KV::new(2, s("two"))]),
        )
        .apply("View", View::map());
    let ids = p.apply("Ids", Create::of(vec![2u32, 3, 1]));
    let out = with_side(&ids, "Lookup", &names, |id, m: &HashMap<u32, String>| {
        Some(m.get(&id).cloned().unwrap_or_else(|| s("?")))
    });
    assert_that(&out).contains_in_any_order(vec![s("two"), s("?"), s("one")]);
}

fn multimap(p: &Pipeline) {
    let tags = p
        .apply(
            "Tags",
            Create::of(vec![
                KV::new(1u32, s("x")),
                KV::new(1, s("y")),
                KV::new(2, s("z")),
            ]),
        )
        .apply("View", View::multimap());
    let ids = p.apply("Ids", Create::of(vec![1u32, 2, 3]));
    let out = with_side(
        &ids,
        "Lookup",
        &tags,
        |id, m: &HashMap<u32, Vec<String>>| Some((id, m.get(&id).map_or(0, Vec::len))),
    );
    assert_that(&out).contains_in_any_order(vec![(1, 2), (2, 1), (3, 0)]);
}

fn windowed(p: &Pipeline) {
    let fixed = || WindowInto::new(FixedWindows::of(Duration::from_secs(10)));
    let rates = p
        .apply(
            "Rates",
            Create::timestamped(vec![(2i64, secs(1)), (3, secs(11))]),
        )
        .apply("RateWindows", fixed())
        .apply("View", View::singleton());
    let amounts = p
        .apply(
            "Amounts",
            Create::timestamped(vec![(10i64, secs(5)), (10, secs(15)), (1, secs(19))]),
        )
        .apply("Windows", fixed());
    let out = with_side(&amounts, "Convert", &rates, |a, r| Some(a * r));
    assert_that(&out).contains_in_any_order(vec![20, 30, 3]);
}

fn two_views(p: &Pipeline) {
    let min = p
        .apply("Min", Create::of(vec![2i64]))
        .apply("MinView", View::singleton());
    let max = p
        .apply("Max", Create::of(vec![4i64]))
        .apply("MaxView", View::singleton());
    let nums = p.apply("Nums", Create::of(1..=5i64));
    let out = nums.apply(
        "Between",
        ParDo::of(Between {
            min: min.clone(),
            max: max.clone(),
        })
        .with_side_input(&min)
        .with_side_input(&max),
    );
    assert_that(&out).contains_in_any_order(vec![2, 3, 4]);
}

#[derive(Clone)]
struct Between {
    min: PCollectionView<i64>,
    max: PCollectionView<i64>,
}
impl DoFn for Between {
    type In = i64;
    type Out = i64;
    fn process(&mut self, n: i64, ctx: &mut ProcessContext<'_, i64>) -> DoFnResult {
        if n >= *ctx.side_input(&self.min)? && n <= *ctx.side_input(&self.max)? {
            ctx.output(n);
        }
        Ok(())
    }
}

/// Splits one test stream of `("side" | "main", value)` into its side and main parts.
fn split_stream(
    p: &Pipeline,
    script: TestStream<KV<String, i64>>,
) -> (PCollection<i64>, PCollection<i64>) {
    let events = p.apply("Events", script);
    let side = events
        .filter("SideOnly", |kv: &KV<String, i64>| kv.key == "side")
        .apply("SideValues", Values);
    let main = events
        .filter("MainOnly", |kv: &KV<String, i64>| kv.key == "main")
        .apply("MainValues", Values);
    (side, main)
}

fn streaming_waits(p: &Pipeline) {
    // The main element at 5 s arrives before any side value of its window [0, 10): it waits
    // for the side value at 3 s. The one at 15 s waits until the watermark passes 20 s and
    // reads the empty view. Waiting holds the watermark: the grouping downstream still sees
    // both on time.
    let at = secs;
    let kv = |k: &str, v: i64| KV::new(s(k), v);
    let script = TestStream::new()
        .add_elements(vec![(kv("main", 1), at(5))])
        .advance_watermark_to(at(2))
        .add_elements(vec![(kv("side", 100), at(3))])
        .add_elements(vec![(kv("main", 2), at(15))])
        .advance_watermark_to(at(25))
        .advance_watermark_to_infinity();
    let (side, main) = split_stream(p, script);
    let fixed = || WindowInto::new(FixedWindows::of(Duration::from_secs(10)));
    let view = side
        .apply("SideWindows", fixed())
        .apply("View", View::iterable());
    let sums = with_side(
        &main.apply("MainWindows", fixed()),
        "AddSide",
        &view,
        |n, side: &Vec<i64>| Some(KV::new(s("k"), n + side.iter().sum::<i64>())),
    );
    let panes = sums.apply("Group", GroupByKey).apply(
        "Describe",
        MapWithContext::new(|kv: KV<String, Vec<i64>>, m: &ElementMeta| (kv.value, m.pane.timing)),
    );
    assert_that(&panes).contains_in_any_order(vec![
        (vec![101], PaneTiming::OnTime),
        (vec![2], PaneTiming::OnTime),
    ]);
}

fn slowly_changing(p: &Pipeline) {
    // A side value in the global window, fired by a repeated trigger at every new value: each
    // main element sees the latest value that arrived before it.
    let kv = |k: &str, v: i64| KV::new(s(k), v);
    let script = TestStream::new()
        .add_elements(vec![(kv("side", 10), secs(1))])
        .add_elements(vec![(kv("main", 1), secs(2))])
        .add_elements(vec![(kv("side", 20), secs(3))])
        .add_elements(vec![(kv("main", 2), secs(4)), (kv("main", 3), secs(5))])
        .advance_watermark_to_infinity();
    let (side, main) = split_stream(p, script);
    let view = side
        .apply(
            "Refresh",
            WindowInto::new(GlobalWindows)
                .triggering(Trigger::repeatedly(Trigger::after_count(1)))
                .discarding_fired_panes(),
        )
        .apply("Latest", Latest::globally())
        .apply("View", View::singleton());
    let out = with_side(&main, "Lookup", &view, |n, v: &i64| Some((n, *v)));
    assert_that(&out).contains_in_any_order(vec![(1, 10), (2, 20), (3, 20)]);
}

fn bounded_view_in_streaming(p: &Pipeline) {
    // A view of bounded data is complete before the stream starts.
    let view = p
        .apply(
            "Table",
            Create::of(vec![KV::new(1i64, s("one")), KV::new(2, s("two"))]),
        )
        .apply("View", View::map());
    let script = TestStream::new()
        .add_elements(vec![(1i64, secs(1)), (2, secs(2)), (3, secs(3))])
        .advance_watermark_to_infinity();
    let out = with_side(
        &p.apply("Events", script),
        "Lookup",
        &view,
        |n, table: &HashMap<i64, String>| table.get(&n).map(|name| format!("{n}={name}")),
    );
    assert_that(&out).contains_in_any_order(vec![s("1=one"), s("2=two")]);
}
