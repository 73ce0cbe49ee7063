//! Checkpoints of streaming runs and the restore from them, in process: a run whose source
//! fails part-way (as a crash would leave it: no drain, no last checkpoint) is started again
//! with the same checkpoint directory, and goes on from its last complete checkpoint — windows
//! keep what they held, the source resumes at its position — so that together the two runs
//! give every window's result, and the second reads again only what followed the checkpoint.

use sluice_runners::{PipelineOptions, run};
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

/// Per 10 s window and key `v % 3`: the sum of the values, written as
/// `key,window end (s),sum,pane timing`.
fn pipeline(source: Sequence, ledger: &'static Ledger) -> Pipeline {
    let p = Pipeline::new();
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
        .map("Write", move |row: String| {
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

#[test]
fn a_failed_run_restarts_from_its_last_checkpoint_with_its_windows() {
    static LEDGER: Ledger = Ledger::new();
    restart_on("direct", &LEDGER);
}

#[test]
fn a_failed_run_restarts_from_its_last_checkpoint_with_its_windows_on_timely() {
    static LEDGER: Ledger = Ledger::new();
    restart_on("timely", &LEDGER);
}

/// A run on `runner` that fails part-way, then one from its last checkpoint.
fn restart_on(runner: &str, ledger: &'static Ledger) {
    let dir = sluice_tests::temp_dir(&format!("checkpoint-restore-{runner}"));
    let options = |dir: &std::path::Path| PipelineOptions {
        runner: runner.to_string(),
        ..options(dir, 2)
    };
    let n = 3_000;
    let source = |fail_at| Sequence {
        n,
        split: 0,
        splits: 1,
        fail_at,
        stall_ms: None,
        ledger,
    };

    // The first run fails at 2000, as a crash would stop it: no drain, no last checkpoint.
    let err = run(&pipeline(source(Some(2_000)), ledger), &options(&dir)).unwrap_err();
    assert!(err.to_string().contains("cannot read record 200"), "{err}");
    let (read1, rows1) = ledger.take();
    let storage = complete_checkpoints(&dir);
    assert!(
        !storage.is_empty(),
        "no complete checkpoint in {}",
        dir.display()
    );
    assert!(storage.len() <= 3, "kept {storage:?}");

    // The second run resumes: it reads from the checkpoint's position, not from 0.
    let result = run(&pipeline(source(None), ledger), &options(&dir)).unwrap();
    assert_eq!(result.state, PipelineState::Done);
    let (read2, rows2) = ledger.take();
    let resumed_at = *read2.iter().min().expect("the second run read something");
    let first: BTreeSet<u64> = read1.iter().copied().collect();
    let second: BTreeSet<u64> = read2.iter().copied().collect();
    assert_eq!(
        second.len(),
        read2.len(),
        "the second run read a record twice"
    );
    let reread = first.intersection(&second).count();
    eprintln!(
        "first run read {} records; the second resumed at {resumed_at} and read {reread} of \
         them again",
        read1.len()
    );
    assert!(resumed_at > 0, "the second run started from the beginning");
    assert!(reread < read1.len() / 2, "read again: {reread}");
    assert!(
        (0..n).all(|v| first.contains(&v) || second.contains(&v)),
        "a record was never read"
    );

    // Together the runs give every window's result; a row written twice is the same row.
    let all: BTreeSet<String> = rows1.iter().chain(&rows2).cloned().collect();
    assert_eq!(all, expected_rows(n));
    assert_eq!(rows1.len(), rows1.iter().collect::<BTreeSet<_>>().len());
    assert_eq!(rows2.len(), rows2.iter().collect::<BTreeSet<_>>().len());
    // Windows that fired before the checkpoint are not fired again: the first window's rows
    // came from the first run only.
    assert!(rows1.iter().any(|r| r.starts_with("0,10,")), "{rows1:?}");
    assert!(!rows2.iter().any(|r| r.contains(",10,")), "{rows2:?}");
    // The window open at the checkpoint kept what it held: its sum covers records the second
    // run never read.
    let open_window = resumed_at / 100;
    assert!(
        rows2
            .iter()
            .any(|r| r.split(',').nth(1) == Some(&((open_window + 1) * 10).to_string())),
        "{rows2:?}"
    );

    if runner != "direct" {
        return;
    }
    // The finished run took a last checkpoint: a third run has nothing left to do.
    let again = run(&pipeline(source(None), ledger), &options(&dir)).unwrap();
    assert_eq!(again.state, PipelineState::Done);
    let (read3, rows3) = ledger.take();
    assert!(read3.is_empty(), "read again: {read3:?}");
    assert!(rows3.is_empty(), "wrote again: {rows3:?}");
}

#[test]
fn a_checkpoint_is_refused_by_another_pipeline_or_another_parallelism() {
    static LEDGER: Ledger = Ledger::new();
    let dir = sluice_tests::temp_dir("checkpoint-refused");
    let source = Sequence {
        n: 500,
        split: 0,
        splits: 1,
        fail_at: None,
        stall_ms: None,
        ledger: &LEDGER,
    };
    run(&pipeline(source.clone(), &LEDGER), &options(&dir, 2)).unwrap();
    LEDGER.take();

    let err = run(&pipeline(source.clone(), &LEDGER), &options(&dir, 3))
        .unwrap_err()
        .to_string();
    assert!(err.contains(&dir.display().to_string()), "{err}");
    assert!(err.contains("in 2 shards, and this run has 3"), "{err}");

    let other = Pipeline::new();
    other
        .apply("Numbers", ReadUnbounded::from(source))
        .map("Other", |v: u64| v + 1);
    let err = run(&other, &options(&dir, 2)).unwrap_err().to_string();
    assert!(err.contains(&dir.display().to_string()), "{err}");
    assert!(err.contains("another pipeline"), "{err}");
    LEDGER.take();
}

#[test]
fn checkpoint_flags_are_refused_where_no_checkpoint_is_kept() {
    let dir = sluice_tests::temp_dir("checkpoint-bounded");
    let p = Pipeline::new();
    p.apply("Numbers", Create::of(vec![1u64, 2, 3]))
        .map("Double", |v: u64| v * 2);
    for runner in ["direct", "rayon", "timely"] {
        let o = PipelineOptions {
            runner: runner.into(),
            ..options(&dir, 1)
        };
        let err = run(&p, &o).unwrap_err().to_string();
        assert!(err.contains("--checkpoint-dir"), "{runner}: {err}");
        assert!(
            err.contains(&format!("the {runner} runner keeps no checkpoints")),
            "{runner}: {err}"
        );
    }
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

/// Per 10 s window and key `v % 3`, the sum of the values, written to a file per window and
/// pane with `--exactly-once`; `hook` is applied to the rows beside the write (a DoFn that
/// fails at a chosen moment of the commit protocol).
fn exactly_once_pipeline(
    source: Sequence,
    prefix: &str,
    hook: Option<(&'static str, CommitFailure)>,
) -> Pipeline {
    let p = Pipeline::new();
    let rows = p
        .apply("Numbers", ReadUnbounded::from(source))
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
        );
    if let Some((name, failure)) = hook.clone().filter(|(name, _)| *name == "before") {
        rows.apply(name, ParDo::of(failure));
    }
    rows.apply("Write", sluice_io::text::write_windowed(prefix));
    if let Some((name, failure)) = hook.filter(|(name, _)| *name == "after") {
        rows.apply(name, ParDo::of(failure));
    }
    p
}

/// A DoFn that takes part in checkpoints' commits and fails its `commit` of checkpoint `at`:
/// the run stops there, as a crash at that point of the protocol would leave it.
#[derive(Clone)]
struct CommitFailure {
    at: u64,
}

impl DoFn for CommitFailure {
    type In = String;
    type Out = ();
    fn process(
        &mut self,
        _: String,
        _: &mut ProcessContext<'_, ()>,
    ) -> sluice_sdk::dofn::DoFnResult {
        Ok(())
    }
    fn prepare_commit(&mut self, checkpoint: u64) -> Result<Option<Vec<u8>>, BoxError> {
        Ok(Some(checkpoint.to_string().into_bytes()))
    }
    fn commit(&mut self, prepared: &[u8]) -> sluice_sdk::dofn::DoFnResult {
        if prepared == self.at.to_string().as_bytes() {
            return Err(format!("commit of checkpoint {} cut short", self.at).into());
        }
        Ok(())
    }
    fn recover(&mut self, _: &[Vec<u8>]) -> sluice_sdk::dofn::DoFnResult {
        Ok(())
    }
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

#[test]
fn windowed_files_hold_every_row_once_across_a_failure() {
    static LEDGER: Ledger = Ledger::new();
    exactly_once_on("direct", &LEDGER);
}

#[test]
fn windowed_files_hold_every_row_once_across_a_failure_on_timely() {
    static LEDGER: Ledger = Ledger::new();
    exactly_once_on("timely", &LEDGER);
}

/// A run on `runner` with `--exactly-once` fails part-way; the next one restores: the
/// committed files hold every row once.
fn exactly_once_on(runner: &str, ledger: &'static Ledger) {
    let dir = sluice_tests::temp_dir(&format!("checkpoint-exactly-once-{runner}"));
    let exactly_once = |dir: &std::path::Path| PipelineOptions {
        runner: runner.to_string(),
        ..exactly_once(dir)
    };
    let prefix = dir.join("out/sums").display().to_string();
    let chk = dir.join("checkpoints");
    let n = 6_000;
    let source = |fail_at| Sequence {
        n,
        split: 0,
        splits: 1,
        fail_at,
        stall_ms: None,
        ledger,
    };
    let err = run(
        &exactly_once_pipeline(source(Some(4_000)), &prefix, None),
        &exactly_once(&chk),
    )
    .unwrap_err();
    assert!(err.to_string().contains("cannot read record 400"), "{err}");
    let before = committed_lines(&prefix);
    assert!(!before.is_empty(), "nothing committed before the failure");
    let result = run(
        &exactly_once_pipeline(source(None), &prefix, None),
        &exactly_once(&chk),
    )
    .unwrap();
    assert_eq!(result.state, PipelineState::Done);
    let lines = committed_lines(&prefix);
    let unique: BTreeSet<String> = lines.iter().cloned().collect();
    assert_eq!(lines.len(), unique.len(), "a row committed twice");
    assert_eq!(unique, expected_rows(n));
    // Nothing is left pending, and every file holds one window's pane.
    let pending = dir.join("out/.sums-sluice-pending");
    let left: Vec<_> = walk_files(&pending)
        .into_iter()
        .filter(|p| !p.ends_with("manifest.lock"))
        .collect();
    assert!(left.is_empty(), "left pending: {left:?}");
    ledger.take();
}

#[test]
fn a_crash_inside_the_commit_protocol_loses_and_repeats_nothing() {
    static LEDGER: Ledger = Ledger::new();
    // "before": the run stops after the pending manifest, before the files are renamed;
    // "after": the files are renamed and the run stops before the manifest.
    // (On the timely runner the sinks of different stages commit as each is woken: "before"
    // and "after" are two orders of the same cut there.)
    for (runner, point) in [
        ("direct", "before"),
        ("direct", "after"),
        ("timely", "before"),
        ("timely", "after"),
    ] {
        let dir = sluice_tests::temp_dir(&format!("checkpoint-commit-{runner}-{point}"));
        let prefix = dir.join("out/sums").display().to_string();
        let chk = dir.join("checkpoints");
        let exactly_once = |dir: &std::path::Path| PipelineOptions {
            runner: runner.to_string(),
            ..exactly_once(dir)
        };
        let n = 6_000;
        let source = Sequence {
            n,
            split: 0,
            splits: 1,
            fail_at: None,
            stall_ms: None,
            ledger: &LEDGER,
        };
        let cut = (point, CommitFailure { at: 2 });
        let err = run(
            &exactly_once_pipeline(source.clone(), &prefix, Some(cut)),
            &exactly_once(&chk),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("commit of checkpoint 2 cut short"),
            "{runner} {point}: {err}"
        );
        assert!(
            chk.join(format!("chk-{:020}.pending", 2)).exists(),
            "{runner} {point}"
        );
        // No checkpoint is number 0.
        let never = (point, CommitFailure { at: 0 });
        run(
            &exactly_once_pipeline(source, &prefix, Some(never)),
            &exactly_once(&chk),
        )
        .unwrap();
        let lines = committed_lines(&prefix);
        let unique: BTreeSet<String> = lines.iter().cloned().collect();
        assert_eq!(
            lines.len(),
            unique.len(),
            "{runner} {point}: a row committed twice"
        );
        assert_eq!(unique, expected_rows(n), "{runner} {point}");
        assert!(
            !chk.join(format!("chk-{:020}.pending", 2)).exists(),
            "{runner} {point}"
        );
        LEDGER.take();
    }
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

#[test]
fn a_damaged_checkpoint_is_passed_over_for_the_one_before_or_refused_with_exactly_once() {
    static LEDGER: Ledger = Ledger::new();
    let dir = sluice_tests::temp_dir("checkpoint-damaged");
    let chk = dir.join("original");
    let n = 3_000;
    let source = |fail_at| Sequence {
        n,
        split: 0,
        splits: 1,
        fail_at,
        stall_ms: None,
        ledger: &LEDGER,
    };
    run(&pipeline(source(Some(2_000)), &LEDGER), &options(&chk, 2)).unwrap_err();
    let (_, rows1) = LEDGER.take();
    let complete = complete_checkpoints(&chk);
    assert!(complete.len() >= 2, "{complete:?}");
    let newest = chk.join(format!("chk-{:020}", complete.last().unwrap()));
    let part = std::fs::read_dir(&newest)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|name| name.starts_with("keyed-"))
        .expect("a keyed part");

    type Damage = fn(&std::path::Path);
    let damages: [(&str, Damage); 3] = [
        ("truncated", |p| {
            let bytes = std::fs::read(p).unwrap();
            std::fs::write(p, &bytes[..bytes.len() / 2]).unwrap();
        }),
        ("corrupted", |p| {
            let mut bytes = std::fs::read(p).unwrap();
            for b in bytes.iter_mut().take(16) {
                *b ^= 0x5a;
            }
            std::fs::write(p, bytes).unwrap();
        }),
        ("missing", |p| std::fs::remove_file(p).unwrap()),
    ];
    for (what, damage) in damages {
        let copy = dir.join(what);
        copy_dir(&chk, &copy);
        damage(&copy.join(newest.file_name().unwrap()).join(&part));

        // With --exactly-once the run refuses to go back past a checkpoint whose outputs may
        // be committed, naming it and what to do.
        let mut strict = options(&copy, 2);
        strict.checkpoints.exactly_once = true;
        let err = run(&pipeline(source(None), &LEDGER), &strict)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&copy.display().to_string()), "{what}: {err}");
        assert!(
            err.contains(&format!(
                "checkpoint {} is damaged",
                complete.last().unwrap()
            )),
            "{what}: {err}"
        );
        assert!(err.contains("Repair or remove"), "{what}: {err}");
        LEDGER.take();

        // Without it, the run falls back to the checkpoint before and gives every result.
        let result = run(&pipeline(source(None), &LEDGER), &options(&copy, 2)).unwrap();
        assert_eq!(result.state, PipelineState::Done, "{what}");
        let (read2, rows2) = LEDGER.take();
        assert!(
            *read2.iter().min().unwrap() > 0,
            "{what}: started over instead of falling back"
        );
        let all: BTreeSet<String> = rows1.iter().chain(&rows2).cloned().collect();
        assert_eq!(all, expected_rows(n), "{what}");
    }
}

#[test]
fn an_unusable_checkpoint_directory_is_an_error_naming_it() {
    static LEDGER: Ledger = Ledger::new();
    let dir = sluice_tests::temp_dir("checkpoint-unusable");
    // A file where the directory should be.
    let file = dir.join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let source = Sequence {
        n: 100,
        split: 0,
        splits: 1,
        fail_at: None,
        stall_ms: None,
        ledger: &LEDGER,
    };
    for bad in [file.join("chk"), file.clone()] {
        let err = run(&pipeline(source.clone(), &LEDGER), &options(&bad, 1))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("checkpoint directory {}", bad.display())),
            "{err}"
        );
    }
    let mut ftp = options(&dir, 1);
    ftp.checkpoints.dir = Some("ftp://host/chk".into());
    let err = run(&pipeline(source, &LEDGER), &ftp)
        .unwrap_err()
        .to_string();
    assert!(err.contains("ftp:// is not a kind of storage"), "{err}");
    LEDGER.take();
}

#[test]
fn a_run_that_reads_nothing_before_it_fails_keeps_the_positions_it_resumed_from() {
    static LEDGER: Ledger = Ledger::new();
    let dir = sluice_tests::temp_dir("checkpoint-stalled");
    let n = 3_000;
    let source = |fail_at, stall_ms| Sequence {
        n,
        split: 0,
        splits: 1,
        fail_at,
        stall_ms,
        ledger: &LEDGER,
    };
    run(
        &pipeline(source(Some(2_000), None), &LEDGER),
        &options(&dir, 2),
    )
    .unwrap_err();
    let (read1, rows1) = LEDGER.take();
    // Restored, it reads nothing for a while (checkpoints are taken meanwhile), then fails.
    let err = run(
        &pipeline(source(None, Some(400)), &LEDGER),
        &options(&dir, 2),
    )
    .unwrap_err();
    assert!(err.to_string().contains("stalled at"), "{err}");
    let (read2, rows2) = LEDGER.take();
    // It read nothing (its restored watermark may still fire windows the first run held).
    assert!(read2.is_empty(), "{read2:?}");
    assert!(complete_checkpoints(&dir).len() >= 2);
    // Those checkpoints still hold where the first run was: the third run resumes there.
    run(&pipeline(source(None, None), &LEDGER), &options(&dir, 2)).unwrap();
    let (read3, rows3) = LEDGER.take();
    let first: BTreeSet<u64> = read1.iter().copied().collect();
    let third: BTreeSet<u64> = read3.iter().copied().collect();
    assert!(
        first.intersection(&third).count() < read1.len() / 2,
        "started over"
    );
    let all: BTreeSet<String> = rows1.iter().chain(&rows2).chain(&rows3).cloned().collect();
    assert_eq!(all, expected_rows(n));
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

#[test]
fn kafka_output_with_exactly_once_is_written_in_transactions_marked_by_checkpoint() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    static LEDGER: Ledger = Ledger::new();
    let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
    cluster.create_topic("sums", 1, 1).unwrap();
    cluster
        .create_topic(
            &sluice_io::kafka::transactions::marker_topic("sums-job"),
            1,
            1,
        )
        .unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let dir = sluice_tests::temp_dir("checkpoint-kafka-transactions");
    let n = 3_000;
    let p = Pipeline::new();
    p.apply(
        "Numbers",
        ReadUnbounded::from(Sequence {
            n,
            split: 0,
            splits: 1,
            fail_at: None,
            stall_ms: None,
            ledger: &LEDGER,
        }),
    )
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
    .apply(
        "Write",
        sluice_io::kafka::write_text(&bootstrap, "sums").transactional_id("sums-job"),
    );
    let result = run(&p, &exactly_once(&dir)).unwrap();
    assert_eq!(result.state, PipelineState::Done);
    LEDGER.take();
    // Every row once (nothing failed: the mock cluster shows aborted records too, so this
    // test cannot show a crash's), and a marker per committed checkpoint.
    let read = |topic: &str| -> Vec<(Option<String>, String)> {
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "reader")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "true")
            .create()
            .unwrap();
        let mut tpl = rdkafka::TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
            .unwrap();
        consumer.assign(&tpl).unwrap();
        let mut out = Vec::new();
        loop {
            match consumer.poll(std::time::Duration::from_secs(10)) {
                Some(Ok(m)) => out.push((
                    m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                )),
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => return out,
                other => panic!("reading {topic}: {other:?}"),
            }
        }
    };
    let rows: Vec<String> = read("sums").into_iter().map(|(_, v)| v).collect();
    let unique: BTreeSet<String> = rows.iter().cloned().collect();
    assert_eq!(rows.len(), unique.len(), "a row written twice");
    assert_eq!(unique, expected_rows(n));
    let markers = read(&sluice_io::kafka::transactions::marker_topic("sums-job"));
    assert!(!markers.is_empty());
    assert!(
        markers
            .iter()
            .all(|(k, _)| k.as_deref() == Some("sums-job-0")),
        "{markers:?}"
    );
    let ids: Vec<u64> = markers.iter().map(|(_, v)| v.parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}

