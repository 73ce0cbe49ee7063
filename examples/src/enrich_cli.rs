//! The `enrich` command line (shared by the example binary and the end-to-end tests, which run
//! it as a process); the job is described in [`crate::enrich`].
//!
//! ```text
//! cargo run --release -p sluice-examples --bin enrich -- \
//!     --input GLOB|kafka://HOST:PORT/TOPIC --table FILE --output PREFIX|kafka://HOST:PORT/TOPIC \
//!     [--refresh 10s] [--runner direct|rayon|timely]
//! ```

use crate::job_io::JobArgs;
use crate::windowed_stats::parse_duration;
use clap::Parser;
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

/// Parses the command line and runs the job; the exit code says whether it succeeded.
pub fn main() -> std::process::ExitCode {
    crate::main_with(|| {
        let args = Args::parse();
        let job = &args.job;
        let p = Pipeline::new();
        crate::enrich::build(
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
