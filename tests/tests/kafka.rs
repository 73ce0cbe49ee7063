//! KafkaIO end to end against a real Kafka-protocol broker (tansu, installed and started by
//! `scripts/kafka-broker`; `scripts/test` starts it and sets `SLUICE_KAFKA_BOOTSTRAP`).

use sluice_examples::windowed_stats::{KafkaInput, WindowSpec, build, build_with};
use sluice_io::kafka::{self, KafkaRecord, StartPosition, Utf8};
use sluice_runners::{PipelineOptions, run, start};
use sluice_sdk::prelude::*;
use sluice_tests::kafka::{
    TestRecord, broker, load_events, produce, produce_with, topic_lines, unique_topic,
};
use sluice_tests::wait_for;
use std::sync::Mutex;
use std::time::{Duration as StdDuration, Instant};

fn options(runner: &str) -> PipelineOptions {
    PipelineOptions {
        quiet: true,
        ..PipelineOptions::for_runner(runner)
    }
}

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
    let bounded = KafkaInput {
        stop_at_end: true,
        max_delay: Duration::from_secs(30),
        ..KafkaInput::default()
    };
    for runner in ["direct", "rayon"] {
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
        &KafkaInput {
            stop_at_end: false,
            idle_timeout: Duration::from_secs(1),
            ..bounded
        },
    );
    let handle = start(&p, &options("direct")).unwrap();
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
    assert_eq!(result.state, PipelineState::Cancelled);
    assert_eq!(topic_lines(&bootstrap, &out_topic), expected);
    let dead = topic_lines(&bootstrap, &format!("{out_topic}-errors"));
    assert_eq!(dead.len(), bad);
    assert!(dead.iter().all(|d| d.contains("\"reason\"")), "{dead:?}");
}

/// A pane seen by the watermark test: window start (s after the base), count, timing.
type Seen = (i64, u64, PaneTiming);

/// Reads `topic` (2 partitions, only partition 0 written) with a 5 s delay and a 1 s idle
/// timeout into fixed 10 s windows counted per key, collecting the panes into `seen`.
fn watermark_pipeline(
    bootstrap: &str,
    topic: &str,
    base: Timestamp,
    lateness: Duration,
    seen: &'static Mutex<Vec<Seen>>,
) -> Pipeline {
    let p = Pipeline::new();
    let read = p.apply(
        "Read",
        kafka::read(bootstrap)
            .topic(topic)
            .values(Utf8)
            .create_time(Duration::from_secs(5))
            .idle_timeout(Duration::from_secs(1)),
    );
    read.records
        .map("Key", |r: KafkaRecord<Vec<u8>, String>| {
            KV::new("k".to_string(), r.value)
        })
        .apply(
            "Window",
            WindowInto::new(FixedWindows::of(Duration::from_secs(10)))
                .with_allowed_lateness(lateness),
        )
        .apply("Count", Count::per_key())
        .apply(
            "Collect",
            MapWithContext::new(move |kv: KV<String, u64>, m: &ElementMeta| {
                let start = m
                    .window
                    .as_interval()
                    .map_or(-1, |w| (w.start - base).as_millis() / 1000);
                seen.lock().unwrap().push((start, kv.value, m.pane.timing));
            }),
        );
    p
}

fn record_at(base: Timestamp, secs: i64) -> TestRecord {
    TestRecord {
        partition: Some(0),
        key: Some(b"k".to_vec()),
        value: secs.to_string().into_bytes(),
        timestamp_ms: Some((base + Duration::from_secs(secs)).as_millis()),
    }
}

/// Out-of-order data within the delay is on time; beyond it, it is dropped (no allowed
/// lateness) or fires a late pane (allowed lateness); an idle partition does not stall output.
fn watermark_case(lateness: Duration, seen: &'static Mutex<Vec<Seen>>) -> PipelineResult {
    let bootstrap = broker();
    let topic = unique_topic("watermarks");
    kafka::create_topic(&bootstrap, &topic, 2).unwrap();
    // Event times a little in the future, so that the idle partitions' clock-driven watermark
    // (now − delay) stays behind the data's during the test.
    let now = kafka_now();
    let base = Timestamp::from_millis((now.as_millis() / 10_000 + 30) * 10_000);
    let p = watermark_pipeline(&bootstrap, &topic, base, lateness, seen);
    let handle = start(&p, &options("direct")).unwrap();
    // Partition 1 never gets a record: only its idleness lets the watermark pass 10 s.
    produce(
        &bootstrap,
        &topic,
        &[record_at(base, 1), record_at(base, 2), record_at(base, 20)],
    );
    wait_for(
        "the first window's pane",
        StdDuration::from_secs(90),
        || !seen.lock().unwrap().is_empty(),
    );
    assert_eq!(*seen.lock().unwrap(), vec![(0, 2, PaneTiming::OnTime)]);
    // The watermark is at 15 s: 12 s is out of order but within the delay; 8 s is behind the
    // end of its window.
    produce(
        &bootstrap,
        &topic,
        &[record_at(base, 12), record_at(base, 8)],
    );
    produce(&bootstrap, &topic, &[record_at(base, 40)]);
    wait_for(
        "the second window's pane",
        StdDuration::from_secs(90),
        || seen.lock().unwrap().iter().any(|s| s.0 == 10),
    );
    handle.cancel();
    handle.wait().unwrap()
}

