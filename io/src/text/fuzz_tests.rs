//! Fuzzing the text reader with arbitrary bytes: plain and gzip files, UTF-8 and JSON lines.
//!
//! Each input either decodes to what a small model of the format says, or fails with an error
//! that names the file and the line. The number of cases follows proptest's `PROPTEST_CASES`
//! (256 by default); `scripts/soak` runs more.

use super::source::UTF8_BOM;
use super::{FileMeta, JsonLines, OrDeadLetter, TextDeadLetter, TextSource, Utf8Lines};
use proptest::prelude::*;
use sluice_sdk::error::BoxError;
use sluice_sdk::source::BoundedSource;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh file holding `content` (named `.gz` when `gzip`).
fn file(content: &[u8], gzip: bool) -> FileMeta {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!("sluice-text-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path: PathBuf = dir.join(format!("case-{n}.txt{}", if gzip { ".gz" } else { "" }));
    std::fs::write(&path, content).unwrap();
    FileMeta {
        size: content.len() as u64,
        gzip,
        path,
    }
}

fn gzipped(content: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(content).unwrap();
    gz.finish().unwrap()
}

/// Reads the whole source in batches of `batch` lines.
fn read_all<D: super::LineDecoder>(
    source: &TextSource<D>,
    batch: usize,
) -> Result<Vec<D::Output>, BoxError> {
    let mut reader = source.reader()?;
    let mut out = Vec::new();
    while reader.read_batch(batch, &mut out)? {}
    Ok(out.into_iter().map(|t| t.value).collect())
}

/// The model: a leading byte-order mark dropped, lines cut at `\n`, a `\r` before the `\n`
/// dropped, no line after a final `\n`.
fn model_lines(content: &[u8]) -> Vec<Vec<u8>> {
    let content = content.strip_prefix(UTF8_BOM).unwrap_or(content);
    let mut lines = Vec::new();
    let mut rest = content;
    while !rest.is_empty() {
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let line = &rest[..i];
                lines.push(line.strip_suffix(b"\r").unwrap_or(line).to_vec());
                rest = &rest[i + 1..];
            }
            None => {
                lines.push(rest.to_vec());
                rest = &[];
            }
        }
    }
    lines
}

/// Bytes that look like text files: pieces of lines, line endings, byte-order marks, bytes
/// that are not UTF-8, and arbitrary bytes.
fn text_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => "[a-z0-9 ,.{}\\[\\]\":é€]{0,12}".prop_map(String::into_bytes),
        2 => Just(b"\n".to_vec()),
        1 => Just(b"\r\n".to_vec()),
        1 => Just(b"\r".to_vec()),
        1 => Just(UTF8_BOM.to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..6),
    ];
    prop_oneof![
        3 => prop::collection::vec(piece, 0..40).prop_map(|p| p.concat()),
        1 => prop::collection::vec(any::<u8>(), 0..300),
    ]
}

/// A line of JSON lines: a document, or something that is not one.
fn json_line() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-z\"\\\\é]{0,6}".prop_map(serde_json::Value::from),
    ];
    let value = leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z]{1,3}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    prop_oneof![
        3 => value.prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => "[\\[\\]{}\":,0-9a-z ]{0,20}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>().prop_filter("one line", |b| *b != b'\n'), 0..20),
        1 => Just(b"[".repeat(300)),
    ]
}

/// What a read with dead letters must give for `content`: each line decoded, or a dead
/// letter naming the file and the line.
fn expected_with_dead_letters<T>(
    content: &[u8],
    path: &str,
    decode: impl Fn(&[u8]) -> Result<T, String>,
) -> Vec<Result<T, TextDeadLetter>> {
    model_lines(content)
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            decode(&line).map_err(|reason| TextDeadLetter {
                file: path.to_string(),
                line_number: Some(i as u64 + 1),
                reason,
                bytes: line,
            })
        })
        .collect()
}

fn utf8(line: &[u8]) -> Result<String, String> {
    String::from_utf8(line.to_vec()).map_err(|e| {
        format!(
            "invalid UTF-8 at byte {} of the line",
            e.utf8_error().valid_up_to()
        )
    })
}

