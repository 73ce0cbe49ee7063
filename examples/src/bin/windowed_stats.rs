//! Windowed statistics over event files, on any runner.
//!
//! ```text
//! cargo run --release -p sluice-examples --bin windowed_stats -- \
//!     --input 'events/*.csv' --output out/stats --window fixed:60s [--allowed-lateness 0s] [--runner direct|rayon]
//! ```
//!
//! Input lines are `timestamp_ms,key,value`. For each key and window it writes
//! `window_start_ms,window_end_ms,key,count,sum,min,max` (end exclusive) to `PREFIX-*`.
//! Malformed lines go, with the reason, to `PREFIX-errors-*` (JSON lines) and are counted.

use clap::Parser;
use sluice_examples::windowed_stats::{WindowSpec, build, parse_duration};
use sluice_runners::PipelineOptions;
use sluice_sdk::prelude::*;

/// Per-key statistics of events in event-time windows.
#[derive(Parser)]
struct Args {
    /// Event files: a path or a glob.
    #[arg(long)]
    input: String,
    /// Prefix of the output files.
    #[arg(long)]
    output: String,
    /// `fixed:SIZE`, `sliding:SIZE:PERIOD` or `sessions:GAP` (units ms, s, m, h).
    #[arg(long)]
    window: WindowSpec,
    /// How late data may be and still count (units ms, s, m, h).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    allowed_lateness: Duration,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

fn main() -> std::process::ExitCode {
    sluice_examples::main_with(|| {
        let args = Args::parse();
        let p = Pipeline::new();
        build(
            &p,
            &args.input,
            &args.output,
            &args.window,
            args.allowed_lateness,
        );
        let result = sluice_runners::run(&p, &args.pipeline)?;
        let malformed = result
            .metrics
            .counter("ParseEvents", "malformed_lines")
            .unwrap_or(0);
        if !args.pipeline.quiet {
            eprintln!(
                "wrote {}-*; {malformed} malformed lines in {}-errors-*",
                args.output, args.output
            );
        }
        Ok(())
    })
}
