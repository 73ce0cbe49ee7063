//! The WordCount throughput benchmark: Sluice's runners against a hand-written baseline and
//! a peer, side by side, on one generated corpus.
//!
//! ```text
//! cargo run --release -p sluice-examples --features ironbeam --bin wordcount_bench -- [--size-mb 200] [--runs 3]
//! ```
//!
//! It generates (once, then reuses) a deterministic corpus of Zipf-distributed words over a
//! 50 000-word vocabulary (or, with `--distinct N`, N distinct words each once), then runs each configuration in a child process of its own, so that
//! each one's peak memory (VmHWM) is its own: (a) the hand-written baseline on all cores,
//! (b) the rayon runner on 1 thread and on all, (c) the direct runner, (d) the timely runner as
//! one process of 2 workers and as 2 processes of 1 worker on loopback (peak memory: the first
//! process only), (e) ironbeam's parallel mode (with `--features ironbeam`). Every configuration writes the same `word: count` output;
//! the benchmark checks that all outputs are equal. It prints the median time, MB/s, the ratio
//! to the baseline and peak memory of each, and the targets.

use clap::Parser;
use sluice_examples::bench::{TIMELY_CONFIGS, bytes_line, bytes_reported, median, timely_options};
use sluice_examples::{baseline, corpus, wordcount};
use sluice_runners::PipelineOptions;
use sluice_sdk::prelude::*;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// WordCount throughput: baseline, rayon runner, direct runner and peers.
#[derive(Parser)]
struct Args {
    /// Corpus size in MB (10^6 bytes).
    #[arg(long, default_value_t = 200)]
    size_mb: u64,
    /// Runs per configuration (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Instead of the Zipf corpus, this many distinct words, each once (2000000 makes a 16 MB
    /// file): what keys cost at high cardinality.
    #[arg(long)]
    distinct: Option<u64>,
    /// Where the corpus and outputs go.
    #[arg(long, default_value = "target/bench-data")]
    dir: PathBuf,
    /// Only these configurations (comma-separated:
    /// baseline,rayon-1,rayon-all,direct,timely-1x2,timely-2x1,ironbeam).
    #[arg(long)]
    only: Option<String>,
    /// Internal: run one configuration in this process and print its result.
    #[arg(long, hide = true)]
    child: Option<String>,
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Peak resident memory of this process, in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// An order-independent checksum of output lines, and their number.
fn checksum(lines: impl Iterator<Item = String>) -> (u64, u64) {
    let mut sum = 0u64;
    let mut n = 0u64;
    for l in lines {
        sum = sum.wrapping_add(sluice_sdk::element::stable_hash(l.as_bytes()));
        n += 1;
    }
    (sum, n)
}

fn write_counts(path: &Path, counts: impl Iterator<Item = (String, u64)>) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for (w, c) in counts {
        writeln!(out, "{w}: {c}")?;
    }
    out.flush()
}

fn read_output(pattern: &str) -> anyhow::Result<(u64, u64)> {
    let files = sluice_io::text::match_files(pattern)?;
    let mut lines = Vec::new();
    for f in files {
        lines.extend(std::fs::read_to_string(&f.path)?.lines().map(String::from));
    }
    Ok(checksum(lines.into_iter()))
}

