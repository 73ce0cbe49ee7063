//! The fraud_detection benchmark: events per second on the rayon and direct runners from a
//! file, on the direct runner from Kafka (librdkafka's mock cluster), and (with `--peers`) the
//! same rule as a Flink SQL `MATCH_RECOGNIZE` batch job, side by side, outputs compared. Each
//! run is a process of its own; its peak memory (VmHWM) is reported with its time.
//!
//! ```text
//! cargo run --release -p sluice-examples --bin fraud_bench -- [--transactions 2000000] [--accounts 20000] [--runs 3] [--peers] [--kafka 1000000] [--streaming]
//! ```
//!
//! With `--streaming` it also streams the same transactions on the direct runner from a
//! generated unbounded source (and twice as many, and over a million accounts), reporting
//! peak memory: streaming, it follows the live accounts, not the input.
//!
//! The file (generated once under `target/bench-data/`) holds transactions out of order by
//! up to 30 s, one line in 500 malformed. Times are wall times of whole processes, job start
//! included.

use anyhow::Context;
use clap::Parser;
use sluice_examples::bench::{median, peers_python};
use sluice_examples::fraud_detection::{build, compute};
use sluice_examples::job_io::{InputOptions, read_lines};
use sluice_examples::transactions::{TransactionLines, generate};
use sluice_runners::PipelineOptions;
use sluice_sdk::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// fraud_detection on both runners (and Kafka, and Flink SQL).
#[derive(Parser)]
struct Args {
    /// Transactions in the generated file.
    #[arg(long, default_value_t = 2_000_000)]
    transactions: usize,
    /// Accounts they are spread over (live keys).
    #[arg(long, default_value_t = 20_000)]
    accounts: u64,
    /// Runs per configuration (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Also run the Flink SQL batch job (from the venv of `scripts/peers-venv`).
    #[arg(long)]
    peers: bool,
    /// Also read this many transactions from a topic of librdkafka's mock cluster (0: no).
    #[arg(long, default_value_t = 0)]
    kafka: usize,
    /// Partitions of that topic. The mock cluster keeps at most 100 000 records (and 5 MB) per
    /// partition and drops older ones, so a million transactions need 16.
    #[arg(long, default_value_t = 16)]
    kafka_partitions: i32,
    /// Also run the job in streaming mode on the direct runner, from a generated unbounded
    /// stream of `--transactions` (and of twice as many, and over a million accounts), to show
    /// that its memory follows the live accounts, not the input.
    #[arg(long)]
    streaming: bool,
    /// Where the data and outputs go.
    #[arg(long, default_value = "target/bench-data")]
    dir: PathBuf,
    /// With `--kafka`: also stream the topic on the direct runner while it is being loaded
    /// (at `--kafka-rate` records per second), cancel once every line was read, and compare
    /// the alerts after the drain with the file's.
    #[arg(long)]
    kafka_streaming: bool,
    /// The load rate of the streaming case, in records per second.
    #[arg(long, default_value_t = 200_000)]
    kafka_rate: u64,
    /// Internal: run the pipeline with this runner on this input, writing to this prefix.
    #[arg(long, hide = true, num_args = 3..=4)]
    child: Option<Vec<String>>,
}

/// The peak resident memory of this process, in MB (Linux).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The generated transactions as an unbounded source: lines made as they are read, stamped
/// with their transaction's time (a malformed line with the latest time seen), the watermark
/// trailing the latest time by the generator's disorder bound, so that no line is late.
#[derive(Clone)]
struct LiveTransactions {
    count: usize,
    accounts: u64,
}

/// How far out of order the generated transactions are.
const DISORDER_MS: u64 = 30_000;

struct LiveReader {
    lines: TransactionLines,
    latest: Timestamp,
    ended: bool,
}

impl UnboundedSource for LiveTransactions {
    type Output = String;
    fn split(&self, _desired: usize) -> Result<Vec<Self>, BoxError> {
        Ok(vec![self.clone()])
    }
    fn reader(&self) -> Result<Box<dyn UnboundedReader<String>>, BoxError> {
        Ok(Box::new(LiveReader {
            lines: TransactionLines::new(self.count, self.accounts, DISORDER_MS, 2026),
            latest: Timestamp::MIN,
            ended: false,
        }))
    }
}