fn kafka_now() -> Timestamp {
    Timestamp::from_millis(Timestamp::now().as_millis())
}

#[test]
fn late_data_is_dropped_without_allowed_lateness() {
    static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());
    let result = watermark_case(Duration::ZERO, &SEEN);
    let mut seen = SEEN.lock().unwrap().clone();
    seen.sort_by_key(|s| s.0);
    // The drain at cancel fires the windows of 20 s and 40 s.
    assert_eq!(
        seen,
        vec![
            (0, 2, PaneTiming::OnTime),
            (10, 1, PaneTiming::OnTime),
            (20, 1, PaneTiming::OnTime),
            (40, 1, PaneTiming::OnTime),
        ]
    );
    assert_eq!(
        result
            .metrics
            .counter_total("Count", "droppedDueToLateness"),
        1,
        "the record at 8 s"
    );
}

#[test]
fn late_data_within_the_allowed_lateness_fires_a_late_pane() {
    static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());
    let result = watermark_case(Duration::from_secs(30), &SEEN);
    let seen = SEEN.lock().unwrap().clone();
    assert!(seen.contains(&(0, 2, PaneTiming::OnTime)), "{seen:?}");
    assert!(seen.contains(&(0, 1, PaneTiming::Late)), "{seen:?}");
    assert!(seen.contains(&(10, 1, PaneTiming::OnTime)), "{seen:?}");
    assert_eq!(
        result
            .metrics
            .counter_total("Count", "droppedDueToLateness"),
        0
    );
}

#[test]
fn undecodable_records_go_to_the_dead_letters_with_their_coordinates() {
    let bootstrap = broker();
    let topic = unique_topic("undecodable");
    kafka::create_topic(&bootstrap, &topic, 1).unwrap();
    let line = |s: &str| TestRecord {
        partition: Some(0),
        value: s.as_bytes().to_vec(),
        timestamp_ms: Some(1_700_000_000_000),
        ..TestRecord::default()
    };
    let mut records = vec![line("1700000000000,a,1"), line("1700000000000,a,2")];
    records.push(TestRecord {
        value: vec![b'1', 0xff, 0xfe],
        ..line("")
    });
    records.push(line("1700000000000,a,3"));
    produce(&bootstrap, &topic, &records);
    let dir = sluice_tests::temp_dir("kafka-undecodable");
    let p = Pipeline::new();
    build_with(
        &p,
        &format!("kafka://{bootstrap}/{topic}"),
        &dir.join("out").display().to_string(),
        &WindowSpec::Fixed(Duration::from_secs(60)),
        Duration::ZERO,
        &KafkaInput {
            stop_at_end: true,
            ..KafkaInput::default()
        },
    );
    let result = run(&p, &options("direct")).unwrap();
    let stats = sluice_tests::sorted_lines(&format!("{}/out-0*", dir.display()));
    assert_eq!(stats, vec!["1699999980000,1700000040000,a,3,6,1,3"]);
    let errors = sluice_tests::sorted_lines(&format!("{}/out-errors-*", dir.display()));
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].contains(&format!("record {topic}/0@2: invalid UTF-8")),
        "{}",
        errors[0]
    );
    assert_eq!(
        result
            .metrics
            .counter_total("ReadKafka", "undecodable_records"),
        1
    );
}

