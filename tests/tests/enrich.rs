//! enrich over files: every event gets its key's name from the reference table, on every
//! runner; malformed events go to the dead letters. (The refreshing table of a streaming run
//! is tested against Kafka, in `tests/kafka/enrich.rs`.)

use sluice_examples::enrich::build;
use sluice_examples::job_io::InputOptions;
use sluice_runners::{PipelineOptions, run};
use sluice_sdk::prelude::*;

#[test]
fn every_event_gets_its_name_on_every_runner() {
    let dir = sluice_tests::temp_dir("enrich-files");
    let (lines, events, bad) = sluice_tests::sample_events();
    std::fs::write(dir.join("events.csv"), lines.join("\n")).unwrap();
    // Names for k0..k4; k5 and k6 are not in the table; one table line is malformed.
    let table = dir.join("table.csv");
    let mut rows: Vec<String> = (0..5).map(|i| format!("k{i},name-{i}")).collect();
    rows.push("no comma here".into());
    std::fs::write(&table, rows.join("\n")).unwrap();
    let mut expected: Vec<String> = events
        .iter()
        .map(|(t, k, v)| {
            let n: usize = k[1..].parse().unwrap();
            let name = if n < 5 {
                format!("name-{n}")
            } else {
                "-".into()
            };
            format!("{t},{k},{v},{name}")
        })
        .collect();
    expected.sort();
    for runner in ["direct", "rayon"] {
        let out = dir.join(format!("{runner}/enriched")).display().to_string();
        let p = Pipeline::new();
        build(
            &p,
            &dir.join("events.csv").display().to_string(),
            &table.display().to_string(),
            &out,
            Duration::from_secs(10),
            &InputOptions::default(),
        );
        let result = run(&p, &PipelineOptions::for_runner(runner)).unwrap();
        assert_eq!(sluice_tests::sorted_lines(&out), expected, "{runner}");
        let errors = sluice_tests::sorted_lines(&format!("{out}-errors"));
        assert_eq!(errors.len(), bad + 1, "{runner}: dead letters");
        let table_line = format!("{}, line 6: expected key,name", table.display());
        assert_eq!(
            errors
                .iter()
                .filter(|e| e.contains(&table_line) && e.contains("no comma here"))
                .count(),
            1,
            "{runner}: the malformed table line, with its file and line: {errors:?}"
        );
        assert_eq!(
            result.metrics.counter("LoadTable", "malformed_table_lines"),
            Some(1),
            "{runner}"
        );
    }
}

/// The enrich binary on a small event file with `table` as its reference table.
fn enrich_job(dir: &std::path::Path, table: &std::path::Path) -> (bool, String, String) {
    let events = dir.join("events.csv");
    std::fs::write(&events, "1000,k1,5\n2000,k2,7\n").unwrap();
    let out = dir.join("out/enriched");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_enrich_job"))
        .args(["--input", events.to_str().unwrap()])
        .args(["--table", table.to_str().unwrap()])
        .args(["--output", out.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        run.status.success(),
        String::from_utf8_lossy(&run.stderr).into_owned(),
        out.display().to_string(),
    )
}

#[test]
fn an_unusable_table_is_an_error_naming_it_and_why() {
    let dir = sluice_tests::temp_dir("enrich-bad-table");
    let missing = dir.join("missing.csv");
    let binary = dir.join("binary.csv");
    std::fs::write(&binary, b"k1,\xff\xfe\x00\x01\n").unwrap();
    let unreadable = dir.join("a-directory.csv");
    std::fs::create_dir_all(&unreadable).unwrap();
    for (table, why) in [
        (&missing, "No such file or directory"),
        (&binary, "valid UTF-8"),
        (&unreadable, "Is a directory"),
    ] {
        let (ok, stderr, _) = enrich_job(&dir, table);
        assert!(!ok, "{}: {stderr}", table.display());
        let named = format!("the reference table {} cannot be read", table.display());
        assert!(
            stderr.contains(&named) && stderr.contains(why),
            "{}: {stderr}",
            table.display()
        );
        assert!(!stderr.contains("singleton view is empty"), "{stderr}");
    }
}

#[test]
fn a_name_holding_a_comma_is_quoted_as_rfc_4180_says() {
    let dir = sluice_tests::temp_dir("enrich-comma");
    let table = dir.join("table.csv");
    std::fs::write(&table, "k1,One\nk2,Two,Extra\n").unwrap();
    let (ok, stderr, out) = enrich_job(&dir, &table);
    assert!(ok, "{stderr}");
    assert_eq!(
        sluice_tests::sorted_lines(&out),
        vec!["1000,k1,5,One", "2000,k2,7,\"Two,Extra\""]
    );
}