#[async_trait::async_trait]
impl UnboundedReader<String> for LiveReader {
    async fn next_batch(
        &mut self,
        max: usize,
    ) -> Result<Option<Vec<TimestampedValue<String>>>, BoxError> {
        if self.ended {
            return Ok(None);
        }
        let mut batch = Vec::with_capacity(max);
        for (line, transaction) in self.lines.by_ref().take(max) {
            // As a topic's CreateTime would: the transaction's own time.
            let at = match transaction {
                Some(t) => Timestamp::from_millis(t.timestamp_ms),
                None => self.latest,
            };
            self.latest = self.latest.max(at);
            batch.push(TimestampedValue::new(line, at));
        }
        self.ended = batch.len() < max;
        Ok(Some(batch))
    }
    fn watermark(&self) -> Timestamp {
        if self.latest == Timestamp::MIN {
            return Timestamp::MIN;
        }
        self.latest - Duration::from_millis(DISORDER_MS as i64 + 1)
    }
}

/// Runs the job in streaming mode on the direct runner over `count` live transactions and
/// prints its alert count and peak memory.
fn streaming_child(count: usize, accounts: u64) -> anyhow::Result<()> {
    let p = Pipeline::new();
    let lines = p.apply(
        "ReadTransactions",
        ReadUnbounded::from(LiveTransactions { count, accounts }),
    );
    let alerts = Arc::new(AtomicU64::new(0));
    let counter = alerts.clone();
    compute(&lines)
        .results
        .map("CountAlerts", move |_alert: String| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
    let options = PipelineOptions {
        parallelism: Some(2),
        quiet: true,
        ..PipelineOptions::for_runner("direct")
    };
    sluice_runners::run(&p, &options)?;
    println!("alerts {}", alerts.load(Ordering::Relaxed));
    println!("peak_mb {:.0}", peak_rss_mb());
    Ok(())
}

/// One streaming run in a child process: (seconds, peak MB, alerts).
fn streaming_run(exe: &Path, count: usize, accounts: u64) -> anyhow::Result<(f64, f64, u64)> {
    let args = [
        "stream".to_string(),
        count.to_string(),
        accounts.to_string(),
    ];
    let (secs, field) = run_child(exe, &args, "streaming")?;
    Ok((secs, field("peak_mb"), field("alerts") as u64))
}

/// Runs this benchmark as a child with `--child ARGS`; returns its wall time and what it
/// printed, as a lookup of the numbers on its `NAME VALUE` lines (0 for a missing one).
fn run_child(
    exe: &Path,
    args: &[String],
    what: &str,
) -> anyhow::Result<(f64, impl Fn(&str) -> f64)> {
    let started = Instant::now();
    let out = Command::new(exe).arg("--child").args(args).output()?;
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        out.status.success(),
        "the {what} run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = move |name: &str| -> f64 {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    Ok((secs, field))
}

/// Streams the job from `input` (a topic) on the direct runner until `total` lines were read,
/// then cancels (the drain releases what the state still holds) and writes the alerts, sorted,
/// to `output`.
fn kafka_streaming_child(input: &str, output: &str, total: u64) -> anyhow::Result<()> {
    let p = Pipeline::new();
    let kafka = InputOptions {
        stop_at_end: false,
        max_delay: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(1),
        ..InputOptions::default()
    };
    let (lines, _undecodable) = read_lines(&p, input, &kafka);
    let read = Arc::new(AtomicU64::new(0));
    let counter = read.clone();
    let lines = lines.map("CountLines", move |line: String| {
        counter.fetch_add(1, Ordering::Relaxed);
        line
    });
    let alerts = Arc::new(Mutex::new(Vec::new()));
    let collected = alerts.clone();
    compute(&lines)
        .results
        .map("CollectAlerts", move |alert: String| {
            collected.lock().expect("alerts lock").push(alert);
        });
    let options = PipelineOptions {
        parallelism: Some(2),
        quiet: true,
        ..PipelineOptions::for_runner("direct")
    };
    let handle = sluice_runners::start(&p, &options)?;
    let started = Instant::now();
    while read.load(Ordering::Relaxed) < total {
        anyhow::ensure!(
            started.elapsed() < std::time::Duration::from_secs(600),
            "only {} of {total} lines read in 10 minutes",
            read.load(Ordering::Relaxed)
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    handle.cancel();
    handle.wait()?;
    let mut alerts = std::mem::take(&mut *alerts.lock().expect("alerts lock"));
    alerts.sort();
    std::fs::write(output, alerts.join("\n") + "\n")?;
    println!("peak_mb {:.0}", peak_rss_mb());
    Ok(())
}

/// Runs the job in this process (a child of the benchmark) and prints its peak memory.
fn child(runner: &str, input: &str, output: &str) -> anyhow::Result<()> {
    let p = Pipeline::new();
    let kafka = InputOptions {
        stop_at_end: true,
        max_delay: Duration::from_secs(60),
        ..InputOptions::default()
    };
    build(&p, input, output, &kafka);
    let options = PipelineOptions {
        parallelism: Some(2),
        quiet: true,
        ..PipelineOptions::for_runner(runner)
    };
    sluice_runners::run(&p, &options)?;
    println!("peak_mb {:.0}", peak_rss_mb());
    Ok(())
}

/// One timed run of the job in a child process: (seconds, peak MB).
fn timed_run(exe: &Path, runner: &str, input: &str, output: &Path) -> anyhow::Result<(f64, f64)> {
    let _ = std::fs::remove_dir_all(output.parent().unwrap_or(Path::new(".")));
    let args = [
        runner.to_string(),
        input.to_string(),
        output.display().to_string(),
    ];
    let (secs, field) = run_child(exe, &args, runner)?;
    Ok((secs, field("peak_mb")))
}

fn sorted_alerts(dir: &Path, starts_with: &str) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)?.flatten() {
            let p = e.path();
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if p.is_dir() {
                stack.push(p);
            } else if name.starts_with(starts_with)
                && !name.contains("errors")
                && !name.ends_with("manifest")
                && !name.starts_with('.')
            {
                lines.extend(std::fs::read_to_string(&p)?.lines().map(String::from));
            }
        }
    }
    lines.sort();
    Ok(lines)
}

