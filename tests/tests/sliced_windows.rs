//! Sliding windows aggregated a slice at a time equal sliding windows aggregated per window.
//!
//! A Combine over sliding windows takes its elements in slices (each element once) and builds
//! each window from its slices. The same pipeline with a step that observes windows before the
//! Combine (a `MapWithContext`) makes the pipeline explode every element into its windows
//! first, as per-window accumulation does. On random input, windows, triggers, lateness,
//! accumulation modes and timestamp combiners, bounded and streaming, on every runner, both
//! must give the same panes: values, windows, timestamps and pane infos.

use proptest::prelude::*;
use sluice_runners::{PipelineOptions, run, runner_names};
use sluice_sdk::graph::NodeKind;
use sluice_sdk::prelude::*;
use sluice_sdk::testing::{TestStream, assert_that};
use std::sync::{Arc, Mutex};

/// One pane of output: key, window start and end (µs), result, timestamp (µs), pane.
type Row = (u8, i64, i64, i64, i64, String);

/// A generated case, times in seconds.
#[derive(Clone, Debug)]
struct Setup {
    size: i64,
    period: i64,
    offset: i64,
    trigger: Trigger,
    accumulating: bool,
    lateness: i64,
    combiner: TimestampCombiner,
    globally: bool,
}

fn trigger() -> impl Strategy<Value = Trigger> {
    prop_oneof![
        Just(Trigger::Default),
        Just(Trigger::after_watermark()),
        Just(Trigger::after_watermark().with_late_firings(Trigger::after_count(1))),
        (1u64..4).prop_map(|n| Trigger::after_watermark()
            .with_early_firings(Trigger::after_count(n))
            .with_late_firings(Trigger::after_count(1))),
        (1u64..4).prop_map(|n| Trigger::repeatedly(Trigger::after_count(n))),
    ]
}

fn combiner() -> impl Strategy<Value = TimestampCombiner> {
    prop_oneof![
        Just(TimestampCombiner::EndOfWindow),
        Just(TimestampCombiner::Earliest),
        Just(TimestampCombiner::Latest),
    ]
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        (1i64..13, 1i64..7, 0i64..6),
        trigger(),
        any::<bool>(),
        prop_oneof![Just(0i64), Just(5), Just(30)],
        combiner(),
        any::<bool>(),
    )
        .prop_map(
            |((size, period, offset), trigger, accumulating, lateness, combiner, globally)| Setup {
                size,
                period,
                offset: offset % period,
                trigger,
                accumulating,
                lateness,
                combiner,
                globally,
            },
        )
}

/// Batches of (key, value, second); in streaming the watermark advances to the batch's second
/// after it, so later batches may bring late data. A batch is small enough that its elements
/// in all their windows make one bundle (at most 5 × 12 < 64): a trigger that counts
/// elements then sees the same batches both ways.
type Batches = Vec<(Vec<(u8, i64, i64)>, i64)>;

fn batches() -> impl Strategy<Value = Batches> {
    prop::collection::vec(
        (
            prop::collection::vec((0u8..3, -20i64..20, 0i64..80), 0..6),
            0i64..90,
        ),
        1..8,
    )
}

/// Whether the panes of `trigger` depend on nothing but the watermark: on bounded input,
/// panes of a trigger that counts elements depend on how the runner cuts its input in
/// batches, which Beam leaves open too (and exploding changes), so only these are compared
/// there.
fn watermark_only(trigger: &Trigger) -> bool {
    matches!(
        trigger,
        Trigger::Default | Trigger::AfterWatermark { early: None, .. }
    )
}

fn windowing(s: &Setup) -> WindowInto {
    let hop = SlidingWindows::of(Duration::from_secs(s.size), Duration::from_secs(s.period))
        .with_offset(Duration::from_secs(s.offset));
    let into = WindowInto::new(hop)
        .triggering(s.trigger.clone())
        .with_allowed_lateness(Duration::from_secs(s.lateness))
        .with_timestamp_combiner(s.combiner);
    if s.accumulating {
        into.accumulating_fired_panes()
    } else {
        into.discarding_fired_panes()
    }
}