/// Runs one configuration; returns (seconds, checksum, lines).
fn run_child(mode: &str, corpus_path: &Path, dir: &Path) -> anyhow::Result<(f64, u64, u64)> {
    let out_dir = dir.join(format!("out-{mode}"));
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir)?;
    let input = corpus_path.display().to_string();
    let started = Instant::now();
    match mode {
        "baseline" => {
            let counts = baseline::count_words(corpus_path, threads())?;
            write_counts(&out_dir.join("counts-00000-of-00001"), counts.into_iter())?;
        }
        "rayon-1" | "rayon-all" | "direct" | "timely-1x2" | "timely-2x1" => {
            let (runner, parallelism) = match mode {
                "rayon-1" => ("rayon", Some(1)),
                "rayon-all" => ("rayon", Some(threads())),
                _ => ("direct", None),
            };
            let p = Pipeline::new();
            wordcount::build(
                &p,
                &input,
                &out_dir.join("counts").display().to_string(),
                None,
            );
            let options = timely_options(mode).unwrap_or(PipelineOptions {
                parallelism,
                quiet: true,
                ..PipelineOptions::for_runner(runner)
            });
            let result = sluice_runners::run(&p, &options)?;
            if let Some(line) = bytes_line(&result) {
                println!("{line}");
            }
        }
        "ironbeam" => run_ironbeam(corpus_path, &out_dir)?,
        other => anyhow::bail!("unknown configuration {other}"),
    }
    let seconds = started.elapsed().as_secs_f64();
    let (sum, n) = read_output(&format!("{}/counts-*", out_dir.display()))?;
    std::fs::remove_dir_all(&out_dir)?;
    Ok((seconds, sum, n))
}

