//! The `windowed_stats` command line (shared by the example binary and the end-to-end tests,
//! which run it as a process).
//!
//! ```text
//! cargo run --release -p sluice-examples --bin windowed_stats -- \
//!     --input 'events/*.csv' --output out/stats --window fixed:60s [--allowed-lateness 0s] [--runner direct|rayon]
//! ```
//!
//! Input lines are `timestamp_ms,key,value`. For each key and window it writes
//! `window_start_ms,window_end_ms,key,count,sum,min,max` (end exclusive) to `PREFIX-*`.
//! Malformed lines go, with the reason, to `PREFIX-errors-*` (JSON lines) and are counted.
//!
//! Input and output may be Kafka topics, `kafka://HOST:PORT/TOPIC`: each record is a line,
//! stamped with its CreateTime, with the watermark trailing the largest timestamp seen by
//! `--kafka-max-delay`. The read is unbounded (run it on the direct runner; Ctrl-C drains and
//! stops) unless `--kafka-stop-at-end` bounds it to the end offsets at start, which runs on
//! either runner. With `--kafka-group`, offsets are committed for the group once the results
//! of the records before them are written, and a restart resumes from them.

use crate::job_io::JobArgs;
use crate::windowed_stats::{WindowSpec, build_with, parse_duration};
use clap::Parser;
use sluice_sdk::prelude::*;

/// Per-key statistics of events in event-time windows.
#[derive(Parser)]
struct Args {
    /// `fixed:SIZE`, `sliding:SIZE:PERIOD` or `sessions:GAP` (units ms, s, m, h).
    #[arg(long)]
    window: WindowSpec,
    /// How late data may be and still count (units ms, s, m, h).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    allowed_lateness: Duration,
    #[command(flatten)]
    job: JobArgs,
}

/// Parses the command line and runs the job; the exit code says whether it succeeded.
pub fn main() -> std::process::ExitCode {
    crate::main_with(|| {
        let args = Args::parse();
        let job = &args.job;
        let p = Pipeline::new();
        build_with(
            &p,
            &job.input,
            &job.output,
            &args.window,
            args.allowed_lateness,
            &job.reading.options(),
        );
        job.run(&p, &[])?;
        Ok(())
    })
}
