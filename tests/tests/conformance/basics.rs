//! Roots, element-wise transforms, DoFn life cycle, tagged outputs, metrics.

use sluice_sdk::prelude::*;
use sluice_sdk::testing::{assert_that, assert_that_singleton};
use sluice_tests::{Case, s, secs};

pub fn cases() -> Vec<Case> {
    vec![
        Case::pass("create_of_values", create_of_values),
        Case::pass("create_empty", create_empty),
        Case::pass("create_one_element", create_one_element),
        Case::pass("create_timestamped_keeps_timestamps", create_timestamped),
        Case::pass("impulse_emits_one_empty_element", impulse),
        Case::pass("map", map),
        Case::pass("flat_map", flat_map),
        Case::pass("filter", filter),
        Case::pass("map_with_context_sees_metadata", map_with_context),
        Case::pass("fused_chain_of_element_wise_transforms", fused_chain),
        Case::pass("pardo_dofn", pardo_dofn),
        Case::pass("pardo_life_cycle", pardo_life_cycle),
        Case::pass("pardo_tagged_outputs", tagged_outputs),
        Case::pass("pardo_output_with_later_timestamp", output_with_timestamp),
        Case::pass_with("metrics_counter_distribution_gauge", metrics, check_metrics),
        Case::pass("keys_values_kvswap", keys_values_swap),
        Case::pass("branching_consumers_of_one_collection", branching),
    ]
}

fn create_of_values(p: &Pipeline) {
    let c = p.apply("Create", Create::of(vec![s("a"), s("b"), s("c"), s("a")]));
    assert_that(&c).contains_in_any_order(vec![s("a"), s("a"), s("b"), s("c")]);
}

fn create_empty(p: &Pipeline) {
    let c = p.apply("Create", Create::of(Vec::<u32>::new()));
    assert_that(&c).empty();
    let total = c.apply("Sum", Combine::globally(Sum::<u32>::new()));
    assert_that(&total).contains_in_any_order(vec![0]);
}

fn create_one_element(p: &Pipeline) {
    let c = p.apply("Create", Create::of(vec![42i64]));
    assert_that_singleton(&c).equal_to(42);
    let grouped = c
        .map("Key", |v: i64| KV::new(v % 2, v))
        .apply("Group", GroupByKey);
    assert_that(&grouped).contains_in_any_order(vec![KV::new(0, vec![42])]);
}

fn reify<T: Element>(pc: &PCollection<T>, name: &str) -> PCollection<(T, i64)> {
    pc.apply(
        name,
        MapWithContext::new(|v: T, m: &ElementMeta| (v, m.timestamp.as_millis())),
    )
}

fn create_timestamped(p: &Pipeline) {
    let c = p.apply(
        "Create",
        Create::timestamped(vec![(s("x"), secs(5)), (s("y"), secs(-2))]),
    );
    assert_that(&reify(&c, "Reify")).contains_in_any_order(vec![(s("x"), 5_000), (s("y"), -2_000)]);
    let plain = p.apply("Plain", Create::of(vec![1u8]));
    assert_that(&reify(&plain, "ReifyPlain"))
        .contains_in_any_order(vec![(1u8, Timestamp::MIN.as_millis())]);
}

fn impulse(p: &Pipeline) {
    let i = p.apply("Impulse", Impulse);
    assert_that(&i).contains_in_any_order(vec![Vec::<u8>::new()]);
}

fn map(p: &Pipeline) {
    let c = p
        .apply("Create", Create::of(vec![1, 2, 3]))
        .map("Square", |x: i32| x * x);
    assert_that(&c).contains_in_any_order(vec![1, 4, 9]);
}

fn flat_map(p: &Pipeline) {
    let c = p
        .apply("Create", Create::of(vec![s("a b"), s(""), s("c d e")]))
        .flat_map("Split", |l: String| {
            l.split_whitespace().map(str::to_string).collect::<Vec<_>>()
        });
    assert_that(&c).contains_in_any_order(vec![s("a"), s("b"), s("c"), s("d"), s("e")]);
}

fn filter(p: &Pipeline) {
    let c = p
        .apply("Create", Create::of(0..10u32))
        .filter("Even", |x: &u32| x.is_multiple_of(2));
    assert_that(&c).contains_in_any_order(vec![0, 2, 4, 6, 8]);
}

