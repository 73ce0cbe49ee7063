//! The batch side of the streaming benchmark: `windowed_stats --window fixed:60s` over a
//! generated file of events on the rayon runner and on the timely runner (one process of two
//! workers, two processes of one worker on loopback), and (with `--peers`) the same job as a
//! Flink SQL batch job, side by side, with their outputs compared.
//!
//! ```text
//! cargo run --release -p sluice-examples --bin windowed_stats_bench -- [--events 5000000] [--runs 3] [--peers]
//! cargo run --release -p sluice-examples --bin windowed_stats_bench -- --compare-windows fixed:60s,sliding:60s:1s
//! ```
//!
//! With `--compare-windows`, it runs the job on the rayon runner once per window function
//! instead, in interleaved rounds, and prints each one's median against the first one's.
//!
//! The file (generated once under `target/bench-data/`) holds `timestamp_ms,key,value` lines
//! over 1000 keys, about 14 hours of event time, out of order by up to 30 s. Times are wall
//! times of whole processes, job start included, for both.

use clap::Parser;
use sluice_examples::bench::{
    TIMELY_CONFIGS, bytes_line, bytes_reported, files_under, median, peers_python, timely_options,
};
use sluice_examples::corpus::SplitMix;
use sluice_examples::windowed_stats::{WindowSpec, build};
use sluice_runners::PipelineOptions;
use sluice_sdk::prelude::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// windowed_stats on the rayon runner against Flink SQL batch.
#[derive(Parser)]
struct Args {
    /// Events in the generated file.
    #[arg(long, default_value_t = 5_000_000)]
    events: u64,
    /// Runs per configuration (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Also run the Flink SQL batch job (from the venv of `scripts/peers-venv`).
    #[arg(long)]
    peers: bool,
    /// Where the data and outputs go.
    #[arg(long, default_value = "target/bench-data")]
    dir: PathBuf,
    /// Only these configurations (comma-separated: rayon,timely-1x2,timely-2x1).
    #[arg(long)]
    only: Option<String>,
    /// Internal: run the pipeline on this input, writing to this prefix.
    #[arg(long, hide = true, num_args = 2)]
    child: Option<Vec<String>>,
    /// Internal: the configuration the child runs.
    #[arg(long, hide = true, default_value = "rayon")]
    config: String,
    /// Instead of comparing runners: compare window functions on the rayon runner (the first
    /// is the baseline), e.g. `fixed:60s,sliding:60s:1s`.
    #[arg(long, value_delimiter = ',', value_parser = window_name)]
    compare_windows: Vec<String>,
    /// Internal: the window the child aggregates in.
    #[arg(long, hide = true, default_value = "fixed:60s")]
    window: WindowSpec,
}

fn generate(path: &Path, events: u64) -> std::io::Result<()> {
    let mut rng = SplitMix::new(2026);
    let tmp = path.with_extension("partial");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
    let start_ms: i64 = 1_700_000_000_000;
    for i in 0..events {
        let jitter = rng.below(30_000) as i64;
        let ts = start_ms + (i as i64) * 10 - jitter;
        writeln!(
            out,
            "{ts},k{},{}",
            rng.below(1000),
            rng.below(100_000) as i64 - 50_000
        )?;
    }
    out.flush()?;
    drop(out);
    std::fs::rename(tmp, path)
}

/// Runs the job on the rayon runner once per window function in `args.compare_windows`, in
/// interleaved rounds, and prints each one's median time and its ratio to the first one's.
fn compare_windows(args: &Args, input: &Path, mb: f64) -> anyhow::Result<()> {
    let names = &args.compare_windows;
    println!(
        "windowed_stats over {} events ({mb:.0} MB) on the rayon runner (2 workers): {}",
        args.events,
        names.join(" against ")
    );
    let exe = std::env::current_exe()?;
    let out_dir = args.dir.join("windows-out");
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut rows = vec![0usize; names.len()];
    for round in 0..args.runs.max(1) {
        for (i, name) in names.iter().enumerate() {
            let _ = std::fs::remove_dir_all(&out_dir);
            std::fs::create_dir_all(&out_dir)?;
            let started = Instant::now();
            let out = Command::new(&exe)
                .arg("--child")
                .arg(input)
                .arg(out_dir.join("stats"))
                .args(["--window", name])
                .output()?;
            anyhow::ensure!(
                out.status.success(),
                "the run with {name} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let t = started.elapsed().as_secs_f64();
            rows[i] = count_lines(files_under(&out_dir).into_iter().filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("stats-0"))
            }))?;
            println!("  round {round} {name:<16} {t:.2} s, {} rows", rows[i]);
            times[i].push(t);
        }
    }
    let _ = std::fs::remove_dir_all(&out_dir);
    let medians: Vec<f64> = times.into_iter().map(median).collect();
    println!();
    for (i, name) in names.iter().enumerate() {
        println!(
            "{name:<16} median {:.2} s, {:.2} M events/s, {} rows, {:.2}x the time of {}",
            medians[i],
            args.events as f64 / medians[i] / 1e6,
            rows[i],
            medians[i] / medians[0],
            names[0]
        );
    }
    Ok(())
}

/// A window function's name as the job takes it, checked.
fn window_name(text: &str) -> Result<String, String> {
    text.parse::<WindowSpec>().map(|_| text.to_string())
}

/// How many lines `files` hold.
fn count_lines(files: impl Iterator<Item = PathBuf>) -> std::io::Result<usize> {
    let mut n = 0;
    for f in files {
        let bytes = std::fs::read(f)?;
        n += bytes.iter().filter(|&&b| b == b'\n').count();
    }
    Ok(n)
}

