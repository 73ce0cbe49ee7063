//! At-least-once through failures: the pipeline killed with SIGKILL mid-stream and restarted
//! with the same consumer group, and the broker killed and restarted under a running pipeline.
//! Every input record's effect must reach the output at least once, and the offsets committed
//! for the group must never run ahead of the output written.

use sluice_examples::windowed_stats::{InputOptions, WindowSpec, build_with};
use sluice_runners::{PipelineOptions, start};
use sluice_sdk::prelude::*;
use sluice_tests::kafka::{
    broker, broker_script, committed, load_events, read_topic, start_broker, stats_job_command,
    unique_topic,
};
use sluice_tests::{Job, wait_for};
use std::collections::BTreeMap;
use std::time::{Duration as StdDuration, Instant};

/// (key, window start in ms) → number of records.
type Counts = BTreeMap<(String, i64), u64>;

const WINDOW_MS: i64 = 10_000;

/// `n` events 10 ms apart over 8 keys, starting an hour from now (so that idle partitions,
/// whose watermark follows the clock, never close a window before its data arrived), then one
/// event per key a minute later, whose window only the drain closes: it moves every partition's
/// watermark past the other windows.
fn events(n: usize) -> Vec<String> {
    let now = Timestamp::now().as_millis();
    let base = (now / WINDOW_MS + 360) * WINDOW_MS;
    let last = base + n as i64 * 10 + 60_000;
    (0..n)
        .map(|i| format!("{},k{},{}", base + i as i64 * 10, i % 8, i % 100))
        .chain((0..8).map(|k| format!("{last},k{k},0")))
        .collect()
}

/// The records per (key, window) of event lines.
fn input_counts<'a>(lines: impl IntoIterator<Item = &'a str>) -> Counts {
    let mut counts = Counts::new();
    for line in lines {
        let mut f = line.split(',');
        let ts: i64 = f.next().unwrap().parse().unwrap();
        let key = f.next().unwrap().to_string();
        *counts
            .entry((key, ts.div_euclid(WINDOW_MS) * WINDOW_MS))
            .or_default() += 1;
    }
    counts
}

/// The counts the output lines `start,end,key,count,...` report per (key, window), summed over
/// repeated panes.
fn output_counts(bootstrap: &str, topic: &str) -> Counts {
    let mut counts = Counts::new();
    for r in read_topic(bootstrap, topic) {
        let line = String::from_utf8(r.value).unwrap();
        let f: Vec<&str> = line.split(',').collect();
        *counts
            .entry((f[2].to_string(), f[0].parse().unwrap()))
            .or_default() += f[3].parse::<u64>().unwrap();
    }
    counts
}

