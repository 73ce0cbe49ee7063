//! Text files: read lines from many files, write lines to sharded files.
//!
//! ```no_run
//! use sluice_sdk::prelude::*;
//! use sluice_io::text;
//!
//! let p = Pipeline::new();
//! let lines = p.apply("Read", text::read("logs/*.txt.gz"));
//! let upper = lines.map("Upper", |l: String| l.to_uppercase());
//! upper.apply("Write", text::write("out/upper").with_suffix(".txt").with_num_shards(4));
//! ```
//!
//! **Reading** ([`read`]): the pattern is a path or a glob, matched when the pipeline is
//! built; a pattern that matches nothing is an error naming the pattern. Files ending in `.gz`
//! are decompressed (and read whole); other files are split into byte ranges at line
//! boundaries so that a runner can read one large file in parallel. Line endings (`\n`,
//! `\r\n`) are removed, and so is a UTF-8 byte-order mark at the start of a file. A line that
//! is not valid UTF-8 fails the read with the file and line number, unless
//! [`ReadText::lossy_utf8`] replaces invalid bytes with U+FFFD, or
//! [`ReadText::with_dead_letters`] sends the line, with its file and line number, to an
//! `errors` output and reads on. A line longer than [`ReadText::max_line_bytes`] (4 MiB by
//! default) is treated the same way, and memory stays bounded whatever the input. Every line
//! gets the minimum timestamp, in the global window.
//!
//! **Writing** ([`write()`]): lines go to `PREFIX-SSSSS-of-NNNNN[SUFFIX]`, written under
//! temporary names and committed only when every shard is written: the previous result under
//! the prefix is replaced, and a manifest `PREFIX.manifest`, written last, marks the output
//! complete; see [`sink`] and [`commit`]. Reading the prefix itself (`text::read("out/counts")`)
//! reads exactly the committed shards, and fails on an output whose commit did not finish.
//!
//! **JSON lines** ([`read_json`], [`write_json`]): one serde document per line.

pub mod commit;
mod files;
#[cfg(test)]
mod fuzz_tests;
mod json;
pub mod sink;
mod source;
pub mod windowed;

pub use commit::{Manifest, ShardEntry, complete_shards, manifest_path};
pub use files::{FileMeta, MatchError, match_files};
pub use json::{JsonLines, WriteJson};
pub use sink::{MAX_SHARDS, WriteText, check_shard_count, shard_name};
pub use source::{
    DEFAULT_MAX_LINE_BYTES, LineDecoder, LineError, OVERLONG_LINE_KEPT_BYTES, OrDeadLetter,
    TextDeadLetter, TextSource, Utf8Lines,
};
pub use windowed::{WINDOWED_FORMAT, WriteWindowed, committed_files};

use serde::de::DeserializeOwned;
use sluice_sdk::prelude::*;

/// Reads the lines of the files matching `pattern`.
pub fn read(pattern: &str) -> ReadText {
    ReadText {
        pattern: pattern.to_string(),
        lossy: false,
        max_line_bytes: DEFAULT_MAX_LINE_BYTES,
    }
}

/// Writes lines to sharded files named from `prefix`.
pub fn write(prefix: &str) -> WriteText {
    WriteText::new(prefix)
}

/// Writes lines to a file per window and pane, named from `prefix`, as the panes fire:
/// streaming output, committed at the end of each bundle or, with `--exactly-once`, when a
/// checkpoint covers it (see [`windowed`]).
pub fn write_windowed(prefix: &str) -> WriteWindowed {
    WriteWindowed::new(prefix)
}

/// Reads the files matching `pattern` as JSON lines, each decoded into a `T`. A line that is
/// not a valid `T` fails the read with the file and line number.
pub fn read_json<T: Element + DeserializeOwned>(pattern: &str) -> ReadJson<T> {
    ReadJson {
        pattern: pattern.to_string(),
        _t: std::marker::PhantomData,
    }
}

