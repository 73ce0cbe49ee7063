//! What a read does with its input: dead letters, start and end offsets, errors.

use super::options;
use sluice_examples::windowed_stats::{InputOptions, WindowSpec, build_with};
use sluice_io::kafka::{self, KafkaRecord, StartPosition, Utf8};
use sluice_runners::run;
use sluice_sdk::prelude::*;
use sluice_tests::kafka::{TestRecord, broker, produce, produce_with, unique_topic};
use std::time::{Duration as StdDuration, Instant};

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
        &InputOptions {
            stop_at_end: true,
            ..InputOptions::default()
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