#[test]
fn a_read_can_start_at_a_time() {
    let bootstrap = broker();
    let topic = unique_topic("from-time");
    kafka::create_topic(&bootstrap, &topic, 2).unwrap();
    let base = Timestamp::from_millis(1_700_000_000_000);
    let records: Vec<TestRecord> = (0..2)
        .flat_map(|p| {
            (0..10).map(move |i| TestRecord {
                partition: Some(p),
                value: format!("{p}-{i}").into_bytes(),
                timestamp_ms: Some((base + Duration::from_secs(i)).as_millis()),
                ..TestRecord::default()
            })
        })
        .collect();
    produce(&bootstrap, &topic, &records);
    let p = Pipeline::new();
    let values = p
        .apply(
            "Read",
            kafka::read(&bootstrap)
                .topic(&topic)
                .values(Utf8)
                .stop_at_end()
                .start_at(StartPosition::Timestamp(
                    base + Duration::from_millis(4_500),
                )),
        )
        .records
        .map("Value", |r: KafkaRecord<Vec<u8>, String>| r.value);
    // The first record at or after 4.5 s is the one at 5 s, in each partition.
    sluice_sdk::testing::assert_that(&values).contains_in_any_order(
        (0..2)
            .flat_map(|p| (5..10).map(move |i| format!("{p}-{i}")))
            .collect::<Vec<_>>(),
    );
    let result = run(&p, &options("direct")).unwrap();
    assert_eq!(result.assertions_passed(), 1);
}

#[test]
fn a_bounded_read_takes_end_offsets_as_the_protocol_defines_them() {
    // 5000 records produced in one batch: the partition's last batch holds them all.
    let bootstrap = broker();
    let topic = unique_topic("one-batch");
    kafka::create_topic(&bootstrap, &topic, 1).unwrap();
    let records: Vec<TestRecord> = (0..5000)
        .map(|i| TestRecord {
            partition: Some(0),
            value: i.to_string().into_bytes(),
            ..TestRecord::default()
        })
        .collect();
    produce_with(
        &bootstrap,
        &topic,
        &records,
        &[
            ("linger.ms", "2000"),
            ("batch.num.messages", "10000"),
            ("batch.size", "10000000"),
        ],
    );
    let ends = kafka::end_offsets(&bootstrap, &topic).unwrap();
    assert_eq!(ends, vec![(0, 5000)]);
    let p = Pipeline::new();
    let read = p.apply(
        "Read",
        kafka::read(&bootstrap)
            .topic(&topic)
            .values(Utf8)
            .stop_at_end()
            .start_at(StartPosition::Earliest),
    );
    let offsets = read
        .records
        .map("Offset", |r: KafkaRecord<Vec<u8>, String>| {
            (r.offset, r.value.parse::<i64>().unwrap())
        });
    sluice_sdk::testing::assert_that(&offsets)
        .contains_in_any_order((0..5000).map(|i| (i, i)).collect::<Vec<_>>());
    for runner in ["direct", "rayon"] {
        let result = run(&p, &options(runner)).unwrap();
        assert_eq!(result.assertions_passed(), 1, "{runner}");
    }
}

#[test]
fn an_unreachable_broker_is_a_clear_error_not_a_hang() {
    let started = Instant::now();
    let p = Pipeline::new();
    p.apply(
        "Read",
        kafka::read("127.0.0.1:1")
            .topic("nowhere")
            .connect_timeout(Duration::from_secs(2)),
    );
    let err = run(&p, &options("direct")).unwrap_err().to_string();
    assert!(
        err.contains("'Read/Read'") && err.contains("127.0.0.1:1") && err.contains("nowhere"),
        "{err}"
    );
    assert!(started.elapsed() < StdDuration::from_secs(30));

    let p = Pipeline::new();
    p.apply("Create", Create::of(vec!["a".to_string()])).apply(
        "Write",
        kafka::write_text("127.0.0.1:1", "nowhere").property("message.timeout.ms", "2000"),
    );
    let err = run(&p, &options("direct")).unwrap_err().to_string();
    assert!(
        err.contains("Write/Produce")
            && err.contains("topic 'nowhere'")
            && err.contains("127.0.0.1:1"),
        "{err}"
    );
}

