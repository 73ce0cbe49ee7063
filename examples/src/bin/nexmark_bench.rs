//! The Nexmark benchmark: each query on Sluice — the direct runner in streaming mode (the
//! generator as an unbounded source), the rayon runner and the timely runner (one process of
//! two workers) over a generated file of events — and, with `--peers`, the same query in
//! Flink SQL (PyFlink, `examples/peers/flink_nexmark.py`) over the same file; events per
//! second side by side, and the outputs compared.
//!
//! ```text
//! cargo run --release -p sluice-examples --bin nexmark_bench -- [--events 2000000] [--queries 0,1,2,3,4,5,7,8,11,12] [--runs 3] [--peers]
//! ```
//!
//! The file (generated once under `target/bench-data/`) holds the events as JSON lines, as
//! `nexmark --dump-events` writes them. Times are wall times of whole processes, start-up
//! included, for both; every configuration runs with 2 workers. The outputs of every
//! configuration are compared row for row (as JSON values), except query 12's, whose panes
//! follow processing time; Flink has no batch peer of query 12 (processing-time windows).

use clap::Parser;
use sluice_examples::bench::{files_under, median, peers_python};
use sluice_examples::nexmark::GeneratorConfig;
use sluice_examples::nexmark::queries::QUERIES;
use sluice_examples::nexmark_cli::{dump_events, run_command_line};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Nexmark queries on Sluice's runners, against Flink SQL.
#[derive(Parser)]
struct Args {
    /// Events in the generated file.
    #[arg(long, default_value_t = 2_000_000)]
    events: u64,
    /// The queries to run.
    #[arg(long, value_delimiter = ',', default_values_t = QUERIES)]
    queries: Vec<u32>,
    /// Runs per configuration (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Also run each query in Flink SQL (from the venv of `scripts/peers-venv`).
    #[arg(long)]
    peers: bool,
    /// Where the data and outputs go.
    #[arg(long, default_value = "target/bench-data")]
    dir: PathBuf,
    /// Internal: run the nexmark command line with these arguments.
    #[arg(long, hide = true, num_args = 1.., allow_hyphen_values = true)]
    child: Option<Vec<String>>,
}

/// The configurations, each with the nexmark arguments it adds to `--query N --output P`.
fn configs(file: &str, events: u64) -> Vec<(&'static str, Vec<String>)> {
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let events = events.to_string();
    vec![
        (
            "direct-streaming",
            s(&[
                "--events",
                &events,
                "--streaming",
                "--runner",
                "direct",
                "--parallelism",
                "2",
            ]),
        ),
        (
            "rayon",
            s(&["--input", file, "--runner", "rayon", "--parallelism", "2"]),
        ),
        (
            "timely-1x2",
            s(&["--input", file, "--runner", "timely", "--workers", "2"]),
        ),
    ]
}

/// Every result row under `dir` (JSON lines; dead letters, manifests and hidden files left
/// out), each as its JSON value printed with sorted keys, sorted.
fn rows_under(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut rows = Vec::new();
    for entry in files_under(dir) {
        let name = entry
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name.starts_with('.') || name.contains("errors") || name.ends_with(".manifest") {
            continue;
        }
        for line in std::fs::read_to_string(&entry)?.lines() {
            if !line.is_empty() {
                let value: serde_json::Value = serde_json::from_str(line)?;
                rows.push(value.to_string());
            }
        }
    }
    rows.sort();
    Ok(rows)
}

