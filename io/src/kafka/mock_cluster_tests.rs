//! KafkaIO against librdkafka's embedded mock cluster: fast protocol-level checks of start
//! positions, record contents, metrics and writes. (The end-to-end suites in `tests/` run
//! against a real broker.)

use super::raw::send_when_room;
use super::*;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use rdkafka::{Offset, TopicPartitionList};
use sluice_runners::PipelineOptions;
use sluice_sdk::prelude::*;
use sluice_sdk::result::PipelineResult;
use std::sync::Mutex;
use std::time::Duration as StdDuration;

/// The first record's create time; record `i` of a partition is `i` seconds later.
const BASE_MS: i64 = 1_700_000_000_000;

fn cluster() -> (MockCluster<'static, DefaultProducerContext>, String) {
    let cluster = MockCluster::new(1).expect("a mock cluster");
    let bootstrap = cluster.bootstrap_servers();
    (cluster, bootstrap)
}

/// A mock cluster with topic `t` of `partitions` partitions, filled by [`fill`].
fn filled(
    partitions: i32,
    per_partition: i64,
) -> (MockCluster<'static, DefaultProducerContext>, String) {
    let (cluster, bootstrap) = cluster();
    cluster.create_topic("t", partitions, 1).unwrap();
    fill(&bootstrap, "t", partitions, per_partition);
    (cluster, bootstrap)
}

/// Writes `per_partition` records to each of `partitions` partitions: key `k{i}`, value
/// `{partition}-{i}`, header `n: {i}`, create time `BASE_MS + i s`.
fn fill(bootstrap: &str, topic: &str, partitions: i32, per_partition: i64) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for p in 0..partitions {
        for i in 0..per_partition {
            let (key, value, n) = (format!("k{i}"), format!("{p}-{i}"), i.to_string());
            let headers = OwnedHeaders::new().insert(Header {
                key: "n",
                value: Some(&n),
            });
            let record = BaseRecord::to(topic)
                .partition(p)
                .key(&key)
                .payload(&value)
                .headers(headers)
                .timestamp(BASE_MS + i * 1000);
            send_when_room(&producer, record).unwrap();
        }
    }
    producer.flush(StdDuration::from_secs(30)).unwrap();
}

fn options() -> PipelineOptions {
    PipelineOptions {
        quiet: true,
        ..PipelineOptions::for_runner("direct")
    }
}

/// Runs `read` (bounded) and returns the records' values, sorted, and the result.
fn read_values(
    read: KafkaRead<Vec<u8>, Vec<u8>>,
    seen: &'static Mutex<Vec<String>>,
) -> (Vec<String>, PipelineResult) {
    seen.lock().unwrap().clear();
    let p = Pipeline::new();
    p.apply("Read", read.values(Utf8)).records.map(
        "Collect",
        move |r: KafkaRecord<Vec<u8>, String>| {
            seen.lock().unwrap().push(r.value);
        },
    );
    let result = sluice_runners::run(&p, &options()).unwrap();
    let mut values = seen.lock().unwrap().clone();
    values.sort();
    (values, result)
}

fn values(partitions: i32, from: i64, to: i64) -> Vec<String> {
    let mut v: Vec<String> = (0..partitions)
        .flat_map(|p| (from..to).map(move |i| format!("{p}-{i}")))
        .collect();
    v.sort();
    v
}

#[test]
fn bounded_reads_start_where_asked_and_end_at_the_end_offsets() {
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let (_cluster, bootstrap) = filled(2, 10);
    let read = || read(&bootstrap).topic("t").stop_at_end();

    let (all, _) = read_values(read(), &SEEN);
    assert_eq!(all, values(2, 0, 10));

    // Nothing after the end: done at once, not waiting for records.
    let (none, _) = read_values(read().start_at(StartPosition::Latest), &SEEN);
    assert!(none.is_empty(), "{none:?}");

    // (The mock cluster does not look offsets up by time: `tests/tests/kafka.rs` covers
    // `StartPosition::Timestamp` on a real broker.)

    // A group's committed offsets: 3 on partition 0, 7 on partition 1.
    let committer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "g")
        .create()
        .unwrap();
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset("t", 0, Offset::Offset(3))
        .unwrap();
    offsets
        .add_partition_offset("t", 1, Offset::Offset(7))
        .unwrap();
    committer.commit(&offsets, CommitMode::Sync).unwrap();
    let (rest, _) = read_values(
        read().group_id("g").start_at(StartPosition::Committed),
        &SEEN,
    );
    let mut expected: Vec<String> = (3..10)
        .map(|i| format!("0-{i}"))
        .chain((7..10).map(|i| format!("1-{i}")))
        .collect();
    expected.sort();
    assert_eq!(rest, expected);

    // A group without commits starts at the earliest record.
    let (fresh, _) = read_values(
        read().group_id("new").start_at(StartPosition::Committed),
        &SEEN,
    );
    assert_eq!(fresh, values(2, 0, 10));
}

