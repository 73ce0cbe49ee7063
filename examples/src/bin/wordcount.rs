//! WordCount over files, on any runner.
//!
//! ```text
//! cargo run --release -p sluice-examples --bin wordcount -- \
//!     --input 'corpus/*.txt.gz' --output out/counts [--runner direct|rayon] [--parallelism N]
//! ```
//!
//! Splits each line on every character that is not a Unicode letter, counts each word (case
//! kept), and writes `word: count` lines to `PREFIX-SSSSS-of-NNNNN`. Without `--input` it reads
//! the bundled sample text.

use clap::Parser;
use sluice_examples::wordcount::{SAMPLE_PATH, build};
use sluice_runners::PipelineOptions;
use sluice_sdk::prelude::*;

/// Counts the words of text files.
#[derive(Parser)]
struct Args {
    /// Files to read: a path or a glob (`.gz` files are decompressed). Default: the bundled sample.
    #[arg(long)]
    input: Option<String>,
    /// Prefix of the output files.
    #[arg(long, default_value = "out/wordcount")]
    output: String,
    /// Number of output files (default: one per core).
    #[arg(long)]
    num_shards: Option<u32>,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

fn main() -> std::process::ExitCode {
    sluice_examples::main_with(|| {
        let args = Args::parse();
        let p = Pipeline::new();
        build(
            &p,
            args.input.as_deref().unwrap_or(SAMPLE_PATH),
            &args.output,
            args.num_shards,
        );
        let result = sluice_runners::run(&p, &args.pipeline)?;
        if !args.pipeline.quiet {
            eprintln!(
                "wrote {}-*-of-* in {:.2} s",
                args.output,
                result.elapsed.as_secs_f64()
            );
        }
        Ok(())
    })
}