#[test]
fn a_missing_topic_is_an_error_naming_it() {
    let bootstrap = broker();
    let p = Pipeline::new();
    p.apply(
        "Read",
        kafka::read(&bootstrap)
            .topic("no-such-topic-here")
            .stop_at_end(),
    );
    let err = run(&p, &options("direct")).unwrap_err().to_string();
    assert!(err.contains("no-such-topic-here"), "{err}");
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

/// What a group member read: (partition, offset, value).
type Got = Vec<(i32, i64, String)>;

/// A pipeline reading `topic` as a member of `group`, collecting what it reads into `got`.
fn group_member(bootstrap: &str, topic: &str, group: &str, got: &'static Mutex<Got>) -> Pipeline {
    let p = Pipeline::new();
    p.apply(
        "Read",
        kafka::read(bootstrap)
            .topic(topic)
            .group_id(group)
            .with_group_assignment()
            .values(Utf8),
    )
    .records
    .map("Collect", move |r: KafkaRecord<Vec<u8>, String>| {
        got.lock().unwrap().push((r.partition, r.offset, r.value));
    });
    p
}

fn one_per_partition(batch: &str, partitions: i32) -> Vec<TestRecord> {
    (0..partitions)
        .map(|p| TestRecord {
            partition: Some(p),
            key: None,
            value: format!("{batch}-{p}").into_bytes(),
            timestamp_ms: None,
        })
        .collect()
}

#[test]
fn a_consumer_group_shares_partitions_and_a_rebalance_moves_their_positions() {
    static A: Mutex<Got> = Mutex::new(Vec::new());
    static B: Mutex<Got> = Mutex::new(Vec::new());
    let bootstrap = broker();
    let topic = unique_topic("group");
    let group = format!("{topic}-group");
    kafka::create_topic(&bootstrap, &topic, 4).unwrap();
    let first: Vec<TestRecord> = (0..10)
        .flat_map(|i| one_per_partition(&format!("first{i}"), 4))
        .collect();
    produce(&bootstrap, &topic, &first);

    // A alone owns every partition: it reads all 40 records and commits their positions.
    let a = start(
        &group_member(&bootstrap, &topic, &group, &A),
        &options("direct"),
    )
    .unwrap();
    wait_for(
        "member A to read the first records",
        StdDuration::from_secs(60),
        || A.lock().unwrap().len() >= 40,
    );
    wait_for("A's commits", StdDuration::from_secs(90), || {
        sluice_tests::kafka::committed(&bootstrap, &group, &topic)
            .iter()
            .all(|(_, o)| *o == Some(10))
    });

    // B joins: the group splits the partitions between them. Records keep coming until B
    // has read some.
    let b = start(
        &group_member(&bootstrap, &topic, &group, &B),
        &options("direct"),
    )
    .unwrap();
    let mut produced: Vec<String> = first
        .iter()
        .map(|r| String::from_utf8(r.value.clone()).unwrap())
        .collect();
    let deadline = Instant::now() + StdDuration::from_secs(90);
    let mut batch = 0;
    while B.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "B never got a partition");
        let records = one_per_partition(&format!("second{batch}"), 4);
        produce(&bootstrap, &topic, &records);
        produced.extend(
            records
                .iter()
                .map(|r| String::from_utf8(r.value.clone()).unwrap()),
        );
        batch += 1;
        std::thread::sleep(StdDuration::from_millis(500));
    }
    // A last batch after the rebalance, which each partition's owner reads.
    let last = one_per_partition("last", 4);
    produce(&bootstrap, &topic, &last);
    produced.extend(
        last.iter()
            .map(|r| String::from_utf8(r.value.clone()).unwrap()),
    );
    let seen = || -> std::collections::BTreeSet<String> {
        A.lock()
            .unwrap()
            .iter()
            .chain(B.lock().unwrap().iter())
            .map(|g| g.2.clone())
            .collect()
    };
    wait_for(
        "every record read by A or B",
        StdDuration::from_secs(60),
        || produced.iter().all(|v| seen().contains(v)),
    );
    a.cancel();
    b.cancel();
    a.wait().unwrap();
    b.wait().unwrap();

    let (a, b) = (A.lock().unwrap().clone(), B.lock().unwrap().clone());
    // B started each of its partitions at the group's committed position: none of the
    // records A had committed came to B.
    assert!(
        b.iter().all(|g| g.1 >= 10),
        "B re-read committed records: {b:?}"
    );
    assert!(b.iter().all(|g| !g.2.starts_with("first")), "{b:?}");
    // After the rebalance each partition has one owner: its last record went to exactly one
    // member, and both members own some.
    let owner = |p: i32| {
        let value = format!("last-{p}");
        (
            a.iter().any(|g| g.2 == value),
            b.iter().any(|g| g.2 == value),
        )
    };
    let owners: Vec<(bool, bool)> = (0..4).map(owner).collect();
    assert!(
        owners.iter().all(|(in_a, in_b)| in_a != in_b),
        "a partition's last record went to both members or neither: {owners:?}"
    );
    assert!(
        owners.iter().any(|o| o.0) && owners.iter().any(|o| o.1),
        "{owners:?}"
    );
}
