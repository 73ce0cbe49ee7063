//! Login alerts (three failures of a user within 5 minutes) over files or a Kafka topic; the
//! command line is described in `sluice_examples::login_alerts`.

use clap::Parser;
use sluice_examples::job_io::{KafkaFlags, parse_output};
use sluice_runners::PipelineOptions;
use sluice_sdk::prelude::*;

/// Alerts on three failed logins of one user within 5 minutes.
#[derive(Parser)]
struct Args {
    /// Login files (a path or a glob), or `kafka://HOST:PORT/TOPIC`.
    #[arg(long)]
    input: String,
    /// Prefix of the output files (a file name, not a directory), or `kafka://HOST:PORT/TOPIC`.
    #[arg(long, value_parser = parse_output)]
    output: String,
    #[command(flatten)]
    kafka: KafkaFlags,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

fn main() -> std::process::ExitCode {
    sluice_examples::main_with(|| {
        let args = Args::parse();
        let p = Pipeline::new();
        sluice_examples::login_alerts::build(&p, &args.input, &args.output, &args.kafka.input());
        let result = sluice_runners::run(&p, &args.pipeline)?;
        if !args.pipeline.quiet {
            let counter = |t: &str, c: &str| result.metrics.counter(t, c).unwrap_or(0);
            eprintln!(
                "wrote {}: {} alerts; {} malformed lines in its errors output ({:?})",
                args.output,
                counter("RepeatedFailures", "alerts"),
                counter("ParseLogins", "malformed_lines"),
                result.state
            );
        }
        Ok(())
    })
}
