//! Runs every transcript in `tests/transcripts/` through the transcript runner.

use sluice_tests::transcript::{Outcome, run_text};

#[test]
fn every_transcript_passes() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/transcripts");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("the transcripts directory")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let (mut passed, mut caught, mut failures) = (0, 0, Vec::new());
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a readable transcript");
        for r in run_text(&text, &file.display().to_string()) {
            match r.outcome {
                Outcome::Pass => passed += 1,
                Outcome::MismatchCaught => caught += 1,
                Outcome::Fail(reason) => failures.push(format!("{}: {reason}", r.name)),
            }
        }
    }
    println!(
        "transcripts: {passed} passed, {} failed; {caught} wrong on purpose, caught",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "failing transcripts:\n{}",
        failures.join("\n")
    );
    assert!(
        passed >= 50,
        "expected at least 50 passing transcripts, found {passed}"
    );
    assert!(
        caught >= 5,
        "the wrong-on-purpose transcripts must all be caught"
    );
}