#[test]
fn reads_bounded_by_partitions_record_count_or_time() {
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let (_cluster, bootstrap) = filled(2, 10);

    let (one, _) = read_values(
        read(&bootstrap).partitions(&[("t", 1)]).stop_at_end(),
        &SEEN,
    );
    assert_eq!(one, (0..10).map(|i| format!("1-{i}")).collect::<Vec<_>>());

    let (first, _) = read_values(read(&bootstrap).topic("t").max_records(5), &SEEN);
    assert_eq!(first.len(), 5, "{first:?}");
    assert!(first.iter().all(|v| values(2, 0, 10).contains(v)));

    // No end offsets: the read stops after 5 s, having read what the topic holds (the bound
    // on the elapsed time only shows that it stops: a loaded machine may start it late).
    let started = std::time::Instant::now();
    let (timed, _) = read_values(
        read(&bootstrap)
            .topic("t")
            .max_read_time(Duration::from_secs(5)),
        &SEEN,
    );
    assert_eq!(timed, values(2, 0, 10));
    let elapsed = started.elapsed();
    assert!(elapsed >= StdDuration::from_secs(5), "{elapsed:?}");
    assert!(elapsed < StdDuration::from_secs(60), "{elapsed:?}");
}

#[test]
fn records_carry_their_coordinates_key_headers_and_time_and_metrics_name_each_partition() {
    static SEEN: Mutex<Vec<(KafkaRecord<String, String>, Timestamp)>> = Mutex::new(Vec::new());
    let (_cluster, bootstrap) = filled(2, 10);
    let p = Pipeline::new();
    p.apply(
        "Read",
        read(&bootstrap)
            .topic("t")
            .stop_at_end()
            .create_time(Duration::from_secs(2))
            .keys(Utf8)
            .values(Utf8),
    )
    .records
    .apply(
        "Collect",
        MapWithContext::new(|r: KafkaRecord<String, String>, m: &ElementMeta| {
            SEEN.lock().unwrap().push((r, m.timestamp));
        }),
    );
    let result = sluice_runners::run(&p, &options()).unwrap();

    let seen = SEEN.lock().unwrap().clone();
    assert_eq!(seen.len(), 20);
    for (r, element_time) in &seen {
        let i = r.offset;
        assert_eq!(r.topic, "t");
        assert_eq!(r.value, format!("{}-{i}", r.partition));
        assert_eq!(r.key.as_deref(), Some(format!("k{i}").as_str()));
        assert_eq!(
            r.headers,
            vec![("n".to_string(), i.to_string().into_bytes())]
        );
        let created = Timestamp::from_millis(BASE_MS + i * 1000);
        assert_eq!(r.timestamp, Some(created));
        assert_eq!(r.timestamp_type, KafkaTimestampType::CreateTime);
        assert_eq!(
            *element_time, created,
            "the element's time is the create time"
        );
    }
    // Per partition: 10 records, their key and value bytes, nothing left to read, and a
    // watermark at the last create time less the delay.
    let bytes: i64 = (0..10).map(|i| (2 * format!("{i}").len() + 3) as i64).sum();
    for partition in 0..2 {
        let gauge = |name: &str| {
            result
                .metrics
                .gauge("Read/Split", &format!("{name}[t/{partition}]"))
        };
        assert_eq!(gauge("records_read"), Some(10));
        assert_eq!(gauge("bytes_read"), Some(bytes));
        assert_eq!(gauge("lag"), Some(0));
        assert_eq!(gauge("watermark_ms"), Some(BASE_MS + 9_000 - 2_000));
    }
}

#[test]
fn writes_carry_keys_headers_and_the_elements_timestamps() {
    let (_cluster, bootstrap) = cluster();
    _cluster.create_topic("out", 1, 1).unwrap();
    let p = Pipeline::new();
    p.apply(
        "Create",
        Create::timestamped((0..5i64).map(|i| (i, Timestamp::from_millis(BASE_MS + i)))),
    )
    .apply(
        "Write",
        write(&bootstrap, "out", |i: &i64| format!("v{i}").into_bytes())
            .keys(|i: &i64| format!("k{i}").into_bytes())
            .headers(|i: &i64| vec![("square".to_string(), (i * i).to_string().into_bytes())]),
    );
    let result = sluice_runners::run(&p, &options()).unwrap();
    assert_eq!(
        result.metrics.counter("Write/Produce", "records_written"),
        Some(5)
    );

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "check")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    list.add_partition_offset("out", 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&list).unwrap();
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + StdDuration::from_secs(30);
    while got.len() < 5 && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(StdDuration::from_millis(100)) {
            let header = m.headers().map(|h| {
                let h = h.get(0);
                (h.key.to_string(), h.value.unwrap_or_default().to_vec())
            });
            got.push((
                m.key().map(<[u8]>::to_vec),
                m.payload().map(<[u8]>::to_vec),
                header,
                m.timestamp().to_millis(),
            ));
        }
    }
    got.sort();
    let expected: Vec<_> = (0..5i64)
        .map(|i| {
            (
                Some(format!("k{i}").into_bytes()),
                Some(format!("v{i}").into_bytes()),
                Some(("square".to_string(), (i * i).to_string().into_bytes())),
                Some(BASE_MS + i),
            )
        })
        .collect();
    assert_eq!(got, expected);
}