proptest! {
    #[test]
    fn utf8_lines_decode_or_name_file_and_line(content in text_bytes(), batch in 1usize..9) {
        let f = file(&content, false);
        let path = f.path.display().to_string();
        let strict = read_all(&TextSource::new(vec![f.clone()], Utf8Lines { lossy: false }), batch);
        let expected = expected_with_dead_letters(&content, &path, utf8);
        match expected.iter().find_map(|r| r.as_ref().err()) {
            None => {
                let lines: Vec<String> = expected.into_iter().map(Result::unwrap).collect();
                prop_assert_eq!(strict.unwrap(), lines);
            }
            Some(first_bad) => {
                prop_assert_eq!(strict.unwrap_err().to_string(), first_bad.to_string());
            }
        }
        let dead_letters = OrDeadLetter(Utf8Lines { lossy: false });
        prop_assert_eq!(
            read_all(&TextSource::new(vec![f.clone()], dead_letters), batch).unwrap(),
            expected_with_dead_letters(&content, &path, utf8)
        );
        let lossy = read_all(&TextSource::new(vec![f], Utf8Lines { lossy: true }), batch).unwrap();
        let model: Vec<String> = model_lines(&content)
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        prop_assert_eq!(lossy, model);
    }

    #[test]
    fn gzip_files_read_as_their_contents(content in text_bytes(), batch in 1usize..9) {
        let plain = file(&content, false);
        let gz = file(&gzipped(&content), true);
        let decoder = OrDeadLetter(Utf8Lines { lossy: false });
        let from_gzip = read_all(&TextSource::new(vec![gz.clone()], decoder), batch).unwrap();
        let gz_path = gz.path.display().to_string();
        prop_assert_eq!(from_gzip, expected_with_dead_letters(&content, &gz_path, utf8));
        let lossy = Utf8Lines { lossy: true };
        prop_assert_eq!(
            read_all(&TextSource::new(vec![gz], lossy), batch).unwrap(),
            read_all(&TextSource::new(vec![plain], lossy), batch).unwrap()
        );
    }

    /// Damaged or foreign `.gz` files: a cut, a flipped byte, or bytes that were never gzip.
    #[test]
    fn damaged_gzip_fails_naming_file_and_line(
        content in text_bytes(),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        how in 0u8..3,
    ) {
        let mut bytes = gzipped(&content);
        match how {
            0 => bytes.truncate(cut.index(bytes.len())),
            1 => {
                let i = flip.index(bytes.len());
                bytes[i] ^= 0x5a;
            }
            _ => bytes = content.clone(),
        }
        let f = file(&bytes, true);
        let path = f.path.display().to_string();
        let never_gzip = how == 2 && !content.is_empty() && !content.starts_with(&[0x1f, 0x8b]);
        match read_all(&TextSource::new(vec![f], Utf8Lines { lossy: true }), 4) {
            // Damage that leaves valid gzip (the trailer's bytes, an empty stream) may read.
            Ok(_) => prop_assert!(!never_gzip, "bytes that are not gzip read as gzip"),
            Err(e) => {
                let e = e.to_string();
                prop_assert!(e.starts_with(&format!("cannot read {path} at line ")), "{}", e);
            }
        }
    }

    #[test]
    fn json_lines_decode_or_name_file_and_line(
        lines in prop::collection::vec(json_line(), 0..12),
        batch in 1usize..9,
    ) {
        let content = lines.join(&b"\n"[..]);
        let f = file(&content, false);
        let path = f.path.display().to_string();
        let decoder = OrDeadLetter(JsonLines::<serde_json::Value>::new());
        let read = read_all(&TextSource::new(vec![f], decoder), batch).unwrap();
        let expected = expected_with_dead_letters(&content, &path, |line| {
            serde_json::from_slice::<serde_json::Value>(line)
                .map_err(|e| format!("invalid JSON: {e}"))
        });
        prop_assert_eq!(read, expected);
    }
}
