//! [`PipelineOptions`]: the command-line flags every pipeline understands, as plain data.
//!
//! This is the lowest layer of the runners: options say what the user asked for and hold
//! nothing that lives while a run does (the run's cancel token and observers are handed to
//! the runner separately, by whoever starts the run).
//!
//! Pipelines extend them with their own flags by flattening them into their clap parser:
//!
//! ```
//! use clap::Parser;
//! use sluice_options::PipelineOptions;
//!
//! #[derive(Parser)]
//! struct Args {
//!     /// Where to read from.
//!     #[arg(long)]
//!     input: Option<String>,
//!     #[command(flatten)]
//!     pipeline: PipelineOptions,
//! }
//! let args = Args::parse_from(["job", "--runner", "direct", "--parallelism", "2"]);
//! assert_eq!(args.pipeline.runner, "direct");
//! assert_eq!(args.pipeline.parallelism, Some(2));
//! ```

use clap::Parser;

pub mod checkpoints;
pub use checkpoints::CheckpointOptions;

/// Options of a pipeline run.
#[derive(Parser, Debug, Clone, PartialEq, Eq)]
#[command(about = None, long_about = None)]
pub struct PipelineOptions {
    /// The runner that executes the pipeline (see the runner registry: `direct`, ...).
    #[arg(long, default_value = "direct")]
    pub runner: String,
    /// How many threads work at once (default: every core the machine offers this process).
    /// The rayon runner runs this many workers. The direct runner runs bounded pipelines on
    /// the calling thread; in streaming it splits unbounded sources into this many readers,
    /// shards keyed stages over this many threads and sizes its tokio runtime to match.
    #[arg(long, value_parser = parse_parallelism)]
    pub parallelism: Option<usize>,
    /// No progress bar or summary on the terminal.
    #[arg(long)]
    pub quiet: bool,
    /// The timely runner: worker threads per process (default: `--parallelism`, else every
    /// core).
    #[arg(long, value_parser = parse_workers)]
    pub workers: Option<usize>,
    /// The timely runner: the cluster's host file, one `host:port` a line, a line per process
    /// (every process of the cluster is given the same file).
    #[arg(long, requires = "process", conflicts_with = "processes")]
    pub hosts: Option<std::path::PathBuf>,
    /// The timely runner: which line of the `--hosts` file this process is (from 0).
    #[arg(long, requires = "hosts")]
    pub process: Option<usize>,
    /// The timely runner, to try a cluster out on one machine: this process starts N-1 copies
    /// of its own binary, with the same arguments, as processes of one cluster on loopback
    /// ports, waits for them, and fails if one fails.
    #[arg(long, value_parser = parse_processes)]
    pub processes: Option<usize>,
    /// Writes a picture of the pipeline's graph to FILE and exits without running it:
    /// Graphviz's DOT language for `FILE.dot`, a drawing for `FILE.svg` (no Graphviz needed).
    #[arg(long, value_name = "FILE")]
    pub graph: Option<std::path::PathBuf>,
    /// With `--graph`: draws the runner's plan beside the graph (fused stages, exchanges by
    /// key, lifted combines, broadcast side inputs).
    #[arg(long, requires = "graph")]
    pub explain: bool,
    /// Serves the run's live metrics at `http://HOST:PORT/metrics`, in the Prometheus text
    /// format (per transform: elements and bytes in and out, rates; per source: records,
    /// watermark and its lag; per grouping: open windows, state; the DoFns' own metrics).
    /// Binds only this address (127.0.0.1:9464, localhost:9464; port 0 takes a free port and
    /// prints it); one in use is an error at start.
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,
    /// Serves a status page at `http://HOST:PORT/`: the pipeline's graph with each transform's
    /// live rate and watermark lag, charts of throughput and watermark lag over the last
    /// minutes, and a table of every transform; it updates itself. Read-only; binds only this
    /// address (127.0.0.1:8080, localhost:8080; port 0 takes a free port and prints it); one
    /// in use is an error at start.
    #[arg(long, value_name = "HOST:PORT")]
    pub ui: Option<String>,
    /// Logs the live metrics through `tracing` every so often (`10s`, `1m`...; more than 0),
    /// and once at the end. These logs show whatever `RUST_LOG` says.
    #[arg(long, value_name = "DURATION", value_parser = parse_log_interval)]
    pub log_metrics_interval: Option<sluice_sdk::time::Duration>,
    /// Checkpoints of streaming runs and exactly-once sinks.
    #[command(flatten)]
    pub checkpoints: CheckpointOptions,
}

/// The largest `--parallelism` accepted: far more threads than cores only adds contention,
/// and thousands of threads can exhaust the process's limits before the run starts.
pub const MAX_PARALLELISM: usize = 1024;

/// The most processes `--processes` starts on one machine.
pub const MAX_PROCESSES: usize = 64;

/// Parses `--processes`: a whole number from 1 to [`MAX_PROCESSES`].
pub fn parse_processes(text: &str) -> Result<usize, String> {
    let n: usize = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a whole number"))?;
    if (1..=MAX_PROCESSES).contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "--processes must be from 1 to {MAX_PROCESSES}, not {n}"
        ))
    }
}

/// Parses `--log-metrics-interval`: a duration longer than zero.
pub fn parse_log_interval(text: &str) -> Result<sluice_sdk::time::Duration, String> {
    let d: sluice_sdk::time::Duration = text.trim().parse()?;
    check_log_interval(d)
}

fn check_log_interval(d: sluice_sdk::time::Duration) -> Result<sluice_sdk::time::Duration, String> {
    if d.as_micros() > 0 {
        Ok(d)
    } else {
        Err(format!(
            "--log-metrics-interval must be longer than 0, not {d}"
        ))
    }
}

