//! A job that takes its time — every element sleeps — for the tests of a cluster whose
//! process dies midway: `cluster_job --elements N --sleep-ms MS [pipeline options]`.

use clap::Parser;
use sluice_sdk::prelude::*;

/// A slow job: N numbers, each slept on, then counted per key.
#[derive(Parser)]
struct Args {
    /// How many elements.
    #[arg(long, default_value_t = 600)]
    elements: u64,
    /// How long each element sleeps, in milliseconds.
    #[arg(long, default_value_t = 20)]
    sleep_ms: u64,
    #[command(flatten)]
    pipeline: sluice_runners::PipelineOptions,
}

fn main() -> std::process::ExitCode {
    sluice_examples::main_with(|| {
        let args = Args::parse();
        let sleep = std::time::Duration::from_millis(args.sleep_ms);
        let p = Pipeline::new();
        p.apply("Numbers", Create::of(0..args.elements))
            .map("Slowly", move |n: u64| {
                std::thread::sleep(sleep);
                KV::new(n % 7, 1u64)
            })
            .apply("Count", Combine::per_key(Sum::<u64>::new()));
        sluice_examples::launch(&p, &args.pipeline)?;
        Ok(())
    })
}
