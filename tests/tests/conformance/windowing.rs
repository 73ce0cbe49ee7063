//! WindowInto with every window function, timestamp combiners, WithTimestamps.

use sluice_sdk::prelude::*;
use sluice_sdk::testing::assert_that;
use sluice_tests::{Case, s, secs};

pub fn cases() -> Vec<Case> {
    vec![
        Case::pass("window_fixed", fixed),
        Case::pass("window_fixed_with_offset", fixed_offset),
        Case::pass("window_sliding", sliding),
        Case::pass("window_sliding_slices_through_transforms", sliding_slices),
        Case::pass("window_sessions_merge", sessions),
        Case::pass("window_fn_chosen_at_run_time", chosen_at_run_time),
        Case::pass("window_sessions_are_per_key", sessions_per_key),
        Case::pass("window_sessions_combine", sessions_combine),
        Case::pass("window_back_into_global", back_to_global),
        Case::pass("timestamp_combiner_end_of_window", tc_end_of_window),
        Case::pass("timestamp_combiner_earliest", tc_earliest),
        Case::pass("timestamp_combiner_latest", tc_latest),
        Case::pass("with_timestamps", with_timestamps),
        Case::pass(
            "allowed_lateness_is_carried_and_bounded_output_unchanged",
            allowed_lateness,
        ),
        Case::pass("global_window_groups_everything", global_groups),
    ]
}

fn w(start: i64, end: i64) -> Window {
    Window::interval(secs(start), secs(end))
}

fn events(p: &Pipeline, values: &[(&str, i64, i64)]) -> PCollection<KV<String, i64>> {
    p.apply(
        "Events",
        Create::timestamped(
            values
                .iter()
                .map(|(k, v, t)| (KV::new(s(k), *v), secs(*t)))
                .collect::<Vec<_>>(),
        ),
    )
}

/// (key, sum, window start s, window end s, pane timestamp ms) of each per-key sum.
fn sums_with_windows(
    pc: &PCollection<KV<String, i64>>,
) -> PCollection<(String, i64, i64, i64, i64)> {
    pc.apply("Sum", Combine::per_key(Sum::<i64>::new())).apply(
        "Describe",
        MapWithContext::new(|kv: KV<String, i64>, m: &ElementMeta| {
            let iw = m
                .window
                .as_interval()
                .copied()
                .unwrap_or(IntervalWindow::new(Timestamp::MIN, Timestamp::MAX));
            (
                kv.key,
                kv.value,
                iw.start.as_secs(),
                iw.end.as_secs(),
                m.timestamp.as_millis(),
            )
        }),
    )
}

fn fixed(p: &Pipeline) {
    let e = events(
        p,
        &[
            ("a", 1, 0),
            ("a", 2, 59),
            ("a", 4, 60),
            ("b", 8, 61),
            ("a", 16, -1),
        ],
    );
    let windowed = e.apply(
        "Fixed",
        WindowInto::new(FixedWindows::of(Duration::from_secs(60))),
    );
    assert_that(&sums_with_windows(&windowed)).contains_in_any_order(vec![
        (s("a"), 3, 0, 60, 59_999),
        (s("a"), 4, 60, 120, 119_999),
        (s("b"), 8, 60, 120, 119_999),
        (s("a"), 16, -60, 0, -1),
    ]);
}

fn fixed_offset(p: &Pipeline) {
    let e = events(p, &[("a", 1, 4), ("a", 2, 5), ("a", 4, 14)]);
    let windowed = e.apply(
        "Fixed",
        WindowInto::new(
            FixedWindows::of(Duration::from_secs(10)).with_offset(Duration::from_secs(5)),
        ),
    );
    let sums = windowed.apply("Sum", Combine::per_key(Sum::<i64>::new()));
    assert_that(&sums)
        .in_window(w(-5, 5))
        .contains_in_any_order(vec![KV::new(s("a"), 1)]);
    assert_that(&sums)
        .in_window(w(5, 15))
        .contains_in_any_order(vec![KV::new(s("a"), 6)]);
}

fn sliding(p: &Pipeline) {
    let e = events(p, &[("a", 1, 5), ("a", 2, 12), ("a", 4, 25)]);
    let windowed = e.apply(
        "Sliding",
        WindowInto::new(SlidingWindows::of(
            Duration::from_secs(20),
            Duration::from_secs(10),
        )),
    );
    assert_that(&sums_with_windows(&windowed)).contains_in_any_order(vec![
        (s("a"), 1, -10, 10, 9_999),
        (s("a"), 3, 0, 20, 19_999),
        (s("a"), 6, 10, 30, 29_999),
        (s("a"), 4, 20, 40, 39_999),
    ]);
}

