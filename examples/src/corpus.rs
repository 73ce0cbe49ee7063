//! A deterministic synthetic corpus for benchmarks: Zipf-distributed words over a fixed
//! vocabulary, as natural text is.

use std::io::Write;
use std::path::Path;

/// A small, fast, seedable generator (SplitMix64).
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// A uniform number in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// A uniform number in `[0, n)`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// `size` distinct words: letters only, mostly ASCII, some with accented letters.
pub fn vocabulary(size: usize, seed: u64) -> Vec<String> {
    const ASCII: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
    const ACCENTED: &[char] = &['é', 'ß', 'ñ', 'ø', 'ü', 'ç', 'ł', 'å'];
    let mut rng = SplitMix::new(seed);
    let mut seen = std::collections::HashSet::with_capacity(size);
    let mut words = Vec::with_capacity(size);
    while words.len() < size {
        let len = 2 + rng.below(9) as usize;
        let mut w = String::with_capacity(len + 2);
        for _ in 0..len {
            if rng.below(40) == 0 {
                w.push(ACCENTED[rng.below(ACCENTED.len() as u64) as usize]);
            } else {
                w.push(ASCII[rng.below(26) as usize] as char);
            }
        }
        if rng.below(10) == 0 {
            // Capitalized variants are distinct words (case is kept).
            let mut chars = w.chars();
            w = chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or(w);
        }
        if seen.insert(w.clone()) {
            words.push(w);
        }
    }
    words
}

/// Samples ranks from a Zipf distribution (exponent `s`) over `n` ranks.
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    /// The distribution over ranks `0..n`, rank `r` having weight `1 / (r + 1)^s`.
    pub fn new(n: usize, s: f64) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for r in 0..n {
            total += 1.0 / ((r + 1) as f64).powf(s);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        Zipf { cdf }
    }
    /// One rank.
    pub fn sample(&self, rng: &mut SplitMix) -> usize {
        let u = rng.next_f64();
        self.cdf.partition_point(|c| *c < u).min(self.cdf.len() - 1)
    }
}

/// Writes about `bytes` bytes of text to `path`: lines of 6–17 Zipf-distributed words over a
/// 50 000-word vocabulary, with some punctuation and numbers between them.
pub fn write_corpus(path: &Path, bytes: u64, seed: u64) -> std::io::Result<()> {
    let vocab = vocabulary(50_000, seed);
    let zipf = Zipf::new(vocab.len(), 1.0);
    let mut rng = SplitMix::new(seed ^ 0x5eed);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("partial");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
    let mut written = 0u64;
    let mut line = String::with_capacity(256);
    while written < bytes {
        line.clear();
        let n = 6 + rng.below(12);
        for i in 0..n {
            if i > 0 {
                line.push_str(match rng.below(20) {
                    0 => ", ",
                    1 => ". ",
                    2 => " - ",
                    _ => " ",
                });
            }
            if rng.below(50) == 0 {
                line.push_str(&rng.below(10_000).to_string());
                line.push(' ');
            }
            line.push_str(&vocab[zipf.sample(&mut rng)]);
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
        written += line.len() as u64;
    }
    out.flush()?;
    drop(out);
    std::fs::rename(tmp, path)
}

/// Writes a corpus of `count` distinct words, each once: lowercase words of seven letters,
/// ten to a line, in a scrambled order. It stresses what a count per key costs per key (the
/// Zipf corpus of [`write_corpus`] has few keys).
pub fn write_distinct_corpus(path: &Path, count: u64) -> std::io::Result<()> {
    // i -> i * STEP mod 26^7 is a bijection (STEP is prime to 2 and 13): distinct i give
    // distinct words, in an order unrelated to i.
    const SPACE: u64 = 26u64.pow(7);
    const STEP: u64 = 2_654_435_761;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("partial");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
    let mut word = [0u8; 8];
    for i in 0..count {
        let mut n = (i as u128 * STEP as u128 % SPACE as u128) as u64;
        for letter in word[..7].iter_mut().rev() {
            *letter = b'a' + (n % 26) as u8;
            n /= 26;
        }
        word[7] = if i % 10 == 9 || i + 1 == count {
            b'\n'
        } else {
            b' '
        };
        out.write_all(&word)?;
    }
    out.flush()?;
    drop(out);
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_is_distinct_letters_and_zipf_favours_low_ranks() {
        let v = vocabulary(1000, 7);
        assert_eq!(v.len(), 1000);
        assert!(v.iter().all(|w| w.chars().all(crate::tokenize::is_letter)));
        let z = Zipf::new(1000, 1.0);
        let mut rng = SplitMix::new(1);
        let draws: Vec<usize> = (0..10_000).map(|_| z.sample(&mut rng)).collect();
        let rank0 = draws.iter().filter(|r| **r == 0).count();
        let rank500 = draws.iter().filter(|r| **r == 500).count();
        // Rank 0 has about 13% of the mass over 1000 ranks; rank 500 about 0.03%.
        assert!(rank0 > 1000 && rank500 < 20, "{rank0} {rank500}");
    }
}
