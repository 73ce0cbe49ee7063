//! Stateful DoFns under a TestStream: timers as the watermark passes, processing time, holds and
//! garbage collection.

use super::state::SumAtExpiry;
use super::timers::{InOrder, Later};
use sluice_sdk::prelude::*;
use sluice_sdk::testing::{TestStream, assert_that};
use sluice_tests::{s, secs};

pub(super) fn streaming_timers(p: &Pipeline) {
    // The elements at 5 and 3 arrive before the watermark passes them; the one at 1 arrives
    // after the watermark passed 4, when the timers at 3 had fired already: it comes out
    // behind them, in its own firing, but never dropped (the global window has not expired).
    let script = TestStream::new()
        .add_elements(vec![
            (KV::new(s("k"), 50), secs(5)),
            (KV::new(s("k"), 30), secs(3)),
        ])
        .advance_watermark_to(secs(4))
        .add_elements(vec![(KV::new(s("k"), 10), secs(1))])
        .advance_watermark_to(secs(6))
        .advance_watermark_to_infinity();
    let out = p
        .apply("Events", script)
        .apply("InOrder", ParDo::stateful(InOrder));
    assert_that(&out).contains_in_any_order(vec![
        (s("k"), 0, 30),
        (s("k"), 1, 10),
        (s("k"), 2, 50),
    ]);
}

pub(super) fn streaming_processing_timer(p: &Pipeline) {
    // The timer is due an hour of processing time after the elements: the test clock moves
    // two hours, so it fires then (not at the end), with what had arrived by then.
    let script = TestStream::new()
        .add_elements(vec![
            (KV::new(s("k"), 1), secs(4)),
            (KV::new(s("k"), 2), secs(7)),
        ])
        .advance_processing_time(Duration::from_secs(7200))
        .add_elements(vec![(KV::new(s("k"), 40), secs(8))])
        .advance_watermark_to_infinity();
    let out = p
        .apply("Events", script)
        .apply("Later", ParDo::stateful(Later));
    assert_that(&out).contains_in_any_order(vec![(s("k"), 3007), (s("k"), 40008)]);
}

pub(super) fn streaming_gc(p: &Pipeline) {
    // Window [0, 10) expires when the watermark passes 9.999999 s: the element at 5 that
    // arrives afterwards is dropped, and the window's state was emitted at expiry.
    let script = TestStream::new()
        .add_elements(vec![
            (KV::new(s("k"), 1), secs(1)),
            (KV::new(s("k"), 2), secs(2)),
        ])
        .advance_watermark_to(secs(11))
        .add_elements(vec![
            (KV::new(s("k"), 100), secs(5)),
            (KV::new(s("k"), 7), secs(12)),
        ])
        .advance_watermark_to_infinity();
    let out = p
        .apply("Events", script)
        .apply(
            "Fixed",
            WindowInto::new(FixedWindows::of(Duration::from_secs(10))),
        )
        .apply("Sum", ParDo::stateful(SumAtExpiry));
    assert_that(&out).contains_in_any_order(vec![(s("k"), 0, 3), (s("k"), 10, 7)]);
}

pub(super) fn streaming_hold(p: &Pipeline) {
    // The processing-time timer set by the element at 4 s outputs at 4 s, an hour of
    // processing time later. Until then it holds the DoFn's output watermark at 4 s: the
    // downstream window [0, 10) waits for it although the input watermark reached 20 s, and
    // its pane is on time. (Without the hold the window would expire first and drop it.)
    let script = TestStream::new()
        .add_elements(vec![(KV::new(s("k"), 1), secs(4))])
        .advance_watermark_to(secs(20))
        .advance_processing_time(Duration::from_secs(7200))
        .advance_watermark_to_infinity();
    let panes = p
        .apply("Events", script)
        .apply("Later", ParDo::stateful(Later))
        .map("ToKv", |(k, v): (String, i64)| KV::new(k, v))
        .apply(
            "Fixed",
            WindowInto::new(FixedWindows::of(Duration::from_secs(10))),
        )
        .apply("Group", GroupByKey)
        .apply(
            "Describe",
            MapWithContext::new(|kv: KV<String, Vec<i64>>, m: &ElementMeta| {
                (kv.value, m.pane.timing)
            }),
        );
    assert_that(&panes).contains_in_any_order(vec![(vec![1004], PaneTiming::OnTime)]);
}

pub(super) fn streaming_chained_clocks(p: &Pipeline) {
    // Processing time is one clock for the pipeline (Beam's direct runner reads one clock
    // for every transform). A grouping fires early 60 s of processing time after a pane's
    // first element; the stateful `Later` downstream flushes its bag an hour after its last
    // element. When the clock steps to 3600 s the grouping fires [1], which reaches `Later`
    // at 3600 s: due at 7200 s. The step to 3660 s fires [2], which moves the timer to
    // 7260 s; the end flushes 1 + 2 (and the empty on-time pane) together. A runner that
    // delivered the first firing before moving `Later`'s clock would set its timer at 3600 s
    // and flush [1] alone in that same step.
    let script = TestStream::new()
        .add_elements(vec![(KV::new(s("k"), 1), secs(1))])
        .advance_processing_time(Duration::from_secs(3600))
        .add_elements(vec![(KV::new(s("k"), 2), secs(2))])
        .advance_processing_time(Duration::from_secs(60))
        .advance_watermark_to_infinity();
    let out =
        p.apply("Events", script)
            .apply(
                "Fixed",
                WindowInto::new(FixedWindows::of(Duration::from_secs(10)))
                    .triggering(Trigger::after_watermark().with_early_firings(
                        Trigger::after_processing_time(Duration::from_secs(60)),
                    ))
                    .discarding_fired_panes(),
            )
            .apply("Group", GroupByKey)
            .map("Sum", |kv: KV<String, Vec<i64>>| {
                KV::new(kv.key, kv.value.iter().sum::<i64>())
            })
            .apply("Global", WindowInto::new(GlobalWindows))
            .apply("Later", ParDo::stateful(Later));
    // Panes of [0, 10) carry its end, 9.999999 s: `Later` adds the whole seconds, 9.
    assert_that(&out).contains_in_any_order(vec![(s("k"), 3009)]);
}
