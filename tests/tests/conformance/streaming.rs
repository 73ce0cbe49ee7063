//! Event time with TestStream: on-time, early and late panes, dropped data (streaming runners).

use sluice_sdk::prelude::*;
use sluice_sdk::testing::{TestStream, assert_that};
use sluice_tests::{Case, s, secs};

pub fn cases() -> Vec<Case> {
    vec![
        Case::pass("teststream_on_time_and_late_panes", on_time_and_late).streaming(),
        Case::pass("teststream_accumulating_late_pane", accumulating_late).streaming(),
        Case::pass(
            "teststream_early_on_time_and_late_panes_by_count",
            early_on_time_late,
        )
        .streaming(),
        Case::pass(
            "teststream_early_firings_in_processing_time",
            early_processing_time,
        )
        .streaming(),
        Case::pass_with(
            "teststream_data_behind_expiry_is_dropped",
            dropped,
            check_dropped,
        )
        .streaming(),
        Case::pass(
            "teststream_to_infinity_equals_bounded_input",
            same_as_bounded,
        )
        .streaming(),
        Case::pass("teststream_cascaded_groupings", cascaded).streaming(),
        Case::pass("teststream_combine_globally_with_default", combine_globally).streaming(),
    ]
}

/// (values sorted, timing, is_last) of each pane of a per-key grouping.
fn panes(input: &PCollection<KV<String, i64>>) -> PCollection<(Vec<i64>, PaneTiming, bool)> {
    input.apply("Group", GroupByKey).apply(
        "Describe",
        MapWithContext::new(|kv: KV<String, Vec<i64>>, m: &ElementMeta| {
            let mut v = kv.value;
            v.sort();
            (v, m.pane.timing, m.pane.is_last)
        }),
    )
}

fn stream(p: &Pipeline, script: TestStream<i64>) -> PCollection<KV<String, i64>> {
    p.apply("Events", script)
        .map("Key", |v: i64| KV::new(s("k"), v))
}

fn script() -> TestStream<i64> {
    TestStream::new()
        .add_elements(vec![(1, secs(1)), (2, secs(3))])
        .advance_watermark_to(secs(10))
        .add_elements(vec![(3, secs(2))])
        .advance_watermark_to_infinity()
}

fn on_time_and_late(p: &Pipeline) {
    let windowed = stream(p, script()).apply(
        "Fixed",
        WindowInto::new(FixedWindows::of(Duration::from_secs(10)))
            .with_allowed_lateness(Duration::from_secs(100)),
    );
    assert_that(&panes(&windowed)).contains_in_any_order(vec![
        (vec![1, 2], PaneTiming::OnTime, false),
        (vec![3], PaneTiming::Late, false),
    ]);
}

fn accumulating_late(p: &Pipeline) {
    let windowed = stream(p, script()).apply(
        "Fixed",
        WindowInto::new(FixedWindows::of(Duration::from_secs(10)))
            .with_allowed_lateness(Duration::from_secs(100))
            .accumulating_fired_panes(),
    );
    assert_that(&panes(&windowed)).contains_in_any_order(vec![
        (vec![1, 2], PaneTiming::OnTime, false),
        (vec![1, 2, 3], PaneTiming::Late, false),
    ]);
}

fn early_on_time_late(p: &Pipeline) {
    // Two elements fire an early pane, the watermark the on-time pane, a late element a
    // late pane: every kind of pane, on event time and counts alone.
    let script = TestStream::new()
        .add_elements(vec![(1, secs(1)), (2, secs(2))])
        .add_elements(vec![(3, secs(3))])
        .advance_watermark_to(secs(10))
        .add_elements(vec![(4, secs(4))])
        .advance_watermark_to_infinity();
    let windowed = stream(p, script).apply(
        "Fixed",
        WindowInto::new(FixedWindows::of(Duration::from_secs(10)))
            .triggering(
                Trigger::after_watermark()
                    .with_early_firings(Trigger::after_count(2))
                    .with_late_firings(Trigger::after_count(1)),
            )
            .with_allowed_lateness(Duration::from_secs(100))
            .discarding_fired_panes(),
    );
    assert_that(&panes(&windowed)).contains_in_any_order(vec![
        (vec![1, 2], PaneTiming::Early, false),
        (vec![3], PaneTiming::OnTime, false),
        (vec![4], PaneTiming::Late, false),
    ]);
}

