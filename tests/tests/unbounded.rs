//! Unbounded sources on the direct and timely runners: reading until the sources end,
//! watermarks, cancel, checkpoints.

use sluice_runners::{PipelineOptions, run, start};
use sluice_sdk::error::BoxError;
use sluice_sdk::prelude::*;
use sluice_sdk::testing::assert_that;
use sluice_tests::wait_for;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration as StdDuration;

/// Emits `0..n` (of its share) with timestamps of 100 ms apart, in batches, sleeping between
/// batches; its watermark is the last timestamp it emitted. `n = None` never ends.
#[derive(Clone)]
struct Counter {
    n: Option<u64>,
    split: u64,
    splits: u64,
    batch: u64,
    fail_at: Option<u64>,
    ledger: Option<&'static Ledger>,
}

struct CounterReader {
    source: Counter,
    next: u64,
    watermark: Timestamp,
}

/// What a sink wrote and which read positions were finalized, to check that a checkpoint is
/// finalized only after the output of everything read before it was written.
struct Ledger {
    written: std::sync::Mutex<std::collections::BTreeSet<u64>>,
    finalized: std::sync::Mutex<Vec<u64>>,
    /// Positions finalized before every value below them was written.
    early: std::sync::Mutex<Vec<u64>>,
}

impl Ledger {
    const fn new() -> Self {
        Ledger {
            written: std::sync::Mutex::new(std::collections::BTreeSet::new()),
            finalized: std::sync::Mutex::new(Vec::new()),
            early: std::sync::Mutex::new(Vec::new()),
        }
    }
}

/// A reader's position (single split: every value below it was read).
struct Position {
    next: u64,
    ledger: &'static Ledger,
}

impl sluice_sdk::source::CheckpointMark for Position {
    fn finalize(self: Box<Self>) -> Result<(), BoxError> {
        let written = self.ledger.written.lock().map_err(|_| "lock")?;
        if (0..self.next).any(|v| !written.contains(&v)) {
            self.ledger
                .early
                .lock()
                .map_err(|_| "lock")?
                .push(self.next);
        }
        self.ledger
            .finalized
            .lock()
            .map_err(|_| "lock")?
            .push(self.next);
        Ok(())
    }
}

impl UnboundedSource for Counter {
    type Output = u64;
    fn split(&self, desired: usize) -> Result<Vec<Self>, BoxError> {
        let splits = desired.clamp(1, 4) as u64;
        Ok((0..splits)
            .map(|split| Counter {
                split,
                splits,
                ..self.clone()
            })
            .collect())
    }
    fn reader(&self) -> Result<Box<dyn UnboundedReader<u64>>, BoxError> {
        Ok(Box::new(CounterReader {
            source: self.clone(),
            next: self.split,
            watermark: Timestamp::MIN,
        }))
    }
}

#[async_trait::async_trait]
impl UnboundedReader<u64> for CounterReader {
    async fn next_batch(
        &mut self,
        _max: usize,
    ) -> Result<Option<Vec<TimestampedValue<u64>>>, BoxError> {
        tokio::time::sleep(StdDuration::from_millis(2)).await;
        let mut batch = Vec::new();
        for _ in 0..self.source.batch {
            if self.source.n.is_some_and(|n| self.next >= n) {
                break;
            }
            if self.source.fail_at == Some(self.next) {
                return Err(format!("cannot read record {}", self.next).into());
            }
            let ts = Timestamp::from_millis(self.next as i64 * 100);
            batch.push(TimestampedValue::new(self.next, ts));
            self.watermark = ts;
            self.next += self.source.splits;
        }
        if batch.is_empty() && self.source.n.is_some() {
            return Ok(None);
        }
        Ok(Some(batch))
    }
    fn watermark(&self) -> Timestamp {
        self.watermark
    }
    fn checkpoint(&mut self) -> Option<Box<dyn sluice_sdk::source::CheckpointMark>> {
        let ledger = self.source.ledger?;
        Some(Box::new(Position {
            next: self.next,
            ledger,
        }))
    }
}

fn counter(n: Option<u64>) -> Counter {
    Counter {
        n,
        split: 0,
        splits: 1,
        batch: 50,
        fail_at: None,
        ledger: None,
    }
}

/// The runners that read unbounded sources.
const RUNNERS: [&str; 2] = ["direct", "timely"];

#[test]
fn a_finite_unbounded_source_gives_the_windowed_results_of_its_data() {
    for runner in RUNNERS {
        finite_source_on(runner);
    }
}

fn finite_source_on(runner: &str) {
    let p = Pipeline::new();
    let sums = p
        .apply("Counter", ReadUnbounded::from(counter(Some(2_000))))
        .apply(
            "Fixed",
            WindowInto::new(FixedWindows::of(Duration::from_secs(10))),
        )
        .map("One", |v: u64| KV::new("all".to_string(), v))
        .apply("Sum", Combine::per_key(Sum::<u64>::new()))
        .apply(
            "Describe",
            MapWithContext::new(|kv: KV<String, u64>, m: &ElementMeta| {
                (m.window.max_timestamp().as_secs(), kv.value, m.pane.timing)
            }),
        );
    // 100 elements per 10 s window: window w holds 100w .. 100w + 99.
    let expected: Vec<(i64, u64, PaneTiming)> = (0..20u64)
        .map(|w| {
            (
                (w * 10 + 9) as i64,
                (100 * w..100 * w + 100).sum::<u64>(),
                PaneTiming::OnTime,
            )
        })
        .collect();
    assert_that(&sums).contains_in_any_order(expected);
    let options = PipelineOptions {
        parallelism: Some(2),
        ..PipelineOptions::for_runner(runner)
    };
    let result = run(&p, &options).unwrap();
    assert_eq!(result.state, PipelineState::Done, "{runner}");
    assert_eq!(result.assertions_passed(), 1, "{runner}");
    assert_eq!(result.elements["Counter"].output, 2_000, "{runner}");
}

