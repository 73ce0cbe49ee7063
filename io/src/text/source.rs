//! The text source: lines of many files, split by byte ranges for parallel reads.
//!
//! A line belongs to the split in which its first byte lies. A reader of the range
//! `[start, end)` therefore skips the partial line it starts in (unless `start` is 0) and reads
//! every line that *starts* before `end`, even if it ends after it. Gzip files cannot be
//! entered in the middle, so each is read whole by one split.
//!
//! A UTF-8 byte-order mark at the start of a file is not part of its first line. A line that
//! does not decode fails the read naming the file and line — or, with a decoder that takes
//! dead letters ([`OrDeadLetter`]), becomes a [`TextDeadLetter`] element and the read goes on.

use super::files::FileMeta;
use sluice_sdk::element::Element;
use sluice_sdk::error::BoxError;
use sluice_sdk::source::{BoundedSource, SourceReader};
use sluice_sdk::time::Timestamp;
use sluice_sdk::windowed_value::TimestampedValue;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The UTF-8 encoding of U+FEFF, which some editors put at the start of a file.
pub(super) const UTF8_BOM: &[u8] = &[0xEF, 0xBB, 0xBF];

/// Splits are at least this large: smaller ones cost more in opening files than they gain.
const MIN_SPLIT_BYTES: u64 = 1 << 20;

/// The longest line a read keeps by default (4 MiB): a longer one is not decoded but becomes a
/// dead letter (or fails the read) that holds its length and its first
/// [`OVERLONG_LINE_KEPT_BYTES`]; the rest is read past. Memory stays bounded whatever the
/// input (a file without line endings, `/dev/zero`).
pub const DEFAULT_MAX_LINE_BYTES: usize = 4 << 20;

/// How much of a line longer than the limit its dead letter keeps.
pub const OVERLONG_LINE_KEPT_BYTES: usize = 1024;

/// A line that did not decode: why, and its bytes back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// What is wrong with it.
    pub reason: String,
    /// The line's bytes (without its line ending).
    pub line: Vec<u8>,
}

/// A line that did not decode, where it was read: the element a read with dead letters
/// emits for it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TextDeadLetter {
    /// The file.
    pub file: String,
    /// The line's number in the file, from 1 (`None` if the file could not be read again to
    /// count it).
    pub line_number: Option<u64>,
    /// What is wrong with it.
    pub reason: String,
    /// The line's bytes (without its line ending).
    pub bytes: Vec<u8>,
}

impl std::fmt::Display for TextDeadLetter {
    /// `FILE, line N: REASON`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line_number {
            Some(n) => write!(f, "{}, line {n}: {}", self.file, self.reason),
            None => write!(f, "{}: {}", self.file, self.reason),
        }
    }
}

/// Turns the bytes of one line (without its line ending) into an element.
pub trait LineDecoder: Clone + Send + Sync + 'static {
    /// The element type.
    type Output: Element;
    /// Decodes a line; the error says what is wrong (the reader adds file and line) and
    /// gives the bytes back.
    fn decode(&self, line: Vec<u8>) -> Result<Self::Output, LineError>;
    /// What becomes of a line that did not decode: `None` (the default) fails the read naming
    /// the file and line; a decoder may instead make it an element.
    fn reject(&self, dead: TextDeadLetter) -> Option<Self::Output> {
        let _ = dead;
        None
    }
}

/// A decoder whose undecodable lines become [`TextDeadLetter`]s instead of failing the read:
/// each line is `Ok(element)` or `Err(dead letter)`.
#[derive(Clone, Copy, Debug)]
pub struct OrDeadLetter<D>(pub D);

impl<D: LineDecoder> LineDecoder for OrDeadLetter<D> {
    type Output = Result<D::Output, TextDeadLetter>;
    fn decode(&self, line: Vec<u8>) -> Result<Self::Output, LineError> {
        self.0.decode(line).map(Ok)
    }
    fn reject(&self, dead: TextDeadLetter) -> Option<Self::Output> {
        Some(Err(dead))
    }
}

