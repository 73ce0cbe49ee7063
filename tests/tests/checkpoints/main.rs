//! Checkpoints of streaming runs and the restore from them, in process, on the direct and
//! timely runners: a run whose source fails part-way (as a crash would leave it: no drain, no
//! last checkpoint) is started again with the same checkpoint directory and goes on from its
//! last complete checkpoint. One test binary, a module per concept:
//!
//! - [`restore`]: windows, positions and side inputs come back; what is read again;
//! - [`refused`]: checkpoints that are not this run's, damaged or unusable;
//! - [`exactly_once`]: sinks that commit on checkpoints (files, Kafka), and crashes inside the
//!   commit protocol.
//!
//! What they share: a resumable source of numbers ([`Sequence`]), the pipeline of windowed
//! sums it feeds, and what a test sees of a run ([`Ledger`]).

mod exactly_once;
mod refused;
mod restore;

use sluice_runners::PipelineOptions;
use sluice_sdk::error::BoxError;
use sluice_sdk::prelude::*;
use std::collections::BTreeSet;
use std::sync::Mutex;

/// What the test sees of a run: the values its source read, and the rows its sink wrote.
struct Ledger {
    read: Mutex<Vec<u64>>,
    rows: Mutex<Vec<String>>,
}

impl Ledger {
    const fn new() -> Self {
        Ledger {
            read: Mutex::new(Vec::new()),
            rows: Mutex::new(Vec::new()),
        }
    }
    fn take(&self) -> (Vec<u64>, Vec<String>) {
        (
            std::mem::take(&mut *self.read.lock().unwrap()),
            std::mem::take(&mut *self.rows.lock().unwrap()),
        )
    }
}

/// Emits `0..n` (each split its share: `v % splits == split`), `v` at `v * 100 ms`, a batch
/// of 20 every few milliseconds; fails at `fail_at` if set. It resumes from a checkpoint.
#[derive(Clone)]
struct Sequence {
    n: u64,
    split: u64,
    splits: u64,
    fail_at: Option<u64>,
    /// Reads nothing for this long, then fails (a run that checkpoints without reading).
    stall_ms: Option<u64>,
    ledger: &'static Ledger,
}

struct SequenceReader {
    source: Sequence,
    next: u64,
    watermark: Timestamp,
    started: std::time::Instant,
}

/// A split's position: the next value it reads.
struct Position {
    split: u64,
    splits: u64,
    next: u64,
}

impl sluice_sdk::source::CheckpointMark for Position {
    fn finalize(self: Box<Self>) -> Result<(), BoxError> {
        Ok(())
    }
    fn encode(&self) -> Option<Vec<u8>> {
        Some(format!("{} {} {}", self.split, self.splits, self.next).into_bytes())
    }
}

impl UnboundedSource for Sequence {
    type Output = u64;
    fn split(&self, desired: usize) -> Result<Vec<Self>, BoxError> {
        let splits = desired.clamp(1, 4) as u64;
        Ok((0..splits)
            .map(|split| Sequence {
                split,
                splits,
                ..self.clone()
            })
            .collect())
    }
    fn reader(&self) -> Result<Box<dyn UnboundedReader<u64>>, BoxError> {
        Ok(Box::new(SequenceReader {
            source: self.clone(),
            next: self.split,
            watermark: Timestamp::MIN,
            started: std::time::Instant::now(),
        }))
    }
    fn resume(&self, positions: &[Vec<u8>]) -> Result<Box<dyn UnboundedReader<u64>>, BoxError> {
        let mut reader = SequenceReader {
            source: self.clone(),
            next: self.split,
            watermark: Timestamp::MIN,
            started: std::time::Instant::now(),
        };
        for p in positions {
            let text = String::from_utf8(p.clone())?;
            let fields: Vec<u64> = text.split(' ').map(str::parse).collect::<Result<_, _>>()?;
            let [split, splits, next] = fields[..] else {
                return Err(format!("bad position {text:?}").into());
            };
            if splits != self.splits {
                return Err(
                    format!("positions of {splits} splits, this run has {}", self.splits).into(),
                );
            }
            if split == self.split {
                reader.next = next;
                reader.watermark = Timestamp::from_millis(next as i64 * 100 - 1);
            }
        }
        Ok(Box::new(reader))
    }
}

