//! The six DoFns of `sluice_examples::six_dofns` on the inputs of their Beam Python twins
//! (`examples/beam/six_dofns.py`), expecting what Beam's FnApiRunner (2.77) prints for them.

use super::arriving;
use sluice_examples::six_dofns;
use sluice_sdk::prelude::*;
use sluice_sdk::testing::assert_that;
use sluice_tests::s;

/// `(key, text, seconds)` events arriving in the order given.
fn texts(p: &Pipeline, events: Vec<(&str, &str, i64)>) -> PCollection<KV<String, String>> {
    let events = events
        .into_iter()
        .map(|(k, v, t)| (KV::new(s(k), s(v)), sluice_tests::secs(t)));
    sluice_tests::arriving(p, events.collect())
}

pub(super) fn running_index(p: &Pipeline) {
    let clicks = texts(
        p,
        vec![("ann", "home", 0), ("bob", "cart", 1), ("ann", "cart", 2)],
    );
    // running_index [('ann', 0, 'home'), ('ann', 1, 'cart'), ('bob', 0, 'cart')]
    assert_that(&six_dofns::running_index(&clicks)).contains_in_any_order(vec![
        (s("ann"), 0, s("home")),
        (s("ann"), 1, s("cart")),
        (s("bob"), 0, s("cart")),
    ]);
}

pub(super) fn buffer_until_window_end(p: &Pipeline) {
    let readings = arriving(
        p,
        vec![("s1", 4, 10), ("s2", 9, 20), ("s1", 2, 30), ("s1", 7, 70)],
    )
    .apply(
        "Minutes",
        WindowInto::new(FixedWindows::of(Duration::from_secs(60))),
    );
    // buffer_until_window_end [('s1', [2, 4]), ('s1', [7]), ('s2', [9])]
    assert_that(&six_dofns::buffer_until_window_end(&readings)).contains_in_any_order(vec![
        (s("s1"), vec![2, 4]),
        (s("s1"), vec![7]),
        (s("s2"), vec![9]),
    ]);
}

pub(super) fn moved_timer(p: &Pipeline) {
    let events = arriving(p, vec![("a", 1, 100), ("a", 2, 0), ("b", 3, 50)]);
    // moved_timer [('a', 2), ('b', 1)]
    assert_that(&six_dofns::moved_timer(&events))
        .contains_in_any_order(vec![(s("a"), 2), (s("b"), 1)]);
}

pub(super) fn group_into_batches(p: &Pipeline) {
    let items = arriving(p, vec![("k", 1, 5), ("k", 2, 4), ("k", 3, 3), ("j", 4, 2)]);
    // group_into_batches [('j', [4]), ('k', [1, 2]), ('k', [3])]
    assert_that(&six_dofns::group_into_batches(&items)).contains_in_any_order(vec![
        (s("j"), vec![4]),
        (s("k"), vec![1, 2]),
        (s("k"), vec![3]),
    ]);
}

pub(super) fn deduplicate(p: &Pipeline) {
    let logins = texts(p, vec![("x", "1st", 0), ("x", "2nd", 100), ("y", "3rd", 9)]);
    // deduplicate [('x', '1st'), ('y', '3rd')]
    assert_that(&six_dofns::deduplicate(&logins))
        .contains_in_any_order(vec![(s("x"), s("1st")), (s("y"), s("3rd"))]);
}

pub(super) fn processing_time_timer(p: &Pipeline) {
    let orders = arriving(p, vec![("o1", 5, 0), ("o2", 1, 0), ("o1", 3, 1)]);
    // processing_time_timer [('o1', [3, 5]), ('o2', [1])]
    assert_that(&six_dofns::processing_time_timer(&orders))
        .contains_in_any_order(vec![(s("o1"), vec![3, 5]), (s("o2"), vec![1])]);
}
