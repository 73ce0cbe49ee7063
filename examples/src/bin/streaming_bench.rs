//! The streaming benchmark: a windowed count on the direct runner over a synthetic unbounded
//! source, measuring throughput and the latency from the watermark passing a window's end to
//! the emission of that window's panes.
//!
//! ```text
//! cargo run --release -p sluice-examples --bin streaming_bench -- [--events 20000000] [--keys 1000] [--runs 3]
//! ```
//!
//! The source emits events in event-time order, 100 000 events per second of event time (so a
//! 10 s window holds 1 000 000 events), keyed over `--keys` keys, as fast as the pipeline takes
//! them; its watermark is the timestamp of the last event it emitted. The pipeline assigns fixed
//! 10 s windows, counts per key and window, and records when each pane arrives. Each
//! configuration (the direct runner at `--parallelism 1` and `2`, the timely runner as one
//! process of two workers) runs in a child process of its own.

use clap::Parser;
use sluice_examples::bench::{peers_python, synthetic_batch};
use sluice_runners::PipelineOptions;
use sluice_sdk::error::BoxError;
use sluice_sdk::prelude::*;
use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Windowed count throughput and emission latency on the direct runner.
#[derive(Parser)]
struct Args {
    /// Events per run.
    #[arg(long, default_value_t = 20_000_000)]
    events: u64,
    /// Distinct keys.
    #[arg(long, default_value_t = 1000)]
    keys: u64,
    /// Runs per configuration (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Also run the same job on Flink SQL (PyFlink) and Bytewax, from the venv that
    /// `scripts/peers-venv` creates (Bytewax on a tenth of the events: it is far slower).
    #[arg(long)]
    peers: bool,
    /// Internal: run one configuration (`direct-1`, `direct-2`, `timely-1x2`) and print its
    /// result.
    #[arg(long, hide = true)]
    child: Option<String>,
}

/// Window size in seconds.
const WINDOW_SECS: i64 = 10;

/// When each split's watermark passed each window end (wall clock).
type Crossings = Arc<Mutex<HashMap<(usize, i64), Instant>>>;

#[derive(Clone)]
struct Synthetic {
    total: u64,
    keys: u64,
    split: u64,
    splits: u64,
    crossings: Crossings,
}

struct SyntheticReader {
    source: Synthetic,
    next: u64,
    watermark: Timestamp,
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
        Ok(Box::new(SyntheticReader {
            source: self.clone(),
            next: self.split,
            watermark: Timestamp::MIN,
        }))
    }
}

#[async_trait::async_trait]
impl UnboundedReader<u64> for SyntheticReader {
    async fn next_batch(
        &mut self,
        max: usize,
    ) -> Result<Option<Vec<TimestampedValue<u64>>>, BoxError> {
        if self.next >= self.source.total {
            return Ok(None);
        }
        let (splits, total, keys) = (self.source.splits, self.source.total, self.source.keys);
        let batch = synthetic_batch(&mut self.next, splits, total, keys, max);
        let before = self.watermark;
        self.watermark = batch.last().map_or(before, |tv| tv.timestamp);
        // Record the wall time at which this split's watermark passed window ends.
        let window = WINDOW_SECS * 1_000_000;
        let (from, to) = (
            before.as_micros().max(0) / window,
            self.watermark.as_micros() / window,
        );
        if to > from {
            let now = Instant::now();
            let mut crossings = self.source.crossings.lock().map_err(|_| "crossings lock")?;
            for w in from + 1..=to {
                crossings.insert((self.source.split as usize, w * WINDOW_SECS * 1000), now);
            }
        }
        Ok(Some(batch))
    }
    fn watermark(&self) -> Timestamp {
        self.watermark
    }
}

/// Records the arrival time of each pane with its window's end (ms) and its count.
#[derive(Clone)]
struct Arrivals(Arc<Mutex<Vec<(i64, Instant, u64)>>>);

