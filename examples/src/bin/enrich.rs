//! Events joined with a reference table that is re-read while the job runs; the command line
//! is described in `sluice_examples::enrich`.

use clap::Parser;
use sluice_examples::job_io::JobArgs;
use sluice_examples::windowed_stats::parse_duration;
use sluice_sdk::prelude::*;

/// Adds each event's name from a reference table (`key,name` lines) that refreshes.
#[derive(Parser)]
struct Args {
    /// The reference table: a file of `key,name` lines.
    #[arg(long)]
    table: String,
    /// Kafka input: how often the table is read again (units ms, s, m, h).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    refresh: Duration,
    #[command(flatten)]
    job: JobArgs,
}

fn main() -> std::process::ExitCode {
    sluice_examples::main_with(|| {
        let args = Args::parse();
        let job = &args.job;
        let p = Pipeline::new();
        sluice_examples::enrich::build(
            &p,
            &job.input,
            &args.table,
            &job.output,
            args.refresh,
            &job.reading.options(),
        );
        job.run(
            &p,
            &[("failed table readings", "LoadTable", "table_read_errors")],
        )?;
        Ok(())
    })
}
