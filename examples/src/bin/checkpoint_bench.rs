//! The checkpoint benchmark: what checkpoints cost a streaming run on the direct runner, and
//! how long a checkpoint of a large state takes to write and to restore.
//!
//! ```text
//! cargo run --release -p sluice-examples --bin checkpoint_bench -- [--events 20000000] [--runs 3] [--state-keys 1000000]
//! ```
//!
//! 1. **Throughput**: a windowed count (fixed 10 s windows, 1000 keys) over a synthetic source
//!    (100 000 events per second of event time, as fast as the pipeline takes them), without
//!    checkpoints and with one every second to a local directory; rounds interleaved, medians
//!    and their ratio.
//! 2. **A large state**: the same count over `--state-keys` keys in one 1-hour window (every key
//!    holds state until the end), a checkpoint every second: the size and duration of the
//!    largest checkpoint; then a run stopped by a failure once its state is checkpointed, and
//!    a run that restores it: the restore's duration.
//!
//! Each run is a child process of its own.

use clap::Parser;
use sluice_examples::bench::synthetic_batch;
use sluice_runners::PipelineOptions;
use sluice_runners::core::checkpoint::{
    CHECKPOINT_BYTES, CHECKPOINT_METRICS, CHECKPOINT_MILLIS, RESTORE_MILLIS,
};
use sluice_sdk::error::BoxError;
use sluice_sdk::prelude::*;
use std::process::Command;
use std::time::Instant;

/// Checkpoint cost and large-state checkpoint and restore times on the direct runner.
#[derive(Parser)]
struct Args {
    /// Events per throughput run.
    #[arg(long, default_value_t = 20_000_000)]
    events: u64,
    /// Throughput runs per configuration (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Keys of the large state.
    #[arg(long, default_value_t = 1_000_000)]
    state_keys: u64,
    /// Internal: run one child (`off`, `every-1s`, `state`, `crash`, `restore`) with its
    /// checkpoint directory.
    #[arg(long, hide = true)]
    child: Option<String>,
    /// Internal: the child's checkpoint directory.
    #[arg(long, hide = true)]
    dir: Option<String>,
}

/// A synthetic source of keys, resumable: each split's position is the next event it emits.
#[derive(Clone)]
struct Synthetic {
    total: u64,
    keys: u64,
    split: u64,
    splits: u64,
    /// Once every event is out: read nothing for this long (checkpoints of the whole state
    /// are taken meanwhile), then end — or fail, when `fail` (a run that stops with its state
    /// checkpointed, not drained).
    pause_at_end_ms: Option<u64>,
    fail: bool,
}

struct SyntheticReader {
    source: Synthetic,
    next: u64,
    watermark: Timestamp,
    ended_at: Option<Instant>,
}

/// A split's position.
struct Position(u64, u64);

impl sluice_sdk::source::CheckpointMark for Position {
    fn finalize(self: Box<Self>) -> Result<(), BoxError> {
        Ok(())
    }
    fn encode(&self) -> Option<Vec<u8>> {
        Some(format!("{} {}", self.0, self.1).into_bytes())
    }
}

impl Synthetic {
    fn start(&self, next: u64) -> SyntheticReader {
        SyntheticReader {
            source: self.clone(),
            next,
            watermark: Timestamp::MIN,
            ended_at: None,
        }
    }
}

impl UnboundedSource for Synthetic {
    type Output = u64;
    fn split(&self, desired: usize) -> Result<Vec<Self>, BoxError> {
        let splits = desired.max(1) as u64;
        Ok((0..splits)
            .map(|split| Synthetic {
                split,
                splits,
                ..self.clone()
            })
            .collect())
    }
    fn reader(&self) -> Result<Box<dyn UnboundedReader<u64>>, BoxError> {
        Ok(Box::new(self.start(self.split)))
    }
    fn resume(&self, positions: &[Vec<u8>]) -> Result<Box<dyn UnboundedReader<u64>>, BoxError> {
        let mut next = self.split;
        for p in positions {
            let text = String::from_utf8(p.clone())?;
            if let Some((split, at)) = text.split_once(' ')
                && split.parse::<u64>()? == self.split
            {
                next = at.parse()?;
            }
        }
        Ok(Box::new(self.start(next)))
    }
}

#[async_trait::async_trait]
impl UnboundedReader<u64> for SyntheticReader {
    async fn next_batch(
        &mut self,
        max: usize,
    ) -> Result<Option<Vec<TimestampedValue<u64>>>, BoxError> {
        if self.next >= self.source.total {
            let Some(ms) = self.source.pause_at_end_ms else {
                return Ok(None);
            };
            let ended = *self.ended_at.get_or_insert_with(Instant::now);
            if ended.elapsed().as_millis() < u128::from(ms) {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                return Ok(Some(Vec::new()));
            }
            if self.source.fail {
                return Err("the benchmark stops here, its state checkpointed".into());
            }
            return Ok(None);
        }
        let (splits, total, keys) = (self.source.splits, self.source.total, self.source.keys);
        let batch = synthetic_batch(&mut self.next, splits, total, keys, max);
        self.watermark = batch.last().map_or(self.watermark, |tv| tv.timestamp);
        Ok(Some(batch))
    }
    fn watermark(&self) -> Timestamp {
        self.watermark
    }
    fn checkpoint(&mut self) -> Option<Box<dyn sluice_sdk::source::CheckpointMark>> {
        Some(Box::new(Position(self.source.split, self.next)))
    }
}