fn main() -> std::process::ExitCode {
    sluice_examples::main_with(|| {
        let args = Args::parse();
        if let Some(child) = &args.child {
            let mut line = vec!["nexmark".to_string()];
            line.extend(child.iter().cloned());
            return run_command_line(line);
        }
        std::fs::create_dir_all(&args.dir)?;
        let file = args.dir.join(format!("nexmark-{}.json", args.events));
        let config = GeneratorConfig {
            events: args.events,
            out_of_order_group: 100,
            ..GeneratorConfig::default()
        };
        if !file.exists() {
            eprintln!("generating {} ...", file.display());
            let partial = file.with_extension("partial");
            dump_events(&config, &partial.display().to_string())?;
            std::fs::rename(&partial, &file)?;
        }
        let file = std::fs::canonicalize(&file)?;
        let mb = std::fs::metadata(&file)?.len() as f64 / 1e6;
        let python = if args.peers {
            Some(peers_python()?)
        } else {
            None
        };
        println!(
            "Nexmark over {} events ({mb:.0} MB of JSON lines), 2 workers each, medians of {} runs",
            args.events, args.runs
        );
        let exe = std::env::current_exe()?;
        let out_dir = args.dir.join("nexmark-out");
        let configs = configs(&file.display().to_string(), args.events);
        let mut table: Vec<(u32, BTreeMap<&str, f64>, String)> = Vec::new();
        for &query in &args.queries {
            let mut times: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
            let mut verdict = String::new();
            for round in 0..args.runs.max(1) {
                let _ = std::fs::remove_dir_all(&out_dir);
                let mut outputs: Vec<(&str, Vec<String>)> = Vec::new();
                for (name, extra) in &configs {
                    let prefix = out_dir.join(name).join("q");
                    let started = Instant::now();
                    let out = Command::new(&exe)
                        .arg("--child")
                        .args(["--query", &query.to_string(), "--quiet", "--output"])
                        .arg(&prefix)
                        .args(extra)
                        .output()?;
                    anyhow::ensure!(
                        out.status.success(),
                        "q{query} on {name} failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    times
                        .entry(name)
                        .or_default()
                        .push(started.elapsed().as_secs_f64());
                    outputs.push((name, rows_under(&out_dir.join(name))?));
                }
                if let Some(python) = &python
                    && query != 12
                {
                    let flink_out = std::path::absolute(out_dir.join("flink"))?;
                    let started = Instant::now();
                    let out = Command::new(python)
                        .arg("examples/peers/flink_nexmark.py")
                        .arg(query.to_string())
                        .arg(&file)
                        .arg(&flink_out)
                        .output()?;
                    anyhow::ensure!(
                        out.status.success(),
                        "q{query} on Flink failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    times
                        .entry("flink")
                        .or_default()
                        .push(started.elapsed().as_secs_f64());
                    if query != 0 {
                        outputs.push(("flink", rows_under(&flink_out)?));
                    }
                }
                let (reference, rows) = &outputs[0];
                let differing: Vec<&str> = outputs[1..]
                    .iter()
                    .filter(|(_, other)| other != rows)
                    .map(|(name, _)| *name)
                    .collect();
                verdict = match (query, differing.is_empty()) {
                    (12, _) => format!("{} rows (processing time: not compared)", rows.len()),
                    (_, true) => format!("{} rows, all identical", rows.len()),
                    (_, false) => format!(
                        "{} rows on {reference}; differ: {}",
                        rows.len(),
                        differing.join(", ")
                    ),
                };
                let line: Vec<String> = times
                    .iter()
                    .map(|(name, t)| format!("{name} {:.2} s", t[t.len() - 1]))
                    .collect();
                println!("  q{query} round {round}: {}", line.join(", "));
            }
            let medians = times.into_iter().map(|(n, t)| (n, median(t))).collect();
            table.push((query, medians, verdict));
        }
        let _ = std::fs::remove_dir_all(&out_dir);
        println!();
        let mut names: Vec<&str> = configs.iter().map(|(n, _)| *n).collect();
        if python.is_some() {
            names.push("flink");
        }
        println!(
            "| query | {} | rayon / flink | outputs |",
            names
                .iter()
                .map(|n| format!("{n} (M events/s)"))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        println!("|---|{}---:|---|", "---:|".repeat(names.len()));
        for (query, medians, verdict) in &table {
            let cells: Vec<String> = names
                .iter()
                .map(|n| match medians.get(n) {
                    Some(t) => format!("{:.2} ({t:.2} s)", args.events as f64 / t / 1e6),
                    None => "n/a".to_string(),
                })
                .collect();
            let ratio = match (medians.get("rayon"), medians.get("flink")) {
                (Some(r), Some(f)) => format!("{:.1}x", f / r),
                _ => "n/a".to_string(),
            };
            println!("| q{query} | {} | {ratio} | {verdict} |", cells.join(" | "));
        }
        Ok(())
    })
}