/// Lines as UTF-8 strings; invalid UTF-8 is an error, or replaced by U+FFFD when lossy.
#[derive(Clone, Copy, Debug)]
pub struct Utf8Lines {
    /// Replace invalid sequences instead of failing.
    pub lossy: bool,
}

impl LineDecoder for Utf8Lines {
    type Output = String;
    fn decode(&self, line: Vec<u8>) -> Result<String, LineError> {
        match String::from_utf8(line) {
            Ok(s) => Ok(s),
            Err(e) if self.lossy => Ok(String::from_utf8_lossy(e.as_bytes()).into_owned()),
            Err(e) => Err(LineError {
                reason: format!(
                    "invalid UTF-8 at byte {} of the line",
                    e.utf8_error().valid_up_to()
                ),
                line: e.into_bytes(),
            }),
        }
    }
}

/// A byte range of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Range {
    file: usize,
    start: u64,
    /// Exclusive end; `None` reads to the end of the file.
    end: Option<u64>,
}

impl Range {
    fn len(&self, files: &[FileMeta]) -> u64 {
        self.end
            .unwrap_or(files[self.file].size)
            .saturating_sub(self.start)
    }
}

/// Reads the lines of a set of files (or of byte ranges of them).
pub struct TextSource<D> {
    files: Arc<Vec<FileMeta>>,
    ranges: Vec<Range>,
    decoder: D,
    max_line_bytes: usize,
}

impl<D: LineDecoder> TextSource<D> {
    /// A source of every line of `files`.
    pub fn new(files: Vec<FileMeta>, decoder: D) -> Self {
        let ranges = (0..files.len())
            .map(|file| Range {
                file,
                start: 0,
                end: None,
            })
            .collect();
        TextSource {
            files: Arc::new(files),
            ranges,
            decoder,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }

    /// The longest line decoded (at least 1 byte; default [`DEFAULT_MAX_LINE_BYTES`]).
    pub fn with_max_line_bytes(self, max_line_bytes: usize) -> Self {
        TextSource {
            max_line_bytes: max_line_bytes.max(1),
            ..self
        }
    }
}

impl<D: LineDecoder> BoundedSource for TextSource<D> {
    type Output = D::Output;

    fn split(&self, desired: usize) -> Result<Vec<Self>, BoxError> {
        let total: u64 = self.ranges.iter().map(|r| r.len(&self.files)).sum();
        let target = (total / desired.max(1) as u64).max(MIN_SPLIT_BYTES);
        // Cut splittable ranges into pieces of about `target` bytes...
        let mut pieces = Vec::new();
        for r in &self.ranges {
            let meta = &self.files[r.file];
            let end = r.end.unwrap_or(meta.size);
            if meta.gzip || end.saturating_sub(r.start) <= target {
                pieces.push(r.clone());
                continue;
            }
            let mut start = r.start;
            while start < end {
                let stop = (start + target).min(end);
                pieces.push(Range {
                    file: r.file,
                    start,
                    end: Some(stop),
                });
                start = stop;
            }
        }
        // ...and pack small ones (small files) together up to the same size.
        let mut splits: Vec<Vec<Range>> = Vec::new();
        let mut size = 0;
        for p in pieces {
            let len = p.len(&self.files);
            match splits.last_mut() {
                Some(last) if size + len <= target => {
                    last.push(p);
                    size += len;
                }
                _ => {
                    splits.push(vec![p]);
                    size = len;
                }
            }
        }
        Ok(splits
            .into_iter()
            .map(|ranges| TextSource {
                files: self.files.clone(),
                ranges,
                decoder: self.decoder.clone(),
                max_line_bytes: self.max_line_bytes,
            })
            .collect())
    }

    fn estimated_size_bytes(&self) -> Option<u64> {
        Some(self.ranges.iter().map(|r| r.len(&self.files)).sum())
    }

    fn reader(&self) -> Result<Box<dyn SourceReader<D::Output>>, BoxError> {
        Ok(Box::new(TextReader {
            files: self.files.clone(),
            pending: self.ranges.iter().cloned().collect(),
            decoder: self.decoder.clone(),
            open: None,
            consumed_before: 0,
            buf: Vec::with_capacity(256),
            max_line_bytes: self.max_line_bytes,
        }))
    }
}

/// What [`read_line_bounded`] read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct LineRead {
    /// Bytes consumed from the reader: the whole line and its `\n` (0 at the end).
    consumed: usize,
    /// Whether the line ended with a `\n` (the last line of a file may not).
    newline: bool,
}