#[async_trait::async_trait]
impl UnboundedReader<u64> for SequenceReader {
    async fn next_batch(
        &mut self,
        _max: usize,
    ) -> Result<Option<Vec<TimestampedValue<u64>>>, BoxError> {
        tokio::time::sleep(std::time::Duration::from_millis(4)).await;
        if let Some(ms) = self.source.stall_ms {
            if self.started.elapsed().as_millis() < u128::from(ms) {
                return Ok(Some(Vec::new()));
            }
            return Err(format!("stalled at {}", self.next).into());
        }
        let mut batch = Vec::new();
        for _ in 0..20 {
            if self.next >= self.source.n {
                break;
            }
            if self.source.fail_at.is_some_and(|f| self.next >= f) {
                return Err(format!("cannot read record {}", self.next).into());
            }
            let ts = Timestamp::from_millis(self.next as i64 * 100);
            batch.push(TimestampedValue::new(self.next, ts));
            self.source.ledger.read.lock().unwrap().push(self.next);
            self.watermark = ts;
            self.next += self.source.splits;
        }
        if batch.is_empty() {
            return Ok(None);
        }
        Ok(Some(batch))
    }
    fn watermark(&self) -> Timestamp {
        self.watermark
    }
    fn checkpoint(&mut self) -> Option<Box<dyn sluice_sdk::source::CheckpointMark>> {
        Some(Box::new(Position {
            split: self.source.split,
            splits: self.source.splits,
            next: self.next,
        }))
    }
}

impl Sequence {
    /// `0..n` into `ledger`, as one split until the runner splits it.
    fn new(n: u64, ledger: &'static Ledger) -> Self {
        Sequence {
            n,
            split: 0,
            splits: 1,
            fail_at: None,
            stall_ms: None,
            ledger,
        }
    }

    /// Fails at `at`, if set.
    fn failing_at(self, at: Option<u64>) -> Self {
        Sequence {
            fail_at: at,
            ..self
        }
    }

    /// Reads nothing for `ms` milliseconds, then fails, if set.
    fn stalling(self, ms: Option<u64>) -> Self {
        Sequence {
            stall_ms: ms,
            ..self
        }
    }
}

/// Per 10 s window and key `v % 3` of what `source` reads: the sum of the values, as
/// `key,window end (s),sum,pane timing`.
fn sums(p: &Pipeline, source: Sequence) -> PCollection<String> {
    p.apply("Numbers", ReadUnbounded::from(source))
        .apply(
            "Fixed",
            WindowInto::new(FixedWindows::of(Duration::from_secs(10))),
        )
        .map("ByRest", |v: u64| KV::new(v % 3, v))
        .apply("Sum", Combine::per_key(Sum::<u64>::new()))
        .apply(
            "Describe",
            MapWithContext::new(|kv: KV<u64, u64>, m: &ElementMeta| {
                format!(
                    "{},{},{},{:?}",
                    kv.key,
                    (m.window.max_timestamp().as_millis() + 1) / 1000,
                    kv.value,
                    m.pane.timing
                )
            }),
        )
}

/// [`sums`] of `source`, each row kept in `ledger`.
fn pipeline(source: Sequence, ledger: &'static Ledger) -> Pipeline {
    let p = Pipeline::new();
    sums(&p, source).map("Write", move |row: String| {
        ledger.rows.lock().unwrap().push(row);
    });
    p
}

/// The rows of an uninterrupted run over `0..n`.
fn expected_rows(n: u64) -> BTreeSet<String> {
    let mut rows = BTreeSet::new();
    for w in 0..n.div_ceil(100) {
        for key in 0..3 {
            let sum: u64 = (w * 100..(w * 100 + 100).min(n))
                .filter(|v| v % 3 == key)
                .sum();
            rows.insert(format!("{key},{},{sum},OnTime", (w + 1) * 10));
        }
    }
    rows
}

fn options(dir: &std::path::Path, parallelism: usize) -> PipelineOptions {
    let mut o = PipelineOptions {
        parallelism: Some(parallelism),
        quiet: true,
        ..PipelineOptions::for_runner("direct")
    };
    o.checkpoints.dir = Some(dir.display().to_string());
    o.checkpoints.interval = Some(Duration::from_millis(50));
    o
}

/// The complete checkpoints in `dir`.
fn complete_checkpoints(dir: &std::path::Path) -> Vec<u64> {
    let storage =
        sluice_runners::core::checkpoint::CheckpointStorage::open(&dir.display().to_string())
            .unwrap();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(storage.complete_checkpoints())
        .unwrap()
}

/// Every line of the committed files of the windowed output at `prefix`.
fn committed_lines(prefix: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for file in sluice_io::text::committed_files(prefix).unwrap() {
        let text = std::fs::read_to_string(&file).unwrap();
        lines.extend(text.lines().map(str::to_string));
    }
    lines
}

fn exactly_once(dir: &std::path::Path) -> PipelineOptions {
    let mut o = options(dir, 2);
    o.checkpoints.exactly_once = true;
    o
}

/// Copies directory `from` to `to`, recursively.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every file under `dir`, recursively.
fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk_files(&path));
        } else {
            files.push(path);
        }
    }
    files
}
