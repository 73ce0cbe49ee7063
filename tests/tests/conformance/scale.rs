//! Large input, skewed keys.

use sluice_sdk::prelude::*;
use sluice_sdk::testing::{assert_that, assert_that_singleton};
use sluice_tests::Case;

pub fn cases() -> Vec<Case> {
    vec![
        Case::pass("large_input_100k_sum_and_count", large_sum),
        Case::pass("large_input_100k_group_by_key", large_gbk),
        Case::pass("large_input_100k_distinct", large_distinct),
        Case::pass("skewed_key_holds_most_elements", skewed),
        Case::pass(
            "sliding_windows_thousands_per_element",
            thousands_of_windows_per_element,
        ),
    ]
}

const N: u64 = 100_000;

fn large_sum(p: &Pipeline) {
    let c = p.apply("Create", Create::of(0..N));
    assert_that(&c.apply("Sum", Combine::globally(Sum::<u64>::new())))
        .contains_in_any_order(vec![N * (N - 1) / 2]);
    assert_that(&c.apply("Count", Count::globally())).contains_in_any_order(vec![N]);
}

fn large_gbk(p: &Pipeline) {
    let groups = p
        .apply("Create", Create::of(0..N))
        .map("Key", |v: u64| KV::new(v % 100, v))
        .apply("Group", GroupByKey)
        .map("Summarize", |kv: KV<u64, Vec<u64>>| {
            (kv.key, kv.value.len() as u64, kv.value.iter().sum::<u64>())
        });
    let expected: Vec<(u64, u64, u64)> = (0..100u64)
        .map(|k| (k, N / 100, (0..N / 100).map(|i| i * 100 + k).sum()))
        .collect();
    assert_that(&groups).contains_in_any_order(expected);
}

fn large_distinct(p: &Pipeline) {
    let distinct = p
        .apply("Create", Create::of((0..N).map(|v| v % 777)))
        .apply("Distinct", Distinct);
    assert_that_singleton(&distinct.apply("Count", Count::globally())).equal_to(777);
    assert_that(&distinct).contains_in_any_order((0..777).collect());
}

fn skewed(p: &Pipeline) {
    // 90% of the elements share the key "hot"; the rest spread over 1000 keys.
    let counts = p
        .apply("Create", Create::of(0..N))
        .map("Key", |v: u64| {
            KV::new(
                if !v.is_multiple_of(10) {
                    "hot".to_string()
                } else {
                    format!("k{}", v % 1000)
                },
                1u64,
            )
        })
        .apply("Count", Combine::per_key(Sum::<u64>::new()));
    let mut expected = vec![KV::new("hot".to_string(), N * 9 / 10)];
    expected.extend((0..100).map(|i| KV::new(format!("k{}", i * 10), N / 10 / 100)));
    assert_that(&counts).contains_in_any_order(expected);
    let grouped_sizes = p
        .apply("Create2", Create::of(0..N))
        .map("Key2", |v: u64| KV::new(u8::from(v.is_multiple_of(10)), v))
        .apply("Group", GroupByKey)
        .map("Size", |kv: KV<u8, Vec<u64>>| (kv.key, kv.value.len()));
    assert_that(&grouped_sizes).contains_in_any_order(vec![(0, 90_000), (1, 10_000)]);
}

/// 5 000 sliding windows per element: WindowInto hands out its assignments a chunk at a
/// time and the lifted combine keeps one accumulator per live (key, window).
fn thousands_of_windows_per_element(p: &Pipeline) {
    const SIZE_MS: i64 = 5_000;
    let events: Vec<(i64, i64)> = (0..120).map(|i| (i % 3, i * 37 % 2_000)).collect();
    let counts = p
        .apply(
            "Events",
            Create::timestamped(
                events
                    .iter()
                    .map(|&(k, t)| (KV::new(k, 1u64), Timestamp::from_millis(t)))
                    .collect::<Vec<_>>(),
            ),
        )
        .apply(
            "Sliding",
            WindowInto::new(SlidingWindows::of(
                Duration::from_millis(SIZE_MS),
                Duration::from_millis(1),
            )),
        )
        .apply("Count", Combine::per_key(Sum::<u64>::new()))
        .apply(
            "Describe",
            MapWithContext::new(|kv: KV<i64, u64>, m: &ElementMeta| {
                let start = m
                    .window
                    .as_interval()
                    .map_or(i64::MIN, |w| w.start.as_millis());
                (kv.key, start, kv.value)
            }),
        );
    // The model: every window [start, start + 5 s) that holds an event, counted per key.
    let mut expected = std::collections::BTreeMap::new();
    for &(k, t) in &events {
        for start in t - SIZE_MS + 1..=t {
            *expected.entry((k, start)).or_insert(0u64) += 1;
        }
    }
    assert_that(&counts).contains_in_any_order(
        expected
            .into_iter()
            .map(|((k, start), n)| (k, start, n))
            .collect(),
    );
}
