//! Runs trigger transcripts: `cargo run -p sluice-tests --bin transcripts -- FILE.yaml...`
//!
//! Prints `PASS name`, `CAUGHT name` (a transcript wrong on purpose whose mismatch was
//! reported) or `FAIL name: reason` per transcript, then `N passed, M failed, K caught`, and
//! exits non-zero if any failed (or a file could not be read).

use sluice_tests::transcript::{Outcome, run_text};
use std::process::ExitCode;

fn main() -> ExitCode {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: transcripts FILE.yaml...");
        return ExitCode::from(2);
    }
    let (mut passed, mut failed, mut caught) = (0usize, 0usize, 0usize);
    for file in &files {
        let reports = match std::fs::read_to_string(file) {
            Ok(text) => run_text(&text, file),
            Err(e) => {
                println!("FAIL {file}: cannot read it: {e}");
                failed += 1;
                continue;
            }
        };
        for r in reports {
            match r.outcome {
                Outcome::Pass => {
                    println!("PASS {}", r.name);
                    passed += 1;
                }
                Outcome::MismatchCaught => {
                    println!("CAUGHT {}", r.name);
                    caught += 1;
                }
                Outcome::Fail(reason) => {
                    println!("FAIL {}: {reason}", r.name);
                    failed += 1;
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed, {caught} caught");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