/// Sliding windows whose period does not divide their size (30 s every 20 s: slices of 10 s),
/// kept in slices through a Filter, a Flatten of two sliced inputs and a Reshuffle, then
/// combined from their slices, grouped (the elements exploded into their windows first) and
/// counted globally: each transform sees what a copy per window gives.
fn sliding_slices(p: &Pipeline) {
    let hop = || {
        WindowInto::new(SlidingWindows::of(
            Duration::from_secs(30),
            Duration::from_secs(20),
        ))
    };
    let a = events(p, &[("a", 1, 5), ("a", 2, 12), ("b", 100, 13)])
        .apply("SlideA", hop())
        .filter("Small", |kv: &KV<String, i64>| kv.value < 100);
    let b = p
        .apply(
            "MoreEvents",
            Create::timestamped(vec![(KV::new(s("a"), 4), secs(25))]),
        )
        .apply("SlideB", hop());
    let both = PCollectionList::of(vec![a, b])
        .apply("Both", Flatten)
        .apply("Spread", Reshuffle);
    // Windows [-20, 10), [0, 30) and [20, 50) hold 5; [0, 30) holds 12; [0, 30) and
    // [20, 50) hold 25.
    assert_that(&sums_with_windows(&both)).contains_in_any_order(vec![
        (s("a"), 1, -20, 10, 9_999),
        (s("a"), 7, 0, 30, 29_999),
        (s("a"), 4, 20, 50, 49_999),
    ]);
    let grouped = both.apply("Group", GroupByKey).apply(
        "Sorted",
        MapWithContext::new(|kv: KV<String, Vec<i64>>, m: &ElementMeta| {
            let mut v = kv.value;
            v.sort();
            (m.window.as_interval().map(|w| w.start.as_secs()), v)
        }),
    );
    assert_that(&grouped).contains_in_any_order(vec![
        (Some(-20), vec![1]),
        (Some(0), vec![1, 2, 4]),
        (Some(20), vec![4]),
    ]);
    let counted = both
        .apply(
            "Count",
            Combine::globally(CountFn::<KV<String, i64>>::new()).without_defaults(),
        )
        .apply(
            "CountWindows",
            MapWithContext::new(|n: u64, m: &ElementMeta| {
                (m.window.as_interval().map(|w| w.start.as_secs()), n)
            }),
        );
    assert_that(&counted).contains_in_any_order(vec![(Some(-20), 1), (Some(0), 3), (Some(20), 1)]);
}

/// A window function picked from a name at run time, as `Arc<dyn WindowFn>`, needs no
/// wrapper type.
fn chosen_at_run_time(p: &Pipeline) {
    let pick = |name: &str| -> std::sync::Arc<dyn WindowFn> {
        match name {
            "sessions" => std::sync::Arc::new(Sessions::with_gap(Duration::from_secs(10))),
            _ => std::sync::Arc::new(FixedWindows::of(Duration::from_secs(60))),
        }
    };
    let e = events(p, &[("a", 1, 0), ("a", 2, 5), ("a", 4, 30)]);
    let windowed = e.apply("Chosen", WindowInto::new(pick("sessions")));
    assert_that(&sums_with_windows(&windowed)).contains_in_any_order(vec![
        (s("a"), 3, 0, 15, 14_999),
        (s("a"), 4, 30, 40, 39_999),
    ]);
}

fn sessions(p: &Pipeline) {
    let e = events(
        p,
        &[
            ("a", 1, 0),
            ("a", 2, 5),
            ("a", 4, 14),
            ("a", 8, 30),
            ("a", 16, 39),
        ],
    );
    let windowed = e.apply(
        "Sessions",
        WindowInto::new(Sessions::with_gap(Duration::from_secs(10))),
    );
    let g = windowed.apply("Group", GroupByKey).apply(
        "Describe",
        MapWithContext::new(|kv: KV<String, Vec<i64>>, m: &ElementMeta| {
            let mut v = kv.value;
            v.sort();
            let iw = m
                .window
                .as_interval()
                .copied()
                .expect("sessions are intervals");
            (v, iw.start.as_secs(), iw.end.as_secs())
        }),
    );
    // [0,10) [5,15) [14,24) chain into [0,24); [30,40) and [39,49) into [30,49).
    assert_that(&g).contains_in_any_order(vec![(vec![1, 2, 4], 0, 24), (vec![8, 16], 30, 49)]);
}

fn sessions_per_key(p: &Pipeline) {
    let e = events(p, &[("a", 1, 0), ("b", 2, 5), ("a", 4, 8), ("b", 8, 20)]);
    let windowed = e.apply(
        "Sessions",
        WindowInto::new(Sessions::with_gap(Duration::from_secs(10))),
    );
    assert_that(&sums_with_windows(&windowed)).contains_in_any_order(vec![
        (s("a"), 5, 0, 18, 17_999),
        (s("b"), 2, 5, 15, 14_999),
        (s("b"), 8, 20, 30, 29_999),
    ]);
}

