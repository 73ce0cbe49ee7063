//! # Sluice examples
//!
//! Runnable pipelines, each a binary under `src/bin/`:
//!
//! - `minimal_wordcount`: counts the words of a bundled text and prints them;
//! - `wordcount`: counts the words of files (`--input GLOB --output PREFIX`) into sharded files;
//! - `windowed_stats`: per-key statistics of events in event-time windows, with dead letters;
//! - `enrich`: events joined with a reference table re-read while the job runs (a slowly
//!   changing side input);
//! - `fraud_detection`: alerts on a small transaction followed by a large one on the same
//!   account, per account in event-time order (state and timers), from files or Kafka;
//! - `login_alerts`: three failed logins of a user within 5 minutes (a complex-event pattern
//!   on state and timers);
//! - `streaming_wordcount`: word counts per window from a Kafka topic to a Kafka topic, with
//!   early and late panes;
//! - `kafka_load`: feeds a Kafka topic from a file;
//! - `wordcount_bench`, `streaming_bench`, `windowed_stats_bench`, `kafka_bench`: benchmarks
//!   (see BENCHMARKS.md).
//!
//! The modules here are the pipelines' building blocks, shared by the binaries, the tests and
//! the benchmark.

pub mod baseline;
pub mod bench;
pub mod civil_time;
pub mod corpus;
pub mod enrich;
pub mod enrich_cli;
pub mod fraud_detection;
pub mod fraud_detection_cli;
pub mod job_io;
pub mod kafka_load;
pub mod log_analytics;
pub mod log_analytics_cli;
pub mod login_alerts;
pub mod nexmark;
pub mod nexmark_cli;
pub mod six_dofns;
pub mod streaming_wordcount;
pub mod tokenize;
pub mod transactions;
pub mod windowed_stats;
pub mod windowed_stats_cli;
pub mod wordcount;
pub mod wordcount_cli;

pub use tokenize::words;

/// Every example binary allocates through mimalloc: pipelines allocate many small objects
/// (strings, bundles) across threads, where it is markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The sample text bundled with the examples (an excerpt of King Lear, public domain).
pub const SAMPLE_TEXT: &str = include_str!("../data/kinglear.txt");

/// Parses an `--output` flag that names files: a prefix ending in a file name (`out/counts`,
/// not `''` or `out/`), checked where the flag is parsed.
pub fn parse_file_prefix(text: &str) -> Result<String, String> {
    sluice_io::text::commit::check_prefix(text).map(|()| text.to_string())
}

/// The logs an example shows: `RUST_LOG`'s choice, warnings and errors when it is unset — and
/// always what a flag asked for (`--log-metrics-interval` logs at INFO under
/// [`METRICS_LOG_TARGET`](sluice_runners::observe::live::history::METRICS_LOG_TARGET)).
pub fn log_filter(rust_log: Option<&str>) -> tracing_subscriber::EnvFilter {
    let base = match rust_log {
        Some(directives) if !directives.trim().is_empty() => directives.to_string(),
        _ => "warn".to_string(),
    };
    let target = sluice_runners::observe::live::history::METRICS_LOG_TARGET;
    tracing_subscriber::EnvFilter::builder().parse_lossy(format!("{base},{target}=info"))
}

/// Runs an example's body: logs through `tracing` to stderr ([`log_filter`]; colours only on
/// a terminal), and turns an error into a one-line message (with its causes) and a failing
/// exit code.
pub fn main_with(body: impl FnOnce() -> anyhow::Result<()>) -> std::process::ExitCode {
    let rust_log = std::env::var("RUST_LOG").ok();
    tracing_subscriber::fmt()
        .with_env_filter(log_filter(rust_log.as_deref()))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    match body() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Parses the command line `args` (the program's name first) into `A`; a command line that
/// does not parse is an error saying why, as clap would print it.
pub fn parse_command_line<A, I, T>(args: I) -> anyhow::Result<A>
where
    A: clap::Parser,
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    A::try_parse_from(args).map_err(|e| {
        let text = e.render().to_string();
        anyhow::anyhow!("{}", text.trim().trim_start_matches("error: "))
    })
}

/// Runs a program's pipeline and acts on what happened: `Some(result)` when it ran here;
/// `None` when `--graph` drew it instead (said on stderr unless `--quiet`) or when this process
/// is a copy that another one's `--processes` started (that one reports the result).
pub fn launch(
    p: &sluice_sdk::pipeline::Pipeline,
    options: &sluice_runners::PipelineOptions,
) -> anyhow::Result<Option<sluice_sdk::result::PipelineResult>> {
    Ok(match sluice_runners::launch(p, options)? {
        sluice_runners::Outcome::Ran(result) => Some(result),
        sluice_runners::Outcome::Drew(path) => {
            if !options.quiet {
                eprintln!("wrote the pipeline's graph to {}", path.display());
            }
            None
        }
        sluice_runners::Outcome::TookPart(_) => None,
    })
}

/// Writes result lines (comma-separated) to a Kafka topic, created with 4 partitions if it is
/// missing, keyed by the line's field `field` (from 0): the lines of one key go to one
/// partition, so a reader sees each key's windows in order.
pub fn write_lines_keyed_by_field(
    to: &sluice_io::kafka::KafkaAddress,
    field: usize,
) -> sluice_io::kafka::KafkaWrite<String> {
    sluice_io::kafka::write_text(&to.bootstrap, &to.topic)
        .create_if_missing(4)
        .keys(move |line: &String| {
            line.split(',')
                .nth(field)
                .unwrap_or_default()
                .as_bytes()
                .to_vec()
        })
}
