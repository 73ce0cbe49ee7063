//! Helpers for the tests that run against a real Kafka-protocol broker: finding (or starting)
//! the broker, fresh topic names, and an independent client (plain librdkafka, not KafkaIO) to
//! produce test records and to read back what a pipeline wrote.

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The repository's root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
        .to_path_buf()
}

/// The bootstrap address of the test broker: `SLUICE_KAFKA_BOOTSTRAP` when set (as
/// `scripts/test` does, which stops its broker at the end), otherwise the broker that
/// `scripts/kafka-broker start` starts — building it first if needed — owned by this test
/// process: it stops once the process has ended (a broker that was already running, not for
/// tests, is reused and left running, and the script says so).
pub fn broker() -> String {
    static BROKER: OnceLock<String> = OnceLock::new();
    BROKER
        .get_or_init(|| {
            if let Ok(b) = std::env::var("SLUICE_KAFKA_BOOTSTRAP") {
                return b;
            }
            let owner = std::process::id().to_string();
            start_broker(&[("SLUICE_KAFKA_OWNER", &owner)])
        })
        .clone()
}

/// Runs `scripts/kafka-broker start` with extra environment and returns the address it printed.
pub fn start_broker(env: &[(&str, &str)]) -> String {
    let out = broker_script("start", env);
    // What the script says of the broker (started, reused and left running, ...).
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Runs `scripts/kafka-broker COMMAND` with extra environment; panics if it fails.
pub fn broker_script(command: &str, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(repo_root().join("scripts/kafka-broker"))
        .arg(command);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("bash runs");
    assert!(
        out.status.success(),
        "scripts/kafka-broker {command} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A topic name no other test run used.
pub fn unique_topic(prefix: &str) -> String {
    let micros = sluice_sdk::time::Timestamp::now().as_micros();
    format!("{prefix}-{}-{micros}", std::process::id())
}

/// One record to produce.
#[derive(Clone, Debug, Default)]
pub struct TestRecord {
    /// Partition (`None`: by key).
    pub partition: Option<i32>,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: Vec<u8>,
    /// CreateTime in ms.
    pub timestamp_ms: Option<i64>,
}

/// Produces `records` in order and waits for every acknowledgement.
pub fn produce(bootstrap: &str, topic: &str, records: &[TestRecord]) {
    produce_with(bootstrap, topic, records, &[]);
}

/// [`produce`] with extra producer properties (e.g. large batches).
pub fn produce_with(
    bootstrap: &str,
    topic: &str,
    records: &[TestRecord],
    properties: &[(&str, &str)],
) {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    for (k, v) in properties {
        config.set(*k, *v);
    }
    let producer: BaseProducer<rdkafka::producer::DefaultProducerContext> =
        config.create().expect("a producer");
    for r in records {
        let mut record: BaseRecord<'_, Vec<u8>, Vec<u8>> = BaseRecord::to(topic).payload(&r.value);
        if let Some(k) = &r.key {
            record = record.key(k);
        }
        if let Some(p) = r.partition {
            record = record.partition(p);
        }
        if let Some(t) = r.timestamp_ms {
            record = record.timestamp(t);
        }
        sluice_io::kafka::raw::send_when_room(&producer, record).expect("a record sent");
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("every record acknowledged");
}

/// A record read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadBack {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: Vec<u8>,
}

fn consumer(bootstrap: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "sluice-tests-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("a consumer")
}

/// Every record of `topic` up to its current end offsets, by partition and offset.
pub fn read_topic(bootstrap: &str, topic: &str) -> Vec<ReadBack> {
    let c = consumer(bootstrap);
    let ends = sluice_io::kafka::end_offsets(bootstrap, topic).expect("end offsets");
    let mut list = TopicPartitionList::new();
    for (p, _) in &ends {
        list.add_partition_offset(topic, *p, Offset::Beginning)
            .expect("a partition");
    }
    c.assign(&list).expect("assign");
    let mut next: std::collections::HashMap<i32, i64> = ends.iter().map(|(p, _)| (*p, 0)).collect();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while ends.iter().any(|(p, end)| next[p] < *end) {
        assert!(Instant::now() < deadline, "reading {topic} back timed out");
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                next.insert(m.partition(), m.offset() + 1);
                out.push(ReadBack {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().unwrap_or_default().to_vec(),
                });
            }
            Some(Err(e)) => panic!("reading {topic} back: {e}"),
            None => {}
        }
    }
    out.sort_by_key(|r| (r.partition, r.offset));
    out
}

/// The values of every record of `topic`, as sorted text lines.
pub fn topic_lines(bootstrap: &str, topic: &str) -> Vec<String> {
    let mut lines: Vec<String> = read_topic(bootstrap, topic)
        .into_iter()
        .map(|r| String::from_utf8_lossy(&r.value).into_owned())
        .collect();
    lines.sort();
    lines
}

/// The offsets `group` committed for `topic`, by partition (`None` where none).
pub fn committed(bootstrap: &str, group: &str, topic: &str) -> Vec<(i32, Option<i64>)> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("a consumer");
    let ends = sluice_io::kafka::end_offsets(bootstrap, topic).expect("end offsets");
    let mut list = TopicPartitionList::new();
    for (p, _) in &ends {
        list.add_partition(topic, *p);
    }
    let committed = c
        .committed_offsets(list, Duration::from_secs(10))
        .expect("committed offsets");
    ends.iter()
        .map(|(p, _)| {
            let offset = committed
                .find_partition(topic, *p)
                .and_then(|e| match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                });
            (*p, offset)
        })
        .collect()
}

/// Loads CSV event lines (`timestamp_ms,key,value`) into `topic` (created with `partitions`
/// partitions if missing) through `kafka_load`, keyed by the key field, each record stamped
/// with the event's time.
pub fn load_events(bootstrap: &str, topic: &str, partitions: i32, lines: &[String]) {
    let report = sluice_examples::kafka_load::load(
        &sluice_examples::kafka_load::LoadOptions {
            bootstrap: bootstrap.to_string(),
            topic: topic.to_string(),
            partitions,
            key_field: Some(2),
            create_time_from_csv: true,
            rate: None,
        },
        "events",
        std::io::Cursor::new(lines.join("\n")),
    )
    .expect("the events load");
    assert_eq!(report.records, lines.len() as u64);
}

/// The command that runs `windowed_stats` (the binary `exe`, the tests' `stats_job`) from
/// topic `input` to topic `output` of `bootstrap`, with windows `window`, quietly; add the
/// run's own flags.
pub fn stats_job_command(
    exe: &str,
    bootstrap: &str,
    input: &str,
    output: &str,
    window: &str,
) -> std::process::Command {
    let mut command = std::process::Command::new(exe);
    command.args([
        "--input",
        &format!("kafka://{bootstrap}/{input}"),
        "--output",
        &format!("kafka://{bootstrap}/{output}"),
        "--window",
        window,
        "--quiet",
    ]);
    command
}
