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
//! `\r\n`) are removed. A line that is not valid UTF-8 fails the read with the file and line
//! number, unless [`ReadText::lossy_utf8`] replaces invalid bytes with U+FFFD. Every line gets
//! the minimum timestamp, in the global window.
//!
//! **Writing** ([`write()`]): lines go to `PREFIX-SSSSS-of-NNNNN[SUFFIX]`, written under
//! temporary names and renamed only when every shard is written; see [`sink`].
//!
//! **JSON lines** ([`read_json`], [`write_json`]): one serde document per line.

mod files;
mod json;
pub mod sink;
mod source;

pub use files::{FileMeta, MatchError, match_files};
pub use json::{JsonLines, WriteJson};
pub use sink::{WriteText, shard_name};
pub use source::{LineDecoder, TextSource, Utf8Lines};

use serde::de::DeserializeOwned;
use sluice_sdk::prelude::*;

/// Reads the lines of the files matching `pattern`.
pub fn read(pattern: &str) -> ReadText {
    ReadText {
        pattern: pattern.to_string(),
        lossy: false,
    }
}

/// Writes lines to sharded files named from `prefix`.
pub fn write(prefix: &str) -> WriteText {
    WriteText::new(prefix)
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
}

impl ReadText {
    /// Replaces invalid UTF-8 with U+FFFD instead of failing.
    pub fn lossy_utf8(self) -> Self {
        ReadText {
            lossy: true,
            ..self
        }
    }
}

/// Reads JSON lines; see [`read_json`].
pub struct ReadJson<T> {
    pattern: String,
    _t: std::marker::PhantomData<fn() -> T>,
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
        Read::from(TextSource::new(files, Utf8Lines { lossy: self.lossy })).expand(input)
    }
}

impl<T: Element + DeserializeOwned> PTransform<PBegin> for ReadJson<T> {
    type Output = PCollection<T>;
    fn expand(self, input: &PBegin) -> PCollection<T> {
        let files = files_or_error(input, &self.pattern);
        Read::from(TextSource::new(files, JsonLines::<T>::new())).expand(input)
    }
}