/// Writes elements as JSON lines to sharded files named from `prefix`.
pub fn write_json<T: Element + serde::Serialize>(prefix: &str) -> WriteJson<T> {
    WriteJson::new(WriteText::new(prefix))
}

/// Reads lines of text files; see [`read`].
#[derive(Clone, Debug)]
pub struct ReadText {
    pattern: String,
    lossy: bool,
    max_line_bytes: usize,
}

impl ReadText {
    /// Replaces invalid UTF-8 with U+FFFD instead of failing.
    pub fn lossy_utf8(self) -> Self {
        ReadText {
            lossy: true,
            ..self
        }
    }

    /// The longest line read (default [`DEFAULT_MAX_LINE_BYTES`], 4 MiB): a longer line is not
    /// decoded — it fails the read naming its file, line and length, or with
    /// [`with_dead_letters`](Self::with_dead_letters) becomes a dead letter holding its length
    /// and first [`OVERLONG_LINE_KEPT_BYTES`] bytes — and reading goes on after it, in bounded
    /// memory.
    pub fn max_line_bytes(self, max_line_bytes: usize) -> Self {
        ReadText {
            max_line_bytes: max_line_bytes.max(1),
            ..self
        }
    }

    /// Sends lines that are not valid UTF-8 (or longer than the limit) to an `errors` output,
    /// as [`TextDeadLetter`]s with their file and line number, instead of failing the read.
    pub fn with_dead_letters(self) -> ReadTextWithDeadLetters {
        ReadTextWithDeadLetters { read: self }
    }
}

/// Reads lines, sending undecodable ones to a dead-letter output; see
/// [`ReadText::with_dead_letters`].
#[derive(Clone, Debug)]
pub struct ReadTextWithDeadLetters {
    read: ReadText,
}

/// The outputs of a [`ReadTextWithDeadLetters`].
pub struct TextReadOutput {
    /// The lines that decoded.
    pub lines: PCollection<String>,
    /// The lines that did not, with where they were and why.
    pub errors: PCollection<TextDeadLetter>,
}

/// Sends dead letters to their own output, counting them; the first one of each instance is
/// logged as a warning (a binary file would otherwise log a line per line), the rest at debug.
struct SplitDeadLetters<T> {
    errors: TupleTag<TextDeadLetter>,
    warned: bool,
    _t: std::marker::PhantomData<fn(T)>,
}

impl<T> Clone for SplitDeadLetters<T> {
    fn clone(&self) -> Self {
        SplitDeadLetters {
            errors: self.errors.clone(),
            warned: self.warned,
            _t: std::marker::PhantomData,
        }
    }
}

impl<T: Element> DoFn for SplitDeadLetters<T> {
    type In = Result<T, TextDeadLetter>;
    type Out = T;
    fn process(
        &mut self,
        item: Result<T, TextDeadLetter>,
        ctx: &mut ProcessContext<'_, T>,
    ) -> DoFnResult {
        match item {
            Ok(element) => ctx.output(element),
            Err(dead) => {
                if self.warned {
                    tracing::debug!(%dead, "undecodable line sent to the dead letters");
                } else {
                    self.warned = true;
                    tracing::warn!(%dead, "undecodable line sent to the dead letters (further ones are counted, not logged)");
                }
                ctx.metrics().counter("undecodable_lines").inc();
                ctx.output_tagged(&self.errors, dead)?;
            }
        }
        Ok(())
    }
}

/// Reads the lines of the files matching `pattern` through `decoder`, sending each line that
/// does not decode to an `errors` output as a [`TextDeadLetter`] (file, line number, the
/// decoder's reason, the bytes) and reading on: a parser of log lines, say, whose malformed
/// lines must not stop the job.
pub fn read_decoded<D: LineDecoder>(pattern: &str, decoder: D) -> ReadDecoded<D> {
    ReadDecoded {
        pattern: pattern.to_string(),
        decoder,
        max_line_bytes: DEFAULT_MAX_LINE_BYTES,
    }
}

