//! The log analytics benchmark: `log_analytics` (5 min windows every 10 s) over a generated
//! access log on the rayon runner, lines per second over whole runs.
//!
//! ```text
//! cargo run --release -p sluice-examples --bin log_analytics_bench -- [--lines 5000000] [--runs 3]
//! ```
//!
//! The log (generated once under `target/bench-data/`) holds `--lines` Combined Log Format
//! lines with request times, 1 000 requests a second over 200 paths, with incidents, disorder
//! and a malformed line in 10 000. Times are wall times of whole processes, start-up included.

use clap::Parser;
use sluice_examples::bench::median;
use sluice_examples::log_analytics::generator::{LogConfig, write_log_file};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// log_analytics throughput on the rayon runner.
#[derive(Parser)]
struct Args {
    /// Lines in the generated log.
    #[arg(long, default_value_t = 5_000_000)]
    lines: u64,
    /// Runs (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Where the data and outputs go.
    #[arg(long, default_value = "target/bench-data")]
    dir: PathBuf,
    /// Internal: run the log_analytics command line with these arguments.
    #[arg(long, hide = true, num_args = 1.., allow_hyphen_values = true)]
    child: Option<Vec<String>>,
}

fn main() -> std::process::ExitCode {
    sluice_examples::main_with(|| {
        let args = Args::parse();
        if let Some(child) = &args.child {
            let mut line = vec!["log_analytics".to_string()];
            line.extend(child.iter().cloned());
            return sluice_examples::log_analytics_cli::run_command_line(line);
        }
        std::fs::create_dir_all(&args.dir)?;
        let log = args.dir.join(format!("access-{}.log", args.lines));
        if !log.exists() {
            eprintln!("generating {} ...", log.display());
            let partial = log.with_extension("partial");
            let config = LogConfig {
                lines: args.lines,
                ..LogConfig::default()
            };
            write_log_file(&config, &partial)?;
            std::fs::rename(&partial, &log)?;
        }
        let mb = std::fs::metadata(&log)?.len() as f64 / 1e6;
        println!(
            "log_analytics (5 min every 10 s) over {} lines ({mb:.0} MB) on the rayon runner, 2 workers",
            args.lines
        );
        let exe = std::env::current_exe()?;
        let out = args.dir.join("log-analytics-out");
        let mut times = Vec::new();
        for round in 0..args.runs.max(1) {
            let _ = std::fs::remove_dir_all(&out);
            let started = Instant::now();
            let run = Command::new(&exe)
                .arg("--child")
                .args(["--input", &log.display().to_string(), "--output"])
                .arg(out.join("web"))
                .args(["--runner", "rayon", "--parallelism", "2", "--quiet"])
                .output()?;
            anyhow::ensure!(
                run.status.success(),
                "the run failed: {}",
                String::from_utf8_lossy(&run.stderr)
            );
            let t = started.elapsed().as_secs_f64();
            println!(
                "  round {round}: {t:.2} s, {:.2} M lines/s",
                args.lines as f64 / t / 1e6
            );
            times.push(t);
        }
        let _ = std::fs::remove_dir_all(&out);
        let t = median(times);
        println!(
            "median {t:.2} s: {:.2} M lines/s, {:.0} MB/s (target: at least 1 M lines/s)",
            args.lines as f64 / t / 1e6,
            mb / t
        );
        Ok(())
    })
}