fn sorted_lines(files: impl Iterator<Item = PathBuf>) -> std::io::Result<Vec<String>> {
    let mut lines = Vec::new();
    for f in files {
        lines.extend(std::fs::read_to_string(f)?.lines().map(String::from));
    }
    lines.sort();
    Ok(lines)
}

fn main() -> std::process::ExitCode {
    sluice_examples::main_with(|| {
        let args = Args::parse();
        if let Some(child) = &args.child {
            let p = Pipeline::new();
            build(&p, &child[0], &child[1], &args.window, Duration::ZERO);
            let options = timely_options(&args.config).unwrap_or(PipelineOptions {
                parallelism: Some(2),
                quiet: true,
                ..PipelineOptions::for_runner("rayon")
            });
            let result = sluice_runners::run(&p, &options)?;
            if let Some(line) = bytes_line(&result) {
                println!("{line}");
            }
            return Ok(());
        }
        std::fs::create_dir_all(&args.dir)?;
        let input = args.dir.join(format!("events-{}.csv", args.events));
        if !input.exists() {
            eprintln!("generating {} ...", input.display());
            generate(&input, args.events)?;
        }
        let mb = std::fs::metadata(&input)?.len() as f64 / 1e6;
        if !args.compare_windows.is_empty() {
            return compare_windows(&args, &input, mb);
        }
        let mut configs = vec!["rayon"];
        configs.extend(TIMELY_CONFIGS);
        if let Some(only) = &args.only {
            configs.retain(|c| only.split(',').any(|o| o == *c));
        }
        anyhow::ensure!(
            configs.contains(&"rayon"),
            "--only must keep rayon, the reference"
        );
        println!(
            "windowed_stats fixed:60s over {} events ({mb:.0} MB): {} (2 workers each)",
            args.events,
            configs.join(", ")
        );
        let exe = std::env::current_exe()?;
        let out_dir = args.dir.join("stats-out");
        let mut ours: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        let mut exchanged = None;
        let mut agree = true;
        let mut flink = Vec::new();
        let python = if args.peers {
            Some(peers_python()?)
        } else {
            None
        };
        let mut identical = None;
        for round in 0..args.runs.max(1) {
            let _ = std::fs::remove_dir_all(&out_dir);
            std::fs::create_dir_all(&out_dir)?;
            let prefix = out_dir.join("sluice/stats");
            let mut reference = None;
            for config in &configs {
                let config_prefix = out_dir.join(format!("{config}/stats"));
                let started = Instant::now();
                let out = Command::new(&exe)
                    .arg("--child")
                    .arg(&input)
                    .arg(if *config == "rayon" {
                        &prefix
                    } else {
                        &config_prefix
                    })
                    .args(["--config", config])
                    .output()?;
                anyhow::ensure!(
                    out.status.success(),
                    "the Sluice run on {config} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let t = started.elapsed().as_secs_f64();
                println!("  round {round} {config:<10} {t:.2} s");
                ours.entry(config).or_default().push(t);
                if let Some(sent) = bytes_reported(&String::from_utf8_lossy(&out.stdout)) {
                    exchanged = Some(sent);
                }
                let dir = if *config == "rayon" {
                    out_dir.join("sluice")
                } else {
                    out_dir.join(config)
                };
                let rows = sorted_lines(files_under(&dir).into_iter().filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("stats-0"))
                }))?;
                match &reference {
                    None => reference = Some(rows),
                    Some(r) => {
                        if *r != rows {
                            agree = false;
                            println!("  {config} differs from rayon");
                        }
                    }
                }
            }
            if let Some(python) = &python {
                let flink_out = out_dir.join("flink");
                let started = Instant::now();
                let out = Command::new(python)
                    .arg("examples/peers/flink_windowed_stats_batch.py")
                    .arg(std::fs::canonicalize(&input)?)
                    .arg(std::path::absolute(&flink_out)?)
                    .output()?;
                anyhow::ensure!(
                    out.status.success(),
                    "Flink failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let t = started.elapsed().as_secs_f64();
                println!("  round {round} flink  {t:.2} s");
                flink.push(t);
                let a = sorted_lines(files_under(&out_dir.join("sluice")).into_iter().filter(
                    |p| {
                        p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with("stats-0"))
                    },
                ))?;
                let b = sorted_lines(files_under(&flink_out).into_iter())?;
                identical = Some(a == b && !a.is_empty());
                println!("  outputs identical: {} ({} rows)", a == b, a.len());
            }
        }
        let medians: BTreeMap<&str, f64> = ours.into_iter().map(|(c, t)| (c, median(t))).collect();
        println!();
        for (config, t) in &medians {
            println!(
                "sluice {config:<10} median {t:.2} s, {:.0} MB/s, {:.2}x rayon's throughput",
                mb / t,
                medians["rayon"] / t
            );
        }
        for (config, target) in [("timely-1x2", 0.8), ("timely-2x1", 0.6)] {
            if let Some(t) = medians.get(config) {
                println!(
                    "target {config} >= {target:.1}x rayon: {:.2}x",
                    medians["rayon"] / t
                );
            }
        }
        if let Some(sent) = exchanged {
            println!(
                "timely-2x1: {:.1} MB sent between processes ({:.1}% of the input)",
                sent as f64 / 1e6,
                sent as f64 / 1e6 / mb * 100.0
            );
        }
        println!("outputs of every configuration identical: {agree}");
        anyhow::ensure!(agree, "the configurations disagree on the output");
        let ours = medians["rayon"];
        if !flink.is_empty() {
            let flink = median(flink);
            println!("flink sql batch (parallelism 2): median {flink:.2} s");
            println!(
                "target sluice >= 5x faster than Flink: {:.1}x",
                flink / ours
            );
            anyhow::ensure!(identical == Some(true), "the outputs differ");
        }
        Ok(())
    })
}
