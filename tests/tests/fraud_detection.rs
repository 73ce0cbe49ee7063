//! fraud_detection end to end: generated out-of-order transactions with malformed lines give
//! the same alerts on every runner, equal to a plain model of the rule; the command line is
//! the contract (`--input GLOB --output PREFIX [--runner ...]`).

use sluice_examples::transactions::generate;
use std::process::Command;

/// How many transactions the end-to-end runs generate (`SLUICE_FRAUD_TRANSACTIONS`).
fn transaction_count() -> usize {
    std::env::var("SLUICE_FRAUD_TRANSACTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// Writes the lines over `files` files in `dir`; returns the glob that reads them.
fn write_input(dir: &std::path::Path, lines: &[String], files: usize) -> String {
    let per_file = lines.len().div_ceil(files);
    for (i, chunk) in lines.chunks(per_file).enumerate() {
        std::fs::write(dir.join(format!("tx-{i}.csv")), chunk.join("\n") + "\n").unwrap();
    }
    format!("{}/tx-*.csv", dir.display())
}

fn run_job(input: &str, output: &str, runner: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_fraud_job"))
        .args(["--input", input, "--output", output, "--runner", runner])
        .output()
        .expect("the job starts");
    assert!(
        out.status.success(),
        "{runner} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn same_alerts_on_every_runner_as_the_model() {
    let dir = sluice_tests::temp_dir("fraud-files");
    let generated = generate(transaction_count(), 20_000, 30_000, 7);
    let input = write_input(&dir, &generated.lines, 4);
    let expected = sluice_tests::fraud_model(&generated.transactions);
    assert!(
        expected.len() > 100,
        "the data raises alerts: {}",
        expected.len()
    );
    for runner in ["direct", "rayon"] {
        let prefix = format!("{}/alerts-{runner}", dir.display());
        run_job(&input, &prefix, runner);
        let alerts = sluice_tests::sorted_lines(&prefix);
        assert_eq!(alerts.len(), expected.len(), "{runner}: alert count");
        assert_eq!(alerts, expected, "{runner}: alerts");
        let errors = sluice_tests::sorted_lines(&format!("{prefix}-errors"));
        assert_eq!(errors.len(), generated.malformed, "{runner}: dead letters");
        assert!(errors.iter().all(|e| e.contains("\"reason\"")));
    }
}

#[test]
fn the_order_of_arrival_does_not_change_the_alerts() {
    // The same transactions, reversed: each account's are taken in event-time order anyway.
    let dir = sluice_tests::temp_dir("fraud-reversed");
    let generated = generate(20_000, 300, 30_000, 11);
    let mut lines = generated.lines.clone();
    lines.reverse();
    let input = write_input(&dir, &lines, 1);
    let prefix = format!("{}/alerts", dir.display());
    run_job(&input, &prefix, "direct");
    assert_eq!(
        sluice_tests::sorted_lines(&prefix),
        sluice_tests::fraud_model(&generated.transactions)
    );
}