/// The streaming runs: the same stream as the file (its alerts must match), twice as long,
/// and over a million accounts; each prints its rate and peak memory.
fn streaming_cases(exe: &Path, args: &Args, file_alerts: u64) -> anyhow::Result<()> {
    let n = args.transactions;
    for (count, accounts) in [(n, args.accounts), (2 * n, args.accounts), (n, 1_000_000)] {
        let (t, peak, alerts) = streaming_run(exe, count, accounts)?;
        println!(
            "  streaming direct: {count} transactions over {accounts} accounts: {t:.2} s, \
             {:.0} events/s, peak {peak:.0} MB, {alerts} alerts",
            count as f64 / t
        );
        if (count, accounts) == (n, args.accounts) {
            anyhow::ensure!(
                alerts == file_alerts,
                "streaming found {alerts} alerts, the file run {file_alerts}"
            );
        }
    }
    Ok(())
}

/// The direct runner streaming a topic of the mock cluster while it is being loaded: the
/// alerts after cancel and drain must be the file's.
fn kafka_streaming_case(
    exe: &Path,
    args: &Args,
    out_dir: &Path,
    lines: &[String],
    expected: &[String],
) -> anyhow::Result<(String, f64, f64)> {
    let cluster = rdkafka::mocking::MockCluster::new(1).context("cannot start the mock cluster")?;
    let bootstrap = cluster.bootstrap_servers();
    cluster.create_topic("live", args.kafka_partitions, 1)?;
    let output = out_dir.join("kafka-streaming-alerts.txt");
    let _ = std::fs::remove_file(&output);
    let started = Instant::now();
    let child = Command::new(exe)
        .args(["--child", "kafka-stream"])
        .arg(format!("kafka://{bootstrap}/live"))
        .arg(&output)
        .arg(lines.len().to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    load_topic(&bootstrap, "live", args, lines, Some(args.kafka_rate))?;
    let out = child.wait_with_output()?;
    let t = started.elapsed().as_secs_f64();
    anyhow::ensure!(out.status.success(), "the streaming Kafka run failed");
    let peak = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("peak_mb ")?.trim().parse().ok())
        .unwrap_or(0.0);
    let got: Vec<String> = std::fs::read_to_string(&output)?
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let same = got == expected;
    println!(
        "  streaming kafka: {} lines over {} partitions loaded at {} records/s while read: \
         {t:.2} s, peak {peak:.0} MB, alerts as from the file: {same} ({})",
        lines.len(),
        args.kafka_partitions,
        args.kafka_rate,
        got.len()
    );
    anyhow::ensure!(same, "the alerts streamed from Kafka differ");
    Ok(("kafka streaming".into(), t, peak))
}

