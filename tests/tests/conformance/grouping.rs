//! GroupByKey, CoGroupByKey, Combine (globally, per key, built-ins, user fns), Count, Distinct.

use sluice_sdk::prelude::*;
use sluice_sdk::testing::assert_that;
use sluice_tests::{Case, s, secs};

pub fn cases() -> Vec<Case> {
    vec![
        Case::pass("group_by_key", group_by_key),
        Case::pass("group_by_key_empty", group_by_key_empty),
        Case::pass("group_by_key_per_window", group_by_key_per_window),
        Case::pass("group_by_key_output_pane_is_on_time_and_final", gbk_pane),
        Case::pass("co_group_by_key_two_inputs", cogbk_two),
        Case::pass("co_group_by_key_three_inputs", cogbk_three),
        Case::pass(
            "co_group_by_key_same_named_tags_stay_apart",
            cogbk_same_names,
        ),
        Case::pass("combine_per_key_sum", combine_per_key_sum),
        Case::pass("combine_globally_sum", combine_globally_sum),
        Case::pass(
            "combine_globally_empty_gives_default",
            combine_globally_empty,
        ),
        Case::pass(
            "combine_globally_without_defaults_empty",
            combine_globally_without_defaults,
        ),
        Case::pass("combine_min_max", combine_min_max),
        Case::pass("combine_mean", combine_mean),
        Case::pass("combine_top_n", combine_top),
        Case::pass("combine_to_list", combine_to_list),
        Case::pass("combine_user_fn", combine_user_fn),
        Case::pass("combine_per_key_in_fixed_windows", combine_per_key_windows),
        Case::pass("count_globally_per_key_per_element", counts),
        Case::pass("distinct", distinct),
        Case::pass("distinct_per_window", distinct_per_window),
    ]
}

fn kvs(pairs: &[(&str, i64)]) -> Vec<KV<String, i64>> {
    pairs.iter().map(|(k, v)| KV::new(s(k), *v)).collect()
}

/// Sorts the grouped values so that the expected output can be exact.
fn sorted<K: Key, V: Element + Ord>(pc: &PCollection<KV<K, Vec<V>>>) -> PCollection<KV<K, Vec<V>>> {
    pc.map("SortValues", |mut kv: KV<K, Vec<V>>| {
        kv.value.sort();
        kv
    })
}

fn group_by_key(p: &Pipeline) {
    let g = p
        .apply(
            "Create",
            Create::of(kvs(&[("a", 1), ("b", 2), ("a", 3), ("c", 4), ("a", 5)])),
        )
        .apply("Group", GroupByKey);
    assert_that(&sorted(&g)).contains_in_any_order(vec![
        KV::new(s("a"), vec![1, 3, 5]),
        KV::new(s("b"), vec![2]),
        KV::new(s("c"), vec![4]),
    ]);
}

fn group_by_key_empty(p: &Pipeline) {
    let g = p
        .apply("Create", Create::of(Vec::<KV<String, i64>>::new()))
        .apply("Group", GroupByKey);
    assert_that(&g).empty();
}

fn fixed10(
    p: &Pipeline,
    values: Vec<(KV<String, i64>, Timestamp)>,
) -> PCollection<KV<String, i64>> {
    p.apply("Create", Create::timestamped(values)).apply(
        "Fixed",
        WindowInto::new(FixedWindows::of(Duration::from_secs(10))),
    )
}

fn w(start: i64, end: i64) -> Window {
    Window::interval(secs(start), secs(end))
}

fn group_by_key_per_window(p: &Pipeline) {
    let input = fixed10(
        p,
        vec![
            (KV::new(s("a"), 1), secs(1)),
            (KV::new(s("a"), 2), secs(9)),
            (KV::new(s("a"), 3), secs(10)),
            (KV::new(s("b"), 4), secs(15)),
        ],
    );
    let g = sorted(&input.apply("Group", GroupByKey));
    assert_that(&g)
        .in_window(w(0, 10))
        .contains_in_any_order(vec![KV::new(s("a"), vec![1, 2])]);
    assert_that(&g)
        .in_window(w(10, 20))
        .contains_in_any_order(vec![KV::new(s("a"), vec![3]), KV::new(s("b"), vec![4])]);
    assert_that(&g)
        .in_final_pane(w(10, 20))
        .contains_in_any_order(vec![KV::new(s("a"), vec![3]), KV::new(s("b"), vec![4])]);
}

