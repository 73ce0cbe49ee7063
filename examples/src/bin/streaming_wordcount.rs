//! Streaming WordCount from a Kafka topic to a Kafka topic, with early and late panes.
//!
//! ```text
//! cargo run --release -p sluice-examples --bin streaming_wordcount -- \
//!     --input kafka://127.0.0.1:19092/lines --output kafka://127.0.0.1:19092/counts \
//!     [--window 60s] [--early-every 5s] [--allowed-lateness 10m] [--max-delay 5s]
//! ```
//!
//! Runs until Ctrl-C, which drains: every open window emits its last pane before the job
//! stops. See `sluice_examples::streaming_wordcount` for the output format.

use clap::Parser;
use sluice_examples::streaming_wordcount::{StreamingWordCount, build};
use sluice_examples::windowed_stats::parse_duration;
use sluice_runners::PipelineOptions;
use sluice_sdk::prelude::*;

/// Streaming word counts per event-time window, with early and late panes.
#[derive(Parser)]
struct Args {
    /// `kafka://HOST:PORT/TOPIC` of text lines (or a file pattern).
    #[arg(long)]
    input: String,
    /// `kafka://HOST:PORT/TOPIC` (or a file prefix).
    #[arg(long)]
    output: String,
    /// Window size (units ms, s, m, h).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    window: Duration,
    /// Processing time between early panes of an open window.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    early_every: Duration,
    /// How late a record may be and still update its window.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    allowed_lateness: Duration,
    /// How far out of order records may be and still be on time.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    max_delay: Duration,
    /// How long a caught-up partition may be quiet before it stops holding the watermark.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    idle_timeout: Duration,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

fn main() -> std::process::ExitCode {
    sluice_examples::main_with(|| {
        let args = Args::parse();
        let p = Pipeline::new();
        build(
            &p,
            &StreamingWordCount {
                input: args.input,
                output: args.output.clone(),
                window: args.window,
                early_every: args.early_every,
                allowed_lateness: args.allowed_lateness,
                max_delay: args.max_delay,
                idle_timeout: args.idle_timeout,
            },
        );
        let Some(result) = sluice_examples::launch(&p, &args.pipeline)? else {
            return Ok(());
        };
        if !args.pipeline.quiet {
            eprintln!("wrote {} ({:?})", args.output, result.state);
        }
        Ok(())
    })
}