impl DoFn for Arrivals {
    type In = KV<u64, u64>;
    type Out = ();
    fn process(&mut self, count: KV<u64, u64>, ctx: &mut ProcessContext<'_, ()>) -> DoFnResult {
        let end = ctx.window().as_interval().map_or(0, |w| w.end.as_millis());
        self.0
            .lock()
            .map_err(|_| "arrivals lock")?
            .push((end, Instant::now(), count.value));
        Ok(())
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The configurations compared: the direct runner at parallelism 1 and 2, and the timely
/// runner as one process of two workers; `+metrics`: the same with `--metrics-addr`, scraped
/// twice a second while it runs (what the live metrics cost).
const CONFIGS: [&str; 5] = [
    "direct-1",
    "direct-2",
    "timely-1x2",
    "direct-1+metrics",
    "timely-1x2+metrics",
];

/// Scrapes `GET /metrics` from `addr` twice a second until `done`; returns how many answers
/// came back.
fn scrape(addr: String, done: Arc<std::sync::atomic::AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut answers = 0;
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(std::time::Duration::from_millis(500));
            if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
                let _ = write!(
                    s,
                    "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                );
                let mut body = Vec::new();
                if s.read_to_end(&mut body).is_ok() && body.starts_with(b"HTTP/1.1 200") {
                    answers += 1;
                }
            }
        }
        answers
    })
}

