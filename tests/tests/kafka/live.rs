//! Live metrics of a running streaming job: `windowed_stats` reads a topic with
//! `--metrics-addr`, and its Prometheus output, parsed, agrees with what was produced.

use super::watermarks::kafka_now;
use sluice_io::kafka;
use sluice_tests::kafka::{
    TestRecord, broker, load_events, produce, stats_job_command, unique_topic,
};
use sluice_tests::live::{Sample, http_get, parse_prometheus, sample};
use std::time::{Duration as StdDuration, Instant};

/// Scrapes `addr` until the samples satisfy `done` (at most 90 s); returns them. Fails with
/// the last answer.
fn scrape_until(addr: &str, what: &str, done: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
    let deadline = Instant::now() + StdDuration::from_secs(90);
    let mut last = String::from("(no answer)");
    while Instant::now() < deadline {
        match http_get(addr, "/metrics") {
            Ok((status, body)) => {
                assert_eq!(status, 200, "{body}");
                assert!(body.ends_with("# EOF\n"), "{body}");
                let samples = parse_prometheus(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
                if done(&samples) {
                    return samples;
                }
                last = body;
            }
            Err(e) => last = format!("(no answer: {e})"),
        }
        std::thread::sleep(StdDuration::from_millis(200));
    }
    panic!("timed out waiting for {what}; the last answer:\n{last}")
}

#[test]
fn the_prometheus_metrics_of_a_running_job_count_what_it_read() {
    let bootstrap = broker();
    let (input, output) = (unique_topic("live-in"), unique_topic("live-out"));
    kafka::create_topic(&bootstrap, &output, 1).unwrap();
    let now = kafka_now().as_millis();
    let (good, bad) = (600u64, 7u64);
    let lines: Vec<String> = (0..good as i64)
        .map(|i| format!("{},k{},{}", now - 60_000 + i * 50, i % 5, i))
        .collect();
    load_events(&bootstrap, &input, 2, &lines);
    let malformed: Vec<TestRecord> = (0..bad)
        .map(|i| TestRecord {
            value: format!("not an event {i}").into_bytes(),
            timestamp_ms: Some(now),
            partition: Some((i % 2) as i32),
            ..TestRecord::default()
        })
        .collect();
    produce(&bootstrap, &input, &malformed);

    let addr = sluice_tests::fresh_loopback_hosts(1).remove(0);
    let job = sluice_tests::Job::spawn(
        stats_job_command(
            env!("CARGO_BIN_EXE_stats_job"),
            &bootstrap,
            &input,
            &output,
            "fixed:10s",
        )
        .args(["--kafka-idle-timeout", "1s", "--metrics-addr", &addr]),
    );
    let total = (good + bad) as f64;
    let mut last = scrape_until(&addr, "every record counted", |s| {
        sample(
            s,
            "sluice_source_records_total",
            "transform",
            "ReadKafka/Read",
        ) == Some(total)
    });
    let of =
        |last: &[Sample], name: &str, transform: &str| sample(last, name, "transform", transform);
    assert_eq!(
        of(&last, "sluice_elements_in_total", "ParseEvents"),
        Some(total)
    );
    // Every line leaves ParseEvents: as an event or as a dead letter.
    assert_eq!(
        of(&last, "sluice_elements_out_total", "ParseEvents"),
        Some(total)
    );
    assert!(of(&last, "sluice_bytes_out_total", "ReadKafka/Read").unwrap() > total * 10.0);
    last = scrape_until(
        &addr,
        "the malformed lines counted, and watermarks",
        |last| {
            last.iter().any(|s| {
                s.name == "sluice_user_counter"
                    && s.labels["name"] == "malformed_lines"
                    && s.value == bad as f64
            }) && of(last, "sluice_watermark_lag_seconds", "ReadKafka/Read").is_some()
                && of(last, "sluice_watermark_seconds", "Stats").is_some()
        },
    );
    // The source's watermark trails the clock; the grouping reports its state.
    let lag = of(&last, "sluice_watermark_lag_seconds", "ReadKafka/Read").expect("a source lag");
    assert!((0.0..3_600.0).contains(&lag), "{lag}");
    assert!(of(&last, "sluice_watermark_seconds", "Stats").is_some());
    assert!(of(&last, "sluice_open_windows", "Stats").is_some());
    assert!(of(&last, "sluice_state_bytes", "Stats").is_some());
    // KafkaIO's own gauges: each partition's consumer lag (records behind its end), reported
    // with the bundles read after the read first measured it — a few more records bring them.
    let more: Vec<TestRecord> = (0..4)
        .map(|i| TestRecord {
            value: format!("{now},k{i},1").into_bytes(),
            timestamp_ms: Some(now),
            partition: Some(i % 2),
            ..TestRecord::default()
        })
        .collect();
    produce(&bootstrap, &input, &more);
    let lags: Vec<String> = (0..2).map(|p| format!("lag[{input}/{p}]")).collect();
    last = scrape_until(&addr, "each partition's consumer lag", |last| {
        lags.iter().all(|name| {
            last.iter().any(|s| {
                s.name == "sluice_user_gauge" && &s.labels["name"] == name && s.value >= 0.0
            })
        })
    });
    assert!(
        last.iter()
            .any(|s| s.name == "sluice_uptime_seconds" && s.value > 0.0)
    );

    let status = job.interrupt();
    assert!(status.success(), "the drained job exits cleanly: {status}");
    assert!(
        http_get(&addr, "/metrics").is_err(),
        "the server stops with the job"
    );
}

/// A careless producer: a malformed record stamped an hour ahead between well-formed events.
/// Read by CreateTime it moves the watermark an hour on, and the events after it are dropped
/// as late — which `/metrics` counts while the job runs, a warning names, and the closing
/// summary prints. Read by the event time the job parses (the examples' default), the
/// malformed record moves nothing and no event is lost.
#[test]
fn records_dropped_as_late_are_counted_and_event_time_reads_keep_them() {
    let bootstrap = broker();
    let now = kafka_now().as_millis();
    let event = |i: i64| {
        let at = now - 120_000 + i * 1_000;
        TestRecord {
            value: format!("{at},k{},{i}", i % 3).into_bytes(),
            timestamp_ms: Some(at),
            partition: Some(0),
            ..TestRecord::default()
        }
    };
    // The garbage's create time, an hour ahead, moves a create-time watermark past every
    // window of the events that come after it: they are produced once it was read (in one
    // bundle with it, they would be taken in before the watermark moves).
    let mut first: Vec<TestRecord> = (0..40).map(event).collect();
    first.push(TestRecord {
        value: b"garbage from a careless producer".to_vec(),
        timestamp_ms: Some(now + 3_600_000),
        partition: Some(0),
        ..TestRecord::default()
    });
    let then: Vec<TestRecord> = (40..80).map(event).collect();
    for timestamps in ["create-time", "event-time"] {
        let (input, output) = (unique_topic("late-in"), unique_topic("late-out"));
        kafka::create_topic(&bootstrap, &input, 1).unwrap();
        kafka::create_topic(&bootstrap, &output, 1).unwrap();
        produce(&bootstrap, &input, &first);
        let addr = sluice_tests::fresh_loopback_hosts(1).remove(0);
        let mut job = sluice_tests::Job::spawn(
            std::process::Command::new(env!("CARGO_BIN_EXE_stats_job"))
                .args(["--input", &format!("kafka://{bootstrap}/{input}")])
                .args(["--output", &format!("kafka://{bootstrap}/{output}")])
                .args(["--window", "fixed:10s", "--kafka-max-delay", "1s"])
                .args(["--kafka-timestamps", timestamps, "--metrics-addr", &addr])
                .env_remove("RUST_LOG")
                .stderr(std::process::Stdio::piped()),
        );
        let mut stderr = job.take_stderr().unwrap();
        let said = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        let of =
            |s: &[Sample], name: &str, transform: &str| sample(s, name, "transform", transform);
        scrape_until(&addr, "the first records read", |s| {
            of(s, "sluice_source_records_total", "ReadKafka/Read") == Some(41.0)
        });
        produce(&bootstrap, &input, &then);
        let last = scrape_until(&addr, "every record read and the drops counted", |s| {
            of(s, "sluice_source_records_total", "ReadKafka/Read") == Some(81.0)
                && of(s, "sluice_dropped_late_total", "Stats")
                    .is_some_and(|n| (timestamps == "create-time") == (n > 0.0))
        });
        let dropped = of(&last, "sluice_dropped_late_total", "Stats").unwrap();
        assert!(job.interrupt().success(), "{timestamps}");
        let stderr = said.join().unwrap();
        if timestamps == "create-time" {
            assert!(dropped > 0.0 && dropped <= 40.0, "{dropped}");
            assert!(
                stderr.lines().any(|l| l.contains("WARN")
                    && l.contains("transform=Stats")
                    && l.contains("records dropped as late: their window had expired")),
                "the first drop is a warning naming the transform: {stderr}"
            );
            assert!(
                stderr.contains("dropped as late and 0 for a closed window"),
                "{stderr}"
            );
        } else {
            assert_eq!(dropped, 0.0);
            assert!(!stderr.contains("dropped as late"), "{stderr}");
        }
    }
}