fn gbk_pane(p: &Pipeline) {
    let input = fixed10(
        p,
        vec![(KV::new(s("a"), 1), secs(1)), (KV::new(s("a"), 2), secs(3))],
    );
    let panes = input.apply("Group", GroupByKey).apply(
        "Pane",
        MapWithContext::new(|kv: KV<String, Vec<i64>>, m: &ElementMeta| (kv.key, m.pane)),
    );
    let expected = PaneInfo {
        timing: PaneTiming::OnTime,
        is_first: true,
        is_last: true,
        index: 0,
        non_speculative_index: 0,
    };
    assert_that(&panes).contains_in_any_order(vec![(s("a"), expected)]);
    assert_that(&panes)
        .in_on_time_pane(w(0, 10))
        .contains_in_any_order(vec![(s("a"), expected)]);
}

fn cogbk_two(p: &Pipeline) {
    let emails = p.apply(
        "Emails",
        Create::of(vec![
            KV::new(s("amy"), s("amy@a")),
            KV::new(s("amy"), s("amy@b")),
            KV::new(s("bob"), s("bob@a")),
        ]),
    );
    let phones = p.apply(
        "Phones",
        Create::of(vec![KV::new(s("amy"), 111u32), KV::new(s("cid"), 333)]),
    );
    let (et, pt) = (
        TupleTag::<String>::new("emails"),
        TupleTag::<u32>::new("phones"),
    );
    let (et2, pt2) = (et.clone(), pt.clone());
    let joined = KeyedPCollectionTuple::of(&et, &emails)
        .and(&pt, &phones)
        .apply("Join", CoGroupByKey)
        .map("Flatten", move |kv: KV<String, CoGbkResult>| {
            let mut e = kv.value.get_all(&et2).to_vec();
            e.sort();
            let ph = kv.value.get_all(&pt2).to_vec();
            (kv.key, e, ph)
        });
    assert_that(&joined).contains_in_any_order(vec![
        (s("amy"), vec![s("amy@a"), s("amy@b")], vec![111]),
        (s("bob"), vec![s("bob@a")], vec![]),
        (s("cid"), vec![], vec![333]),
    ]);
}

fn cogbk_three(p: &Pipeline) {
    let a = p.apply(
        "A",
        Create::of(vec![KV::new(1u32, s("a1")), KV::new(2, s("a2"))]),
    );
    let b = p.apply("B", Create::of(vec![KV::new(1u32, 10i64)]));
    let c = p.apply(
        "C",
        Create::of(vec![KV::new(2u32, true), KV::new(2, false)]),
    );
    let (ta, tb, tc) = (
        TupleTag::<String>::new("a"),
        TupleTag::<i64>::new("b"),
        TupleTag::<bool>::new("c"),
    );
    let (ta2, tb2, tc2) = (ta.clone(), tb.clone(), tc.clone());
    let joined = KeyedPCollectionTuple::of(&ta, &a)
        .and(&tb, &b)
        .and(&tc, &c)
        .apply("Join", CoGroupByKey)
        .map("Sizes", move |kv: KV<u32, CoGbkResult>| {
            let r = &kv.value;
            (
                kv.key,
                r.get_only(&ta2).expect("one a").cloned(),
                r.get_all(&tb2).len(),
                r.get_all(&tc2).len(),
            )
        });
    assert_that(&joined)
        .contains_in_any_order(vec![(1, Some(s("a1")), 1, 0), (2, Some(s("a2")), 0, 2)]);
}