fn run_child(config: &str, events: u64, keys: u64) -> anyhow::Result<()> {
    let crossings: Crossings = Arc::new(Mutex::new(HashMap::new()));
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let p = Pipeline::new();
    p.apply(
        "Events",
        ReadUnbounded::from(Synthetic {
            total: events,
            keys,
            split: 0,
            splits: 1,
            crossings: crossings.clone(),
        }),
    )
    .apply(
        "Fixed10s",
        WindowInto::new(FixedWindows::of(Duration::from_secs(WINDOW_SECS))),
    )
    .map("Key", |k: u64| KV::new(k, ()))
    .apply("CountPerKey", Count::per_key())
    .apply("Arrivals", ParDo::of(Arrivals(arrivals.clone())));
    let (config, metrics) = match config.strip_suffix("+metrics") {
        Some(base) => (base, true),
        None => (config, false),
    };
    let mut options = match config {
        "direct-1" | "direct-2" => PipelineOptions {
            parallelism: Some(if config == "direct-1" { 1 } else { 2 }),
            quiet: true,
            ..PipelineOptions::for_runner("direct")
        },
        other => sluice_examples::bench::timely_options(other)
            .ok_or_else(|| anyhow::anyhow!("unknown configuration {other}"))?,
    };
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let scraper = if metrics {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = format!("127.0.0.1:{port}");
        options.metrics_addr = Some(addr.clone());
        Some(scrape(addr, Arc::clone(&done)))
    } else {
        None
    };
    let started = Instant::now();
    let result = sluice_runners::run(&p, &options)?;
    let seconds = started.elapsed().as_secs_f64();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(scraper) = scraper {
        let answers = scraper
            .join()
            .map_err(|_| anyhow::anyhow!("the scraper panicked"))?;
        anyhow::ensure!(
            answers > 0 || seconds < 1.0,
            "no answer from --metrics-addr in {seconds:.1} s"
        );
    }
    let crossings = crossings
        .lock()
        .map_err(|_| anyhow::anyhow!("crossings lock"))?;
    let mut window_crossed: HashMap<i64, Instant> = HashMap::new();
    for ((_, end), at) in crossings.iter() {
        let e = window_crossed.entry(*end).or_insert(*at);
        *e = (*e).max(*at);
    }
    let arrivals = arrivals
        .lock()
        .map_err(|_| anyhow::anyhow!("arrivals lock"))?;
    let mut latencies: Vec<f64> = arrivals
        .iter()
        .filter_map(|(end, at, _)| {
            window_crossed
                .get(end)
                .map(|c| at.saturating_duration_since(*c).as_secs_f64() * 1e3)
        })
        .collect();
    latencies.sort_by(|a, b| a.total_cmp(b));
    let panes = result
        .elements
        .get("CountPerKey/Combine")
        .map_or(0, |c| c.output);
    let counted: u64 = arrivals.iter().map(|(_, _, c)| c).sum();
    anyhow::ensure!(
        counted == events,
        "the panes count {counted} events, the source emitted {events} ({} records dropped as late)",
        result
            .metrics
            .counter("CountPerKey/Combine", "droppedDueToLateness")
            .unwrap_or(0)
    );
    println!(
        "RESULT {seconds} {} {} {} {panes}",
        events as f64 / seconds,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    sluice_examples::main_with(|| {
        let args = Args::parse();
        if let Some(config) = &args.child {
            return run_child(config, args.events, args.keys);
        }
        let exe = std::env::current_exe()?;
        println!(
            "windowed count: {} events, {} keys, fixed {WINDOW_SECS} s windows, {} runs",
            args.events, args.keys, args.runs
        );
        let mut results: HashMap<&str, Vec<(f64, f64, f64)>> = HashMap::new();
        for round in 0..args.runs.max(1) {
            for config in CONFIGS {
                let out = Command::new(&exe)
                    .args([
                        "--child",
                        config,
                        "--events",
                        &args.events.to_string(),
                        "--keys",
                        &args.keys.to_string(),
                    ])
                    .output()?;
                let stdout = String::from_utf8_lossy(&out.stdout);
                let Some(line) = stdout.lines().find(|l| l.starts_with("RESULT ")) else {
                    anyhow::bail!("{config} failed: {}", String::from_utf8_lossy(&out.stderr));
                };
                let f: Vec<f64> = line
                    .split_whitespace()
                    .skip(1)
                    .map(|x| x.parse().unwrap_or(f64::NAN))
                    .collect();
                println!(
                    "  round {round} {config:<10}: {:>10.0} events/s  latency p50 {:.1} ms  p99 {:.1} ms  ({} panes)",
                    f[1], f[2], f[3], f[4]
                );
                results.entry(config).or_default().push((f[1], f[2], f[3]));
            }
        }
        let mut peer_rates = Vec::new();
        if args.peers {
            let python = peers_python()?;
            for (peer, script, events) in [
                (
                    "flink",
                    "examples/peers/flink_windowed_count.py",
                    args.events,
                ),
                (
                    "bytewax",
                    "examples/peers/bytewax_windowed_count.py",
                    args.events / 10,
                ),
            ] {
                let out = Command::new(&python)
                    .args([script, &events.to_string()])
                    .output()?;
                let stdout = String::from_utf8_lossy(&out.stdout);
                let Some(line) = stdout.lines().find(|l| l.starts_with("RESULT ")) else {
                    anyhow::bail!("{peer} failed: {}", String::from_utf8_lossy(&out.stderr));
                };
                let rate: f64 = line
                    .split_whitespace()
                    .nth(2)
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(f64::NAN);
                println!("  {peer}: {rate:>10.0} events/s ({events} events, job start included)");
                peer_rates.push((peer, rate));
            }
        }
        println!();
        for (peer, rate) in &peer_rates {
            println!("{peer}: {rate:.0} events/s");
        }
        let mut medians = HashMap::new();
        for config in CONFIGS {
            let mut r = results.remove(config).unwrap_or_default();
            r.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (rate, p50, p99) = r[r.len() / 2];
            medians.insert(config, rate);
            println!(
                "{config:<10}: median {rate:.0} events/s, latency p50 {p50:.1} ms, p99 {p99:.1} ms"
            );
        }
        println!(
            "target timely-1x2 >= 1.6x direct-1: {:.2}x",
            medians["timely-1x2"] / medians["direct-1"]
        );
        for base in ["direct-1", "timely-1x2"] {
            let with = medians[format!("{base}+metrics").as_str()];
            println!(
                "live metrics on {base}: {:.3}x throughput ({:+.1}%; target: at most 3% less)",
                with / medians[base],
                (with / medians[base] - 1.0) * 100.0
            );
        }
        Ok(())
    })
}
