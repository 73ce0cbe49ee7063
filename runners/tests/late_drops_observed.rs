//! Records dropped as late reach the run's observer while it runs (what `/metrics` serves as
//! `sluice_dropped_late_total`), on both streaming runners.

use sluice_runners::core::observe::Observer;
use sluice_runners::core::{PipelineRunner, RunContext};
use sluice_runners::observe::live::LiveMetrics;
use sluice_runners::{PipelineOptions, direct::DirectRunner, timely::TimelyRunner};
use sluice_sdk::prelude::*;
use sluice_sdk::testing::TestStream;
use std::sync::Arc;

/// Two on-time elements, then the watermark passes their window, then two late ones.
fn pipeline() -> Pipeline {
    let p = Pipeline::new();
    let kv = |k: &str| KV::new(k.to_string(), 1u64);
    let events = TestStream::new()
        .add_elements(vec![
            (kv("a"), Timestamp::from_secs(1)),
            (kv("b"), Timestamp::from_secs(1)),
        ])
        .advance_watermark_to(Timestamp::from_secs(100))
        .add_elements(vec![
            (kv("a"), Timestamp::from_secs(2)),
            (kv("c"), Timestamp::from_secs(2)),
        ])
        .advance_watermark_to_infinity();
    p.apply("Events", events)
        .apply(
            "Window",
            WindowInto::new(FixedWindows::of(Duration::from_secs(10))),
        )
        .apply("Count", Combine::per_key(Sum::<u64>::new()));
    p
}

#[test]
fn late_drops_reach_the_observer_on_both_streaming_runners() {
    let runners: [(&str, Box<dyn PipelineRunner>); 2] = [
        ("direct", Box::new(DirectRunner)),
        ("timely", Box::new(TimelyRunner)),
    ];
    for (name, runner) in runners {
        let p = pipeline();
        let live = LiveMetrics::for_graph(&p.graph().unwrap());
        let context = RunContext {
            observer: Observer::new(Arc::new(live.clone())),
            ..RunContext::default()
        };
        let options = PipelineOptions {
            workers: Some(2),
            ..PipelineOptions::for_runner(name)
        };
        let result = runner.run(&p, &options, &context).unwrap();
        assert_eq!(
            result.metrics.counter("Count", "droppedDueToLateness"),
            Some(2),
            "{name}"
        );
        let snapshot = live.snapshot().unwrap();
        let count = snapshot
            .transforms
            .iter()
            .find(|t| t.name == "Count")
            .unwrap();
        assert_eq!(count.dropped_late, Some(2), "{name}: {count:?}");
        assert_eq!(count.dropped_closed_window, Some(0), "{name}");
    }
}