/// Counts per key and window of `window`; the panes are counted and summed.
fn pipeline(source: Synthetic, window: Duration) -> Pipeline {
    let p = Pipeline::new();
    p.apply("Events", ReadUnbounded::from(source))
        .apply("Fixed", WindowInto::new(FixedWindows::of(window)))
        .map("Key", |k: u64| KV::new(k, ()))
        .apply("CountPerKey", Count::per_key())
        .map("Drop", |_: KV<u64, u64>| ());
    p
}

fn run_child(args: &Args, child: &str) -> anyhow::Result<()> {
    let dir = args.dir.clone();
    let mut options = PipelineOptions {
        parallelism: Some(1),
        quiet: true,
        ..PipelineOptions::for_runner("direct")
    };
    options.checkpoints.dir = dir;
    if options.checkpoints.dir.is_some() {
        options.checkpoints.interval = Some(Duration::from_secs(1));
    }
    let (events, keys, window) = match child {
        "off" | "every-1s" => (args.events, 1000, Duration::from_secs(10)),
        // The state's keys, twice each, in one window.
        _ => (
            args.state_keys * 2,
            args.state_keys,
            Duration::from_secs(3600),
        ),
    };
    let source = Synthetic {
        total: events,
        keys,
        split: 0,
        splits: 1,
        pause_at_end_ms: matches!(child, "state" | "crash").then_some(2_500),
        fail: child == "crash",
    };
    let started = Instant::now();
    let result = sluice_runners::run(&pipeline(source, window), &options);
    let seconds = started.elapsed().as_secs_f64();
    if child == "crash" {
        anyhow::ensure!(result.is_err(), "the crash run should have failed");
        println!("RESULT {seconds}");
        return Ok(());
    }
    let result = result?;
    let m = &result.metrics;
    let bytes = m.distribution(CHECKPOINT_METRICS, CHECKPOINT_BYTES);
    let millis = m.distribution(CHECKPOINT_METRICS, CHECKPOINT_MILLIS);
    let restore = m.counter(CHECKPOINT_METRICS, RESTORE_MILLIS).unwrap_or(0);
    println!(
        "RESULT {seconds} {} {} {} {} {restore}",
        events as f64 / seconds,
        bytes.map_or(0, |d| d.count),
        bytes.map_or(0, |d| d.max),
        millis.map_or(0, |d| d.max),
    );
    Ok(())
}

/// Runs child `child` (with checkpoint directory `dir`); its RESULT figures.
fn child(args: &Args, child: &str, dir: Option<&std::path::Path>) -> anyhow::Result<Vec<f64>> {
    let mut command = Command::new(std::env::current_exe()?);
    command.args([
        "--child",
        child,
        "--events",
        &args.events.to_string(),
        "--state-keys",
        &args.state_keys.to_string(),
    ]);
    if let Some(dir) = dir {
        command.args(["--dir", &dir.display().to_string()]);
    }
    let out = command.output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let Some(line) = stdout.lines().find(|l| l.starts_with("RESULT ")) else {
        anyhow::bail!("{child} failed: {}", String::from_utf8_lossy(&out.stderr));
    };
    Ok(line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(f64::NAN))
        .collect())
}

fn main() -> std::process::ExitCode {
    sluice_examples::main_with(|| {
        let args = Args::parse();
        if let Some(c) = &args.child {
            return run_child(&args, c);
        }
        let scratch =
            std::env::temp_dir().join(format!("sluice-checkpoint-bench-{}", std::process::id()));
        println!(
            "windowed count, direct runner, parallelism 1: {} events, 1000 keys, fixed 10 s windows, {} rounds",
            args.events, args.runs
        );
        let (mut off, mut on) = (Vec::new(), Vec::new());
        for round in 0..args.runs.max(1) {
            let f = child(&args, "off", None)?;
            println!("  round {round} no checkpoints : {:>10.0} events/s", f[1]);
            off.push(f[1]);
            let dir = scratch.join(format!("every-1s-{round}"));
            let f = child(&args, "every-1s", Some(&dir))?;
            println!(
                "  round {round} every second   : {:>10.0} events/s  ({} checkpoints, largest {} bytes, slowest {} ms)",
                f[1], f[2], f[3], f[4]
            );
            on.push(f[1]);
        }
        let (off, on) = (
            sluice_examples::bench::median(off),
            sluice_examples::bench::median(on),
        );
        println!(
            "median: {off:.0} events/s without, {on:.0} with a checkpoint every second: {:.2}x",
            on / off
        );

        println!(
            "a large state: {} keys in one 1-hour window, a checkpoint every second",
            args.state_keys
        );
        let f = child(&args, "state", Some(&scratch.join("state")))?;
        println!(
            "  largest checkpoint {:.1} MB, written in {} ms ({} checkpoints in {:.1} s)",
            f[3] / 1e6,
            f[4],
            f[2],
            f[0]
        );
        let dir = scratch.join("restore");
        child(&args, "crash", Some(&dir))?;
        let f = child(&args, "restore", Some(&dir))?;
        println!("  restore of that state: {} ms", f[5]);
        let _ = std::fs::remove_dir_all(&scratch);
        Ok(())
    })
}