/// Adds a singleton side input to each value.
#[derive(Clone)]
struct AddSide {
    view: PCollectionView<u64>,
}

impl DoFn for AddSide {
    type In = u64;
    type Out = u64;
    fn process(
        &mut self,
        v: u64,
        ctx: &mut ProcessContext<'_, u64>,
    ) -> sluice_sdk::dofn::DoFnResult {
        let side: u64 = *ctx.side_input(&self.view)?;
        ctx.output(v + side);
        Ok(())
    }
}

#[test]
fn a_side_input_comes_back_from_a_checkpoint_once() {
    static LEDGER: Ledger = Ledger::new();
    let dir = sluice_tests::temp_dir("checkpoint-side-input");
    let n = 3_000;
    let pipeline = |fail_at| {
        let p = Pipeline::new();
        // A table that fires as soon as it is read (as the enrich job's), so that the main
        // input need not wait for the end of the global window.
        let view = p
            .apply("Table", Create::of(vec![6u64]))
            .apply(
                "EveryReading",
                WindowInto::new(GlobalWindows)
                    .triggering(Trigger::repeatedly(Trigger::after_count(1)))
                    .discarding_fired_panes(),
            )
            .apply("Latest", Latest::globally())
            .apply("AsSingleton", View::singleton());
        p.apply(
            "Numbers",
            ReadUnbounded::from(Sequence {
                n,
                split: 0,
                splits: 1,
                fail_at,
                stall_ms: None,
                ledger: &LEDGER,
            }),
        )
        .apply(
            "AddSide",
            ParDo::of(AddSide { view: view.clone() }).with_side_input(&view),
        )
        .apply(
            "Fixed",
            WindowInto::new(FixedWindows::of(Duration::from_secs(10))),
        )
        .map("One", |v: u64| KV::new(0u64, v))
        .apply("Sum", Combine::per_key(Sum::<u64>::new()))
        .map("Write", move |kv: KV<u64, u64>| {
            LEDGER.rows.lock().unwrap().push(kv.value.to_string());
        });
        p
    };
    run(&pipeline(Some(2_000)), &options(&dir, 2)).unwrap_err();
    let (_, rows1) = LEDGER.take();
    run(&pipeline(None), &options(&dir, 2)).unwrap();
    let (_, rows2) = LEDGER.take();
    // Each window's sum counts the side input's 6 once per value (a view that held its
    // restored reading and a new one would hold two, which a singleton refuses).
    let expected: BTreeSet<String> = (0..n / 100)
        .map(|w| {
            (w * 100..w * 100 + 100)
                .map(|v| v + 6)
                .sum::<u64>()
                .to_string()
        })
        .collect();
    let all: BTreeSet<String> = rows1.iter().chain(&rows2).cloned().collect();
    assert_eq!(all, expected);
}
