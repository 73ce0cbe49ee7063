//! # Sluice examples
//!
//! Runnable pipelines, each a binary under `src/bin/`:
//!
//! - `minimal_wordcount`: counts the words of a bundled text (`cargo run -p sluice-examples --bin minimal_wordcount`).
//!
//! The functions here are the pipelines' building blocks, shared by the binaries and tested
//! beside them.

/// The sample text bundled with the examples (an excerpt of King Lear, public domain).
pub const SAMPLE_TEXT: &str = include_str!("../data/kinglear.txt");

/// Splits a line into words: maximal runs of Unicode letters (and apostrophes inside words
/// are separators, as in Beam's `[^\p{L}]+` tokenizer). Case is kept; empty tokens dropped.
pub fn words(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
}

/// Runs an example's body: logs through `tracing` (filtered by `RUST_LOG`) to stderr, and
/// turns an error into a one-line message (with its causes) and a failing exit code.
pub fn main_with(body: impl FnOnce() -> anyhow::Result<()>) -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match body() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_every_non_letter() {
        let w: Vec<&str> = words("Unburden'd crawl, toward-death 42 Über").collect();
        assert_eq!(w, vec!["Unburden", "d", "crawl", "toward", "death", "Über"]);
    }
}
