//! The `fraud_detection` command line (shared by the example binary and the end-to-end tests,
//! which run it as a process). This command line is a contract that other tools drive:
//!
//! ```text
//! cargo run --release -p sluice-examples --bin fraud_detection -- \
//!     --input GLOB|kafka://HOST:PORT/TOPIC --output PREFIX|kafka://HOST:PORT/TOPIC [--runner direct|rayon]
//! ```
//!
//! Input lines are `timestamp_ms,account_id,amount_cents`; alerts are
//! `account_id,small_timestamp_ms,large_timestamp_ms,large_amount_cents` (the rule is in
//! [`crate::fraud_detection`]). Malformed lines go, with the reason, to `PREFIX-errors-*` (JSON
//! lines) and are counted. A Kafka input is read as `windowed_stats` reads it (the
//! `--kafka-*` flags): unbounded on the direct runner, bounded with `--kafka-stop-at-end`.

use crate::fraud_detection::build;
use crate::job_io::JobArgs;
use clap::Parser;
use sluice_sdk::prelude::*;

/// Alerts on a small transaction followed by a large one on the same account.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    job: JobArgs,
}

/// Parses the command line and runs the job; the exit code says whether it succeeded.
pub fn main() -> std::process::ExitCode {
    crate::main_with(|| {
        let Args { job } = Args::parse();
        let p = Pipeline::new();
        build(&p, &job.input, &job.output, &job.reading.options());
        job.run(&p, &[("alerts", "SmallThenLarge", "alerts")])?;
        Ok(())
    })
}