/// Builds the pipeline; `per_window` puts a step that observes windows before the Combine.
/// Returns where its rows land once it has run.
fn build(
    p: &Pipeline,
    s: &Setup,
    input: &Batches,
    streaming: bool,
    per_window: bool,
) -> Arc<Mutex<Vec<Row>>> {
    let events = if streaming {
        let mut script = TestStream::new();
        for (batch, watermark) in input {
            let elements = batch
                .iter()
                .map(|&(k, v, t)| (KV::new(k, v), Timestamp::from_secs(t)))
                .collect();
            script = script
                .add_elements(elements)
                .advance_watermark_to(Timestamp::from_secs(*watermark));
        }
        p.apply("Events", script.advance_watermark_to_infinity())
    } else {
        let all = input
            .iter()
            .flat_map(|(batch, _)| batch.iter())
            .map(|&(k, v, t)| (KV::new(k, v), Timestamp::from_secs(t)))
            .collect::<Vec<_>>();
        p.apply("Events", Create::timestamped(all))
    };
    let mut windowed = events
        .apply("Window", windowing(s))
        .map("Double", |kv: KV<u8, i64>| KV::new(kv.key, kv.value * 2));
    if per_window {
        windowed = windowed.apply(
            "SeeWindow",
            MapWithContext::new(|kv: KV<u8, i64>, _: &ElementMeta| kv),
        );
    }
    let sums: PCollection<KV<u8, i64>> = if s.globally {
        windowed
            .map("Value", |kv: KV<u8, i64>| kv.value)
            .apply(
                "Sum",
                Combine::globally(Sum::<i64>::new()).without_defaults(),
            )
            .map("Key", |v: i64| KV::new(0u8, v))
    } else {
        windowed.apply("Sum", Combine::per_key(Sum::<i64>::new()))
    };
    let rows = sums.apply(
        "Describe",
        MapWithContext::new(|kv: KV<u8, i64>, m: &ElementMeta| {
            let w = m.window.as_interval().expect("sliding windows");
            (
                kv.key,
                w.start.as_micros(),
                w.end.as_micros(),
                kv.value,
                m.timestamp.as_micros(),
                format!("{:?}", m.pane),
            )
        }),
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    assert_that(&rows).satisfies(move |rows: &[Row]| {
        let mut rows = rows.to_vec();
        rows.sort();
        *sink.lock().unwrap() = rows;
        Ok(())
    });
    seen
}

/// Runs the pipeline on `runner`, returning its rows.
fn rows_of(
    runner: &str,
    s: &Setup,
    input: &Batches,
    streaming: bool,
    per_window: bool,
) -> Result<Vec<Row>, String> {
    let p = Pipeline::new();
    let seen = build(&p, s, input, streaming, per_window);
    let mut options = PipelineOptions::for_runner(runner);
    if streaming && runner == "timely" {
        // A timely worker learns the watermark from its frontier, which may pass several of a
        // test stream's advances at once when no data reaches it between them: an on-time pane
        // and the window's expiry then coincide, and the pane is also the last. Which advances
        // a worker sees depends on thread scheduling, so one worker keeps the panes the same
        // from run to run.
        options.workers = Some(1);
    }
    let result = run(&p, &options).map_err(|e| e.to_string())?;
    if result.assertions_passed() != 1 {
        return Err("the rows were not gathered".to_string());
    }
    Ok(std::mem::take(&mut *seen.lock().unwrap()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn sliced_and_per_window_sliding_aggregation_give_the_same_panes(
        s in setup(),
        input in batches(),
        streaming in any::<bool>(),
    ) {
        prop_assume!(streaming || watermark_only(&s.trigger));
        for runner in runner_names() {
            if streaming && runner == "rayon" {
                continue; // bounded input only
            }
            let sliced = rows_of(runner, &s, &input, streaming, false);
            let per_window = rows_of(runner, &s, &input, streaming, true);
            prop_assert!(sliced.is_ok(), "{runner}: {:?}", sliced);
            prop_assert_eq!(sliced, per_window, "{} {:?}", runner, s);
        }
    }
}

/// The sliced pipeline does put elements in slices: the Combine reads the Window's output
/// (through a Map), and only a step that observes windows is preceded by an exploding ParDo.
#[test]
fn only_a_step_that_observes_windows_explodes_the_slices() {
    let setup = Setup {
        size: 60,
        period: 10,
        offset: 0,
        trigger: Trigger::Default,
        accumulating: false,
        lateness: 0,
        combiner: TimestampCombiner::EndOfWindow,
        globally: false,
    };
    let input = vec![(vec![(1, 2, 3)], 10)];
    let names = |per_window: bool| {
        let p = Pipeline::new();
        build(&p, &setup, &input, false, per_window);
        let graph = p.graph().unwrap();
        let sum = graph.nodes.iter().find(|n| n.name == "Sum").unwrap();
        assert!(matches!(sum.kind, NodeKind::GroupByKey(_)));
        let sum_input = graph.collection(sum.inputs[0]);
        let explodes: Vec<String> = graph
            .nodes
            .iter()
            .filter(|n| n.name.ends_with("ExplodeSlices"))
            .map(|n| n.name.clone())
            .collect();
        (sum_input.sliced.is_some(), explodes)
    };
    assert_eq!(names(false), (true, vec![]));
    assert_eq!(
        names(true),
        (false, vec!["Double/ExplodeSlices".to_string()])
    );
}
