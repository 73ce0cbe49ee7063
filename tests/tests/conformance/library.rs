//! Library transforms built on state and timers (Deduplicate, GroupIntoBatches) and Latest.

use sluice_sdk::prelude::*;
use sluice_sdk::testing::{TestStream, assert_that};
use sluice_tests::{Case, arriving, s, secs};

pub fn cases() -> Vec<Case> {
    vec![
        Case::pass("deduplicate_values", dedup_values),
        Case::pass("deduplicate_keyed_values_keeps_the_first", dedup_keyed),
        Case::pass(
            "deduplicate_in_event_time_remembers_to_the_end_of_bounded_input",
            dedup_event_time_bounded,
        ),
        Case::pass(
            "teststream_deduplicate_in_event_time_forgets_after_the_duration",
            dedup_event_time_streaming,
        )
        .streaming(),
        Case::pass("group_into_batches_of_size", batches_of_size),
        Case::pass("group_into_batches_of_byte_size", batches_of_bytes),
        Case::pass(
            "teststream_group_into_batches_max_buffering_duration",
            batches_buffering,
        )
        .streaming(),
        Case::pass("latest_globally_and_per_key", latest),
    ]
}

fn dedup_values(p: &Pipeline) {
    let out = p
        .apply("Create", Create::of(["a", "b", "a", "c", "b", "a"].map(s)))
        .apply("Dedup", Deduplicate::values());
    assert_that(&out).contains_in_any_order(vec![s("a"), s("b"), s("c")]);
}

fn dedup_keyed(p: &Pipeline) {
    // The first of a key to arrive is kept.
    let input = vec![
        (KV::new(s("k"), 1), secs(3)),
        (KV::new(s("j"), 7), secs(1)),
        (KV::new(s("k"), 2), secs(2)),
        (KV::new(s("k"), 3), secs(1)),
    ];
    let out = arriving(p, input).apply("Dedup", Deduplicate::keyed_values());
    assert_that(&out).contains_in_any_order(vec![KV::new(s("k"), 1), KV::new(s("j"), 7)]);
}

/// `Deduplicate` for 10 s of event time, with the timestamps of what it keeps.
fn dedup_for_10s(input: PCollection<String>) -> PCollection<(String, i64)> {
    input
        .apply(
            "Dedup",
            Deduplicate::values()
                .with_duration(Duration::from_secs(10))
                .with_time_domain(TimeDomain::EventTime),
        )
        .apply(
            "When",
            MapWithContext::new(|v: String, m: &ElementMeta| (v, m.timestamp.as_secs())),
        )
}

fn dedup_event_time_bounded(p: &Pipeline) {
    // On bounded input the watermark reaches the timers only at the end: every repeat of `a`
    // is dropped, the one at 20 s too (Beam's Python SDK gives the same).
    let input = [("a", 0), ("a", 5), ("a", 20), ("b", 7)].map(|(v, t)| (s(v), secs(t)));
    let out = dedup_for_10s(arriving(p, input.to_vec()));
    assert_that(&out).contains_in_any_order(vec![(s("a"), 0), (s("b"), 7)]);
}

fn dedup_event_time_streaming(p: &Pipeline) {
    // Remembered for 10 s of event time: the repeat at 5 s is dropped; the watermark passes
    // 10 s before the one at 20 s arrives, which is kept.
    let script = TestStream::new()
        .add_elements(vec![
            (s("a"), secs(0)),
            (s("a"), secs(5)),
            (s("b"), secs(7)),
        ])
        .advance_watermark_to(secs(15))
        .add_elements(vec![(s("a"), secs(20))])
        .advance_watermark_to_infinity();
    let out = dedup_for_10s(p.apply("Events", script));
    assert_that(&out).contains_in_any_order(vec![(s("a"), 0), (s("a"), 20), (s("b"), 7)]);
}

/// Each batch's values, sorted, with the key.
fn describe(batches: &PCollection<KV<String, Vec<i64>>>) -> PCollection<(String, Vec<i64>)> {
    batches.map("Describe", |kv: KV<String, Vec<i64>>| {
        let mut v = kv.value;
        v.sort();
        (kv.key, v)
    })
}

fn batches_of_size(p: &Pipeline) {
    // Batches in the order of arrival (here the reverse of the timestamps).
    let input = (1..=5i64).map(|i| (KV::new(s("k"), i), secs(10 - i)));
    let batches = arriving(p, input.collect()).apply("Batch", GroupIntoBatches::of_size(2));
    assert_that(&describe(&batches)).contains_in_any_order(vec![
        (s("k"), vec![1, 2]),
        (s("k"), vec![3, 4]),
        (s("k"), vec![5]),
    ]);
}

fn batches_of_bytes(p: &Pipeline) {
    // Each i64 value encodes to 1 byte below 251: at most 3 bytes a batch.
    let input = (1..=7i64).map(|i| (KV::new(s("k"), i), secs(i)));
    let batches = arriving(p, input.collect()).apply("Batch", GroupIntoBatches::of_byte_size(3));
    assert_that(&describe(&batches)).contains_in_any_order(vec![
        (s("k"), vec![1, 2, 3]),
        (s("k"), vec![4, 5, 6]),
        (s("k"), vec![7]),
    ]);
}

fn batches_buffering(p: &Pipeline) {
    // Two values wait; a minute of processing time later their batch goes out although it is
    // not full. The third value waits for the end of the window (the end of input).
    let script = TestStream::new()
        .add_elements(vec![
            (KV::new(s("k"), 1), secs(1)),
            (KV::new(s("k"), 2), secs(2)),
        ])
        .advance_processing_time(Duration::from_secs(120))
        .add_elements(vec![(KV::new(s("k"), 3), secs(3))])
        .advance_watermark_to_infinity();
    let batches = p.apply("Events", script).apply(
        "Batch",
        GroupIntoBatches::of_size(10).with_max_buffering_duration(Duration::from_secs(60)),
    );
    let out = batches.apply(
        "When",
        MapWithContext::new(|kv: KV<String, Vec<i64>>, m: &ElementMeta| {
            (kv.value, m.timestamp == Timestamp::END_OF_GLOBAL_WINDOW)
        }),
    );
    // The buffered batch carries its first value's timestamp; the last one the window's end.
    assert_that(&out).contains_in_any_order(vec![(vec![1, 2], false), (vec![3], true)]);
}

fn latest(p: &Pipeline) {
    let input = p.apply(
        "Create",
        Create::timestamped(vec![
            (KV::new(s("a"), 1), secs(5)),
            (KV::new(s("a"), 2), secs(9)),
            (KV::new(s("a"), 3), secs(7)),
            (KV::new(s("b"), 4), secs(1)),
        ]),
    );
    assert_that(&input.apply("PerKey", Latest::per_key()))
        .contains_in_any_order(vec![KV::new(s("a"), 2), KV::new(s("b"), 4)]);
    assert_that(&input.apply("Globally", Latest::globally()))
        .contains_in_any_order(vec![KV::new(s("a"), 2)]);
}