fn map_with_context(p: &Pipeline) {
    let c = p
        .apply(
            "Create",
            Create::timestamped(vec![(1u32, secs(12)), (2, secs(25))]),
        )
        .apply(
            "Fixed",
            WindowInto::new(FixedWindows::of(Duration::from_secs(10))),
        )
        .apply(
            "Describe",
            MapWithContext::new(|v: u32, m: &ElementMeta| {
                let w = m
                    .window
                    .as_interval()
                    .map(|w| (w.start.as_secs(), w.end.as_secs()));
                (v, m.timestamp.as_secs(), w)
            }),
        );
    assert_that(&c).contains_in_any_order(vec![(1, 12, Some((10, 20))), (2, 25, Some((20, 30)))]);
}

fn fused_chain(p: &Pipeline) {
    let c = p
        .apply("Create", Create::of(1..=100u64))
        .map("AddOne", |x: u64| x + 1)
        .filter("Odd", |x: &u64| x % 2 == 1)
        .flat_map("Twice", |x: u64| vec![x, x])
        .map("Neg", |x: u64| -(x as i64));
    let total = c.apply("Sum", Combine::globally(Sum::<i64>::new()));
    // odd numbers in 2..=101 are 3, 5, ..., 101: 50 numbers summing to 2600, each twice.
    assert_that(&total).contains_in_any_order(vec![-5200]);
}

#[derive(Clone)]
struct ParseInts;
impl DoFn for ParseInts {
    type In = String;
    type Out = i64;
    fn process(&mut self, line: String, ctx: &mut ProcessContext<'_, i64>) -> DoFnResult {
        if let Ok(n) = line.trim().parse::<i64>() {
            ctx.output(n);
        }
        Ok(())
    }
}

fn pardo_dofn(p: &Pipeline) {
    let c = p
        .apply(
            "Create",
            Create::of(vec![s("1"), s(" 2 "), s("x"), s("-3")]),
        )
        .apply("Parse", ParDo::of(ParseInts));
    assert_that(&c).contains_in_any_order(vec![1, 2, -3]);
}

/// Counts the elements of each bundle and emits the count in finish_bundle; fails if a method
/// runs out of order.
#[derive(Clone, Default)]
struct BundleCounter {
    set_up: bool,
    in_bundle: bool,
    seen: u64,
}
impl DoFn for BundleCounter {
    type In = u32;
    type Out = u64;
    fn setup(&mut self) -> DoFnResult {
        self.set_up = true;
        Ok(())
    }
    fn start_bundle(&mut self, _ctx: &mut BundleContext<'_, u64>) -> DoFnResult {
        if !self.set_up || self.in_bundle {
            return Err("start_bundle out of order".into());
        }
        self.in_bundle = true;
        self.seen = 0;
        Ok(())
    }
    fn process(&mut self, _v: u32, _ctx: &mut ProcessContext<'_, u64>) -> DoFnResult {
        if !self.in_bundle {
            return Err("process outside a bundle".into());
        }
        self.seen += 1;
        Ok(())
    }
    fn finish_bundle(&mut self, ctx: &mut BundleContext<'_, u64>) -> DoFnResult {
        if !self.in_bundle {
            return Err("finish_bundle without start_bundle".into());
        }
        self.in_bundle = false;
        if self.seen > 0 {
            ctx.output(self.seen, Timestamp::END_OF_GLOBAL_WINDOW, Window::Global);
        }
        Ok(())
    }
}

fn pardo_life_cycle(p: &Pipeline) {
    let counts = p
        .apply("Create", Create::of(0..5000u32))
        .apply("CountPerBundle", ParDo::of(BundleCounter::default()));
    let total = counts.apply("Total", Combine::globally(Sum::<u64>::new()));
    assert_that(&total).contains_in_any_order(vec![5000]);
}

#[derive(Clone)]
struct SplitParity {
    odd: TupleTag<u32>,
    big: TupleTag<String>,
}
impl DoFn for SplitParity {
    type In = u32;
    type Out = u32;
    fn process(&mut self, v: u32, ctx: &mut ProcessContext<'_, u32>) -> DoFnResult {
        if v.is_multiple_of(2) {
            ctx.output(v);
        } else {
            ctx.output_tagged(&self.odd, v)?;
        }
        if v >= 8 {
            ctx.output_tagged(&self.big, format!("big:{v}"))?;
        }
        Ok(())
    }
}

