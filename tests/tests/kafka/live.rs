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