/// An event a JSON write encodes and a JSON read decodes.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Reading {
    sensor: String,
    celsius: f64,
}

#[test]
fn a_json_write_is_read_back_by_a_json_read() {
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let (_cluster, bootstrap) = cluster();
    _cluster.create_topic("readings", 1, 1).unwrap();
    let readings: Vec<Reading> = (0..4)
        .map(|i| Reading {
            sensor: format!("s{i}"),
            celsius: f64::from(i) / 2.0,
        })
        .collect();
    let p = Pipeline::new();
    p.apply("Create", Create::of(readings.clone())).apply(
        "Write",
        write(&bootstrap, "readings", Json::<Reading>::new())
            .keys(|r: &Reading| r.sensor.clone().into_bytes()),
    );
    sluice_runners::run(&p, &options()).unwrap();

    let p = Pipeline::new();
    let read = p.apply(
        "Read",
        super::read(&bootstrap)
            .topic("readings")
            .keys(Utf8)
            .values(Json::<Reading>::new())
            .stop_at_end(),
    );
    read.records
        .map("Record", |r: KafkaRecord<String, Reading>| {
            let line = format!("{:?} {} {}", r.key, r.value.sensor, r.value.celsius);
            SEEN.lock().unwrap().push(line);
        });
    let result = sluice_runners::run(&p, &options()).unwrap();
    assert_eq!(
        result.metrics.counter("Read/Split", "undecodable_records"),
        None
    );
    let mut seen = SEEN.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            "Some(\"s0\") s0 0",
            "Some(\"s1\") s1 0.5",
            "Some(\"s2\") s2 1",
            "Some(\"s3\") s3 1.5"
        ]
    );
}

#[test]
fn an_element_json_cannot_encode_fails_the_write_naming_the_topic() {
    let (_cluster, bootstrap) = cluster();
    _cluster.create_topic("pairs", 1, 1).unwrap();
    let p = Pipeline::new();
    // JSON object keys are strings: a map keyed by pairs has no JSON form.
    let element: std::collections::BTreeMap<(i32, i32), i32> = [((1, 2), 3)].into();
    p.apply("Create", Create::of(vec![element]))
        .apply("Write", write(&bootstrap, "pairs", Json::new()));
    let err = sluice_runners::run(&p, &options()).unwrap_err().to_string();
    assert!(err.contains("Write/Produce"), "{err}");
    assert!(err.contains("topic 'pairs'"), "{err}");
    assert!(
        err.contains("cannot encode a record's value: cannot encode as JSON"),
        "{err}"
    );
}

#[test]
fn commits_record_the_watermark_and_a_read_from_them_starts_there() {
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let (_cluster, bootstrap) = filled(1, 10);

    // An unbounded read in group "g": its checkpoints commit positions and watermarks.
    let p = Pipeline::new();
    p.apply(
        "Read",
        read(&bootstrap)
            .topic("t")
            .group_id("g")
            .create_time(Duration::from_secs(1))
            .values(Utf8),
    )
    .records
    .map("Collect", |r: KafkaRecord<Vec<u8>, String>| {
        SEEN.lock().unwrap().push(r.value);
    });
    let handle = sluice_runners::start(&p, &options()).unwrap();
    let checker: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "g")
        .create()
        .unwrap();
    let committed = || {
        let mut list = TopicPartitionList::new();
        list.add_partition("t", 0);
        let c = checker
            .committed_offsets(list, StdDuration::from_secs(5))
            .unwrap();
        let e = c.find_partition("t", 0).unwrap();
        (e.offset(), e.metadata().to_string())
    };
    let deadline = std::time::Instant::now() + StdDuration::from_secs(30);
    while committed().0 != Offset::Offset(10) {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing committed: {:?}",
            committed()
        );
        std::thread::sleep(StdDuration::from_millis(100));
    }
    handle.cancel();
    handle.wait().unwrap();
    // The last record was created at 9 s; the delay is 1 s.
    let watermark_ms = BASE_MS + 9_000 - 1_000;
    assert_eq!(committed().1, format!("sluice:watermark_ms={watermark_ms}"));
    assert_eq!(
        commit::restored_watermark(&committed().1),
        Some(Timestamp::from_millis(watermark_ms))
    );

    // One more record, created long before the others. A read of the same group from its
    // commits reads only that one, and its partition's watermark starts where the commit left
    // it (not at this record's time less the delay).
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    send_when_room(
        &producer,
        BaseRecord::<str, str>::to("t")
            .partition(0)
            .payload("0-old")
            .timestamp(BASE_MS),
    )
    .unwrap();
    producer.flush(StdDuration::from_secs(30)).unwrap();
    let (rest, result) = read_values(
        read(&bootstrap)
            .topic("t")
            .group_id("g")
            .start_at(StartPosition::Committed)
            .stop_at_end(),
        &SEEN,
    );
    assert_eq!(rest, vec!["0-old".to_string()]);
    assert_eq!(
        result.metrics.gauge("Read/Split", "watermark_ms[t/0]"),
        Some(watermark_ms)
    );
}