/// Reads one line, up to and including its `\n`, into `buf`, keeping at most `max` bytes of
/// it and its `\n`: the rest of a longer line is read and dropped, so memory stays bounded
/// however long the line is.
fn read_line_bounded(
    reader: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<LineRead> {
    let mut read = LineRead::default();
    loop {
        let available = match reader.fill_buf() {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(read);
        }
        let (taken, newline) = match memchr::memchr(b'\n', available) {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        let room = (max + 1).saturating_sub(buf.len());
        buf.extend_from_slice(&available[..taken.min(room)]);
        reader.consume(taken);
        read.consumed += taken;
        if newline {
            read.newline = true;
            return Ok(read);
        }
    }
}

/// Counts the bytes read from a file (for progress on compressed files).
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The range being read.
struct OpenRange {
    range: Range,
    lines: Box<dyn BufRead + Send>,
    /// Position (in the uncompressed stream) of the next line's first byte.
    pos: u64,
    /// Where the first line of the range starts.
    first_line_pos: u64,
    /// Lines read so far in this range.
    lines_read: u64,
    /// The lines of the file before the range's first line, once counted (for the line
    /// numbers of dead letters: counted once per range, not once per dead letter).
    lines_before: Option<u64>,
    /// Raw bytes read from the file.
    raw: Arc<AtomicU64>,
}

struct TextReader<D> {
    files: Arc<Vec<FileMeta>>,
    pending: VecDeque<Range>,
    decoder: D,
    open: Option<OpenRange>,
    consumed_before: u64,
    buf: Vec<u8>,
    max_line_bytes: usize,
}

impl<D: LineDecoder> TextReader<D> {
    fn path(&self, file: usize) -> String {
        self.files[file].path.display().to_string()
    }

    fn open(&self, range: Range) -> Result<OpenRange, BoxError> {
        let meta = &self.files[range.file];
        let path = self.path(range.file);
        let mut file = File::open(&meta.path).map_err(|e| format!("cannot open {path}: {e}"))?;
        let raw = Arc::new(AtomicU64::new(0));
        if meta.gzip {
            let counted = Counting {
                inner: file,
                count: raw.clone(),
            };
            let decoder =
                flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 16, counted));
            let lines = Box::new(BufReader::with_capacity(1 << 18, decoder));
            return Ok(OpenRange {
                range,
                lines,
                pos: 0,
                first_line_pos: 0,
                lines_read: 0,
                lines_before: None,
                raw,
            });
        }
        let mut pos = 0;
        if range.start > 0 {
            file.seek(SeekFrom::Start(range.start - 1))
                .map_err(|e| format!("cannot seek in {path}: {e}"))?;
            pos = range.start - 1;
        }
        let counted = Counting {
            inner: file,
            count: raw.clone(),
        };
        let mut lines: Box<dyn BufRead + Send> =
            Box::new(BufReader::with_capacity(1 << 18, counted));
        if range.start > 0 {
            // Skip the rest of the line that the previous split reads.
            let mut skipped = Vec::new();
            pos += lines
                .read_until(b'\n', &mut skipped)
                .map_err(|e| format!("cannot read {path}: {e}"))? as u64;
        }
        Ok(OpenRange {
            range,
            lines,
            pos,
            first_line_pos: pos,
            lines_read: 0,
            lines_before: None,
            raw,
        })
    }

    /// The 1-based line number of the line just read, counting from the file's start
    /// (`None` if the file cannot be read again to count the lines before the range).
    fn line_number(&self, open: &mut OpenRange) -> Option<u64> {
        if open.first_line_pos == 0 {
            return Some(open.lines_read + 1);
        }
        if let Some(before) = open.lines_before {
            return Some(before + open.lines_read + 1);
        }
        let before = File::open(&self.files[open.range.file].path).and_then(|f| {
            let mut count = 0u64;
            let mut reader = BufReader::new(f.take(open.first_line_pos));
            loop {
                let chunk = reader.fill_buf()?;
                if chunk.is_empty() {
                    break;
                }
                count += chunk.iter().filter(|b| **b == b'\n').count() as u64;
                let n = chunk.len();
                reader.consume(n);
            }
            Ok(count)
        });
        open.lines_before = before.ok();
        open.lines_before.map(|n| n + open.lines_read + 1)
    }
}

