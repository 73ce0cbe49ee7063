//! The nexmark command line end to end: generated events, the same events dumped to a file
//! and read back, on every runner, give the same results; a line that is not an event goes to
//! the errors output with its file and line.

use sluice_examples::nexmark_cli::run_command_line;
use sluice_runners::runner_names;

/// Runs the command line `args`.
fn nexmark(args: &[&str]) {
    let mut line = vec!["nexmark"];
    line.extend_from_slice(args);
    line.push("--quiet");
    run_command_line(line).unwrap_or_else(|e| panic!("nexmark {args:?}: {e:#}"));
}

const EVENTS: &str = "30000";

#[test]
fn generated_and_dumped_events_give_the_same_results_on_every_runner() {
    let dir = sluice_tests::temp_dir("nexmark-e2e");
    let events = dir.join("events.json");
    let events = events.to_str().unwrap();
    nexmark(&[
        "--dump-events",
        events,
        "--events",
        EVENTS,
        "--rate",
        "1000",
    ]);
    assert_eq!(
        std::fs::read_to_string(events).unwrap().lines().count(),
        30_000
    );
    for query in ["3", "5", "8", "11"] {
        let reference = dir.join(format!("q{query}-generated"));
        let reference = reference.to_str().unwrap();
        nexmark(&[
            "--query", query, "--events", EVENTS, "--rate", "1000", "--output", reference,
            "--runner", "rayon",
        ]);
        let expected = sluice_tests::sorted_lines(&format!("{reference}-0*"));
        assert!(expected.len() > 5, "q{query}: {} lines", expected.len());
        for runner in runner_names() {
            let out = dir.join(format!("q{query}-{runner}"));
            let out = out.to_str().unwrap();
            nexmark(&[
                "--query", query, "--input", events, "--output", out, "--runner", runner,
            ]);
            assert_eq!(
                sluice_tests::sorted_lines(&format!("{out}-0*")),
                expected,
                "q{query} on {runner} from the file"
            );
            assert!(sluice_tests::sorted_lines(&format!("{out}-errors-*")).is_empty());
        }
    }
}

#[test]
fn a_line_that_is_no_event_goes_to_the_errors_with_its_file_and_line() {
    let dir = sluice_tests::temp_dir("nexmark-errors");
    let events = dir.join("events.json");
    let path = events.to_str().unwrap();
    nexmark(&["--dump-events", path, "--events", "500"]);
    let mut text = std::fs::read_to_string(&events).unwrap();
    text.push_str("{\"event_type\":2,\"bid\":{\"auction\":\"x\"}}\n");
    std::fs::write(&events, text).unwrap();
    let out = dir.join("q1");
    let out = out.to_str().unwrap();
    nexmark(&["--query", "1", "--input", path, "--output", out]);
    let bids = sluice_tests::sorted_lines(&format!("{out}-0*"));
    assert!(bids.len() > 400, "{} bids", bids.len());
    let errors = sluice_tests::sorted_lines(&format!("{out}-errors-*"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("events.json, line 501"), "{}", errors[0]);
}

#[test]
fn an_unknown_query_is_refused_naming_the_ones_there_are() {
    let err = run_command_line([
        "nexmark", "--query", "6", "--events", "10", "--output", "/tmp/q6",
    ])
    .expect_err("query 6 is not implemented");
    let text = format!("{err:#}");
    assert!(text.contains("query 6 is not implemented"), "{text}");
    assert!(text.contains("[0, 1, 2, 3, 4, 5, 7, 8, 11, 12]"), "{text}");
}

#[test]
fn streamed_events_give_what_the_same_events_give_in_batch() {
    let dir = sluice_tests::temp_dir("nexmark-streaming");
    for query in ["4", "5", "11"] {
        let batch = dir.join(format!("q{query}-batch"));
        let batch = batch.to_str().unwrap();
        nexmark(&[
            "--query", query, "--events", EVENTS, "--rate", "1000", "--output", batch,
        ]);
        let expected = sluice_tests::sorted_lines(&format!("{batch}-0*"));
        assert!(!expected.is_empty(), "q{query}");
        for runner in ["direct", "timely"] {
            let out = dir.join(format!("q{query}-{runner}"));
            let out = out.to_str().unwrap();
            let (events, rate) = (EVENTS, "1000");
            nexmark(&[
                "--query",
                query,
                "--events",
                events,
                "--rate",
                rate,
                "--streaming",
                "--output",
                out,
                "--runner",
                runner,
            ]);
            // A file per window and pane, beside the errors' files and the manifest.
            let mut got: Vec<String> = sluice_io::text::match_files(&format!("{out}-*"))
                .unwrap()
                .iter()
                .filter(|f| !f.path.to_string_lossy().contains("-errors"))
                .flat_map(|f| {
                    let text = std::fs::read_to_string(&f.path).unwrap();
                    text.lines().map(String::from).collect::<Vec<_>>()
                })
                .collect();
            got.sort();
            assert_eq!(got, expected, "q{query} streamed on {runner}");
        }
    }
}
