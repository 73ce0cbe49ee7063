//! Flatten, Partition, Reshuffle, composite transforms.

use sluice_sdk::prelude::*;
use sluice_sdk::testing::assert_that;
use sluice_tests::{Case, s, secs};

pub fn cases() -> Vec<Case> {
    vec![
        Case::pass("flatten_two", flatten_two),
        Case::pass("flatten_same_collection_twice", flatten_twice),
        Case::pass("flatten_empty_list", flatten_empty),
        Case::pass("flatten_then_group", flatten_then_group),
        Case::pass("partition", partition),
        Case::pass("reshuffle_keeps_elements_timestamps_windows", reshuffle),
        Case::pass("composite_transform", composite),
        Case::pass("nested_composites", nested_composites),
    ]
}

fn flatten_two(p: &Pipeline) {
    let a = p.apply("A", Create::of(vec![1u32, 2]));
    let b = p.apply("B", Create::of(vec![3u32]));
    let f = PCollectionList::of(vec![a, b]).apply("Flatten", Flatten);
    assert_that(&f).contains_in_any_order(vec![1, 2, 3]);
}

fn flatten_twice(p: &Pipeline) {
    let a = p.apply("A", Create::of(vec![s("x"), s("y")]));
    let f = PCollectionList::of(vec![a.clone(), a]).apply("Flatten", Flatten);
    assert_that(&f).contains_in_any_order(vec![s("x"), s("x"), s("y"), s("y")]);
}

fn flatten_empty(p: &Pipeline) {
    let f = PCollectionList::<u32>::empty(p).apply("Flatten", Flatten);
    assert_that(&f).empty();
}

fn flatten_then_group(p: &Pipeline) {
    let a = p
        .apply("A", Create::of(vec![KV::new(1u8, s("a"))]))
        .map("Upper", |kv: KV<u8, String>| {
            KV::new(kv.key, kv.value.to_uppercase())
        });
    let b = p.apply(
        "B",
        Create::of(vec![KV::new(1u8, s("b")), KV::new(2, s("c"))]),
    );
    let g = PCollectionList::of(vec![a, b])
        .apply("Flatten", Flatten)
        .apply("Group", GroupByKey)
        .map("Sort", |mut kv: KV<u8, Vec<String>>| {
            kv.value.sort();
            kv
        });
    assert_that(&g).contains_in_any_order(vec![
        KV::new(1, vec![s("A"), s("b")]),
        KV::new(2, vec![s("c")]),
    ]);
}

fn partition(p: &Pipeline) {
    let parts = p
        .apply("Create", Create::of(0..10u32))
        .apply("ByMod3", Partition::of(3, |x: &u32, n| (*x as usize) % n));
    assert_eq!(parts.len(), 3);
    assert_that(&parts[0]).contains_in_any_order(vec![0, 3, 6, 9]);
    assert_that(&parts[1]).contains_in_any_order(vec![1, 4, 7]);
    assert_that(&parts[2]).contains_in_any_order(vec![2, 5, 8]);
}

fn reshuffle(p: &Pipeline) {
    let c = p
        .apply(
            "Create",
            Create::timestamped(vec![(1u32, secs(3)), (2, secs(13))]),
        )
        .apply(
            "Fixed",
            WindowInto::new(FixedWindows::of(Duration::from_secs(10))),
        )
        .apply("Reshuffle", Reshuffle)
        .apply(
            "Describe",
            MapWithContext::new(|v: u32, m: &ElementMeta| {
                (
                    v,
                    m.timestamp.as_secs(),
                    m.window.as_interval().map(|w| w.start.as_secs()),
                )
            }),
        );
    assert_that(&c).contains_in_any_order(vec![(1, 3, Some(0)), (2, 13, Some(10))]);
}

/// A composite: the length of every word, counted.
struct WordLengths;
impl PTransform<PCollection<String>> for WordLengths {
    type Output = PCollection<KV<usize, u64>>;
    fn expand(self, input: &PCollection<String>) -> Self::Output {
        input
            .flat_map("Split", |l: String| {
                l.split(' ').map(|w| w.len()).collect::<Vec<_>>()
            })
            .apply("Count", Count::per_element())
    }
}

fn composite(p: &Pipeline) {
    let c = p
        .apply("Lines", Create::of(vec![s("a bb cc"), s("ddd e")]))
        .apply("WordLengths", WordLengths);
    assert_that(&c).contains_in_any_order(vec![KV::new(1, 2), KV::new(2, 2), KV::new(3, 1)]);
}

/// A composite of composites: the total of the counts of `WordLengths`.
struct TotalWords;
impl PTransform<PCollection<String>> for TotalWords {
    type Output = PCollection<u64>;
    fn expand(self, input: &PCollection<String>) -> Self::Output {
        input
            .apply("Lengths", WordLengths)
            .apply("Counts", Values)
            .apply("Total", Combine::globally(Sum::<u64>::new()))
    }
}

fn nested_composites(p: &Pipeline) {
    let lines = p.apply("Lines", Create::of(vec![s("a bb cc"), s("ddd e")]));
    let a = lines.apply("First", TotalWords);
    let b = lines.apply("Second", TotalWords);
    assert_that(&a).contains_in_any_order(vec![5]);
    assert_that(&b).contains_in_any_order(vec![5]);
}
