//! Events joined with a reference table that is re-read while the job runs; the command line
//! is described in `sluice_examples::enrich`.

use clap::Parser;
use sluice_examples::job_io::{KafkaFlags, parse_output};
use sluice_examples::windowed_stats::parse_duration;
use sluice_runners::PipelineOptions;
use sluice_sdk::prelude::*;

/// Adds each event's name from a reference table (`key,name` lines) that refreshes.
#[derive(Parser)]
struct Args {
    /// Event files (a path or a glob), or `kafka://HOST:PORT/TOPIC`.
    #[arg(long)]
    input: String,
    /// The reference table: a file of `key,name` lines.
    #[arg(long)]
    table: String,
    /// Prefix of the output files (a file name, not a directory), or `kafka://HOST:PORT/TOPIC`.
    #[arg(long, value_parser = parse_output)]
    output: String,
    /// Kafka input: how often the table is read again (units ms, s, m, h).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    refresh: Duration,
    #[command(flatten)]
    kafka: KafkaFlags,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

fn main() -> std::process::ExitCode {
    sluice_examples::main_with(|| {
        let args = Args::parse();
        let p = Pipeline::new();
        sluice_examples::enrich::build(
            &p,
            &args.input,
            &args.table,
            &args.output,
            args.refresh,
            &args.kafka.input(),
        );
        let result = sluice_runners::run(&p, &args.pipeline)?;
        if !args.pipeline.quiet {
            let counter = |t: &str, c: &str| result.metrics.counter(t, c).unwrap_or(0);
            eprintln!(
                "wrote {}; {} malformed events in its errors output, {} table readings failed ({:?})",
                args.output,
                counter("ParseEvents", "malformed_lines"),
                counter("LoadTable", "table_read_errors"),
                result.state
            );
        }
        Ok(())
    })
}