fn sessions_combine(p: &Pipeline) {
    let e = events(
        p,
        &[("u", 1, 100), ("u", 1, 101), ("u", 1, 103), ("u", 1, 200)],
    );
    let counts = e
        .apply(
            "Sessions",
            WindowInto::new(Sessions::with_gap(Duration::from_secs(5))),
        )
        .apply("Count", Count::per_key());
    assert_that(&counts)
        .in_window(w(100, 108))
        .contains_in_any_order(vec![KV::new(s("u"), 3)]);
    assert_that(&counts)
        .in_window(w(200, 205))
        .contains_in_any_order(vec![KV::new(s("u"), 1)]);
}

fn back_to_global(p: &Pipeline) {
    let e = events(p, &[("a", 1, 0), ("a", 2, 100), ("b", 3, 200)]);
    let per_window = e
        .apply(
            "Fixed",
            WindowInto::new(FixedWindows::of(Duration::from_secs(10))),
        )
        .apply("Sum", Combine::per_key(Sum::<i64>::new()));
    let total = per_window
        .apply("Global", WindowInto::new(GlobalWindows))
        .apply("Total", Combine::per_key(Sum::<i64>::new()));
    assert_that(&total)
        .in_window(Window::Global)
        .contains_in_any_order(vec![KV::new(s("a"), 3), KV::new(s("b"), 3)]);
}

fn combiner_case(p: &Pipeline, tc: TimestampCombiner) -> PCollection<(String, i64, i64, i64, i64)> {
    let e = events(p, &[("a", 1, 3), ("a", 2, 7), ("a", 4, 5), ("b", 8, 12)]);
    let windowed = e.apply(
        "Fixed",
        WindowInto::new(FixedWindows::of(Duration::from_secs(10))).with_timestamp_combiner(tc),
    );
    sums_with_windows(&windowed)
}

fn tc_end_of_window(p: &Pipeline) {
    let out = combiner_case(p, TimestampCombiner::EndOfWindow);
    assert_that(&out)
        .contains_in_any_order(vec![(s("a"), 7, 0, 10, 9_999), (s("b"), 8, 10, 20, 19_999)]);
}

fn tc_earliest(p: &Pipeline) {
    let out = combiner_case(p, TimestampCombiner::Earliest);
    assert_that(&out)
        .contains_in_any_order(vec![(s("a"), 7, 0, 10, 3_000), (s("b"), 8, 10, 20, 12_000)]);
}

fn tc_latest(p: &Pipeline) {
    let out = combiner_case(p, TimestampCombiner::Latest);
    assert_that(&out)
        .contains_in_any_order(vec![(s("a"), 7, 0, 10, 7_000), (s("b"), 8, 10, 20, 12_000)]);
}

fn with_timestamps(p: &Pipeline) {
    let lines = p.apply(
        "Lines",
        Create::of(vec![s("1000,a"), s("61000,b"), s("1500,a")]),
    );
    let stamped = lines
        .apply(
            "Stamp",
            WithTimestamps::of(|l: &String| {
                Timestamp::from_millis(
                    l.split(',')
                        .next()
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(0),
                )
            }),
        )
        .map("Key", |l: String| {
            KV::new(l.split(',').nth(1).unwrap_or("").to_string(), 1i64)
        })
        .apply(
            "Minute",
            WindowInto::new(FixedWindows::of(Duration::from_secs(60))),
        );
    assert_that(&sums_with_windows(&stamped)).contains_in_any_order(vec![
        (s("a"), 2, 0, 60, 59_999),
        (s("b"), 1, 60, 120, 119_999),
    ]);
}

fn allowed_lateness(p: &Pipeline) {
    let e = events(p, &[("a", 1, 1), ("a", 2, 15)]);
    let windowed = e.apply(
        "Fixed",
        WindowInto::new(FixedWindows::of(Duration::from_secs(10)))
            .with_allowed_lateness(Duration::from_secs(3600)),
    );
    let panes = windowed
        .apply("Sum", Combine::per_key(Sum::<i64>::new()))
        .apply(
            "Pane",
            MapWithContext::new(|kv: KV<String, i64>, m: &ElementMeta| {
                (kv.value, m.pane.timing, m.pane.is_last)
            }),
        );
    // Bounded input: the watermark jumps to the end, so each window fires once, on time and final.
    assert_that(&panes).contains_in_any_order(vec![
        (1, PaneTiming::OnTime, true),
        (2, PaneTiming::OnTime, true),
    ]);
}

fn global_groups(p: &Pipeline) {
    let e = events(p, &[("a", 1, -1000), ("a", 2, 1000), ("a", 4, 5)]);
    let out = sums_with_windows(&e);
    let eogw = Timestamp::END_OF_GLOBAL_WINDOW.as_millis();
    let (min, max) = (Timestamp::MIN.as_secs(), Timestamp::MAX.as_secs());
    assert_that(&out).contains_in_any_order(vec![(s("a"), 7, min, max, eogw)]);
}