#[test]
fn cancel_stops_an_endless_source() {
    for runner in RUNNERS {
        cancel_stops_on(runner);
    }
}

fn cancel_stops_on(runner: &str) {
    static SEEN: AtomicU64 = AtomicU64::new(0);
    SEEN.store(0, Ordering::Relaxed);
    let p = Pipeline::new();
    p.apply("Endless", ReadUnbounded::from(counter(None)))
        .map("Double", |v: u64| {
            SEEN.fetch_add(1, Ordering::Relaxed);
            v * 2
        });
    let handle = start(&p, &PipelineOptions::for_runner(runner)).unwrap();
    let cancel = handle.cancel_token();
    // Cancel once it has read something, however long a loaded machine takes to get there.
    let canceller = std::thread::spawn(move || {
        wait_for("the first elements", StdDuration::from_secs(60), || {
            SEEN.load(Ordering::Relaxed) > 0
        });
        cancel.cancel();
    });
    let result = handle.wait().unwrap();
    canceller.join().unwrap();
    assert_eq!(result.state, PipelineState::Cancelled, "{runner}");
    assert!(result.elements["Endless"].output > 0, "{runner}");
}

#[test]
fn checkpoints_are_finalized_after_their_records_reach_the_output_and_cancel_drains() {
    static LEDGER: Ledger = Ledger::new();
    checkpoints_on("direct", &LEDGER);
}

#[test]
fn checkpoints_are_finalized_after_their_records_reach_the_output_on_timely() {
    static LEDGER: Ledger = Ledger::new();
    checkpoints_on("timely", &LEDGER);
}

fn checkpoints_on(runner: &str, ledger: &'static Ledger) {
    let p = Pipeline::new();
    p.apply(
        "Endless",
        ReadUnbounded::from(Counter {
            ledger: Some(ledger),
            ..counter(None)
        }),
    )
    .apply(
        "Fixed",
        WindowInto::new(FixedWindows::of(Duration::from_secs(1))),
    )
    .map("One", |v: u64| KV::new("all".to_string(), v))
    .apply("Group", GroupByKey)
    .map("Write", move |kv: KV<String, Vec<u64>>| {
        ledger.written.lock().unwrap().extend(kv.value);
    });
    // One split, so that a position covers every value below it.
    let options = PipelineOptions {
        parallelism: Some(1),
        ..PipelineOptions::for_runner(runner)
    };
    let handle = sluice_runners::start(&p, &options).unwrap();
    // Checkpoints are finalized as windows fire, while it runs.
    wait_for("a finalized checkpoint", StdDuration::from_secs(60), || {
        !ledger.finalized.lock().unwrap().is_empty()
    });
    handle.cancel();
    let result = handle.wait().unwrap();
    assert_eq!(result.state, PipelineState::Cancelled);
    let read = result.elements["Endless"].output;
    assert!(read > 0);
    assert_eq!(*ledger.early.lock().unwrap(), Vec::<u64>::new(), "{runner}");
    // The drain fired the open windows and then finalized everything read.
    let written = ledger.written.lock().unwrap();
    assert_eq!(written.len() as u64, read, "{runner}");
    assert_eq!(written.iter().copied().max(), Some(read - 1), "{runner}");
    assert_eq!(
        ledger.finalized.lock().unwrap().last(),
        Some(&read),
        "{runner}"
    );
}

#[test]
fn a_started_pipeline_can_be_cancelled_through_its_handle() {
    static SEEN: AtomicU64 = AtomicU64::new(0);
    let p = Pipeline::new();
    p.apply("Endless", ReadUnbounded::from(counter(None)))
        .map("Double", |v: u64| {
            SEEN.fetch_add(1, Ordering::Relaxed);
            v * 2
        });
    let handle = sluice_runners::start(&p, &PipelineOptions::for_runner("direct")).unwrap();
    wait_for("the first elements", StdDuration::from_secs(60), || {
        SEEN.load(Ordering::Relaxed) > 0
    });
    handle.cancel();
    let result = handle.wait().unwrap();
    assert_eq!(result.state, PipelineState::Cancelled);
    assert!(result.elements["Endless"].output > 0);
}

#[test]
fn a_failing_reader_fails_the_pipeline_naming_the_source() {
    for runner in RUNNERS {
        failing_reader_on(runner);
    }
}

fn failing_reader_on(runner: &str) {
    let p = Pipeline::new();
    p.apply(
        "Flaky",
        ReadUnbounded::from(Counter {
            fail_at: Some(120),
            ..counter(Some(1_000))
        }),
    );
    let err = run(&p, &PipelineOptions::for_runner(runner)).expect_err("the reader fails");
    assert_eq!(
        err.to_string(),
        "source 'Flaky' failed: cannot read record 120"
    );
}

#[test]
fn the_rayon_runner_refuses_an_unbounded_source() {
    let p = Pipeline::new();
    p.apply("Counter", ReadUnbounded::from(counter(Some(10))));
    let err = run(&p, &PipelineOptions::for_runner("rayon"))
        .expect_err("rayon is batch only")
        .to_string();
    assert!(
        err.contains("source 'Counter' is unbounded") && err.contains("--runner=direct"),
        "{err}"
    );
}
