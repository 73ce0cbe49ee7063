//! The batch side of the streaming benchmark: `windowed_stats --window fixed:60s` over a
//! generated file of events on the rayon runner, and (with `--peers`) the same job as a Flink
//! SQL batch job, side by side, with their outputs compared.
//!
//! ```text
//! cargo run --release -p sluice-examples --bin windowed_stats_bench -- [--events 5000000] [--runs 3] [--peers]
//! ```
//!
//! The file (generated once under `target/bench-data/`) holds `timestamp_ms,key,value` lines
//! over 1000 keys, about 14 hours of event time, out of order by up to 30 s. Times are wall
//! times of whole processes, job start included, for both.

use clap::Parser;
use sluice_examples::bench::median;
use sluice_examples::corpus::SplitMix;
use sluice_examples::windowed_stats::{WindowSpec, build};
use sluice_runners::PipelineOptions;
use sluice_sdk::prelude::*;
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
    /// Internal: run the pipeline on this input, writing to this prefix.
    #[arg(long, hide = true, num_args = 2)]
    child: Option<Vec<String>>,
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

fn sorted_lines(files: impl Iterator<Item = PathBuf>) -> std::io::Result<Vec<String>> {
    let mut lines = Vec::new();
    for f in files {
        lines.extend(std::fs::read_to_string(f)?.lines().map(String::from));
    }
    lines.sort();
    Ok(lines)
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else if !p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                out.push(p);
            }
        }
    }
    out
}

fn main() -> std::process::ExitCode {
    sluice_examples::main_with(|| {
        let args = Args::parse();
        if let Some(child) = &args.child {
            let p = Pipeline::new();
            build(
                &p,
                &child[0],
                &child[1],
                &WindowSpec::Fixed(Duration::from_secs(60)),
                Duration::ZERO,
            );
            let options = PipelineOptions {
                parallelism: Some(2),
                quiet: true,
                ..PipelineOptions::for_runner("rayon")
            };
            sluice_runners::run(&p, &options)?;
            return Ok(());
        }
        std::fs::create_dir_all(&args.dir)?;
        let input = args.dir.join(format!("events-{}.csv", args.events));
        if !input.exists() {
            eprintln!("generating {} ...", input.display());
            generate(&input, args.events)?;
        }
        let mb = std::fs::metadata(&input)?.len() as f64 / 1e6;
        println!(
            "windowed_stats fixed:60s over {} events ({mb:.0} MB), rayon runner, parallelism 2",
            args.events
        );
        let exe = std::env::current_exe()?;
        let out_dir = args.dir.join("stats-out");
        let mut ours = Vec::new();
        let mut flink = Vec::new();
        let python = if args.peers {
            let out = Command::new("bash").arg("scripts/peers-venv").output()?;
            anyhow::ensure!(
                out.status.success(),
                "scripts/peers-venv failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            None
        };
        let mut identical = None;
        for round in 0..args.runs.max(1) {
            let _ = std::fs::remove_dir_all(&out_dir);
            std::fs::create_dir_all(&out_dir)?;
            let prefix = out_dir.join("sluice/stats");
            let started = Instant::now();
            let status = Command::new(&exe)
                .arg("--child")
                .arg(&input)
                .arg(&prefix)
                .status()?;
            anyhow::ensure!(status.success(), "the Sluice run failed");
            let t = started.elapsed().as_secs_f64();
            println!("  round {round} sluice {t:.2} s");
            ours.push(t);
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
        let ours = median(ours);
        println!(
            "\nsluice (rayon, 2 workers): median {ours:.2} s, {:.0} MB/s",
            mb / ours
        );
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
