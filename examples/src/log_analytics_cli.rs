//! The `log_analytics` command line (shared by the example binary and the end-to-end tests).
//!
//! ```text
//! cargo run --release -p sluice-examples --bin log_analytics -- \
//!     --input 'logs/access*.log' --output out/web [--window 5m --every 10s] \
//!     [--threshold 0.05 --min-requests 20] [--runner direct|rayon|timely]
//! cargo run --release -p sluice-examples --bin log_analytics -- --generate-logs access.log --lines 1000000
//! ```
//!
//! Input lines are access log lines (Common or Combined Log Format, optionally followed by the
//! request time in seconds): files, or `kafka://HOST:PORT/TOPIC`. Results go to `PREFIX-*`
//! (statistics per path and window), `PREFIX-top-*` (the busiest paths of each window) and
//! `PREFIX-alerts-*` (5xx alerts firing and resolving); see `sluice_examples::log_analytics`
//! for the lines. A malformed line goes, with its file and line number (or its record) and
//! what is wrong, to `PREFIX-errors-*`. `--generate-logs FILE` writes realistic logs instead
//! (see `log_analytics::generator`).

use crate::job_io::{
    DeadLetter, InputFlags, ParseStamped, parse_output, read_lines, write_more_lines,
};
use crate::log_analytics::generator::{LogConfig, write_log_file};
use crate::log_analytics::{AccessLogLines, AlertRule, Request, Settings, analyze, parse_line};
use crate::windowed_stats::parse_duration;
use clap::Parser;
use sluice_sdk::prelude::*;

/// Access log analytics over sliding windows, with alerts.
#[derive(Parser)]
struct Args {
    /// Access log files (a path or a glob), or `kafka://HOST:PORT/TOPIC`.
    #[arg(long, required_unless_present = "generate_logs")]
    input: Option<String>,
    /// Prefix of the output files, or `kafka://HOST:PORT/TOPIC`.
    #[arg(long, value_parser = parse_output, required_unless_present = "generate_logs")]
    output: Option<String>,
    /// The windows' size.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    window: Duration,
    /// How often a window starts.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    every: Duration,
    /// How late a request may be logged and still count.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    allowed_lateness: Duration,
    /// The 5xx rate at or above which a path alerts.
    #[arg(long, default_value_t = 0.05)]
    threshold: f64,
    /// Windows with fewer requests for a path do not alert.
    #[arg(long, default_value_t = 100)]
    min_requests: u64,
    /// Write generated logs to this file instead, and analyse nothing.
    #[arg(long, conflicts_with_all = ["input", "output"])]
    generate_logs: Option<std::path::PathBuf>,
    /// Generated lines.
    #[arg(long, default_value_t = 1_000_000)]
    lines: u64,
    /// The generator's seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Generated requests per second.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// How the input is read.
    #[command(flatten)]
    reading: InputFlags,
    /// The pipeline's options (`--runner`, `--parallelism`...).
    #[command(flatten)]
    pipeline: sluice_runners::PipelineOptions,
}

/// The requests of `input` (stamped with their times) and the dead letters of the lines that
/// are not requests.
fn requests(
    p: &Pipeline,
    input: &str,
    args: &Args,
) -> (PCollection<Request>, PCollection<DeadLetter>) {
    if sluice_io::kafka::KafkaAddress::parse(input).is_none() {
        let read = p.apply(
            "ReadLogs",
            sluice_io::text::read_decoded(input, AccessLogLines)
                .max_line_bytes(args.reading.max_line_bytes),
        );
        let stamped = read.elements.apply(
            "RequestTime",
            WithTimestamps::of(|r: &Request| Timestamp::from_millis(r.time_ms)),
        );
        let errors = read
            .errors
            .map("Malformed", |d: sluice_io::text::TextDeadLetter| {
                DeadLetter {
                    line: String::from_utf8_lossy(&d.bytes).into_owned(),
                    reason: d.to_string(),
                }
            });
        return (stamped, errors);
    }
    let mut reading = args.reading.options();
    reading.timestamps = crate::job_io::KafkaTimestamps::CreateTime;
    let (lines, undecodable) = read_lines(p, input, &reading);
    let (parsed, malformed) =
        crate::job_io::parse_with_dead_letters(&lines, "ParseRequests", |errors| ParseStamped {
            parse: |line| {
                parse_line(line).map(|r| {
                    let at = r.time_ms;
                    (r, at)
                })
            },
            errors,
        });
    let errors = match undecodable {
        Some(u) => PCollectionList::of(vec![malformed, u]).apply("AllErrors", Flatten),
        None => malformed,
    };
    (parsed, errors)
}

/// Parses the command line and runs the job (or writes logs); the exit code says whether it
/// succeeded.
pub fn main() -> std::process::ExitCode {
    crate::main_with(|| run(Args::parse()))
}

/// Runs what the command line `args` (the program's name first) asks for; a command line
/// that does not parse is an error saying why.
pub fn run_command_line<I, T>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    run(crate::parse_command_line(args)?)
}

fn run(args: Args) -> anyhow::Result<()> {
    if let Some(path) = &args.generate_logs {
        let config = LogConfig {
            lines: args.lines,
            seed: args.seed,
            rate: args.rate,
            ..LogConfig::default()
        };
        write_log_file(&config, path)
            .map_err(|e| anyhow::anyhow!("cannot write '{}': {e}", path.display()))?;
        return Ok(());
    }
    let input = args.input.clone().expect("clap requires an input");
    let output = args.output.clone().expect("clap requires an output");
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.threshold),
        "--threshold {} is not a rate between 0 and 1",
        args.threshold
    );
    let settings = Settings {
        window: args.window,
        every: args.every,
        allowed_lateness: args.allowed_lateness,
        top: 10,
        rule: AlertRule {
            threshold: args.threshold,
            min_requests: args.min_requests,
        },
    };
    let p = Pipeline::new();
    let (requests, errors) = requests(&p, &input, &args);
    let analysis = analyze(&requests, settings);
    crate::job_io::write_results(&p, &output, analysis.stats, errors, None, 2);
    write_more_lines(&p, &output, "top", analysis.top, 3);
    write_more_lines(&p, &output, "alerts", analysis.alerts, 2);
    let job = crate::job_io::JobArgs {
        input,
        output,
        reading: args.reading.clone(),
        pipeline: args.pipeline.clone(),
    };
    job.run(&p, &[])?;
    Ok(())
}
