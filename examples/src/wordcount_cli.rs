//! The `wordcount` command line (shared by the example binary and the end-to-end tests, which
//! run it as a process).
//!
//! ```text
//! cargo run --release -p sluice-examples --bin wordcount -- \
//!     --input 'corpus/*.txt.gz' --output out/counts [--num-shards N] [--runner direct|rayon] [--parallelism N]
//! ```
//!
//! Splits each line on every character that is not a Unicode letter, counts each word (case
//! kept), and writes `word: count` lines to `PREFIX-SSSSS-of-NNNNN`, with `PREFIX.manifest`
//! listing them once the result is complete (it replaces a previous result under the same
//! prefix). Without `--input` it reads the bundled sample text.

use crate::wordcount::{SAMPLE_PATH, build};
use clap::Parser;
use sluice_io::text;
use sluice_runners::PipelineOptions;
use sluice_sdk::prelude::*;

/// Counts the words of text files.
#[derive(Parser)]
struct Args {
    /// Files to read: a path or a glob (`.gz` files are decompressed). Default: the bundled sample.
    #[arg(long)]
    input: Option<String>,
    /// Prefix of the output files: a file name, in a directory that is created if needed.
    #[arg(long, default_value = "out/wordcount", value_parser = crate::parse_file_prefix)]
    output: String,
    /// Number of output files, from 1 to 99999 (default: the runner decides, a file per bundle
    /// of output, written without a shuffle).
    #[arg(long, value_parser = parse_shards)]
    num_shards: Option<u32>,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

/// Parses `--num-shards`: a whole number from 1 to [`text::MAX_SHARDS`].
fn parse_shards(text: &str) -> Result<u32, String> {
    let n: u32 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a whole number"))?;
    text::check_shard_count(n)
}

/// Parses the command line and runs the job; the exit code says whether it succeeded.
pub fn main() -> std::process::ExitCode {
    crate::main_with(|| {
        let args = Args::parse();
        let p = Pipeline::new();
        build(
            &p,
            args.input.as_deref().unwrap_or(SAMPLE_PATH),
            &args.output,
            args.num_shards,
        );
        let Some(result) = crate::launch(&p, &args.pipeline)? else {
            return Ok(());
        };
        if !args.pipeline.quiet {
            eprintln!(
                "wrote {} (shards {}-*-of-*, listed in {}.manifest) in {:.2} s",
                args.output,
                args.output,
                args.output,
                result.elapsed.as_secs_f64()
            );
        }
        Ok(())
    })
}