#[cfg(feature = "ironbeam")]
fn run_ironbeam(corpus_path: &Path, out_dir: &Path) -> anyhow::Result<()> {
    use ironbeam::{Count, Pipeline as IbPipeline, from_vec};
    use std::io::BufRead;
    // ironbeam has no text reader without its optional IO features: lines go in as a Vec.
    let file = std::io::BufReader::new(std::fs::File::open(corpus_path)?);
    let lines: Vec<String> = file.lines().collect::<Result<_, _>>()?;
    let p = IbPipeline::default();
    let counts = from_vec(&p, lines)
        .flat_map(|line: &String| {
            sluice_examples::words(line)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .key_by(|w: &String| w.clone())
        .map_values(|_w: &String| 1u64)
        .combine_values(Count)
        .collect_par(Some(threads()), None)?;
    write_counts(&out_dir.join("counts-00000-of-00001"), counts.into_iter())?;
    Ok(())
}

#[cfg(not(feature = "ironbeam"))]
fn run_ironbeam(_corpus_path: &Path, _out_dir: &Path) -> anyhow::Result<()> {
    anyhow::bail!("ironbeam is compared only when built with --features ironbeam")
}

fn main() -> std::process::ExitCode {
    sluice_examples::main_with(|| {
        let args = Args::parse();
        let corpus_path = match args.distinct {
            Some(n) => args.dir.join(format!("distinct-{n}.txt")),
            None => args.dir.join(format!("corpus-{}mb.txt", args.size_mb)),
        };
        if let Some(mode) = &args.child {
            let (seconds, sum, n) = run_child(mode, &corpus_path, &args.dir)?;
            println!("RESULT {seconds} {sum} {n} {}", peak_rss_kib());
            return Ok(());
        }
        if !corpus_path.exists() {
            eprintln!("generating {} ...", corpus_path.display());
            match args.distinct {
                Some(n) => corpus::write_distinct_corpus(&corpus_path, n)?,
                None => corpus::write_corpus(&corpus_path, args.size_mb * 1_000_000, 2026)?,
            }
        }
        let bytes = std::fs::metadata(&corpus_path)?.len() as f64;
        let mut modes = vec!["baseline", "rayon-1", "rayon-all", "direct"];
        modes.extend(TIMELY_CONFIGS);
        if cfg!(feature = "ironbeam") {
            modes.push("ironbeam");
        }
        if let Some(only) = &args.only {
            modes.retain(|m| only.split(',').any(|o| o == *m));
        }
        let exe = std::env::current_exe()?;
        let mut results: HashMap<&str, (f64, u64, (u64, u64))> = HashMap::new();
        println!(
            "corpus: {} ({:.1} MB), {} cores, {} runs each",
            corpus_path.display(),
            bytes / 1e6,
            threads(),
            args.runs
        );
        // Rounds interleave the configurations, so that a slow spell of a shared machine
        // spreads over all of them instead of landing on one.
        let mut times: HashMap<&str, Vec<f64>> = HashMap::new();
        let mut peaks: HashMap<&str, u64> = HashMap::new();
        let mut sums: HashMap<&str, (u64, u64)> = HashMap::new();
        let mut exchanged: HashMap<&str, u64> = HashMap::new();
        for round in 0..args.runs.max(1) {
            for mode in &modes {
                let out = Command::new(&exe)
                    .args([
                        "--child",
                        mode,
                        "--size-mb",
                        &args.size_mb.to_string(),
                        "--dir",
                        &args.dir.display().to_string(),
                    ])
                    .args(args.distinct.map(|n| format!("--distinct={n}")))
                    .output()?;
                let stdout = String::from_utf8_lossy(&out.stdout);
                let Some(line) = stdout.lines().find(|l| l.starts_with("RESULT ")) else {
                    anyhow::bail!("{mode} failed: {}", String::from_utf8_lossy(&out.stderr));
                };
                let f: Vec<&str> = line.split_whitespace().collect();
                let t = f[1].parse::<f64>()?;
                println!(
                    "  round {round} {mode:<10} {t:>7.3} s  {:>8.1} MB/s",
                    bytes / 1e6 / t
                );
                if let Some(sent) = bytes_reported(&stdout) {
                    exchanged.insert(mode, sent);
                }
                times.entry(mode).or_default().push(t);
                sums.insert(mode, (f[2].parse::<u64>()?, f[3].parse::<u64>()?));
                let peak = peaks.entry(mode).or_default();
                *peak = (*peak).max(f[4].parse::<u64>()?);
            }
        }
        for mode in &modes {
            let t = median(times.remove(mode).unwrap_or_default());
            results.insert(mode, (t, peaks[mode], sums[mode]));
        }
        println!();
        println!(
            "{:<10} {:>9} {:>10} {:>12} {:>10}",
            "config", "seconds", "MB/s", "vs baseline", "peak MB"
        );
        let base = results.get("baseline").map(|r| r.0);
        for mode in &modes {
            let (t, peak, _) = results[mode];
            let ratio = base.map_or("-".to_string(), |b| format!("{:.2}x", b / t));
            println!(
                "{mode:<10} {t:>9.3} {:>10.1} {ratio:>12} {:>10.1}",
                bytes / 1e6 / t,
                peak as f64 / 1024.0
            );
        }
        let sums: Vec<(u64, u64)> = modes.iter().map(|m| results[m].2).collect();
        let identical = sums.windows(2).all(|w| w[0] == w[1]);
        println!(
            "\noutputs identical across configurations: {identical} ({} distinct words)",
            sums.first().map_or(0, |s| s.1)
        );
        if let (Some(b), Some(r1), Some(ra)) =
            (base, results.get("rayon-1"), results.get("rayon-all"))
        {
            println!("target rayon-all >= 0.70x baseline: {:.2}x", b / ra.0);
            println!(
                "target speed-up 1 -> {} threads >= 1.7x: {:.2}x",
                threads(),
                r1.0 / ra.0
            );
        }
        if let Some(ra) = results.get("rayon-all") {
            for (config, target) in [("timely-1x2", 0.8), ("timely-2x1", 0.6)] {
                if let Some(t) = results.get(config) {
                    println!(
                        "target {config} >= {target:.1}x rayon-all: {:.2}x",
                        ra.0 / t.0
                    );
                }
            }
        }
        for (config, sent) in &exchanged {
            println!(
                "{config}: {:.1} MB sent between processes ({:.1}% of the corpus)",
                *sent as f64 / 1e6,
                *sent as f64 / bytes * 100.0
            );
        }
        if let (Some(ra), Some(ib)) = (results.get("rayon-all"), results.get("ironbeam")) {
            println!(
                "target rayon-all ahead of ironbeam: {:.2}x ironbeam's throughput",
                ib.0 / ra.0
            );
        }
        if !identical {
            anyhow::bail!("the configurations disagree on the output");
        }
        Ok(())
    })
}