fn early_processing_time(p: &Pipeline) {
    let script = TestStream::new()
        .add_elements(vec![(1, secs(1))])
        .advance_processing_time(Duration::from_secs(30))
        .add_elements(vec![(2, secs(2))])
        .advance_watermark_to(secs(10))
        .advance_watermark_to_infinity();
    let windowed = stream(p, script).apply(
        "Fixed",
        WindowInto::new(FixedWindows::of(Duration::from_secs(10)))
            .triggering(
                Trigger::after_watermark()
                    .with_early_firings(Trigger::after_processing_time(Duration::from_secs(10))),
            )
            .discarding_fired_panes(),
    );
    assert_that(&panes(&windowed)).contains_in_any_order(vec![
        (vec![1], PaneTiming::Early, false),
        (vec![2], PaneTiming::OnTime, true),
    ]);
}

fn dropped(p: &Pipeline) {
    let script = TestStream::new()
        .add_elements(vec![(1, secs(1))])
        .advance_watermark_to(secs(20))
        .add_elements(vec![(2, secs(2)), (25, secs(25))])
        .advance_watermark_to_infinity();
    let windowed = stream(p, script).apply(
        "Fixed",
        WindowInto::new(FixedWindows::of(Duration::from_secs(10))),
    );
    assert_that(&panes(&windowed)).contains_in_any_order(vec![
        (vec![1], PaneTiming::OnTime, true),
        (vec![25], PaneTiming::OnTime, true),
    ]);
}

fn check_dropped(r: &PipelineResult) -> Result<(), String> {
    match r.metrics.counter("Group", "droppedDueToLateness") {
        Some(1) => Ok(()),
        other => Err(format!("droppedDueToLateness = {other:?}, expected 1")),
    }
}

fn same_as_bounded(p: &Pipeline) {
    let values = vec![(5i64, secs(5)), (7, secs(12)), (9, secs(14)), (1, secs(-3))];
    let fixed = || WindowInto::new(FixedWindows::of(Duration::from_secs(10)));
    let sums = |pc: PCollection<KV<String, i64>>, name: &str| {
        pc.apply(&format!("{name}Window"), fixed())
            .apply(&format!("{name}Sum"), Combine::per_key(Sum::<i64>::new()))
            .apply(
                &format!("{name}Describe"),
                MapWithContext::new(|kv: KV<String, i64>, m: &ElementMeta| {
                    (kv.value, m.timestamp.as_millis(), m.pane.timing)
                }),
            )
    };
    let mut script = TestStream::new();
    for v in &values {
        script = script.add_elements(vec![*v]);
    }
    let streamed = sums(
        stream(p, script.advance_watermark_to_infinity()),
        "Streamed",
    );
    let bounded = sums(
        p.apply("Bounded", Create::timestamped(values))
            .map("BoundedKey", |v: i64| KV::new(s("k"), v)),
        "Bounded",
    );
    let expected = vec![
        (1, -1, PaneTiming::OnTime),
        (5, 9_999, PaneTiming::OnTime),
        (16, 19_999, PaneTiming::OnTime),
    ];
    assert_that(&streamed).contains_in_any_order(expected.clone());
    assert_that(&bounded).contains_in_any_order(expected);
}

fn cascaded(p: &Pipeline) {
    // Per-window counts per key, then the total of those counts per window: the second
    // grouping sees the first one's on-time panes before the watermark passes its windows.
    let script = TestStream::new()
        .add_elements(vec![(1, secs(1)), (2, secs(2)), (3, secs(11))])
        .advance_watermark_to(secs(10))
        .add_elements(vec![(4, secs(12))])
        .advance_watermark_to_infinity();
    let counts = p
        .apply("Events", script)
        .map("Key", |v: i64| KV::new(v % 2, v))
        .apply(
            "Fixed",
            WindowInto::new(FixedWindows::of(Duration::from_secs(10))),
        )
        .apply("CountPerKey", Count::per_key())
        .map("Rekey", |kv: KV<i64, u64>| KV::new(s("all"), kv.value))
        .apply("Total", Combine::per_key(Sum::<u64>::new()))
        .apply(
            "Describe",
            MapWithContext::new(|kv: KV<String, u64>, m: &ElementMeta| {
                (kv.value, m.window.max_timestamp().as_secs())
            }),
        );
    assert_that(&counts).contains_in_any_order(vec![(2, 9), (2, 19)]);
}

fn combine_globally(p: &Pipeline) {
    let events = p.apply("Events", script());
    assert_that(&events.apply("Count", Count::globally())).contains_in_any_order(vec![3]);
    let none = p.apply(
        "Nothing",
        TestStream::<i64>::new().advance_watermark_to_infinity(),
    );
    assert_that(&none.apply("Sum", Combine::globally(Sum::<i64>::new())))
        .contains_in_any_order(vec![0]);
}