fn main() -> std::process::ExitCode {
    sluice_examples::main_with(|| {
        let args = Args::parse();
        if let Some(c) = &args.child {
            if c[0] == "stream" {
                return streaming_child(c[1].parse()?, c[2].parse()?);
            }
            if c[0] == "kafka-stream" {
                let total = c.get(3).context("the line count")?.parse()?;
                return kafka_streaming_child(&c[1], &c[2], total);
            }
            return child(&c[0], &c[1], &c[2]);
        }
        std::fs::create_dir_all(&args.dir)?;
        let input = args.dir.join(format!(
            "transactions-{}-{}.csv",
            args.transactions, args.accounts
        ));
        if !input.exists() {
            eprintln!("generating {} ...", input.display());
            let generated = generate(args.transactions, args.accounts, 30_000, 2026);
            std::fs::write(&input, generated.lines.join("\n") + "\n")?;
        }
        let mb = std::fs::metadata(&input)?.len() as f64 / 1e6;
        println!(
            "fraud_detection over {} transactions ({mb:.0} MB, {} accounts), parallelism 2",
            args.transactions, args.accounts
        );
        let exe = std::env::current_exe()?;
        let out_dir = args.dir.join("fraud-out");
        let input_s = input.display().to_string();
        let mut expected: Option<Vec<String>> = None;
        let mut rows = Vec::new();
        for runner in ["rayon", "direct"] {
            let (mut times, mut peaks) = (Vec::new(), Vec::new());
            for round in 0..args.runs.max(1) {
                let out = out_dir.join(runner).join("alerts");
                let (t, peak) = timed_run(&exe, runner, &input_s, &out)?;
                println!("  round {round} {runner:<6} {t:.2} s, peak {peak:.0} MB");
                times.push(t);
                peaks.push(peak);
                let alerts = sorted_alerts(&out_dir.join(runner), "alerts")?;
                match &expected {
                    None => expected = Some(alerts),
                    Some(e) => anyhow::ensure!(*e == alerts, "{runner}: the alerts differ"),
                }
            }
            rows.push((runner.to_string(), median(times), median(peaks)));
        }
        if args.kafka > 0 {
            let (lines, expected) = kafka_reference(&exe, &args, &out_dir)?;
            rows.extend(kafka_case(&exe, &args, &out_dir, &lines, &expected)?);
            if args.kafka_streaming {
                rows.push(kafka_streaming_case(
                    &exe, &args, &out_dir, &lines, &expected,
                )?);
            }
        }
        if args.streaming {
            let file_alerts = expected.as_ref().map_or(0, |e| e.len() as u64);
            streaming_cases(&exe, &args, file_alerts)?;
        }
        let mut flink = None;
        if args.peers {
            let python = peers_python()?;
            let mut times = Vec::new();
            for round in 0..args.runs.max(1) {
                let flink_out = out_dir.join("flink");
                let _ = std::fs::remove_dir_all(&flink_out);
                let started = Instant::now();
                let out = Command::new(&python)
                    .arg("examples/peers/flink_fraud_match_recognize.py")
                    .arg(std::fs::canonicalize(&input)?)
                    .arg(std::path::absolute(&flink_out)?)
                    .output()?;
                anyhow::ensure!(
                    out.status.success(),
                    "Flink failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let t = started.elapsed().as_secs_f64();
                let got = sorted_alerts(&flink_out, "")?;
                let same = expected.as_ref() == Some(&got);
                println!(
                    "  round {round} flink  {t:.2} s, outputs identical: {same} ({} alerts)",
                    got.len()
                );
                anyhow::ensure!(same, "Flink's alerts differ");
                times.push(t);
            }
            flink = Some(median(times));
        }
        println!();
        let n = args.transactions as f64;
        for (name, t, peak) in &rows {
            println!(
                "{name:<14} median {t:>6.2} s  {:>10.0} events/s  peak {peak:>5.0} MB",
                if name.starts_with("kafka") {
                    args.kafka as f64
                } else {
                    n
                } / t
            );
        }
        println!("alerts: {}", expected.map_or(0, |e| e.len()));
        if let Some(f) = flink {
            println!("flink sql      median {f:>6.2} s  {:>10.0} events/s", n / f);
            println!("rayon vs flink: {:.1}x", f / rows[0].1);
        }
        Ok(())
    })
}

/// The `--kafka` transactions and the alerts of their file on the rayon runner: what the
/// Kafka cases must find.
fn kafka_reference(
    exe: &Path,
    args: &Args,
    out_dir: &Path,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let generated = generate(args.kafka, args.accounts, 30_000, 2027);
    let file = out_dir.join("kafka-input.csv");
    std::fs::create_dir_all(out_dir)?;
    std::fs::write(&file, generated.lines.join("\n") + "\n")?;
    let reference = out_dir.join("kafka-reference").join("alerts");
    timed_run(exe, "rayon", &file.display().to_string(), &reference)?;
    let expected = sorted_alerts(&out_dir.join("kafka-reference"), "alerts")?;
    Ok((generated.lines, expected))
}

/// Loads `lines` into `topic` of the mock cluster at `bootstrap`, keyed by account and stamped
/// with their transactions' time, at `rate` records per second (`None`: at once).
fn load_topic(
    bootstrap: &str,
    topic: &str,
    args: &Args,
    lines: &[String],
    rate: Option<u64>,
) -> anyhow::Result<()> {
    sluice_examples::kafka_load::load(
        &sluice_examples::kafka_load::LoadOptions {
            bootstrap: bootstrap.to_string(),
            topic: topic.into(),
            partitions: args.kafka_partitions,
            key_field: Some(2),
            create_time_from_csv: true,
            rate,
        },
        "generated",
        std::io::Cursor::new(lines.join("\n")),
    )?;
    Ok(())
}

/// The direct runner over a topic of the mock cluster holding `--kafka` transactions
/// (`--kafka-partitions` partitions, keyed by account), read up to its end offsets. Skipped
/// when a partition would hold more than the mock keeps.
fn kafka_case(
    exe: &Path,
    args: &Args,
    out_dir: &Path,
    lines: &[String],
    expected: &[String],
) -> anyhow::Result<Option<(String, f64, f64)>> {
    // librdkafka's mock partition drops its oldest records beyond 100 000 (rdkafka_mock.c).
    let per_partition = lines.len().div_ceil(args.kafka_partitions.max(1) as usize);
    if per_partition > 100_000 {
        println!(
            "  bounded kafka skipped: {per_partition} records a partition, the mock cluster \
             keeps 100 000 (use --kafka-partitions {})",
            lines.len().div_ceil(100_000)
        );
        return Ok(None);
    }
    let cluster = rdkafka::mocking::MockCluster::new(1).context("cannot start the mock cluster")?;
    let bootstrap = cluster.bootstrap_servers();
    cluster.create_topic("transactions", args.kafka_partitions, 1)?;
    load_topic(&bootstrap, "transactions", args, lines, None)?;
    let input = format!("kafka://{bootstrap}/transactions");
    let mut times = Vec::new();
    let mut peaks = Vec::new();
    for round in 0..args.runs.max(1) {
        let out = out_dir.join("kafka").join("alerts");
        let (t, peak) = timed_run(exe, "direct", &input, &out)?;
        let same = sorted_alerts(&out_dir.join("kafka"), "alerts")? == expected;
        println!(
            "  round {round} kafka  {t:.2} s, peak {peak:.0} MB, alerts as from the file: {same}"
        );
        anyhow::ensure!(same, "the alerts from Kafka differ");
        times.push(t);
        peaks.push(peak);
    }
    Ok(Some(("kafka direct".into(), median(times), median(peaks))))
}
