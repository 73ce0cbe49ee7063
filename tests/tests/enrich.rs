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
        assert_eq!(
            sluice_tests::sorted_lines(&format!("{out}-errors")).len(),
            bad,
            "{runner}: dead letters"
        );
        assert_eq!(
            result.metrics.counter("LoadTable", "malformed_table_lines"),
            Some(1),
            "{runner}"
        );
    }
}