impl<D: LineDecoder> SourceReader<D::Output> for TextReader<D> {
    fn read_batch(
        &mut self,
        max: usize,
        out: &mut Vec<TimestampedValue<D::Output>>,
    ) -> Result<bool, BoxError> {
        let target = out.len() + max.max(1);
        while out.len() < target {
            let mut open = match self.open.take() {
                Some(o) => o,
                None => match self.pending.pop_front() {
                    Some(r) => self.open(r)?,
                    None => return Ok(false),
                },
            };
            let past_end = open.range.end.is_some_and(|end| open.pos >= end);
            self.buf.clear();
            let read = if past_end {
                LineRead::default()
            } else {
                match read_line_bounded(&mut *open.lines, &mut self.buf, self.max_line_bytes) {
                    Ok(read) => read,
                    Err(e) => {
                        let path = self.path(open.range.file);
                        return Err(match self.line_number(&mut open) {
                            Some(line) => format!("cannot read {path} at line {line}: {e}"),
                            None => format!("cannot read {path}: {e}"),
                        }
                        .into());
                    }
                }
            };
            let n = read.consumed;
            if n == 0 {
                self.consumed_before += open.raw.load(Ordering::Relaxed);
                continue;
            }
            // A byte-order mark opens the file; it is not part of the first line.
            let bom = open.pos == 0 && self.buf.starts_with(UTF8_BOM);
            open.pos += n as u64;
            if bom {
                self.buf.drain(..UTF8_BOM.len());
                if self.buf.is_empty() {
                    // A file that holds nothing but the mark has no line.
                    self.open = Some(open);
                    continue;
                }
            }
            // The line's length, without its `\n` (nor a byte-order mark).
            let length = n - usize::from(read.newline) - if bom { UTF8_BOM.len() } else { 0 };
            if self.buf.last() == Some(&b'\n') {
                self.buf.pop();
                if self.buf.last() == Some(&b'\r') {
                    self.buf.pop();
                }
            }
            let line = std::mem::replace(&mut self.buf, Vec::with_capacity(256));
            let decoded = if length > self.max_line_bytes {
                let mut kept = line;
                kept.truncate(OVERLONG_LINE_KEPT_BYTES.min(self.max_line_bytes));
                kept.shrink_to_fit();
                Err(LineError {
                    reason: format!(
                        "the line is {length} bytes long, over the limit of {} bytes: not \
                         read (its first {} bytes are kept here)",
                        self.max_line_bytes,
                        kept.len()
                    ),
                    line: kept,
                })
            } else {
                self.decoder.decode(line)
            };
            match decoded {
                Ok(v) => out.push(TimestampedValue::new(v, Timestamp::MIN)),
                Err(LineError { reason, line }) => {
                    let dead = TextDeadLetter {
                        file: self.path(open.range.file),
                        line_number: self.line_number(&mut open),
                        reason,
                        bytes: line,
                    };
                    let message = dead.to_string();
                    match self.decoder.reject(dead) {
                        Some(v) => out.push(TimestampedValue::new(v, Timestamp::MIN)),
                        None => return Err(message.into()),
                    }
                }
            }
            open.lines_read += 1;
            self.open = Some(open);
        }
        Ok(true)
    }