/// The windows of `all` that the data's own watermark closes: all but the last (the one of
/// the closing events of `events`, which only the drain fires).
fn closed_by_data(all: &Counts) -> Counts {
    let last = all.keys().map(|k| k.1).max().unwrap_or(i64::MIN);
    all.iter()
        .filter(|(k, _)| k.1 < last)
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// The (key, window)s whose output falls short of `needed`.
fn missing(needed: &Counts, got: &Counts) -> Vec<((String, i64), u64, u64)> {
    needed
        .iter()
        .filter_map(|(k, n)| {
            let g = got.get(k).copied().unwrap_or(0);
            (g < *n).then(|| (k.clone(), *n, g))
        })
        .collect()
}

/// The input records below the offsets committed for `group`.
fn committed_lines(bootstrap: &str, group: &str, topic: &str) -> Vec<String> {
    let committed: BTreeMap<i32, i64> = committed(bootstrap, group, topic)
        .into_iter()
        .map(|(p, o)| (p, o.unwrap_or(0)))
        .collect();
    read_topic(bootstrap, topic)
        .into_iter()
        .filter(|r| r.offset < committed[&r.partition])
        .map(|r| String::from_utf8(r.value).unwrap())
        .collect()
}

/// Starts `windowed_stats` as a process reading `input` unbounded with `group`, on the
/// runner `runner` says (its arguments).
fn spawn_job(bootstrap: &str, input: &str, output: &str, group: &str, runner: &[&str]) -> Job {
    Job::spawn(
        stats_job_command(
            env!("CARGO_BIN_EXE_stats_job"),
            bootstrap,
            input,
            output,
            "fixed:10s",
        )
        .args([
            "--kafka-max-delay",
            "1s",
            // Windows close by the data's own watermark (see `events`); idleness stays out of the
            // way (it is tested in kafka.rs).
            "--kafka-idle-timeout",
            "60s",
            "--kafka-group",
            group,
        ])
        .args(runner),
    )
}

#[test]
fn a_pipeline_killed_mid_stream_and_restarted_loses_nothing() {
    killed_and_restarted(&["--runner", "direct"]);
}

#[test]
fn a_timely_cluster_killed_mid_stream_and_restarted_loses_nothing() {
    killed_and_restarted(&["--runner", "timely", "--processes", "2", "--workers", "1"]);
}

fn killed_and_restarted(runner: &[&str]) {
    let bootstrap = broker();
    let (input, output, group) = (
        unique_topic("recover-in"),
        unique_topic("recover-out"),
        unique_topic("recover-group"),
    );
    let lines = events(12_000);
    let (first, second) = lines.split_at(8_000);
    load_events(&bootstrap, &input, 4, first);

    let mut job = spawn_job(&bootstrap, &input, &output, &group, runner);
    // More data arrives while the job runs, a few seconds of event time at a time: windows
    // close as it comes (a runner may commit a backlog read in one go only once the last window
    // it touched has closed, as the timely runner does with an epoch's records). The job dies
    // in the middle of it, once something was committed.
    let feeder = {
        let (bootstrap, input, second) = (bootstrap.clone(), input.clone(), second.to_vec());
        std::thread::spawn(move || {
            for chunk in second.chunks(500) {
                load_events(&bootstrap, &input, 4, chunk);
                std::thread::sleep(StdDuration::from_millis(250));
            }
        })
    };
    wait_for("some windows committed", StdDuration::from_secs(60), || {
        !committed_lines(&bootstrap, &group, &input).is_empty()
    });
    std::thread::sleep(StdDuration::from_millis(300));
    job.kill();

    // What was committed has reached the output.
    let committed_counts = input_counts(
        committed_lines(&bootstrap, &group, &input)
            .iter()
            .map(String::as_str),
    );
    assert!(!committed_counts.is_empty());
    let before_restart = output_counts(&bootstrap, &output);
    assert_eq!(
        missing(&committed_counts, &before_restart),
        vec![],
        "offsets committed ahead of the output"
    );
    feeder.join().unwrap();

    // Restarted with the same group, the job resumes and the output covers every record.
    let job = spawn_job(&bootstrap, &input, &output, &group, runner);
    let all = input_counts(lines.iter().map(String::as_str));
    let closed = closed_by_data(&all);
    wait_for(
        "every closed window in the output",
        StdDuration::from_secs(90),
        || missing(&closed, &output_counts(&bootstrap, &output)).is_empty(),
    );
    let status = job.interrupt();
    assert!(status.success(), "the drained job exits cleanly: {status}");
    assert_eq!(
        missing(&closed, &output_counts(&bootstrap, &output)),
        vec![]
    );
}

#[test]
fn a_broker_killed_and_restarted_mid_stream_loses_nothing() {
    // A broker of its own, so that the other tests' broker stays up.
    let state = sluice_tests::temp_dir("restarted-broker");
    let env = [
        ("SLUICE_KAFKA_PORT", "19093"),
        ("SLUICE_KAFKA_DIR", state.to_str().unwrap()),
    ];
    let bootstrap = start_broker(&env);
    // Stops this broker however the test ends.
    struct Stop<'a>(&'a [(&'a str, &'a str)]);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = std::panic::catch_unwind(|| broker_script("stop", self.0));
        }
    }
    let _stop = Stop(&env);
    let (input, output, group) = (
        unique_topic("restart-in"),
        unique_topic("restart-out"),
        unique_topic("restart-group"),
    );
    let lines = events(6_000);
    let (first, second) = lines.split_at(3_000);
    load_events(&bootstrap, &input, 2, first);
    sluice_io::kafka::create_topic(&bootstrap, &output, 2).unwrap();

    let p = Pipeline::new();
    build_with(
        &p,
        &format!("kafka://{bootstrap}/{input}"),
        &format!("kafka://{bootstrap}/{output}"),
        &WindowSpec::Fixed(Duration::from_millis(WINDOW_MS)),
        Duration::ZERO,
        &InputOptions {
            max_delay: Duration::from_secs(1),
            // Windows close by the data's own watermark (see `events`), not by idleness.
            idle_timeout: Duration::from_secs(60),
            group: Some(group.clone()),
            stop_at_end: false,
            ..InputOptions::default()
        },
    );
    let handle = start(
        &p,
        &PipelineOptions {
            quiet: true,
            ..PipelineOptions::for_runner("direct")
        },
    )
    .unwrap();
    wait_for("some output", StdDuration::from_secs(60), || {
        !output_counts(&bootstrap, &output).is_empty()
    });
    broker_script("kill", &env);
    std::thread::sleep(StdDuration::from_secs(3));
    start_broker(&env);
    load_events(&bootstrap, &input, 2, second);

    let all = input_counts(lines.iter().map(String::as_str));
    let closed = closed_by_data(&all);
    let deadline = Instant::now() + StdDuration::from_secs(120);
    let mut short = missing(&closed, &output_counts(&bootstrap, &output));
    while !short.is_empty() && Instant::now() < deadline {
        std::thread::sleep(StdDuration::from_millis(300));
        short = missing(&closed, &output_counts(&bootstrap, &output));
    }
    handle.cancel();
    let result = handle.wait();
    assert!(
        short.is_empty(),
        "{} windows short of their records after 120 s: {:?}; the pipeline: {:?}, dropped as late: {:?}",
        short.len(),
        short,
        result.as_ref().map(|r| r.state),
        result
            .as_ref()
            .map(|r| r.metrics.counter_total("Stats", "droppedDueToLateness"))
    );
    let result = result.expect("the pipeline went on after the broker came back");
    assert_eq!(result.state, PipelineState::Cancelled);
    assert_eq!(
        missing(&closed, &output_counts(&bootstrap, &output)),
        vec![]
    );
    let committed_counts = input_counts(
        committed_lines(&bootstrap, &group, &input)
            .iter()
            .map(String::as_str),
    );
    assert_eq!(
        missing(&committed_counts, &output_counts(&bootstrap, &output)),
        vec![]
    );
    broker_script("stop", &env);
}
