//! WordCount: lines of text → words → count per word → `word: count` lines.

use crate::tokenize::words;
use sluice_io::text;
use sluice_sdk::prelude::*;

/// The bundled sample text's path (an excerpt of King Lear, public domain).
pub const SAMPLE_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/kinglear.txt");

/// Emits the words of each line (Beam's `ExtractWordsFn`), and counts empty lines.
#[derive(Clone)]
pub struct ExtractWords;

impl DoFn for ExtractWords {
    type In = String;
    type Out = String;
    fn process(&mut self, line: String, ctx: &mut ProcessContext<'_, String>) -> DoFnResult {
        if line.trim().is_empty() {
            ctx.metrics().counter("empty_lines").inc();
        }
        for word in words(&line) {
            ctx.output(word.to_string());
        }
        Ok(())
    }
}

/// Counts the words of lines: the composite at the heart of WordCount.
pub struct CountWords;

impl PTransform<PCollection<String>> for CountWords {
    type Output = PCollection<KV<String, u64>>;
    fn expand(self, lines: &PCollection<String>) -> Self::Output {
        lines
            .apply("ExtractWords", ParDo::of(ExtractWords))
            .apply("CountPerWord", Count::per_element())
    }
}

/// Formats a count as the output line `word: count`.
pub fn format_count(kv: KV<String, u64>) -> String {
    format!("{}: {}", kv.key, kv.value)
}

/// Builds the WordCount pipeline: read `input` (a glob), count words, write to `output`.
pub fn build(p: &Pipeline, input: &str, output: &str, shards: Option<u32>) {
    let write = match shards {
        Some(n) => text::write(output).with_num_shards(n),
        None => text::write(output),
    };
    p.apply("ReadLines", text::read(input))
        .apply("CountWords", CountWords)
        .map("Format", format_count)
        .apply("WriteCounts", write);
}