/// Two inputs whose tags share a name: each tag reads its own input's values.
fn cogbk_same_names(p: &Pipeline) {
    let left = p.apply(
        "Left",
        Create::of(vec![KV::new(1u32, s("l1")), KV::new(2, s("l2"))]),
    );
    let right = p.apply("Right", Create::of(vec![KV::new(1u32, s("r1"))]));
    let (tl, tr) = (
        TupleTag::<String>::new("side"),
        TupleTag::<String>::new("side"),
    );
    let (tl2, tr2) = (tl.clone(), tr.clone());
    let joined = KeyedPCollectionTuple::of(&tl, &left)
        .and(&tr, &right)
        .apply("Join", CoGroupByKey)
        .map("Read", move |kv: KV<u32, CoGbkResult>| {
            (
                kv.key,
                kv.value.get_all(&tl2).to_vec(),
                kv.value.get_all(&tr2).to_vec(),
            )
        });
    assert_that(&joined).contains_in_any_order(vec![
        (1, vec![s("l1")], vec![s("r1")]),
        (2, vec![s("l2")], vec![]),
    ]);
}

fn combine_per_key_sum(p: &Pipeline) {
    let c = p
        .apply(
            "Create",
            Create::of(kvs(&[("a", 1), ("b", 2), ("a", 3), ("a", -10)])),
        )
        .apply("Sum", Combine::per_key(Sum::<i64>::new()));
    assert_that(&c).contains_in_any_order(kvs(&[("a", -6), ("b", 2)]));
}

fn combine_globally_sum(p: &Pipeline) {
    let c = p
        .apply("Create", Create::of(1..=10i64))
        .apply("Sum", Combine::globally(Sum::<i64>::new()));
    assert_that(&c).contains_in_any_order(vec![55]);
}

fn combine_globally_empty(p: &Pipeline) {
    let c = p.apply("Create", Create::of(Vec::<i64>::new()));
    assert_that(&c.apply("Sum", Combine::globally(Sum::<i64>::new())))
        .contains_in_any_order(vec![0]);
    assert_that(&c.apply("Max", Combine::globally(Max::<i64>::new())))
        .contains_in_any_order(vec![None]);
    assert_that(&c.apply("Count", Count::globally())).contains_in_any_order(vec![0]);
}

fn combine_globally_without_defaults(p: &Pipeline) {
    let c = p.apply("Create", Create::of(Vec::<i64>::new())).apply(
        "Sum",
        Combine::globally(Sum::<i64>::new()).without_defaults(),
    );
    assert_that(&c).empty();
}

fn combine_min_max(p: &Pipeline) {
    let c = p.apply(
        "Create",
        Create::of(kvs(&[("a", 5), ("a", -2), ("b", 7), ("a", 9)])),
    );
    assert_that(&c.apply("Min", Combine::per_key(Min::<i64>::new())))
        .contains_in_any_order(vec![KV::new(s("a"), Some(-2)), KV::new(s("b"), Some(7))]);
    assert_that(&c.apply("Max", Combine::per_key(Max::<i64>::new())))
        .contains_in_any_order(vec![KV::new(s("a"), Some(9)), KV::new(s("b"), Some(7))]);
}

fn combine_mean(p: &Pipeline) {
    let c = p
        .apply(
            "Create",
            Create::of(kvs(&[("a", 1), ("a", 2), ("b", 7), ("a", 6)])),
        )
        .apply("Mean", Combine::per_key(Mean::<i64>::new()));
    assert_that(&c).contains_in_any_order(vec![KV::new(s("a"), 3.0), KV::new(s("b"), 7.0)]);
}

fn combine_top(p: &Pipeline) {
    let c = p.apply(
        "Create",
        Create::of((0..1000u32).map(|i| (i * 7919) % 1000)),
    );
    assert_that(&c.apply("Largest", Combine::globally(Top::largest(3))))
        .contains_in_any_order(vec![vec![999, 998, 997]]);
    assert_that(&c.apply("Smallest", Combine::globally(Top::smallest(2))))
        .contains_in_any_order(vec![vec![0, 1]]);
}