    fn consumed_bytes(&self) -> Option<u64> {
        Some(
            self.consumed_before
                + self
                    .open
                    .as_ref()
                    .map_or(0, |o| o.raw.load(Ordering::Relaxed)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp_file(name: &str, content: &[u8]) -> FileMeta {
        let dir = std::env::temp_dir().join(format!("sluice-text-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let mut f = File::create(&path).unwrap();
        f.write_all(content).unwrap();
        FileMeta {
            size: content.len() as u64,
            gzip: name.ends_with(".gz"),
            path,
        }
    }

    fn read_all<D: LineDecoder>(s: &TextSource<D>) -> Result<Vec<D::Output>, BoxError> {
        let mut r = s.reader()?;
        let mut out = Vec::new();
        while r.read_batch(7, &mut out)? {}
        Ok(out.into_iter().map(|t| t.value).collect())
    }

    #[test]
    fn byte_range_splits_read_every_line_exactly_once() {
        let mut content = String::new();
        for i in 0..200_000 {
            content.push_str(&format!("line {i}{}\n", if i % 3 == 0 { "\r" } else { "" }));
        }
        content.push_str("last line without newline");
        let f = temp_file("split.txt", content.as_bytes());
        let src = TextSource::new(vec![f], Utf8Lines { lossy: false });
        let splits = src.split(4).unwrap();
        assert!(splits.len() >= 2, "a 2.6 MB file splits");
        let mut lines: Vec<String> = splits.iter().flat_map(|s| read_all(s).unwrap()).collect();
        assert_eq!(lines.len(), 200_001);
        assert_eq!(lines.pop().unwrap(), "last line without newline");
        for (i, l) in lines.iter().enumerate() {
            assert_eq!(l, &format!("line {i}"));
        }
    }

    #[test]
    fn gzip_is_read_whole_and_invalid_utf8_names_file_and_line() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"a\nb\n").unwrap();
        let f = temp_file("two.txt.gz", &gz.finish().unwrap());
        assert_eq!(
            read_all(&TextSource::new(vec![f], Utf8Lines { lossy: false })).unwrap(),
            vec!["a", "b"]
        );

        let mut content = Vec::new();
        for _ in 0..250_000 {
            content.extend_from_slice(b"fine line\n");
        }
        content.extend_from_slice(b"bad \xff byte\n");
        let f = temp_file("bad.txt", &content);
        let src = TextSource::new(vec![f.clone()], Utf8Lines { lossy: false });
        let err = src
            .split(2)
            .unwrap()
            .iter()
            .map(read_all)
            .find_map(Result::err)
            .unwrap()
            .to_string();
        assert_eq!(
            err,
            format!(
                "{}, line 250001: invalid UTF-8 at byte 4 of the line",
                f.path.display()
            )
        );
        let lossy = read_all(&TextSource::new(vec![f], Utf8Lines { lossy: true })).unwrap();
        assert_eq!(lossy.last().unwrap(), "bad \u{fffd} byte");
    }

    #[test]
    fn a_line_over_the_limit_is_a_dead_letter_with_its_length_and_reading_goes_on() {
        let long = "x".repeat(5_000);
        let content = format!("first\n{long}\r\n{}\nlast{long}", "y".repeat(100));
        let f = temp_file("long.txt", content.as_bytes());
        let src = TextSource::new(vec![f.clone()], OrDeadLetter(Utf8Lines { lossy: false }))
            .with_max_line_bytes(100);
        let items = read_all(&src).unwrap();
        assert_eq!(items.len(), 4);
        assert_eq!(items[0], Ok("first".to_string()));
        // A line of exactly the limit is read.
        assert_eq!(items[2], Ok("y".repeat(100)));
        for (i, line_number, length) in [(1, 2, 5_001), (3, 4, 5_004)] {
            let Err(dead) = &items[i] else {
                panic!("line {line_number} is over the limit: {:?}", items[i])
            };
            assert_eq!(dead.line_number, Some(line_number));
            assert!(
                dead.reason.contains(&format!(
                    "the line is {length} bytes long, over the limit of 100 bytes"
                )),
                "{}",
                dead.reason
            );
            assert_eq!(dead.bytes.len(), 100);
        }
        // Without dead letters, the read fails naming file, line and length.
        let strict =
            TextSource::new(vec![f.clone()], Utf8Lines { lossy: false }).with_max_line_bytes(100);
        let err = read_all(&strict).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}, line 2: the line is 5001 bytes long, over the limit of 100 bytes: not read \
                 (its first 100 bytes are kept here)",
                f.path.display()
            )
        );
    }
}