/// Parses `--parallelism`: a whole number from 1 to [`MAX_PARALLELISM`].
pub fn parse_parallelism(text: &str) -> Result<usize, String> {
    parse_threads("--parallelism", text)
}

/// Parses `--workers`: a whole number from 1 to [`MAX_PARALLELISM`].
pub fn parse_workers(text: &str) -> Result<usize, String> {
    parse_threads("--workers", text)
}

fn parse_threads(flag: &str, text: &str) -> Result<usize, String> {
    let n: usize = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a whole number"))?;
    check_threads(flag, n)
}

fn check_threads(flag: &str, n: usize) -> Result<usize, String> {
    if (1..=MAX_PARALLELISM).contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "{flag} must be from 1 to {MAX_PARALLELISM}, not {n}"
        ))
    }
}

impl PipelineOptions {
    /// The parallelism a runner uses: `--parallelism` when given, otherwise the number of
    /// cores the machine offers this process (1 when it cannot tell), at most
    /// [`MAX_PARALLELISM`].
    pub fn effective_parallelism(&self) -> usize {
        self.parallelism
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .clamp(1, MAX_PARALLELISM)
    }

    /// Checks options set in code (the command line checks them as it parses): an error
    /// names the option and its range.
    pub fn validate(&self) -> Result<(), sluice_sdk::error::PipelineError> {
        use sluice_sdk::error::PipelineError::InvalidOption;
        if let Some(n) = self.parallelism {
            check_threads("--parallelism", n).map_err(InvalidOption)?;
        }
        if let Some(n) = self.workers {
            check_threads("--workers", n).map_err(InvalidOption)?;
        }
        if let Some(d) = self.log_metrics_interval {
            check_log_interval(d).map_err(InvalidOption)?;
        }
        self.checkpoints.validate().map_err(InvalidOption)?;
        if let Some(n) = self.processes {
            parse_processes(&n.to_string()).map_err(InvalidOption)?;
        }
        match (&self.hosts, self.process, self.processes) {
            (Some(_), None, _) => Err(InvalidOption("--hosts needs --process".into())),
            (None, Some(_), _) => Err(InvalidOption("--process needs --hosts".into())),
            (Some(_), Some(_), Some(_)) => Err(InvalidOption(
                "--processes starts its own cluster: leave out --hosts and --process".into(),
            )),
            _ => Ok(()),
        }
    }

    /// The cluster flags given (`--processes`, `--hosts`, `--process`): only the timely runner
    /// runs a cluster.
    pub fn cluster_flags(&self) -> Vec<&'static str> {
        let mut given = Vec::new();
        if self.processes.is_some() {
            given.push("--processes");
        }
        if self.hosts.is_some() {
            given.push("--hosts");
        }
        if self.process.is_some() {
            given.push("--process");
        }
        given
    }

    /// Options that select `runner`, everything else by default.
    pub fn for_runner(runner: &str) -> Self {
        PipelineOptions {
            runner: runner.to_string(),
            parallelism: None,
            quiet: false,
            workers: None,
            hosts: None,
            process: None,
            processes: None,
            graph: None,
            explain: false,
            metrics_addr: None,
            ui: None,
            log_metrics_interval: None,
            checkpoints: CheckpointOptions::default(),
        }
    }
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self::for_runner("direct")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use clap::Parser;

    /// The options of a command line `job ARGS...`, or clap's message.
    pub(crate) fn parse(args: &[&str]) -> Result<PipelineOptions, String> {
        let mut argv = vec!["job"];
        argv.extend_from_slice(args);
        PipelineOptions::try_parse_from(argv).map_err(|e| e.to_string())
    }

    #[test]
    fn parallelism_is_checked_where_it_is_parsed() {
        assert_eq!(parse(&["--parallelism", "3"]).unwrap().parallelism, Some(3));
        for bad in ["0", "100000", "-2", "many"] {
            let err = parse(&[&format!("--parallelism={bad}")]).unwrap_err();
            assert!(err.contains("--parallelism"), "{bad}: {err}");
        }
        assert!(
            parse(&["--parallelism", "0"])
                .unwrap_err()
                .contains("must be from 1 to 1024, not 0")
        );
        let in_code = PipelineOptions {
            parallelism: Some(100_000),
            ..PipelineOptions::default()
        };
        assert_eq!(
            in_code.validate().unwrap_err().to_string(),
            "invalid option: --parallelism must be from 1 to 1024, not 100000"
        );
        assert!(PipelineOptions::default().effective_parallelism() >= 1);
        let err = parse(&["--workers", "0"]).unwrap_err();
        assert!(
            err.contains("--workers must be from 1 to 1024, not 0"),
            "{err}"
        );
    }

    #[test]
    fn help_shows_no_rustdoc_markup() {
        use clap::CommandFactory;
        let help = PipelineOptions::command().render_long_help().to_string();
        assert!(help.contains("--parallelism"), "{help}");
        for markup in ["](", "[`", "Self::"] {
            assert!(!help.contains(markup), "{markup} in:\n{help}");
        }
    }

    #[test]
    fn a_log_interval_of_zero_is_refused() {
        let ok = parse(&["--log-metrics-interval", "5s"]).unwrap();
        assert_eq!(
            ok.log_metrics_interval,
            Some(sluice_sdk::time::Duration::from_secs(5))
        );
        for zero in ["0s", "0", "0ms"] {
            let err = parse(&["--log-metrics-interval", zero]).unwrap_err();
            assert!(err.contains("must be longer than 0"), "{zero}: {err}");
        }
        let in_code = PipelineOptions {
            log_metrics_interval: Some(sluice_sdk::time::Duration::from_secs(0)),
            ..PipelineOptions::default()
        };
        assert!(in_code.validate().is_err());
    }
}
