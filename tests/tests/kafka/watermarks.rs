//! Event time from Kafka: out-of-order records within the delay, late records, idle
//! partitions.

use super::options;
use sluice_io::kafka::{self, KafkaRecord, Utf8};
use sluice_runners::start;
use sluice_sdk::prelude::*;
use sluice_sdk::result::PipelineResult;
use sluice_tests::kafka::{TestRecord, broker, produce, unique_topic};
use sluice_tests::wait_for;
use std::sync::Mutex;
use std::time::Duration as StdDuration;

/// A pane seen by the watermark test: window start (s after the base), count, timing.
type Seen = (i64, u64, PaneTiming);

/// Reads `topic` (2 partitions, only partition 0 written) with a 5 s delay and a 1 s idle
/// timeout into fixed 10 s windows counted per key, collecting the panes into `seen`.
fn watermark_pipeline(
    bootstrap: &str,
    topic: &str,
    base: Timestamp,
    lateness: Duration,
    seen: &'static Mutex<Vec<Seen>>,
) -> Pipeline {
    let p = Pipeline::new();
    let read = p.apply(
        "Read",
        kafka::read(bootstrap)
            .topic(topic)
            .values(Utf8)
            .create_time(Duration::from_secs(5))
            .idle_timeout(Duration::from_secs(1)),
    );
    read.records
        .map("Key", |r: KafkaRecord<Vec<u8>, String>| {
            KV::new("k".to_string(), r.value)
        })
        .apply(
            "Window",
            WindowInto::new(FixedWindows::of(Duration::from_secs(10)))
                .with_allowed_lateness(lateness),
        )
        .apply("Count", Count::per_key())
        .apply(
            "Collect",
            MapWithContext::new(move |kv: KV<String, u64>, m: &ElementMeta| {
                let start = m
                    .window
                    .as_interval()
                    .map_or(-1, |w| (w.start - base).as_millis() / 1000);
                seen.lock().unwrap().push((start, kv.value, m.pane.timing));
            }),
        );
    p
}

fn record_at(base: Timestamp, secs: i64) -> TestRecord {
    TestRecord {
        partition: Some(0),
        key: Some(b"k".to_vec()),
        value: secs.to_string().into_bytes(),
        timestamp_ms: Some((base + Duration::from_secs(secs)).as_millis()),
    }
}

/// Out-of-order data within the delay is on time; beyond it, it is dropped (no allowed
/// lateness) or fires a late pane (allowed lateness); an idle partition does not stall output.
fn watermark_case(lateness: Duration, seen: &'static Mutex<Vec<Seen>>) -> PipelineResult {
    let bootstrap = broker();
    let topic = unique_topic("watermarks");
    kafka::create_topic(&bootstrap, &topic, 2).unwrap();
    // Event times a little in the future, so that the idle partitions' clock-driven watermark
    // (now − delay) stays behind the data's during the test.
    let now = kafka_now();
    let base = Timestamp::from_millis((now.as_millis() / 10_000 + 30) * 10_000);
    let p = watermark_pipeline(&bootstrap, &topic, base, lateness, seen);
    let handle = start(&p, &options("direct")).unwrap();
    // Partition 1 never gets a record: only its idleness lets the watermark pass 10 s.
    produce(
        &bootstrap,
        &topic,
        &[record_at(base, 1), record_at(base, 2), record_at(base, 20)],
    );
    wait_for(
        "the first window's pane",
        StdDuration::from_secs(90),
        || !seen.lock().unwrap().is_empty(),
    );
    assert_eq!(*seen.lock().unwrap(), vec![(0, 2, PaneTiming::OnTime)]);
    // The watermark is at 15 s: 12 s is out of order but within the delay; 8 s is behind the
    // end of its window.
    produce(
        &bootstrap,
        &topic,
        &[record_at(base, 12), record_at(base, 8)],
    );
    produce(&bootstrap, &topic, &[record_at(base, 40)]);
    wait_for(
        "the second window's pane",
        StdDuration::from_secs(90),
        || seen.lock().unwrap().iter().any(|s| s.0 == 10),
    );
    handle.cancel();
    handle.wait().unwrap()
}

pub(crate) fn kafka_now() -> Timestamp {
    Timestamp::from_millis(Timestamp::now().as_millis())
}

#[test]
fn late_data_is_dropped_without_allowed_lateness() {
    static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());
    let result = watermark_case(Duration::ZERO, &SEEN);
    let mut seen = SEEN.lock().unwrap().clone();
    seen.sort_by_key(|s| s.0);
    // The drain at cancel fires the windows of 20 s and 40 s.
    assert_eq!(
        seen,
        vec![
            (0, 2, PaneTiming::OnTime),
            (10, 1, PaneTiming::OnTime),
            (20, 1, PaneTiming::OnTime),
            (40, 1, PaneTiming::OnTime),
        ]
    );
    assert_eq!(
        result
            .metrics
            .counter_total("Count", "droppedDueToLateness"),
        1,
        "the record at 8 s"
    );
}

#[test]
fn late_data_within_the_allowed_lateness_fires_a_late_pane() {
    static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());
    let result = watermark_case(Duration::from_secs(30), &SEEN);
    let seen = SEEN.lock().unwrap().clone();
    assert!(seen.contains(&(0, 2, PaneTiming::OnTime)), "{seen:?}");
    assert!(seen.contains(&(0, 1, PaneTiming::Late)), "{seen:?}");
    assert!(seen.contains(&(10, 1, PaneTiming::OnTime)), "{seen:?}");
    assert_eq!(
        result
            .metrics
            .counter_total("Count", "droppedDueToLateness"),
        0
    );
}
