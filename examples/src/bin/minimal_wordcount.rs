//! Minimal WordCount: the bundled sample text → words → count per word → printed.
//!
//! `cargo run -p sluice-examples --bin minimal_wordcount [-- --runner direct]`

use clap::Parser;
use sluice_examples::{SAMPLE_TEXT, words};
use sluice_runners::PipelineOptions;
use sluice_sdk::prelude::*;
use std::io::Write;

/// Counts the words of the bundled sample text and prints `word: count` lines.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    pipeline: PipelineOptions,
}

/// Prints each line it receives and passes it on.
#[derive(Clone)]
struct PrintLines;

impl DoFn for PrintLines {
    type In = String;
    type Out = String;
    fn process(&mut self, line: String, ctx: &mut ProcessContext<'_, String>) -> DoFnResult {
        writeln!(std::io::stdout().lock(), "{line}")?;
        ctx.output(line);
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    sluice_examples::main_with(|| wordcount(Args::parse()))
}

fn wordcount(args: Args) -> anyhow::Result<()> {
    let p = Pipeline::new();
    let lines: Vec<String> = SAMPLE_TEXT.lines().map(str::to_string).collect();
    p.apply("ReadLines", Create::of(lines))
        .flat_map("ExtractWords", |line: String| {
            words(&line).map(str::to_string).collect::<Vec<_>>()
        })
        .apply("CountWords", Count::per_element())
        .map("Format", |kv: KV<String, u64>| {
            format!("{}: {}", kv.key, kv.value)
        })
        .apply("Print", ParDo::of(PrintLines));
    if let Some(result) = sluice_examples::launch(&p, &args.pipeline)? {
        tracing::info!(state = ?result.state, "done");
    }
    Ok(())
}
