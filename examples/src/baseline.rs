//! The hand-written WordCount that benchmarks compare Sluice against: the same tokenizer, rayon
//! over byte ranges of the input, a hash map per task, merged at the end.

use crate::tokenize::words;
use rayon::prelude::*;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// Counts the words of a range `[start, end)` of a file: the lines that start in it.
fn count_range(path: &Path, start: u64, end: u64) -> std::io::Result<HashMap<String, u64>> {
    let mut file = std::fs::File::open(path)?;
    let mut pos = 0;
    if start > 0 {
        file.seek(SeekFrom::Start(start - 1))?;
        pos = start - 1;
    }
    let mut reader = BufReader::with_capacity(1 << 18, file.take(u64::MAX));
    let mut buf = Vec::with_capacity(256);
    if start > 0 {
        pos += reader.read_until(b'\n', &mut buf)? as u64;
    }
    let mut counts: HashMap<String, u64> = HashMap::new();
    while pos < end {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        pos += n as u64;
        let line = std::str::from_utf8(&buf)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        for w in words(line) {
            match counts.get_mut(w) {
                Some(c) => *c += 1,
                None => {
                    counts.insert(w.to_string(), 1);
                }
            }
        }
    }
    Ok(counts)
}

/// Counts the words of `path` on `threads` threads.
pub fn count_words(path: &Path, threads: usize) -> std::io::Result<HashMap<String, u64>> {
    let size = std::fs::metadata(path)?.len();
    let parts = (threads * 4).max(1) as u64;
    let step = size.div_ceil(parts).max(1);
    let ranges: Vec<(u64, u64)> = (0..parts)
        .map(|i| (i * step, ((i + 1) * step).min(size)))
        .filter(|(s, e)| s < e)
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(std::io::Error::other)?;
    pool.install(|| {
        ranges
            .par_iter()
            .map(|(s, e)| count_range(path, *s, *e))
            .try_reduce(HashMap::new, |mut a, b| {
                let (small, big) = if a.len() < b.len() {
                    (a, b)
                } else {
                    (b, std::mem::take(&mut a))
                };
                let mut big = big;
                for (w, c) in small {
                    *big.entry(w).or_default() += c;
                }
                Ok(big)
            })
    })
}