fn tagged_outputs(p: &Pipeline) {
    let odd = TupleTag::<u32>::new("odd");
    let big = TupleTag::<String>::new("big");
    let outs = p.apply("Create", Create::of(0..10u32)).apply(
        "Split",
        ParDo::of(SplitParity {
            odd: odd.clone(),
            big: big.clone(),
        })
        .with_output(&odd)
        .with_output(&big),
    );
    assert_that(&outs.main()).contains_in_any_order(vec![0, 2, 4, 6, 8]);
    assert_that(&outs.get(&odd)).contains_in_any_order(vec![1, 3, 5, 7, 9]);
    assert_that(&outs.get(&big)).contains_in_any_order(vec![s("big:8"), s("big:9")]);
}

#[derive(Clone)]
struct Delay;
impl DoFn for Delay {
    type In = u32;
    type Out = u32;
    fn process(&mut self, v: u32, ctx: &mut ProcessContext<'_, u32>) -> DoFnResult {
        let later = ctx.timestamp() + Duration::from_secs(v as i64);
        ctx.output_with_timestamp(v, later)
    }
}

fn output_with_timestamp(p: &Pipeline) {
    let c = p
        .apply(
            "Create",
            Create::timestamped(vec![(1u32, secs(10)), (5, secs(10))]),
        )
        .apply("Delay", ParDo::of(Delay));
    assert_that(&reify(&c, "Reify")).contains_in_any_order(vec![(1, 11_000), (5, 15_000)]);
}

#[derive(Clone)]
struct Measure;
impl DoFn for Measure {
    type In = String;
    type Out = String;
    fn process(&mut self, v: String, ctx: &mut ProcessContext<'_, String>) -> DoFnResult {
        ctx.metrics().counter("words").inc();
        ctx.metrics().distribution("length").update(v.len() as i64);
        ctx.metrics().gauge("last_length").set(v.len() as i64);
        ctx.output(v);
        Ok(())
    }
}

fn metrics(p: &Pipeline) {
    let c = p
        .apply(
            "Create",
            Create::of(vec![s("a"), s("bbb"), s("cc"), s("bbb")]),
        )
        .apply("Measure", ParDo::of(Measure));
    assert_that(&c).contains_in_any_order(vec![s("a"), s("bbb"), s("cc"), s("bbb")]);
}

fn check_metrics(r: &PipelineResult) -> Result<(), String> {
    let words = r.metrics.counter("Measure", "words");
    if words != Some(4) {
        return Err(format!("counter words = {words:?}, expected 4"));
    }
    let d = r
        .metrics
        .distribution("Measure", "length")
        .ok_or("no distribution")?;
    if (d.count, d.sum, d.min, d.max) != (4, 9, 1, 3) {
        return Err(format!(
            "distribution {d:?}, expected count 4 sum 9 min 1 max 3"
        ));
    }
    match r.metrics.gauge("Measure", "last_length") {
        Some(1..=3) => Ok(()),
        g => Err(format!("gauge {g:?}, expected one of the lengths")),
    }
}

fn keys_values_swap(p: &Pipeline) {
    let c = p.apply(
        "Create",
        Create::of(vec![KV::new(s("a"), 1u8), KV::new(s("b"), 2)]),
    );
    assert_that(&c.apply("Keys", Keys)).contains_in_any_order(vec![s("a"), s("b")]);
    assert_that(&c.apply("Values", Values)).contains_in_any_order(vec![1, 2]);
    assert_that(&c.apply("Swap", KvSwap))
        .contains_in_any_order(vec![KV::new(1, s("a")), KV::new(2, s("b"))]);
}

fn branching(p: &Pipeline) {
    let c = p.apply("Create", Create::of(1..=4i32));
    let a = c.map("Plus", |x: i32| x + 10);
    let b = c.map("Times", |x: i32| x * 10);
    let sum = c.apply("Sum", Combine::globally(Sum::<i32>::new()));
    assert_that(&a).contains_in_any_order(vec![11, 12, 13, 14]);
    assert_that(&b).contains_in_any_order(vec![10, 20, 30, 40]);
    assert_that(&sum).contains_in_any_order(vec![10]);
}