fn combine_to_list(p: &Pipeline) {
    let c = p
        .apply("Create", Create::of(kvs(&[("a", 3), ("a", 1), ("b", 2)])))
        .apply("List", Combine::per_key(ToList::<i64>::new()))
        .map("Sort", |mut kv: KV<String, Vec<i64>>| {
            kv.value.sort();
            kv
        });
    assert_that(&c)
        .contains_in_any_order(vec![KV::new(s("a"), vec![1, 3]), KV::new(s("b"), vec![2])]);
}

/// The longest string, ties broken by the smallest.
#[derive(Clone)]
struct Longest;
impl CombineFn for Longest {
    type Input = String;
    type Accumulator = Option<String>;
    type Output = String;
    fn create_accumulator(&self) -> Option<String> {
        None
    }
    fn add_input(&self, acc: &mut Option<String>, input: String) {
        let better = match acc {
            None => true,
            Some(cur) => input.len() > cur.len() || (input.len() == cur.len() && input < *cur),
        };
        if better {
            *acc = Some(input);
        }
    }
    fn merge_accumulators(&self, acc: &mut Option<String>, other: Option<String>) {
        if let Some(o) = other {
            self.add_input(acc, o);
        }
    }
    fn extract_output(&self, acc: &Option<String>) -> String {
        acc.clone().unwrap_or_default()
    }
}

fn combine_user_fn(p: &Pipeline) {
    let c = p
        .apply(
            "Create",
            Create::of(vec![
                KV::new(1u8, s("bb")),
                KV::new(1, s("a")),
                KV::new(1, s("cc")),
                KV::new(2, s("zzz")),
            ]),
        )
        .apply("Longest", Combine::per_key(Longest));
    assert_that(&c).contains_in_any_order(vec![KV::new(1, s("bb")), KV::new(2, s("zzz"))]);
}

fn combine_per_key_windows(p: &Pipeline) {
    let input = fixed10(
        p,
        vec![
            (KV::new(s("a"), 1), secs(1)),
            (KV::new(s("a"), 2), secs(2)),
            (KV::new(s("a"), 5), secs(11)),
            (KV::new(s("b"), 1), secs(19)),
        ],
    );
    let sums = input.apply("Sum", Combine::per_key(Sum::<i64>::new()));
    assert_that(&sums)
        .in_window(w(0, 10))
        .contains_in_any_order(kvs(&[("a", 3)]));
    assert_that(&sums)
        .in_window(w(10, 20))
        .contains_in_any_order(kvs(&[("a", 5), ("b", 1)]));
}

fn counts(p: &Pipeline) {
    let c = p.apply("Create", Create::of(vec![s("x"), s("y"), s("x"), s("x")]));
    assert_that(&c.apply("Globally", Count::globally())).contains_in_any_order(vec![4]);
    assert_that(&c.apply("PerElement", Count::per_element()))
        .contains_in_any_order(vec![KV::new(s("x"), 3), KV::new(s("y"), 1)]);
    let keyed = c.map("Key", |v: String| KV::new(v.clone(), v.len()));
    assert_that(&keyed.apply("PerKey", Count::per_key()))
        .contains_in_any_order(vec![KV::new(s("x"), 3), KV::new(s("y"), 1)]);
}

fn distinct(p: &Pipeline) {
    let c = p
        .apply("Create", Create::of(vec![3u32, 1, 3, 2, 1, 3]))
        .apply("Distinct", Distinct);
    assert_that(&c).contains_in_any_order(vec![1, 2, 3]);
}

fn distinct_per_window(p: &Pipeline) {
    let c = p
        .apply(
            "Create",
            Create::timestamped(vec![
                (s("a"), secs(1)),
                (s("a"), secs(2)),
                (s("a"), secs(12)),
                (s("b"), secs(13)),
            ]),
        )
        .apply(
            "Fixed",
            WindowInto::new(FixedWindows::of(Duration::from_secs(10))),
        )
        .apply("Distinct", Distinct);
    assert_that(&c)
        .in_window(w(0, 10))
        .contains_in_any_order(vec![s("a")]);
    assert_that(&c)
        .in_window(w(10, 20))
        .contains_in_any_order(vec![s("a"), s("b")]);
}