/// Reads lines through a decoder, with dead letters; see [`read_decoded`].
#[derive(Clone, Debug)]
pub struct ReadDecoded<D> {
    pattern: String,
    decoder: D,
    max_line_bytes: usize,
}

impl<D> ReadDecoded<D> {
    /// The longest line read (see [`ReadText::max_line_bytes`]); a longer one is a dead letter.
    pub fn max_line_bytes(self, max_line_bytes: usize) -> Self {
        ReadDecoded {
            max_line_bytes: max_line_bytes.max(1),
            ..self
        }
    }
}

/// The outputs of a [`ReadDecoded`].
pub struct DecodedReadOutput<T> {
    /// What the lines that decoded decoded to.
    pub elements: PCollection<T>,
    /// The lines that did not, with where they were and why.
    pub errors: PCollection<TextDeadLetter>,
}

impl<D: LineDecoder> PTransform<PBegin> for ReadDecoded<D> {
    type Output = DecodedReadOutput<D::Output>;
    fn expand(self, input: &PBegin) -> Self::Output {
        let files = files_or_error(input, &self.pattern);
        let items = input.pipeline().apply(
            "Read",
            Read::from(
                TextSource::new(files, OrDeadLetter(self.decoder))
                    .with_max_line_bytes(self.max_line_bytes),
            ),
        );
        let errors = TupleTag::<TextDeadLetter>::new("errors");
        let split = items.apply(
            "Split",
            ParDo::of(SplitDeadLetters {
                errors: errors.clone(),
                warned: false,
                _t: std::marker::PhantomData,
            })
            .with_output(&errors),
        );
        DecodedReadOutput {
            errors: split.get(&errors),
            elements: split.main(),
        }
    }
}

impl PTransform<PBegin> for ReadTextWithDeadLetters {
    type Output = TextReadOutput;
    fn expand(self, input: &PBegin) -> TextReadOutput {
        let decoder = Utf8Lines {
            lossy: self.read.lossy,
        };
        let read = read_decoded(&self.read.pattern, decoder)
            .max_line_bytes(self.read.max_line_bytes)
            .expand(input);
        TextReadOutput {
            lines: read.elements,
            errors: read.errors,
        }
    }
}

/// Reads JSON lines; see [`read_json`].
pub struct ReadJson<T> {
    pattern: String,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element + DeserializeOwned> ReadJson<T> {
    /// Sends lines that are not a `T` to an `errors` output, with their file and line number
    /// (see [`read_decoded`]), instead of failing the read.
    pub fn with_dead_letters(self) -> ReadDecoded<JsonLines<T>> {
        read_decoded(&self.pattern, JsonLines::new())
    }
}

/// Matches the pattern, recording a construction error (and reading nothing) if it fails.
fn files_or_error(input: &PBegin, pattern: &str) -> Vec<FileMeta> {
    match match_files(pattern) {
        Ok(files) => files,
        Err(e) => {
            let p = input.pipeline();
            p.record_error(format!("'{}': {e}", p.current_name()));
            Vec::new()
        }
    }
}

impl PTransform<PBegin> for ReadText {
    type Output = PCollection<String>;
    fn expand(self, input: &PBegin) -> PCollection<String> {
        let files = files_or_error(input, &self.pattern);
        Read::from(
            TextSource::new(files, Utf8Lines { lossy: self.lossy })
                .with_max_line_bytes(self.max_line_bytes),
        )
        .expand(input)
    }
}

impl<T: Element + DeserializeOwned> PTransform<PBegin> for ReadJson<T> {
    type Output = PCollection<T>;
    fn expand(self, input: &PBegin) -> PCollection<T> {
        let files = files_or_error(input, &self.pattern);
        Read::from(TextSource::new(files, JsonLines::<T>::new())).expand(input)
    }
}
