//! The example jobs over Kafka: the same results from files and from a topic, on every
//! runner; streaming WordCount's early, on-time and late panes.

use super::options;
use super::watermarks::kafka_now;
use sluice_examples::windowed_stats::{InputOptions, WindowSpec, build, build_with};
use sluice_io::kafka;
use sluice_runners::{run, start};
use sluice_sdk::prelude::*;
use sluice_tests::kafka::{TestRecord, broker, load_events, produce, topic_lines, unique_topic};
use sluice_tests::wait_for;
use std::time::Duration as StdDuration;

#[test]
fn files_and_kafka_give_the_same_windowed_stats_on_every_runner() {
    let bootstrap = broker();
    let (lines, _, bad) = sluice_tests::sample_events();
    let dir = sluice_tests::temp_dir("kafka-vs-files");
    let file = dir.join("events.csv");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let window = WindowSpec::Fixed(Duration::from_secs(60));

    // The reference: rayon over the file.
    let p = Pipeline::new();
    let from_files = dir.join("files/stats");
    build(
        &p,
        &file.display().to_string(),
        &from_files.display().to_string(),
        &window,
        Duration::ZERO,
    );
    run(&p, &options("rayon")).unwrap();
    let expected = sluice_tests::sorted_lines(&format!("{}-0*", from_files.display()));
    assert!(expected.len() > 50, "{} result lines", expected.len());

    let topic = unique_topic("events");
    load_events(&bootstrap, &topic, 4, &lines);
    let input = format!("kafka://{bootstrap}/{topic}");
    let bounded = InputOptions {
        stop_at_end: true,
        max_delay: Duration::from_secs(30),
        ..InputOptions::default()
    };
    for runner in ["direct", "rayon", "timely"] {
        let out = dir.join(format!("kafka-{runner}/stats"));
        let p = Pipeline::new();
        build_with(
            &p,
            &input,
            &out.display().to_string(),
            &window,
            Duration::ZERO,
            &bounded,
        );
        let result = run(&p, &options(runner)).unwrap();
        assert_eq!(result.state, PipelineState::Done);
        let got = sluice_tests::sorted_lines(&format!("{}-0*", out.display()));
        assert_eq!(got, expected, "{runner} over bounded Kafka");
        let errors = sluice_tests::sorted_lines(&format!("{}-errors-*", out.display()));
        assert_eq!(errors.len(), bad, "{runner}: dead letters");
    }

    // The topic's 4 partitions read by a cluster of 2 processes (timely, --processes 2),
    // each partition by one worker of the cluster.
    let out = dir.join("kafka-cluster/stats");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_stats_job"))
        .args(["--input", &input, "--output", &out.display().to_string()])
        .args([
            "--window",
            "fixed:60s",
            "--kafka-stop-at-end",
            "--kafka-max-delay",
            "30s",
        ])
        .args(["--runner", "timely", "--processes", "2", "--workers", "1"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "two processes over the topic: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let got = sluice_tests::sorted_lines(&format!("{}-0*", out.display()));
    assert_eq!(got, expected, "two timely processes over bounded Kafka");

    // Unbounded, on the runners that read streams.
    for runner in ["direct", "timely"] {
        // Unbounded, into a topic: the results are complete once the watermark passes the last
        // window (the partitions go idle once caught up), then the run is cancelled.
        let out_topic = unique_topic("stats");
        kafka::create_topic(&bootstrap, &out_topic, 2).unwrap();
        let p = Pipeline::new();
        build_with(
            &p,
            &input,
            &format!("kafka://{bootstrap}/{out_topic}"),
            &window,
            Duration::ZERO,
            &InputOptions {
                stop_at_end: false,
                idle_timeout: Duration::from_secs(1),
                ..bounded.clone()
            },
        );
        let handle = start(&p, &options(runner)).unwrap();
        let mut found = 0;
        wait_for(
            "every result in the output topic",
            StdDuration::from_secs(90),
            || {
                found = topic_lines(&bootstrap, &out_topic).len();
                eprintln!(
                    "{found} of {} result lines in the output topic",
                    expected.len()
                );
                found >= expected.len()
            },
        );
        handle.cancel();
        let result = handle.wait().unwrap();
        assert_eq!(result.state, PipelineState::Cancelled, "{runner}");
        assert_eq!(topic_lines(&bootstrap, &out_topic), expected, "{runner}");
        let dead = topic_lines(&bootstrap, &format!("{out_topic}-errors"));
        assert_eq!(dead.len(), bad);
        assert!(dead.iter().all(|d| d.contains("\"reason\"")), "{dead:?}");
    }
}

#[test]
fn streaming_wordcount_fires_early_on_time_and_late_panes() {
    use sluice_examples::streaming_wordcount::{StreamingWordCount, build};
    let bootstrap = broker();
    let (input, output) = (unique_topic("lines"), unique_topic("counts"));
    kafka::create_topic(&bootstrap, &input, 2).unwrap();
    let p = Pipeline::new();
    build(
        &p,
        &StreamingWordCount {
            input: format!("kafka://{bootstrap}/{input}"),
            output: format!("kafka://{bootstrap}/{output}"),
            window: Duration::from_secs(10),
            early_every: Duration::from_secs(1),
            allowed_lateness: Duration::from_secs(3600),
            max_delay: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
        },
    );
    let handle = start(&p, &options("direct")).unwrap();
    // Two lines stamped in the middle of a window that is still open for several seconds.
    let now = kafka_now().as_millis();
    let window_start = (now / 10_000 + 1) * 10_000;
    let line = |text: &str, ts: i64| TestRecord {
        partition: Some(0),
        value: text.as_bytes().to_vec(),
        timestamp_ms: Some(ts),
        ..TestRecord::default()
    };
    produce(
        &bootstrap,
        &input,
        &[
            line("the cat", window_start + 1),
            line("the dog", window_start + 2),
        ],
    );
    let pane = |word: &str, count: u64, timing: &str| {
        format!(
            "{window_start},{},{word},{count},{timing}",
            window_start + 10_000
        )
    };
    let has = |l: &str| topic_lines(&bootstrap, &output).contains(&l.to_string());
    wait_for("an early pane", StdDuration::from_secs(90), || {
        has(&pane("the", 2, "EARLY"))
    });
    wait_for("the on-time pane", StdDuration::from_secs(90), || {
        has(&pane("the", 2, "ON_TIME"))
    });
    // A late record in the closed window: a late pane with the accumulated count.
    produce(&bootstrap, &input, &[line("the end", window_start + 3)]);
    wait_for("a late pane", StdDuration::from_secs(90), || {
        has(&pane("the", 3, "LATE"))
    });
    handle.cancel();
    handle.wait().unwrap();
    let got = topic_lines(&bootstrap, &output);
    assert!(got.contains(&pane("cat", 1, "ON_TIME")), "{got:?}");
    assert!(got.contains(&pane("end", 1, "LATE")), "{got:?}");
}

/// Nexmark's events dumped to a topic and read back (bounded) give what the generator gives.
#[test]
fn nexmark_reads_back_the_events_it_dumped_to_a_topic() {
    use sluice_examples::nexmark_cli::run_command_line;
    let bootstrap = broker();
    let topic = unique_topic("nexmark");
    let address = format!("kafka://{bootstrap}/{topic}");
    let dir = sluice_tests::temp_dir("nexmark-kafka");
    let run = |args: &[&str]| {
        let mut line = vec!["nexmark", "--quiet"];
        line.extend_from_slice(args);
        run_command_line(line).unwrap_or_else(|e| panic!("nexmark {args:?}: {e:#}"));
    };
    run(&[
        "--dump-events",
        &address,
        "--events",
        "3000",
        "--runner",
        "direct",
    ]);
    let generated = dir.join("generated");
    let generated = generated.to_str().unwrap();
    run(&["--query", "1", "--events", "3000", "--output", generated]);
    let expected = sluice_tests::sorted_lines(&format!("{generated}-0*"));
    assert!(expected.len() > 2500, "{} bids", expected.len());
    for runner in ["direct", "rayon"] {
        let out = dir.join(format!("from-kafka-{runner}"));
        let out = out.to_str().unwrap();
        run(&[
            "--query",
            "1",
            "--input",
            &address,
            "--kafka-stop-at-end",
            "--output",
            out,
            "--runner",
            runner,
        ]);
        assert_eq!(
            sluice_tests::sorted_lines(&format!("{out}-0*")),
            expected,
            "{runner}"
        );
    }
}
