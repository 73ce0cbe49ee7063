//! Login alerts (three failures of a user within 5 minutes) over files or a Kafka topic; the
//! command line is described in `sluice_examples::login_alerts`.

use clap::Parser;
use sluice_examples::job_io::JobArgs;
use sluice_sdk::prelude::*;

/// Alerts on three failed logins of one user within 5 minutes.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    job: JobArgs,
}

fn main() -> std::process::ExitCode {
    sluice_examples::main_with(|| {
        let Args { job } = Args::parse();
        let p = Pipeline::new();
        sluice_examples::login_alerts::build(&p, &job.input, &job.output, &job.reading.options());
        job.run(&p, &[("alerts", "RepeatedFailures", "alerts")])?;
        Ok(())
    })
}
